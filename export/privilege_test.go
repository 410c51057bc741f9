package export_test

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const unprivilegedEnv = "ROOTFS_PULL_TEST_UNPRIVILEGED"

// TestUnprivileged re-runs the export tests as uid/gid 65534 when the
// tests run as root (as Termux users run rootfs-pull): ownership and
// device nodes are then skipped by the pull, and an export and restore
// must still give the same tree.
func TestUnprivileged(t *testing.T) {
	if os.Getenv(unprivilegedEnv) != "" {
		t.Skip("this is the unprivileged run")
	}
	if !isRoot() {
		t.Skip("not root: this whole run is the unprivileged one")
	}
	dir, err := os.MkdirTemp("", "export-unprivileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("chmod", "-R", "u+rwx", dir).Run(); os.RemoveAll(dir) })
	if err := os.Chmod(dir, 01777); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "export.test")
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0755)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(out, in)
	in.Close()
	out.Close()
	tests := []string{"TestExportRestoreIdentical", "TestRestoreHostileArchive", "TestRestoreTruncated", "TestRestoredLauncherRuns",
		"TestReviewRestoreSparseBounded", "TestReviewRestoredTreeIsNotTheRegistryImage", "TestReviewRestoreDoesNotResumeAnotherArchive",
		"TestReviewRestoreMetaIsWhatWasHashed", "TestReviewRestoreDuplicateMeta", "TestReviewRestoredStateText"}
	args := []string{"-test.run", "^(" + strings.Join(tests, "|") + ")$", "-test.count=1", "-test.v"}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout", time.Until(d).Truncate(time.Second).String())
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "TMPDIR", "HOME", "GOCOVERDIR", "XDG_DATA_HOME", unprivilegedEnv:
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "TMPDIR="+dir, "HOME="+dir, unprivilegedEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the export tests failed as uid/gid 65534 (%v):\n%s", err, b)
	}
	for _, name := range tests {
		if !bytes.Contains(b, []byte("--- PASS: "+name)) {
			t.Errorf("%s did not pass as uid 65534:\n%s", name, b)
		}
	}
}
