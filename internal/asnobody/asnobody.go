// Package asnobody runs a test binary's tests again as an unprivileged
// user (uid/gid 65534) when the tests run as root: as root they cover
// ownership and device nodes, as nobody what a Termux user gets. Tests
// call Rerun from a test of their own, which the child skips (Child).
package asnobody

import (
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Env marks the child run, so that it does not re-run itself.
const Env = "ROOTFS_PULL_TEST_UNPRIVILEGED"

// UID is the uid and gid of the child run.
const UID = 65534

// Child reports whether this process is the unprivileged run.
func Child() bool { return os.Getenv(Env) != "" }

// Rerun runs tests (exact names) of this test binary as UID, with -test.v,
// in a fresh world-writable directory that is its TMPDIR, HOME and working
// directory (a copy of the binary is there: `go test` builds it in a
// private directory); XDG_DATA_HOME and GOCOVERDIR are dropped. It fails t
// when the run fails or runs nothing, and returns its output.
func Rerun(t *testing.T, tests []string) []byte {
	t.Helper()
	dir, err := os.MkdirTemp("", "unprivileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { makeRemovable(dir); os.RemoveAll(dir) })
	if err := os.Chmod(dir, 01777); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(self))
	if err := copyExecutable(self, bin); err != nil {
		t.Fatal(err)
	}
	args := []string{"-test.run", "^(" + strings.Join(tests, "|") + ")$", "-test.count=1", "-test.v"}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout", time.Until(d).Truncate(time.Second).String())
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "TMPDIR", "HOME", "GOCOVERDIR", "XDG_DATA_HOME", Env:
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "TMPDIR="+dir, "HOME="+dir, Env+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: UID, Gid: UID, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the tests failed as uid/gid %d (%v):\n%s", UID, err, out)
	}
	if strings.Contains(string(out), "no tests to run") || !strings.Contains(string(out), "PASS") {
		t.Fatalf("the run as uid/gid %d ran nothing:\n%s", UID, out)
	}
	return out
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// makeRemovable gives the owner rwx on every directory under dir, which
// the child's tests may have left read-only.
func makeRemovable(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
}
