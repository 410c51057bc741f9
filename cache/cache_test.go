package cache

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// Found by the hostile review (hangs), fixed since: Get opens the entry before checking what it is. A FIFO
// at a blob's path (a shared or damaged cache dir) blocks os.Open forever:
// the pull (and the prefetcher's Cached check, on the pull's goroutine)
// never returns. Every other file this tool reads back (state.json, the
// lock, passwd) is opened O_NONBLOCK|O_NOFOLLOW and checked regular.
func TestGetFIFODoesNotHang(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromString("layer")
	p := filepath.Join(dir, "blobs", "sha256", d.Encoded())
	if err := os.MkdirAll(filepath.Dir(p), 0755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(p, 0644); err != nil {
		t.Fatal(err)
	}
	got := make(chan bool, 1)
	go func() {
		rc, ok := c.Get(ocispec.Descriptor{Digest: d, Size: 5})
		if ok {
			rc.Close()
		}
		got <- ok
	}()
	select {
	case ok := <-got:
		if ok {
			t.Fatal("Get served a FIFO as a cached blob")
		}
	case <-time.After(3 * time.Second):
		// Unblock the open so the test process can end.
		if w, err := os.OpenFile(p, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		t.Fatal("Get blocked on a FIFO in the cache directory")
	}
}
