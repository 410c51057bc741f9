package export_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/export"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// metaOf is the head of a real export: its marker, state and config
// entries, to put a forged tree behind.
func metaOf(t *testing.T, dir string) []*entry {
	file := filepath.Join(tmp(t), "real.tar")
	if _, err := export.Export(ctx(t), dir, file, export.Options{}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var out []*entry
	for {
		h, err := tr.Next()
		if err != nil || strings.HasPrefix(h.Name, "rootfs/") {
			return out
		}
		b, _ := io.ReadAll(tr)
		out = append(out, &entry{h, b})
	}
}

type entry struct {
	h    *tar.Header
	body []byte
}

// forge writes meta, then tree (each name as given), then a trailer
// matching the tree (or none).
func forge(t *testing.T, meta []*entry, tree []testimage.Entry, trailer bool) string {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range meta {
		tw.WriteHeader(e.h)
		tw.Write(e.body)
	}
	var n int64
	for _, e := range tree {
		typ := e.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.Name, Linkname: e.Link, Typeflag: typ, Mode: e.Mode, Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.Body))
			n += h.Size
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.Body))
	}
	if trailer {
		b, _ := json.Marshal(export.Trailer{Entries: len(tree), Bytes: n})
		tw.WriteHeader(&tar.Header{Name: ".rootfs-pull-export/end.json", Typeflag: tar.TypeReg, Mode: 0644, Size: int64(len(b))})
		tw.Write(b)
	}
	tw.Close()
	file := filepath.Join(tmp(t), "forged.tar.gz")
	if err := os.WriteFile(file, testimage.Compress(buf.Bytes(), testimage.Gzip), 0644); err != nil {
		t.Fatal(err)
	}
	return file
}

func names(t *testing.T, dir string) string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		if rel != "." {
			out = append(out, rel)
		}
		if d != nil && d.IsDir() && rel == "restored" {
			return filepath.SkipDir
		}
		return nil
	})
	sort.Strings(out)
	return strings.Join(out, " ")
}

// TestRestoreHostileArchive: an export archive can come from anyone. The
// applier's escape routes, packed as an export's tree, stay inside the
// root; entries outside the tree's prefix, a hard link to outside it and
// a forged state are refused or ignored; never is anything written
// beside the root.
func TestRestoreHostileArchive(t *testing.T) {
	_, _, dir := pullRich(t)
	meta := metaOf(t, dir)
	for _, tc := range []struct {
		name  string
		tree  func(outside string) []testimage.Entry
		fails bool
	}{
		{"escapes", func(outside string) []testimage.Entry {
			return []testimage.Entry{
				testimage.Dir("rootfs/"), testimage.Dir("rootfs/etc/"), testimage.File("rootfs/etc/ok", "ok"),
				testimage.File("rootfs/../escape-dotdot", "x"),
				testimage.File("rootfs/etc/../../../escape-inner", "x"),
				testimage.File("rootfs/"+outside+"/escape-abs", "x"),
				testimage.Symlink("rootfs/up", "../../.."),
				testimage.File("rootfs/up/escape-through-symlink", "x"),
				testimage.Symlink("rootfs/abs", outside),
				testimage.File("rootfs/abs/escape-through-abs-symlink", "x"),
			}
		}, false},
		{"hardlink-outside", func(outside string) []testimage.Entry {
			return []testimage.Entry{testimage.Hardlink("rootfs/hl", "rootfs/../../"+filepath.Base(outside)+"/sentinel")}
		}, true},
		{"hardlink-outside-prefix", func(outside string) []testimage.Entry {
			return []testimage.Entry{testimage.Hardlink("rootfs/hl", outside+"/sentinel")}
		}, true},
		{"entry-outside-prefix", func(outside string) []testimage.Entry {
			return []testimage.Entry{testimage.File("../escape", "x")}
		}, true},
		{"forged-state", func(outside string) []testimage.Entry {
			return []testimage.Entry{testimage.Dir("rootfs/.rootfs-pull/"), testimage.File("rootfs/.rootfs-pull/state.json", `{"version":1,"status":"ready"}`),
				testimage.File("rootfs/.rurienv", "x")}
		}, false},
		{"no-trailer", func(outside string) []testimage.Entry {
			return []testimage.Entry{testimage.File("rootfs/a", "a")}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := tmp(t)
			outside := filepath.Join(base, "outside")
			os.MkdirAll(outside, 0755)
			os.WriteFile(filepath.Join(outside, "sentinel"), []byte("sentinel"), 0644)
			file := forge(t, meta, tc.tree(outside), tc.name != "no-trailer")
			before := names(t, base)
			dir2 := filepath.Join(base, "restored")
			_, err := restore(t, file, dir2)
			if tc.fails != (err != nil) {
				t.Errorf("restore: %v; want failure %v", err, tc.fails)
			}
			if got := strings.TrimSuffix(names(t, base), " start-restored.defaults start-restored.sh"); got != before+" restored" && got != before {
				t.Errorf("outside the root: %s\nwas: %s", got, before)
			}
			if b, _ := os.ReadFile(filepath.Join(outside, "sentinel")); string(b) != "sentinel" {
				t.Errorf("sentinel changed: %q", b)
			}
			st, serr := rootfs.LoadState(dir2)
			if err != nil && serr == nil && st.Status == rootfs.StatusReady {
				t.Error("a failed restore left a ready rootfs")
			}
			if err == nil {
				if _, err := os.Lstat(filepath.Join(dir2, ".rurienv")); err == nil {
					t.Error(".rurienv restored")
				}
				if st == nil || len(st.Layers) == 0 || st.Digest == "" {
					t.Errorf("state %+v: the forged state replaced it", st)
				}
			}
		})
	}
}

