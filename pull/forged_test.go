package pull_test

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rootfs-pull/rootfs-pull/internal/faultproxy"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// forgedImage is two plain layers: the first has bin/sh, the second a
// large file, so that a forged stream can be cut long before its end. The
// forged prefix of the second plants a file and whites out bin/sh.
func forgedImage(t *testing.T) (*testimage.Image, []byte) {
	t.Helper()
	big := make([]byte, 2<<20)
	rand.Read(big)
	im := testimage.Build(testimage.Spec{Layers: []testimage.Layer{
		{Tar: testimage.Tar(testimage.Dir("bin/"), testimage.File("bin/sh", "shell")), Compression: testimage.None},
		{Tar: testimage.Tar(testimage.File("big", string(big))), Compression: testimage.None},
	}})
	// Padded past the read-ahead's chunk, so a stall after it still lets
	// the planted entries through.
	pad := make([]byte, 600<<10)
	rand.Read(pad)
	forged := testimage.Tar(testimage.File("junk", "planted"), testimage.File("bin/.wh.sh", ""), testimage.File("pad", string(pad)))
	return im, forged[:len(forged)-1024] // no end-of-archive marker: the stream goes on
}

// A source that sends a forged prefix of a layer and then never finishes
// it (a cut it cannot resume, a stall ended by Ctrl-C) leaves the planted
// entries in the tree, unverified. The next run, from an honest source,
// must not build on them: it empties the tree and applies every layer
// again, whether the image is named by tag or
// pinned by digest.
func TestPullForgedPrefix(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	im, forged := forgedImage(t)
	push(t, reg, "test/forged", "v1", im)
	for _, tt := range []struct {
		name   string
		pinned bool
		stall  bool // stall after the prefix and cancel (Ctrl-C); else cut
	}{
		{"cut", false, false},
		{"cut, pinned digest", true, false},
		{"stall then Ctrl-C", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := faultproxy.New(reg.Host)
			t.Cleanup(p.Close)
			image := p.Host + "/test/forged:v1"
			if tt.pinned {
				image = p.Host + "/test/forged@" + im.Desc.Digest.String()
			}
			// No cache: with one, later layers are fetched (and verified)
			// into it before they are applied, and the forgery would never
			// reach the tree.
			c := newClient(t, registry.Options{Retry: fastRetry, StallTimeout: time.Minute})
			dir := filepath.Join(t.TempDir(), "rootfs")
			f := faultproxy.NewForgery(im.Manifest.Layers[1].Digest.String(), forged, tt.stall)
			p.Forge.Store(f)

			pctx, cancel := context.WithCancel(ctx(t))
			if tt.stall {
				go func() {
					select {
					case <-f.Sent:
						// The applier has the forged entries once they are
						// in the tree: wait for them, then "Ctrl-C".
						for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
							if _, err := os.Lstat(filepath.Join(dir, "junk")); err == nil {
								break
							}
						}
					case <-pctx.Done():
					}
					cancel()
				}()
			}
			_, err := pull.Pull(pctx, c, pull.Options{Image: image, Dir: dir, Launcher: "-"})
			cancel()
			if err == nil {
				t.Fatal("the pull of a forged, unfinished layer succeeded")
			}
			if _, err := os.Lstat(filepath.Join(dir, "junk")); err != nil {
				t.Fatalf("the forged prefix never reached the tree (the test proves nothing): %v", err)
			}
			assertNotReady(t, dir)
			if st, err := rootfs.LoadState(dir); err != nil || !st.NeedsRebuild() {
				t.Errorf("state after a layer cut midway = %+v, %v; want it to need a rebuild", st, err)
			}

			// The honest source again: the same command.
			p.Forge.Store(nil)
			blobs := p.Blobs.Load()
			res, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: dir, Launcher: "-"})
			if err != nil {
				t.Fatalf("honest re-run: %v", err)
			}
			if _, err := os.Lstat(filepath.Join(dir, "junk")); err == nil {
				t.Error("a file from a forged, never verified prefix is in the ready rootfs")
			}
			if got := readFile(t, filepath.Join(dir, "bin/sh")); got != "shell" {
				t.Errorf("bin/sh = %q: a forged whiteout's removal survived", got)
			}
			if res.Resumed != 0 {
				t.Errorf("resumed %d layers of a tree that held unverified bytes", res.Resumed)
			}
			if st, _ := rootfs.LoadState(dir); st == nil || st.Status != rootfs.StatusReady || st.NeedsRebuild() {
				t.Errorf("state after the honest re-run = %+v", st)
			}
			// The config, the small layer, and the big one in two chunks.
			if n := p.Blobs.Load() - blobs; n != 4 {
				t.Errorf("the re-run made %d blob requests, want the config and both layers again (4)", n)
			}
		})
	}
}

// A layer that fails before any of its bytes arrive (the registry refuses
// the blob) applied nothing: the next run keeps the layers already applied.
func TestPullFailureBeforeFirstByteKeepsLayers(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	im, _ := forgedImage(t)
	push(t, reg, "test/early", "v1", im)
	p := faultproxy.New(reg.Host)
	t.Cleanup(p.Close)
	image := p.Host + "/test/early:v1"
	c := newClient(t, registry.Options{Retry: fastRetry})
	dir := filepath.Join(t.TempDir(), "rootfs")
	f := faultproxy.NewForgery(im.Manifest.Layers[1].Digest.String(), nil, false)
	p.Forge.Store(f)
	if _, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: dir, Launcher: "-", Jobs: 1}); err == nil {
		t.Fatal("pull succeeded")
	}
	st, err := rootfs.LoadState(dir)
	if err != nil || st.NeedsRebuild() || !st.Layers[0].Applied {
		t.Fatalf("state = %+v, %v; want layer 1 applied and no rebuild", st, err)
	}
	p.Forge.Store(nil)
	res, err := pull.Pull(ctx(t), c, pull.Options{Image: image, Dir: dir, Launcher: "-"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 1 {
		t.Errorf("resumed %d layers, want 1", res.Resumed)
	}
}
