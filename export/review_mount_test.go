package export_test

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rootfs-pull/rootfs-pull/export"
)

// TestReviewExportCrossesNoMount: export checks for mounts inside DIR
// once, before its walk. A container started meanwhile (chroot or ruri
// mount the host's /proc, /sys, /dev and -v binds inside DIR, in the
// host's namespace) put them under the walk: as root it read the host's
// files into the archive (a bind of $HOME, /sdcard; /proc/kcore claims
// 128 TiB). The walk must not cross into a mount that appeared, and an
// export during which one appeared must fail.
func TestReviewExportCrossesNoMount(t *testing.T) {
	if !isRoot() {
		t.Skip("needs root to mount")
	}
	_, _, dir := pullRich(t)
	host := filepath.Join(tmp(t), "host")
	os.MkdirAll(host, 0755)
	os.WriteFile(filepath.Join(host, "host-secret"), []byte("the host's"), 0600)
	for _, tc := range []struct {
		name  string
		mount func(target string) error
	}{
		{"tmpfs", func(target string) error {
			if err := unix.Mount("tmpfs", target, "tmpfs", 0, ""); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(target, "host-secret"), []byte("the host's"), 0600)
		}},
		{"bind", func(target string) error { return unix.Mount(host, target, "", unix.MS_BIND, "") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(dir, "var")
			var once sync.Once
			var merr error
			t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })
			file := filepath.Join(tmp(t), "b.tar")
			_, err := export.Export(ctx(t), dir, file, export.Options{Progress: func(export.Progress) {
				once.Do(func() { merr = tc.mount(target) }) // a container starts
			}})
			if merr != nil {
				t.Fatalf("mount: %v", merr)
			}
			if err != nil {
				t.Logf("refused: %v", err)
				if _, serr := os.Lstat(file); serr == nil {
					t.Error("a failed export left its file")
				}
				return
			}
			f, ferr := os.Open(file)
			if ferr != nil {
				t.Fatal(ferr)
			}
			defer f.Close()
			tr := tar.NewReader(f)
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(h.Name, "host-secret") {
					t.Fatalf("the archive holds %s, from a mount that appeared inside DIR while it was exported", h.Name)
				}
			}
			t.Error("export succeeded while a mount appeared inside DIR")
		})
	}
}
