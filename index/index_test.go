package index

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentPuts: many writers at once (as concurrent pulls are)
// lose no entry.
func TestConcurrentPuts(t *testing.T) {
	ix := Index{Dir: t.TempDir()}
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- Index{Dir: ix.Dir}.Put(Entry{Dir: fmt.Sprintf("/r/%02d", i), Image: "img"})
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	es, err := ix.List()
	if err != nil || len(es) != n {
		t.Fatalf("%d entries, %v; want %d", len(es), err, n)
	}
}

// TestPutRemove: Put replaces the entry of a directory (keeping when it
// was added); Remove drops it.
func TestPutRemove(t *testing.T) {
	ix := Index{Dir: t.TempDir()}
	ix.Put(Entry{Dir: "/a", Image: "one"})
	first, _ := ix.List()
	time.Sleep(10 * time.Millisecond)
	ix.Put(Entry{Dir: "/a", Image: "two"})
	ix.Put(Entry{Dir: "/b", Image: "b"})
	es, _ := ix.List()
	if len(es) != 2 || es[0].Image != "two" || !es[0].Added.Equal(first[0].Added) {
		t.Fatalf("entries %+v", es)
	}
	ix.Remove("/a")
	if es, _ := ix.List(); len(es) != 1 || es[0].Dir != "/b" {
		t.Fatalf("after remove: %+v", es)
	}
}

// TestDamagedIndex: a damaged index is read as empty with one warning,
// and the next change sets it aside and starts afresh.
func TestDamagedIndex(t *testing.T) {
	for _, bad := range []string{"garbage", `{"version":9,"entries":[]}`, ""} {
		dir := t.TempDir()
		var warnings []string
		ix := Index{Dir: dir, Warn: func(s string) { warnings = append(warnings, s) }}
		os.WriteFile(filepath.Join(dir, fileName), []byte(bad), 0600)
		es, err := ix.List()
		if err != nil || len(es) != 0 || len(warnings) != 1 {
			t.Fatalf("%q: %v, %v, warnings %q", bad, es, err, warnings)
		}
		if err := ix.Put(Entry{Dir: "/x"}); err != nil {
			t.Fatal(err)
		}
		if es, _ := ix.List(); len(es) != 1 || len(warnings) != 2 || !strings.Contains(warnings[1], "started a new one") {
			t.Fatalf("%q: after put %v, warnings %q", bad, es, warnings)
		}
		if _, err := os.Stat(filepath.Join(dir, fileName+".damaged")); err != nil {
			t.Errorf("damaged index not kept aside: %v", err)
		}
	}
	// A symlink planted as the index is not followed.
	dir := t.TempDir()
	os.Symlink("/etc/passwd", filepath.Join(dir, fileName))
	var warned int
	if es, err := (Index{Dir: dir, Warn: func(string) { warned++ }}).List(); err != nil || len(es) != 0 || warned != 1 {
		t.Fatalf("symlinked index: %v, %v, %d warnings", es, err, warned)
	}
}

// TestDiskUsage counts a hard-linked file once and does not follow a
// symlink out of the tree.
func TestDiskUsage(t *testing.T) {
	dir := t.TempDir()
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = 1
	}
	os.WriteFile(filepath.Join(dir, "a"), big, 0644)
	os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "b"))
	os.Symlink("/usr", filepath.Join(dir, "usr"))
	u := DiskUsage(dir, 1000, time.Now().Add(time.Minute))
	if !u.Complete || u.Bytes < 1<<20 || u.Bytes > 2<<20-1 {
		t.Fatalf("usage %+v; want about 1 MiB", u)
	}
	if u := DiskUsage(dir, 2, time.Now().Add(time.Minute)); u.Complete {
		t.Fatalf("bounded walk says complete: %+v", u)
	}
}
