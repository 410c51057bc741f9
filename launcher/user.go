package launcher

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// User is the container user the image's config names, resolved the way
// Docker resolves it: through the rootfs's own /etc/passwd and /etc/group.
type User struct {
	Name   string // empty when only a uid was given and passwd lacks it
	UID    int
	GID    int
	Groups []int // supplementary groups from /etc/group
	Home   string
}

// ErrNoUser: the image names a user or group its /etc/passwd or
// /etc/group does not have (docker run fails the same way).
var ErrNoUser = errors.New("no such user or group in the image")

// ErrUserDB: the image's /etc/passwd or /etc/group is not a regular file
// of a sane size, and is not read.
var ErrUserDB = errors.New("unreadable user database in the image")

// MaxUserDB is the largest /etc/passwd or /etc/group read (distributions'
// are a few kB).
const MaxUserDB = 4 << 20

// ResolveUser resolves spec ("", "name", "uid", "uid:gid", "name:group",
// "uid:group", "name:gid") inside the rootfs at dir. The files are opened
// through an os.Root, so a hostile symlink cannot make this read a file of
// the host (one that leads out of the rootfs reads as a missing file); and
// only a regular file is read (see readDB).
func ResolveUser(dir, spec string) (User, error) {
	if !validUserSpec(spec) {
		return User{}, fmt.Errorf("%w: User %s is not NAME, UID, NAME:GROUP or UID:GID", ErrBadConfig, Printable(spec, 60))
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return User{}, err
	}
	defer root.Close()
	passwd, err := readDB(root, "etc/passwd", 7)
	if err != nil {
		return User{}, err
	}
	group, err := readDB(root, "etc/group", 4)
	if err != nil {
		return User{}, err
	}

	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" {
		userPart = "0"
	}
	u := User{Home: "/"}
	var entry []string
	if id, ok := parseID(userPart); ok {
		u.UID = id
		entry = find(passwd, 2, userPart)
	} else {
		entry = find(passwd, 0, userPart)
		if entry == nil {
			return User{}, fmt.Errorf("user %q: %w (no matching entry in its /etc/passwd)", userPart, ErrNoUser)
		}
		u.UID, _ = parseID(entry[2])
	}
	if entry != nil {
		u.Name = entry[0]
		u.GID, _ = parseID(entry[3])
		if entry[5] != "" {
			u.Home = entry[5]
		}
	}
	if hasGroup {
		if id, ok := parseID(groupPart); ok {
			u.GID = id
		} else if g := find(group, 0, groupPart); g != nil {
			u.GID, _ = parseID(g[2])
		} else {
			return User{}, fmt.Errorf("group %q: %w (no matching entry in its /etc/group)", groupPart, ErrNoUser)
		}
	}
	if u.Name != "" {
		for _, g := range group {
			gid, ok := parseID(g[2])
			if !ok || gid == u.GID {
				continue
			}
			for _, m := range strings.Split(g[3], ",") {
				if m == u.Name {
					u.Groups = append(u.Groups, gid)
				}
			}
		}
	}
	return u, nil
}

// readDB reads a colon-separated database; lines with fewer than n fields
// or an id that is not a plain number (no sign, below 2^32-1) are
// skipped, as libc skips malformed lines. A missing file (or a symlink
// leading out of the rootfs) is an empty database.
//
// Only a regular file is read: it is stat'ed (inside the root) before it
// is opened, so a device node is never opened; opened with O_NONBLOCK, so a
// FIFO swapped in meanwhile cannot block; and fstat'ed again, to be the
// same regular file, at most MaxUserDB bytes. Anything else is ErrUserDB:
// a FIFO there would hang the pull, a device would be opened as root.
func readDB(root *os.Root, name string, n int) ([][]string, error) {
	fi, err := root.Stat(name)
	if err != nil {
		return nil, nil
	}
	if err := checkDB(name, fi); err != nil {
		return nil, err
	}
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	fi2, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: /%s: %v", ErrUserDB, name, err)
	}
	if err := checkDB(name, fi2); err != nil {
		return nil, err
	}
	if !os.SameFile(fi, fi2) {
		return nil, fmt.Errorf("%w: /%s changed while it was read", ErrUserDB, name)
	}
	var out [][]string
	lr := &io.LimitedReader{R: f, N: MaxUserDB + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < n || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if _, ok := parseID(fields[2]); !ok {
			continue
		}
		if n == 7 {
			if _, ok := parseID(fields[3]); !ok {
				continue
			}
		}
		out = append(out, fields)
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("%w: /%s grew past %d MiB while it was read", ErrUserDB, name, MaxUserDB>>20)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: /%s: %v", ErrUserDB, name, err)
	}
	return out, nil
}

// checkDB: fi is a regular file of at most MaxUserDB bytes.
func checkDB(name string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: /%s is a %s, not a regular file: refusing to read it", ErrUserDB, name, fileKind(fi.Mode()))
	}
	if fi.Size() > MaxUserDB {
		return fmt.Errorf("%w: /%s is %d bytes, more than the %d MiB read", ErrUserDB, name, fi.Size(), MaxUserDB>>20)
	}
	return nil
}

// fileKind names a file type for a message.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m.IsDir():
		return "directory"
	}
	return "special file"
}

func find(db [][]string, field int, value string) []string {
	for _, e := range db {
		if e[field] == value {
			return e
		}
	}
	return nil
}
