// Package decompress turns a layer blob into its tar stream: gzip (with
// package inflate, which decodes ahead on its own goroutine), zstd, or
// plain tar, chosen by media type and confirmed by the stream's magic
// bytes; and xz (github.com/ulikunitz/xz, behind xzGuard, which bounds
// the dictionaries it allocates) or bzip2 (compress/bzip2), which rootfs
// tarballs and LXC images use, by their magic bytes alone.
package decompress

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/rootfs-pull/rootfs-pull/inflate"
)

// Format is a layer's compression.
type Format int

const (
	Plain Format = iota
	Gzip
	Zstd
	Xz
	Bzip2
)

func (f Format) String() string {
	return [...]string{"tar", "gzip", "zstd", "xz", "bzip2"}[f]
}

// ErrUnsupported is returned for media types that are not image layers.
var ErrUnsupported = errors.New("unsupported layer media type")

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	xzMagic   = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
)

// isBzip2 reports bzip2's magic: "BZh" and a block size from 1 to 9.
func isBzip2(magic []byte) bool {
	return len(magic) >= 4 && string(magic[:3]) == "BZh" && magic[3] >= '1' && magic[3] <= '9'
}

// FormatOf maps a layer media type to its compression. OCI, Docker and
// their foreign/non-distributable variants are all understood.
func FormatOf(mediaType string) (Format, error) {
	mt := strings.ToLower(mediaType)
	switch {
	case !strings.Contains(mt, "layer") && !strings.Contains(mt, "rootfs"):
		return 0, fmt.Errorf("%w %q", ErrUnsupported, mediaType)
	case strings.HasSuffix(mt, "+gzip"), strings.HasSuffix(mt, ".tar.gzip"), strings.HasSuffix(mt, ".gzip"):
		return Gzip, nil
	case strings.HasSuffix(mt, "+zstd"), strings.HasSuffix(mt, ".zstd"):
		return Zstd, nil
	case strings.HasSuffix(mt, ".tar"), strings.HasSuffix(mt, "layer.v1.tar"):
		return Plain, nil
	}
	return 0, fmt.Errorf("%w %q", ErrUnsupported, mediaType)
}

// NewReader returns the uncompressed stream of a layer of mediaType read
// from r. The magic bytes win over a mislabelled media type. Close releases
// the decoder's goroutines; it does not close r.
func NewReader(mediaType string, r io.Reader) (io.ReadCloser, Format, error) {
	f, err := FormatOf(mediaType)
	if err != nil {
		return nil, 0, err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(6); bytes.HasPrefix(magic, gzipMagic) {
		f = Gzip
	} else if bytes.HasPrefix(magic, zstdMagic) {
		f = Zstd
	} else if bytes.HasPrefix(magic, xzMagic) {
		f = Xz
	} else if isBzip2(magic) {
		f = Bzip2
	} else if f != Plain && len(magic) > 0 {
		return nil, f, fmt.Errorf("layer is labelled %s but is not %s data", mediaType, f)
	}
	switch f {
	case Gzip:
		// 8 MiB decoded ahead: the decoder is the pull's bound on few
		// cores, and this absorbs the applier's pauses (a large file, a
		// wait for the file pool) so that it rarely waits (about 2% faster
		// than 4 MiB on the benchmark's Debian layer).
		return inflate.NewReader(br, 8), f, nil
	case Zstd:
		in := &countingReader{r: br}
		zr, err := zstd.NewReader(in, zstd.WithDecoderConcurrency(2),
			zstd.WithDecoderMaxWindow(ZstdMaxWindow), zstd.WithDecoderMaxMemory(ZstdMaxWindow))
		if err != nil {
			return nil, f, fmt.Errorf("zstd: %w", err)
		}
		return &zstdReader{d: zr, in: in}, f, nil
	case Xz:
		in := &countingReader{r: br}
		xr, err := xz.NewReader(newXzGuard(in))
		if err != nil {
			return nil, f, fmt.Errorf("xz: %w", err)
		}
		return &boundedReader{r: xr, in: in, format: f}, f, nil
	case Bzip2:
		in := &countingReader{r: br}
		return &boundedReader{r: bzip2.NewReader(in), in: in, format: f}, f, nil
	}
	return io.NopCloser(br), f, nil
}

// ZstdMaxWindow is the largest zstd window (the history a decoder keeps)
// a layer may ask for. A frame declares its own window, up to terabytes:
// without a cap, one hostile layer makes the decoder allocate that much.
// 16 MiB is twice what image builders use (zstd levels 1-19 and
// klauspost's encoder, as in BuildKit, need at most 8 MiB) and keeps a
// pull's peak memory within the bound the README gives (measured: 49 MiB
// for a 200 MiB layer at a 16 MiB window, 65 MiB at 32 MiB); frames that
// need more (zstd --long, --ultra -20 and up) are refused with
// ErrZstdWindow.
const ZstdMaxWindow = 16 << 20

// ErrZstdWindow: a zstd layer asks for a window larger than ZstdMaxWindow.
var ErrZstdWindow = fmt.Errorf("zstd layer needs a window larger than %d MiB (made with zstd --long or --ultra): refused to bound memory; recompress it with a level up to 19", ZstdMaxWindow>>20)

// MaxExpansion and ExpansionSlack bound how much a zstd layer may expand:
// its output may not pass MaxExpansion times the compressed bytes read
// so far, plus ExpansionSlack. gzip cannot pass about 1032:1, so neither
// can any layer it makes; zstd's repeated blocks reach 32768:1, and a
// 2 MiB layer would have the pull decode and hash 64 GiB of zeros. With
// the bound, a pull's work stays proportional to the bytes it downloads.
const (
	MaxExpansion   = 1100
	ExpansionSlack = 256 << 20
)

// ErrExpansion: a layer expands past MaxExpansion (a decompression bomb).
var ErrExpansion = fmt.Errorf("zstd layer expands more than %d times its size (a decompression bomb?): refused", MaxExpansion)

// zstdReader names the window error and bounds the expansion; it hides
// the decoder's WriteTo, so every read goes through Read.
type zstdReader struct {
	d   *zstd.Decoder
	in  *countingReader
	out int64
}

func (z *zstdReader) Read(p []byte) (int, error) {
	n, err := z.d.Read(p)
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		err = ErrZstdWindow
	}
	z.out += int64(n)
	if z.out > MaxExpansion*z.in.n.Load()+ExpansionSlack {
		return 0, ErrExpansion
	}
	return n, err
}

func (z *zstdReader) Close() error { z.d.Close(); return nil }

// countingReader counts what the decoder reads (on its own goroutines).
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// boundedReader bounds the expansion of an xz or bzip2 stream as
// zstdReader does, and names the format in its errors.
type boundedReader struct {
	r      io.Reader
	in     *countingReader
	out    int64
	format Format
}

func (b *boundedReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.out += int64(n)
	if b.out > MaxExpansion*b.in.n.Load()+ExpansionSlack {
		return 0, fmt.Errorf("%s stream expands more than %d times its size (a decompression bomb?): refused", b.format, MaxExpansion)
	}
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s: %w", b.format, err)
	}
	return n, err
}

func (b *boundedReader) Close() error { return nil }
