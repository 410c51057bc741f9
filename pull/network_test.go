package pull_test

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rootfs-pull/rootfs-pull/cache"
	"github.com/rootfs-pull/rootfs-pull/internal/faultproxy"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// fastRetry keeps fault tests quick while still exercising every path.
var fastRetry = registry.RetryPolicy{Attempts: 4, Backoff: 20 * time.Millisecond, MaxWait: 2 * time.Second}

// bigImage has two layers of incompressible data (gzip and zstd), large
// enough to be cut midway.
func bigImage(t *testing.T) *testimage.Image {
	t.Helper()
	a, b := make([]byte, 3<<20), make([]byte, 2<<20)
	rand.Read(a)
	rand.Read(b)
	return testimage.Build(testimage.Spec{Layers: []testimage.Layer{
		{Tar: testimage.Tar(testimage.Dir("data/"), testimage.File("data/a", string(a)), testimage.File("etc/gone", "x")), Compression: testimage.Gzip},
		{Tar: testimage.Tar(testimage.File("data/b", string(b)), testimage.File("etc/.wh.gone", "")), Compression: testimage.Zstd},
	}})
}

// treeSum describes a rootfs (types, modes, sizes, link targets, content
// hashes), leaving out the tool's own state, to compare two pulls.
func treeSum(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == ".rootfs-pull" {
			return filepath.SkipDir
		}
		fi, _ := d.Info()
		desc := fi.Mode().String()
		switch {
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			desc += fmt.Sprintf(" %d %x", len(b), sha256.Sum256(b))
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		}
		out[rel] = desc
		return nil
	})
	return out
}

func sameTree(t *testing.T, got, want map[string]string) {
	t.Helper()
	var diffs []string
	for k, v := range want {
		if got[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s: got %q, want %q", k, got[k], v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: unexpected %q", k, v))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("tree differs from a clean pull:\n%s", strings.Join(diffs, "\n"))
	}
}

// faultSetup pushes bigImage and returns a proxy in front of the registry
// and the tree of a clean pull.
func faultSetup(t *testing.T) (*faultproxy.Proxy, string, map[string]string) {
	t.Helper()
	reg := startRegistry(t, testregistry.Options{})
	push(t, reg, "test/big", "v1", bigImage(t))
	clean := filepath.Join(t.TempDir(), "clean")
	if _, err := pull.Pull(ctx(t), newClient(t, registry.Options{}), pull.Options{Image: reg.Host + "/test/big:v1", Dir: clean}); err != nil {
		t.Fatal(err)
	}
	p := faultproxy.New(reg.Host)
	t.Cleanup(p.Close)
	return p, p.Host + "/test/big:v1", treeSum(t, clean)
}

