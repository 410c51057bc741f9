package inflate

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"math/rand"
	"testing"
)

func gz(t testing.TB, data []byte, hdr gzip.Header) []byte {
	var c bytes.Buffer
	w := gzip.NewWriter(&c)
	w.Header = hdr
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return c.Bytes()
}

// member wraps a raw deflate stream that decodes to want in a gzip member.
func member(t testing.TB, deflate []byte, want string) []byte {
	m := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}
	m = append(m, deflate...)
	m = binary.LittleEndian.AppendUint32(m, crc32IEEE([]byte(want)))
	return binary.LittleEndian.AppendUint32(m, uint32(len(want)))
}

// withHCRC sets FHCRC on a member and inserts its header CRC (or a wrong one).
func withHCRC(m []byte, hdrLen int, good bool) []byte {
	out := bytes.Clone(m[:hdrLen])
	out[3] |= 2
	crc := uint16(crc32IEEE(out))
	if !good {
		crc++
	}
	out = binary.LittleEndian.AppendUint16(out, crc)
	return append(out, m[hdrLen:]...)
}

func TestGunzip(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	a, b := sample(rng, 70000), sample(rng, 3<<20)
	ga := gz(t, a, gzip.Header{})
	gb := gz(t, b, gzip.Header{Name: "layer.tar", Comment: "c", Extra: []byte{1, 2, 3, 4}})
	badCRC := bytes.Clone(ga)
	badCRC[len(badCRC)-8]++
	badSize := bytes.Clone(ga)
	badSize[len(badSize)-4]++
	cat := func(p ...[]byte) []byte { return bytes.Join(p, nil) }
	tests := []struct {
		name string
		in   []byte
		want []byte
		err  error
	}{
		{"one member", ga, a, nil},
		{"name, comment, extra", gb, b, nil},
		{"members", cat(ga, gb, gz(t, nil, gzip.Header{}), ga), cat(a, b, a), nil},
		{"header CRC", withHCRC(ga, 10, true), a, nil},
		{"wrong header CRC", withHCRC(ga, 10, false), nil, ErrHeader},
		{"empty input", nil, nil, io.ErrUnexpectedEOF},
		{"not gzip", []byte("plain tar data"), nil, ErrHeader},
		{"wrong CRC-32", badCRC, nil, ErrChecksum},
		{"wrong length", badSize, nil, ErrChecksum},
		{"a member reaching into the one before", cat(ga, member(t, (&bitWriter{}).bits(1, 1).bits(1, 2).lenSym(257).code(0, 5).lenSym(256).b, "aaa")), nil, ErrCorrupt},
		{"trailing garbage", cat(ga, []byte("xx")), nil, ErrHeader},
		{"trailing zeros", cat(ga, make([]byte, 512)), nil, ErrHeader},
		{"cut in the trailer", ga[:len(ga)-3], nil, io.ErrUnexpectedEOF},
		{"cut in the header", gb[:14], nil, io.ErrUnexpectedEOF},
		{"cut in the second header", cat(ga, gb[:5]), nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := NewReader(bytes.NewReader(tt.in), 2)
			defer z.Close()
			got, err := io.ReadAll(z)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && !bytes.Equal(got, tt.want) {
				t.Fatalf("read %d bytes, want %d", len(got), len(tt.want))
			}
			// compress/gzip is the reference: it must agree.
			ref, rerr := gzip.NewReader(bytes.NewReader(tt.in))
			if rerr == nil {
				_, rerr = io.ReadAll(ref)
			}
			if (rerr == nil) != (err == nil) {
				t.Fatalf("compress/gzip: %v", rerr)
			}
		})
	}
}
