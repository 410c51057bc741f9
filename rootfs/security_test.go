package rootfs

// Issue 14: a directory swapped for a symlink while a layer is applied or
// a tree removed (by a process running in the rootfs, or any other timing)
// must not lead a chmod, chown, utimes, listing or removal outside the
// root; one entry must not cost unbounded work or fill the error line;
// sparse entries must cost work in proportion to the layer's bytes; the
// state directory is never used through a symlink.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// swapper replaces the directories at paths with symlinks to target and
// back, over and over, until stop is called (at most limit rounds).
type swapper struct {
	stop   func()
	rounds atomic.Int64
}

func startSwapper(t *testing.T, paths []string, target string, limit, hold int) *swapper {
	t.Helper()
	s := &swapper{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < limit; i++ {
			select {
			case <-done:
				return
			default:
			}
			for _, p := range paths {
				moved := p + ".moved"
				if os.Rename(p, moved) != nil {
					continue
				}
				os.Symlink(target, p)
				// Leave it a moment: the other side must meet the link.
				for k := 0; k < hold; k++ {
					unix.Getpid()
				}
				os.Remove(p)
				os.Rename(moved, p)
			}
			s.rounds.Add(1)
		}
	}()
	var once sync.Once
	s.stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(s.stop)
	return s
}

// TestSwapRaceApply: while layers are applied (dirs made and re-listed
// with other modes, owners and times, lower dirs removed and made
// writable), another goroutine keeps swapping those dirs for symlinks to
// the sentinel. Whatever the apply does or fails, nothing outside changes.
func TestSwapRaceApply(t *testing.T) {
	withPool(t)
	base := t.TempDir()
	root, sentinel, check := sandboxIn(t, base)
	const n = 12
	var paths []string
	var lower, upper []ent
	for i := range n {
		d := fmt.Sprintf("d%d", i)
		paths = append(paths, filepath.Join(root, d), filepath.Join(root, d, "s"))
		lower = append(lower, dir(d), withMode(dir(d+"/s"), 0555), file(d+"/s/f", "x"), withMode(dir(d+"/gone"), 0500), file(d+"/gone/f", "x"))
		upper = append(upper,
			withOwner(withMode(dir(d), 0700), 1234, 1234), withOwner(withMode(dir(d+"/s"), 0500), 1234, 1234),
			whiteoutOf(d, "gone"), file(d+"/s/new", "y"), fifo(d+"/p"), symlink(d+"/l", "s"),
			withMode(dir(d+"/new"), 0711), file(d+"/new/f", "z"))
	}
	lowerTar, upperTar := layerTar(t, lower...), layerTar(t, upper...)
	deadline := time.Now().Add(3 * time.Second)
	rounds := 0
	for ; rounds < 200 && time.Now().Before(deadline); rounds++ {
		os.RemoveAll(root)
		makeRemovable(root)
		os.RemoveAll(root)
		if err := os.Mkdir(root, 0755); err != nil {
			t.Fatal(err)
		}
		if _, err := Apply(context.Background(), root, bytes.NewReader(lowerTar)); err != nil {
			t.Fatal(err)
		}
		sw := startSwapper(t, paths, sentinel, 1000, 20)
		Apply(context.Background(), root, bytes.NewReader(upperTar)) // may fail: the tree moves under it
		sw.stop()
		makeRemovable(root)
	}
	t.Logf("%d rounds", rounds)
	check()
}

// TestSwapRaceRemove: RemoveTree and Clear of a tree whose dirs (some
// read-only) are swapped for symlinks to the sentinel meanwhile.
func TestSwapRaceRemove(t *testing.T) {
	for _, clear := range []bool{false, true} {
		t.Run(fmt.Sprintf("clear=%v", clear), func(t *testing.T) {
			base := t.TempDir()
			root, sentinel, check := sandboxIn(t, base)
			deadline := time.Now().Add(2 * time.Second)
			rounds := 0
			for ; rounds < 200 && time.Now().Before(deadline); rounds++ {
				var paths []string
				for i := range 200 {
					d := filepath.Join(root, fmt.Sprintf("d%03d", i))
					// "sub" as the sentinel has it: a path through a
					// swapped dir leads to the sentinel's own dirs.
					for _, p := range []string{d, filepath.Join(d, "sub"), filepath.Join(d, "sub", "sub")} {
						if err := os.MkdirAll(p, 0755); err != nil {
							t.Fatal(err)
						}
						os.WriteFile(filepath.Join(p, "f"), []byte("x"), 0644)
					}
					os.Chmod(filepath.Join(d, "sub", "sub"), 0555)
					os.Chmod(filepath.Join(d, "sub"), 0500)
					paths = append(paths, d)
				}
				sw := startSwapper(t, paths, sentinel, 1000, 200)
				if clear {
					Clear(root)
				} else {
					RemoveTree(root)
				}
				sw.stop()
				makeRemovable(root)
				os.RemoveAll(root)
				os.Mkdir(root, 0755)
			}
			t.Logf("%d rounds", rounds)
			check()
		})
	}
}

