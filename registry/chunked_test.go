package registry_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/faultproxy"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
	"github.com/rootfs-pull/rootfs-pull/registry"
)

// chunkedSetup pushes an image with one incompressible 11 MiB layer (three
// chunks of 4 MiB and one of 3) to the real registry, behind a fault
// proxy, and returns the proxy, the layer's reference and descriptor, and
// its bytes.
func chunkedSetup(t *testing.T) (*faultproxy.Proxy, registry.Reference, ocispec.Descriptor, []byte) {
	t.Helper()
	reg, err := testregistry.Start(testregistry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	data := make([]byte, 11<<20)
	rand.Read(data)
	blob := testimage.Tar(testimage.File("data", string(data)))
	im := testimage.Build(testimage.Spec{Layers: []testimage.Layer{{Tar: blob, Compression: testimage.None}}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := (testimage.Pusher{Host: reg.Host}).Push(ctx, "test/chunked", "v1", im); err != nil {
		t.Fatal(err)
	}
	p := faultproxy.New(reg.Host)
	t.Cleanup(p.Close)
	ref, err := registry.ParseReference(p.Host + "/test/chunked:v1")
	if err != nil {
		t.Fatal(err)
	}
	return p, ref, im.Manifest.Layers[0], blob
}

var chunkRetry = registry.RetryPolicy{Attempts: 4, Backoff: 20 * time.Millisecond, MaxWait: time.Second}

func chunkClient(t *testing.T, conns int) *registry.Client {
	t.Helper()
	c, err := registry.NewClient(registry.Options{NoDockerConfig: true, Retry: chunkRetry, StallTimeout: 500 * time.Millisecond, BlobConnections: conns})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readBlob reads desc to its end through c.
func readBlob(t *testing.T, c *registry.Client, ref registry.Reference, desc ocispec.Descriptor) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rc, err := c.Blob(ctx, ref, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

var boundedRange = regexp.MustCompile(`^bytes=(\d+)-(\d+)$`)

// A large blob comes over several connections at once, in bounded
// ranges, and reads as the one verified stream.
func TestChunkedBlob(t *testing.T) {
	p, ref, desc, want := chunkedSetup(t)
	p.BlobDelay.Store(int64(100 * time.Millisecond)) // requests overlap while they wait
	c := chunkClient(t, 0)
	got, err := readBlob(t, c, ref, desc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes that differ from the blob's %d", len(got), len(want))
	}
	ranges := p.RangeHeaders()
	if len(ranges) < 4 {
		t.Errorf("Range requests %q: want 4 chunks or more", ranges)
	}

	for _, r := range ranges {
		if !boundedRange.MatchString(r) {
			t.Errorf("Range %q is not bounded (bytes=a-b)", r)
		}
	}
	if m := p.MaxFlight.Load(); m < 2 || m > registry.DefaultBlobConnections {
		t.Errorf("at most %d requests at once: want 2 to %d", m, registry.DefaultBlobConnections)
	}
	if _, resumes := c.Counters(); resumes != 0 {
		t.Errorf("%d resumes without a fault", resumes)
	}
	// One connection: one stream, no Range.
	before := p.Ranges.Load()
	if got, err := readBlob(t, chunkClient(t, 1), ref, desc); err != nil || !bytes.Equal(got, want) {
		t.Errorf("one connection: %d bytes, %v", len(got), err)
	}
	if p.Ranges.Load() != before {
		t.Errorf("one connection sent Range requests")
	}
	// One connection asked for by the context (a layer fetched ahead).
	rc, err := c.Blob(registry.WithBlobConnections(context.Background(), 1), ref, desc)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, want) {
		t.Errorf("one connection by context: %d bytes, %v", len(got), err)
	}
	if p.Ranges.Load() != before {
		t.Errorf("one connection by context sent Range requests")
	}
}

// Servers that do not serve ranges, and chunks that fail midway: the blob
// still arrives whole and verified.
func TestChunkedBlobFaults(t *testing.T) {
	// How many chunks a clean read makes (the plan depends only on the
	// size): the faults' resumes come on top.
	p, ref, desc, _ := chunkedSetup(t)
	if _, err := readBlob(t, chunkClient(t, 0), ref, desc); err != nil {
		t.Fatal(err)
	}
	chunks := len(p.RangeHeaders())
	tests := []struct {
		name   string
		inject func(p *faultproxy.Proxy)
		check  func(t *testing.T, p *faultproxy.Proxy, resumes int64)
	}{
		{"Range ignored (200): one stream, the probe's answer read", func(p *faultproxy.Proxy) { p.IgnoreRange.Store(true) },
			func(t *testing.T, p *faultproxy.Proxy, _ int64) {
				if n := p.Blobs.Load(); n != 1 {
					t.Errorf("%d blob requests: want the one, its 200 read", n)
				}
			}},
		{"416 to a Range: one stream", func(p *faultproxy.Proxy) { p.RangeStatus.Store(416) },
			func(t *testing.T, p *faultproxy.Proxy, _ int64) {
				if n, r := p.Blobs.Load(), p.Ranges.Load(); n != 2 || r != 1 {
					t.Errorf("%d blob requests, %d with Range: want the probe, then one stream", n, r)
				}
			}},
		{"a chunk cut midway: resumed within its range", func(p *faultproxy.Proxy) { p.CutAfter.Store(1 << 20); p.Cuts.Store(1) },
			func(t *testing.T, p *faultproxy.Proxy, resumes int64) {
				if resumes != 1 {
					t.Errorf("%d resumes, want 1", resumes)
				}
				ranges := p.RangeHeaders()
				if len(ranges) != chunks+1 {
					t.Errorf("Range requests %q: want %d chunks and a resume", ranges, chunks)
				}
				for _, r := range ranges {
					if !boundedRange.MatchString(r) {
						t.Errorf("Range %q is not bounded", r)
					}
				}
			}},
		{"chunks cut again and again, with progress", func(p *faultproxy.Proxy) { p.CutAfter.Store(512 << 10); p.Cuts.Store(6) },
			func(t *testing.T, p *faultproxy.Proxy, resumes int64) {
				if resumes != 6 {
					t.Errorf("%d resumes, want 6", resumes)
				}
			}},
		{"a chunk stalled: cut and resumed", func(p *faultproxy.Proxy) { p.CutAfter.Store(1 << 20); p.Stalls.Store(1) },
			func(t *testing.T, p *faultproxy.Proxy, resumes int64) {
				if resumes != 1 {
					t.Errorf("%d resumes, want 1", resumes)
				}
			}},
		{"503 on a chunk: retried", func(p *faultproxy.Proxy) { p.FailBlobs.Store(2) },
			func(t *testing.T, p *faultproxy.Proxy, _ int64) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ref, desc, want := chunkedSetup(t)
			tt.inject(p)
			c := chunkClient(t, 0)
			got, err := readBlob(t, c, ref, desc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes that differ from the blob's %d", len(got), len(want))
			}
			_, resumes := c.Counters()
			tt.check(t, p, resumes)
		})
	}
}

// A blob that is not the length its descriptor says fails verification,
// chunked or not: every Content-Range names the real length, so the
// chunks are refused and the one stream's length is judged.
func TestChunkedBlobOtherLength(t *testing.T) {
	_, ref, desc, _ := chunkedSetup(t)
	c := chunkClient(t, 0)
	for _, delta := range []int64{1 << 20, -1} {
		other := desc
		other.Size += delta
		if _, err := readBlob(t, c, ref, other); !errors.As(err, new(*registry.VerifyError)) {
			t.Errorf("a descriptor %+d bytes off the blob's length: %v, want a VerifyError", delta, err)
		}
	}
}

// chunkGoroutines counts the goroutines running the chunked reader's code.
func chunkGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "registry.(*chunkedBlob)") {
			n++
		}
	}
	return n
}