func TestPullSurvivesFaults(t *testing.T) {
	tests := []struct {
		name   string
		inject func(p *faultproxy.Proxy)
		check  func(t *testing.T, p *faultproxy.Proxy, retries, resumes int64)
	}{
		{"503 on the first manifest request", func(p *faultproxy.Proxy) { p.FailManifests.Store(1) },
			func(t *testing.T, p *faultproxy.Proxy, retries, _ int64) {
				if retries < 1 || p.Manifests.Load() < 2 {
					t.Errorf("retries %d, manifest requests %d: want the 503 retried", retries, p.Manifests.Load())
				}
			}},
		{"429 with Retry-After on the first blob request", func(p *faultproxy.Proxy) { p.ThrottleBlobs.Store(1) },
			func(t *testing.T, p *faultproxy.Proxy, retries, _ int64) {
				if retries < 1 {
					t.Errorf("the 429 was not retried")
				}
			}},
		{"cut after 1 MiB: resumed with Range", func(p *faultproxy.Proxy) { p.CutAfter.Store(1 << 20); p.Cuts.Store(1) },
			func(t *testing.T, p *faultproxy.Proxy, _, resumes int64) {
				if resumes < 1 || p.Ranges.Load() < 1 {
					t.Errorf("resumes %d, Range requests %d: want the cut resumed with Range", resumes, p.Ranges.Load())
				}
			}},
		{"cut, and the server ignores Range", func(p *faultproxy.Proxy) {
			p.CutAfter.Store(1 << 20)
			p.Cuts.Store(2)
			p.IgnoreRange.Store(true)
		}, func(t *testing.T, p *faultproxy.Proxy, _, resumes int64) {
			if resumes < 2 || p.Ranges.Load() < 2 {
				t.Errorf("resumes %d, Range requests %d", resumes, p.Ranges.Load())
			}
		}},
		{"stall after 1 MiB", func(p *faultproxy.Proxy) { p.CutAfter.Store(1 << 20); p.Stalls.Store(1) },
			func(t *testing.T, p *faultproxy.Proxy, _, resumes int64) {
				if resumes < 1 || p.Ranges.Load() < 1 {
					t.Errorf("resumes %d, Range requests %d: want the stall cut and resumed", resumes, p.Ranges.Load())
				}
			}},
		{"all at once", func(p *faultproxy.Proxy) {
			p.FailManifests.Store(1)
			p.ThrottleBlobs.Store(1)
			p.FailBlobs.Store(1)
			p.CutAfter.Store(1 << 20)
			p.Cuts.Store(1)
			p.Stalls.Store(1)
		}, func(t *testing.T, p *faultproxy.Proxy, retries, resumes int64) {
			if retries < 3 || resumes < 2 {
				t.Errorf("retries %d, resumes %d", retries, resumes)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, image, want := faultSetup(t)
			tt.inject(p)
			c := newClient(t, registry.Options{Retry: fastRetry, StallTimeout: 500 * time.Millisecond})
			dir := filepath.Join(t.TempDir(), "rootfs")
			if _, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: dir}); err != nil {
				t.Fatalf("pull: %v", err)
			}
			sameTree(t, treeSum(t, dir), want)
			retries, resumes := c.Counters()
			tt.check(t, p, retries, resumes)
		})
	}
}

// Faults that persist end the pull with a clear error, in bounded time,
// and the rootfs is not ready.
func TestPullGivesUp(t *testing.T) {
	tests := []struct {
		name   string
		inject func(p *faultproxy.Proxy)
		want   string
	}{
		{"rate limited", func(p *faultproxy.Proxy) { p.ThrottleBlobs.Store(100) }, "rate limited by the registry"},
		{"registry failing", func(p *faultproxy.Proxy) { p.FailManifests.Store(100) }, "keeps failing"},
		{"always stalls", func(p *faultproxy.Proxy) {
			// Range ignored: every try stalls at the same byte, no progress.
			p.CutAfter.Store(1 << 20)
			p.Stalls.Store(100)
			p.IgnoreRange.Store(true)
		}, "stalled"},
		{"stalls while skipping what a cut try read", func(p *faultproxy.Proxy) {
			// Range ignored after a cut at 1 MiB: each new try must skip
			// 1 MiB, and stalls at 256 KiB.
			p.CutAfter.Store(1 << 20)
			p.Cuts.Store(1)
			p.StallAfter.Store(256 << 10)
			p.Stalls.Store(100)
			p.IgnoreRange.Store(true)
		}, "stalled"},
		{"down", func(p *faultproxy.Proxy) { p.Down.Store(true) }, "cannot reach"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, image, _ := faultSetup(t)
			tt.inject(p)
			c := newClient(t, registry.Options{Retry: registry.RetryPolicy{Attempts: 3, Backoff: 10 * time.Millisecond, MaxWait: 50 * time.Millisecond}, StallTimeout: 300 * time.Millisecond})
			dir := filepath.Join(t.TempDir(), "rootfs")
			o := pull.Options{Image: image, Dir: dir}
			start := time.Now()
			_, err := pull.Pull(ctx(t), c, o)
			if err == nil {
				t.Fatal("pull succeeded")
			}
			if msg := pull.Explain(err, o); !strings.Contains(msg, tt.want) {
				t.Errorf("message %q lacks %q", msg, tt.want)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("gave up after %v", d)
			}
			assertNotReady(t, dir)
		})
	}
}

