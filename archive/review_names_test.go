package archive_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/archive"
)

// An archive's index keeps every entry's name and link target, which a
// PAX record may make up to 1 MiB together: gzipped, such an entry costs
// about 1 KB of archive and 1 MiB of index (with the 100,000 entries
// allowed, 100 GiB). The names documents use are short.
func TestReviewArchiveIndexMemoryIsBounded(t *testing.T) {
	var raw bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&raw, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	long := strings.Repeat("a", 500<<10)
	for i := range 48 {
		name := fmt.Sprintf("%s/%05d", long, i)
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: name, Mode: 0o777, Format: tar.FormatPAX}); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	zw.Close()
	file := filepath.Join(t.TempDir(), "names.tar.gz")
	writeFile(t, file, raw.Bytes())
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	a, err := archive.OpenDockerArchive(ctx(t), file, "")
	runtime.GC()
	runtime.ReadMemStats(&after)
	if held := int64(after.HeapAlloc) - int64(before.HeapAlloc); held > 24<<20 {
		t.Errorf("a %d KB archive: its index holds %d MiB (err %v)", raw.Len()>>10, held>>20, err)
	}
	runtime.KeepAlive(a)
}
