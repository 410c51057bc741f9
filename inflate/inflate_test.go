package inflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"math/rand"
	"testing"
	"testing/iotest"

	kflate "github.com/klauspost/compress/flate"
)

// inflateAll decodes a raw deflate stream through windows of chunk bytes,
// carrying history between them as Reader does.
func inflateAll(r io.Reader, inBuf, chunk int) ([]byte, error) {
	f := newInflater(r, inBuf)
	out := make([]byte, window+chunk+slack)
	var res, hist []byte
	for {
		lo := window - copy(out[window-len(hist):window], hist)
		op, err := f.decode(out, window, lo, window+chunk)
		res = append(res, out[window:op]...)
		if err != nil || f.state == stDone {
			return res, err
		}
		hist = append(hist[:0], out[max(lo, op-window):op]...)
	}
}

// sample is compressible data shaped like a rootfs: runs, repeats near
// and far, words, and random bytes.
func sample(rng *rand.Rand, n int) []byte {
	b := make([]byte, 0, n+400)
	words := []string{"usr/", "lib/", "bin", "\x00\x00\x00\x00", "libc.so.6", "\x7fELF", "the ", "and "}
	for len(b) < n {
		switch rng.Intn(4) {
		case 0:
			b = append(b, byte(rng.Intn(256)))
		case 1:
			b = append(b, words[rng.Intn(len(words))]...)
		case 2:
			if len(b) > 0 {
				s := rng.Intn(len(b))
				b = append(b, b[s:min(len(b), s+rng.Intn(300))]...)
			}
		case 3:
			b = append(b, bytes.Repeat([]byte{byte(rng.Intn(256))}, rng.Intn(400))...)
		}
	}
	return b[:n]
}

// compressors make streams with different block choices: stored,
// Huffman-only, fixed and dynamic blocks of several sizes.
var compressors = []struct {
	name string
	new  func(io.Writer) io.WriteCloser
}{
	{"stdlib stored", func(w io.Writer) io.WriteCloser { z, _ := flate.NewWriter(w, 0); return z }},
	{"stdlib huffman-only", func(w io.Writer) io.WriteCloser { z, _ := flate.NewWriter(w, -2); return z }},
	{"stdlib 1", func(w io.Writer) io.WriteCloser { z, _ := flate.NewWriter(w, 1); return z }},
	{"stdlib 9", func(w io.Writer) io.WriteCloser { z, _ := flate.NewWriter(w, 9); return z }},
	{"klauspost 1", func(w io.Writer) io.WriteCloser { z, _ := kflate.NewWriter(w, 1); return z }},
	{"klauspost 6", func(w io.Writer) io.WriteCloser { z, _ := kflate.NewWriter(w, 6); return z }},
}

func deflate(t testing.TB, i int, data []byte) []byte {
	var c bytes.Buffer
	w := compressors[i].new(&c)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return c.Bytes()
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for ci, c := range compressors {
		t.Run(c.name, func(t *testing.T) {
			for _, size := range []int{0, 1, 100, 70000, 1 << 20} {
				data := sample(rng, size)
				z := deflate(t, ci, data)
				for _, in := range []struct {
					name   string
					r      io.Reader
					bufLen int
				}{
					{"whole", bytes.NewReader(z), 256 << 10},
					{"halves", iotest.HalfReader(bytes.NewReader(z)), 100},
					{"bytes", iotest.OneByteReader(bytes.NewReader(z)), 64},
				} {
					for _, chunk := range []int{1, 300, 1 << 20} {
						if size == 1<<20 && (chunk == 1 || in.name == "bytes") {
							continue // slow, and covered by smaller sizes
						}
						got, err := inflateAll(in.r, in.bufLen, chunk)
						if err != nil || !bytes.Equal(got, data) {
							t.Fatalf("size %d, %s input, chunk %d: %d bytes (want %d), %v", size, in.name, chunk, len(got), len(data), err)
						}
						in.r = bytes.NewReader(z)
					}
				}
			}
		})
	}
}