func TestPullCache(t *testing.T) {
	p, image, want := faultSetup(t)
	bc, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, registry.Options{Cache: bc})
	if _, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: filepath.Join(t.TempDir(), "one")}); err != nil {
		t.Fatal(err)
	}
	n, size, _ := bc.Usage()
	if n != 3 { // config and two layers
		t.Fatalf("cache holds %d blobs (%d bytes), want 3", n, size)
	}
	first := p.Blobs.Load()

	// A second pull, into another directory, downloads no blob.
	dir := filepath.Join(t.TempDir(), "two")
	if _, err := pull.Pull(ctx(t), newClient(t, registry.Options{Cache: bc}), pull.Options{Image: image, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if got := p.Blobs.Load() - first; got != 0 {
		t.Errorf("second pull made %d blob requests, want 0", got)
	}
	sameTree(t, treeSum(t, dir), want)

	// A damaged entry is dropped and fetched again; the rootfs is right.
	var victim string
	filepath.WalkDir(bc.Dir(), func(p string, d fs.DirEntry, err error) error {
		if fi, _ := d.Info(); err == nil && d.Type().IsRegular() && fi.Size() > 1<<20 {
			victim = p
		}
		return nil
	})
	b, _ := os.ReadFile(victim)
	b[len(b)/2] ^= 0xff
	os.WriteFile(victim, b, 0644)
	dir = filepath.Join(t.TempDir(), "three")
	if _, err := pull.Pull(ctx(t), newClient(t, registry.Options{Cache: bc}), pull.Options{Image: image, Dir: dir}); err != nil {
		t.Fatalf("pull over a damaged cache entry: %v", err)
	}
	sameTree(t, treeSum(t, dir), want)
	if fixed, _ := os.ReadFile(victim); string(fixed) == string(b) {
		t.Errorf("the damaged cache entry is still there")
	}

	// A failed transfer leaves nothing in the cache.
	bc2, _ := cache.Open(t.TempDir())
	p.CutAfter.Store(1 << 20)
	p.Stalls.Store(100)
	p.IgnoreRange.Store(true)
	short := newClient(t, registry.Options{Cache: bc2, Retry: registry.RetryPolicy{Attempts: 2, Backoff: time.Millisecond, MaxWait: time.Millisecond}, StallTimeout: 200 * time.Millisecond})
	pull.Pull(ctx(t), short, pull.Options{Image: image, Dir: filepath.Join(t.TempDir(), "four")})
	if n, size, _ := bc2.Usage(); n > 1 || size > 1<<20 { // the config may be in; no partial layer
		t.Errorf("a failed pull left %d blobs, %d bytes in the cache", n, size)
	}
}

func TestPullMirrors(t *testing.T) {
	origin := startRegistry(t, testregistry.Options{})
	push(t, origin, "team/app", "v1", bigImage(t))
	originProxy := faultproxy.New(origin.Host)
	t.Cleanup(originProxy.Close)
	image := originProxy.Host + "/team/app:v1"

	// An empty mirror: everything falls back to the origin.
	empty := startRegistry(t, testregistry.Options{})
	emptyProxy := faultproxy.New(empty.Host)
	t.Cleanup(emptyProxy.Close)
	c := newClient(t, registry.Options{Mirrors: map[string][]string{originProxy.Host: {emptyProxy.Host}}})
	res, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: filepath.Join(t.TempDir(), "a")})
	if err != nil {
		t.Fatalf("pull with an empty mirror: %v", err)
	}
	if emptyProxy.Manifests.Load() == 0 || res.Image.Source.Domain != originProxy.Host {
		t.Errorf("mirror asked %d times, image served by %s", emptyProxy.Manifests.Load(), res.Image.Source.Domain)
	}

	// A mirror that has the image (under a path prefix) serves everything,
	// even with the origin down.
	full := startRegistry(t, testregistry.Options{})
	push(t, full, "cache/team/app", "v1", bigImage(t))
	originProxy.Down.Store(true)
	before := originProxy.Manifests.Load() + originProxy.Blobs.Load()
	c = newClient(t, registry.Options{Mirrors: map[string][]string{originProxy.Host: {emptyProxy.Host, full.Host + "/cache"}}})
	dir := filepath.Join(t.TempDir(), "b")
	res, err = pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: dir})
	if err != nil {
		t.Fatalf("pull from the full mirror: %v", err)
	}
	if res.Image.Source.Domain != full.Host || res.Image.Source.Path != "cache/team/app" {
		t.Errorf("served by %+v, want the full mirror", res.Image.Source)
	}
	if got := originProxy.Manifests.Load() + originProxy.Blobs.Load(); got != before {
		t.Errorf("the origin was asked %d times although the mirror had everything", got-before)
	}
	if _, err := os.Stat(filepath.Join(dir, "data/b")); err != nil {
		t.Error(err)
	}
}

