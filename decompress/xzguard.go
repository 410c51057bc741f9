package decompress

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
)

// XzMaxDict is the largest LZMA2 dictionary an xz block may make the
// decoder allocate: xz -9's (and -9e's). github.com/ulikunitz/xz allocates
// the dictionary a block header declares (up to 4 GiB) as soon as it has
// read the header, long before a --sha256 or an LXC index's sha256 can be
// checked, and allocates it afresh for every block: a 17 KB file that
// `xz -9 -T2 --block-size=64KiB` made of zeros allocates 10 GiB. xzGuard
// reads the container ahead of the decoder and refuses a block whose
// dictionary would be larger than this, after shrinking a block's
// dictionary to the block's own size when that is known (a dictionary
// never needs to be larger than what the block holds).
const XzMaxDict = 64 << 20

// ErrXzDict: an xz block needs a dictionary larger than XzMaxDict.
var ErrXzDict = fmt.Errorf("xz stream needs a dictionary larger than %d MiB (made with xz --lzma2=dict=…): refused to bound memory; recompress it with xz -9 or lower", XzMaxDict>>20)

// errXz names a malformed xz container, found by xzGuard.
var errXz = errors.New("malformed xz stream")

const (
	// xzLookahead is how far into a block whose header does not give its
	// size the guard reads to find its end (and so its size). A block
	// longer than that keeps its declared dictionary: at most XzMaxDict
	// (64 MiB) allocated for every MiB read.
	xzLookahead = 1 << 20
	// xzMaxBlocks bounds the blocks of one stream: the decoder keeps a
	// record of each until the stream's index (16 bytes each).
	xzMaxBlocks = 1 << 20
	xzMinDict   = 4 << 10 // LZMA2's smallest dictionary (code 0)
)

var (
	xzHeaderMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	xzFooterMagic = []byte{'Y', 'Z'}
)

type xzState int

const (
	xzStreamHeader xzState = iota // a stream header comes next
	xzBlock                       // a block header or the index
	xzData                        // LZMA2 chunks of the current block
	xzBlockEnd                    // block padding and check
	xzIndex                       // index records
	xzIndexEnd                    // index padding and CRC32
	xzFooter                      // the stream footer
	xzPadding                     // stream padding, another stream, or the end
)

// xzGuard passes an xz file through unchanged, except for the dictionary
// size of a block whose size it knows, which it lowers to that size; it
// walks the container as the bytes go by (stream header, block headers,
// LZMA2 chunk headers, which say their own length, block padding and
// check, index, footer, stream padding, concatenated streams) and fails
// before handing on a block header that would make the decoder allocate
// more than XzMaxDict. It never holds more than xzLookahead plus one
// chunk (64 KiB) of the stream.
type xzGuard struct {
	r     *bufio.Reader
	buf   []byte // checked bytes; out is what is left of them to hand on
	out   []byte
	err   error
	state xzState

	flags   [2]byte // the current stream's flags
	check   int     // size of its check field
	blocks  int     // blocks in it so far
	hlen    int     // the current block's header length
	clen    int64   // its LZMA2 bytes so far
	varints int64   // index varints left to read
	ilen    int64   // index bytes so far
}

func newXzGuard(r io.Reader) *xzGuard {
	return &xzGuard{r: bufio.NewReaderSize(r, 64<<10)}
}

func (g *xzGuard) Read(p []byte) (int, error) {
	for len(g.out) == 0 {
		if g.err != nil {
			return 0, g.err
		}
		g.buf = g.buf[:0]
		if err := g.step(); err != nil {
			// Nothing of a unit that failed is handed on.
			g.err = err
			g.buf = g.buf[:0]
		}
		g.out = g.buf
	}
	n := copy(p, g.out)
	g.out = g.out[n:]
	return n, nil
}