// Cancelling a pull midway, or closing the blob early, stops every chunk's
// transfer: no goroutine is left behind.
func TestChunkedBlobCancel(t *testing.T) {
	for _, how := range []string{"cancel", "close"} {
		t.Run(how, func(t *testing.T) {
			p, ref, desc, _ := chunkedSetup(t)
			p.SetShape(faultproxy.Shape{Latency: 20 * time.Millisecond, ConnRate: 1 << 20}) // 11 MiB over 4 connections: about 3 s
			c := chunkClient(t, 0)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rc, err := c.Blob(ctx, ref, desc)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.CopyN(io.Discard, rc, 1<<20); err != nil {
				t.Fatal(err)
			}
			if n := chunkGoroutines(); n < 2 {
				t.Fatalf("%d chunk goroutines while reading: the blob is not chunked (the test proves nothing)", n)
			}
			if how == "cancel" {
				cancel()
				if _, err := io.Copy(io.Discard, rc); !errors.Is(err, context.Canceled) {
					t.Errorf("read after cancel: %v, want context.Canceled", err)
				}
			}
			done := make(chan struct{})
			go func() { rc.Close(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not return")
			}
			if n := chunkGoroutines(); n != 0 {
				t.Errorf("%d chunk goroutines left after Close", n)
			}
		})
	}
}