func TestParseMirror(t *testing.T) {
	tests := []struct{ in, reg, mirror string }{
		{"mirror.gcr.io", "docker.io", "mirror.gcr.io"},
		{"https://hub.example.com:5000/dockerhub/", "docker.io", "hub.example.com:5000/dockerhub"},
		{"ghcr.io=ghcr.example.com/proxy", "ghcr.io", "ghcr.example.com/proxy"},
		{"", "", ""},
		{"bad host!", "", ""},
	}
	for _, tt := range tests {
		reg, mirror, err := registry.ParseMirror(tt.in)
		if tt.reg == "" {
			if err == nil {
				t.Errorf("%q: no error", tt.in)
			}
			continue
		}
		if err != nil || reg != tt.reg || mirror != tt.mirror {
			t.Errorf("%q: got %q %q %v", tt.in, reg, mirror, err)
		}
	}
}

func TestPullUpdate(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	v1 := testimage.Build(testimage.Spec{Layers: []testimage.Layer{{Tar: testimage.Tar(testimage.File("version", "1"), testimage.File("only-in-1", "x")), Compression: testimage.Gzip}}})
	v2 := testimage.Build(testimage.Spec{Layers: []testimage.Layer{{Tar: testimage.Tar(testimage.File("version", "2")), Compression: testimage.Gzip}}})
	push(t, reg, "test/moving", "latest", v1)
	p := faultproxy.New(reg.Host)
	t.Cleanup(p.Close)
	image := p.Host + "/test/moving"
	dir := filepath.Join(t.TempDir(), "rootfs")
	c := newClient(t, registry.Options{Retry: registry.RetryPolicy{Attempts: 2, Backoff: time.Millisecond, MaxWait: time.Millisecond}})
	if _, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	push(t, reg, "test/moving", "latest", v2)

	// The tag moved: refused without --update, and nothing changes.
	_, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: dir})
	var ue *pull.UpdateError
	if !errors.As(err, &ue) || !strings.Contains(pull.Explain(err, pull.Options{Dir: dir}), "--update") {
		t.Fatalf("err = %v, want an UpdateError suggesting --update", err)
	}
	if readFile(t, filepath.Join(dir, "version")) != "1" {
		t.Fatal("the refused update changed the rootfs")
	}

	// A failing update leaves the old rootfs whole and ready.
	p.FailBlobs.Store(100)
	if _, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: dir, Update: true}); err == nil {
		t.Fatal("update through a failing registry succeeded")
	}
	if readFile(t, filepath.Join(dir, "version")) != "1" || readFile(t, filepath.Join(dir, "only-in-1")) != "x" {
		t.Fatal("a failed update damaged the old rootfs")
	}
	p.FailBlobs.Store(0)

	res, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: dir, Update: true})
	if err != nil {
		t.Fatalf("--update: %v", err)
	}
	if res.UpToDate || readFile(t, filepath.Join(dir, "version")) != "2" {
		t.Errorf("after --update: version %q", readFile(t, filepath.Join(dir, "version")))
	}
	if _, err := os.Stat(filepath.Join(dir, "only-in-1")); err == nil {
		t.Errorf("a file of the old image survived the update")
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".rootfs-pull-") {
			t.Errorf("update left %s behind", e.Name())
		}
	}
	// And again: nothing to do.
	if res, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: dir}); err != nil || !res.UpToDate {
		t.Errorf("after the update: up to date %v, %v", res != nil && res.UpToDate, err)
	}
}

