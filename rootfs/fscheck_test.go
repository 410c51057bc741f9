package rootfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// CheckFilesystem's verdicts, with the filesystem's type and its answers
// to the probe injected: a type that never holds symlinks is refused as
// it is; otherwise a symlink that cannot be made, a mode that does not
// stick (sdcardfs and Android's FUSE answer chmod with success and keep
// their own modes) is refused; a native filesystem passes. Nothing of the
// probe is left behind.
func TestCheckFilesystem(t *testing.T) {
	const ext4 = 0xef53
	deny := func(string, string) error { return syscall.EPERM }
	ignore := func(string, os.FileMode) error { return nil } // success, mode unchanged
	for _, tc := range []struct {
		name    string
		typ     int64
		symlink func(string, string) error
		chmod   func(string, os.FileMode) error
		fs      string // "" = accepted
		lack    string
	}{
		{"ext4", ext4, nil, nil, "", ""},
		{"fuse that holds both (sshfs, fuse-overlayfs)", magicFuse, nil, nil, "", ""},
		{"vfat", magicMsdos, nil, nil, "vfat", "symlinks"},
		{"exfat", magicExfat, nil, nil, "exfat", "symlinks"},
		{"sdcardfs", magicSdcardfs, nil, nil, "sdcardfs", "symlinks"},
		{"Android's /storage/emulated (FUSE): no symlink", magicFuse, deny, nil, "fuse", "symlinks"},
		{"FUSE: chmod ignored", magicFuse, nil, ignore, "fuse", "file modes"},
		{"unknown type: chmod refused", 0x1234, nil, func(string, os.FileMode) error { return syscall.EPERM }, "", "file modes"},
		{"ntfs: no symlink", magicNTFS, deny, nil, "ntfs", "symlinks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fsProbe{fsType: func(string) (int64, error) { return tc.typ, nil }, symlink: os.Symlink, chmod: os.Chmod}
			if tc.symlink != nil {
				p.symlink = tc.symlink
			}
			if tc.chmod != nil {
				p.chmod = tc.chmod
			}
			parent := t.TempDir()
			target := filepath.Join(parent, "a", "rootfs") // not there yet: its nearest parent is probed
			err := p.check(target)
			var fe *FilesystemError
			switch {
			case tc.lack == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.lack != "" && (!errors.Is(err, ErrUnfitFilesystem) || !errors.As(err, &fe)):
				t.Errorf("got %v, want a FilesystemError", err)
			case tc.lack != "" && (fe.Type != tc.fs || fe.Lack != tc.lack || fe.Dir != parent):
				t.Errorf("got %+v, want type %q, lack %q, dir %s", fe, tc.fs, tc.lack, parent)
			}
			if left, _ := os.ReadDir(parent); len(left) != 0 {
				t.Errorf("the probe left %v", left)
			}
		})
	}
}

// A parent the probe may not write is left for the pull to report; this
// machine's temporary directory passes the real probe.
func TestCheckFilesystemReal(t *testing.T) {
	dir := t.TempDir()
	if err := CheckFilesystem(filepath.Join(dir, "x")); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the probe left %v", left)
	}
	p := realProbe
	p.fsType = func(string) (int64, error) { return 0xef53, nil }
	if err := p.check("/proc/self/x"); err != nil { // exists, not writable
		t.Errorf("/proc: %v", err)
	}
}
