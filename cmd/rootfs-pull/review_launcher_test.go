package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

// Review (hostile, issue 14): the container's command follows proot's
// options with nothing to end them. An image whose Entrypoint (or Cmd)
// starts with a dash hands proot options of its choice: "-r /" makes the
// host's / the container's root, so the "container's" /bin/sh is the
// host's, writing the host's files; "-q PROG" runs a host program; "-b
// /:/host" shows the whole host inside. The launcher script and the
// printed "Without the launcher" command line both do it.
func TestReviewEntrypointDashIsProotOption(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	canary := "/tmp/PWNED-dash-" + randomName(t)
	t.Cleanup(func() { os.Remove(canary) })
	push(t, reg.Host, "evil/dash", busyboxImage(t, ocispec.ImageConfig{
		// The host's /bin/sh (under proot, but with the host as its root).
		Entrypoint: []string{"-r", "/", "/bin/sh", "-c", "touch " + canary + "; echo container ran"},
	}))
	base, err := os.MkdirTemp("", "review-dash-") // enterable by nobody
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(base, 0755)
	t.Cleanup(func() { exec.Command("rm", "-rf", base).Run() })
	dir := filepath.Join(base, "evil")
	image := reg.Host + "/evil/dash"
	if r := runCLI(t, "", "-q", image, dir); r.code != 0 {
		t.Fatalf("pull: exit %d: %s", r.code, r.stderr)
	}
	script := filepath.Join(base, "start-evil.sh")

	check := func(how string) {
		t.Helper()
		if _, err := os.Lstat(canary); err == nil {
			os.Remove(canary)
			t.Errorf("%s: the image's Entrypoint became proot's options and ran the host's /bin/sh on the host's files: %s was written", how, canary)
		}
	}

	// The launcher, as this user (root: proot -0) and as an unprivileged one.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script)
	cmd.Env = append(os.Environ(), "ROOTFS_RUNTIME=proot")
	out, _ := cmd.CombinedOutput()
	check("./start-evil.sh (proot): " + strings.TrimSpace(string(out)))
	if os.Geteuid() == 0 {
		cmd := exec.CommandContext(ctx, script)
		cmd.Env = append(os.Environ(), "ROOTFS_RUNTIME=proot", "HOME=/tmp", "TMPDIR=/tmp")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, _ := cmd.CombinedOutput()
		check("./start-evil.sh as nobody (proot): " + strings.TrimSpace(string(out)))
	}

	// The printed command, pasted.
	sc := runCLI(t, "", "start-command", "--json", "--runtime", "proot", dir)
	var doc struct {
		RuntimeCommand []string `json:"runtime_command"`
	}
	if err := json.Unmarshal([]byte(sc.stdout), &doc); err != nil || len(doc.RuntimeCommand) == 0 {
		t.Fatalf("start-command --json: %v: %s %s", err, sc.stdout, sc.stderr)
	}
	out, _ = exec.CommandContext(ctx, doc.RuntimeCommand[0], doc.RuntimeCommand[1:]...).CombinedOutput()
	check("the printed runtime command " + strings.Join(doc.RuntimeCommand, " ") + ": " + strings.TrimSpace(string(out)))
}
