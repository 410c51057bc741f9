package pull_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
	"github.com/rootfs-pull/rootfs-pull/tarball"
)

// minirootfs is a tiny rootfs as distributions ship them, with or
// without a wrapper directory (prefix "alpine-3.20/").
func minirootfs(prefix string) []byte {
	var es []testimage.Entry
	if prefix != "" {
		es = append(es, testimage.Dir(prefix))
	}
	es = append(es, testimage.Dir(prefix+"bin/"), testimage.File(prefix+"bin/sh", "#!sh"), testimage.Dir(prefix+"etc/"),
		testimage.File(prefix+"etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"), testimage.Dir(prefix+"root/"),
		testimage.Symlink(prefix+"bin/ash", "sh"), testimage.Hardlink(prefix+"bin/sh2", prefix+"bin/sh"))
	return testimage.Tar(es...)
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func checkMiniTree(t *testing.T, dir string) {
	t.Helper()
	if got := readFile(t, filepath.Join(dir, "bin/sh2")); got != "#!sh" {
		t.Errorf("bin/sh2 = %q", got)
	}
	if l, err := os.Readlink(filepath.Join(dir, "bin/ash")); err != nil || l != "sh" {
		t.Errorf("bin/ash -> %q, %v", l, err)
	}
	for _, wrapper := range []string{"alpine-3.20", "alpine-3.20/bin"} {
		if _, err := os.Lstat(filepath.Join(dir, wrapper)); err == nil {
			t.Errorf("%s is in the rootfs: the wrapper directory was not stripped", wrapper)
		}
	}
	st, err := rootfs.LoadState(dir)
	if err != nil || st.Status != rootfs.StatusReady {
		t.Errorf("state = %+v, %v; want ready", st, err)
	}
}

func TestPullTarballFile(t *testing.T) {
	for _, c := range []testimage.Compression{testimage.Gzip, testimage.Xz, testimage.Zstd, testimage.Bzip2, testimage.None} {
		for _, prefix := range []string{"", "alpine-3.20/", "./"} {
			t.Run(string(c)+"/"+prefix, func(t *testing.T) {
				blob := testimage.Compress(minirootfs(prefix), c)
				file := filepath.Join(t.TempDir(), "rootfs.tar.any")
				if err := os.WriteFile(file, blob, 0644); err != nil {
					t.Fatal(err)
				}
				dir := filepath.Join(t.TempDir(), "alpine")
				src, err := tarball.Open(file, tarball.Options{SHA256: sha256hex(blob)})
				if err != nil {
					t.Fatal(err)
				}
				res, err := pull.PullFrom(ctx(t), src, pull.Options{Image: file, Dir: dir, Launcher: "-"})
				if err != nil {
					t.Fatalf("pull: %v", err)
				}
				checkMiniTree(t, dir)
				if res.Image.Unverified {
					t.Error("verified by --sha256, yet marked unverified")
				}
				if got := strings.Join(res.Launch.DefaultCommand(), " "); got != "/bin/sh -l" {
					t.Errorf("default command %q, want a login shell", got)
				}
				if !strings.Contains(strings.Join(res.Launch.Env, " "), "HOME=/root") {
					t.Errorf("env %q has no HOME=/root", res.Launch.Env)
				}
			})
		}
	}
}

func TestPullTarballSHA256(t *testing.T) {
	blob := testimage.Compress(minirootfs(""), testimage.Xz)
	file := filepath.Join(t.TempDir(), "rootfs.tar.xz")
	os.WriteFile(file, blob, 0644)
	t.Run("wrong", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "r")
		src, err := tarball.Open(file, tarball.Options{SHA256: sha256hex([]byte("other"))})
		if err != nil {
			t.Fatal(err)
		}
		_, err = pull.PullFrom(ctx(t), src, pull.Options{Image: file, Dir: dir, Launcher: "-"})
		if !errors.Is(err, registry.ErrVerify) {
			t.Fatalf("err = %v, want a verification error", err)
		}
		assertNotReady(t, dir)
	})
	t.Run("none", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "r")
		src, _ := tarball.Open(file, tarball.Options{})
		res, err := pull.PullFrom(ctx(t), src, pull.Options{Image: file, Dir: dir, Launcher: "-"})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Image.Unverified {
			t.Error("no --sha256, yet not marked unverified")
		}
		res, err = pull.PullFrom(ctx(t), src, pull.Options{Image: file, Dir: dir, Launcher: "-"})
		if err != nil || !res.UpToDate {
			t.Errorf("the same file again: up to date %v, %v", res != nil && res.UpToDate, err)
		}
		os.WriteFile(file, testimage.Compress(minirootfs("x/"), testimage.Gzip), 0644)
		_, err = pull.PullFrom(ctx(t), src, pull.Options{Image: file, Dir: dir, Launcher: "-"})
		var ue *pull.UpdateError
		if !errors.As(err, &ue) {
			t.Errorf("a changed file: err = %v, want an UpdateError (--update)", err)
		}
		if _, err := pull.PullFrom(ctx(t), src, pull.Options{Image: file, Dir: dir, Launcher: "-", Update: true}); err != nil {
			t.Fatalf("--update: %v", err)
		}
		checkMiniTree(t, dir) // the new file's wrapper x/ stripped, swapped in whole
	})
}

