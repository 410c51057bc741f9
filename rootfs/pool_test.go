package rootfs

// The file pool (parallel.go) must give exactly the tree an in-order
// application gives: these cases put a later entry against files the pool
// may still be making, fail a pooled file, and check that nothing leaks.
// The pool needs GOMAXPROCS ≥ 2; withPool makes sure of it.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// withPool makes Apply start its pool (it does not on one CPU) for the
// rest of the test.
func withPool(t *testing.T) {
	t.Helper()
	old := runtime.GOMAXPROCS(4)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
}

func TestPool(t *testing.T) {
	withPool(t)
	longName := strings.Repeat("n", 300) // > NAME_MAX

	// Many small files in one fresh dir: several batches (64 files or
	// 256 KiB each), names repeated across them, hard links to some.
	many := []ent{withMode(dir("m"), 0555)}
	manyWant := map[string]string{"m": "d 555"}
	for i := range 150 {
		n := fmt.Sprintf("m/f%03d", i)
		many = append(many, file(n, strings.Repeat("a", 3000)))
		manyWant[n] = "f 644 " + strings.Repeat("a", 3000)
	}
	for i := 0; i < 150; i += 7 {
		n, body := fmt.Sprintf("m/f%03d", i), fmt.Sprintf("second %d", i)
		many = append(many, file(n, body), hardlink(fmt.Sprintf("m/h%03d", i), n))
		manyWant[n] = "f 644 " + body
		manyWant[fmt.Sprintf("m/h%03d", i)] = "f 644 " + body
	}

	runApplyCases(t, []applyCase{
		{
			name:   "a fresh dir with pending files is replaced by a symlink, then written through",
			layers: [][]ent{{dir("t")}, {dir("d"), file("d/a", "1"), file("d/b", "2"), symlink("d", "t"), file("d/c", "3")}},
			want:   map[string]string{"t": "d 755", "d": "l t", "t/c": "f 644 3"},
		},
		{
			name:   "a fresh dir with pending files is replaced by a file, then by a dir with the same names",
			layers: [][]ent{{dir("d"), file("d/a", "1"), file("d/b", "1"), file("d", "F"), dir("d"), file("d/a", "2")}},
			want:   map[string]string{"d": "d 755", "d/a": "f 644 2"},
		},
		{
			name: "pending files replaced by a hard link, a symlink, a fifo and a dir",
			layers: [][]ent{{file("lower", "L")}, {dir("d"), file("d/a", "1"), hardlink("d/a", "lower"), file("d/b", "1"), symlink("d/b", "a"),
				file("d/c", "1"), fifo("d/c"), file("d/e", "1"), dir("d/e")}},
			want: map[string]string{"lower": "f 644 L", "d": "d 755", "d/a": "f 644 L", "d/b": "l a", "d/c": "p 644", "d/e": "d 755"},
		},
		{
			name:   "hard links to a pending file through a symlinked parent, from one, and with ..",
			layers: [][]ent{{dir("d"), file("d/a", "1"), symlink("s", "d"), hardlink("h", "s/a"), hardlink("s/h2", "d/a"), hardlink("d/h3", "/s/../s/a")}},
			want:   map[string]string{"d": "d 755", "d/a": "f 644 1", "s": "l d", "h": "f 644 1", "d/h2": "f 644 1", "d/h3": "f 644 1"},
		},
		{
			name:      "a walk through a symlink to a pending file fails as in order",
			layers:    [][]ent{{dir("d"), file("d/a", "1"), symlink("s", "d/a"), file("s/x", "x")}},
			want:      map[string]string{"d": "d 755", "d/a": "f 644 1", "s": "l d/a"},
			wantErr:   "not a directory",
			wantEntry: "s/x",
		},
		{
			name: "whiteout and opaque of a lower dir holding a fresh dir with pending files",
			layers: [][]ent{{file("L/old", "o"), file("L/sub/old", "o")},
				{dir("L/new"), file("L/new/a", "1"), whiteoutOf("", "L"), file("L/new/b", "2"), opaqueIn("L/new"), opaqueIn("L"), whiteoutOf("L/new", "a")}},
			want: map[string]string{"L": "d 755", "L/new": "d 755", "L/new/a": "f 644 1", "L/new/b": "f 644 2"},
		},
		{
			name:   "a lower symlink leading to a fresh dir is swapped while its files are pending",
			layers: [][]ent{{symlink("s", "x")}, {file("s/a", "1"), symlink("s", "y"), file("s/b", "2"), file("x/c", "3")}},
			want:   map[string]string{"s": "l y", "x": "d 755", "x/a": "f 644 1", "y": "d 755", "y/b": "f 644 2", "x/c": "f 644 3"},
		},
		{
			name: "read-only and 0000 fresh dirs get all their pooled files",
			layers: [][]ent{{withMode(dir("z"), 0), file("z/a", "1"), withMode(dir("z/sub"), 0500), file("z/sub/b", "2"),
				withMode(dir("ro"), 0555), withMode(file("ro/zero", "0"), 0), withMode(file("ro/suid", "s"), 04755)}},
			want: map[string]string{"z": "d 0", "z/a": "f 644 1", "z/sub": "d 500", "z/sub/b": "f 644 2",
				"ro": "d 555", "ro/zero": "f 0 0", "ro/suid": "f 4755 s"},
		},
		{
			name:   "several batches, names repeated across them, hard links to each",
			layers: [][]ent{many},
			want:   manyWant,
		},
		{
			name:   "files of interleaved fresh dirs",
			layers: [][]ent{{file("p/1", "1"), file("q/1", "1"), file("p/2", "2"), file("q/2", "2"), file("p/1", "one"), hardlink("q/3", "p/2")}},
			want:   map[string]string{"p": "d 755", "q": "d 755", "p/1": "f 644 one", "p/2": "f 644 2", "q/1": "f 644 1", "q/2": "f 644 2", "q/3": "f 644 2"},
		},
		{
			name:      "a name too long fails in order: nothing after it is applied",
			layers:    [][]ent{{file("keep", "k")}, {dir("d"), file("d/"+longName, "x"), file("keep", "replaced"), file("new", "n")}},
			want:      map[string]string{"keep": "f 644 k", "d": "d 755"},
			wantErr:   "file name too long",
			wantEntry: "d/" + longName,
		},
	})
}

