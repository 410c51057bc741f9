package rootfs

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// An image's "./" entry names the rootfs directory itself, which lives on
// the host: it may set its mtime and its read and search bits, but never
// make it writable by group or others, setuid/setgid/sticky, or owned by
// the image's uid (another local user could then swap its /etc under a
// root container).
func TestRootEntryCannotOpenTheRootfs(t *testing.T) {
	root, check := sandbox(t)
	defer check()
	var st0 unix.Stat_t
	if err := unix.Stat(root, &st0); err != nil {
		t.Fatal(err)
	}
	evil := withOwner(withMode(dir("./"), 0o7777), 1000, 1000)
	if _, err := applyLayers(t, root, []ent{evil, file("f", "x")}); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(root, &st); err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode & 0o7777; mode != 0o755 {
		t.Errorf("rootfs directory mode %o after a ./ entry of 7777, want 755", mode)
	}
	if st.Uid != st0.Uid || st.Gid != st0.Gid {
		t.Errorf("rootfs directory owned by %d:%d after a ./ entry of 1000:1000, want %d:%d", st.Uid, st.Gid, st0.Uid, st0.Gid)
	}
	// A private mode is kept: the image may close the directory, not open it.
	if _, err := applyLayers(t, root, []ent{withMode(dir("./"), 0o700)}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(root); fi.Mode().Perm() != 0o700 {
		t.Errorf("rootfs directory mode %v after a ./ entry of 700", fi.Mode().Perm())
	}
}
