package pull_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"

	"github.com/rootfs-pull/rootfs-pull/internal/faultproxy"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// Found by the hostile review (unverified bytes in a ready rootfs), fixed since: a pull of image A is cut
// mid-layer by a source that sent a forged prefix; the state rightly says
// the tree needs a rebuild. The user then pulls another image B into the
// same directory with --force (the README's "over a rootfs of another
// image"). --force drops A's state, taint and "applying" marker
// included, and extracts B over the tree without emptying it: B ends
// "ready" holding the forged, never verified entries (a planted file; a
// whiteout's removal would survive the same way).
func TestForceOverTaintedTreeEmptiesIt(t *testing.T) {
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

// zstdZeroBomb is a zstd layer whose tar holds one file of size bytes of
// zeros, about 32768 times smaller than its content: a header frame, then the same frame of 128 MiB of
// zeros (about 4 KiB of RLE blocks) repeated, then the end-of-archive.
func zstdZeroBomb(t *testing.T, name string, size int64) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	if err := tw.WriteHeader(&tar.Header{Name: name, Size: size, Mode: 0644, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		t.Fatal(err)
	}
	const chunk = 128 << 20
	blob := enc.EncodeAll(hdr.Bytes(), nil)
	var fb bytes.Buffer
	zw, err := zstd.NewWriter(&fb, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(make([]byte, chunk))
	zw.Close()
	frame := fb.Bytes()
	for n := int64(0); n < size; n += chunk {
		blob = append(blob, frame...)
	}
	return append(blob, enc.EncodeAll(make([]byte, 1024), nil)...)
}

// Found by the hostile review (unbounded time), fixed since: the sparse budget bounds content by the bytes
// of the *decompressed* tar, and zstd's RLE blocks turn 4 bytes into
// 128 KiB (a 32768:1 ratio; gzip stops near 1032:1). A layer of 2 MiB
// declares and decodes 64 GiB of zeros: the applier seeks
// over them (no disk used) but the decoder, the tar reader and the
// diff_id's sha256 grind through every byte, minutes of CPU per MiB of
// layer (about 15-30 min per 32 MiB layer, for a 1 TiB sparse file).
// Work should stay within a fixed multiple of the compressed bytes.
func TestZstdBombWorkIsBounded(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	blob := zstdZeroBomb(t, "zeros", 64<<30)
	t.Logf("layer blob: %d bytes for 64 GiB of content", len(blob))
	im := testimage.Build(testimage.Spec{Layers: []testimage.Layer{{Blob: blob, Compression: testimage.Zstd}}})
	push(t, reg, "test/bomb", "v1", im)
	c := newClient(t, registry.Options{})
	dir := filepath.Join(t.TempDir(), "rootfs")
	cctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err := pull.Pull(cctx, c, pull.Options{Image: reg.Host + "/test/bomb:v1", Dir: dir, Launcher: "-"})
	if cctx.Err() != nil {
		t.Fatalf("a %d KiB layer still being decoded after %v (err %v): work is not bounded by the layer's size", len(blob)>>10, time.Since(start).Round(time.Second), err)
	}
	if err == nil {
		t.Fatal("the bomb pulled")
	}
}

// Found by the hostile review (unbounded memory), fixed since: before marking the rootfs ready, the pull's
// launcher.Prepare reads the image's etc/resolv.conf whole (root.ReadFile)
// only to see whether it starts with the tool's marker line. A layer of a
// few KiB (zstd; or a sparse entry within the 1 GiB slack) ships it as a
// file of 128 MiB of zeros, and the pull allocates all of it; a 64 GiB
// one (2 MiB of zstd) ends in an out-of-memory kill.
func TestHugeResolvConfMemoryIsBounded(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	// 128 MiB: within what a zstd layer may expand to (decompress's
	// ExpansionSlack), so the pull goes on to Prepare.
	const size = 128 << 20
	blob := zstdZeroBomb(t, "etc/resolv.conf", size)
	hdr := &tar.Header{Name: "etc/resolv.conf", Size: size, Mode: 0644, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(hdr)
	// The honest diff_id: the header, the zeros, the end marker.
	h := sha256.New()
	h.Write(tb.Bytes())
	zero := make([]byte, 1<<20)
	for range size >> 20 {
		h.Write(zero)
	}
	h.Write(zero[:1024])
	im := testimage.Build(testimage.Spec{Layers: []testimage.Layer{{Blob: blob, Compression: testimage.Zstd}}})
	im.Config.RootFS.DiffIDs[0] = digest.NewDigest(digest.SHA256, h)
	rebuildConfig(t, im)
	push(t, reg, "test/resolv", "v1", im)
	c := newClient(t, registry.Options{})
	dir := filepath.Join(t.TempDir(), "rootfs")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := pull.Pull(ctx(t), c, pull.Options{Image: reg.Host + "/test/resolv:v1", Dir: dir, Launcher: "-"})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	t.Logf("the pull allocated %d MiB", (after.TotalAlloc-before.TotalAlloc)>>20)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > size/2 {
		t.Errorf("the pull allocated %d MiB for a %d KiB layer (the image's etc/resolv.conf read whole)", grew>>20, len(blob)>>10)
	}
}

// rebuildConfig re-marshals im's config after an edit and points the
// manifest at it.
func rebuildConfig(t *testing.T, im *testimage.Image) {
	t.Helper()
	delete(im.Blobs, im.Manifest.Config.Digest)
	cfg, err := json.Marshal(im.Config)
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(cfg)
	im.Blobs[d] = cfg
	im.Manifest.Config.Digest, im.Manifest.Config.Size = d, int64(len(cfg))
	raw, err := json.Marshal(im.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	im.Raw = raw
	im.Desc.Digest, im.Desc.Size = digest.FromBytes(raw), int64(len(raw))
}
