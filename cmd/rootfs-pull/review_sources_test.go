package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
)

// rawControl reports control characters (ESC, BEL, CSI …) that would reach
// the terminal as they are.
func rawControl(s string) bool {
	return strings.ContainsAny(s, "\x1b\x07\x9b\r") || strings.Contains(s, "\u202e")
}

// The name a pull prints comes partly from the source: a docker save
// archive's only RepoTag, an LXC server's build name. Both were printed
// raw on stdout ("Pulled …" and "… is up to date with …"), so an archive
// or a mirror could write escape sequences to the user's terminal (retitle
// it, hide text, fake a prompt).
func TestReviewPullEscapesNamesFromTheSource(t *testing.T) {
	evil := "\x1b]0;owned\x07\x1b[2J\u202e"
	t.Run("docker-archive RepoTag", func(t *testing.T) {
		tars := [][]byte{testimage.Tar(testimage.Dir("etc/"), testimage.File("etc/a", "a"))}
		im := testimage.Build(testimage.Spec{Config: ocispec.ImageConfig{Cmd: []string{"/bin/echo", "hi"}},
			Layers: []testimage.Layer{{Tar: tars[0], Compression: testimage.None}}})
		file := filepath.Join(t.TempDir(), "saved.tar")
		os.WriteFile(file, testimage.TarFiles(testimage.DockerArchiveFiles(im, tars, "demo/app:1"+evil)), 0o644)
		dir := filepath.Join(t.TempDir(), "rootfs")
		for range 2 { // pulled, then up to date
			r := runCLI(t, "", "--platform", "linux/amd64", "docker-archive:"+file, dir)
			if r.code != 0 || rawControl(r.stdout) || rawControl(r.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q: control characters from the archive printed raw", r.code, r.stdout, r.stderr)
			}
		}
	})
	t.Run("lxc build", func(t *testing.T) {
		rootfsXz := testimage.Compress(testimage.Tar(testimage.Dir("./"), testimage.Dir("./bin/"), testimage.File("./bin/sh", "#!"),
			testimage.Dir("./etc/"), testimage.File("./etc/passwd", "root:x:0:0::/root:/bin/sh\n")), testimage.Xz)
		srv := lxcServerWithBuild(t, rootfsXz, "20240102"+evil)
		dir := filepath.Join(t.TempDir(), "debian")
		for range 2 {
			r := runCLI(t, "", "--platform", "linux/amd64", "--lxc-server", srv.URL, "lxc:debian/bookworm", dir)
			if rawControl(r.stdout) || rawControl(r.stderr) { // (a build so named may be refused)
				t.Errorf("exit %d, stdout %q, stderr %q: control characters from the LXC server printed raw", r.code, r.stdout, r.stderr)
			}
		}
	})
}

// lxcServerWithBuild serves debian/bookworm for amd64 with one build.
func lxcServerWithBuild(t *testing.T, rootfsXz []byte, build string) *httptest.Server {
	sum := sha256.Sum256(rootfsXz)
	products := map[string]any{"debian:bookworm:amd64:default": map[string]any{"arch": "amd64", "os": "Debian", "release": "bookworm", "variant": "default",
		"versions": map[string]any{build: map[string]any{"items": map[string]any{"root.tar.xz": map[string]any{
			"ftype": "root.tar.xz", "path": "images/debian/bookworm/amd64/default/1/rootfs.tar.xz",
			"sha256": hex.EncodeToString(sum[:]), "size": len(rootfsXz)}}}}}}
	files := map[string][]byte{}
	files["/streams/v1/index.json"], _ = json.Marshal(map[string]any{"index": map[string]any{"images": map[string]any{"datatype": "image-downloads", "path": "streams/v1/images.json"}}})
	files["/streams/v1/images.json"], _ = json.Marshal(map[string]any{"products": products})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, ok := files[r.URL.Path]; ok {
			w.Write(b)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/rootfs.tar.xz") {
			w.Write(rootfsXz)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// ROOTFS_PULL_LXC_SERVER, set once in a shell profile to use a mirror
// (as --lxc-server's help suggests), made every pull of anything but an
// lxc: image fail with "--lxc-server is for lxc: images".
func TestReviewLXCServerEnvironmentDoesNotBreakOtherPulls(t *testing.T) {
	blob := testimage.Compress(testimage.Tar(testimage.Dir("bin/"), testimage.File("bin/sh", "#!"),
		testimage.Dir("etc/"), testimage.File("etc/passwd", "root:x:0:0::/root:/bin/sh\n")), testimage.Gzip)
	file := filepath.Join(t.TempDir(), "mini.tar.gz")
	os.WriteFile(file, blob, 0o644)
	r := runCLIEnv(t, []string{"ROOTFS_PULL_LXC_SERVER=mirrors.example.org/lxc-images"}, "-q", "--platform", "linux/amd64", file, filepath.Join(t.TempDir(), "mini"))
	if r.code != 0 {
		t.Errorf("a tarball pull with ROOTFS_PULL_LXC_SERVER set: exit %d, %s", r.code, r.stderr)
	}
	r = runCLI(t, "", "-q", "--lxc-server", "mirrors.example.org/lxc-images", file, filepath.Join(t.TempDir(), "mini2"))
	oneErrorLine(t, r, 2, "--lxc-server is for lxc: images")
}
