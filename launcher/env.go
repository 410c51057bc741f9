package launcher

import (
	"fmt"
	"strings"
)

// The container's environment comes from the image, which is not trusted,
// and it is handed to `env -i`, a program on the host. env reads its first
// argument without '=' as the program to run, on the host, outside the
// container (as root under chroot), and an argument like
// "--split-string=sh -c …" right after -i as one of its options. So:
//
//   - an image's Env entry must be NAME=VALUE with a POSIX-portable name
//     ([A-Za-z_][A-Za-z0-9_]*) and no NUL byte; any other entry is dropped
//     (Config.DroppedEnv) and the pull prints one warning line naming them;
//   - every env command line, in the script and printed, ends env's options
//     with "--";
//   - a -e NAME=VALUE given to the launcher is checked the same way (a bad
//     one is a usage error), and ruri's -e NAME VALUE only sees checked
//     names.
//
// A valid name can still act on the host program that env starts (proot,
// chroot): LD_PRELOAD, LD_LIBRARY_PATH, PROOT_LOADER, GCONV_PATH … would
// load or run a file of the attacker's choosing on the host. Those (see
// hostSensitive) are not given to the runtime: the container's own /bin/sh
// exports them, inside the container, just before it runs the command.

// ValidEnvName reports whether name is a POSIX-portable environment
// variable name: [A-Za-z_][A-Za-z0-9_]*.
func ValidEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// ValidEnv reports whether kv is NAME=VALUE with a valid name and no NUL.
func ValidEnv(kv string) bool {
	name, _, ok := strings.Cut(kv, "=")
	return ok && ValidEnvName(name) && !strings.ContainsRune(kv, 0)
}

// splitEnv keeps the valid entries of env and returns the others apart.
func splitEnv(env []string) (valid, dropped []string) {
	for _, kv := range env {
		if ValidEnv(kv) {
			valid = append(valid, kv)
		} else {
			dropped = append(dropped, kv)
		}
	}
	return valid, dropped
}

// hostSensitivePrefixes and hostSensitiveNames are the variables a host
// program's dynamic loader, libc or the runtime itself acts on (glibc's
// list of variables it ignores for setuid programs, bionic's and musl's
// LD_*, proot's and qemu-user's own).
var (
	hostSensitivePrefixes = []string{"LD_", "PROOT_", "QEMU_", "MALLOC_", "GLIBC_", "DYLD_"}
	hostSensitiveNames    = []string{"GCONV_PATH", "GETCONF_DIR", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH",
		"NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS", "TMPDIR", "TZDIR"}
)

// hostSensitive: the variable named would act on a host program given it.
func hostSensitive(name string) bool {
	for _, p := range hostSensitivePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	for _, n := range hostSensitiveNames {
		if name == n {
			return true
		}
	}
	return false
}

// splitHost parts valid entries into those the runtime may carry and those
// only the container may see (hostSensitive).
func splitHost(env []string) (runtime, guest []string) {
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if hostSensitive(name) {
			guest = append(guest, kv)
		} else {
			runtime = append(runtime, kv)
		}
	}
	return runtime, guest
}

// shSensitive is hostSensitive as a sh case pattern, for the launcher's -e.
func shSensitive() string {
	var pats []string
	for _, p := range hostSensitivePrefixes {
		pats = append(pats, p+"*")
	}
	return strings.Join(append(pats, hostSensitiveNames...), " | ")
}

// guestEnvProg exports its arguments up to "--" and runs the rest: the
// container's /bin/sh sets the host-sensitive variables inside.
const guestEnvProg = `for a; do shift; [ "$a" = -- ] && break; export "$a"; done; exec "$@"`

// DroppedEnvWarning is the one line a pull prints about the image's Env
// entries it dropped, or "" when there are none.
func (cfg Config) DroppedEnvWarning() string {
	if len(cfg.DroppedEnv) == 0 {
		return ""
	}
	const show = 3
	var names []string
	for i, kv := range cfg.DroppedEnv {
		if i == show {
			names = append(names, fmt.Sprintf("and %d more", len(cfg.DroppedEnv)-show))
			break
		}
		names = append(names, Printable(kv, 60))
	}
	what := "entries that are"
	if len(cfg.DroppedEnv) == 1 {
		what = "entry that is"
	}
	return fmt.Sprintf("the image's Env has %d %s not NAME=VALUE with a portable name (letters, digits, _): left out of the container's environment: %s",
		len(cfg.DroppedEnv), what, strings.Join(names, ", "))
}

// Printable quotes s for a message: control characters escaped, at most
// max runes of it, with "…" when cut.
func Printable(s string, max int) string {
	r := []rune(s)
	cut := len(r) > max
	if cut {
		r = r[:max]
	}
	q := fmt.Sprintf("%q", string(r)) // every control character escaped
	if cut {
		q += "…"
	}
	return q
}
