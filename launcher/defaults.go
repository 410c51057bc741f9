package launcher

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultKernelRelease is what uname -r says under proot on Android (and
// the /proc/version stand-in): recent enough that a new glibc does not stop
// with "FATAL: kernel too old" on an old phone kernel, as proot-distro's
// default is.
const DefaultKernelRelease = "6.17.0-rootfs-pull"

// The defaults file: options a user always wants for one rootfs
// (--shared-tmp, -v ~/src:/src), read by the launcher before its own
// arguments. It lives beside the launcher, start-NAME.defaults, not in the
// rootfs: a container can write its rootfs (and DIR/.rootfs-pull), and must
// not choose how the host starts it. rootfs-pull never writes it, so an
// update (which rewrites the launcher) keeps it.
//
// Its format is read as words, never run as shell: one option a line, the
// option then (after blanks, or =) its value, the rest of the line, where a
// leading "~/" is $HOME/ and a relative -v HOST or --env-file is beside
// the file; blank lines and lines starting with # are skipped. A line
// that is not an option (a command), an option that needs a value
// without one, or a flag with a word after it is refused: each would
// change the command line's meaning.

// DefaultsPath is the defaults file of the launcher at path:
// start-NAME.sh → start-NAME.defaults.
func DefaultsPath(path string) string {
	return strings.TrimSuffix(path, ".sh") + ".defaults"
}

// ErrDefaults: the defaults file is unusable (not a regular file, or a
// line that is not an option).
var ErrDefaults = errors.New("unusable defaults file")

// maxDefaults is the largest defaults file read.
const maxDefaults = 64 << 10

// ReadDefaults reads the defaults file at path as the launcher does and
// returns its words (nil, nil when there is none). home replaces a
// leading "~/" of a value.
func ReadDefaults(path, home string) ([]string, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	b, ok := readSmallRegular(path, maxDefaults)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a readable regular file of at most 64 KiB (a symlink?)", ErrDefaults, path)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	var words []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimLeft(strings.TrimSuffix(sc.Text(), "\r"), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.HasPrefix(line, "-") {
			return nil, fmt.Errorf("%w: %s: %s: want an option, one a line", ErrDefaults, filepath.Base(path), Printable(line, 60))
		}
		// The option, then its value: the rest of the line after blanks,
		// or after = (--env=A=a b is A="a b").
		opt, value := line, ""
		if i := strings.IndexAny(line, " \t"); i >= 0 {
			opt, value = line[:i], strings.TrimLeft(line[i:], " \t")
		}
		hasValue := value != ""
		if name, _, ok := strings.Cut(opt, "="); ok && strings.HasPrefix(opt, "--") {
			opt, value, hasValue = name, line[len(name)+1:], true
		}
		switch {
		case opt == "--no-defaults", opt == "-h", opt == "--help", opt == "--":
			return nil, fmt.Errorf("%w: %s: %s cannot be a default", ErrDefaults, filepath.Base(path), opt)
		case takesValue(opt) && !hasValue: // not the first word of the command line
			return nil, fmt.Errorf("%w: %s: %s needs a value on its line", ErrDefaults, filepath.Base(path), opt)
		case flagOption(opt) && hasValue: // a word after it would be the command
			return nil, fmt.Errorf("%w: %s: %s takes no value (a # comment goes on a line of its own)", ErrDefaults, filepath.Base(path), opt)
		}
		words = append(words, opt)
		if !hasValue {
			continue
		}
		if rest, ok := strings.CutPrefix(value, "~/"); ok {
			value = home + "/" + rest
		}
		// A relative path is beside the file, wherever the launcher is
		// started from.
		switch opt {
		case "-v", "--volume", "--env-file":
			if !strings.HasPrefix(value, "/") && !strings.HasPrefix(value, ":") {
				value = filepath.Join(dir, value)
			}
		}
		words = append(words, value)
	}
	return words, nil
}

// flagOption: the launcher option opt takes no value.
func flagOption(opt string) bool {
	switch opt {
	case "-p", "--fix-low-ports", "--bind-storage", "--shared-tmp", "--shared-home", "--shared-x11", "--isolated",
		"--no-link2symlink", "--no-sysvipc", "--no-kill-on-exit":
		return true
	}
	return false
}

// takesValue: the launcher option opt is followed by its value.
func takesValue(opt string) bool {
	switch opt {
	case "-e", "--env", "--env-file", "--entrypoint", "-v", "--volume", "-u", "--user", "-w", "--workdir", "--hostname", "--kernel-release":
		return true
	}
	return false
}