func TestPullTarballURL(t *testing.T) {
	good := testimage.Compress(minirootfs("alpine-3.20/"), testimage.Gzip)
	tampered := testimage.Compress(minirootfs("alpine-3.20/"), testimage.Xz)
	serve := good
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(serve) }))
	t.Cleanup(srv.Close)
	url := srv.URL + "/alpine-minirootfs.tar.gz"
	open := func(sum string) pull.Source {
		src, err := tarball.Open(url, tarball.Options{SHA256: sum})
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	dir := filepath.Join(t.TempDir(), "alpine")
	if _, err := pull.PullFrom(ctx(t), open(sha256hex(good)), pull.Options{Image: url, Dir: dir, Launcher: "-"}); err != nil {
		t.Fatal(err)
	}
	checkMiniTree(t, dir)

	serve = tampered
	dir2 := filepath.Join(t.TempDir(), "alpine")
	_, err := pull.PullFrom(ctx(t), open(sha256hex(good)), pull.Options{Image: url, Dir: dir2, Launcher: "-"})
	if !errors.Is(err, registry.ErrVerify) {
		t.Fatalf("tampered: err = %v, want a verification error", err)
	}
	assertNotReady(t, dir2)

	res, err := pull.PullFrom(ctx(t), open(""), pull.Options{Image: url, Dir: filepath.Join(t.TempDir(), "u"), Launcher: "-"})
	if err != nil || !res.Image.Unverified {
		t.Errorf("without --sha256: %v, unverified %v", err, res != nil && res.Image.Unverified)
	}
	if _, err := tarball.Open("http://example.org/x.tar", tarball.Options{}); err == nil {
		t.Error("plain http to a non-loopback host accepted")
	}
}

func TestPullTarballRefusesOtherFiles(t *testing.T) {
	tmp := t.TempDir()
	notTar := filepath.Join(tmp, "notes.txt")
	os.WriteFile(notTar, []byte(strings.Repeat("just text\n", 100)), 0644)
	save := filepath.Join(tmp, "save.tar")
	os.WriteFile(save, testimage.Tar(testimage.File("manifest.json", "[]"), testimage.File("repositories", "{}")), 0644)
	oci := filepath.Join(tmp, "oci.tar")
	os.WriteFile(oci, testimage.Tar(testimage.File("oci-layout", "{}"), testimage.File("index.json", "{}")), 0644)
	for _, tt := range []struct {
		file string
		want any
		msg  string
	}{
		{notTar, new(*tarball.NotTarballError), "not a rootfs tarball"},
		{save, new(*tarball.ImageArchiveError), "docker-archive:" + save},
		{oci, new(*tarball.ImageArchiveError), "oci-archive:" + oci},
	} {
		src, _ := tarball.Open(tt.file, tarball.Options{})
		dir := filepath.Join(tmp, "r")
		_, err := pull.PullFrom(ctx(t), src, pull.Options{Image: tt.file, Dir: dir, Launcher: "-"})
		if err == nil || !errors.As(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: err = %v, want one saying %q", tt.file, err, tt.msg)
		}
		if _, err := os.Lstat(dir); err == nil {
			t.Errorf("%s: the directory was made for a file that is no tarball", tt.file)
		}
	}
}