// eventReader runs fn once, just before the byte at offset at is read.
type eventReader struct {
	r   io.Reader
	pos int64
	at  int64
	fn  func()
}

func (e *eventReader) Read(p []byte) (int, error) {
	if e.fn != nil && e.pos+int64(len(p)) > e.at {
		if e.pos >= e.at {
			e.fn()
			e.fn = nil
		} else {
			p = p[:e.at-e.pos]
		}
	}
	n, err := e.r.Read(p)
	e.pos += int64(n)
	return n, err
}

// TestSwapMakeWritable: a lower read-only dir is resolved for one entry
// (a hard link to a file in it) and kept for the next (a new file in it);
// in between, its parent is swapped for a symlink to the sentinel, which
// holds a read-only dir of the same name. Making the lower dir writable
// must chmod that dir, through the descriptor the walk opened, not
// whatever its path leads to by then. Only an unprivileged run meets the
// EACCES that makes a dir writable (TestUnprivileged runs it so).
func TestSwapMakeWritable(t *testing.T) {
	if isRoot() {
		t.Skip("root is never refused: the unprivileged run covers this")
	}
	base := t.TempDir()
	root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{root, outside, filepath.Join(outside, "ro")} {
		if err := os.Mkdir(d, 0755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(outside, "ro"), 0555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { makeRemovable(base) })
	want := snapshot(t, outside)
	if _, err := applyLayers(t, root, []ent{dir("x"), withMode(dir("x/ro"), 0555), file("x/ro/a", "a")}); err != nil {
		t.Fatal(err)
	}
	first := layerTar(t, hardlink("h", "x/ro/a"))
	layer := layerTar(t, hardlink("h", "x/ro/a"), file("x/ro/new", "n"))
	r := &eventReader{r: bytes.NewReader(layer), at: int64(len(first) - 1024), fn: func() {
		if err := os.Rename(filepath.Join(root, "x"), filepath.Join(root, "moved")); err != nil {
			t.Error(err)
		}
		if err := os.Symlink(outside, filepath.Join(root, "x")); err != nil {
			t.Error(err)
		}
	}}
	_, err := Apply(context.Background(), root, r)
	t.Logf("apply: %v", err)
	if r.fn != nil {
		t.Fatal("the swap did not happen")
	}
	if got := snapshot(t, outside); !equalTrees(got, want) {
		t.Errorf("outside the root changed:\n%s", diffTrees(got, want))
	}
}

// TestRemoveTreeSymlinks: symlinks to the sentinel planted at several
// levels (absolute and relative, to dirs and files) are removed, not
// followed; a symlink given as the tree itself is refused.
func TestRemoveTreeSymlinks(t *testing.T) {
	base := t.TempDir()
	root, sentinel, check := sandboxIn(t, base)
	for _, p := range []string{"a/b/c", "ro/x"} {
		if err := os.MkdirAll(filepath.Join(root, p), 0755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"l": sentinel, "a/l": "../../outside", "a/b/l": sentinel + "/sub", "a/b/c/l": sentinel + "/secret", "ro/x/l": "/",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"ro/x", "ro", "a/b"} {
		os.Chmod(filepath.Join(root, p), 0555)
	}
	// The tree given as a symlink: refused, the sentinel kept.
	if err := os.Symlink(sentinel, filepath.Join(root, "tree")); err != nil {
		t.Fatal(err)
	}
	if err := RemoveTree(filepath.Join(root, "tree")); !errors.Is(err, ErrNotRemovable) {
		t.Errorf("RemoveTree(a symlink to a dir) = %v, want ErrNotRemovable", err)
	}
	check()
	// Clear keeps a real state dir, removes a planted one.
	if err := os.Mkdir(filepath.Join(root, StateDirName), 0755); err != nil {
		t.Fatal(err)
	}
	if err := Clear(root); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	names, _ := os.ReadDir(root)
	if len(names) != 1 || names[0].Name() != StateDirName {
		t.Errorf("after Clear: %v, want only %s", names, StateDirName)
	}
	check()
	if err := RemoveTree(root); err != nil {
		t.Fatalf("RemoveTree: %v", err)
	}
	if _, err := os.Lstat(root); !os.IsNotExist(err) {
		t.Errorf("root still there: %v", err)
	}
	os.Mkdir(root, 0755) // for check's listing of the base
	check()
}

// TestHugeEntryName: one entry of 50,000 components (a 100 KB name)
// fails at once with a short message, opening nothing; bounded depth,
// link targets and walks likewise.
func TestHugeEntryName(t *testing.T) {
	long := strings.Repeat("a/", 50000) + "f"
	deep := strings.Repeat("a/", MaxPathDepth+10) + "f"
	cases := []struct {
		name    string
		layer   []ent
		wantErr error
	}{
		{"a 100 KB name of 50,000 components", []ent{file(long, "x")}, ErrPathTooLong},
		{"a 100 KB directory name", []ent{dir(long)}, ErrPathTooLong},
		{"a 100 KB whiteout", []ent{whiteoutOf(long, "x")}, ErrPathTooLong},
		{"a 100 KB hard link target", []ent{hardlink("h", long)}, ErrPathTooLong},
		{"a 100 KB symlink target", []ent{symlink("s", long)}, ErrPathTooLong},
		{"too many components in 4 KB", []ent{file(deep, "x")}, ErrPathTooDeep},
		{"a symlink leading too deep", []ent{symlink("s", strings.Repeat("b/", 1500)), file("s/f", "x")}, ErrPathTooDeep},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root, check := sandbox(t)
			fds := openFDs(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			type result struct{ err error }
			done := make(chan result, 1)
			go func() {
				_, err := Apply(ctx, root, bytes.NewReader(layerTar(t, c.layer...)))
				done <- result{err}
			}()
			var err error
			select {
			case r := <-done:
				err = r.err
			case <-time.After(2 * time.Minute):
				t.Fatal("Apply did not return")
			}
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %.300v, want %v", err, c.wantErr)
			}
			if msg := err.Error(); len(msg) > 300 || strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error message of %d bytes: %.400q", len(msg), msg)
			}
			if n := openFDs(t); n != fds {
				t.Errorf("%d files open after apply, %d before", n, fds)
			}
			// Nothing made on the way but what a bounded walk may make.
			count := 0
			walkEntries(t, root, func(rel, _ string, _ os.FileInfo) error { count++; return nil })
			if count > MaxPathDepth+2 {
				t.Errorf("%d entries made under the root", count)
			}
			check()
		})
	}
}

