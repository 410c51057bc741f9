package decompress

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// zstdStream compresses n bytes of data as one streamed frame (no content
// size: the frame header declares its window) with the given window.
func zstdStream(t *testing.T, data []byte, n int, window int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithWindowSize(window), zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	for written := 0; written < n; written += len(data) {
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// allocated runs f and returns the bytes it allocated: a decoder's memory
// is its buffers, allocated once (TotalAlloc counts them even if freed).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A zstd frame may declare a window of up to terabytes; the decoder keeps
// that much history. A hostile layer declaring 512 MiB (and filling it
// with a few KiB of compressed zeros) is refused at once with a clear
// error, and a frame at the largest window allowed decodes within the
// memory the README promises.
func TestZstdWindowBound(t *testing.T) {
	const mt = "application/vnd.oci.image.layer.v1.tar+zstd"
	chunk := make([]byte, 1<<20)
	hostile := zstdStream(t, chunk, 128<<20, 512<<20)
	var err error
	grew := allocated(func() {
		r, _, nerr := NewReader(mt, bytes.NewReader(hostile))
		if nerr != nil {
			err = nerr
			return
		}
		_, err = io.Copy(io.Discard, r)
		r.Close()
	})
	if !errors.Is(err, ErrZstdWindow) {
		t.Errorf("a 512 MiB window: err = %v, want ErrZstdWindow", err)
	}
	if grew > 64<<20 {
		t.Errorf("refusing a 512 MiB window allocated %d MiB", grew>>20)
	}

	// At the limit: ZstdMaxWindow over 96 MiB of varied data.
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7 / 5)
	}
	ok := zstdStream(t, data, 96<<20, ZstdMaxWindow)
	var n int64
	grew = allocated(func() {
		r, _, nerr := NewReader(mt, bytes.NewReader(ok))
		if nerr != nil {
			err = nerr
			return
		}
		n, err = io.Copy(io.Discard, r)
		r.Close()
	})
	if err != nil || n != 96<<20 {
		t.Fatalf("a %d MiB window: read %d bytes, %v", ZstdMaxWindow>>20, n, err)
	}
	t.Logf("decoding with a %d MiB window allocated %d MiB", ZstdMaxWindow>>20, grew>>20)
	if grew > 56<<20 {
		t.Errorf("decoding with a %d MiB window allocated %d MiB, over the pull's 64 MiB bound", ZstdMaxWindow>>20, grew>>20)
	}
}

// zstd's repeated blocks expand 32768:1; a layer may expand at most
// MaxExpansion times (plus ExpansionSlack), so a pull's work stays
// proportional to what it downloads. A run of zeros past that is refused;
// one within the slack is not.
func TestZstdExpansionBound(t *testing.T) {
	var fb bytes.Buffer
	zw, err := zstd.NewWriter(&fb, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(make([]byte, 8<<20))
	zw.Close()
	frame := fb.Bytes() // 8 MiB of zeros in a few hundred bytes
	for _, tt := range []struct {
		frames int
		want   error
	}{
		{ExpansionSlack / (8 << 20) / 2, nil},
		{ExpansionSlack/(8<<20) + 16, ErrExpansion},
	} {
		blob := bytes.Repeat(frame, tt.frames)
		r, _, err := NewReader("application/vnd.oci.image.layer.v1.tar+zstd", bytes.NewReader(blob))
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, r)
		r.Close()
		if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
			t.Errorf("%d MiB of zeros from %d KiB: read %d MiB, err %v, want %v", tt.frames*8, len(blob)>>10, n>>20, err, tt.want)
		}
	}
}
