package rootfs

// Helpers shared by the applier's tests: tar layers built in Go, a sandbox
// with a sentinel directory beside the root, and a compact description of
// a directory tree to compare against.

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ent is one tar entry for a test layer.
type ent struct {
	name, body, link string
	typ              byte
	mode             int64
	uid, gid         int
	major, minor     int64
	pax              map[string]string
	format           tar.Format // PAX unless set
	raw              []byte     // written as is instead of a header (hand-made entries)
}

func file(name, body string) ent { return ent{name: name, body: body, typ: tar.TypeReg, mode: 0644} }
func dir(name string) ent        { return ent{name: name, typ: tar.TypeDir, mode: 0755} }
func symlink(name, target string) ent {
	return ent{name: name, link: target, typ: tar.TypeSymlink, mode: 0777}
}
func hardlink(name, target string) ent {
	return ent{name: name, link: target, typ: tar.TypeLink, mode: 0644}
}
func withMode(e ent, m int64) ent       { e.mode = m; return e }
func withOwner(e ent, uid, gid int) ent { e.uid, e.gid = uid, gid; return e }
func withFormat(e ent, f tar.Format) ent {
	e.format = f
	return e
}
func fifo(name string) ent { return ent{name: name, typ: tar.TypeFifo, mode: 0644} }
func chardev(name string) ent {
	return ent{name: name, typ: tar.TypeChar, mode: 0666, major: 1, minor: 3}
}
func blockdev(name string) ent {
	return ent{name: name, typ: tar.TypeBlock, mode: 0660, major: 7, minor: 0}
}
func whiteoutOf(dir, name string) ent { return file(filepath.Join(dir, ".wh."+name), "") }
func opaqueIn(dir string) ent         { return file(filepath.Join(dir, ".wh..wh..opq"), "") }

// globalHeader is a PAX global header ('g'), which must be skipped before
// anything is done with its name or records.
func globalHeader(name string, records map[string]string) ent {
	return ent{name: name, typ: tar.TypeXGlobalHeader, pax: records}
}

var testTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func layerTar(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		if e.raw != nil {
			if err := tw.Flush(); err != nil {
				t.Fatal(err)
			}
			buf.Write(e.raw)
			continue
		}
		format := e.format
		if format == 0 {
			format = tar.FormatPAX
		}
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode,
			Uid: e.uid, Gid: e.gid, Devmajor: e.major, Devminor: e.minor, ModTime: testTime, PAXRecords: e.pax, Format: format}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if e.typ == tar.TypeXGlobalHeader {
			h = &tar.Header{Name: e.name, Typeflag: e.typ, PAXRecords: e.pax, Format: tar.FormatPAX}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// oldGNUSparse builds an old-GNU sparse entry (type 'S'), which Go's tar
// writer cannot make: the header holds the sparse map (up to four
// fragments, offset → data) and realsize; the archive holds only the data.
func oldGNUSparse(name string, size int64, frags [][2]int64, data string) ent {
	if len(frags) > 4 {
		panic("oldGNUSparse: at most 4 fragments")
	}
	var blk [512]byte
	octal := func(b []byte, v int64) {
		s := strconv.FormatInt(v, 8)
		s = strings.Repeat("0", len(b)-1-len(s)) + s
		copy(b, s)
	}
	copy(blk[0:100], name)
	octal(blk[100:108], 0644)
	octal(blk[108:116], 0)
	octal(blk[116:124], 0)
	octal(blk[124:136], int64(len(data))) // bytes in the archive
	octal(blk[136:148], testTime.Unix())
	blk[156] = tar.TypeGNUSparse
	copy(blk[257:263], "ustar ")
	copy(blk[263:265], " \x00")
	for i, f := range frags {
		off := 386 + i*24
		octal(blk[off:off+12], f[0])
		octal(blk[off+12:off+24], f[1])
	}
	if size < 1<<33 {
		octal(blk[483:495], size) // realsize
	} else { // base-256, as GNU tar writes large numbers
		blk[483] = 0x80
		binary.BigEndian.PutUint64(blk[487:495], uint64(size))
	}
	copy(blk[148:156], "        ")
	var sum int64
	for _, b := range blk {
		sum += int64(b)
	}
	copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
	raw := append(blk[:], data...)
	if pad := len(data) % 512; pad != 0 {
		raw = append(raw, make([]byte, 512-pad)...)
	}
	return ent{raw: raw}
}

// tree describes a directory: path → "d 755", "f 644 body", "l target",
// "p 644" (fifo), "c 666"/"b 660" (devices), "s" (socket). Owners are left
// out (see treeOwners).
func tree(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	// Unprivileged, a dir without owner read/search is opened up for the
	// walk (its own mode is reported) and closed again after it.
	var reopen []func()
	defer func() {
		for i := len(reopen) - 1; i >= 0; i-- {
			reopen[i]()
		}
	}()
	walkEntries(t, root, func(rel, p string, fi fs.FileInfo) error {
		if rel == "." {
			return nil
		}
		perm := permBits(fi)
		switch {
		case fi.IsDir():
			out[rel] = fmt.Sprintf("d %o", perm)
			if !isRoot() && perm&0500 != 0500 {
				if err := os.Chmod(p, perm|0700); err != nil {
					return err
				}
				reopen = append(reopen, func() { os.Chmod(p, perm) })
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "l " + l
		case fi.Mode()&fs.ModeNamedPipe != 0:
			out[rel] = fmt.Sprintf("p %o", perm)
		case fi.Mode()&fs.ModeCharDevice != 0:
			out[rel] = fmt.Sprintf("c %o", perm)
		case fi.Mode()&fs.ModeDevice != 0:
			out[rel] = fmt.Sprintf("b %o", perm)
		case fi.Mode()&fs.ModeSocket != 0:
			out[rel] = "s"
		default:
			b, err := readAsOwner(p, fi)
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("f %o %s", perm, b)
		}
		return nil
	})
	return out
}

// walkEntries calls fn for root and everything under it but the tool's
// state directory, with the path relative to root and its Lstat; any
// error fails the test.
func walkEntries(t testing.TB, root string, fn func(rel, p string, fi fs.FileInfo) error) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == StateDirName {
			return filepath.SkipDir
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		return fn(rel, p, fi)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// permBits is the permission part of a mode with setuid/setgid/sticky in
// their octal places.
func permBits(fi fs.FileInfo) fs.FileMode {
	perm := fi.Mode().Perm()
	if fi.Mode()&fs.ModeSetuid != 0 {
		perm |= 04000
	}
	if fi.Mode()&fs.ModeSetgid != 0 {
		perm |= 02000
	}
	if fi.Mode()&fs.ModeSticky != 0 {
		perm |= 01000
	}
	return perm
}

// treeOwners maps every path under root to "uid:gid".
func treeOwners(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	walkEntries(t, root, func(rel, _ string, fi fs.FileInfo) error {
		if rel != "." {
			st := fi.Sys().(*syscall.Stat_t)
			out[rel] = fmt.Sprintf("%d:%d", st.Uid, st.Gid)
		}
		return nil
	})
	return out
}

// readAsOwner reads a file even when its mode is 0000 and we are not root.
func readAsOwner(p string, fi fs.FileInfo) ([]byte, error) {
	if fi.Mode().Perm()&0400 == 0 && os.Geteuid() != 0 {
		os.Chmod(p, fi.Mode().Perm()|0400)
		defer os.Chmod(p, fi.Mode().Perm())
	}
	return os.ReadFile(p)
}

func applyLayers(t testing.TB, root string, layers ...[]ent) (Stats, error) {
	t.Helper()
	var total Stats
	for i, l := range layers {
		st, err := Apply(context.Background(), root, bytes.NewReader(layerTar(t, l...)))
		total.Add(st)
		if err != nil {
			return total, fmt.Errorf("layer %d: %w", i, err)
		}
	}
	return total, nil
}

// sandbox makes root and, beside it, a sentinel directory "outside" with
// files, so every test can assert with check that nothing outside the root
// changed: not the sentinel's tree, owners, modes or mtimes, and no new
// name beside the root.
func sandbox(t testing.TB) (root string, check func()) {
	t.Helper()
	root, _, check = sandboxIn(t, t.TempDir())
	return root, check
}

// sandboxIn is sandbox in a given base directory (root's parent).
func sandboxIn(t testing.TB, base string) (root, sentinel string, check func()) {
	t.Helper()
	root = filepath.Join(base, "root")
	sentinel = filepath.Join(base, "outside")
	for _, d := range []string{root, sentinel, filepath.Join(sentinel, "sub")} {
		if err := os.Mkdir(d, 0755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(sentinel, "secret"), filepath.Join(sentinel, "sub", "x")} {
		if err := os.WriteFile(f, []byte("keep"), 0644); err != nil {
			t.Fatal(err)
		}
	}
	// Old times, so that any write through shows as a changed mtime.
	old := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range []string{filepath.Join(sentinel, "sub", "x"), filepath.Join(sentinel, "sub"), filepath.Join(sentinel, "secret"), sentinel} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	want := snapshot(t, sentinel)
	t.Cleanup(func() { makeRemovable(base) })
	return root, sentinel, func() {
		t.Helper()
		if got := snapshot(t, sentinel); !equalTrees(got, want) {
			t.Errorf("outside the root changed:\n%s", diffTrees(got, want))
		}
		names, err := os.ReadDir(base)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if n.Name() != "root" && n.Name() != "outside" {
				t.Errorf("%s was created beside the root", n.Name())
			}
		}
	}
}

// snapshot is tree plus owners and mtimes (and the directory itself).
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := tree(t, dir)
	owners := treeOwners(t, dir)
	for p := range out {
		fi, err := os.Lstat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		out[p] += fmt.Sprintf(" [%s %d]", owners[p], fi.ModTime().UnixNano())
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		t.Fatal(err)
	}
	out["."] = fmt.Sprintf("d %o [%d]", permBits(fi), fi.ModTime().UnixNano())
	return out
}

// makeRemovable lets t.TempDir's cleanup remove read-only test trees.
func makeRemovable(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			os.Chmod(p, 0755)
		}
		return nil
	})
}

func equalTrees(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func diffTrees(got, want map[string]string) string {
	var keys []string
	seen := map[string]bool{}
	for k := range got {
		keys, seen[k] = append(keys, k), true
	}
	for k := range want {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case !gok:
			fmt.Fprintf(&b, "  %s: missing, want %q\n", k, w)
		case !wok:
			fmt.Fprintf(&b, "  %s: got %q, want nothing\n", k, g)
		case g != w:
			fmt.Fprintf(&b, "  %s: got %q, want %q\n", k, g, w)
		}
	}
	return b.String()
}

// merge returns a copy of base with over's entries added; an empty value
// in over removes the path.
func merge(base, over map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// isRoot says whether this test process may chown and mknod: the
// expectations of ownership and device tests depend on it.
// openFDs counts the process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	names, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}

func isRoot() bool { return os.Geteuid() == 0 }
