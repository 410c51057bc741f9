package inflate

import "math/bits"

// A decoding table maps the next bits of the stream (least significant
// first) to an entry:
//
//	value<<16 | kind | extra<<4 | n
//
// n is the number of code bits to consume; extra the number of extra bits
// that follow a length or distance code (for a subtable pointer, the
// subtable's index bits); value a literal byte, a length or distance base,
// a code-length symbol, or a subtable's offset in the same slice.
const (
	kLiteral = 0 << 8
	kBase    = 1 << 8 // a length or distance base, or a code-length symbol
	kEnd     = 2 << 8 // end of block
	kSub     = 3 << 8 // look up the next bits in a subtable
	kInvalid = 4 << 8 // no such code, or a symbol deflate does not allow
	kindMask = 7 << 8
)

// Primary table index bits; longer codes go through one subtable per
// primary prefix. 11 and 8 were the fastest on the benchmark layer.
const (
	litBits  = 11
	distBits = 8
	litMask  = 1<<litBits - 1
	distMask = 1<<distBits - 1
)

// Table sizes that hold any code of 288 or 32 symbols of up to 15 bits.
const (
	litTableSize  = 1<<litBits + 288<<(15-litBits)
	distTableSize = 1<<distBits + 32<<(15-distBits)
)

var (
	lenBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distXtra = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// clOrder is the order code-length code lengths are sent in.
	clOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// litSym is the entry of literal/length symbol s; 286 and 287 are invalid.
func litSym(s int) uint32 {
	switch {
	case s < 256:
		return uint32(s)<<16 | kLiteral
	case s == 256:
		return kEnd
	case s < 286:
		return uint32(lenBase[s-257])<<16 | kBase | uint32(lenExtra[s-257])<<4
	}
	return kInvalid
}

// distSym is the entry of distance symbol s; 30 and 31 are invalid.
func distSym(s int) uint32 {
	if s < 30 {
		return uint32(distBase[s])<<16 | kBase | uint32(distXtra[s])<<4
	}
	return kInvalid
}

func clSym(s int) uint32 { return uint32(s)<<16 | kBase }

// build fills table with the canonical Huffman code given by lens (RFC 1951
// 3.2.2), primary bits directly and longer codes through subtables. Like
// zlib and Go's compress/flate it accepts complete codes, the empty code
// and a single code of length 1, and reports false for any other;
// unassigned bit patterns decode as kInvalid.
func build(table []uint32, lens []uint8, primary uint, sym func(int) uint32) bool {
	var count [16]int
	maxLen := uint(0)
	for _, l := range lens {
		count[l&15]++
		maxLen = max(maxLen, uint(l))
	}
	if maxLen > 15 {
		return false
	}
	count[0] = 0
	for i := range table[:1<<primary] {
		table[i] = kInvalid
	}
	if maxLen == 0 {
		return true
	}
	left := 1
	var next [16]uint32
	code := uint32(0)
	for l := 1; l <= 15; l++ {
		if left = left<<1 - count[l]; left < 0 {
			return false // over-subscribed
		}
		code = (code + uint32(count[l-1])) << 1
		next[l] = code
	}
	if left > 0 && !(maxLen == 1 && count[1] == 1) {
		return false // incomplete
	}
	subBits := uint(0)
	if maxLen > primary {
		subBits = maxLen - primary
	}
	end := 1 << primary
	for s, l := range lens {
		if l == 0 {
			continue
		}
		rev := uint32(bits.Reverse16(uint16(next[l]))) >> (16 - l)
		next[l]++
		e := sym(s)
		if uint(l) <= primary {
			for i := rev; i < 1<<primary; i += 1 << l {
				table[i] = e | uint32(l)
			}
			continue
		}
		p := rev & (1<<primary - 1)
		if table[p]&kindMask != kSub {
			if end+1<<subBits > len(table) {
				return false
			}
			table[p] = uint32(end)<<16 | kSub | uint32(subBits)<<4 | uint32(primary)
			for i := end; i < end+1<<subBits; i++ {
				table[i] = kInvalid
			}
			end += 1 << subBits
		}
		base, n := table[p]>>16, uint(l)-primary
		for i := rev >> primary; i < 1<<subBits; i += 1 << n {
			table[base+i] = e | uint32(n)
		}
	}
	return true
}

// The fixed code of block type 1 (RFC 1951 3.2.6).
var fixedLit, fixedDist = func() (*[litTableSize]uint32, *[distTableSize]uint32) {
	var l [288]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	var d [32]uint8
	for i := range d {
		d[i] = 5
	}
	lt, dt := new([litTableSize]uint32), new([distTableSize]uint32)
	if !build(lt[:], l[:], litBits, litSym) || !build(dt[:], d[:], distBits, distSym) {
		panic("inflate: fixed code")
	}
	return lt, dt
}()
