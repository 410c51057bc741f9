package main

import (
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

// Text from an image's config reaches the terminal in inspect, in the
// pull's summary and in start-command: its control characters (escape
// sequences that retitle the window, clear the screen or rewrite what was
// printed, carriage returns, bidi overrides) are shown escaped, never sent.
func TestImageTextIsEscapedOnTheTerminal(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	const esc = "\x1b]0;owned\x07\x1b[2J\r\u202e"
	im := testimage.Build(testimage.Spec{
		Config: ocispec.ImageConfig{
			Entrypoint: []string{"/bin/echo" + esc},
			Cmd:        []string{"hi" + esc},
			Env:        []string{"PATH=/bin", "GREETING=x" + esc},
			WorkingDir: "/work" + esc,
			Labels:     map[string]string{"org.example" + esc: "v" + esc},
		},
		Layers: []testimage.Layer{{Tar: testimage.Tar(testimage.Dir("bin/"), testimage.File("bin/echo", "x")), Compression: testimage.Gzip}},
	})
	push(t, reg.Host, "evil/tty", im)
	image := reg.Host + "/evil/tty"
	dir := filepath.Join(t.TempDir(), "tty")
	clean := func(what string, r result) {
		t.Helper()
		for _, out := range []string{r.stdout, r.stderr} {
			if strings.ContainsAny(out, "\x1b\x07\r\u202e") {
				t.Errorf("%s sends control characters to the terminal:\n%q", what, out)
			}
		}
	}
	r := runCLI(t, "", "inspect", image)
	if r.code != 0 {
		t.Fatalf("inspect: %s", r.stderr)
	}
	clean("inspect", r)
	if !strings.Contains(r.stdout, `\x1b]0;owned`) {
		t.Errorf("inspect does not show the escape sequence escaped:\n%s", r.stdout)
	}
	r = runCLI(t, "", image, dir)
	if r.code != 0 {
		t.Fatalf("pull: %s", r.stderr)
	}
	clean("the pull's summary", r)
	r = runCLI(t, "", "start-command", dir)
	if r.code != 0 {
		t.Fatalf("start-command: %s", r.stderr)
	}
	clean("start-command", r)
	// --json carries the exact values (JSON escapes them itself).
	r = runCLI(t, "", "inspect", "--json", image)
	clean("inspect --json", r)
	if !strings.Contains(r.stdout, `\u001b]0;owned`) {
		t.Errorf("inspect --json lost the exact value:\n%s", r.stdout)
	}
}
