package export_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rootfs-pull/rootfs-pull/export"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// forgeRaw writes meta, then raw tar blocks (entries Go's tar writer
// cannot make), then a trailer claiming trailer, as a gzip archive.
func forgeRaw(t *testing.T, meta []*entry, raw []byte, trailer export.Trailer) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range meta {
		tw.WriteHeader(e.h)
		tw.Write(e.body)
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	buf.Write(raw)
	tw = tar.NewWriter(&buf)
	b, _ := json.Marshal(trailer)
	tw.WriteHeader(&tar.Header{Name: ".rootfs-pull-export/end.json", Typeflag: tar.TypeReg, Mode: 0644, Size: int64(len(b))})
	tw.Write(b)
	tw.Close()
	file := filepath.Join(tmp(t), "forged-raw.tar.gz")
	if err := os.WriteFile(file, testimage.Compress(buf.Bytes(), testimage.Gzip), 0644); err != nil {
		t.Fatal(err)
	}
	return file
}

// ustar is one header block; typ is its type flag, size its size field.
func ustar(name string, typ byte, size int64, extra func(blk []byte)) []byte {
	blk := make([]byte, 512)
	octal := func(b []byte, v int64) {
		s := fmt.Sprintf("%o", v)
		copy(b, strings.Repeat("0", len(b)-1-len(s))+s)
	}
	copy(blk[0:100], name)
	octal(blk[100:108], 0644)
	octal(blk[108:116], 0)
	octal(blk[116:124], 0)
	octal(blk[124:136], size)
	octal(blk[136:148], mtime.Unix())
	blk[156] = typ
	copy(blk[257:263], "ustar\x00")
	copy(blk[263:265], "00")
	if extra != nil {
		extra(blk)
	}
	copy(blk[148:156], "        ")
	var sum int64
	for _, b := range blk {
		sum += int64(b)
	}
	copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return blk
}

func pad512(b []byte) []byte {
	if n := len(b) % 512; n != 0 {
		b = append(b, make([]byte, 512-n)...)
	}
	return b
}

// paxSparseEntry is a PAX 0.1 GNU sparse entry: data at offset 0, then a
// hole up to size.
func paxSparseEntry(name string, size int64, data string) []byte {
	rec := func(k, v string) string {
		n := len(k) + len(v) + 3
		n += len(fmt.Sprint(n))
		r := fmt.Sprintf("%d %s=%s\n", n, k, v)
		if len(r) != n {
			r = fmt.Sprintf("%d %s=%s\n", len(r), k, v)
		}
		return r
	}
	records := rec("GNU.sparse.size", fmt.Sprint(size)) + rec("GNU.sparse.numblocks", "1") +
		rec("GNU.sparse.map", fmt.Sprintf("0,%d", len(data)))
	out := ustar(name+".pax", 'x', int64(len(records)), nil)
	out = append(out, pad512([]byte(records))...)
	out = append(out, ustar(name, '0', int64(len(data)), nil)...)
	return append(out, pad512([]byte(data))...)
}

// oldGNUSparseEntry is an old GNU sparse entry (type 'S'): data at
// offset 0, realsize size.
func oldGNUSparseEntry(name string, size int64, data string) []byte {
	out := ustar(name, 'S', int64(len(data)), func(blk []byte) {
		copy(blk[257:263], "ustar ")
		copy(blk[263:265], " \x00")
		copy(blk[386:398], fmt.Sprintf("%011o", 0))
		copy(blk[398:410], fmt.Sprintf("%011o", len(data)))
		blk[483] = 0x80 // base-256 realsize
		binary.BigEndian.PutUint64(blk[487:495], uint64(size))
	})
	return append(out, pad512([]byte(data))...)
}

// TestReviewRestoreSparseBounded: the applier bounds what a sparse entry
// may expand to by the layer's bytes (64x plus 1 GiB), but a restore
// hands the applier the archive's tree re-written by archive/tar, which
// expands the holes into zeros and drops the sparse records: the entry
// reaches the applier as a plain file whose zeros count as layer bytes,
// so the bound never trips. A 1 KiB archive claiming a 1 PiB sparse file
// then streamed zeros until the context ended: unbounded work from a
// tiny hostile file. It must be refused at once (an export never holds a
// sparse entry: holes are written as zeros).
func TestReviewRestoreSparseBounded(t *testing.T) {
	_, _, dir := pullRich(t)
	meta := metaOf(t, dir)
	root := ustar("rootfs/", '5', 0, nil)
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"pax", append(root, paxSparseEntry("rootfs/huge", 1<<50, "x")...)},
		{"old-gnu", append(root, oldGNUSparseEntry("rootfs/huge", 1<<50, "x")...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := forgeRaw(t, meta, tc.raw, export.Trailer{Entries: 2, Bytes: 1 << 50})
			src, err := export.Open(file, "")
			if err != nil {
				t.Fatal(err)
			}
			dir2 := filepath.Join(tmp(t), "r")
			c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			_, err = pull.PullFrom(c, src, pull.Options{Image: file, Dir: dir2, Launcher: "-"})
			took := time.Since(start)
			if err == nil {
				t.Fatal("a sparse entry of 1 PiB restored")
			}
			if errors.Is(err, context.DeadlineExceeded) || took > 10*time.Second {
				t.Fatalf("restore ran %v (%v): a 1 PiB sparse entry is streamed as zeros, not refused", took.Round(time.Second), err)
			}
			t.Logf("refused: %v", err)
			if st, err := rootfs.LoadState(dir2); err == nil && st.Status == rootfs.StatusReady {
				t.Error("ready")
			}
		})
	}
}
