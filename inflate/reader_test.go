package inflate

import (
	"bytes"
	"compress/gzip"
	"errors"
	"hash/crc32"
	"io"
	"math/rand"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"
)

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

// countingReader counts Read calls; it is not safe for concurrent use, so
// the race detector also sees reads that overlap.
type countingReader struct {
	r     io.Reader
	reads atomic.Int64
	buf   []byte
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads.Add(1)
	c.buf = p // unsynchronised, as pull's read-ahead is
	return c.r.Read(p)
}

// emptyBlocks is an endless run of empty, non-final stored blocks.
type emptyBlocks struct{}

func (emptyBlocks) Read(p []byte) (int, error) {
	n := 0
	for len(p)-n >= 5 {
		n += copy(p[n:], []byte{0, 0, 0, 0xff, 0xff})
	}
	return n, nil
}

type panicReader struct{}

func (panicReader) Read([]byte) (int, error) { panic("boom") }

// waitGoroutines waits (boundedly) for the goroutine count to fall to n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	for i := 0; runtime.NumGoroutine() > n; i++ {
		if i == 200 {
			t.Fatalf("%d goroutines left running, want %d", runtime.NumGoroutine(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReader(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	data := sample(rng, 5<<20)
	blob := gz(t, data, gzip.Header{})
	before := runtime.NumGoroutine()

	t.Run("small reads", func(t *testing.T) {
		z := NewReader(iotest.HalfReader(bytes.NewReader(blob)), 1)
		defer z.Close()
		got, err := io.ReadAll(iotest.OneByteReader(io.LimitReader(z, 3<<20)))
		if err != nil || !bytes.Equal(got, data[:3<<20]) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
	})
	t.Run("the input's error", func(t *testing.T) {
		boom := errors.New("connection reset")
		z := NewReader(io.MultiReader(bytes.NewReader(blob[:len(blob)/2]), iotest.ErrReader(boom)), 2)
		defer z.Close()
		if _, err := io.ReadAll(z); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want %v", err, boom)
		}
	})
	t.Run("a panic below becomes an error", func(t *testing.T) {
		z := NewReader(panicReader{}, 2)
		defer z.Close()
		if _, err := io.ReadAll(z); err == nil || !strings.Contains(err.Error(), "internal error") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("close mid-stream", func(t *testing.T) {
		z := NewReader(bytes.NewReader(blob), 2)
		if _, err := io.ReadFull(z, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		z.Close()
		z.Close()
		if _, err := z.Read(make([]byte, 1<<21)); err == nil {
			// buffered data may still be returned once
			if _, err = io.ReadAll(z); !errors.Is(err, ErrClosed) {
				t.Fatalf("read after close: %v", err)
			}
		}
	})
	t.Run("the source is the caller's after close", func(t *testing.T) {
		// pull drains the layer's source after closing the decoder
		// on an error: the decoder must not read it any more.
		src := &countingReader{r: bytes.NewReader(blob)}
		z := NewReader(src, 8)
		if _, err := io.ReadFull(z, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		z.Close()
		select {
		case <-z.done:
		default:
			t.Fatal("Close returned before the decoder stopped")
		}
		n := src.reads.Load()
		time.Sleep(100 * time.Millisecond)
		if after := src.reads.Load(); after != n {
			t.Fatalf("the source was read %d times after Close", after-n)
		}
		if _, err := io.Copy(io.Discard, src); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("close while the stream yields nothing", func(t *testing.T) {
		// Endless empty stored blocks: the decoder never fills a chunk,
		// yet Close must stop it.
		z := NewReader(io.MultiReader(bytes.NewReader(blob[:10]), emptyBlocks{}), 1)
		closed := make(chan struct{})
		go func() { z.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not return")
		}
	})
	t.Run("a gzip stream cut anywhere reads a true prefix, then fails", func(t *testing.T) {
		small := sample(rng, 20000)
		g := gz(t, small, gzip.Header{})
		for n := 0; n < len(g); n += 7 {
			z := NewReader(bytes.NewReader(g[:n]), 1)
			got, err := io.ReadAll(z)
			z.Close()
			if err == nil || !bytes.HasPrefix(small, got) {
				t.Fatalf("cut at %d: %d bytes, %v", n, len(got), err)
			}
		}
	})
	t.Run("close before reading", func(t *testing.T) {
		NewReader(bytes.NewReader(blob), 4).Close()
	})
	waitGoroutines(t, before)
}

// benchLayer is a gzip layer to decode: the bench image's layer if
// BENCH_LAYER names one, else 32 MiB of generated rootfs-like data.
func benchLayer(b *testing.B) []byte {
	if p := os.Getenv("BENCH_LAYER"); p != "" {
		blob, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		return blob
	}
	return gz(b, sample(rand.New(rand.NewSource(6)), 32<<20), gzip.Header{})
}

// BenchmarkGunzip compares this decoder with klauspost's gzip and pgzip
// (what rootfs-pull used before) on the same layer, to /dev/null.
func BenchmarkGunzip(b *testing.B) {
	blob := benchLayer(b)
	run := func(b *testing.B, open func(io.Reader) (io.ReadCloser, error)) {
		for b.Loop() {
			r, err := open(bytes.NewReader(blob))
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, r)
			if err != nil {
				b.Fatal(err)
			}
			r.Close()
			b.SetBytes(n)
		}
	}
	b.Run("inflate", func(b *testing.B) {
		run(b, func(r io.Reader) (io.ReadCloser, error) { return NewReader(r, 8), nil })
	})
	b.Run("klauspost", func(b *testing.B) {
		run(b, func(r io.Reader) (io.ReadCloser, error) { return kgzip.NewReader(r) })
	})
	b.Run("pgzip", func(b *testing.B) {
		run(b, func(r io.Reader) (io.ReadCloser, error) { return pgzip.NewReaderN(r, 1<<20, 8) })
	})
}
