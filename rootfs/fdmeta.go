package rootfs

// Metadata through descriptors. A path-based chmod, chown or utimes
// follows whatever is at the path when the kernel walks it: a directory
// swapped for a symlink after a check (by a process running in the rootfs,
// or between a layer's entries) would redirect it outside the root. So
// every metadata change here acts on a descriptor of the exact inode,
// opened with O_NOFOLLOW and checked with fstat:
//
//   - owner: fchownat(fd, "", AT_EMPTY_PATH), which takes O_PATH fds;
//   - mode and times of an O_PATH fd: chmod and utimensat of
//     /proc/self/fd/N, whose magic link leads to that inode and nowhere
//     else (what glibc's and bionic's fchmodat(AT_SYMLINK_NOFOLLOW) do;
//     fchmodat2, which Android kills for, is never used). Without /proc a
//     directory is reopened through "." for fchmod and futimens;
//   - a symlink's times: utimensat(parent, name, AT_SYMLINK_NOFOLLOW),
//     relative to a held parent: the last component is not followed.

import (
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// errReplaced: what is at a path is no longer the inode this package made
// or checked there (something else swapped it meanwhile).
var errReplaced = errors.New("was replaced while being applied")

// procFd names fd's inode through /proc.
func procFd(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// openNode opens name in dirfd with O_PATH|O_NOFOLLOW and stats it. A
// symlink is opened itself, never followed.
func openNode(dirfd int, name string, st *unix.Stat_t) (int, error) {
	fd, err := unix.Openat(dirfd, name, openPath, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Fstat(fd, st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// openDirExact opens the directory name in dirfd (O_PATH, no symlink
// followed) and checks it is the inode want describes.
func openDirExact(dirfd int, name string, want *unix.Stat_t) (int, error) {
	var st unix.Stat_t
	fd, err := openNode(dirfd, name, &st)
	if err != nil {
		if err == unix.ELOOP || err == unix.ENOTDIR {
			return -1, errReplaced
		}
		return -1, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Dev != want.Dev || st.Ino != want.Ino {
		unix.Close(fd)
		return -1, errReplaced
	}
	return fd, nil
}

func sameInode(a, b *unix.Stat_t) bool { return a.Dev == b.Dev && a.Ino == b.Ino }

// chownFd sets the owner of fd's inode (an O_PATH fd is fine, a symlink's
// included).
func chownFd(fd, uid, gid int) error {
	return unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH)
}

// chmodFd sets the mode of the inode an O_PATH fd holds (not a symlink:
// Linux cannot chmod those).
func chmodFd(fd int, mode uint32, isDir bool) error {
	err := unix.Fchmodat(unix.AT_FDCWD, procFd(fd), mode, 0)
	if err == unix.ENOENT && isDir {
		return viaDot(fd, err, func(rfd int) error { return unix.Fchmod(rfd, mode) })
	}
	return noProc(err)
}

// utimesFd sets the times of the inode an O_PATH fd holds (not a
// symlink: see setMeta).
func utimesFd(fd int, ts []unix.Timespec, isDir bool) error {
	err := unix.UtimesNanoAt(unix.AT_FDCWD, procFd(fd), ts, 0)
	if err == unix.ENOENT && isDir {
		return viaDot(fd, err, func(rfd int) error { return futimens(rfd, ts) })
	}
	return noProc(err)
}

// viaDot runs op on a real descriptor of the directory an O_PATH fd
// holds: "." in it is that directory, whatever happens to its name.
func viaDot(fd int, orig error, op func(int) error) error {
	rfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return noProc(orig)
	}
	defer unix.Close(rfd)
	return op(rfd)
}

// noProc explains an ENOENT from /proc/self/fd: /proc is not mounted.
func noProc(err error) error {
	if err == unix.ENOENT {
		return fmt.Errorf("%w (through /proc/self/fd: is /proc mounted?)", err)
	}
	return err
}
