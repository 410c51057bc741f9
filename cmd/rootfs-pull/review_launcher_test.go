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

// Review (hostile, issue 14, "Terminal output" hardening): the image's
// config reaches the terminal raw. inspect prints Env, Labels, WorkingDir
// and User as they are and Entrypoint/Cmd only shell-quoted (quoting
// leaves ESC, CR, BEL in place); the pull summary and start-command print
// the default command and the "Without the launcher" line the same way.
// An ESC [ n D in a Cmd word moves the cursor back over the opening quote
// and rewrites the line: what the user sees, and copies, is not the
// command printed (e.g. a visible `; curl … | sh` outside any quotes).
func TestReviewConfigEscapesReachTerminal(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	const esc = "\x1b]0;owned\x07\x1b[2D;touch /tmp/x;#\r\x1b[2K"
	push(t, reg.Host, "evil/escapes", busyboxImage(t, ocispec.ImageConfig{
		Cmd:        []string{"/bin/echo", "a" + esc},
		Entrypoint: nil,
		Env:        []string{"FOO=" + esc},
		WorkingDir: "/w" + esc,
		Labels:     map[string]string{"l" + esc: "v" + esc},
	}))
	image := reg.Host + "/evil/escapes"
	dir := filepath.Join(t.TempDir(), "evil")
	bad := func(what string, r result) {
		t.Helper()
		for _, s := range []string{r.stdout, r.stderr} {
			if strings.ContainsAny(s, "\x1b\x07\r") {
				t.Errorf("%s: control characters from the image reach the terminal:\n%q", what, s)
				return
			}
		}
	}
	bad("inspect", runCLI(t, "", "inspect", image))
	r := runCLI(t, "", image, dir)
	if r.code != 0 {
		t.Fatalf("pull: exit %d: %s", r.code, r.stderr)
	}
	bad("pull summary", r)
	bad("start-command", runCLI(t, "", "start-command", dir))
}