// read appends the next n bytes to the output and returns them.
func (g *xzGuard) read(n int) ([]byte, error) {
	start := len(g.buf)
	g.buf = slices.Grow(g.buf, n)[:start+n]
	if _, err := io.ReadFull(g.r, g.buf[start:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return g.buf[start:], nil
}

func (g *xzGuard) readByte() (byte, error) {
	b, err := g.read(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// readVarint appends a multibyte integer (at most 9 bytes) and returns it.
func (g *xzGuard) readVarint() (uint64, error) {
	var x uint64
	for i := 0; i < 9; i++ {
		b, err := g.readByte()
		if err != nil {
			return 0, err
		}
		x |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if b == 0 && i > 0 {
				return 0, fmt.Errorf("%w: a number with a needless zero byte", errXz)
			}
			return x, nil
		}
	}
	return 0, fmt.Errorf("%w: a number longer than 9 bytes", errXz)
}

// step checks the next unit of the container and appends it to buf.
func (g *xzGuard) step() error {
	switch g.state {
	case xzStreamHeader:
		h, err := g.read(12)
		if err != nil {
			return err
		}
		return g.streamHeader(h)
	case xzBlock:
		b, err := g.readByte()
		if err != nil {
			return err
		}
		if b == 0 { // the index indicator
			n, err := g.readVarint()
			if err != nil {
				return err
			}
			if n != uint64(g.blocks) {
				return fmt.Errorf("%w: the index lists %d blocks, the stream has %d", errXz, n, g.blocks)
			}
			g.varints, g.ilen, g.state = 2*int64(n), int64(len(g.buf)), xzIndex
			return nil
		}
		return g.block(b)
	case xzData:
		end, _, err := g.chunk()
		if err != nil {
			return err
		}
		if end {
			g.state = xzBlockEnd
		}
		return nil
	case xzBlockEnd:
		pad := int((4 - (int64(g.hlen)+g.clen)%4) % 4)
		b, err := g.read(pad + g.check)
		if err != nil {
			return err
		}
		if !allZero(b[:pad]) {
			return fmt.Errorf("%w: block padding is not zero", errXz)
		}
		g.state = xzBlock
		return nil
	case xzIndex:
		start := len(g.buf)
		for i := 0; i < 8192 && g.varints > 0; i++ {
			if _, err := g.readVarint(); err != nil {
				return err
			}
			g.varints--
		}
		g.ilen += int64(len(g.buf) - start)
		if g.varints == 0 {
			g.state = xzIndexEnd
		}
		return nil
	case xzIndexEnd:
		pad := int((4 - g.ilen%4) % 4)
		b, err := g.read(pad + 4)
		if err != nil {
			return err
		}
		if !allZero(b[:pad]) {
			return fmt.Errorf("%w: index padding is not zero", errXz)
		}
		g.state = xzFooter
		return nil
	case xzFooter:
		f, err := g.read(12)
		if err != nil {
			return err
		}
		if !bytes.Equal(f[10:], xzFooterMagic) || !bytes.Equal(f[8:10], g.flags[:]) {
			return fmt.Errorf("%w: bad stream footer", errXz)
		}
		g.state = xzPadding
		return nil
	case xzPadding:
		start := len(g.buf)
		g.buf = append(g.buf, 0, 0, 0, 0)
		n, err := io.ReadFull(g.r, g.buf[start:])
		switch {
		case n == 0 && err == io.EOF:
			return io.EOF // the end, after whole streams
		case err != nil:
			return fmt.Errorf("%w: %d bytes after the last stream", errXz, n)
		case allZero(g.buf[start:]):
			return nil // stream padding
		}
		if _, err := g.read(8); err != nil { // another stream
			return err
		}
		return g.streamHeader(g.buf[start:])
	}
	return fmt.Errorf("%w: internal state %d", errXz, g.state)
}

func (g *xzGuard) streamHeader(h []byte) error {
	if !bytes.Equal(h[:6], xzHeaderMagic) {
		return fmt.Errorf("%w: no stream header", errXz)
	}
	if h[6] != 0 || h[7] > 0x0f || binary.LittleEndian.Uint32(h[8:]) != crc32.ChecksumIEEE(h[6:8]) {
		return fmt.Errorf("%w: bad stream flags", errXz)
	}
	copy(g.flags[:], h[6:8])
	g.check = [...]int{0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64}[h[7]]
	g.blocks = 0
	g.state = xzBlock
	return nil
}

// block checks a block header whose first byte is size, and decides its
// dictionary: lowered to the block's size when that is known (from the
// header, or by reading up to xzLookahead of the block to its end), and
// refused when it would still be larger than XzMaxDict.
func (g *xzGuard) block(size byte) error {
	if g.blocks++; g.blocks > xzMaxBlocks {
		return fmt.Errorf("%w: more than %d blocks in one stream", errXz, xzMaxBlocks)
	}
	g.hlen = (int(size) + 1) * 4
	if _, err := g.read(g.hlen - 1); err != nil {
		return err
	}
	h := g.buf[len(g.buf)-g.hlen:]
	if binary.LittleEndian.Uint32(h[g.hlen-4:]) != crc32.ChecksumIEEE(h[:g.hlen-4]) {
		return fmt.Errorf("%w: block header checksum", errXz)
	}
	usize, dictAt, err := parseBlockHeader(h)
	if err != nil {
		return err
	}
	dict := xzDictSize(h[dictAt])
	g.clen = 0
	g.state = xzData
	if usize < 0 {
		// Read ahead to the block's end, if it is near, to learn its size.
		var sum int64
		for g.clen <= xzLookahead && sum < dict {
			end, u, err := g.chunk()
			if err != nil {
				return err
			}
			sum += u
			if end {
				usize, g.state = sum, xzBlockEnd
				break
			}
		}
		h = g.buf[len(g.buf)-int(g.clen)-g.hlen : len(g.buf)-int(g.clen)] // buf may have moved
	}
	if usize >= 0 {
		code := byte(0)
		for xzDictSize(code) < usize && code < 40 {
			code++
		}
		if xzDictSize(code) < dict {
			h[dictAt] = code
			binary.LittleEndian.PutUint32(h[g.hlen-4:], crc32.ChecksumIEEE(h[:g.hlen-4]))
			dict = xzDictSize(code)
		}
	}
	if dict > XzMaxDict {
		return ErrXzDict
	}
	return nil
}

// parseBlockHeader returns a block header's uncompressed size (-1 when it
// does not say) and where its LZMA2 dictionary size is. Only a single
// LZMA2 filter is accepted: the decoder supports no other.
func parseBlockHeader(h []byte) (usize int64, dictAt int, err error) {
	bad := func(what string) (int64, int, error) {
		return 0, 0, fmt.Errorf("%w: block header: %s", errXz, what)
	}
	flags := h[1]
	if flags&0x3c != 0 {
		return bad("reserved flags set")
	}
	if flags&0x03 != 0 {
		return bad("a filter other than LZMA2 (BCJ, delta) is not supported")
	}
	r := bytes.NewReader(h[2 : len(h)-4])
	if flags&0x40 != 0 {
		if _, err := binary.ReadUvarint(r); err != nil {
			return bad("compressed size")
		}
	}
	usize = -1
	if flags&0x80 != 0 {
		u, err := binary.ReadUvarint(r)
		if err != nil || u > 1<<62 {
			return bad("uncompressed size")
		}
		usize = int64(u)
	}
	id, err1 := binary.ReadUvarint(r)
	psize, err2 := binary.ReadUvarint(r)
	if err1 != nil || err2 != nil || id != 0x21 || psize != 1 {
		return bad("a filter other than LZMA2 (BCJ, delta) is not supported")
	}
	dictAt = len(h) - 4 - r.Len()
	if c, err := r.ReadByte(); err != nil || c > 40 {
		return bad("LZMA2 dictionary size")
	}
	for r.Len() > 0 {
		if c, _ := r.ReadByte(); c != 0 {
			return bad("padding is not zero")
		}
	}
	return usize, dictAt, nil
}

// xzDictSize is the dictionary size LZMA2's property byte c stands for.
func xzDictSize(c byte) int64 {
	if c >= 40 {
		return 1<<32 - 1
	}
	return int64(2|c&1) << (c/2 + 11)
}

// chunk reads one LZMA2 chunk: whether it ends the block, and how many
// bytes it decodes to.
func (g *xzGuard) chunk() (end bool, usize int64, err error) {
	start := len(g.buf)
	defer func() { g.clen += int64(len(g.buf) - start) }()
	c, err := g.readByte()
	if err != nil {
		return false, 0, err
	}
	switch {
	case c == 0:
		return true, 0, nil
	case c == 1 || c == 2: // uncompressed
		b, err := g.read(2)
		if err != nil {
			return false, 0, err
		}
		n := int(binary.BigEndian.Uint16(b)) + 1
		_, err = g.read(n)
		return false, int64(n), err
	case c >= 0x80: // LZMA
		b, err := g.read(4)
		if err != nil {
			return false, 0, err
		}
		u := int64(c&0x1f)<<16 + int64(binary.BigEndian.Uint16(b)) + 1
		n := int(binary.BigEndian.Uint16(b[2:])) + 1
		if (c>>5)&3 >= 2 { // new properties
			n++
		}
		_, err = g.read(n)
		return false, u, err
	}
	return false, 0, fmt.Errorf("%w: LZMA2 chunk type %#x", errXz, c)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