// bitWriter builds hand-made deflate streams.
type bitWriter struct {
	b  []byte
	nb uint
}

// bits writes the n low bits of v, least significant first.
func (w *bitWriter) bits(v uint32, n uint) *bitWriter {
	for i := uint(0); i < n; i++ {
		if w.nb%8 == 0 {
			w.b = append(w.b, 0)
		}
		w.b[len(w.b)-1] |= byte(v>>i&1) << (w.nb % 8)
		w.nb++
	}
	return w
}

// code writes a Huffman code, most significant bit first.
func (w *bitWriter) code(c uint32, n uint) *bitWriter {
	for i := n; i > 0; i-- {
		w.bits(c>>(i-1)&1, 1)
	}
	return w
}

func (w *bitWriter) align() *bitWriter { w.nb = (w.nb + 7) &^ 7; return w }

// fixed-code symbols (RFC 1951 3.2.6)
func (w *bitWriter) lit(b byte) *bitWriter {
	if b < 144 {
		return w.code(0x30+uint32(b), 8)
	}
	return w.code(0x190+uint32(b)-144, 9)
}
func (w *bitWriter) lenSym(s uint32) *bitWriter {
	if s < 280 {
		return w.code(s-256, 7)
	}
	return w.code(0xc0+s-280, 8)
}

func TestCorrupt(t *testing.T) {
	w := func() *bitWriter { return &bitWriter{} }
	// dynamic starts a final dynamic block with HLIT, HDIST, HCLEN.
	dynamic := func(hlit, hdist, hclen uint32) *bitWriter {
		return w().bits(1, 1).bits(2, 2).bits(hlit, 5).bits(hdist, 5).bits(hclen, 4)
	}
	tests := []struct {
		name string
		in   []byte
		want string // output, if err is nil
		err  error
	}{
		{"empty", nil, "", io.ErrUnexpectedEOF},
		{"reserved block type", w().bits(1, 1).bits(3, 2).b, "", ErrCorrupt},
		{"stored", w().bits(1, 1).bits(0, 2).align().bits(3, 16).bits(^uint32(3), 16).bits('a', 8).bits('b', 8).bits('c', 8).b, "abc", nil},
		{"stored, bad length check", w().bits(1, 1).bits(0, 2).align().bits(3, 16).bits(3, 16).b, "", ErrCorrupt},
		{"stored, cut short", w().bits(1, 1).bits(0, 2).align().bits(3, 16).bits(^uint32(3), 16).bits('a', 8).b, "", io.ErrUnexpectedEOF},
		{"fixed: literal and match", w().bits(1, 1).bits(1, 2).lit('a').lit(200).lenSym(257).code(1, 5).lenSym(256).b, "a\xc8a\xc8a", nil},
		{"fixed: match before the start", w().bits(1, 1).bits(1, 2).lenSym(257).code(0, 5).lenSym(256).b, "", ErrCorrupt},
		{"fixed: match one past the start", w().bits(1, 1).bits(1, 2).lit('a').lenSym(257).code(1, 5).lenSym(256).b, "", ErrCorrupt},
		{"fixed: length symbol 286", w().bits(1, 1).bits(1, 2).lit('a').lenSym(286).b, "", ErrCorrupt},
		{"fixed: distance symbol 30", w().bits(1, 1).bits(1, 2).lit('a').lenSym(257).code(30, 5).b, "", ErrCorrupt},
		{"fixed: no end of block", w().bits(1, 1).bits(1, 2).lit('a').lit('b').b, "", io.ErrUnexpectedEOF},
		{"two blocks", w().bits(0, 1).bits(1, 2).lit('x').lenSym(256).bits(1, 1).bits(1, 2).lit('y').lenSym(256).b, "xy", nil},
		{"dynamic: 287 literal/length codes", dynamic(30, 0, 0).b, "", ErrCorrupt},
		{"dynamic: 31 distance codes", dynamic(0, 30, 0).b, "", ErrCorrupt},
		// Code-length code lengths go in the order 16, 17, 18, 0, ...
		{"dynamic: over-subscribed code-length code", dynamic(0, 0, 0).bits(1, 3).bits(1, 3).bits(1, 3).bits(1, 3).b, "", ErrCorrupt},
		{"dynamic: incomplete code-length code", dynamic(0, 0, 0).bits(0, 3).bits(0, 3).bits(2, 3).bits(0, 3).b, "", ErrCorrupt},
		{"dynamic: repeat with nothing before", dynamic(0, 0, 0).bits(1, 3).bits(1, 3).bits(0, 3).bits(0, 3).code(0, 1).b, "", ErrCorrupt},
		{"dynamic: no end-of-block code", dynamic(0, 0, 14).
			// code-length code: 18 and 1 of length 1 (codes 1 and 0)
			bits(0, 3).bits(0, 3).bits(1, 3).bits(0, 3).bits(0, 3).bits(0, 3).bits(0, 3).bits(0, 3).bits(0, 3).
			bits(0, 3).bits(0, 3).bits(0, 3).bits(0, 3).bits(0, 3).bits(0, 3).bits(0, 3).bits(0, 3).bits(1, 3).
			// literals 0 and 1 of length 1, 255 zeros (256 included), one distance code
			code(0, 1).code(0, 1).code(1, 1).bits(127, 7).code(1, 1).bits(106, 7).code(0, 1).
			code(0, 1).code(1, 1).code(0, 1).b, "", ErrCorrupt},
		{"dynamic: repeats overrun", dynamic(0, 0, 0).bits(0, 3).bits(0, 3).bits(1, 3).bits(1, 3).code(1, 1).bits(127, 7).code(1, 1).bits(127, 7).b, "", ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := inflateAll(bytes.NewReader(tt.in), 64, 1<<10)
			if !errors.Is(err, tt.err) || (err == nil && string(got) != tt.want) {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
			// compress/flate is the reference: it must agree.
			ref, rerr := io.ReadAll(flate.NewReader(bytes.NewReader(tt.in)))
			if (rerr == nil) != (err == nil) || (err == nil && !bytes.Equal(ref, got)) {
				t.Fatalf("compress/flate: %q, %v", ref, rerr)
			}
		})
	}
}

