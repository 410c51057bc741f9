package rootfs

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrMounted: something is mounted inside a rootfs (a running chroot
// container, or ruri's mounts left behind). Removing or rewriting the
// tree then would reach through the mount into the host's files.
type ErrMounted struct {
	Dir    string
	Mounts []string
}

func (e *ErrMounted) Error() string {
	return fmt.Sprintf("%s has %d mount(s) inside (%s): end the containers using it, or run ruri -U %s, then try again",
		e.Dir, len(e.Mounts), e.Mounts[0], e.Dir)
}

// CheckNoMounts returns an *ErrMounted when anything is mounted at or
// below dir. The path is resolved first (symlinks included): mountinfo
// lists real paths.
func CheckNoMounts(dir string) error {
	real, err := realPath(dir)
	if err != nil {
		return nil // nothing there, nothing mounted
	}
	if m := mountsUnder(real); len(m) > 0 {
		return &ErrMounted{Dir: dir, Mounts: m}
	}
	return nil
}

// realPath is dir absolute with every symlink resolved.
func realPath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// mountsUnder lists the mount points at or below dir (a real path).
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
