package inflate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrCorrupt is returned for data that breaks RFC 1951: a reserved block
// type, a bad code, a distance reaching before the start of the stream.
var ErrCorrupt = errors.New("corrupt deflate data")

const (
	window = 1 << 15 // deflate's history
	// slack is the room out must have beyond the limit given to decode: a
	// 258-byte match started just before it, copied 8 bytes at a time.
	slack = 258 + 16
	inPad = 32 // zero bytes kept after the input at EOF, for 8-byte loads
)

type blockState uint8

const (
	stHeader blockState = iota // next: a block header, or the end if final
	stHuffman
	stStored
	stDone // the final block has ended; the input is at a byte boundary
)

// inflater decodes one raw deflate stream (RFC 1951) into windows of
// output that its caller owns. Its input is its own buffer, refilled from
// r, so that the hot loop can load 8 bytes at a time.
type inflater struct {
	r    io.Reader
	in   []byte // in[ip:iend] is unread; at EOF in[iend:iend+inPad] is zero
	ip   int
	iend int
	safe int   // the hot loop may load 8 bytes while ip <= safe
	read int64 // input bytes dropped from the front of in
	eof  bool
	rerr error

	bb uint64 // bit buffer; the next bit is the least significant
	nb uint   // valid bits in bb; bits above them are unread input or zero

	state  blockState
	final  bool
	stored int // bytes left in a stored block

	lit     *[litTableSize]uint32 // the current block's tables
	dist    *[distTableSize]uint32
	dynLit  [litTableSize]uint32
	dynDist [distTableSize]uint32
	lens    [286 + 30]uint8
}

func newInflater(r io.Reader, bufSize int) *inflater {
	return &inflater{
		r:    r,
		in:   make([]byte, max(bufSize, 64)+inPad),
		safe: -1,
	}
}

// offset is the position in the input of the next unconsumed bit's byte.
func (f *inflater) offset() int64 {
	return f.read + int64(min(f.ip, f.iend)) - int64(f.nb>>3)
}

// unread gives the bit buffer's whole bytes back to the input.
func (f *inflater) unread() {
	f.ip -= int(f.nb >> 3)
	f.nb &= 7
	f.bb &= 1<<f.nb - 1
}

// fill reads more input, keeping what is unread, until 16 bytes are
// buffered or the input ends. It returns the reader's error other than
// io.EOF (the stream fails then, so the last few bytes before it are left
// undecoded).
func (f *inflater) fill() error {
	if f.eof {
		return nil
	}
	if f.rerr != nil {
		return f.rerr
	}
	f.unread()
	f.read += int64(f.ip)
	f.iend = copy(f.in, f.in[f.ip:f.iend])
	f.ip = 0
	for empty := 0; f.iend < 16 && f.rerr == nil && !f.eof; {
		n, err := f.r.Read(f.in[f.iend : len(f.in)-inPad])
		f.iend += n
		switch {
		case err == io.EOF:
			f.eof = true
			clear(f.in[f.iend : f.iend+inPad])
		case err != nil:
			f.rerr = err
		case n == 0:
			if empty++; empty == 100 {
				f.rerr = io.ErrNoProgress
			}
		}
	}
	f.safe = f.iend - 16
	return f.rerr
}

// need loads bits a byte at a time until nb >= n (n <= 57) or the input
// has ended; callers check nb.
func (f *inflater) need(n uint) error {
	for f.nb < n {
		if f.ip >= f.iend {
			if f.eof {
				return nil
			}
			if err := f.fill(); err != nil {
				return err
			}
			continue
		}
		f.bb |= uint64(f.in[f.ip]) << f.nb
		f.ip++
		f.nb += 8
	}
	return nil
}

func (f *inflater) bits(n uint) (uint32, error) {
	if err := f.need(n); err != nil {
		return 0, err
	}
	if f.nb < n {
		return 0, io.ErrUnexpectedEOF
	}
	v := uint32(f.bb & (1<<n - 1))
	f.bb >>= n
	f.nb -= n
	return v, nil
}

// sym decodes one symbol off the hot path.
func (f *inflater) sym(table []uint32, primary uint) (uint32, error) {
	if err := f.need(15); err != nil {
		return 0, err
	}
	e := table[f.bb&(1<<primary-1)]
	if e&kindMask == kSub && f.nb >= primary {
		f.bb >>= primary
		f.nb -= primary
		e = table[e>>16+uint32(f.bb&(1<<(e>>4&15)-1))]
	}
	switch n := uint(e & 15); {
	case e&kindMask == kInvalid:
		return 0, ErrCorrupt
	case n > f.nb || e&kindMask == kSub:
		return 0, io.ErrUnexpectedEOF
	default:
		f.bb >>= n
		f.nb -= n
		return e, nil
	}
}

