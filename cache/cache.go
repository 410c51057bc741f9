// Package cache keeps verified blobs on disk, keyed by digest, shared by
// every pull: a second pull of an image, or of an image sharing layers,
// downloads nothing it already has. Entries are written atomically (temp
// file, fsync, rename) and only once their digest and size have matched;
// they are verified again as they are read.
package cache

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// Cache is a blob cache directory.
type Cache struct{ dir string }

// DefaultDir is $XDG_CACHE_HOME/rootfs-pull, else ~/.cache/rootfs-pull
// (os.UserCacheDir's rules; Termux sets HOME to its own home).
func DefaultDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: %w (set XDG_CACHE_HOME or use --cache-dir)", err)
	}
	return filepath.Join(d, "rootfs-pull"), nil
}

// Open opens (creating) the cache at dir.
func Open(dir string) (*Cache, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0755); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &Cache{dir: dir}, nil
}

// Dir is the cache's directory.
func (c *Cache) Dir() string { return c.dir }

func (c *Cache) path(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	return filepath.Join(c.dir, "blobs", d.Algorithm().String(), d.Encoded()), nil
}

// Get opens the cached blob desc, if the cache has it at the right size.
// The caller verifies what it reads (registry.NewVerifier) and calls
// Remove when that fails.
func (c *Cache) Get(desc ocispec.Descriptor) (io.ReadCloser, bool) {
	p, err := c.path(desc.Digest)
	if err != nil {
		return nil, false
	}
	// Never follow a link or block on a FIFO: only a regular file of the
	// right size is an entry.
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	f := os.NewFile(uintptr(fd), p)
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || fi.Size() != desc.Size {
		f.Close()
		return nil, false
	}
	// Last use, for prune --older-than: on the file itself, not the path.
	now := unix.NsecToTimeval(time.Now().UnixNano())
	unix.Futimes(fd, []unix.Timeval{now, now})
	return f, true
}

// Remove drops the blob d (a damaged entry).
func (c *Cache) Remove(d digest.Digest) error {
	p, err := c.path(d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Tee passes r through while copying it into a temporary file; when r
// ends with io.EOF (which a registry.Verifier returns only for a blob that
// matched its digest and size), the copy becomes the cache entry for desc.
// Any other end discards it. A cache that cannot be written never fails
// the read: the blob just is not cached.
func (c *Cache) Tee(desc ocispec.Descriptor, r io.ReadCloser) io.ReadCloser {
	p, err := c.path(desc.Digest)
	if err != nil {
		return r
	}
	if err := os.MkdirAll(filepath.Dir(p), 0755); err != nil {
		return r
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-"+desc.Digest.Encoded()[:12]+"-*")
	if err != nil {
		return r
	}
	return &tee{r: r, f: tmp, final: p}
}

type tee struct {
	mu    sync.Mutex // Close may come from another goroutine than Read
	r     io.ReadCloser
	f     *os.File
	final string
	bad   bool // writing failed: do not keep the copy
}

func (t *tee) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.mu.Lock()
	defer t.mu.Unlock()
	if n > 0 && !t.bad && t.f != nil {
		if _, werr := t.f.Write(p[:n]); werr != nil {
			t.bad = true
		}
	}
	if err == io.EOF {
		t.finish(true)
	} else if err != nil {
		t.finish(false)
	}
	return n, err
}

func (t *tee) finish(ok bool) {
	if t.f == nil {
		return
	}
	f := t.f
	t.f = nil
	if ok && !t.bad && f.Sync() == nil && f.Close() == nil && os.Rename(f.Name(), t.final) == nil {
		return
	}
	f.Close()
	os.Remove(f.Name())
}

func (t *tee) Close() error {
	t.mu.Lock()
	t.finish(false) // closed before the end: not verified
	t.mu.Unlock()
	return t.r.Close()
}

// Usage counts the cache's blobs and their bytes.
func (c *Cache) Usage() (blobs int, bytes int64, err error) {
	err = c.walk(func(p string, fi fs.FileInfo) error {
		blobs++
		bytes += fi.Size()
		return nil
	})
	return blobs, bytes, err
}

// Prune removes blobs not used for olderThan (all of them for 0), and
// temporary files left by interrupted pulls that are over a day old.
func (c *Cache) Prune(olderThan time.Duration) (blobs int, bytes int64, err error) {
	cutoff := time.Now().Add(-olderThan)
	err = c.walk(func(p string, fi fs.FileInfo) error {
		tmp := strings.HasPrefix(filepath.Base(p), ".tmp-")
		if tmp && time.Since(fi.ModTime()) < 24*time.Hour {
			return nil
		}
		if olderThan == 0 || tmp || fi.ModTime().Before(cutoff) {
			if err := os.Remove(p); err != nil {
				return err
			}
			blobs++
			bytes += fi.Size()
		}
		return nil
	})
	return blobs, bytes, err
}

func (c *Cache) walk(fn func(string, fs.FileInfo) error) error {
	return filepath.WalkDir(filepath.Join(c.dir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		return fn(p, fi)
	})
}
