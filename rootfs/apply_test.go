package rootfs

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestApply: the layer rules, one case each, asserting the exact tree and
// that nothing outside the root changed. The table runs as root and, via
// TestUnprivileged, as an unprivileged user: it holds only cases whose tree
// is the same for both (see privilege_test.go for those that differ).
func TestApply(t *testing.T) {
	long := strings.Repeat("n", 150)
	longDir := "deep/" + strings.Repeat("p", 120)
	longLink := strings.Repeat("../", 40) + "target"
	tests := []applyCase{
		{
			name:   "basic types and implicit parents",
			layers: [][]ent{{dir("etc/"), file("etc/hosts", "h"), symlink("etc/link", "hosts"), hardlink("etc/hard", "etc/hosts"), file("./usr/bin/tool", "t")}},
			want: map[string]string{"etc": "d 755", "etc/hosts": "f 644 h", "etc/link": "l hosts", "etc/hard": "f 644 h",
				"usr": "d 755", "usr/bin": "d 755", "usr/bin/tool": "f 644 t"},
		},
		{
			name:   "plain, ./-prefixed and /-prefixed names alike",
			layers: [][]ent{{file("a", "1"), file("./b", "2"), file("/c", "3"), dir("./"), file(".//d//e", "4"), file("f/./g/../h", "5")}},
			want:   map[string]string{"a": "f 644 1", "b": "f 644 2", "c": "f 644 3", "d": "d 755", "d/e": "f 644 4", "f": "d 755", "f/h": "f 644 5"},
		},
		{
			name: "GNU and PAX long names and link targets",
			layers: [][]ent{{
				withFormat(file(long, "gnu"), tar.FormatGNU),
				withFormat(symlink("gnulink", longLink), tar.FormatGNU),
				withFormat(hardlink("gnuhard", long), tar.FormatGNU),
				file(longDir+"/f", "pax"),
				symlink("paxlink", longLink),
				hardlink("paxhard", longDir+"/f"),
			}},
			want: map[string]string{long: "f 644 gnu", "gnulink": "l " + longLink, "gnuhard": "f 644 gnu",
				"deep": "d 755", longDir: "d 755", longDir + "/f": "f 644 pax", "paxlink": "l " + longLink, "paxhard": "f 644 pax"},
		},
		{
			name:   "old GNU sparse entry is a regular file with its holes",
			layers: [][]ent{{oldGNUSparse("sparse", 16, [][2]int64{{0, 3}, {10, 2}}, "abcde"), file("after", "ok")}},
			want:   map[string]string{"sparse": "f 644 abc\x00\x00\x00\x00\x00\x00\x00de\x00\x00\x00\x00", "after": "f 644 ok"},
		},
		{
			name:   "modes incl. setuid, sticky and restrictive dirs",
			layers: [][]ent{{withMode(dir("ro"), 0555), file("ro/f", "x"), withMode(file("suid", "s"), 04755), withMode(file("sgid", "g"), 02755), withMode(dir("tmp"), 01777), withMode(file("zero", "z"), 0), withMode(dir("locked"), 0500), file("locked/in", "i")}},
			want:   map[string]string{"ro": "d 555", "ro/f": "f 644 x", "suid": "f 4755 s", "sgid": "f 2755 g", "tmp": "d 1777", "zero": "f 0 z", "locked": "d 500", "locked/in": "f 644 i"},
		},
		{
			name: "read-only dirs get children, nested and listed before them",
			layers: [][]ent{{withMode(dir("a"), 0555), withMode(dir("a/b"), 0500), withMode(dir("a/b/c"), 0555), file("a/b/c/f", "1"), withMode(file("a/b/zero", "0"), 0)},
				{file("a/b/c/g", "2"), file("a/b/new", "3"), hardlink("a/b/c/h", "a/b/c/f")}},
			want: map[string]string{"a": "d 555", "a/b": "d 500", "a/b/c": "d 555", "a/b/c/f": "f 644 1", "a/b/zero": "f 0 0",
				"a/b/c/g": "f 644 2", "a/b/new": "f 644 3", "a/b/c/h": "f 644 1"},
		},
		{
			name: "dirs without search permission get children and whiteouts",
			layers: [][]ent{{withMode(dir("nox"), 0600), file("nox/f", "1"), file("nox/k", "k"), withMode(dir("zero"), 0), withMode(dir("zero/sub"), 0), file("zero/sub/f", "1"), withMode(dir("ro"), 0444), file("ro/f", "1")},
				{whiteoutOf("nox", "f"), file("nox/g", "2"), file("zero/sub/g", "2"), hardlink("zero/h", "nox/k"), opaqueIn("ro"), file("ro/n", "n")}},
			want: map[string]string{"nox": "d 600", "nox/k": "f 644 k", "nox/g": "f 644 2", "zero": "d 0", "zero/sub": "d 0", "zero/sub/f": "f 644 1", "zero/sub/g": "f 644 2", "zero/h": "f 644 k",
				"ro": "d 444", "ro/n": "f 644 n"},
		},
		{
			name:   "a 0000 file is replaced and hard-linked by a later layer",
			layers: [][]ent{{withMode(file("z", "old"), 0), withMode(file("y", "y"), 0)}, {withMode(file("z", "new"), 0), hardlink("y2", "y")}},
			want:   map[string]string{"z": "f 0 new", "y": "f 0 y", "y2": "f 0 y"},
		},
		{
			name:   "later layer writes into a read-only dir of a lower one",
			layers: [][]ent{{withMode(dir("ro"), 0555), file("ro/a", "1")}, {file("ro/b", "2"), whiteoutOf("ro", "a")}},
			want:   map[string]string{"ro": "d 555", "ro/b": "f 644 2"},
		},
		{
			name: "whiteouts and opaque dirs inside read-only dirs, and of read-only trees",
			layers: [][]ent{
				{withMode(dir("ro"), 0555), withMode(dir("ro/tree"), 0500), withMode(dir("ro/tree/sub"), 0555), file("ro/tree/sub/f", "1"), withMode(dir("op"), 0500), file("op/old", "1"), withMode(dir("op/d"), 0555), file("op/d/x", "1")},
				{whiteoutOf("ro", "tree"), opaqueIn("op"), file("op/new", "2")},
			},
			want: map[string]string{"ro": "d 555", "op": "d 500", "op/new": "f 644 2"},
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
			name:   "whiteout of a dir spares what the same layer put inside it",
			layers: [][]ent{{file("d/old", "1"), file("d/sub/old", "1")}, {file("d/sub/new", "2"), whiteoutOf("", "d")}},
			want:   map[string]string{"d": "d 755", "d/sub": "d 755", "d/sub/new": "f 644 2"},
		},
		{
			name:   "opaque dir hides lower content only, marker first or last",
			layers: [][]ent{{file("o/old", "1"), file("o/sub/old", "1"), file("p/old", "1")}, {dir("o/"), file("o/new", "2"), opaqueIn("o"), dir("p/"), opaqueIn("p"), file("p/new", "2")}},
			want:   map[string]string{"o": "d 755", "o/new": "f 644 2", "p": "d 755", "p/new": "f 644 2"},
		},
		{
			name:   "opaque marker for a dir that does not exist yet makes nothing",
			layers: [][]ent{{file("keep", "1")}, {opaqueIn("nodir"), opaqueIn("keep")}},
			want:   map[string]string{"keep": "f 644 1"},
		},
		{
			name:   "whiteout of something absent, and under a file, is not an error",
			layers: [][]ent{{file("f", "1")}, {whiteoutOf("", "missing"), whiteoutOf("f", "x"), whiteoutOf("nodir", "x"), whiteoutOf("f/deeper", "x")}},
			want:   map[string]string{"f": "f 644 1"},
		},
		{
			name:   "whiteout of a symlink removes the link, not its target",
			layers: [][]ent{{file("etc/passwd", "p"), symlink("localetc", "/etc"), symlink("dirlink", "etc")}, {whiteoutOf("", "localetc"), whiteoutOf("", "dirlink")}},
			want:   map[string]string{"etc": "d 755", "etc/passwd": "f 644 p"},
		},
		{
			name:   "replacement: file over dir, dir over file, symlink over dir, dir over symlink",
			layers: [][]ent{{file("a/x", "1"), file("b", "2"), file("c/y", "3"), symlink("d", "b")}, {file("a", "A"), dir("b"), symlink("c", "a"), dir("d")}},
			want:   map[string]string{"a": "f 644 A", "b": "d 755", "c": "l a", "d": "d 755"},
		},
		{
			name:   "replacement of read-only trees and of nodes",
			layers: [][]ent{{withMode(dir("a"), 0555), withMode(dir("a/b"), 0500), file("a/b/f", "1"), fifo("p"), symlink("l", "p")}, {file("a", "A"), dir("p"), file("l", "L")}},
			want:   map[string]string{"a": "f 644 A", "p": "d 755", "l": "f 644 L"},
		},
		{
			name:   "existing dir keeps contents and takes new metadata",
			layers: [][]ent{{dir("d"), file("d/f", "1")}, {withMode(dir("d"), 0700)}},
			want:   map[string]string{"d": "d 700", "d/f": "f 644 1"},
		},
		{
			name: "same path twice in one layer: the later wins",
			layers: [][]ent{{file("f", "first"), file("f", "second"), dir("g"), file("g/in", "x"), file("g", "file"),
				file("h", "file"), dir("h"), file("h/in", "y"), symlink("s", "target"), file("s", "plain"), withMode(dir("m"), 0700), withMode(dir("m"), 0750)}},
			want: map[string]string{"f": "f 644 second", "g": "f 644 file", "h": "d 755", "h/in": "f 644 y", "s": "f 644 plain", "m": "d 750"},
		},
		{
			name:   "a symlink over a dir is followed by later entries of the same layer",
			layers: [][]ent{{file("a/old", "1"), dir("b")}, {symlink("a", "b"), file("a/new", "2")}},
			want:   map[string]string{"a": "l b", "b": "d 755", "b/new": "f 644 2"},
		},
		// The applier keeps the last parent dir open; these replace what a
		// path went through mid-layer, so a stale one would misplace or lose
		// the later entries.
		{
			name: "a dir replaced mid-layer: later entries under its name go to what replaced it",
			layers: [][]ent{{dir("b")}, {file("a/x", "1"), symlink("a", "b"), file("a/y", "2"),
				file("c/1", "1"), file("c", "C"), dir("c"), file("c/2", "2")}},
			want: map[string]string{"a": "l b", "b": "d 755", "b/y": "f 644 2", "c": "d 755", "c/2": "f 644 2"},
		},
		{
			name:   "a symlink written through is replaced by a dir mid-layer",
			layers: [][]ent{{dir("t"), symlink("s", "t")}, {file("s/f", "1"), dir("s"), file("s/g", "2")}},
			want:   map[string]string{"t": "d 755", "t/f": "f 644 1", "s": "d 755", "s/g": "f 644 2"},
		},
		{
			name:   "a symlink written through is whited out mid-layer",
			layers: [][]ent{{dir("t"), symlink("s", "t")}, {file("s/f", "1"), whiteoutOf("", "s"), file("s/g", "2")}},
			want:   map[string]string{"t": "d 755", "t/f": "f 644 1", "s": "d 755", "s/g": "f 644 2"},
		},
		{
			name:   "a symlink written through is made opaque away mid-layer",
			layers: [][]ent{{dir("d/sub"), symlink("d/l", "sub")}, {file("d/l/f", "1"), opaqueIn("d"), file("d/l/g", "2")}},
			want:   map[string]string{"d": "d 755", "d/sub": "d 755", "d/sub/f": "f 644 1", "d/l": "d 755", "d/l/g": "f 644 2"},
		},
		// Small files in a dir of this layer are made by the parallel pool;
		// what comes after them at or through their paths waits for it.
		{
			name: "entries after small files of a new dir, at or through their paths",
			layers: [][]ent{{dir("d"), file("d/a", "1"), dir("d/a"), file("d/a/x", "2"), file("d/b", "b"), hardlink("d/c", "d/b"),
				file("d/e", "1"), file("d/e", "2"), file("d/h", "h"), symlink("d/h", "x"), file("d/z", "z"), whiteoutOf("d", "z"), file("n/o/p", "p"), file("n/o", "o")}},
			want: map[string]string{"d": "d 755", "d/a": "d 755", "d/a/x": "f 644 2", "d/b": "f 644 b", "d/c": "f 644 b",
				"d/e": "f 644 2", "d/h": "l x", "d/z": "f 644 z", "n": "d 755", "n/o": "f 644 o"},
		},
		{
			name:   "usrmerge: a lower lib -> usr/lib symlink is written through",
			layers: [][]ent{{dir("usr/lib"), symlink("lib", "usr/lib"), symlink("bin", "/usr/bin"), dir("usr/bin")}, {file("lib/libc.so", "c"), dir("lib/x86/"), file("lib/x86/ld.so", "ld"), file("bin/sh", "sh"), hardlink("bin/bash", "bin/sh")}},
			want: map[string]string{"usr": "d 755", "usr/lib": "d 755", "lib": "l usr/lib", "usr/lib/libc.so": "f 644 c", "usr/lib/x86": "d 755", "usr/lib/x86/ld.so": "f 644 ld",
				"bin": "l /usr/bin", "usr/bin": "d 755", "usr/bin/sh": "f 644 sh", "usr/bin/bash": "f 644 sh"},
		},
		{
			name:   "hard link to a lower layer's file",
			layers: [][]ent{{file("bin/busybox", "bb")}, {hardlink("bin/sh", "bin/busybox")}},
			want:   map[string]string{"bin": "d 755", "bin/busybox": "f 644 bb", "bin/sh": "f 644 bb"},
		},
		{
			name:   "hard link to a symlink links the symlink itself",
			layers: [][]ent{{symlink("symlink1", "regfile"), hardlink("symlink2", "symlink1"), file("regfile", "r"), symlink("up", "../../../regfile"), hardlink("up2", "../../../up")}},
			want:   map[string]string{"symlink1": "l regfile", "symlink2": "l regfile", "regfile": "f 644 r", "up": "l ../../../regfile", "up2": "l ../../../regfile"},
		},
		{
			name:   "hard link to itself is a no-op",
			layers: [][]ent{{file("a", "1"), hardlink("a", "a"), hardlink("./a", "/a")}},
			want:   map[string]string{"a": "f 644 1"},
		},
		{
			name:   "a hard-linked file is replaced, not written through",
			layers: [][]ent{{file("a", "orig"), hardlink("b", "a")}, {file("b", "new")}},
			want:   map[string]string{"a": "f 644 orig", "b": "f 644 new"},
		},
		{
			name: "pax global headers and AUFS metadata are skipped",
			layers: [][]ent{{globalHeader("pax_global_header", map[string]string{"comment": "x"}), file(".wh..wh.plnk/123", ""), file("f", "1"),
				globalHeader("../../evil", map[string]string{"path": "../../evil2", "linkpath": "/etc/passwd"}), file("g", "2")}},
			want: map[string]string{"f": "f 644 1", "g": "f 644 2"},
		},
		{
			name:   "the state directory cannot be written by a layer",
			layers: [][]ent{{file(".rootfs-pull/state.json", `{"status":"ready"}`), symlink("s", ".rootfs-pull"), file("s/state.json", "x"), file("ok", "1")}},
			want:   map[string]string{"s": "l .rootfs-pull", "ok": "f 644 1"},
		},
		{
			name:      "hard link to a missing target is an error naming the entry",
			layers:    [][]ent{{file("a", "1"), hardlink("x", "nope"), file("b", "never")}},
			want:      map[string]string{"a": "f 644 1"},
			wantErr:   `hard link target "nope" does not exist`,
			wantEntry: "x",
		},
		{
			name:      "hard link to a target under a missing dir is an error",
			layers:    [][]ent{{hardlink("x", "no/such/file")}},
			want:      map[string]string{},
			wantErr:   "does not exist",
			wantEntry: "x",
		},
		{
			name:      "hard link to a directory is an error",
			layers:    [][]ent{{dir("d"), hardlink("x", "d")}},
			want:      map[string]string{"d": "d 755"},
			wantErr:   "is a directory",
			wantEntry: "x",
		},
		{
			name:      "invalid whiteout name .wh.. is refused",
			layers:    [][]ent{{file("a/keep", "1")}, {file("a/.wh..", "")}},
			want:      map[string]string{"a": "d 755", "a/keep": "f 644 1"},
			wantErr:   "invalid whiteout name",
			wantEntry: "a/.wh..",
		},
		{
			name:      "invalid whiteout name .wh... is refused",
			layers:    [][]ent{{file("etc/passwd", "1")}, {file("etc/.wh...", "")}},
			want:      map[string]string{"etc": "d 755", "etc/passwd": "f 644 1"},
			wantErr:   "invalid whiteout name",
			wantEntry: "etc/.wh...",
		},
		{
			name:      "invalid whiteout name .wh. is refused",
			layers:    [][]ent{{file("etc/passwd", "1")}, {file(".wh.", "")}},
			want:      map[string]string{"etc": "d 755", "etc/passwd": "f 644 1"},
			wantErr:   "invalid whiteout name",
			wantEntry: ".wh.",
		},
		{
			name:      "invalid whiteout name at the root is refused",
			layers:    [][]ent{{file("etc/passwd", "1")}, {file(".wh..", ""), file(".wh...", "")}},
			want:      map[string]string{"etc": "d 755", "etc/passwd": "f 644 1"},
			wantErr:   "invalid whiteout name",
			wantEntry: ".wh..",
		},
		{
			name:   "a dir named like a whiteout is an ordinary dir",
			layers: [][]ent{{file("etc/passwd", "1")}, {file(".wh.etc/somefile", "x")}},
			want:   map[string]string{"etc": "d 755", "etc/passwd": "f 644 1", ".wh.etc": "d 755", ".wh.etc/somefile": "f 644 x"},
		},
		{
			name:   "a listed dir removed with its parent: its metadata does not go to a later dir at its path",
			layers: [][]ent{{withMode(dir("d/sub"), 0700), file("d", "F"), dir("d"), file("d/sub/f", "1")}},
			want:   map[string]string{"d": "d 755", "d/sub": "d 755", "d/sub/f": "f 644 1"},
		},
		{
			name:   "unknown entry types are skipped",
			layers: [][]ent{{{name: "weird", typ: 'Z', mode: 0644}, file("ok", "1")}},
			want:   map[string]string{"ok": "f 644 1"},
		},
	}
	runApplyCases(t, tests)
}