// TestShortNames: every name in an error line is cut to a readable
// length and its control characters escaped.
func TestShortNames(t *testing.T) {
	evil := "\x1b[2J\x1b]0;pwned\x07" + strings.Repeat("z", 3000) + "\n\r\u202e"
	root, check := sandbox(t)
	_, err := applyLayers(t, root, []ent{hardlink("h", evil)})
	if err == nil {
		t.Fatal("a hard link to nothing applied")
	}
	msg := err.Error()
	if len(msg) > 300 || strings.ContainsAny(msg, "\x1b\x07\n\r\u202e") {
		t.Errorf("error message of %d bytes: %.400q", len(msg), msg)
	}
	check()
	for in, want := range map[string]string{
		"usr/bin/ls":                 "usr/bin/ls",
		"a\x00b\tc\\":                `a\x00b\x09c\\`,
		"\xff\xfe":                   `\xff\xfe`,
		strings.Repeat("é", 100):     strings.Repeat("é", 40) + "…" + strings.Repeat("é", 20),
		strings.Repeat("x", 61):      strings.Repeat("x", 61),
		strings.Repeat("x", 62) + "": strings.Repeat("x", 40) + "…" + strings.Repeat("x", 20),
	} {
		if got := shortName(in); got != want {
			t.Errorf("shortName(%.80q) = %q, want %q", in, got, want)
		}
	}
}