// Later layers download (into the cache) while earlier ones are applied,
// each blob exactly once; without a cache, one at a time.
func TestPullPrefetch(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	var layers []testimage.Layer
	for i := range 5 {
		b := make([]byte, 256<<10)
		rand.Read(b)
		layers = append(layers, testimage.Layer{Tar: testimage.Tar(testimage.File(fmt.Sprintf("layer%d", i), string(b))), Compression: testimage.Gzip})
	}
	push(t, reg, "test/layers", "v1", testimage.Build(testimage.Spec{Layers: layers}))
	clean := filepath.Join(t.TempDir(), "clean")
	if _, err := pull.Pull(ctx(t), newClient(t, registry.Options{}), pull.Options{Image: reg.Host + "/test/layers:v1", Dir: clean}); err != nil {
		t.Fatal(err)
	}
	want := treeSum(t, clean)

	for _, tt := range []struct {
		name      string
		cache     bool
		jobs      int
		maxFlight int64 // at least (with prefetch) or exactly (without)
	}{
		{"prefetch", true, 3, 3},
		{"jobs 1", true, 1, 2},
		{"no cache", false, 3, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := faultproxy.New(reg.Host)
			defer p.Close()
			p.BlobDelay.Store(int64(150 * time.Millisecond))
			o := registry.Options{}
			if tt.cache {
				bc, _ := cache.Open(t.TempDir())
				o.Cache = bc
			}
			dir := filepath.Join(t.TempDir(), "rootfs")
			if _, err := pull.Pull(ctx(t), newClient(t, o), pull.Options{Image: p.Host + "/test/layers:v1", Dir: dir, Jobs: tt.jobs}); err != nil {
				t.Fatal(err)
			}
			sameTree(t, treeSum(t, dir), want)
			if got := p.Blobs.Load(); got != 6 { // config + 5 layers
				t.Errorf("%d blob requests, want 6 (each blob once)", got)
			}
			got := p.MaxFlight.Load()
			if tt.cache && got < tt.maxFlight || !tt.cache && got != tt.maxFlight {
				t.Errorf("at most %d blob downloads at once, want %d", got, tt.maxFlight)
			}
		})
	}
}

// A server that ignores Range on a slow link: skipping the bytes already
// read takes longer than the stall timeout, and is progress, not a stall.
func TestPullSlowSkip(t *testing.T) {
	p, image, want := faultSetup(t)
	p.IgnoreRange.Store(true)
	p.CutAfter.Store(2 << 20)
	p.Cuts.Store(1)
	p.Rate.Store(2 << 20) // the 2 MiB skip takes about 1 s
	c := newClient(t, registry.Options{Retry: fastRetry, StallTimeout: 500 * time.Millisecond})
	dir := filepath.Join(t.TempDir(), "rootfs")
	if _, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: dir}); err != nil {
		t.Fatalf("pull: %v", err)
	}
	sameTree(t, treeSum(t, dir), want)
}

// A consumer that stops reading for longer than the stall timeout (a slow
// disk, a process stopped with Ctrl-Z) is not a stalled link: only the
// waits for the network are timed, so the transfer goes on, uncut: as
// one stream, or in chunks (whose buffers fill and wait for the reader).
func TestSlowConsumerIsNoStall(t *testing.T) {
	for _, conns := range []int{1, 0} {
		t.Run(fmt.Sprintf("connections %d", conns), func(t *testing.T) {
			p, image, _ := faultSetup(t)
			c := newClient(t, registry.Options{Retry: fastRetry, StallTimeout: 500 * time.Millisecond, BlobConnections: conns})
			ref, err := registry.ParseReference(image)
			if err != nil {
				t.Fatal(err)
			}
			im, err := c.Resolve(ctx(t), ref, registry.HostPlatform())
			if err != nil {
				t.Fatal(err)
			}
			desc := im.Manifest.Layers[0]                     // 3 MiB: chunked by default
			before, ranges := p.Blobs.Load(), p.Ranges.Load() // the config's
			blob, err := c.Blob(ctx(t), ref, desc)
			if err != nil {
				t.Fatal(err)
			}
			defer blob.Close()
			if _, err := io.CopyN(io.Discard, blob, 64<<10); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2500 * time.Millisecond) // five stall timeouts without reading
			n, err := io.Copy(io.Discard, blob)
			if err != nil {
				t.Fatalf("read after the pause: %v", err)
			}
			if n+64<<10 != desc.Size {
				t.Errorf("read %d bytes, want %d", n+64<<10, desc.Size)
			}
			_, resumes := c.Counters()
			requests, withRange := p.Blobs.Load()-before, p.Ranges.Load()-ranges
			if conns == 1 && (resumes != 0 || requests != 1 || withRange != 0) {
				t.Errorf("%d resumes, %d layer requests, %d with Range: want the one request, uncut", resumes, requests, withRange)
			}
			if conns == 0 && (resumes != 0 || requests < 2 || withRange != requests) {
				t.Errorf("%d resumes, %d layer requests, %d with Range: want chunks, each one request, uncut", resumes, requests, withRange)
			}
		})
	}
}

