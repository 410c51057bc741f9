package pull_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

func startRegistry(t *testing.T, opts testregistry.Options) *testregistry.Registry {
	t.Helper()
	reg, err := testregistry.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	return reg
}

func newClient(t *testing.T, o registry.Options) *registry.Client {
	t.Helper()
	o.NoDockerConfig = o.NoDockerConfig || os.Getenv("DOCKER_CONFIG") == ""
	c, err := registry.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func push(t *testing.T, reg *testregistry.Registry, name, tag string, im *testimage.Image) {
	t.Helper()
	p := testimage.Pusher{Host: reg.Host, Username: "admin", Password: "adminpw"}
	if err := p.Push(ctx(t), name, tag, im); err != nil {
		t.Fatalf("push %s:%s: %v", name, tag, err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

func assertNotReady(t *testing.T, dir string) {
	t.Helper()
	st, err := rootfs.LoadState(dir)
	if err != nil {
		return // no state at all: nothing claims to be ready
	}
	if st.Status == rootfs.StatusReady {
		t.Errorf("state of %s says ready after a failed pull", dir)
	}
}

// baseLayers is a small two-layer image: the second layer removes a file
// and a tree with whiteouts and makes a directory opaque.
func baseLayers(c testimage.Compression) []testimage.Layer {
	l1 := testimage.Tar(testimage.Dir("etc/"), testimage.File("etc/os-release", "ID=test\n"), testimage.File("etc/gone", "x"),
		testimage.Dir("var/cache/"), testimage.File("var/cache/a", "a"), testimage.Dir("usr/lib/"), testimage.Symlink("lib", "usr/lib"),
		testimage.File("usr/lib/libc.so", "libc"), testimage.Hardlink("usr/lib/libc.so.6", "usr/lib/libc.so"))
	l2 := testimage.Tar(testimage.File("etc/.wh.gone", ""), testimage.Dir("var/cache/"), testimage.File("var/cache/.wh..wh..opq", ""),
		testimage.File("var/cache/b", "b"), testimage.File("lib/libz.so", "z"))
	return []testimage.Layer{{Tar: l1, Compression: c}, {Tar: l2, Compression: c}}
}

func checkBaseTree(t *testing.T, dir string) {
	t.Helper()
	if got := readFile(t, filepath.Join(dir, "etc/os-release")); got != "ID=test\n" {
		t.Errorf("os-release = %q", got)
	}
	for _, gone := range []string{"etc/gone", "var/cache/a"} {
		if _, err := os.Lstat(filepath.Join(dir, gone)); err == nil {
			t.Errorf("%s survived its whiteout", gone)
		}
	}
	if got := readFile(t, filepath.Join(dir, "var/cache/b")); got != "b" {
		t.Errorf("var/cache/b = %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "usr/lib/libz.so")); got != "z" {
		t.Errorf("usr/lib/libz.so (written through the lib symlink) = %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "usr/lib/libc.so.6")); got != "libc" {
		t.Errorf("hard link = %q", got)
	}
	st, err := rootfs.LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != rootfs.StatusReady || len(st.Layers) != 2 || !st.Layers[0].Applied || !st.Layers[1].Applied {
		t.Errorf("state = %+v, want ready with 2 applied layers", st)
	}
	if _, err := os.Stat(rootfs.ConfigPath(dir)); err != nil {
		t.Errorf("config not kept: %v", err)
	}
}

func TestPullFormats(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	tests := []struct {
		name   string
		spec   testimage.Spec
		repo   string
		expect string // media type of the manifest
	}{
		{"oci gzip", testimage.Spec{Layers: baseLayers(testimage.Gzip)}, "test/oci-gzip", ocispec.MediaTypeImageManifest},
		{"oci zstd", testimage.Spec{Layers: baseLayers(testimage.Zstd)}, "test/oci-zstd", ocispec.MediaTypeImageManifest},
		{"oci uncompressed", testimage.Spec{Layers: baseLayers(testimage.None)}, "test/oci-plain", ocispec.MediaTypeImageManifest},
		{"docker schema 2", testimage.Spec{Layers: baseLayers(testimage.Gzip), Docker: true}, "test/docker", registry.MediaTypeDockerManifest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			push(t, reg, tt.repo, "v1", testimage.Build(tt.spec))
			dir := filepath.Join(t.TempDir(), "rootfs")
			res, err := pull.Pull(ctx(t), newClient(t, registry.Options{}), pull.Options{Image: reg.Host + "/" + tt.repo + ":v1", Dir: dir})
			if err != nil {
				t.Fatalf("pull: %v", err)
			}
			if res.Image.MediaType != tt.expect {
				t.Errorf("manifest media type = %s, want %s", res.Image.MediaType, tt.expect)
			}
			checkBaseTree(t, dir)
		})
	}
}

// platformImage is an image whose only file says which platform it is.
func platformImage(os, arch, variant string) *testimage.Image {
	return testimage.Build(testimage.Spec{
		Platform: ocispec.Platform{OS: os, Architecture: arch, Variant: variant},
		Layers:   []testimage.Layer{{Tar: testimage.Tar(testimage.File("platform", os+"/"+arch+"/"+variant)), Compression: testimage.Gzip}},
	})
}

func TestPullIndexPlatforms(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	p := testimage.Pusher{Host: reg.Host}
	for _, docker := range []bool{false, true} {
		repo := fmt.Sprintf("test/multi-docker-%v", docker)
		_, err := p.PushIndex(ctx(t), repo, "latest", docker,
			platformImage("linux", "amd64", ""), platformImage("linux", "arm64", "v8"), platformImage("linux", "arm", "v7"))
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			platform string
			want     string // content of /platform, or "" for an error
		}{
			{"linux/amd64", "linux/amd64/"},
			{"linux/arm64", "linux/arm64/v8"},
			{"linux/arm64/v8", "linux/arm64/v8"},
			{"aarch64", "linux/arm64/v8"},
			{"android/arm64", "linux/arm64/v8"},
			{"linux/arm/v7", "linux/arm/v7"},
			{"linux/arm/v8", "linux/arm/v7"}, // a v8 core in AArch32 runs v7 code
			{"linux/arm/v6", ""},
			{"linux/s390x", ""},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("docker=%v/%s", docker, tt.platform), func(t *testing.T) {
				plat, err := registry.ParsePlatform(tt.platform)
				if err != nil {
					t.Fatal(err)
				}
				dir := filepath.Join(t.TempDir(), "rootfs")
				res, err := pull.Pull(ctx(t), newClient(t, registry.Options{}), pull.Options{Image: reg.Host + "/" + repo, Dir: dir, Platform: plat})
				if tt.want == "" {
					var pe *registry.PlatformError
					if !errors.As(err, &pe) {
						t.Fatalf("err = %v, want a PlatformError", err)
					}
					msg := pull.Explain(err, pull.Options{Image: repo})
					for _, offered := range []string{"linux/amd64", "linux/arm64/v8", "linux/arm/v7", "--platform"} {
						if !strings.Contains(msg, offered) {
							t.Errorf("message %q does not mention %s", msg, offered)
						}
					}
					return
				}
				if err != nil {
					t.Fatalf("pull: %v", err)
				}
				if got := readFile(t, filepath.Join(dir, "platform")); got != tt.want {
					t.Errorf("pulled %q, want %q", got, tt.want)
				}
				if res.Image.IndexDigest == "" {
					t.Error("index digest not recorded")
				}
			})
		}
	}
}

func TestPullSinglePlatformMismatch(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	push(t, reg, "test/armonly", "latest", platformImage("linux", "arm64", "v8"))
	_, err := pull.Pull(ctx(t), newClient(t, registry.Options{}), pull.Options{Image: reg.Host + "/test/armonly", Dir: filepath.Join(t.TempDir(), "r"),
		Platform: registry.Platform{OS: "linux", Architecture: "amd64"}})
	var pe *registry.PlatformError
	if !errors.As(err, &pe) || len(pe.Offered) != 1 || pe.Offered[0].String() != "linux/arm64/v8" {
		t.Fatalf("err = %v, want a PlatformError offering linux/arm64/v8", err)
	}
}

func TestPullByDigest(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	im := testimage.Build(testimage.Spec{Layers: baseLayers(testimage.Gzip)})
	push(t, reg, "test/bydigest", "v1", im)
	idx, err := testimage.Pusher{Host: reg.Host}.PushIndex(ctx(t), "test/bydigest", "multi", false, im)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"test/bydigest@" + im.Desc.Digest.String(),
		"test/bydigest:v1@" + im.Desc.Digest.String(),
		"test/bydigest@" + idx.Digest.String(),
	} {
		dir := filepath.Join(t.TempDir(), "rootfs")
		res, err := pull.Pull(ctx(t), newClient(t, registry.Options{}), pull.Options{Image: reg.Host + "/" + name, Dir: dir})
		if err != nil {
			t.Fatalf("pull %s: %v", name, err)
		}
		if res.Image.Digest != im.Desc.Digest {
			t.Errorf("pulled %s, want %s", res.Image.Digest, im.Desc.Digest)
		}
		checkBaseTree(t, dir)
	}
}

// TestPullByDigestVerifiesManifest puts a proxy in front of the real
// registry that answers a digest request with another manifest.
func TestPullByDigestVerifiesManifest(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	a := testimage.Build(testimage.Spec{Layers: baseLayers(testimage.Gzip)})
	b := platformImage("linux", "amd64", "")
	push(t, reg, "test/swap", "a", a)
	push(t, reg, "test/swap", "b", b)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.Replace(r.URL.Path, a.Desc.Digest.String(), "b", 1)
		req, _ := http.NewRequest(r.Method, "http://"+reg.Host+path, nil)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer proxy.Close()
	host := strings.TrimPrefix(proxy.URL, "http://")
	dir := filepath.Join(t.TempDir(), "rootfs")
	_, err := pull.Pull(ctx(t), newClient(t, registry.Options{}), pull.Options{Image: host + "/test/swap@" + a.Desc.Digest.String(), Dir: dir})
	if !errors.Is(err, registry.ErrVerify) {
		t.Fatalf("err = %v, want a manifest verification error", err)
	}
}

func TestPullTamperedBlob(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	im := testimage.Build(testimage.Spec{Layers: baseLayers(testimage.Gzip)})
	push(t, reg, "test/tampered", "v1", im)
	layer := im.Manifest.Layers[1]
	data := append([]byte{}, im.Blobs[layer.Digest]...)
	data[len(data)/2] ^= 0xff // same size, different bytes
	if err := os.WriteFile(reg.BlobPath(layer.Digest.String()), data, 0644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "rootfs")
	_, err := pull.Pull(ctx(t), newClient(t, registry.Options{}), pull.Options{Image: reg.Host + "/test/tampered:v1", Dir: dir})
	var ve *registry.VerifyError
	if !errors.As(err, &ve) || ve.Expected != layer.Digest {
		t.Fatalf("err = %v, want a VerifyError for %s", err, layer.Digest)
	}
	assertNotReady(t, dir)
	// Bytes of the tampered layer were applied before its digest was
	// known: the tree is tainted, and no layer counts as applied.
	st, _ := rootfs.LoadState(dir)
	if st == nil || !st.Tainted || st.Layers[0].Applied || st.Layers[1].Applied {
		t.Fatalf("state = %+v, want tainted with no layer applied", st)
	}
	// The registry is repaired: the same command empties the tree and
	// applies every layer again.
	os.WriteFile(reg.BlobPath(layer.Digest.String()), im.Blobs[layer.Digest], 0644)
	os.WriteFile(filepath.Join(dir, "planted"), []byte("x"), 0644) // stands for what the bad bytes wrote
	res, err := pull.Pull(ctx(t), newClient(t, registry.Options{}), pull.Options{Image: reg.Host + "/test/tampered:v1", Dir: dir})
	if err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if res.Resumed != 0 {
		t.Errorf("resumed %d layers of a tainted tree, want 0", res.Resumed)
	}
	if _, err := os.Lstat(filepath.Join(dir, "planted")); err == nil {
		t.Errorf("the tainted tree was not emptied")
	}
	if st, _ := rootfs.LoadState(dir); st == nil || st.Tainted {
		t.Errorf("still tainted after a clean re-run: %+v", st)
	}
	checkBaseTree(t, dir)
}

func TestPullBrokenLayers(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	good := testimage.Tar(testimage.File("a", strings.Repeat("data", 10000)))
	gz := testimage.Compress(good, testimage.Gzip)
	withTrailer := append(append([]byte{}, good...), make([]byte, 4096)...)
	tests := []struct {
		name    string
		layer   testimage.Layer
		mutate  func(*testimage.Image)
		wantErr string // "" means success
	}{
		{"truncated gzip", testimage.Layer{Tar: good, Blob: gz[:len(gz)/2], Compression: testimage.Gzip}, nil, "unexpected EOF"},
		{"not gzip at all", testimage.Layer{Tar: good, Blob: []byte("this is not a gzip stream, nor a tar"), Compression: testimage.Gzip}, nil, "not gzip data"},
		{"diff_id mismatch", testimage.Layer{Tar: good, Compression: testimage.Gzip}, func(im *testimage.Image) {}, "diff_id"},
		{"bytes after the tar end count in diff_id", testimage.Layer{Tar: withTrailer, Compression: testimage.Gzip}, nil, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testimage.Spec{Layers: []testimage.Layer{tt.layer}}
			im := testimage.Build(spec)
			if tt.mutate != nil {
				// Rebuild with a config that lies about the layer's content.
				spec.Layers[0].Tar = testimage.Tar(testimage.File("other", "x"))
				spec.Layers[0].Blob = testimage.Compress(good, testimage.Gzip)
				im = testimage.Build(spec)
			}
			repo := fmt.Sprintf("test/broken%d", i)
			push(t, reg, repo, "v1", im)
			dir := filepath.Join(t.TempDir(), "rootfs")
			_, err := pull.Pull(ctx(t), newClient(t, registry.Options{}), pull.Options{Image: reg.Host + "/" + repo + ":v1", Dir: dir})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("pull: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			assertNotReady(t, dir)
		})
	}
}

func TestPullForeignLayer(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	tarball := testimage.Tar(testimage.File("foreign", "from elsewhere"))
	blob := testimage.Compress(tarball, testimage.Gzip)
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		w.Write(blob)
	}))
	defer srv.Close()
	for _, docker := range []bool{false, true} {
		im := testimage.Build(testimage.Spec{Docker: docker, Layers: []testimage.Layer{
			{Tar: testimage.Tar(testimage.File("base", "b")), Compression: testimage.Gzip},
			{Tar: tarball, Blob: blob, URLs: []string{"http://127.0.0.1:1/refused", srv.URL + "/layer.tar.gz"}},
		}})
		repo := fmt.Sprintf("test/foreign-%v", docker)
		push(t, reg, repo, "v1", im)
		dir := filepath.Join(t.TempDir(), "rootfs")
		if _, err := pull.Pull(ctx(t), newClient(t, registry.Options{}), pull.Options{Image: reg.Host + "/" + repo + ":v1", Dir: dir}); err != nil {
			t.Fatalf("pull: %v", err)
		}
		if got := readFile(t, filepath.Join(dir, "foreign")); got != "from elsewhere" {
			t.Errorf("foreign = %q", got)
		}
	}
	if hits != 2 {
		t.Errorf("foreign URL fetched %d times, want 2", hits)
	}
}

