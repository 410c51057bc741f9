package rootfs

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const xattrPAXPrefix = "SCHILY.xattr."

// setMeta applies hdr's ownership, xattrs, mode and times, in that order
// (chown clears setuid bits and file capabilities, so it goes first), to
// the exact inode fd holds: a file's real descriptor or, with opath, an
// O_PATH one from openNode (a directory, node or symlink checked by the
// caller). Nothing here resolves a path but a symlink's own times, set
// relative to its held parent without following it.
func (a *applier) setMeta(t target, hdr *tar.Header, fd int, opath bool) error {
	isLink := hdr.Typeflag == tar.TypeSymlink
	isDir := hdr.Typeflag == tar.TypeDir
	if hdr.Uid != a.euid || hdr.Gid != a.egid {
		var err error
		if opath {
			err = chownFd(fd, hdr.Uid, hdr.Gid)
		} else {
			err = unix.Fchown(fd, hdr.Uid, hdr.Gid)
		}
		switch err {
		case nil:
		case unix.EPERM, unix.EINVAL: // not root, or an unmapped id in a user namespace
			a.stats.SkippedChown++
		default:
			return fmt.Errorf("chown %s: %w", shortName(t.path()), err)
		}
	}
	if !isLink {
		// xattrs before the mode: unprivileged, setting a user. xattr
		// needs write permission, which a read-only file or dir (0444,
		// 0555, 0000) only has until its mode is set.
		if err := a.setXattrs(t, hdr, fd, opath); err != nil {
			return err
		}
		mode := tarMode(hdr)
		var err error
		if opath {
			err = chmodFd(fd, mode, isDir)
		} else {
			err = unix.Fchmod(fd, mode)
		}
		if err != nil {
			return fmt.Errorf("chmod %s: %w", shortName(t.path()), err)
		}
	}
	ts := []unix.Timespec{timespec(hdr.AccessTime, hdr.ModTime), timespec(hdr.ModTime, hdr.ModTime)}
	var err error
	switch {
	case isLink:
		err = unix.UtimesNanoAt(t.dir.fd, t.base, ts, unix.AT_SYMLINK_NOFOLLOW)
	case opath:
		err = utimesFd(fd, ts, isDir)
	default:
		err = futimens(fd, ts)
	}
	if err != nil && !isLink {
		return fmt.Errorf("set times of %s: %w", shortName(t.path()), err)
	}
	return nil
}

// tarMode is the permission part of a tar mode, setuid/setgid/sticky
// included, in the kernel's encoding.
func tarMode(hdr *tar.Header) uint32 {
	m := uint32(hdr.Mode) & 0777
	if hdr.Mode&04000 != 0 {
		m |= unix.S_ISUID
	}
	if hdr.Mode&02000 != 0 {
		m |= unix.S_ISGID
	}
	if hdr.Mode&01000 != 0 {
		m |= unix.S_ISVTX
	}
	return m
}

// setXattrs applies the PAX SCHILY.xattr.* records. Refusals (a non-root
// user and a trusted. or security. name, or a filesystem without xattrs)
// are counted, not fatal.
func (a *applier) setXattrs(t target, hdr *tar.Header, fd int, opath bool) error {
	var names []string
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, xattrPAXPrefix) {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return nil
	}
	set := func(name string, val []byte) error { return unix.Fsetxattr(fd, name, val, 0) }
	if opath {
		if hdr.Typeflag != tar.TypeDir {
			a.stats.SkippedXattrs += len(names) // device nodes and FIFOs: left alone
			return nil
		}
		set = func(name string, val []byte) error {
			err := unix.Setxattr(procFd(fd), name, val, 0)
			if err == unix.ENOENT {
				err = viaDot(fd, err, func(rfd int) error { return unix.Fsetxattr(rfd, name, val, 0) })
			}
			return err
		}
	}
	for _, k := range names {
		err := set(strings.TrimPrefix(k, xattrPAXPrefix), []byte(hdr.PAXRecords[k]))
		switch err {
		case nil:
		case unix.EPERM, unix.EACCES, unix.ENOTSUP, unix.EINVAL, unix.ERANGE:
			a.stats.SkippedXattrs++
		default:
			return fmt.Errorf("setxattr %s on %s: %w", shortName(k), shortName(t.path()), err)
		}
	}
	return nil
}

func timespec(t, fallback time.Time) unix.Timespec {
	if t.IsZero() {
		t = fallback
	}
	if t.IsZero() {
		return unix.Timespec{Sec: 0, Nsec: unix.UTIME_OMIT}
	}
	return unix.NsecToTimespec(t.UnixNano())
}

// futimens is utimensat(fd, NULL, ts, 0): times of an open file, without
// going through /proc (which x/sys's Futimes does).
func futimens(fd int, ts []unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// copyFile stands in for a hard link that link(2) refused: dst gets src's
// content, owner (where allowed), mode and times, or, for a symlink, the
// same link text.
func (a *applier) copyFile(src, dst target) error {
	var st unix.Stat_t
	if err := unix.Fstatat(src.dir.fd, src.base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		link, err := readlinkat(src.dir.fd, src.base)
		if err != nil {
			return err
		}
		return unix.Symlinkat(link, dst.dir.fd, dst.base)
	case unix.S_IFREG:
	default:
		return fmt.Errorf("cannot copy %s: not a regular file", shortName(src.path()))
	}
	// The source is pinned by an O_PATH fd: the chmod below and the read
	// act on the regular file just checked, whatever its name meets.
	var pst unix.Stat_t
	pfd, err := openNode(src.dir.fd, src.base, &pst)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if pst.Mode&unix.S_IFMT != unix.S_IFREG || !sameInode(&pst, &st) {
		return fmt.Errorf("%s: %w", shortName(src.path()), errReplaced)
	}
	mode := st.Mode & 07777
	if mode&0400 == 0 {
		// A 0000 file of ours: readable for the copy, then as it was.
		if err := chmodFd(pfd, mode|0400, false); err != nil {
			return err
		}
		defer chmodFd(pfd, mode, false)
	}
	in, err := unix.Openat(src.dir.fd, src.base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	inf := os.NewFile(uintptr(in), src.path())
	defer inf.Close()
	var ist unix.Stat_t
	if err := unix.Fstat(in, &ist); err != nil {
		return err
	}
	if !sameInode(&ist, &pst) {
		return fmt.Errorf("%s: %w", shortName(src.path()), errReplaced)
	}
	out, err := unix.Openat(dst.dir.fd, dst.base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0600)
	if err != nil {
		return err
	}
	outf := os.NewFile(uintptr(out), dst.path())
	defer outf.Close()
	if _, err := io.CopyBuffer(struct{ io.Writer }{outf}, struct{ io.Reader }{inf}, a.buf); err != nil {
		return err
	}
	if int(st.Uid) != a.euid || int(st.Gid) != a.egid {
		if err := unix.Fchown(out, int(st.Uid), int(st.Gid)); err != nil {
			a.stats.SkippedChown++
		}
	}
	if err := unix.Fchmod(out, mode); err != nil {
		return err
	}
	if err := futimens(out, []unix.Timespec{st.Atim, st.Mtim}); err != nil {
		return err
	}
	return outf.Close()
}