// A rootfs with something mounted inside (ruri's mounts, a running chroot
// container) is never updated, resumed or forced over: the swap and the
// whiteouts would reach through the mount into the host's files.
func TestPullRefusesMounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need root; CI runs the tests as root")
	}
	reg := startRegistry(t, testregistry.Options{})
	v1 := testimage.Build(testimage.Spec{Layers: []testimage.Layer{{Tar: testimage.Tar(testimage.Dir("sdcard/"), testimage.File("v", "1")), Compression: testimage.Gzip}}})
	v2 := testimage.Build(testimage.Spec{Layers: []testimage.Layer{{Tar: testimage.Tar(testimage.File("v", "2")), Compression: testimage.Gzip}}})
	push(t, reg, "test/m", "latest", v1)
	c := newClient(t, registry.Options{})
	dir := filepath.Join(t.TempDir(), "rootfs")
	if _, err := pull.Pull(ctx(t), c, pull.Options{Image: reg.Host + "/test/m", Dir: dir}); err != nil {
		t.Fatal(err)
	}
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "photo"), []byte("keep"), 0644)
	if out, err := exec.Command("mount", "--bind", host, filepath.Join(dir, "sdcard")).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	defer exec.Command("umount", filepath.Join(dir, "sdcard")).Run()
	push(t, reg, "test/m", "latest", v2)
	for _, o := range []pull.Options{{Update: true}, {Force: true}} {
		o.Image, o.Dir = reg.Host+"/test/m", dir
		_, err := pull.Pull(ctx(t), c, o)
		var me *rootfs.ErrMounted
		if !errors.As(err, &me) {
			t.Errorf("%+v: err = %v, want ErrMounted", o, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(host, "photo")); string(b) != "keep" {
		t.Fatal("the host's files behind the mount were touched")
	}
	if readFile(t, filepath.Join(dir, "v")) != "1" {
		t.Error("the rootfs changed")
	}
}

// Bytes that failed verification may already be applied (files, and
// whiteouts that removed lower files): the tree is emptied and rebuilt,
// never patched. Here a cache entry is replaced by a same-sized layer that
// plants a file and whites out one of the first layer's.
func TestPullTaintedLayer(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	l1 := testimage.Tar(testimage.Dir("bin/"), testimage.File("bin/sh", "shell"))
	l2 := testimage.Tar(testimage.File("etc/motd", strings.Repeat("m", 4000)))
	im := testimage.Build(testimage.Spec{Layers: []testimage.Layer{{Tar: l1, Compression: testimage.None}, {Tar: l2, Compression: testimage.None}}})
	push(t, reg, "test/taint", "v1", im)
	bc, _ := cache.Open(t.TempDir())
	image := reg.Host + "/test/taint:v1"
	if _, err := pull.Pull(ctx(t), newClient(t, registry.Options{Cache: bc}), pull.Options{Image: image, Dir: filepath.Join(t.TempDir(), "a")}); err != nil {
		t.Fatal(err)
	}
	evil := testimage.Tar(testimage.File("junk", "planted"), testimage.File("bin/.wh.sh", ""), testimage.File("pad", ""))
	evil = append(evil, make([]byte, len(l2)-len(evil))...) // same size: the cache serves it
	if len(evil) != len(l2) {
		t.Fatalf("evil layer %d bytes, want %d", len(evil), len(l2))
	}
	d := im.Manifest.Layers[1].Digest
	os.WriteFile(filepath.Join(bc.Dir(), "blobs", "sha256", d.Encoded()), evil, 0644)

	dir := filepath.Join(t.TempDir(), "b")
	if _, err := pull.Pull(ctx(t), newClient(t, registry.Options{Cache: bc}), pull.Options{Image: image, Dir: dir}); err != nil {
		t.Fatalf("pull over a damaged cache entry: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "junk")); err == nil {
		t.Error("a file from the bytes that failed verification is in the rootfs")
	}
	if readFile(t, filepath.Join(dir, "bin/sh")) != "shell" {
		t.Error("a whiteout from the bytes that failed verification removed a file")
	}
}

// An update cut between its two renames (where RENAME_EXCHANGE is not
// available) is finished by the next run: the complete new rootfs is moved
// in, or else the old one goes back (and the update runs again).
func TestPullRecoversSwap(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	mk := func(v string) *testimage.Image {
		return testimage.Build(testimage.Spec{Layers: []testimage.Layer{{Tar: testimage.Tar(testimage.File("v", v)), Compression: testimage.Gzip}}})
	}
	c := newClient(t, registry.Options{})
	image := reg.Host + "/test/swap2"
	for _, complete := range []bool{true, false} {
		parent := t.TempDir()
		dir := filepath.Join(parent, "rootfs")
		old := filepath.Join(parent, ".rootfs.rootfs-pull-old")
		staging := filepath.Join(parent, ".rootfs.rootfs-pull-update")
		push(t, reg, "test/swap2", "latest", mk("1"))
		if _, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: old, Launcher: "-"}); err != nil {
			t.Fatal(err)
		}
		push(t, reg, "test/swap2", "latest", mk("2"))
		if complete {
			if _, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: staging, Launcher: "-"}); err != nil {
				t.Fatal(err)
			}
		}
		// The crash left dir missing. The same command again:
		res, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: dir, Launcher: "-", Update: true})
		if err != nil {
			t.Fatalf("complete=%v: %v", complete, err)
		}
		if res.UpToDate != complete {
			t.Errorf("complete=%v: up to date %v (the finished new rootfs should just be moved in)", complete, res.UpToDate)
		}
		if got := readFile(t, filepath.Join(dir, "v")); got != "2" {
			t.Errorf("complete=%v: v = %q, want 2", complete, got)
		}
		for _, p := range []string{old, staging} {
			if _, err := os.Lstat(p); err == nil {
				t.Errorf("complete=%v: %s left behind", complete, p)
			}
		}
	}
}