// A fresh dir's mtime and mode are set after all its pooled files are
// made (several batches, several workers).
func TestPoolDirMetadataLast(t *testing.T) {
	withPool(t)
	root, check := sandbox(t)
	ents := []ent{withMode(dir("d"), 0555), withMode(dir("d/sub"), 0500)}
	for i := range 300 {
		ents = append(ents, file(fmt.Sprintf("d/f%03d", i), strings.Repeat("x", 1000)), file(fmt.Sprintf("d/sub/g%03d", i), "y"))
	}
	if _, err := applyLayers(t, root, ents); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"d", "d/sub"} {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(testTime) {
			t.Errorf("%s: mtime %v, want %v (set before its files were made)", p, fi.ModTime().UTC(), testTime)
		}
	}
	check()
}

// cancelAfter cancels a context once n bytes have been read through it.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if c.n -= k; c.n <= 0 {
		c.cancel()
	}
	return k, err
}

// No goroutine or file descriptor outlives Apply, whether it succeeds,
// fails on an entry or a broken tar, or is cancelled with batches under way.
func TestPoolNoLeaks(t *testing.T) {
	withPool(t)
	var ents []ent
	for i := range 400 {
		ents = append(ents, file(fmt.Sprintf("d%d/f%03d", i%5, i), strings.Repeat("z", 2000)))
	}
	good := layerTar(t, ents...)
	bad := layerTar(t, append(ents[:200:200], append([]ent{file("d1/"+strings.Repeat("n", 300), "x")}, ents[200:]...)...)...)
	cases := []struct {
		name string
		ok   bool
		run  func(root string) error
	}{
		{"success", true, func(root string) error {
			_, err := Apply(context.Background(), root, bytes.NewReader(good))
			return err
		}},
		{"a failing entry", false, func(root string) error {
			_, err := Apply(context.Background(), root, bytes.NewReader(bad))
			return err
		}},
		{"truncated tar", false, func(root string) error {
			_, err := Apply(context.Background(), root, bytes.NewReader(good[:len(good)/2+100]))
			return err
		}},
		{"cancelled mid-layer", false, func(root string) error {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := Apply(ctx, root, &cancelAfter{r: bytes.NewReader(good), n: len(good) / 2, cancel: cancel})
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root, check := sandbox(t)
			g, fds := runtime.NumGoroutine(), openFDs(t)
			err := c.run(root)
			if c.ok != (err == nil) {
				t.Fatalf("apply: %v", err)
			}
			for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > g && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > g {
				t.Errorf("%d goroutines after apply, %d before", n, g)
			}
			if n := openFDs(t); n != fds {
				t.Errorf("%d files open after apply, %d before", n, fds)
			}
			check()
		})
	}
}

