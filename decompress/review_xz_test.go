package decompress

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand"
	"os/exec"
	"testing"
	"time"
)

// handBlock is a block of a hand-made xz stream (check type none).
type handBlock struct {
	dict  byte   // LZMA2 dictionary size code (28: 64 MiB, 37: 1.5 GiB)
	data  []byte // stored in uncompressed LZMA2 chunks
	sizes bool   // the header gives the sizes, as multithreaded xz does
}

func uvarint(b []byte, x uint64) []byte { return binary.AppendUvarint(b, x) }

// handXz builds an xz stream as the format spec lays it out, so that a
// test can declare any dictionary size.
func handXz(blocks ...handBlock) []byte {
	le32 := func(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
	out := append([]byte{}, 0xfd, '7', 'z', 'X', 'Z', 0, 0, 0)
	out = le32(out, crc32.ChecksumIEEE([]byte{0, 0}))
	var index []byte
	for _, b := range blocks {
		var lz []byte
		for i, rest := 0, b.data; len(rest) > 0; i++ {
			n := min(len(rest), 64<<10)
			ctl := byte(2)
			if i == 0 {
				ctl = 1 // dictionary reset
			}
			lz = append(lz, ctl, byte((n-1)>>8), byte(n-1))
			lz = append(lz, rest[:n]...)
			rest = rest[n:]
		}
		lz = append(lz, 0)
		h := []byte{0, 0}
		if b.sizes {
			h[1] = 0xc0
			h = uvarint(h, uint64(len(lz)))
			h = uvarint(h, uint64(len(b.data)))
		}
		h = append(h, 0x21, 1, b.dict)
		for (len(h)+4)%4 != 0 {
			h = append(h, 0)
		}
		h[0] = byte((len(h)+4)/4 - 1)
		h = le32(h, crc32.ChecksumIEEE(h))
		blk := append(h, lz...)
		for len(blk)%4 != 0 {
			blk = append(blk, 0)
		}
		out = append(out, blk...)
		index = uvarint(index, uint64(len(h)+len(lz)))
		index = uvarint(index, uint64(len(b.data)))
	}
	idx := append([]byte{0}, uvarint(nil, uint64(len(blocks)))...)
	idx = append(idx, index...)
	for len(idx)%4 != 0 {
		idx = append(idx, 0)
	}
	idx = le32(idx, crc32.ChecksumIEEE(idx))
	out = append(out, idx...)
	foot := le32(nil, uint32(len(idx)/4-1))
	foot = append(foot, 0, 0)
	out = le32(out, crc32.ChecksumIEEE(foot))
	return append(append(out, foot...), 'Y', 'Z')
}

func readXz(t *testing.T, blob []byte) ([]byte, error) {
	t.Helper()
	r, _, err := NewReader("application/vnd.oci.image.layer.v1.tar", bytes.NewReader(blob))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// A block declaring a 1.5 GiB dictionary, long enough that its size is not
// known from its first 64 KiB, is refused before the decoder allocates the
// dictionary (which ulikunitz/xz does as soon as it has read the header).
func TestReviewXzHugeDictionaryRefusedBeforeAllocation(t *testing.T) {
	data := make([]byte, 1<<20)
	rand.New(rand.NewSource(1)).Read(data)
	blob := handXz(handBlock{dict: 37, data: data})
	var err error
	n := allocated(func() { _, err = readXz(t, blob) })
	if n > 64<<20 {
		t.Errorf("reading an xz stream that declares a 1.5 GiB dictionary allocated %d MiB", n>>20)
	}
	if !errors.Is(err, ErrXzDict) {
		t.Errorf("err = %v, want ErrXzDict", err)
	}
}

// Blocks that each declare a 64 MiB dictionary but hold next to nothing
// (16 bytes each): the decoder allocated 64 MiB for each, so a small file
// cost gigabytes of allocation and seconds of CPU per kilobyte. Each
// dictionary is now the block's size.
func TestReviewXzTinyBlocksDoNotEachAllocateTheirDictionary(t *testing.T) {
	for _, sizes := range []bool{false, true} {
		var blocks []handBlock
		var want []byte
		for i := range 300 {
			blocks = append(blocks, handBlock{dict: 28, data: []byte{byte(i)}, sizes: sizes})
			want = append(want, byte(i))
		}
		blob := handXz(blocks...)
		var got []byte
		var err error
		start := time.Now()
		n := allocated(func() { got, err = readXz(t, blob) })
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("sizes in headers %v: read %d bytes, %v", sizes, len(got), err)
		}
		if n > 64<<20 {
			t.Errorf("sizes in headers %v: %d bytes of xz allocated %d MiB in %v", sizes, len(blob), n>>20, time.Since(start))
		}
	}
}

// A dictionary larger than the cap is fine when the block is small: the
// guard lowers it to the block's size, so the data still decodes.
func TestReviewXzLargeDictionarySmallBlockDecodes(t *testing.T) {
	data := bytes.Repeat([]byte("small block "), 100)
	for _, sizes := range []bool{false, true} {
		got, err := readXz(t, handXz(handBlock{dict: 40, data: data, sizes: sizes}))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("sizes in headers %v: read %d bytes, %v", sizes, len(got), err)
		}
	}
}