// TestSparseBudget: sparse entries whose holes add up to far more than
// the layer's bytes are refused early (work in proportion to the input,
// not to what the headers declare), old GNU and PAX sparse alike; a
// plain entry declaring more than it holds is an error, not a hang.
func TestSparseBudget(t *testing.T) {
	var many []ent
	for i := range 1000 { // 1 TiB of holes from a few hundred KiB
		many = append(many, oldGNUSparse(fmt.Sprintf("s%d", i), 1<<30, [][2]int64{{0, 1}}, "x"))
	}
	cases := []struct {
		name string
		tar  []byte
		want error
	}{
		{"1,000 old GNU sparse entries of 1 GiB each", layerTar(t, many...), ErrSparseTooLarge},
		{"a PAX sparse entry of 1 PiB", paxSparse(t, "p", 1<<50, "x"), ErrSparseTooLarge},
		{"a plain entry declaring 4 GiB", truncatedEntry(t, "big", 1<<32, "only this"), io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root, check := sandbox(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := Apply(ctx, root, bytes.NewReader(c.tar))
			if !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
			check()
		})
	}
	// What fits the budget still applies, holes as holes.
	root, check := sandbox(t)
	if _, err := Apply(context.Background(), root, bytes.NewReader(paxSparse(t, "p", 100<<20, "data"))); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(root, "p"), &st); err != nil || st.Size != 100<<20 || st.Blocks*512 > 8<<20 {
		t.Errorf("p: size %d, %d bytes on disk (%v); want 100 MiB, sparse", st.Size, st.Blocks*512, err)
	}
	check()
}

// paxSparse is a PAX 0.1 GNU sparse entry (records GNU.sparse.size, .map,
// .numblocks), which Go's tar writer will not make: one fragment of data at
// offset 0, then a hole up to size.
func paxSparse(t testing.TB, name string, size int64, data string) []byte {
	t.Helper()
	rec := func(k, v string) string {
		size := len(k) + len(v) + 3
		size += len(fmt.Sprint(size))
		r := fmt.Sprintf("%d %s=%s\n", size, k, v)
		if len(r) != size { // the length's own digits carried over
			r = fmt.Sprintf("%d %s=%s\n", len(r), k, v)
		}
		return r
	}
	records := rec("GNU.sparse.size", fmt.Sprint(size)) + rec("GNU.sparse.numblocks", "1") +
		rec("GNU.sparse.map", fmt.Sprintf("0,%d", len(data)))
	var out []byte
	out = append(out, rawHeader(name+".pax", 'x', int64(len(records)))...)
	out = append(out, pad512([]byte(records))...)
	out = append(out, rawHeader(name, '0', int64(len(data)))...)
	out = append(out, pad512([]byte(data))...)
	return append(out, make([]byte, 1024)...)
}

// truncatedEntry is a plain file header declaring size bytes, followed by
// only data.
func truncatedEntry(t testing.TB, name string, size int64, data string) []byte {
	return append(rawHeader(name, '0', size), data...)
}

// rawHeader is one ustar header block.
func rawHeader(name string, typ byte, size int64) []byte {
	var blk [512]byte
	octal := func(b []byte, v int64) {
		s := fmt.Sprintf("%o", v)
		copy(b, strings.Repeat("0", len(b)-1-len(s))+s)
	}
	copy(blk[0:100], name)
	octal(blk[100:108], 0644)
	octal(blk[108:116], 0)
	octal(blk[116:124], 0)
	octal(blk[124:136], size)
	octal(blk[136:148], testTime.Unix())
	blk[156] = typ
	copy(blk[257:263], "ustar\x00")
	copy(blk[263:265], "00")
	copy(blk[148:156], "        ")
	var sum int64
	for _, b := range blk {
		sum += int64(b)
	}
	copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return blk[:]
}

func pad512(b []byte) []byte {
	if r := len(b) % 512; r != 0 {
		b = append(b, make([]byte, 512-r)...)
	}
	return b
}

