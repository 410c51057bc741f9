package inflate

import (
	"errors"
	"hash/crc32"
	"io"
)

var (
	// ErrHeader is returned for data that is not a gzip member.
	ErrHeader = errors.New("invalid gzip header")
	// ErrChecksum is returned when a member's CRC-32 or length differs
	// from its trailer.
	ErrChecksum = errors.New("gzip checksum mismatch")
)

// gunzip decodes a series of gzip members (RFC 1952), as gzip -d and Go's
// compress/gzip do: one or more, each checked against its trailer.
type gunzip struct {
	f        *inflater
	started  bool // a member header has been read
	inMember bool
	done     bool // the input ended after a member
	crc      uint32
	size     uint32
}

// header reads a member header, or notes the end of the input after one.
func (z *gunzip) header() error {
	f := z.f
	if err := f.need(8); err != nil {
		return err
	}
	if f.nb == 0 {
		if z.started {
			z.done = true
			return nil
		}
		return io.ErrUnexpectedEOF
	}
	z.started = true
	var hcrc uint32 // CRC-32 of the header, for FHCRC
	next := func(n uint) (uint32, error) {
		v, err := f.bits(n)
		b := [4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
		hcrc = crc32.Update(hcrc, crc32.IEEETable, b[:n/8])
		return v, err
	}
	id, err := next(16) // ID1 ID2
	if err != nil || id != 0x8b1f {
		return errors.Join(ErrHeader, err)
	}
	cmflg, err := next(16) // CM FLG
	if err != nil {
		return err
	}
	if cmflg&0xff != 8 {
		return ErrHeader
	}
	flg := cmflg >> 8
	for _, n := range []uint{32, 16} { // MTIME; XFL OS
		if _, err := next(n); err != nil {
			return err
		}
	}
	if flg&4 != 0 { // FEXTRA
		xlen, err := next(16)
		if err != nil {
			return err
		}
		for range xlen {
			if _, err := next(8); err != nil {
				return err
			}
		}
	}
	for _, bit := range []uint32{8, 16} { // FNAME, FCOMMENT: zero-terminated
		for b := uint32(1); flg&bit != 0 && b != 0; {
			if b, err = next(8); err != nil {
				return err
			}
		}
	}
	if flg&2 != 0 { // FHCRC
		want := uint16(hcrc)
		if v, err := f.bits(16); err != nil || uint16(v) != want {
			return errors.Join(ErrHeader, err)
		}
	}
	z.inMember, z.crc, z.size = true, 0, 0
	f.state, f.final = stHeader, false
	return nil
}

func (z *gunzip) trailer() error {
	crc, err := z.f.bits(32)
	if err != nil {
		return err
	}
	size, err := z.f.bits(32)
	if err != nil {
		return err
	}
	if crc != z.crc || size != z.size {
		return ErrChecksum
	}
	z.inMember = false
	return nil
}

// decode continues the stream into out[op:], up to limit as inflater's
// decode does, and returns the new op and the lowest index matches may
// reach back to: a member starts with no history.
func (z *gunzip) decode(out []byte, op, lo, limit int) (int, int, error) {
	for op < limit && !z.done {
		if !z.inMember {
			if err := z.header(); err != nil {
				return op, lo, err
			}
			if z.done {
				break
			}
			lo = op
		}
		start := op
		var err error
		op, err = z.f.decode(out, op, lo, limit)
		z.crc = crc32.Update(z.crc, crc32.IEEETable, out[start:op])
		z.size += uint32(op - start)
		if err != nil {
			return op, lo, err
		}
		if z.f.state == stDone {
			if err := z.trailer(); err != nil {
				return op, lo, err
			}
		}
	}
	return op, lo, nil
}
