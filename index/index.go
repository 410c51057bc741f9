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
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rootfs-pull/rootfs-pull/android"
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
	dfd, err := ix.openDir(false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	return readIn(dfd, ix.path())
}

// readIn reads the index file in the index directory dfd.
func readIn(dfd int, p string) ([]Entry, error) {
	fd, err := unix.Openat(dfd, fileName, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return nil, nil
	}
	if err != nil {
		return nil, damagedError{fmt.Errorf("open: %w", err)}
	}
	f := os.NewFile(uintptr(fd), p)
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
// and started afresh, with one warning. Every file is opened, made and
// renamed relative to the index directory's descriptor, reached once (see
// openDir).
func (ix Index) update(fn func([]Entry) []Entry) error {
	dfd, err := ix.openDir(true)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	unlock, err := lock(dfd)
	if err != nil {
		return err
	}
	defer unlock()
	es, err := readIn(dfd, ix.path())
	var de damagedError
	if errors.As(err, &de) {
		ix.warn(fmt.Sprintf("the rootfs index %s was damaged (%v): started a new one (the old one is %s.damaged)", ix.path(), de.err, fileName))
		unix.Renameat(dfd, fileName, dfd, fileName+".damaged")
		es, err = nil, nil
	}
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(document{Version: version, Entries: fn(es)}, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(dfd, b)
}

// ErrUnsafeDir: run as root, the index directory is reached through a
// directory or symlink another user owns or may write.
var ErrUnsafeDir = errors.New("is reached through another user's directories (root with that user's HOME, as su keeps it?): not using it as root's rootfs index (set XDG_DATA_HOME to a directory of root's)")

// maxHops bounds the symlinks followed on the way to the index directory.
const maxHops = 40

// openDir opens the index directory (made, with its missing parents,
// when create) as an O_PATH descriptor. As root it is reached one
// component at a time from /, and every directory and symlink on the way
// must be root's (or, on Android, the system's), in directories no one
// else may write (or sticky ones, as /tmp): root may run with another
// user's HOME (su keeps it), and that user could otherwise point the
// index, or any directory above it, at a directory of their choosing,
// where root would make files.
func (ix Index) openDir(create bool) (int, error) {
	dir, err := filepath.Abs(ix.Dir)
	if err != nil {
		return -1, fmt.Errorf("rootfs index: %w", err)
	}
	if os.Geteuid() != 0 {
		if create {
			if err := os.MkdirAll(dir, 0700); err != nil {
				return -1, fmt.Errorf("rootfs index: %w", err)
			}
		}
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("rootfs index: %w", &os.PathError{Op: "open", Path: dir, Err: err})
		}
		return fd, nil
	}
	unsafe := func() (int, error) { return -1, fmt.Errorf("rootfs index %s %w", dir, ErrUnsafeDir) }
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("rootfs index: %w", err)
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || !rootDir(&st, false) {
		unix.Close(fd)
		return unsafe()
	}
	names := strings.Split(dir, "/")
	hops := 0
	for len(names) > 0 {
		name := names[0]
		names = names[1:]
		if name == "" || name == "." {
			continue
		}
		err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.ENOENT && create {
			if err = unix.Mkdirat(fd, name, 0700); err == nil || err == unix.EEXIST {
				err = unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
			}
		}
		if err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("rootfs index: %w", &os.PathError{Op: "open", Path: dir, Err: err})
		}
		if !trusted()(st.Uid) {
			unix.Close(fd)
			return unsafe()
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			if hops++; hops > maxHops {
				unix.Close(fd)
				return -1, fmt.Errorf("rootfs index %s: %w", dir, unix.ELOOP)
			}
			target, err := readlinkat(fd, name)
			if err != nil {
				unix.Close(fd)
				return -1, fmt.Errorf("rootfs index: %w", err)
			}
			if strings.HasPrefix(target, "/") {
				unix.Close(fd)
				if fd, err = unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
					return -1, fmt.Errorf("rootfs index: %w", err)
				}
			}
			names = append(strings.Split(target, "/"), names...)
			continue
		}
		nfd, err := unix.Openat(fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("rootfs index: %w", &os.PathError{Op: "open", Path: dir, Err: err})
		}
		fd = nfd
		var got unix.Stat_t
		if unix.Fstat(fd, &got) != nil || got.Ino != st.Ino || got.Dev != st.Dev || !rootDir(&got, len(names) == 0) {
			unix.Close(fd)
			return unsafe()
		}
	}
	// The last directory reached (after "..", a symlink's target) holds
	// the files: no one else may write it, sticky or not.
	if unix.Fstat(fd, &st) != nil || !rootDir(&st, true) {
		unix.Close(fd)
		return unsafe()
	}
	return fd, nil
}

// trusted says whether a uid or gid may own what leads to root's index:
// root's, and on Android the system's (AID_SYSTEM owns /data, 0771).
// Android is told by its files only: an environment variable could be
// set by the very user this guards against.
var trusted = sync.OnceValue(func() func(id uint32) bool {
	onAndroid := android.Host{Getenv: func(string) string { return "" }}.Is()
	return func(id uint32) bool { return id == 0 || (onAndroid && id == aidSystem) }
})

const aidSystem = 1000

// rootDir: a directory of root's (or Android's system's) whose entries no
// one else can change: not writable by others, nor by an untrusted group,
// unless sticky (others cannot rename or remove root's entries there);
// the last one, holding the index's files, not even then.
func rootDir(st *unix.Stat_t, last bool) bool {
	ok := trusted()
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || !ok(st.Uid) {
		return false
	}
	sticky := !last && st.Mode&unix.S_ISVTX != 0
	if st.Mode&0o002 != 0 && !sticky {
		return false
	}
	return st.Mode&0o020 == 0 || ok(st.Gid) || sticky
}

func readlinkat(dfd int, name string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(dfd, name, buf)
	if err != nil {
		return "", err
	}
	if n >= len(buf) {
		return "", unix.ENAMETOOLONG
	}
	return string(buf[:n]), nil
}

func lock(dfd int) (func(), error) {
	fd, err := unix.Openat(dfd, lockName, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0600)
	if err != nil {
		return nil, fmt.Errorf("rootfs index: %s: %w", lockName, err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { unix.Close(fd) }, nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			unix.Close(fd)
			return nil, fmt.Errorf("rootfs index: lock: %w", err)
		}
		if time.Now().After(deadline) {
			unix.Close(fd)
			return nil, ErrLockTimeout
		}
		time.Sleep(lockRetry)
	}
}

// writeAtomic writes the index file in dfd: a new temporary file (never
// through a symlink), fsync, rename over index.json.
func writeAtomic(dfd int, b []byte) error {
	var fd int
	var tmp string
	for i := 0; ; i++ {
		tmp = fmt.Sprintf(".%s.%d.%d", fileName, os.Getpid(), time.Now().UnixNano()+int64(i))
		var err error
		fd, err = unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0600)
		if err == nil {
			break
		}
		if err != unix.EEXIST || i >= 100 {
			return fmt.Errorf("rootfs index: %w", err)
		}
	}
	f := os.NewFile(uintptr(fd), tmp)
	defer unix.Unlinkat(dfd, tmp, 0) // after the rename: ENOENT
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("rootfs index: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("rootfs index: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("rootfs index: %w", err)
	}
	if err := unix.Renameat(dfd, tmp, dfd, fileName); err != nil {
		return fmt.Errorf("rootfs index: rename: %w", err)
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
