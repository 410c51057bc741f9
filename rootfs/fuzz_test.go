package rootfs

// FuzzApply feeds arbitrary bytes to Apply, as one or two layers, and
// asserts that nothing outside the root changed and nothing panicked.
// Without -fuzz it runs the seeds below as an ordinary test.
//
//	go test -run XXX -fuzz FuzzApply -fuzztime 60s ./rootfs
//
// Each new interesting input is minimized for up to a minute by default,
// during which the counts stand still; -fuzzminimizetime 3s keeps a short
// run fuzzing. Run it unprivileged too (go test -c -fuzz FuzzApply, then
// the binary with -test.fuzz as another user): the applier takes other
// paths there.

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// joinLayers encodes two layers as one fuzz input: a big-endian uint16
// length of the first, the first, then the second.
func joinLayers(l1, l2 []byte) []byte {
	out := binary.BigEndian.AppendUint16(nil, uint16(len(l1)))
	return append(append(out, l1...), l2...)
}

// splitLayers undoes joinLayers; an input whose prefix does not fit is one
// layer.
func splitLayers(data []byte) [][]byte {
	if len(data) >= 2 {
		if n := int(binary.BigEndian.Uint16(data)); n <= len(data)-2 {
			return [][]byte{data[2 : 2+n], data[2+n:]}
		}
	}
	return [][]byte{data}
}

// fixChecksums returns a copy of a tar stream with every header's checksum
// recomputed, following the headers by their size fields. Mutated headers
// then reach the applier instead of stopping at the tar reader's
// "invalid header"; what cannot be followed is left as it is.
func fixChecksums(in []byte) []byte {
	b := append([]byte(nil), in...)
	for off := 0; off+512 <= len(b); {
		blk := b[off : off+512]
		if bytes.Count(blk, []byte{0}) == 512 {
			off += 512
			continue
		}
		copy(blk[148:156], "        ")
		sum := 0
		for _, c := range blk {
			sum += int(c)
		}
		copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
		size, ok := tarNumber(blk[124:136])
		if !ok || size < 0 || size > int64(len(b)) {
			break
		}
		typ := blk[156]
		off += 512
		if typ == tar.TypeGNUSparse && blk[482] != 0 { // old GNU sparse map extensions
			for off+512 <= len(b) {
				ext := b[off : off+512]
				off += 512
				if ext[504] == 0 {
					break
				}
			}
		}
		switch typ {
		case tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeDir, tar.TypeFifo:
		default:
			off += int(size+511) / 512 * 512
		}
	}
	return b
}

// tarNumber parses a tar numeric field: octal, or GNU base-256.
func tarNumber(f []byte) (int64, bool) {
	if len(f) > 0 && f[0]&0x80 != 0 {
		var v int64
		for i, c := range f {
			if i == 0 {
				c &= 0x7f
			}
			if v > (1<<55)-1 {
				return 0, false
			}
			v = v<<8 | int64(c)
		}
		return v, true
	}
	s := strings.Trim(string(f), " \x00")
	if s == "" {
		return 0, true
	}
	v, err := strconv.ParseInt(s, 8, 64)
	return v, err == nil
}

func FuzzApply(f *testing.F) {
	seeds := [][2][]ent{
		{{symlink("evil", "../outside"), file("evil/pwn", "x")}, {file("evil/secret", "x"), whiteoutOf("evil", "sub")}},
		{{symlink("r", "/"), symlink("up", "../../.."), file("up/outside/x", "x")}, {file("up/outside/.wh..wh..opq", ""), file("r/../.wh.outside", "")}},
		{{file("a", "1"), hardlink("b", "a"), hardlink("h", "../outside/secret")}, {file("b", "new"), hardlink("c", "/../b")}},
		{{withMode(dir("ro"), 0555), file("ro/f", "f"), withMode(file("ro/z", "z"), 0)}, {whiteoutOf("ro", "f"), file("../ro/g", "g"), file("ro/.wh..", "")}},
		{{symlink("d", "../outside"), fifo("d/p")}, {withMode(dir("d"), 0700), fifo("d/sub/p"), chardev("d/null")}},
		{{symlink("lib", "usr/lib"), dir("usr/lib")}, {file("lib/x", "x"), symlink("loop", "loop"), file("loop/x", "x")}},
		{{oldGNUSparse("sparse", 4096, [][2]int64{{0, 3}, {1000, 2}}, "abcde"), file(StateDirName+"/x", "x")}, {file("sparse/x", "x"), symlink("s", StateDirName)}},
		{{globalHeader("../../g", map[string]string{"path": "../../evil"}), file("f", "1")}, {dir("f"), file("f", "2")}},
	}
	for _, s := range seeds {
		f.Add(joinLayers(layerTar(f, s[0]...), layerTar(f, s[1]...)))
	}
	f.Add(layerTar(f, symlink("x", "/"), file("x/../../outside/secret", "pwn")))
	// One sandbox per fuzzing process, the root emptied between inputs:
	// a fresh sandbox per input would be most of the cost of an input.
	base := f.TempDir()
	var (
		once           sync.Once
		root, sentinel string
		want           map[string]string
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		once.Do(func() {
			root, sentinel, _ = sandboxIn(t, base)
			want = snapshot(t, sentinel)
		})
		makeRemovable(root)
		if err := os.RemoveAll(root); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(root, 0755); err != nil {
			t.Fatal(err)
		}
		// A few hundred bytes can claim an enormous sparse file: the
		// deadline keeps each input short (Apply checks it per block).
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		for _, l := range splitLayers(data) {
			Apply(ctx, root, bytes.NewReader(fixChecksums(l))) // errors are fine; escapes are not
		}
		if got := snapshot(t, sentinel); !equalTrees(got, want) {
			t.Fatalf("outside the root changed:\n%s", diffTrees(got, want))
		}
		names, err := os.ReadDir(base)
		if err != nil {
			t.Fatal(err)
		}
		if len(names) != 2 {
			t.Fatalf("%d names beside the root, want only root and outside: %v", len(names), names)
		}
	})
	makeRemovable(base)
}

// TestFixChecksums: a header changed after the fact reads again once
// fixChecksums has been over it, and the entries after it too.
func TestFixChecksums(t *testing.T) {
	b := layerTar(t, file("a", "12345"), symlink("l", "a"), oldGNUSparse("s", 100, [][2]int64{{0, 1}}, "x"), file("z", "z"))
	b[0] = 'b' // rename "a"
	if _, err := tar.NewReader(bytes.NewReader(b)).Next(); err == nil {
		t.Fatal("a damaged header read without error")
	}
	tr := tar.NewReader(bytes.NewReader(fixChecksums(b)))
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	if got := strings.Join(names, " "); got != "b l s z" {
		t.Errorf("entries %q, want \"b l s z\"", got)
	}
}
