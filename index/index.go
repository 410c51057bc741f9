// Package index keeps the list of rootfses this user pulled, for
// rootfs-pull ls: a small JSON file under $XDG_DATA_HOME/rootfs-pull
// (default ~/.local/share/rootfs-pull), updated by pull, update, restore
// and rm. Every change is made under a lock file and written atomically
// (temp file, fsync, rename), so concurrent pulls never lose an entry; a
// damaged index is set aside with one warning and started afresh.
package index

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// Entry is one rootfs.
type Entry struct {
	Dir       string    `json:"dir"` // absolute
	Image     string    `json:"image"`
	Reference string    `json:"reference,omitempty"`
	Platform  string    `json:"platform,omitempty"`
	Launcher  string    `json:"launcher,omitempty"`
	Added     time.Time `json:"added"`
	Updated   time.Time `json:"updated"`
}

type document struct {
	Version int     `json:"version"`
	Entries []Entry `json:"entries"`
}

const (
	fileName  = "index.json"
	lockName  = "index.lock"
	version   = 1
	maxIndex  = 16 << 20
	lockWait  = 10 * time.Second
	lockRetry = 20 * time.Millisecond
)

// DefaultDir is $XDG_DATA_HOME/rootfs-pull, else ~/.local/share/rootfs-pull.
func DefaultDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "rootfs-pull"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no $HOME for the rootfs index: %w", err)
	}
	return filepath.Join(home, ".local", "share", "rootfs-pull"), nil
}

// Index is the index in Dir. Warn, if set, is told once about a damaged
// index file.
type Index struct {
	Dir  string
	Warn func(string)
}

// ErrLockTimeout: another rootfs-pull held the index's lock too long.
var ErrLockTimeout = errors.New("another rootfs-pull holds the rootfs index's lock")

// Put adds or replaces the entry for e.Dir.
func (ix Index) Put(e Entry) error {
	now := time.Now().UTC()
	return ix.update(func(es []Entry) []Entry {
		e.Added, e.Updated = now, now
		for i := range es {
			if es[i].Dir == e.Dir {
				e.Added = es[i].Added
				es[i] = e
				return es
			}
		}
		return append(es, e)
	})
}

// Remove drops the entry for dir, if any.
func (ix Index) Remove(dir string) error {
	return ix.update(func(es []Entry) []Entry {
		out := es[:0]
		for _, e := range es {
			if e.Dir != dir {
				out = append(out, e)
			}
		}
		return out
	})
}

// List reads the entries, sorted by directory. A missing index is empty;
// a damaged one is reported (Warn) and read as empty.
func (ix Index) List() ([]Entry, error) {
	es, err := ix.read()
	if err != nil {
		return nil, err
	}
	sort.Slice(es, func(i, j int) bool { return es[i].Dir < es[j].Dir })
	return es, nil
}

func (ix Index) path() string { return filepath.Join(ix.Dir, fileName) }

// damagedError: the index file is not one this version reads.
type damagedError struct{ err error }

func (e damagedError) Error() string { return e.err.Error() }

func (ix Index) read() ([]Entry, error) {
	es, err := ix.readRaw()
	var de damagedError
	if errors.As(err, &de) {
		ix.warn(fmt.Sprintf("the rootfs index %s is damaged (%v): ignoring it; the next pull starts a new one", ix.path(), de.err))
		return nil, nil
	}
	return es, err
}

func (ix Index) warn(msg string) {
	if ix.Warn != nil {
		ix.Warn(msg)
	}
}

func (ix Index) readRaw() ([]Entry, error) {
	fd, err := unix.Open(ix.path(), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return nil, nil
	}
	if err != nil {
		return nil, damagedError{fmt.Errorf("open: %w", err)}
	}
	f := os.NewFile(uintptr(fd), ix.path())
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxIndex {
		return nil, damagedError{errors.New("not a regular file of at most 16 MiB")}
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && fi.Size() > 0 {
		return nil, damagedError{err}
	}
	var doc document
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, damagedError{err}
	}
	if doc.Version != version {
		return nil, damagedError{fmt.Errorf("version %d, this rootfs-pull reads %d", doc.Version, version)}
	}
	return doc.Entries, nil
}

// update runs fn on the entries under the index's lock and writes the
// result atomically. A damaged index is moved aside (index.json.damaged)
// and started afresh, with one warning.
func (ix Index) update(fn func([]Entry) []Entry) error {
	if err := os.MkdirAll(ix.Dir, 0700); err != nil {
		return fmt.Errorf("rootfs index: %w", err)
	}
	unlock, err := ix.lock()
	if err != nil {
		return err
	}
	defer unlock()
	es, err := ix.readRaw()
	var de damagedError
	if errors.As(err, &de) {
		ix.warn(fmt.Sprintf("the rootfs index %s was damaged (%v): started a new one (the old one is %s.damaged)", ix.path(), de.err, fileName))
		os.Rename(ix.path(), ix.path()+".damaged")
		es, err = nil, nil
	}
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(document{Version: version, Entries: fn(es)}, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(ix.path(), b)
}

func (ix Index) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(ix.Dir, lockName), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0600)
	if err != nil {
		return nil, fmt.Errorf("rootfs index: %w", err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			f.Close()
			return nil, fmt.Errorf("rootfs index: lock: %w", err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, ErrLockTimeout
		}
		time.Sleep(lockRetry)
	}
}

func writeAtomic(p string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+fileName+".*")
	if err != nil {
		return fmt.Errorf("rootfs index: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("rootfs index: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("rootfs index: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("rootfs index: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("rootfs index: %w", err)
	}
	return nil
}

// Usage is a directory's size on disk.
type Usage struct {
	Bytes    int64 // allocated blocks, each inode counted once
	Entries  int
	Complete bool // false: the walk stopped at its bound (the size is at least Bytes)
}

// DiskUsage walks dir without following symlinks (nor crossing into
// other filesystems), counting each inode's allocated blocks once, and
// stops after maxEntries entries or at deadline.
func DiskUsage(dir string, maxEntries int, deadline time.Time) Usage {
	u := Usage{Complete: true}
	seen := map[[2]uint64]bool{}
	var root unix.Stat_t
	if unix.Lstat(dir, &root) != nil {
		return u
	}
	stop := errors.New("stop")
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if u.Entries >= maxEntries || (u.Entries%1024 == 0 && time.Now().After(deadline)) {
			u.Complete = false
			return stop
		}
		u.Entries++
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil {
			return nil
		}
		if st.Dev != root.Dev {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			k := [2]uint64{st.Dev, st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		u.Bytes += st.Blocks * 512
		return nil
	})
	return u
}