// TestStateDirNoFollow: a state directory, state file or lock planted as
// a symlink (or a FIFO) by a process in the rootfs between runs is
// refused: nothing is read, written or created through it, and nothing
// hangs.
func TestStateDirNoFollow(t *testing.T) {
	t.Run("state dir a symlink to a dir outside", func(t *testing.T) {
		base := t.TempDir()
		root, sentinel, check := sandboxIn(t, base)
		if err := os.WriteFile(filepath.Join(sentinel, "state.json"), []byte(`{"version":1,"status":"ready"}`), 0644); err != nil {
			t.Fatal(err)
		}
		check = refresh(t, sentinel, base)
		if err := os.Symlink(sentinel, filepath.Join(root, StateDirName)); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadState(root); !errors.Is(err, ErrStateDir) {
			t.Errorf("LoadState = %v, want ErrStateDir", err)
		}
		if err := (&State{Status: StatusPulling}).Save(root); !errors.Is(err, ErrStateDir) {
			t.Errorf("Save = %v, want ErrStateDir", err)
		}
		if err := WriteStateFile(root, "config.json", []byte("{}")); !errors.Is(err, ErrStateDir) {
			t.Errorf("WriteStateFile = %v, want ErrStateDir", err)
		}
		if unlock, err := Lock(root); !errors.Is(err, ErrStateDir) {
			t.Errorf("Lock = %v, want ErrStateDir", err)
			if err == nil {
				unlock()
			}
		}
		check()
	})
	t.Run("state dir a file", func(t *testing.T) {
		root, check := sandbox(t)
		os.WriteFile(filepath.Join(root, StateDirName), nil, 0644)
		if err := (&State{}).Save(root); !errors.Is(err, ErrStateDir) {
			t.Errorf("Save = %v, want ErrStateDir", err)
		}
		check()
	})
	t.Run("state files planted as symlinks and a FIFO", func(t *testing.T) {
		base := t.TempDir()
		root, sentinel, check := sandboxIn(t, base)
		if err := (&State{Status: StatusReady}).Save(root); err != nil {
			t.Fatal(err)
		}
		sd := filepath.Join(root, StateDirName)
		os.Remove(filepath.Join(sd, "state.json"))
		if err := os.Symlink(filepath.Join(sentinel, "secret"), filepath.Join(sd, "state.json")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(sentinel, "newlock"), filepath.Join(sd, "lock")); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mkfifo(filepath.Join(sd, "config.json"), 0644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadState(root); err == nil || errors.Is(err, ErrNoState) {
			t.Errorf("LoadState through a symlinked state.json = %v, want a refusal", err)
		}
		if unlock, err := Lock(root); err == nil {
			unlock()
			t.Error("Lock through a symlinked lock file succeeded")
		}
		done := make(chan error, 1)
		go func() { _, err := ReadStateFile(root, "config.json"); done <- err }()
		select {
		case err := <-done:
			if err == nil {
				t.Error("ReadStateFile of a FIFO succeeded")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("ReadStateFile of a FIFO hangs")
		}
		// Saving replaces the planted symlink, never writes through it.
		if err := (&State{Status: StatusPulling}).Save(root); err != nil {
			t.Fatal(err)
		}
		if st, err := LoadState(root); err != nil || st.Status != StatusPulling {
			t.Errorf("after Save: %+v, %v", st, err)
		}
		check()
	})
}

// refresh takes a new sentinel snapshot after a test added to it.
func refresh(t *testing.T, sentinel, base string) func() {
	want := snapshot(t, sentinel)
	return func() {
		t.Helper()
		if got := snapshot(t, sentinel); !equalTrees(got, want) {
			t.Errorf("outside the root changed:\n%s", diffTrees(got, want))
		}
	}
}

// TestRemoveSwapAfterListing: a directory listed for removal is swapped
// for a symlink to the sentinel before the removal reaches it. The swap
// is made as soon as inotify reports the removal's first chmod in the same
// directory, so it lands while 299 other dirs are still ahead of the
// swapped one: the removal must meet a symlink where it listed a
// directory, and neither chmod nor empty what it leads to.
func TestRemoveSwapAfterListing(t *testing.T) {
	for _, clear := range []bool{false, true} {
		t.Run(fmt.Sprintf("clear=%v", clear), func(t *testing.T) {
			base := t.TempDir()
			root, sentinel, check := sandboxIn(t, base)
			top := filepath.Join(root, "top")
			for i := range 300 {
				p := filepath.Join(top, fmt.Sprintf("s%03d", i), "sub")
				if err := os.MkdirAll(p, 0755); err != nil {
					t.Fatal(err)
				}
				os.Chmod(filepath.Dir(p), 0500) // every removal chmods it
			}
			in, err := unix.InotifyInit1(unix.IN_CLOEXEC)
			if err != nil {
				t.Skipf("inotify: %v", err)
			}
			defer unix.Close(in)
			if _, err := unix.InotifyAddWatch(in, top, unix.IN_ATTRIB|unix.IN_OPEN); err != nil {
				t.Fatal(err)
			}
			swapped := make(chan error, 1)
			go func() {
				// Wait for an event on one of top's dirs (not top itself,
				// which is touched before it is listed).
				buf := make([]byte, 4096)
			wait:
				for {
					n, err := unix.Read(in, buf)
					if err != nil {
						swapped <- err
						return
					}
					for off := 0; off+unix.SizeofInotifyEvent <= n; {
						ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
						name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
						if ev.Len > 0 && bytes.HasPrefix(name, []byte("s0")) {
							break wait
						}
						off += unix.SizeofInotifyEvent + int(ev.Len)
					}
				}
				last := filepath.Join(top, "s299")
				if err := os.Rename(last, last+".moved"); err != nil {
					swapped <- err
					return
				}
				swapped <- os.Symlink(sentinel, last)
			}()
			if clear {
				err = Clear(root)
			} else {
				err = RemoveTree(root)
			}
			t.Logf("removal: %v", err)
			select {
			case err := <-swapped:
				if err != nil {
					t.Fatalf("swap: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the removal never touched the directory")
			}
			makeRemovable(root) // not base: that would hide a chmod of the sentinel
			check()
		})
	}
}

// TestSwapDuringFinish: a directory re-listed with xattrs gets its
// metadata at the end of the layer; the moment anything opens it (the old
// applier opened it for its xattrs, then chmodded it by name), it is
// swapped for a symlink to the sentinel. The mode set after must still
// land on the directory, not on the sentinel.
func TestSwapDuringFinish(t *testing.T) {
	base := t.TempDir()
	root, sentinel, check := sandboxIn(t, base)
	if !xattrsSupported(t, root) {
		t.Skip("no user xattrs here: the window this test widens does not open")
	}
	if _, err := applyLayers(t, root, []ent{dir("d")}); err != nil {
		t.Fatal(err)
	}
	pax := map[string]string{}
	for i := range 100 { // what fits one ext4 block
		pax[fmt.Sprintf("SCHILY.xattr.user.%02d", i)] = "v"
	}
	upper := ent{name: "d", typ: '5', mode: 0700, pax: pax}
	swaps := 0
	for range 10 {
		if swapDuringApply(t, root, sentinel, upper) {
			swaps++
		}
		d := filepath.Join(root, "d")
		if fi, err := os.Lstat(d); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			os.Remove(d)
			os.Rename(d+".moved", d)
		}
	}
	t.Logf("%d of 10 applies met the swap", swaps)
	check()
}

// swapDuringApply applies layer, swapping root/d for a symlink to target
// the moment d is opened or its metadata first changes.
func swapDuringApply(t *testing.T, root, target string, layer ...ent) bool {
	in, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		t.Skipf("inotify: %v", err)
	}
	defer unix.Close(in)
	if _, err := unix.InotifyAddWatch(in, root, unix.IN_OPEN|unix.IN_ATTRIB); err != nil {
		t.Fatal(err)
	}
	swapped := make(chan bool, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := unix.Read(in, buf)
			if err != nil {
				swapped <- false
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				name := string(bytes.TrimRight(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)], "\x00"))
				switch name {
				case "d":
					d := filepath.Join(root, "d")
					os.Rename(d, d+".moved")
					os.Symlink(target, d)
					swapped <- true
					return
				case "wake":
					swapped <- false
					return
				}
				off += unix.SizeofInotifyEvent + int(ev.Len)
			}
		}
	}()
	_, err = applyLayers(t, root, layer)
	if f, err := os.Create(filepath.Join(root, "wake")); err == nil { // ends the watch
		f.Close()
	}
	ok := <-swapped
	os.Remove(filepath.Join(root, "wake"))
	t.Logf("apply: %v; swapped while applying: %v", err, ok)
	return ok
}
