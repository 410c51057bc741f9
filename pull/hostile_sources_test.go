package pull_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/archive"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/tarball"
)

// hostileEntries are escape routes the applier's own tests cover (see
// rootfs/security_test.go), here packed as every kind of source: each
// entry must land inside the root, or be refused.
func hostileEntries(outside string) []testimage.Entry {
	return []testimage.Entry{
		testimage.Dir("etc/"),
		testimage.File("etc/ok", "ok"),
		testimage.File("../escape-dotdot", "x"),
		testimage.File("etc/../../escape-inner", "x"),
		testimage.File(outside+"/escape-abs", "x"),
		testimage.Symlink("up", "../../.."),
		testimage.File("up/escape-through-symlink", "x"),
		testimage.Symlink("abs", outside),
		testimage.File("abs/escape-through-abs-symlink", "x"),
		testimage.Hardlink("etc/hl", "../../"+filepath.Base(outside)+"/sentinel"),
	}
}

// listing is every name under dir (the sentinel's directory).
func listing(t *testing.T, dir string) string {
	t.Helper()
	var names []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		if rel == "." || strings.HasPrefix(rel, "rootfs") || err != nil {
			if d != nil && d.IsDir() && rel == "rootfs" {
				return filepath.SkipDir
			}
			return nil
		}
		names = append(names, rel)
		return nil
	})
	sort.Strings(names)
	return strings.Join(names, " ")
}

func TestHostileLayersStayInsideEverySource(t *testing.T) {
	for _, kind := range []string{"docker-archive", "oci", "oci-archive", "tarball", "tarball-url", "lxc"} {
		t.Run(kind, func(t *testing.T) {
			base := t.TempDir()
			outside := filepath.Join(base, "outside")
			os.MkdirAll(outside, 0755)
			os.WriteFile(filepath.Join(outside, "sentinel"), []byte("sentinel"), 0644)
			work := t.TempDir()
			layerTar := testimage.Tar(hostileEntries(outside)...)
			im := testimage.Build(testimage.Spec{Layers: []testimage.Layer{{Tar: layerTar, Compression: testimage.Gzip}}})
			var src pull.Source
			var err, pullErr error
			switch kind {
			case "docker-archive":
				file := filepath.Join(work, "x.tar")
				os.WriteFile(file, testimage.TarFiles(testimage.DockerArchiveFiles(im, [][]byte{layerTar}, "h:1")), 0644)
				src, err = archive.OpenDockerArchive(ctx(t), file, "")
			case "oci":
				dir := filepath.Join(work, "layout")
				testimage.WriteOCILayout(dir, im, "v1")
				src, err = archive.OpenOCI(dir, "", "")
			case "oci-archive":
				file := filepath.Join(work, "x.tar")
				os.WriteFile(file, testimage.TarFiles(testimage.OCILayoutFiles(im, "v1")), 0644)
				src, err = archive.OpenOCIArchive(ctx(t), file, "v1", "")
			case "tarball":
				file := filepath.Join(work, "x.tar.xz")
				os.WriteFile(file, testimage.Compress(layerTar, testimage.Xz), 0644)
				src, err = tarball.Open(file, tarball.Options{})
			case "tarball-url":
				srv := newLXCServer(t) // any loopback server: only its file handler is used
				srv.mu.Lock()
				srv.files["x.tar.bz2"] = testimage.Compress(layerTar, testimage.Bzip2)
				srv.mu.Unlock()
				src, err = tarball.Open(srv.URL+"/x.tar.bz2", tarball.Options{})
			case "lxc":
				srv := newLXCServer(t, lxcBuild{"evil", "1", "default", "amd64", "20240101_00:00", layerTar})
				_, pullErr = lxcPull(t, srv, "evil/1", filepath.Join(base, "rootfs"), amd64)
			}
			if err != nil {
				t.Fatal(err)
			}
			root := filepath.Join(base, "rootfs")
			if src != nil {
				_, pullErr = pull.PullFrom(ctx(t), src, pull.Options{Image: kind, Dir: root, Launcher: "-", Platform: amd64})
			}
			err = pullErr
			t.Logf("pull: %v", err) // refusing a hostile entry is as fine as confining it
			if got, want := listing(t, base), "outside outside/sentinel"; got != want {
				t.Errorf("outside the root: %q, want %q", got, want)
			}
			if b, _ := os.ReadFile(filepath.Join(outside, "sentinel")); string(b) != "sentinel" {
				t.Errorf("the sentinel outside was changed: %q", b)
			}
			for _, p := range []string{"/escape-dotdot", "/escape-inner", "/escape-through-symlink"} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s exists at the host's root", p)
				}
			}
			if err == nil {
				if b, _ := os.ReadFile(filepath.Join(root, "etc/ok")); string(b) != "ok" {
					t.Errorf("etc/ok = %q", b)
				}
			}
		})
	}
}
