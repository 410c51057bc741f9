package pull_test

import (
	"context"
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

// Review (unverified bytes in a ready rootfs): a pull of image A is cut
// mid-layer by a source that sent a forged prefix; the state rightly says
// the tree needs a rebuild. The user then pulls another image B into the
// same directory with --force (the README's "over a rootfs of another
// image"). --force drops A's state, taint and "applying" marker
// included, and extracts B over the tree without emptying it: B ends
// "ready" holding the forged, never verified entries (a planted file; a
// whiteout's removal would survive the same way).
func TestReviewForceOverTaintedTreeKeepsForgedBytes(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	imA, forged := forgedImage(t)
	push(t, reg, "test/forged-a", "v1", imA)
	imB := testimage.Build(testimage.Spec{Layers: []testimage.Layer{{Tar: testimage.Tar(testimage.File("b", "b")), Compression: testimage.Gzip}}})
	push(t, reg, "test/honest-b", "v1", imB)

	p := faultproxy.New(reg.Host)
	t.Cleanup(p.Close)
	c := newClient(t, registry.Options{Retry: fastRetry, StallTimeout: time.Minute})
	dir := filepath.Join(t.TempDir(), "rootfs")
	p.Forge.Store(faultproxy.NewForgery(imA.Manifest.Layers[1].Digest.String(), forged, false))
	cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := pull.Pull(cctx, c, pull.Options{Image: p.Host + "/test/forged-a:v1", Dir: dir, Launcher: "-"}); err == nil {
		t.Fatal("the forged pull succeeded")
	}
	if _, err := os.Lstat(filepath.Join(dir, "junk")); err != nil {
		t.Fatalf("the forged prefix never reached the tree (the test proves nothing): %v", err)
	}
	if st, err := rootfs.LoadState(dir); err != nil || !st.NeedsRebuild() {
		t.Fatalf("state after the cut = %+v, %v; want it to need a rebuild", st, err)
	}
	p.Forge.Store(nil)

	if _, err := pull.Pull(cctx, c, pull.Options{Image: reg.Host + "/test/honest-b:v1", Dir: dir, Launcher: "-", Force: true}); err != nil {
		t.Fatalf("--force pull of B: %v", err)
	}
	st, err := rootfs.LoadState(dir)
	if err != nil || st.Status != rootfs.StatusReady {
		t.Fatalf("state after B = %+v, %v", st, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "junk")); err == nil {
		t.Error("rootfs marked ready holds \"junk\", planted by a forged prefix no digest ever confirmed (the taint was dropped by --force)")
	}
}