// applyCase is a sequence of layers and the tree applying them must give.
type applyCase struct {
	name      string
	layers    [][]ent
	want      map[string]string
	wantErr   string // substring; the tree is still checked when set
	wantEntry string // the entry the EntryError names
}

// runApplyCases applies each case's layers to a fresh root and checks the
// tree, the error, open files and that nothing outside the root changed.
func runApplyCases(t *testing.T, tests []applyCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, check := sandbox(t)
			fds := openFDs(t)
			_, err := applyLayers(t, root, tt.layers...)
			if n := openFDs(t); n != fds {
				t.Errorf("%d files open after apply, %d before", n, fds)
			}
			if tt.wantErr == "" && err != nil {
				t.Fatalf("apply: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("apply error = %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantEntry != "" {
				var ee *EntryError
				if !errors.As(err, &ee) || ee.Name != tt.wantEntry {
					t.Errorf("error %v does not name entry %q", err, tt.wantEntry)
				}
			}
			if got := tree(t, root); !equalTrees(got, tt.want) {
				t.Errorf("tree differs:\n%s", diffTrees(got, tt.want))
			}
			check()
		})
	}
}

// TestApplyLayerWhiteouts replays moby's whiteout sequence (hidden names,
// opaque dirs, a whiteout of a hidden name, an opaque root) layer by layer.
func TestApplyLayerWhiteouts(t *testing.T) {
	ents := func(names ...string) []ent {
		var out []ent
		for _, n := range names {
			if strings.HasSuffix(n, "/") {
				out = append(out, dir(n))
			} else {
				out = append(out, file(n, ""))
			}
		}
		return out
	}
	base := []string{".baz", "bar/", "bar/bax", "bar/bay/", "baz", "foo/", "foo/.abc", "foo/.bcd/", "foo/.bcd/a", "foo/cde/", "foo/cde/def", "foo/cde/efg", "foo/fgh", "foobar"}
	steps := []struct{ layer, want []string }{
		{base, base},
		{[]string{".bay", ".wh.baz", "foo/", "foo/.bce", "foo/.wh..wh..opq", "foo/cde/", "foo/cde/efg"},
			[]string{".bay", ".baz", "bar/", "bar/bax", "bar/bay/", "foo/", "foo/.bce", "foo/cde/", "foo/cde/efg", "foobar"}},
		{[]string{".bay", ".wh..baz", ".wh.foobar", "foo/", "foo/.abc", "foo/.wh.cde", "bar/"},
			[]string{".bay", "bar/", "bar/bax", "bar/bay/", "foo/", "foo/.abc", "foo/.bce"}},
		{[]string{".abc", ".wh..wh..opq", "foobar"},
			[]string{".abc", "foobar"}},
	}
	root, check := sandbox(t)
	for i, s := range steps {
		if _, err := applyLayers(t, root, ents(s.layer...)); err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		want := map[string]string{}
		for _, n := range s.want {
			if strings.HasSuffix(n, "/") {
				want[strings.TrimSuffix(n, "/")] = "d 755"
			} else {
				want[n] = "f 644 "
			}
		}
		if got := tree(t, root); !equalTrees(got, want) {
			t.Errorf("after layer %d:\n%s", i, diffTrees(got, want))
		}
	}
	check()
}