// aclDefault encodes the default POSIX ACL user::r-x group::r-x
// other::r-x (system.posix_acl_default).
func aclDefault() string {
	b := binary.LittleEndian.AppendUint32(nil, 2) // POSIX_ACL_XATTR_VERSION
	for _, e := range []struct{ tag, perm uint16 }{{0x01, 5}, {0x04, 5}, {0x20, 5}} {
		b = binary.LittleEndian.AppendUint16(b, e.tag)
		b = binary.LittleEndian.AppendUint16(b, e.perm)
		b = binary.LittleEndian.AppendUint32(b, 0xffffffff)
	}
	return string(b)
}

// A lower dir with a default ACL without owner write (any user may set
// one on their own dir) makes the dirs created in it 0500: the pool must
// still be able to write into them, as the applier's own path does. Only
// an unprivileged run can fail this (root ignores modes).
func TestPoolFreshDirNotWritable(t *testing.T) {
	withPool(t)
	root, check := sandbox(t)
	l := ent{name: "L", typ: '5', mode: 0755, pax: map[string]string{"SCHILY.xattr.system.posix_acl_default": aclDefault()}}
	st, err := applyLayers(t, root, []ent{l})
	if err != nil {
		t.Fatal(err)
	}
	if st.SkippedXattrs != 0 {
		t.Fatal("the test's default ACL was not set")
	}
	if _, err := applyLayers(t, root, []ent{dir("L/new"), file("L/new/f", "x")}); err != nil {
		t.Errorf("apply: %v", err)
	}
	want := map[string]string{"L": "d 755", "L/new": "d 755", "L/new/f": "f 644 x"}
	if got := tree(t, root); !equalTrees(got, want) {
		t.Errorf("tree differs:\n%s", diffTrees(got, want))
	}
	check()
}

// A pooled file that fails (here the file system is full) fails the layer
// under its own name, not under the later entry that met the failure at a
// barrier (a whiteout), and without a barrier the applier stops soon after
// instead of applying the rest.
func TestPoolFailure(t *testing.T) {
	if !isRoot() {
		t.Skip("needs root to mount a small tmpfs (the root run covers it)")
	}
	withPool(t)
	// 10 files of 60 KiB in a fresh dir: the pool's, and too many for
	// a 128 KiB file system.
	pooled := []ent{dir("d")}
	for i := range 10 {
		pooled = append(pooled, file(fmt.Sprintf("d/f%d", i), strings.Repeat("x", 60<<10)))
	}
	// 20,000 empty dirs need no space and no barrier.
	var dirs []ent
	for i := range 20000 {
		dirs = append(dirs, dir(fmt.Sprintf("e/%d", i)))
	}
	for _, tc := range []struct {
		name string
		then []ent
	}{
		{"then a whiteout", []ent{whiteoutOf("", "keep")}},
		{"then many entries", dirs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			if err := unix.Mount("tmpfs", base, "tmpfs", 0, "size=128k"); err != nil {
				t.Fatalf("mount a 128 KiB tmpfs: %v", err)
			}
			t.Cleanup(func() { unix.Unmount(base, unix.MNT_DETACH) })
			root, _, check := sandboxIn(t, base)
			if _, err := applyLayers(t, root, []ent{file("keep", "k")}); err != nil {
				t.Fatal(err)
			}
			_, err := applyLayers(t, root, append(pooled[:len(pooled):len(pooled)], tc.then...))
			var ee *EntryError
			if !errors.Is(err, unix.ENOSPC) || !errors.As(err, &ee) || !strings.HasPrefix(ee.Name, "d/f") {
				t.Fatalf("apply error = %v, want ENOSPC naming one of d/f*", err)
			}
			if _, err := os.Lstat(filepath.Join(root, "keep")); err != nil {
				t.Errorf("the whiteout after the failure was applied: %v", err)
			}
			if made, _ := os.ReadDir(filepath.Join(root, "e")); len(made) == len(dirs) {
				t.Errorf("all %d entries after the failure were applied", len(dirs))
			}
			check()
		})
	}
}
