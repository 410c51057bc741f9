// Package android tells, when the program runs, whether it runs on
// Android: the linux builds run there too (Termux), so a build tag cannot
// say. It also names the sh a script's first line may use there, where
// /bin/sh does not exist (Termux's termux-exec fakes it, but only for
// programs started from Termux's own shell).
package android

import (
	"os"
	"path/filepath"
	"strings"
)

// TermuxPrefix is Termux's $PREFIX when the environment does not say.
const TermuxPrefix = "/data/data/com.termux/files/usr"

// SystemShell is Android's own sh (mksh), there for every app and for su.
const SystemShell = "/system/bin/sh"

// Host is where to look. The zero value looks at this machine.
type Host struct {
	// Root is put before every path looked at, and the path Shell returns
	// ("" = "/"): tests lay out an Android in a temporary directory.
	Root string
	// Getenv reads the environment (nil = os.Getenv).
	Getenv func(string) string
}

// Is reports whether h is Android: its loader or build.prop exists, the
// environment Android gives every process says so, or PREFIX is Termux's.
func (h Host) Is() bool {
	for _, p := range []string{"/system/bin/linker64", "/system/bin/linker", "/system/build.prop"} {
		if _, err := os.Stat(h.path(p)); err == nil {
			return true
		}
	}
	return h.getenv("ANDROID_ROOT") != "" || h.getenv("ANDROID_DATA") != "" ||
		strings.HasPrefix(h.getenv("PREFIX"), "/data/data/com.termux/")
}

// Shell is the interpreter a script's #! line names: on Android, Termux's
// $PREFIX/bin/sh when it exists (and its path can stand in a #! line),
// else /system/bin/sh; elsewhere /bin/sh.
func (h Host) Shell() string {
	if !h.Is() {
		return "/bin/sh"
	}
	if prefix := h.getenv("PREFIX"); filepath.IsAbs(prefix) {
		sh := h.path(filepath.Join(prefix, "bin", "sh"))
		if fi, err := os.Stat(sh); err == nil && fi.Mode().IsRegular() && fi.Mode()&0111 != 0 && shebangSafe(sh) {
			return sh
		}
	}
	return h.path(SystemShell)
}

// shebangSafe: p can follow #! as it is. The kernel splits the line at
// blanks and reads only its first 127 bytes before Linux 5.1.
func shebangSafe(p string) bool {
	return len(p) < 100 && !strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

func (h Host) path(p string) string {
	if h.Root == "" {
		return p
	}
	return filepath.Join(h.Root, p)
}

func (h Host) getenv(name string) string {
	if h.Getenv != nil {
		return h.Getenv(name)
	}
	return os.Getenv(name)
}