// header reads a block header, and a dynamic block's code.
func (f *inflater) header() error {
	h, err := f.bits(3)
	if err != nil {
		return err
	}
	f.final = h&1 == 1
	switch h >> 1 {
	case 0:
		f.bb >>= f.nb & 7
		f.nb -= f.nb & 7
		v, err := f.bits(32)
		if err != nil {
			return err
		}
		if uint16(v) != ^uint16(v>>16) {
			return fmt.Errorf("%w: stored block length check", ErrCorrupt)
		}
		f.unread()
		f.stored, f.state = int(v&0xffff), stStored
	case 1:
		f.lit, f.dist, f.state = fixedLit, fixedDist, stHuffman
	case 2:
		if err := f.dynamic(); err != nil {
			return err
		}
		f.lit, f.dist, f.state = &f.dynLit, &f.dynDist, stHuffman
	default:
		return fmt.Errorf("%w: reserved block type", ErrCorrupt)
	}
	return nil
}

// dynamic reads a dynamic block's code lengths (RFC 1951 3.2.7) and
// builds its tables.
func (f *inflater) dynamic() error {
	v, err := f.bits(14)
	if err != nil {
		return err
	}
	nlit, ndist, nclen := int(v&31)+257, int(v>>5&31)+1, int(v>>10)+4
	if nlit > 286 || ndist > 30 {
		return fmt.Errorf("%w: %d literal/length and %d distance codes", ErrCorrupt, nlit, ndist)
	}
	var cl [19]uint8
	for _, s := range clOrder[:nclen] {
		v, err := f.bits(3)
		if err != nil {
			return err
		}
		cl[s] = uint8(v)
	}
	var clTable [1 << 7]uint32
	if !build(clTable[:], cl[:], 7, clSym) {
		return fmt.Errorf("%w: bad code-length code", ErrCorrupt)
	}
	lens := f.lens[:nlit+ndist]
	for i := 0; i < len(lens); {
		e, err := f.sym(clTable[:], 7)
		if err != nil {
			return err
		}
		s := e >> 16
		if s < 16 {
			lens[i] = uint8(s)
			i++
			continue
		}
		// 16: the previous length 3-6 times; 17: 3-10 zeros; 18: 11-138.
		rep, n, b := 3, uint(2), uint8(0)
		switch s {
		case 16:
			if i == 0 {
				return fmt.Errorf("%w: repeat with no previous length", ErrCorrupt)
			}
			b = lens[i-1]
		case 17:
			n = 3
		default:
			rep, n = 11, 7
		}
		x, err := f.bits(n)
		if err != nil {
			return err
		}
		rep += int(x)
		if i+rep > len(lens) {
			return fmt.Errorf("%w: code lengths overrun", ErrCorrupt)
		}
		for range rep {
			lens[i] = b
			i++
		}
	}
	if lens[256] == 0 {
		// Such a block could never end.
		return fmt.Errorf("%w: no end-of-block code", ErrCorrupt)
	}
	if !build(f.dynLit[:], lens[:nlit], litBits, litSym) || !build(f.dynDist[:], lens[nlit:], distBits, distSym) {
		return fmt.Errorf("%w: bad literal/length or distance code", ErrCorrupt)
	}
	return nil
}

// decode inflates into out[op:] until op reaches limit or the stream ends
// (state stDone), and returns the new op. Matches may reach back to out[lo]
// and no further; out must have slack bytes of room beyond limit.
func (f *inflater) decode(out []byte, op, lo, limit int) (int, error) {
	for op < limit {
		switch f.state {
		case stHeader:
			if f.final {
				f.bb >>= f.nb & 7
				f.nb -= f.nb & 7
				f.unread()
				f.state = stDone
				return op, nil
			}
			if err := f.header(); err != nil {
				return op, err
			}
		case stStored:
			for f.stored > 0 && op < limit {
				if f.ip >= f.iend {
					if f.eof {
						return op, io.ErrUnexpectedEOF
					}
					if err := f.fill(); err != nil {
						return op, err
					}
					continue
				}
				n := copy(out[op:min(limit, op+f.stored)], f.in[f.ip:f.iend])
				op, f.ip, f.stored = op+n, f.ip+n, f.stored-n
			}
			if f.stored == 0 {
				f.state = stHeader
			}
		case stHuffman:
			var err error
			if op, err = f.huffman(out, op, lo, limit); err != nil {
				return op, err
			}
		case stDone:
			return op, nil
		}
	}
	return op, nil
}