// TestApplyMetadata: mtimes (directories' after their contents), and
// user xattrs where the filesystem has them.
func TestApplyMetadata(t *testing.T) {
	root, check := sandbox(t)
	xattr := map[string]string{"SCHILY.xattr.user.test": "value"}
	l1 := []ent{dir("d"), file("d/f", "1"), dir("d/sub"), file("d/sub/g", "2"), symlink("d/l", "f"), fifo("d/p"),
		{name: "x", typ: tar.TypeReg, mode: 0644, pax: xattr}, {name: "xd", typ: tar.TypeDir, mode: 0755, pax: xattr},
		// Read-only ones: the xattrs go on before the mode.
		{name: "xro", typ: tar.TypeReg, mode: 0444, pax: xattr}, {name: "xdro", typ: tar.TypeDir, mode: 0500, pax: xattr}, {name: "xd0", typ: tar.TypeDir, mode: 0, pax: xattr}}
	st, err := applyLayers(t, root, l1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"d", "d/f", "d/sub", "d/sub/g", "d/l", "d/p", "x", "xd", "xro", "xdro", "xd0"} {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(testTime) {
			t.Errorf("%s: mtime %v, want %v", p, fi.ModTime().UTC(), testTime)
		}
	}
	if xattrsSupported(t, root) {
		for _, p := range []string{"x", "xd", "xro", "xdro", "xd0"} {
			v, err := getxattrAsOwner(filepath.Join(root, p), "user.test")
			if err != nil || v != "value" {
				t.Errorf("%s: user.test = %q, %v; want \"value\"", p, v, err)
			}
		}
		if st.SkippedXattrs != 0 {
			t.Errorf("SkippedXattrs = %d, want 0", st.SkippedXattrs)
		}
	} else if st.SkippedXattrs != 5 {
		t.Errorf("no user xattrs here, but SkippedXattrs = %d, want 5", st.SkippedXattrs)
	}
	// A later layer listing d again sets its metadata after its new child.
	later := testTime.Add(time.Hour)
	h := dir("d")
	if _, err := Apply(context.Background(), root, bytes.NewReader(timedTar(t, later, h, file("d/new", "3")))); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(root, "d"))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(later) {
		t.Errorf("d: mtime %v after the second layer, want %v", fi.ModTime().UTC(), later)
	}
	check()
}