// What the xz tool writes still decodes, byte for byte, with little
// allocation: one and several threads, small blocks, every check,
// concatenated streams and stream padding.
func TestReviewXzRealOutputDecodes(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("no xz")
	}
	rnd := make([]byte, 1<<20)
	rand.New(rand.NewSource(2)).Read(rnd)
	text := bytes.Repeat([]byte("root:x:0:0:root:/root:/bin/sh\n"), 60000)
	zeros := make([]byte, 4<<20)
	mixed := append(append(append([]byte{}, text[:500000]...), rnd...), zeros...)
	xz := func(data []byte, args ...string) []byte {
		cmd := exec.Command("xz", append([]string{"-c"}, args...)...)
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("xz %v: %v", args, err)
		}
		return out
	}
	cases := []struct {
		name string
		data []byte
		args []string
	}{
		{"empty", nil, []string{"-6"}},
		{"-0", mixed, []string{"-0"}},
		{"-6", mixed, []string{"-6"}},
		{"-9e", mixed, []string{"-9e"}},
		{"-9 -T2 small blocks", mixed, []string{"-9", "-T2", "--block-size=64KiB"}},
		{"-9 -T1 small blocks", mixed, []string{"-9", "-T1", "--block-size=64KiB"}},
		{"-6 -T2 1MiB blocks", mixed, []string{"-6", "-T2", "--block-size=1MiB"}},
		{"-9 zeros -T2 small blocks", zeros, []string{"-9", "-T2", "--block-size=64KiB"}},
		{"-9 zeros -T1 small blocks", zeros, []string{"-9", "-T1", "--block-size=64KiB"}},
		{"check none", text, []string{"--check=none"}},
		{"check crc32", text, []string{"--check=crc32"}},
		{"check sha256", text, []string{"--check=sha256"}},
		{"random", rnd, []string{"-6", "-T2", "--block-size=300KiB"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			blob := xz(c.data, c.args...)
			var got []byte
			var err error
			n := allocated(func() { got, err = readXz(t, blob) })
			if err != nil || !bytes.Equal(got, c.data) {
				t.Fatalf("read %d of %d bytes: %v", len(got), len(c.data), err)
			}
			if n > 400<<20 {
				t.Errorf("allocated %d MiB to decode %d bytes of xz", n>>20, len(blob))
			}
		})
	}
	t.Run("concatenated with padding", func(t *testing.T) {
		a, b := xz(text[:100000], "-1"), xz(rnd[:100000], "-9", "-T2", "--block-size=16KiB")
		blob := append(append(append(append([]byte{}, a...), 0, 0, 0, 0, 0, 0, 0, 0), b...), 0, 0, 0, 0)
		got, err := readXz(t, blob)
		want := append(append([]byte{}, text[:100000]...), rnd[:100000]...)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read %d of %d bytes: %v", len(got), len(want), err)
		}
	})
	// (The first 6 bytes are the magic: without it, the bytes are taken
	// as the plain tar the media type says.)
	t.Run("damaged", func(t *testing.T) {
		blob := xz(mixed, "-6", "-T2", "--block-size=256KiB")
		for _, at := range []int{7, 12, 13, 20, len(blob) / 2, len(blob) - 30, len(blob) - 10, len(blob) - 1} {
			bad := append([]byte{}, blob...)
			bad[at] ^= 0x55
			if got, err := readXz(t, bad); err == nil && sha256.Sum256(got) != sha256.Sum256(mixed) {
				t.Errorf("a byte changed at %d: read %d bytes without error", at, len(got))
			}
		}
		for _, n := range []int{6, 12, 13, 24, 100, len(blob) / 2, len(blob) - 1} {
			if _, err := readXz(t, blob[:n]); err == nil {
				t.Errorf("cut to %d bytes: read without error", n)
			}
		}
		if _, err := readXz(t, append(append([]byte{}, blob...), 0, 0, 0)); err == nil {
			t.Errorf("3 bytes of padding read without error")
		}
	})
}

// The guard never panics, hangs or lets a large dictionary through,
// whatever the bytes.
func FuzzReviewXzGuard(f *testing.F) {
	f.Add(handXz(handBlock{dict: 28, data: []byte("abc"), sizes: true}, handBlock{dict: 0, data: []byte("d")}))
	f.Add(handXz(handBlock{dict: 40, data: bytes.Repeat([]byte("x"), 3000)}))
	if _, err := exec.LookPath("xz"); err == nil {
		for _, args := range [][]string{{"-9", "-T2", "--block-size=4KiB"}, {"-1", "--check=sha256"}} {
			cmd := exec.Command("xz", append([]string{"-c"}, args...)...)
			cmd.Stdin = bytes.NewReader(bytes.Repeat([]byte("fuzz me "), 1000))
			if out, err := cmd.Output(); err == nil {
				f.Add(out)
			}
		}
	}
	f.Fuzz(func(t *testing.T, blob []byte) {
		if len(blob) > 16<<10 {
			return // keeps the fuzzer's minimising quick
		}
		r, err := newXzReaderForFuzz(blob)
		if err != nil {
			return
		}
		n := allocated(func() { io.Copy(io.Discard, io.LimitReader(r, 64<<20)) })
		if n > 256<<20 {
			t.Errorf("%d bytes of xz allocated %d MiB", len(blob), n>>20)
		}
	})
}

func newXzReaderForFuzz(blob []byte) (io.Reader, error) {
	if !bytes.HasPrefix(blob, xzMagic) {
		return nil, errors.New("not xz")
	}
	r, _, err := NewReader("application/vnd.oci.image.layer.v1.tar", bytes.NewReader(blob))
	return r, err
}