// Without a cache, the next layer's blob is opened while one is applied:
// its transfer overlaps the current one's instead of waiting for it, so a
// slow link does not idle between layers.
func TestNoCacheLooksAhead(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	var layers []testimage.Layer
	for i := range 4 {
		b := make([]byte, 1<<20)
		rand.Read(b)
		layers = append(layers, testimage.Layer{Tar: testimage.Tar(testimage.File(fmt.Sprintf("f%d", i), string(b))), Compression: testimage.Gzip})
	}
	push(t, reg, "test/layers", "v1", testimage.Build(testimage.Spec{Layers: layers}))
	p := faultproxy.New(reg.Host)
	t.Cleanup(p.Close)
	p.Rate.Store(4 << 20) // each layer's body takes about 250 ms
	// One connection per blob: only the look-ahead can overlap transfers.
	c := newClient(t, registry.Options{BlobConnections: 1})
	dir := filepath.Join(t.TempDir(), "rootfs")
	if _, err := pull.Pull(ctx(t), c, pull.Options{Image: p.Host + "/test/layers:v1", Dir: dir, Launcher: "-"}); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if fi, err := os.Stat(filepath.Join(dir, fmt.Sprintf("f%d", i))); err != nil || fi.Size() != 1<<20 {
			t.Errorf("f%d: %v", i, err)
		}
	}
	if m := p.MaxBodies.Load(); m < 2 {
		t.Errorf("at most %d blob bodies at once: the next layer waited for the last one's end", m)
	}
	if m := p.MaxBodies.Load(); m > 2 {
		t.Errorf("%d blob bodies at once: want one layer ahead, no more", m)
	}
}