// huffman is the hot loop. Each turn refills the bit buffer to at least 56
// bits with one 8-byte load (enough for a length and a distance with their
// extra bits, or three literals) and copies matches 8 bytes at a time into
// out's slack.
func (f *inflater) huffman(out []byte, op, lo, limit int) (int, error) {
	in, ip, bb, nb, safe := f.in, f.ip, f.bb, f.nb, f.safe
	lit, dist := f.lit, f.dist
	var err error
	pass := op // where this turn's output starts
	for op < limit {
		if ip > safe {
			f.ip, f.bb, f.nb = ip, bb, nb
			if err = f.fill(); err != nil {
				return op, err
			}
			// Past the end, loads read the zero padding; consuming
			// any of it means the stream was cut short, and the
			// last turn's output came from the padding: drop it.
			if f.eof && f.ip*8-int(f.nb) > f.iend*8 {
				f.ip = f.iend
				return pass, io.ErrUnexpectedEOF
			}
			in, ip, bb, nb, safe = f.in, f.ip, f.bb, f.nb, f.safe
		}
		pass = op
		bb |= binary.LittleEndian.Uint64(in[ip:]) << nb
		ip += int((63 - nb) >> 3)
		nb |= 56

		e := lit[bb&litMask]
		if e&kindMask == kSub {
			bb >>= litBits
			nb -= litBits
			e = lit[e>>16+uint32(bb&(1<<(e>>4&15)-1))]
		}
		bb >>= e & 15
		nb -= uint(e & 15)
		if e&kindMask == kLiteral {
			out[op] = byte(e >> 16)
			op++
			// At least 41 bits are left: two more literals from the
			// primary table (11 bits at most each) fit.
			if e = lit[bb&litMask]; e&kindMask == kLiteral {
				bb >>= e & 15
				nb -= uint(e & 15)
				out[op] = byte(e >> 16)
				op++
				if e = lit[bb&litMask]; e&kindMask == kLiteral {
					bb >>= e & 15
					nb -= uint(e & 15)
					out[op] = byte(e >> 16)
					op++
				}
			}
			continue
		}
		if e&kindMask != kBase {
			if e&kindMask == kEnd {
				f.state = stHeader
			} else {
				err = fmt.Errorf("%w: invalid literal/length code", ErrCorrupt)
			}
			break
		}
		x := e >> 4 & 15
		length := int(e>>16) + int(bb&(1<<x-1))
		bb >>= x
		nb -= uint(x)

		e = dist[bb&distMask]
		if e&kindMask == kSub {
			bb >>= distBits
			nb -= distBits
			e = dist[e>>16+uint32(bb&(1<<(e>>4&15)-1))]
		}
		if e&kindMask != kBase {
			err = fmt.Errorf("%w: invalid distance code", ErrCorrupt)
			break
		}
		bb >>= e & 15
		nb -= uint(e & 15)
		x = e >> 4 & 15
		d := int(e>>16) + int(bb&(1<<x-1))
		bb >>= x
		nb -= uint(x)
		if d > op-lo {
			err = fmt.Errorf("%w: distance %d reaches before the stream", ErrCorrupt, d)
			break
		}
		src := op - d
		switch {
		case d >= 8:
			// Each word read lies wholly before the word written.
			// Most matches are short: two words, then a loop.
			binary.LittleEndian.PutUint64(out[op:], binary.LittleEndian.Uint64(out[src:]))
			binary.LittleEndian.PutUint64(out[op+8:], binary.LittleEndian.Uint64(out[src+8:]))
			for i := 16; i < length; i += 8 {
				binary.LittleEndian.PutUint64(out[op+i:], binary.LittleEndian.Uint64(out[src+i:]))
			}
		case d == 1:
			v := uint64(out[src]) * 0x0101010101010101
			for i := 0; i < length; i += 8 {
				binary.LittleEndian.PutUint64(out[op+i:], v)
			}
		default:
			for i := range length {
				out[op+i] = out[src+i]
			}
		}
		op += length
	}
	if f.eof && ip > f.iend {
		// Bits loaded from the padding are not input: drop them, or
		// fail (and drop the last turn's output) if any were consumed:
		// the stream was cut short, whatever the padding decoded to.
		if ip*8-int(nb) > f.iend*8 {
			op, ip, nb, err = pass, f.iend, 0, io.ErrUnexpectedEOF
		} else {
			nb -= uint(ip-f.iend) * 8
			bb &= 1<<nb - 1
			ip = f.iend
		}
	}
	f.ip, f.bb, f.nb = ip, bb, nb
	return op, err
}
