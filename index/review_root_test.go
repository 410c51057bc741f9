package index

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReviewRootIndexNotRedirected: run as root with another user's
// HOME (su keeps the environment: on a rooted phone, root's rootfs-pull
// runs with Termux's HOME, which any Termux program or a proot container
// with --shared-home can write), the index directory is wherever that
// user points ~/.local/share/rootfs-pull. Root then created index.lock
// and a temporary file and renamed index.json into any directory it was
// pointed at (another app's data, /data/adb/…), with content that holds
// names from the rootfses' states. As root, the index directory must be
// reached only through root's own directories and symlinks: otherwise it
// is not used.
func TestReviewRootIndexNotRedirected(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	base := t.TempDir()
	victim := filepath.Join(base, "victim")
	if err := os.Mkdir(victim, 0700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		plant func(share string) error
	}{
		{"symlink", func(share string) error {
			p := filepath.Join(share, "rootfs-pull")
			if err := os.Symlink(victim, p); err != nil {
				return err
			}
			return os.Lchown(p, 65534, 65534)
		}},
		{"symlinked-parent", func(share string) error {
			// .local/share itself swapped for a symlink to victim's parent
			// (the index would go to victim/rootfs-pull, made by root).
			os.Remove(share)
			if err := os.Symlink(victim, share); err != nil {
				return err
			}
			return os.Lchown(share, 65534, 65534)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := filepath.Join(base, tc.name)
			share := filepath.Join(home, ".local", "share")
			if err := os.MkdirAll(share, 0755); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{home, filepath.Join(home, ".local"), share} {
				os.Chown(p, 65534, 65534) // the other user's HOME
			}
			if err := tc.plant(share); err != nil {
				t.Fatal(err)
			}
			ix := Index{Dir: filepath.Join(share, "rootfs-pull")}
			err := ix.Put(Entry{Dir: "/data/local/ubuntu", Image: "ubuntu"})
			ents, _ := os.ReadDir(victim)
			for _, e := range ents {
				t.Errorf("root wrote %s into the directory another user pointed its index at", filepath.Join(victim, e.Name()))
			}
			if err == nil {
				t.Error("Put through another user's directories: no error")
			}
			for _, e := range ents {
				os.RemoveAll(filepath.Join(victim, e.Name()))
			}
		})
	}
}