func TestPullDirectoryRules(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	push(t, reg, "test/a", "v1", testimage.Build(testimage.Spec{Layers: baseLayers(testimage.Gzip)}))
	push(t, reg, "test/b", "v1", platformImage("linux", "amd64", ""))
	c := newClient(t, registry.Options{})
	image := reg.Host + "/test/a:v1"

	t.Run("non-empty foreign directory is refused and untouched", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "mine.txt"), []byte("precious"), 0644)
		_, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: dir})
		if !errors.Is(err, pull.ErrNotEmpty) {
			t.Fatalf("err = %v, want ErrNotEmpty", err)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 || readFile(t, filepath.Join(dir, "mine.txt")) != "precious" {
			t.Errorf("the refused directory was changed: %v", entries)
		}
		if _, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: dir, Force: true}); err != nil {
			t.Fatalf("--force: %v", err)
		}
		checkBaseTree(t, dir)
		if readFile(t, filepath.Join(dir, "mine.txt")) != "precious" {
			t.Error("--force lost the user's file")
		}
	})
	t.Run("second pull is up to date", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "r")
		if _, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: dir}); err != nil {
			t.Fatal(err)
		}
		res, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: dir})
		if err != nil || !res.UpToDate {
			t.Fatalf("second pull: %+v, %v; want up to date", res, err)
		}
	})
	t.Run("another image is refused", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "r")
		if _, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: dir}); err != nil {
			t.Fatal(err)
		}
		_, err := pull.Pull(ctx(t), c, pull.Options{Image: reg.Host + "/test/b:v1", Dir: dir})
		var oe *pull.OtherImageError
		if !errors.As(err, &oe) {
			t.Fatalf("err = %v, want OtherImageError", err)
		}
		checkBaseTree(t, dir)
	})
	t.Run("a file is not a directory", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "file")
		os.WriteFile(f, nil, 0644)
		if _, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: f}); err == nil {
			t.Fatal("pulled into a regular file")
		}
	})
	t.Run("missing image", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "r")
		_, err := pull.Pull(ctx(t), c, pull.Options{Image: reg.Host + "/test/nope:v1", Dir: dir})
		if !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
		assertNotReady(t, dir)
	})
}