// TestApplySparse: a sparse entry's holes stay holes on disk, and a tiny
// entry claiming an enormous file can be cancelled.
func TestApplySparse(t *testing.T) {
	const size = 1 << 30
	root, check := sandbox(t)
	data := layerTar(t, oldGNUSparse("big", size, [][2]int64{{0, 4}, {size / 2, 4}}, "headmidl"))
	start := time.Now()
	if _, err := Apply(context.Background(), root, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	t.Logf("a 1 GiB sparse entry took %v", time.Since(start))
	f, err := os.Open(filepath.Join(root, "big"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != size {
		t.Errorf("size %d, want %d", st.Size, size)
	}
	if used := st.Blocks * 512; used > 16<<20 {
		t.Errorf("%d bytes on disk for a file of two 4-byte fragments: holes were written", used)
	}
	for _, c := range []struct {
		off  int64
		want string
	}{{0, "head\x00"}, {size/2 - 1, "\x00midl\x00"}, {size - 2, "\x00\x00"}} {
		buf := make([]byte, len(c.want))
		if _, err := f.ReadAt(buf, c.off); err != nil || string(buf) != c.want {
			t.Errorf("at %d: %q, %v; want %q", c.off, buf, err, c.want)
		}
	}
	check()

	// 1 PiB of holes from one byte of data: refused at its header (it
	// could only be zeros), and in any case stopped by the context, not
	// by the disk.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = Apply(ctx, root, bytes.NewReader(layerTar(t, oldGNUSparse("huge", 1<<50, [][2]int64{{0, 1}}, "x"))))
	if !errors.Is(err, ErrSparseTooLarge) && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want ErrSparseTooLarge or the context's deadline", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancelling took %v", d)
	}
}

// timedTar is layerTar with another mtime.
func timedTar(t testing.TB, mtime time.Time, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, ModTime: mtime, Format: tar.FormatPAX}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// xattrsSupported tries a user xattr beside root.
func xattrsSupported(t testing.TB, root string) bool {
	p := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(p, nil, 0644); err != nil {
		t.Fatal(err)
	}
	return syscall.Setxattr(p, "user.probe", []byte("1"), 0) == nil
}

// getxattrAsOwner reads an xattr even when the file's mode does not let
// its (unprivileged) owner read it.
func getxattrAsOwner(p, name string) (string, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return "", err
	}
	if perm := fi.Mode().Perm(); perm&0400 == 0 && !isRoot() {
		os.Chmod(p, perm|0400)
		defer os.Chmod(p, perm)
	}
	buf := make([]byte, 256)
	n, err := syscall.Getxattr(p, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
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
