package rootfs

// Hostile layers. The catalogue follows containerd's TestBreakouts, moby's
// TestUntarInvalid*/TestApplyLayerInvalid*, umoci's tar_extract tests and
// proot-distro's tests/security: every escape route is tried, and each case
// asserts the exact tree (what was aimed outside lands inside, re-rooted, as
// chroot would see it) and that the sentinel beside the root is untouched.

import (
	"archive/tar"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// In a breakout case, "$BASE" in an entry's name or link stands for the
// sandbox's absolute host path (root's parent; the sentinel is
// $BASE/outside), so a layer can aim at the real host location. In want, a
// key starting with "@/" is that host path re-rooted inside the root; its
// ancestors are expected as implicit 0755 directories.
const basePlaceholder = "$BASE"

func TestBreakouts(t *testing.T) {
	chain := func(n int) ([]ent, map[string]string) {
		ents := []ent{dir("d")}
		want := map[string]string{"d": "d 755"}
		for i := 0; i < n; i++ {
			next := fmt.Sprintf("l%d", i+1)
			if i == n-1 {
				next = "d"
			}
			ents = append(ents, symlink(fmt.Sprintf("l%d", i), next))
			want[fmt.Sprintf("l%d", i)] = "l " + next
		}
		return append(ents, file("l0/x", "x")), want
	}
	chain40, want40 := chain(maxSymlinkHops)
	chain41, want41 := chain(maxSymlinkHops + 1)

	tests := []struct {
		name    string
		layers  [][]ent
		want    map[string]string
		wantErr string      // substring; "" means the layers apply cleanly
		same    [][2]string // paths that must be one inode (hard links)
	}{
		// Names.
		{name: "dotdot names", layers: [][]ent{{file("../evil", "x"), file("a/../../../evil2", "y"), file("../../escape", "z"), file("./../w", "w")}},
			want: map[string]string{"evil": "f 644 x", "evil2": "f 644 y", "escape": "f 644 z", "w": "f 644 w"}},
		{name: "dotdot names aimed at the sentinel", layers: [][]ent{{file("../outside/secret", "pwn"), file("/../outside/sub/x", "pwn"), dir("../outside/sub")}},
			want: map[string]string{"outside": "d 755", "outside/secret": "f 644 pwn", "outside/sub": "d 755", "outside/sub/x": "f 644 pwn"}},
		{name: "absolute names", layers: [][]ent{{file("/evil", "x"), file("/etc/passwd", "inside")}},
			want: map[string]string{"evil": "f 644 x", "etc": "d 755", "etc/passwd": "f 644 inside"}},
		{name: "absolute name of the sentinel's host path", layers: [][]ent{{file("$BASE/outside/secret", "pwn"), withMode(dir("$BASE/outside/sub"), 0700)}},
			want: map[string]string{"@/outside": "d 755", "@/outside/secret": "f 644 pwn", "@/outside/sub": "d 700"}},

		// Symlinks written through.
		{name: "absolute symlink then write through", layers: [][]ent{{symlink("out", "/"), file("out/evil", "x")}},
			want: map[string]string{"out": "l /", "evil": "f 644 x"}},
		{name: "absolute symlink to the sentinel's host path, same layer", layers: [][]ent{{symlink("evil", "$BASE/outside"), file("evil/pwned", "x"), file("evil/sub/x", "x"), file("evil/secret", "x")}},
			want: map[string]string{"evil": "l $BASE/outside", "@/outside": "d 755", "@/outside/pwned": "f 644 x", "@/outside/sub": "d 755", "@/outside/sub/x": "f 644 x", "@/outside/secret": "f 644 x"}},
		{name: "absolute symlink to the sentinel's host path, planted by a lower layer", layers: [][]ent{{symlink("evil", "$BASE/outside")}, {file("evil/pwned", "x"), withMode(dir("evil/sub"), 0700)}},
			want: map[string]string{"evil": "l $BASE/outside", "@/outside": "d 755", "@/outside/pwned": "f 644 x", "@/outside/sub": "d 700"}},
		{name: "absolute symlink to a missing host dir", layers: [][]ent{{symlink("evil", "$BASE/nonexistent")}, {file("evil/pwned", "x")}},
			want: map[string]string{"evil": "l $BASE/nonexistent", "@/nonexistent": "d 755", "@/nonexistent/pwned": "f 644 x"}},
		{name: "relative climbing symlink then write through", layers: [][]ent{{symlink("up", "../../../../"), file("up/outside/secret", "pwn")}},
			want: map[string]string{"up": "l ../../../../", "outside": "d 755", "outside/secret": "f 644 pwn"}},
		{name: "climbing symlink in a subdir, new dirs beyond it", layers: [][]ent{{symlink("dir/loophole", "../../outside"), file("dir/loophole/newdir/newfile", "x")}},
			want: map[string]string{"dir": "d 755", "dir/loophole": "l ../../outside", "outside": "d 755", "outside/newdir": "d 755", "outside/newdir/newfile": "f 644 x"}},
		{name: "symlink planted by a lower layer", layers: [][]ent{{symlink("etc", "../outside")}, {file("etc/secret", "pwn"), file("etc/sub/x", "pwn")}},
			want: map[string]string{"etc": "l ../outside", "outside": "d 755", "outside/secret": "f 644 pwn", "outside/sub": "d 755", "outside/sub/x": "f 644 pwn"}},
		{name: "symlink chain", layers: [][]ent{{symlink("a", "b"), symlink("b", "c/../../.."), symlink("c", "/"), file("a/outside/secret", "pwn")}},
			want: map[string]string{"a": "l b", "b": "l c/../../..", "c": "l /", "outside": "d 755", "outside/secret": "f 644 pwn"}},
		{name: "symlink chain across layers to the sentinel's host path", layers: [][]ent{{symlink("a", "b")}, {symlink("b", "$BASE/./outside")}, {file("a/secret", "pwn"), whiteoutOf("a", "sub")}},
			want: map[string]string{"a": "l b", "b": "l $BASE/./outside", "@/outside": "d 755", "@/outside/secret": "f 644 pwn"}},
		{name: "symlink chain of the kernel's limit is followed", layers: [][]ent{chain40},
			want: merge(want40, map[string]string{"d/x": "f 644 x"})},
		{name: "symlink chain past the kernel's limit", layers: [][]ent{chain41},
			want: want41, wantErr: "too many levels of symbolic links"},
		{name: "symlink loop", layers: [][]ent{{symlink("loop", "loop"), file("ok", "1")}, {file("loop/x", "pwn")}},
			want: map[string]string{"loop": "l loop", "ok": "f 644 1"}, wantErr: "too many levels of symbolic links"},
		{name: "last component symlink is replaced, not followed", layers: [][]ent{{symlink("secret", "../outside/secret")}, {file("secret", "new")}},
			want: map[string]string{"secret": "f 644 new"}},
		{name: "symlink replaced by a file in the same layer", layers: [][]ent{{symlink("loophole-victim", "../outside"), file("loophole-victim", "x")}},
			want: map[string]string{"loophole-victim": "f 644 x"}},
		{name: "dangling hostile symlinks are stored as data", layers: [][]ent{{symlink("dotdot", "../outside/secret"), symlink("slash-dotdot", "/../outside/secret"), symlink("abs", "$BASE/outside/secret")}},
			want: map[string]string{"dotdot": "l ../outside/secret", "slash-dotdot": "l /../outside/secret", "abs": "l $BASE/outside/secret"}},
		{name: "symlink named .. or nothing is ignored", layers: [][]ent{{dir("etc"), file("etc/passwd", "inside"), symlink("..", "/etc/"), symlink("./", "/etc/"), hardlink("localpasswd", "/etc/passwd")}},
			want: map[string]string{"etc": "d 755", "etc/passwd": "f 644 inside", "localpasswd": "f 644 inside"}, same: [][2]string{{"localpasswd", "etc/passwd"}}},
		{name: "symlink name with a .. in it", layers: [][]ent{{file("etc/passwd", "inside"), symlink("localetc/sub/..", "/etc/"), hardlink("/localetc/localpasswd", "/etc/passwd")}},
			want: map[string]string{"etc": "d 755", "etc/passwd": "f 644 inside", "localetc": "l /etc/", "etc/localpasswd": "f 644 inside"}, same: [][2]string{{"etc/localpasswd", "etc/passwd"}}},
		{name: "dir over a planted symlink, then entries inside it", layers: [][]ent{{file("etc/passwd", "inside"), symlink("localetc", "/etc")}, {dir("localetc/"), hardlink("/localetc/localpasswd", "/etc/passwd"), file("localetc/f", "new")}},
			want: map[string]string{"etc": "d 755", "etc/passwd": "f 644 inside", "localetc": "d 755", "localetc/localpasswd": "f 644 inside", "localetc/f": "f 644 new"}, same: [][2]string{{"localetc/localpasswd", "etc/passwd"}}},
		{name: "dir over a planted symlink that had a hard link written through it", layers: [][]ent{{file("etc/passwd", "inside"), symlink("localetc", "etc"), hardlink("localetc/localpasswd", "etc/passwd")}, {dir("localetc/"), file("localetc/localpasswd", "different")}},
			want: map[string]string{"etc": "d 755", "etc/passwd": "f 644 inside", "etc/localpasswd": "f 644 inside", "localetc": "d 755", "localetc/localpasswd": "f 644 different"}, same: [][2]string{{"etc/localpasswd", "etc/passwd"}}},
		{name: "chmod through symlinked dir entry", layers: [][]ent{{symlink("d", "../outside")}, {withMode(dir("d/sub"), 0700), withMode(dir("d"), 0700)}},
			want: map[string]string{"d": "d 700", "outside": "d 755", "outside/sub": "d 700"}},
		{name: "chmod of a planted dir symlink's target", layers: [][]ent{{symlink("d", "../outside")}, {withMode(dir("d/sub"), 0700)}},
			want: map[string]string{"d": "l ../outside", "outside": "d 755", "outside/sub": "d 700"}},
		{name: "fifo through a planted symlink", layers: [][]ent{{symlink("dev", "../outside")}, {fifo("dev/fifo"), fifo("dev/secret")}},
			want: map[string]string{"dev": "l ../outside", "outside": "d 755", "outside/fifo": "p 644", "outside/secret": "p 644"}},
		{name: "xattrs and metadata on an entry replacing a symlink", layers: [][]ent{{symlink("x", "../outside/secret"), symlink("y", "../outside")}, {{name: "x", typ: tar.TypeDir, mode: 0700, pax: map[string]string{"SCHILY.xattr.user.evil": "1"}}, withMode(file("y", "f"), 0600)}},
			want: map[string]string{"x": "d 700", "y": "f 600 f"}},

		// Whiteouts.
		{name: "whiteout through a symlink stays inside", layers: [][]ent{{dir("outside/sub"), symlink("out", "../outside")}, {whiteoutOf("out", "secret"), whiteoutOf("out", "sub")}},
			want: map[string]string{"outside": "d 755", "out": "l ../outside"}},
		{name: "whiteout through a symlink to the sentinel's host path", layers: [][]ent{{symlink("o", "$BASE/outside"), file("$BASE/outside/secret", "inner"), file("$BASE/outside/keep", "k")}, {file("o/.wh.secret", ""), file("o/.wh.sub", "")}},
			want: map[string]string{"o": "l $BASE/outside", "@/outside": "d 755", "@/outside/keep": "f 644 k"}},
		{name: "opaque through a symlink to the sentinel's host path", layers: [][]ent{{symlink("o", "$BASE/outside")}, {file("o/.wh..wh..opq", "")}},
			want: map[string]string{"o": "l $BASE/outside"}},
		{name: "whiteout dotdot", layers: [][]ent{{file("a", "1")}, {file("../outside/.wh.secret", ""), file("../outside/.wh..wh..opq", ""), file("a/../../outside/.wh.sub", "")}},
			want: map[string]string{"a": "f 644 1"}},
		{name: "opaque through absolute symlink", layers: [][]ent{{symlink("r", "/"), file("keep", "1")}, {file("r/.wh..wh..opq", "")}},
			want: map[string]string{}},
		{name: "whiteout through a dead symlink is a no-op", layers: [][]ent{{file("etc/passwd", "p"), symlink("localetc", "/dne")}, {file("localetc/.wh.etc", "")}},
			want: map[string]string{"etc": "d 755", "etc/passwd": "f 644 p", "localetc": "l /dne"}},
		{name: "whiteout name with a .. resolves lexically", layers: [][]ent{{file("etc/passwd", "p"), symlink("dne", "/nowhere")}, {file("dne/../.wh.etc", "")}},
			want: map[string]string{"dne": "l /nowhere"}},
		{name: "whiteout names .wh.. and .wh... are refused", layers: [][]ent{{file("etc/passwd", "p")}, {file("etc/.wh..", ""), file(".wh...", "")}},
			want: map[string]string{"etc": "d 755", "etc/passwd": "f 644 p"}, wantErr: "invalid whiteout name"},

		// Hard links.
		{name: "hard link to an absolute host path", layers: [][]ent{{hardlink("h", "/etc/passwd")}},
			want: map[string]string{}, wantErr: "does not exist"},
		{name: "hard link to the sentinel's host path", layers: [][]ent{{hardlink("h", "$BASE/outside/secret")}},
			want: map[string]string{}, wantErr: "does not exist"},
		{name: "hard link climbing", layers: [][]ent{{hardlink("h", "../outside/secret")}},
			want: map[string]string{}, wantErr: "does not exist"},
		{name: "hard link climbing with a leading slash", layers: [][]ent{{hardlink("slash-dotdot", "/../outside/secret")}},
			want: map[string]string{}, wantErr: "does not exist"},
		{name: "hard link absolute and climbing targets resolve inside", layers: [][]ent{{file("etc/passwd", "inside"), hardlink("abs", "/etc/passwd"), hardlink("up", "../../../../../etc/passwd")}},
			want: map[string]string{"etc": "d 755", "etc/passwd": "f 644 inside", "abs": "f 644 inside", "up": "f 644 inside"}, same: [][2]string{{"abs", "etc/passwd"}, {"up", "etc/passwd"}}},
		{name: "hard link to a dir outside, then written through", layers: [][]ent{{hardlink("loophole-victim", "../outside"), file("loophole-victim/file", "x")}},
			want: map[string]string{}, wantErr: "does not exist"},
		{name: "hard link to a dir", layers: [][]ent{{dir("outside"), hardlink("loophole-victim", "../outside"), file("loophole-victim", "x")}},
			want: map[string]string{"outside": "d 755"}, wantErr: "is a directory"},
		{name: "hard link through a planted symlink", layers: [][]ent{{symlink("o", "../outside")}, {hardlink("h", "o/secret")}},
			want: map[string]string{"o": "l ../outside"}, wantErr: "does not exist"},
		{name: "hard link through symlinks that climb back inside", layers: [][]ent{{file("etc/passwd", "inside"), dir("downandout"), symlink("breakouts/d1", "../../etc"), symlink("breakouts/d2", "../downandout/../../etc"), hardlink("breakouts/mypasswd", "/breakouts/d1/passwd"), hardlink("breakouts/other", "breakouts/d2/passwd")}},
			want: map[string]string{"etc": "d 755", "etc/passwd": "f 644 inside", "downandout": "d 755", "breakouts": "d 755", "breakouts/d1": "l ../../etc", "breakouts/d2": "l ../downandout/../../etc", "breakouts/mypasswd": "f 644 inside", "breakouts/other": "f 644 inside"},
			same: [][2]string{{"breakouts/mypasswd", "etc/passwd"}, {"breakouts/other", "etc/passwd"}}},
		{name: "hard link name through planted symlink", layers: [][]ent{{file("f", "1"), symlink("o", "/../outside")}, {hardlink("o/secret", "f")}},
			want: map[string]string{"f": "f 644 1", "o": "l /../outside", "outside": "d 755", "outside/secret": "f 644 1"}, same: [][2]string{{"outside/secret", "f"}}},
		{name: "hard link over a planted symlink replaces the symlink", layers: [][]ent{{file("f", "1"), symlink("secret", "../outside/secret")}, {hardlink("secret", "f")}},
			want: map[string]string{"f": "f 644 1", "secret": "f 644 1"}, same: [][2]string{{"secret", "f"}}},
		{name: "hard link to a symlink aimed at a host file", layers: [][]ent{{symlink("$BASE/outside/also", "$BASE/outside/secret"), hardlink("sketchylink", "$BASE/outside/also")}},
			want: map[string]string{"@/outside": "d 755", "@/outside/also": "l $BASE/outside/secret", "sketchylink": "l $BASE/outside/secret"}},
		{name: "hard link to a symlink before the symlink's target exists", layers: [][]ent{{dir("etc"), symlink("localpasswd", "/etc/passwd"), hardlink("localpasswd-dup", "localpasswd"), file("/etc/passwd", "after")}},
			want: map[string]string{"etc": "d 755", "etc/passwd": "f 644 after", "localpasswd": "l /etc/passwd", "localpasswd-dup": "l /etc/passwd"}, same: [][2]string{{"localpasswd", "localpasswd-dup"}}},
		{name: "hard link planted then overwritten", layers: [][]ent{{file("a", "orig"), hardlink("b", "a")}, {file("b", "new"), file("a", "newer")}},
			want: map[string]string{"a": "f 644 newer", "b": "f 644 new"}},
		{name: "hard link planted then overwritten in the same layer", layers: [][]ent{{file("a", "orig"), hardlink("b", "a"), file("b", "new")}},
			want: map[string]string{"a": "f 644 orig", "b": "f 644 new"}},
		{name: "hard link planted, then its dir replaced by a symlink out", layers: [][]ent{{file("d/a", "orig"), hardlink("d/b", "d/a")}, {symlink("d", "../outside"), file("d/secret", "pwn")}},
			want: map[string]string{"d": "l ../outside", "outside": "d 755", "outside/secret": "f 644 pwn"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			root, _, check := sandboxIn(t, base)
			layers := make([][]ent, len(tt.layers))
			for i, l := range tt.layers {
				for _, e := range l {
					e.name = strings.ReplaceAll(e.name, basePlaceholder, base)
					e.link = strings.ReplaceAll(e.link, basePlaceholder, base)
					layers[i] = append(layers[i], e)
				}
			}
			_, err := applyLayers(t, root, layers...)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("apply: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("apply error = %v, want one containing %q", err, tt.wantErr)
			case tt.wantErr != "":
				var ee *EntryError
				if !errors.As(err, &ee) {
					t.Errorf("error %v names no entry", err)
				}
			}
			check()
			want := expandBase(tt.want, base)
			if got := tree(t, root); !equalTrees(got, want) {
				t.Errorf("tree differs:\n%s", diffTrees(got, want))
			}
			for _, s := range tt.same {
				a, errA := os.Lstat(filepath.Join(root, s[0]))
				b, errB := os.Lstat(filepath.Join(root, s[1]))
				if errA != nil || errB != nil || !os.SameFile(a, b) {
					t.Errorf("%s and %s are not one file (%v, %v)", s[0], s[1], errA, errB)
				}
			}
		})
	}
}

// expandBase puts the sandbox's host path in for "$BASE" (in values) and
// "@/" (at the start of keys, with the re-rooted path's ancestors).
func expandBase(want map[string]string, base string) map[string]string {
	out := map[string]string{}
	inside := strings.TrimPrefix(base, "/")
	for k, v := range want {
		v = strings.ReplaceAll(v, basePlaceholder, base)
		if rest, ok := strings.CutPrefix(k, "@/"); ok {
			k = inside + "/" + rest
			for d := filepath.Dir(k); d != "."; d = filepath.Dir(d) {
				if _, ok := out[d]; !ok {
					out[d] = "d 755"
				}
			}
		}
		out[k] = v
	}
	// Explicit entries win over implied ancestors.
	for k, v := range want {
		if rest, ok := strings.CutPrefix(k, "@/"); ok {
			out[inside+"/"+rest] = strings.ReplaceAll(v, basePlaceholder, base)
		}
	}
	return out
}

// TestStateDirProtected: whiteouts, opaque markers and hard links cannot
// reach the tool's own state directory, by any name.
func TestStateDirProtected(t *testing.T) {
	root, check := sandbox(t)
	if err := (&State{Status: StatusReady}).Save(root); err != nil {
		t.Fatal(err)
	}
	layers := [][]ent{
		{symlink("s", "/"+StateDirName), symlink("up", "../root")},
		{whiteoutOf("", StateDirName), file("s/.wh.state.json", ""), file("up/.wh."+StateDirName, ""), file(".wh..wh..opq", ""), file("x", "1")},
		{file(StateDirName+"/evil", "x"), file(StateDirName+"/sub/evil", "x"), symlink("s2", StateDirName+"/new"), file("s2/evil", "x"), symlink("s3", "../"+StateDirName), file("/../"+StateDirName+"/evil", "x"), dir(StateDirName), file(StateDirName, "x")},
	}
	_, err := applyLayers(t, root, layers...)
	if err != nil {
		t.Logf("apply: %v", err)
	}
	for _, target := range []string{StateDirName + "/state.json", "/../" + StateDirName + "/state.json", "s3/state.json"} {
		if _, err := applyLayers(t, root, []ent{hardlink("stolen", target)}); err == nil || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("hard link to %s: err = %v, want reserved", target, err)
		}
	}
	st, err := LoadState(root)
	if err != nil || st.Status != StatusReady {
		t.Fatalf("state after hostile layers: %+v, %v", st, err)
	}
	for _, n := range []string{"evil", "sub", "new"} {
		if _, err := os.Lstat(filepath.Join(root, StateDirName, n)); err == nil {
			t.Errorf("a layer wrote %s into the state dir", n)
		}
	}
	want := map[string]string{"s3": "l ../" + StateDirName, "s2": "l " + StateDirName + "/new", "x": "f 644 1"}
	if got := tree(t, root); !equalTrees(got, want) {
		t.Errorf("tree differs:\n%s", diffTrees(got, want))
	}
	check()
}
