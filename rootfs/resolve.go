package rootfs

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// maxSymlinkHops bounds symlink chains, as the kernel's ELOOP does.
const maxSymlinkHops = 40

const openPath = unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC

// errNotExist marks a missing path component met while not creating.
var errNotExist = errors.New("does not exist")

// errNotDir marks a path component that is neither a dir nor a symlink.
var errNotDir = errors.New("not a directory")

// errSymlink marks a symlink met by a walk that must not follow one.
var errSymlink = errors.New("is a symlink")

// errReserved marks a walk into the tool's state directory, which layers
// cannot write into (not even the missing directories on the way).
var errReserved = errors.New("is reserved")

// cleanName turns a tar entry name into a path relative to the root:
// "./a/../b/" → "b", "/etc/x" → "etc/x", "../../x" → "x", "./" → "".
func cleanName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

func joinPath(dir, base string) string {
	if dir == "" {
		return base
	}
	return dir + "/" + base
}

func splitPath(p string) []string {
	var parts []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			parts = append(parts, c)
		}
	}
	return parts
}

// dirRef is an open directory inside the root: an O_PATH fd and its
// canonical path ("" for the root).
type dirRef struct {
	fd   int
	path string
}

// walk opens the directory rel inside the root the way chroot would see it.
// Symlinks are followed (absolute ones re-rooted, ".." stopping at the
// root) when follow is set, and refused otherwise. With create, missing
// directories are made (0755) and recorded as written by this layer.
// The caller must release the result with a.release.
//
// The work is bounded whatever the name: at most MaxPathDepth directories
// are held open, at most maxWalkSteps components visited (symlink targets
// included), and each step costs one openat and one fstat.
func (a *applier) walk(rel string, create, follow bool) (dirRef, error) {
	type frame struct {
		fd   int
		path string // canonical, built once per frame
	}
	var stack []frame
	cur := func() int {
		if len(stack) == 0 {
			return a.rootFd
		}
		return stack[len(stack)-1].fd
	}
	canon := func() string {
		if len(stack) == 0 {
			return ""
		}
		return stack[len(stack)-1].path
	}
	closeAll := func() {
		for _, f := range stack {
			unix.Close(f.fd)
		}
		stack = nil
	}
	fail := func(err error) (dirRef, error) {
		closeAll()
		return dirRef{}, err
	}
	todo := splitPath(rel)
	hops, steps := 0, 0
	for len(todo) > 0 {
		if steps++; steps > maxWalkSteps {
			return fail(fmt.Errorf("%s: more than %d components to resolve: %w", shortName(rel), maxWalkSteps, ErrPathTooDeep))
		}
		if steps%64 == 0 && a.ctx != nil {
			if err := a.ctx.Err(); err != nil {
				return fail(err)
			}
		}
		c := todo[0]
		todo = todo[1:]
		if c == ".." {
			if len(stack) > 0 {
				unix.Close(stack[len(stack)-1].fd)
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if len(stack) == 0 && c == StateDirName {
			return fail(fmt.Errorf("%s: %w", c, errReserved))
		}
		if len(stack) >= MaxPathDepth {
			return fail(fmt.Errorf("%s: more than %d directories deep: %w", shortName(rel), MaxPathDepth, ErrPathTooDeep))
		}
		here := dirRef{fd: cur(), path: canon()}
		if err := a.waitFor(target{dir: here, base: c}); err != nil { // a file still being made
			return fail(err)
		}
		var fd int
		err := a.retryWritable(here, func() (err error) {
			fd, err = unix.Openat(here.fd, c, openPath, 0)
			return err
		})
		if err == unix.ENOENT && create {
			if err = a.mkdirImplicit(here, c); err == nil {
				fd, err = unix.Openat(here.fd, c, openPath, 0)
			}
		}
		p := joinPath(here.path, c)
		if err == nil && len(p) > MaxPathLen {
			unix.Close(fd)
			err = ErrPathTooLong
		}
		if err != nil {
			if err == unix.ENOENT {
				return fail(fmt.Errorf("%s: %w", shortName(p), errNotExist))
			}
			return fail(fmt.Errorf("open %s: %w", shortName(p), err))
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return fail(fmt.Errorf("stat %s: %w", shortName(p), err))
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			stack = append(stack, frame{fd, p})
		case unix.S_IFLNK:
			unix.Close(fd)
			if !follow {
				return fail(fmt.Errorf("%s: %w", shortName(p), errSymlink))
			}
			if hops++; hops > maxSymlinkHops {
				return fail(fmt.Errorf("%s: %w", shortName(p), unix.ELOOP))
			}
			target, err := readlinkat(cur(), c)
			if err != nil {
				return fail(fmt.Errorf("readlink %s: %w", shortName(p), err))
			}
			if strings.HasPrefix(target, "/") {
				closeAll() // re-rooted: an absolute link starts at the root
			}
			todo = append(splitPath(target), todo...)
		default:
			unix.Close(fd)
			return fail(fmt.Errorf("%s: %w", shortName(p), errNotDir))
		}
	}
	if len(stack) == 0 {
		return dirRef{fd: a.rootFd, path: ""}, nil
	}
	top := stack[len(stack)-1]
	for _, f := range stack[:len(stack)-1] {
		unix.Close(f.fd)
	}
	return dirRef{fd: top.fd, path: top.path}, nil
}

// release closes a dirRef from walk or resolveParent (never the root's
// fd, and the cached parent only once it is forgotten and unused).
func (a *applier) release(d dirRef) {
	if d.fd == a.rootFd {
		return
	}
	if c := &a.cache; c.open && c.ref.fd == d.fd {
		c.users--
		if c.stale && c.users == 0 {
			a.closeCache()
		}
		return
	}
	unix.Close(d.fd)
}

// dirCache keeps the last parent directory resolveParent walked, open.
// Tar entries come grouped by directory, so most entries skip the walk
// (an openat and an fstat per component). Only a removal can change what
// a path resolves to (an unlink may take a symlink the walk went
// through), so every removal forgets it.
type dirCache struct {
	open  bool
	key   string // the parent as the tar names it
	ref   dirRef
	users int  // targets handed out and not yet released
	stale bool // forgotten while in use: closed on the last release
}

// forget drops the cached parent (after the last user releases it) and
// what ownsWritable learnt.
func (a *applier) forget() {
	clear(a.writable)
	c := &a.cache
	if !c.open {
		return
	}
	if c.users > 0 {
		c.stale = true
		return
	}
	a.closeCache()
}

func (a *applier) closeCache() {
	unix.Close(a.cache.ref.fd)
	a.cache = dirCache{}
}

// target is the place a tar entry goes: its parent directory (open) and
// its base name, never "", "." or "..".
type target struct {
	dir  dirRef
	base string
}

func (t target) path() string { return joinPath(t.dir.path, t.base) }

// resolveParent walks rel's parent (following symlinks inside the root) and
// returns it with rel's last component, which is never followed.
func (a *applier) resolveParent(rel string, create bool) (target, error) {
	dir, base := path.Split(rel)
	c := &a.cache
	if c.open && !c.stale && c.key == dir {
		c.users++
		return target{dir: c.ref, base: base}, nil
	}
	d, err := a.walk(dir, create, true)
	if err != nil {
		return target{}, err
	}
	if d.fd != a.rootFd && (!c.open || c.users == 0) {
		if c.open {
			a.closeCache()
		}
		a.cache = dirCache{open: true, key: dir, ref: d, users: 1}
	}
	return target{dir: d, base: base}, nil
}

func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; size <= 1<<16; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
	return "", unix.ENAMETOOLONG
}
