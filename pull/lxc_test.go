package pull_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/lxc"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
	"github.com/rootfs-pull/rootfs-pull/tarball"
)

// lxcServer is an LXC image server as images.linuxcontainers.org lays
// it out: streams/v1/index.json, the products file it names, and each
// build's rootfs.tar.xz (made by the xz command) under images/.
type lxcServer struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
}

// lxcBuild is one build of a product: its rootfs tar, xz-compressed.
type lxcBuild struct {
	distro, release, variant, arch, version string
	tar                                     []byte
}

func newLXCServer(t *testing.T, builds ...lxcBuild) *lxcServer {
	t.Helper()
	s := &lxcServer{files: map[string][]byte{}}
	products := map[string]any{}
	for _, b := range builds {
		blob := testimage.Compress(b.tar, testimage.Xz)
		p := fmt.Sprintf("images/%s/%s/%s/%s/%s/rootfs.tar.xz", b.distro, b.release, b.arch, b.variant, b.version)
		s.files[p] = blob
		key := fmt.Sprintf("%s:%s:%s:%s", b.distro, b.release, b.arch, b.variant)
		prod, ok := products[key].(map[string]any)
		if !ok {
			prod = map[string]any{"arch": b.arch, "os": strings.ToUpper(b.distro[:1]) + b.distro[1:], "release": b.release,
				"variant": b.variant, "aliases": b.distro + "/" + b.release, "versions": map[string]any{}}
			products[key] = prod
		}
		prod["versions"].(map[string]any)[b.version] = map[string]any{"items": map[string]any{
			"root.tar.xz": map[string]any{"ftype": "root.tar.xz", "path": p, "sha256": sha256hex(blob), "size": len(blob)},
			"lxd.tar.xz":  map[string]any{"ftype": "lxd.tar.xz", "path": "images/x/lxd.tar.xz", "sha256": sha256hex(nil), "size": 1},
		}}
	}
	s.files["streams/v1/images.json"], _ = json.Marshal(map[string]any{"content_id": "images", "datatype": "image-downloads", "format": "products:1.0", "products": products})
	s.files["streams/v1/index.json"], _ = json.Marshal(map[string]any{"format": "index:1.0", "index": map[string]any{
		"images": map[string]any{"datatype": "image-downloads", "path": "streams/v1/images.json", "format": "products:1.0"}}})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		b, ok := s.files[strings.TrimPrefix(r.URL.Path, "/")]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

func lxcRootfs(label string) []byte {
	return testimage.Tar(testimage.Dir("./"), testimage.Dir("./bin/"), testimage.File("./bin/sh", "#!sh"), testimage.Dir("./etc/"),
		testimage.File("./etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"), testimage.File("./etc/build", label))
}

func lxcPull(t *testing.T, srv *lxcServer, spec, dir string, plat registry.Platform) (*pull.Result, error) {
	t.Helper()
	c := &lxc.Client{Server: srv.URL, HTTP: tarball.DefaultHTTP(nil)}
	src, err := lxc.NewSource(c, spec)
	if err != nil {
		t.Fatal(err)
	}
	return pull.PullFrom(ctx(t), src, pull.Options{Image: "lxc:" + spec, Dir: dir, Launcher: "-", Platform: plat})
}

func TestPullLXC(t *testing.T) {
	arm64 := registry.Platform{OS: "linux", Architecture: "arm64"}
	srv := newLXCServer(t,
		lxcBuild{"debian", "bookworm", "default", "amd64", "20240101_05:24", lxcRootfs("amd64 old")},
		lxcBuild{"debian", "bookworm", "default", "amd64", "20240102_05:24", lxcRootfs("amd64 new")},
		lxcBuild{"debian", "bookworm", "default", "arm64", "20240102_05:24", lxcRootfs("arm64 new")},
		lxcBuild{"debian", "bookworm", "cloud", "amd64", "20240102_05:24", lxcRootfs("cloud")},
		lxcBuild{"alpine", "3.20", "default", "armhf", "20240102_05:24", lxcRootfs("armhf")},
	)
	for _, tt := range []struct {
		spec string
		plat registry.Platform
		want string
	}{
		{"debian/bookworm", amd64, "amd64 new"},
		{"debian/bookworm/default", arm64, "arm64 new"},
		{"debian/bookworm/cloud", amd64, "cloud"},
		{"alpine/3.20", registry.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, "armhf"},
	} {
		t.Run(tt.spec+"/"+tt.plat.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "rootfs")
			res, err := lxcPull(t, srv, tt.spec, dir, tt.plat)
			if err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, filepath.Join(dir, "etc/build")); got != tt.want {
				t.Errorf("etc/build = %q, want %q (the newest build for the platform)", got, tt.want)
			}
			if res.Image.Unverified || !strings.Contains(res.Image.Platform.String(), tt.plat.Architecture) {
				t.Errorf("unverified %v, platform %s", res.Image.Unverified, res.Image.Platform)
			}
			if got := strings.Join(res.Launch.DefaultCommand(), " "); got != "/bin/sh -l" {
				t.Errorf("default command %q", got)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		_, err := lxcPull(t, srv, "debian/sid", filepath.Join(t.TempDir(), "r"), amd64)
		if !errors.Is(err, lxc.ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
		_, err = lxcPull(t, srv, "alpine/3.20", filepath.Join(t.TempDir(), "r"), amd64)
		var pe *registry.PlatformError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), "linux/arm/v7") {
			t.Errorf("err = %v, want a PlatformError offering linux/arm/v7", err)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		p := "images/debian/bookworm/amd64/default/20240102_05:24/rootfs.tar.xz"
		srv.mu.Lock()
		good := srv.files[p]
		srv.files[p] = testimage.Compress(lxcRootfs("evil"), testimage.Xz)
		srv.mu.Unlock()
		defer func() { srv.mu.Lock(); srv.files[p] = good; srv.mu.Unlock() }()
		dir := filepath.Join(t.TempDir(), "r")
		_, err := lxcPull(t, srv, "debian/bookworm", dir, amd64)
		if !errors.Is(err, registry.ErrVerify) {
			t.Fatalf("err = %v, want a verification error", err)
		}
		assertNotReady(t, dir)
		if st, err := rootfs.LoadState(dir); err == nil && !st.NeedsRebuild() {
			t.Errorf("state %+v does not call for a rebuild after unverified bytes were applied", st)
		}
	})
}
