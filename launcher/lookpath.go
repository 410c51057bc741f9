package launcher

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// findProgram looks name up in $PATH as exec.LookPath does, but takes a
// regular file with an execute bit as executable instead of asking the
// kernel: on GOOS=linux, exec.LookPath asks with faccessat2, a syscall
// Android's app seccomp policy answers with SIGSYS before Android 16, and
// Termux on x86_64 and 32-bit ARM runs the linux builds. (GOOS=android
// builds already skip it.) Only absolute results count, as exec.LookPath
// refuses those found through a relative PATH entry.
func findProgram(name string) (string, error) {
	if strings.Contains(name, "/") {
		if isExecutable(name) {
			return name, nil
		}
		return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if !filepath.IsAbs(dir) {
			continue
		}
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p, nil
		}
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
