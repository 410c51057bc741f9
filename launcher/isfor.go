package launcher

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxScript is the largest file IsFor reads: the launchers it writes are a
// few KiB.
const maxScript = 1 << 20

// boundDirs are the host directories a launcher shows inside a container
// (proot's binds, --bind-storage): a container process can write there.
var boundDirs = []string{"/dev", "/proc", "/sys", "/sdcard", "/storage"}

// IsFor reports whether script is a launcher rootfs-pull wrote for the
// rootfs at dir (a real path): its rootfs line, read the way the script
// reads it, names dir. A file the user put in its place, or the launcher
// of a copy, is not.
//
// script usually comes from the rootfs's state file, which a container
// process can rewrite: it names no file IsFor trusts unless that file is
// an absolute path to a regular file (not a symlink) of at most 1 MiB,
// outside dir and outside the host directories a container sees (a
// container could have written it there). It is opened without following
// a symlink and without blocking (a FIFO never hangs the caller), and a
// device node is never opened.
func IsFor(script, dir string) bool {
	if script == "" || !filepath.IsAbs(script) {
		return false
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(script))
	if err != nil {
		return false
	}
	real := filepath.Join(parent, filepath.Base(script))
	if within(dir, real) {
		return false
	}
	for _, d := range boundDirs {
		if within(d, real) {
			return false
		}
	}
	b, ok := readSmallRegular(real, maxScript)
	if !ok || !bytes.Contains(b, []byte("Written by rootfs-pull")) {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		v, ok := strings.CutPrefix(line, "rootfs=")
		if !ok {
			continue
		}
		var p string
		if rel, ok := strings.CutPrefix(v, `"$here"/`); ok {
			p = filepath.Join(parent, unquote(rel))
		} else {
			p = unquote(v)
		}
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return p == dir
	}
	return false
}

// within: path p is dir or under it (both clean and absolute).
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// readSmallRegular reads the regular file name, of at most max bytes:
// false for anything else (a symlink, FIFO, device, directory, a bigger
// file) without blocking on it or reading more than max+1 bytes.
func readSmallRegular(name string, max int64) ([]byte, bool) {
	fi, err := os.Lstat(name)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > max {
		return nil, false
	}
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() || !os.SameFile(fi, st) {
		return nil, false
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil || int64(len(b)) > max {
		return nil, false
	}
	return b, true
}

// unquote reads back one word written by Quote.
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], `'\''`, "'")
	}
	return s
}
