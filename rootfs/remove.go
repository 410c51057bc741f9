package rootfs

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// whiteout applies ".wh.NAME" found in dir: NAME is removed from lower
// layers. What this layer itself wrote there is spared, whatever the
// order of the entries in the tar.
func (a *applier) whiteout(dir, name string) error {
	if err := a.settle(); err != nil {
		return err
	}
	d, err := a.walk(dir, false, true)
	if err != nil {
		if ignorable(err) {
			return nil // nothing below to hide (or umoci's whiteout under a file)
		}
		return err
	}
	defer a.release(d)
	return a.removeLower(d, name)
}

// opaque applies ".wh..wh..opq" found in dir: everything lower layers put
// in dir is removed; this layer's entries stay.
func (a *applier) opaque(dir string) error {
	if err := a.settle(); err != nil {
		return err
	}
	d, err := a.walk(dir, false, true)
	if err != nil {
		if ignorable(err) {
			return nil
		}
		return err
	}
	defer a.release(d)
	names, err := a.readDir(d)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := a.removeLower(d, n); err != nil {
			return err
		}
	}
	return nil
}

// removeLower removes d/name unless this layer wrote it; a directory that
// holds entries of this layer is emptied of the rest instead.
func (a *applier) removeLower(d dirRef, name string) error {
	p := joinPath(d.path, name)
	if reserved(p) {
		return nil
	}
	if _, ok := a.written[p]; ok {
		return nil
	}
	var st unix.Stat_t
	if err := a.lstatAt(d, name, &st); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return fmt.Errorf("stat %s: %w", shortName(p), err)
	}
	if _, ok := a.ancestors[p]; !ok || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return a.removeAll(d, name, &st)
		}
		a.forget()
		return a.retryWritable(d, func() error { return unix.Unlinkat(d.fd, name, 0) })
	}
	fd, err := openDirExact(d.fd, name, &st)
	if err != nil {
		return fmt.Errorf("open %s: %w", shortName(p), err)
	}
	child := dirRef{fd: fd, path: p}
	defer a.release(child)
	names, err := a.readDir(child)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := a.removeLower(child, n); err != nil {
			return err
		}
	}
	return nil
}

// removeAll removes the directory d/name, the inode st (from an lstat),
// and everything in it, never following a symlink (see remover).
func (a *applier) removeAll(d dirRef, name string, st *unix.Stat_t) error {
	p := joinPath(d.path, name)
	if reserved(p) {
		return fmt.Errorf("refusing to remove %s", shortName(p))
	}
	a.forget()
	r := &remover{ctx: a.ctx, dev: a.rootDev, removed: func(q string) {
		delete(a.restore, q)
		delete(a.fresh, q)
		delete(a.dirs, q) // a later dir at q (even an implicit one) is another dir
	}}
	fd, err := r.openDir(d.fd, name, p, st)
	if err != nil {
		return err
	}
	err = r.emptyDir(fd, p, 1)
	unix.Close(fd)
	if err != nil {
		return err
	}
	if err := a.retryWritable(d, func() error { return unix.Unlinkat(d.fd, name, unix.AT_REMOVEDIR) }); err != nil {
		return fmt.Errorf("remove %s: %w", shortName(p), err)
	}
	r.removed(p)
	return nil
}

// readDir lists a directory's names (without "." and "..").
func (a *applier) readDir(d dirRef) ([]string, error) {
	fd, err := unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == unix.EACCES {
		if err = a.makeWritable(d); err == nil {
			fd, err = unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read dir %s: %w", shortName(d.path), err)
	}
	defer unix.Close(fd)
	var names []string
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return nil, fmt.Errorf("read dir %s: %w", shortName(d.path), err)
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// lstatAt is fstatat(d, name, AT_SYMLINK_NOFOLLOW), for which d must be
// searchable: unprivileged, a lower layer's directory without owner
// search permission (0600, 0444, 0000) is made owner-accessible first, as
// retryWritable does for writes.
func (a *applier) lstatAt(d dirRef, name string, st *unix.Stat_t) error {
	return a.retryWritable(d, func() error { return unix.Fstatat(d.fd, name, st, unix.AT_SYMLINK_NOFOLLOW) })
}

// retryWritable runs op in directory d; if it is refused for permission
// (a non-root user and a lower layer's read-only directory), d is made
// owner-writable, to be restored by finish, and op runs again.
func (a *applier) retryWritable(d dirRef, op func() error) error {
	err := op()
	if err == unix.EACCES {
		if a.makeWritable(d) == nil {
			err = op()
		}
	}
	return err
}

// makeWritable adds owner rwx to the directory d and remembers its mode
// for finish. d's descriptor is that directory (opened by walk without
// following anything), and the chmod goes through it: no path is
// resolved again, so nothing swapped meanwhile can redirect it.
func (a *applier) makeWritable(d dirRef) error {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return err
	}
	mode := st.Mode & 07777
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || mode&0700 == 0700 {
		return unix.EACCES // nothing to fix: the refusal is real
	}
	if err := chmodFd(d.fd, mode|0700, true); err != nil {
		return err
	}
	if _, ok := a.restore[d.path]; !ok {
		a.restore[d.path] = restoreMode{mode: mode, dev: st.Dev, ino: st.Ino}
	}
	return nil
}