// Every cut of a valid stream fails; none reads as a short success, and
// what is decoded before the error is the data's own beginning (a decoder
// that reads ahead into zero padding must not pass on what it decoded).
func TestTruncated(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for ci := range compressors {
		data := sample(rng, 5000)
		z := deflate(t, ci, data)
		for n := range len(z) {
			got, err := inflateAll(bytes.NewReader(z[:n]), 64, 1000)
			if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s cut at %d of %d: %v", compressors[ci].name, n, len(z), err)
			}
			if !bytes.HasPrefix(data, got) {
				t.Fatalf("%s cut at %d of %d: %d bytes decoded are not the data's first", compressors[ci].name, n, len(z), len(got))
			}
		}
	}
}

// FuzzInflate checks the decoder against compress/flate on any input: the
// same verdict, the same output when both succeed.
func FuzzInflate(f *testing.F) {
	rng := rand.New(rand.NewSource(3))
	for i := range 24 {
		f.Add(deflate(f, i%len(compressors), sample(rng, rng.Intn(3000))), uint16(100))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint16) {
		want, werr := io.ReadAll(flate.NewReader(bytes.NewReader(in)))
		// Each window boundary copies 32 KiB of history: a window of
		// a few bytes would make the fuzzer crawl on long outputs.
		got, err := inflateAll(bytes.NewReader(in), 64, 512+int(chunk))
		if (werr == nil) != (err == nil) {
			t.Fatalf("compress/flate: %v; inflate: %v", werr, err)
		}
		if err == nil && !bytes.Equal(want, got) {
			t.Fatalf("outputs differ")
		}
	})
}
