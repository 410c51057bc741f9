package main

import (
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

// Found by the hostile review (terminal output), fixed since: the image's
// config reaches the terminal raw. inspect prints Env, Labels, WorkingDir
// and User as they are and Entrypoint/Cmd only shell-quoted (quoting
// leaves ESC, CR, BEL in place); the pull summary and start-command print
// the default command and the "Without the launcher" line the same way.
// An ESC [ n D in a Cmd word moves the cursor back over the opening quote
// and rewrites the line: what the user sees, and copies, is not the
// command printed (e.g. a visible `; curl … | sh` outside any quotes).
func TestConfigEscapesNeverReachTerminal(t *testing.T) {
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
