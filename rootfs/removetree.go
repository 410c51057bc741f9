package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrNotRemovable: RemoveTree was given something that is not a real
// directory (a symlink is never followed into, nor resolved, at the end of
// the path).
var ErrNotRemovable = errors.New("not a directory: not removing it")

// errOtherFS: a directory on another filesystem (a mount) inside a tree
// being removed; removal never crosses into it.
var errOtherFS = errors.New("is on another filesystem (a mount?): not removing it")

// remover removes directory trees through descriptors only: each
// directory is opened relative to its parent's descriptor with O_NOFOLLOW
// and checked to be the inode its listing showed (dev/ino) on the tree's
// filesystem; a read-only one is made owner-accessible with a chmod of
// that descriptor; names are unlinked with unlinkat, which never follows.
// A directory swapped for a symlink meanwhile fails the removal; nothing
// outside the tree is ever listed, chmodded or removed.
type remover struct {
	ctx     context.Context
	dev     uint64         // the tree's filesystem
	removed func(p string) // told of each directory removed, if set
}

// openDir opens the directory name in parent for emptying: exactly the
// inode st, on r.dev, owner-accessible.
func (r *remover) openDir(parent int, name, p string, st *unix.Stat_t) (int, error) {
	fd, err := openDirExact(parent, name, st)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", shortName(p), err)
	}
	if st.Dev != r.dev {
		unix.Close(fd)
		return -1, fmt.Errorf("%s %w", shortName(p), errOtherFS)
	}
	if st.Mode&0700 != 0700 {
		if err := chmodFd(fd, st.Mode&07777|0700, true); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("chmod %s: %w", shortName(p), err)
		}
	}
	return fd, nil
}

// emptyDir removes everything in the directory fd (the path p, depth
// levels below the top), keeping the names keep reports.
func (r *remover) emptyDir(fd int, p string, depth int, keep ...func(name string, st *unix.Stat_t) bool) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if depth > maxRemoveDepth {
		return fmt.Errorf("%s: more than %d directories deep: %w", shortName(p), maxRemoveDepth, ErrPathTooDeep)
	}
	names, err := listDir(fd, p)
	if err != nil {
		return err
	}
	for _, n := range names {
		q := joinPath(p, n)
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if err == unix.ENOENT {
				continue
			}
			return fmt.Errorf("stat %s: %w", shortName(q), err)
		}
		if len(keep) > 0 && keep[0](n, &st) {
			continue
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := unix.Unlinkat(fd, n, 0); err != nil && err != unix.ENOENT {
				return fmt.Errorf("remove %s: %w", shortName(q), err)
			}
			continue
		}
		cfd, err := r.openDir(fd, n, q, &st)
		if err != nil {
			return err
		}
		err = r.emptyDir(cfd, q, depth+1)
		unix.Close(cfd)
		if err != nil {
			return err
		}
		if err := unix.Unlinkat(fd, n, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
			return fmt.Errorf("remove %s: %w", shortName(q), err)
		}
		if r.removed != nil {
			r.removed(q)
		}
	}
	return nil
}

// listDir lists the directory fd holds (O_PATH is fine), without "." and
// "..": "." in fd is that directory, whatever its name meets.
func listDir(fd int, p string) ([]string, error) {
	rfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("read dir %s: %w", shortName(p), err)
	}
	defer unix.Close(rfd)
	var names []string
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(rfd, buf)
		if err != nil {
			return nil, fmt.Errorf("read dir %s: %w", shortName(p), err)
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// RemoveTree removes a rootfs, read-only directories and all (a normal
// user cannot otherwise delete what a 0555 directory holds). It refuses
// when anything is mounted inside. Symlinks on the way to dir's parent are
// resolved (the user's path); dir itself must be a real directory, and
// inside it no symlink is ever followed, no other filesystem entered.
func RemoveTree(dir string) error { return RemoveTreeContext(context.Background(), dir) }

// RemoveTreeContext is RemoveTree, stopped when ctx is done.
func RemoveTreeContext(ctx context.Context, dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	base := filepath.Base(abs)
	if base == "/" || base == "." || base == ".." {
		return fmt.Errorf("%s: %w", shortName(dir), ErrNotRemovable)
	}
	pfd, err := unix.Open(parent, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("remove %s: %w", shortName(dir), err)
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return fmt.Errorf("remove %s: %w", shortName(dir), err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("%s: %w", shortName(dir), ErrNotRemovable)
	}
	real := filepath.Join(parent, base)
	if m := mountsUnder(real); len(m) > 0 {
		return &ErrMounted{Dir: dir, Mounts: m}
	}
	r := &remover{ctx: ctx, dev: st.Dev}
	fd, err := r.openDir(pfd, base, real, &st)
	if err != nil {
		return err
	}
	err = r.emptyDir(fd, real, 1)
	unix.Close(fd)
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
		return fmt.Errorf("remove %s: %w", shortName(dir), err)
	}
	return nil
}

// Clear empties the rootfs at dir but for the tool's own state directory
// (when it is a real directory), read-only directories and all, after
// checking nothing is mounted inside. Nothing is followed: symlinks are
// removed, and every directory is removed through descriptors (see
// remover).
func Clear(dir string) error { return ClearContext(context.Background(), dir) }

// ClearContext is Clear, stopped when ctx is done.
func ClearContext(ctx context.Context, dir string) error {
	if err := CheckNoMounts(dir); err != nil {
		return err
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("clear %s: %w", shortName(dir), err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("clear %s: %w", shortName(dir), err)
	}
	if st.Mode&0700 != 0700 {
		// The image's root mode (0555, say): ours to empty, then as it was.
		if err := chmodFd(fd, st.Mode&07777|0700, true); err != nil {
			return fmt.Errorf("clear %s: %w", shortName(dir), err)
		}
		defer chmodFd(fd, st.Mode&07777, true)
	}
	r := &remover{ctx: ctx, dev: st.Dev}
	keepState := func(name string, st *unix.Stat_t) bool {
		return name == StateDirName && st.Mode&unix.S_IFMT == unix.S_IFDIR
	}
	return r.emptyDir(fd, dir, 1, keepState)
}
