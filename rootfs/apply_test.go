package rootfs

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
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
func fifo(name string) ent              { return ent{name: name, typ: tar.TypeFifo, mode: 0644} }
func chardev(name string) ent {
	return ent{name: name, typ: tar.TypeChar, mode: 0666, major: 1, minor: 3}
}
func whiteoutOf(dir, name string) ent { return file(filepath.Join(dir, ".wh."+name), "") }
func opaqueIn(dir string) ent         { return file(filepath.Join(dir, ".wh..wh..opq"), "") }

var testTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func layerTar(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode,
			Uid: e.uid, Gid: e.gid, Devmajor: e.major, Devminor: e.minor, ModTime: testTime, PAXRecords: e.pax, Format: tar.FormatPAX}
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

// tree describes a directory: path → "d 755", "f 644 body", "l target",
// "p 644" (fifo), "c …" (device). Owners are left out (see treeOwners).
func tree(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." || rel == StateDirName {
			if rel == StateDirName {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
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
		switch {
		case fi.IsDir():
			out[rel] = fmt.Sprintf("d %o", perm)
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "l " + l
		case fi.Mode()&fs.ModeNamedPipe != 0:
			out[rel] = fmt.Sprintf("p %o", perm)
		case fi.Mode()&fs.ModeDevice != 0:
			out[rel] = fmt.Sprintf("c %o", perm)
		default:
			b, err := readAsOwner(p, fi)
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("f %o %s", perm, b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
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

// sandbox makes root and, beside it, a sentinel directory with a file, so
// every test can assert that nothing outside the root changed.
func sandbox(t *testing.T) (root string, check func()) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "root")
	sentinel := filepath.Join(base, "outside")
	for _, d := range []string{root, sentinel, filepath.Join(sentinel, "sub")} {
		if err := os.Mkdir(d, 0755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(sentinel, "secret"), []byte("keep"), 0644)
	os.WriteFile(filepath.Join(sentinel, "sub", "x"), []byte("keep"), 0644)
	want := tree(t, sentinel)
	t.Cleanup(func() { makeRemovable(base) })
	return root, func() {
		t.Helper()
		got := tree(t, sentinel)
		if !equalTrees(got, want) {
			t.Errorf("outside the root changed:\n got %v\nwant %v", got, want)
		}
		if _, err := os.Lstat(filepath.Join(base, "evil")); err == nil {
			t.Errorf("a file was created beside the root")
		}
	}
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
		if b[k] != v {
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
		if got[k] != want[k] {
			fmt.Fprintf(&b, "  %s: got %q, want %q\n", k, got[k], want[k])
		}
	}
	return b.String()
}

func TestApply(t *testing.T) {
	tests := []struct {
		name    string
		layers  [][]ent
		want    map[string]string
		wantErr string // substring; the tree is still checked when set
	}{
		{
			name:   "basic types and implicit parents",
			layers: [][]ent{{dir("etc/"), file("etc/hosts", "h"), symlink("etc/link", "hosts"), hardlink("etc/hard", "etc/hosts"), file("./usr/bin/tool", "t")}},
			want: map[string]string{"etc": "d 755", "etc/hosts": "f 644 h", "etc/link": "l hosts", "etc/hard": "f 644 h",
				"usr": "d 755", "usr/bin": "d 755", "usr/bin/tool": "f 644 t"},
		},
		{
			name:   "modes incl. setuid, sticky and restrictive dirs",
			layers: [][]ent{{withMode(dir("ro"), 0555), file("ro/f", "x"), withMode(file("suid", "s"), 04755), withMode(dir("tmp"), 01777), withMode(file("zero", "z"), 0), withMode(dir("locked"), 0500), file("locked/in", "i")}},
			want:   map[string]string{"ro": "d 555", "ro/f": "f 644 x", "suid": "f 4755 s", "tmp": "d 1777", "zero": "f 0 z", "locked": "d 500", "locked/in": "f 644 i"},
		},
		{
			name:   "later layer writes into a read-only dir of a lower one",
			layers: [][]ent{{withMode(dir("ro"), 0555), file("ro/a", "1")}, {file("ro/b", "2"), whiteoutOf("ro", "a")}},
			want:   map[string]string{"ro": "d 555", "ro/b": "f 644 2"},
		},
		{
			name:   "whiteout removes file and tree of lower layers",
			layers: [][]ent{{file("a/f", "1"), file("a/g", "2"), file("b/deep/x", "3")}, {whiteoutOf("a", "f"), whiteoutOf("", "b")}},
			want:   map[string]string{"a": "d 755", "a/g": "f 644 2"},
		},
		{
			name:   "whiteout spares the same layer's entry, in either order",
			layers: [][]ent{{file("a/f", "old"), file("a/g", "old")}, {file("a/f", "new"), whiteoutOf("a", "f"), whiteoutOf("a", "g"), file("a/g", "new")}},
			want:   map[string]string{"a": "d 755", "a/f": "f 644 new", "a/g": "f 644 new"},
		},
		{
			name:   "opaque dir hides lower content only, marker first or last",
			layers: [][]ent{{file("o/old", "1"), file("o/sub/old", "1"), file("p/old", "1")}, {dir("o/"), file("o/new", "2"), opaqueIn("o"), dir("p/"), opaqueIn("p"), file("p/new", "2")}},
			want:   map[string]string{"o": "d 755", "o/new": "f 644 2", "p": "d 755", "p/new": "f 644 2"},
		},
		{
			name:   "whiteout of something absent, and under a file, is not an error",
			layers: [][]ent{{file("f", "1")}, {whiteoutOf("", "missing"), whiteoutOf("f", "x"), whiteoutOf("nodir", "x")}},
			want:   map[string]string{"f": "f 644 1"},
		},
		{
			name:   "replacement: file over dir, dir over file, symlink over dir, dir over symlink",
			layers: [][]ent{{file("a/x", "1"), file("b", "2"), file("c/y", "3"), symlink("d", "b")}, {file("a", "A"), dir("b"), symlink("c", "a"), dir("d")}},
			want:   map[string]string{"a": "f 644 A", "b": "d 755", "c": "l a", "d": "d 755"},
		},
		{
			name:   "existing dir keeps contents and takes new metadata",
			layers: [][]ent{{dir("d"), file("d/f", "1")}, {withMode(dir("d"), 0700)}},
			want:   map[string]string{"d": "d 700", "d/f": "f 644 1"},
		},
		{
			name:   "same path twice in one layer: the later wins",
			layers: [][]ent{{file("f", "first"), file("f", "second"), dir("g"), file("g/in", "x"), file("g", "file")}},
			want:   map[string]string{"f": "f 644 second", "g": "f 644 file"},
		},
		{
			name:   "usrmerge: a lower lib -> usr/lib symlink is written through",
			layers: [][]ent{{dir("usr/lib"), symlink("lib", "usr/lib")}, {file("lib/libc.so", "c"), dir("lib/x86/"), file("lib/x86/ld.so", "ld")}},
			want:   map[string]string{"usr": "d 755", "usr/lib": "d 755", "lib": "l usr/lib", "usr/lib/libc.so": "f 644 c", "usr/lib/x86": "d 755", "usr/lib/x86/ld.so": "f 644 ld"},
		},
		{
			name:   "hard link to a lower layer's file",
			layers: [][]ent{{file("bin/busybox", "bb")}, {hardlink("bin/sh", "bin/busybox")}},
			want:   map[string]string{"bin": "d 755", "bin/busybox": "f 644 bb", "bin/sh": "f 644 bb"},
		},
		{
			name:   "a hard-linked file is replaced, not written through",
			layers: [][]ent{{file("a", "orig"), hardlink("b", "a")}, {file("b", "new")}},
			want:   map[string]string{"a": "f 644 orig", "b": "f 644 new"},
		},
		{
			name:   "pax global header and AUFS metadata are skipped",
			layers: [][]ent{{{name: "pax_global_header", typ: tar.TypeXGlobalHeader, pax: map[string]string{"comment": "x"}}, file(".wh..wh.plnk/123", ""), file("f", "1")}},
			want:   map[string]string{"f": "f 644 1"},
		},
		{
			name:   "the state directory cannot be written by a layer",
			layers: [][]ent{{file(".rootfs-pull/state.json", `{"status":"ready"}`), symlink("s", ".rootfs-pull"), file("s/state.json", "x"), file("ok", "1")}},
			want:   map[string]string{"s": "l .rootfs-pull", "ok": "f 644 1"},
		},
		{
			name:    "hard link to a missing target is an error",
			layers:  [][]ent{{hardlink("x", "nope")}},
			want:    map[string]string{},
			wantErr: `hard link target "nope" does not exist`,
		},
		{
			name:    "invalid whiteout names are refused",
			layers:  [][]ent{{file("a/.wh..", "")}},
			want:    map[string]string{},
			wantErr: "invalid whiteout name",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, check := sandbox(t)
			_, err := applyLayers(t, root, tt.layers...)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("apply: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("apply error = %v, want one containing %q", err, tt.wantErr)
			}
			if got := tree(t, root); !equalTrees(got, tt.want) {
				t.Errorf("tree differs:\n%s", diffTrees(got, tt.want))
			}
			check()
		})
	}
}

// TestBreakouts: no layer, however hostile, touches anything outside the
// root; what it aimed outside lands inside, re-rooted, as chroot sees it.
func TestBreakouts(t *testing.T) {
	tests := []struct {
		name   string
		layers [][]ent
		want   map[string]string // nil: only check outside
	}{
		{name: "dotdot name", layers: [][]ent{{file("../evil", "x"), file("a/../../../evil2", "y")}},
			want: map[string]string{"evil": "f 644 x", "evil2": "f 644 y"}},
		{name: "absolute name", layers: [][]ent{{file("/evil", "x")}}, want: map[string]string{"evil": "f 644 x"}},
		{name: "absolute symlink then write through", layers: [][]ent{{symlink("out", "/"), file("out/evil", "x")}},
			want: map[string]string{"out": "l /", "evil": "f 644 x"}},
		{name: "relative climbing symlink then write through", layers: [][]ent{{symlink("up", "../../../../"), file("up/outside/secret", "pwn")}},
			want: map[string]string{"up": "l ../../../../", "outside": "d 755", "outside/secret": "f 644 pwn"}},
		{name: "symlink planted by a lower layer", layers: [][]ent{{symlink("etc", "../outside")}, {file("etc/secret", "pwn"), file("etc/sub/x", "pwn")}},
			want: map[string]string{"etc": "l ../outside", "outside": "d 755", "outside/secret": "f 644 pwn", "outside/sub": "d 755", "outside/sub/x": "f 644 pwn"}},
		{name: "symlink chain", layers: [][]ent{{symlink("a", "b"), symlink("b", "c/../../.."), symlink("c", "/"), file("a/outside/secret", "pwn")}}},
		{name: "symlink loop", layers: [][]ent{{symlink("loop", "loop"), file("ok", "1")}, {file("loop/x", "pwn")}}},
		{name: "last component symlink is replaced, not followed", layers: [][]ent{{symlink("secret", "../outside/secret")}, {file("secret", "new")}},
			want: map[string]string{"secret": "f 644 new"}},
		{name: "whiteout through a symlink stays inside", layers: [][]ent{{dir("outside/sub"), symlink("out", "../outside")}, {whiteoutOf("out", "secret"), whiteoutOf("out", "sub")}},
			want: map[string]string{"outside": "d 755", "out": "l ../outside"}},
		{name: "whiteout dotdot", layers: [][]ent{{file("a", "1")}, {whiteoutOf("../outside", "secret"), opaqueIn("../outside")}},
			want: map[string]string{"a": "f 644 1"}},
		{name: "opaque through absolute symlink", layers: [][]ent{{symlink("r", "/"), file("keep", "1")}, {opaqueIn("r/..")}},
			want: map[string]string{}},
		{name: "hard link to absolute host path", layers: [][]ent{{hardlink("h", "/etc/passwd")}}},
		{name: "hard link climbing", layers: [][]ent{{hardlink("h", "../outside/secret")}}},
		{name: "hard link through planted symlink", layers: [][]ent{{symlink("o", "../outside")}, {hardlink("h", "o/secret")}}},
		{name: "hard link name through planted symlink", layers: [][]ent{{file("f", "1"), symlink("o", "/../outside")}, {hardlink("o/secret", "f")}},
			want: map[string]string{"f": "f 644 1", "o": "l /../outside", "outside": "d 755", "outside/secret": "f 644 1"}},
		{name: "hard link planted then overwritten", layers: [][]ent{{file("a", "orig"), hardlink("b", "a")}, {file("b", "new"), file("a", "newer")}},
			want: map[string]string{"a": "f 644 newer", "b": "f 644 new"}},
		{name: "chmod through symlinked dir entry", layers: [][]ent{{symlink("d", "../outside")}, {withMode(dir("d/sub"), 0700)}},
			want: map[string]string{"d": "l ../outside", "outside": "d 755", "outside/sub": "d 700"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, check := sandbox(t)
			applyLayers(t, root, tt.layers...) // errors are fine; escapes are not
			check()
			if tt.want != nil {
				if got := tree(t, root); !equalTrees(got, tt.want) {
					t.Errorf("tree differs:\n%s", diffTrees(got, tt.want))
				}
			}
		})
	}
}

func TestApplyOwnershipAndNodes(t *testing.T) {
	root, check := sandbox(t)
	st, err := applyLayers(t, root, []ent{withOwner(file("owned", "x"), 1234, 5678), fifo("pipe"), chardev("null")})
	if err != nil {
		t.Fatal(err)
	}
	check()
	var sys syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(root, "owned"), &sys); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if sys.Uid != 1234 || sys.Gid != 5678 {
			t.Errorf("owner = %d:%d, want 1234:5678", sys.Uid, sys.Gid)
		}
		if st.SkippedChown != 0 || st.Devices != 1 || st.FIFOs != 1 {
			t.Errorf("stats = %+v, want a device, a fifo and no skips", st)
		}
	} else {
		if int(sys.Uid) != os.Geteuid() {
			t.Errorf("owner = %d, want ourselves", sys.Uid)
		}
		if st.SkippedChown == 0 || st.SkippedDevices != 1 {
			t.Errorf("stats = %+v, want chown and device skips counted", st)
		}
	}
}

func TestApplyTruncatedTar(t *testing.T) {
	root, check := sandbox(t)
	data := layerTar(t, file("a", strings.Repeat("x", 4096)), file("b", "y"))
	_, err := Apply(context.Background(), root, bytes.NewReader(data[:1000]))
	if err == nil {
		t.Fatal("a truncated tar applied without error")
	}
	var ee *EntryError
	if !errors.As(err, &ee) && !strings.Contains(err.Error(), "read tar") {
		t.Errorf("error %v names no entry", err)
	}
	check()
}

func TestApplyCancelled(t *testing.T) {
	root, _ := sandbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Apply(ctx, root, bytes.NewReader(layerTar(t, file("a", "1"))))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