// TestRestoreTruncated: an export cut anywhere (even at a tar block
// boundary just before its trailer, where tar itself sees a clean end)
// never gives a ready rootfs; the whole file then finishes the restore
// (with --update: it is another file than the cut one).
func TestRestoreTruncated(t *testing.T) {
	_, _, dir := pullRich(t)
	for _, ext := range []string{".tar", ".tar.gz", ".tar.zst"} {
		t.Run(ext, func(t *testing.T) {
			file := filepath.Join(tmp(t), "full"+ext)
			if _, err := export.Export(ctx(t), dir, file, export.Options{}); err != nil {
				t.Fatal(err)
			}
			whole, _ := os.ReadFile(file)
			cuts := []int{len(whole) / 2, len(whole) - 1, len(whole) - 700}
			if ext == ".tar" {
				cuts = append(cuts, bytes.Index(whole, []byte(".rootfs-pull-export/end.json"))/512*512)
			}
			var dir2 string
			for i, n := range cuts {
				// Each cut file is another archive (its own sha256): each
				// into a new directory, so that each meets the trailer
				// check rather than the other one's unfinished restore.
				dir2 = filepath.Join(tmp(t), fmt.Sprint("r", i))
				cut := filepath.Join(tmp(t), "cut"+ext)
				os.WriteFile(cut, whole[:n], 0644)
				src, err := export.Open(cut, "")
				if err != nil {
					t.Fatal(err)
				}
				_, err = pullFrom(t, src, cut, dir2)
				if err == nil {
					t.Fatalf("cut at %d of %d: restored without error", n, len(whole))
				}
				if st, err := rootfs.LoadState(dir2); err == nil && st.Status == rootfs.StatusReady {
					t.Fatalf("cut at %d: ready", n)
				}
			}
			// The whole file is another archive than the cut one the
			// directory holds: as for a rootfs tarball, --update replaces
			// the unfinished restore (when the cut one got as far as one).
			var ue *pull.UpdateError
			_, err := restore(t, file, dir2)
			if errors.As(err, &ue) {
				src, serr := export.Open(file, "")
				if serr != nil {
					t.Fatal(serr)
				}
				_, err = pull.PullFrom(ctx(t), src, pull.Options{Image: file, Dir: dir2, Launcher: "-", Update: true})
			}
			if err != nil {
				t.Fatalf("the whole file after cut ones: %v", err)
			}
			if d := diff(describe(t, dir), describe(t, dir2)); d != "" {
				t.Errorf("differs:\n%s", d)
			}
		})
	}
}
