package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

// The launcher's defaults file (start-NAME.defaults, beside it) is the
// user's: start-command shows the command line it makes, and --update
// keeps it.
func TestStartCommandDefaults(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, testregistry.Options{})
	push(t, reg.Host, "demo/defaults", smallImage())
	base := t.TempDir()
	dir := filepath.Join(base, "small")
	image := reg.Host + "/demo/defaults"
	if r := runCLI(t, "", image, dir, "--runtime", "proot"); r.code != 0 {
		t.Fatalf("pull: exit %d: %s", r.code, r.stderr)
	}
	hostDir := t.TempDir()
	defaults := filepath.Join(base, "start-small.defaults")
	body := "# mine\n--shared-tmp\n-v " + hostDir + ":/src\n-e LANG=C.UTF-8\n-w /etc\n--hostname box\n"
	if err := os.WriteFile(defaults, []byte(body), 0644); err != nil {
		t.Fatal(err)
	}
	type doc struct {
		RuntimeCommand []string `json:"runtime_command"`
		DefaultsFile   string   `json:"defaults_file"`
		Defaults       []string `json:"defaults"`
		LauncherOnly   []string `json:"launcher_only"`
	}
	startCommand := func(args ...string) doc {
		t.Helper()
		r := runCLI(t, "", append([]string{"start-command", "--json"}, append(args, dir)...)...)
		var d doc
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &d) != nil {
			t.Fatalf("start-command --json %q: exit %d: %s %s", args, r.code, r.stdout, r.stderr)
		}
		return d
	}
	d := startCommand()
	line := strings.Join(d.RuntimeCommand, " ")
	for _, want := range []string{" LANG=C.UTF-8 ", " -w /etc ", " -k \\Linux\\box\\", " -b " + hostDir + ":/src "} {
		if !strings.Contains(line, want) {
			t.Errorf("proot's line lacks %q:\n%s", want, line)
		}
	}
	if want := []string{"--shared-tmp", "-v", hostDir + ":/src", "-e", "LANG=C.UTF-8", "-w", "/etc", "--hostname", "box"}; !slices.Equal(d.Defaults, want) {
		t.Errorf("defaults %q, want %q", d.Defaults, want)
	}
	if !slices.Equal(d.LauncherOnly, []string{"--shared-tmp"}) || !strings.HasSuffix(d.DefaultsFile, "start-small.defaults") {
		t.Errorf("launcher_only %q, defaults_file %q", d.LauncherOnly, d.DefaultsFile)
	}
	line = strings.Join(startCommand("--runtime", "ruri").RuntimeCommand, " ")
	if !strings.Contains(line, " -m "+hostDir+" /src -u -t box ") || !strings.Contains(line, " -W /etc ") {
		t.Errorf("ruri's line with the defaults:\n%s", line)
	}
	if d := startCommand("--runtime", "chroot"); !slices.Contains(d.LauncherOnly, "--hostname") || !slices.Contains(d.LauncherOnly, hostDir+":/src") {
		t.Errorf("chroot: the launcher's mounts and host name are not named as the launcher's: %q", d.LauncherOnly)
	}
	r := runCLI(t, "", "start-command", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "(with the options of ") || !strings.Contains(r.stdout, "(only the launcher does: --shared-tmp)") {
		t.Errorf("start-command: exit %d:\n%s", r.code, r.stdout)
	}

	// --update replaces the launcher, not the defaults.
	push(t, reg.Host, "demo/defaults", testimage.Build(testimage.Spec{Layers: []testimage.Layer{
		{Tar: testimage.Tar(testimage.Dir("etc/"), testimage.File("etc/hello", "new\n")), Compression: testimage.Gzip}}}))
	if r := runCLI(t, "", image, dir, "--update", "--runtime", "proot"); r.code != 0 {
		t.Fatalf("--update: exit %d: %s", r.code, r.stderr)
	}
	if b, err := os.ReadFile(defaults); err != nil || string(b) != body {
		t.Errorf("after --update the defaults file is %q, %v", b, err)
	}

	// A bad defaults file is one line.
	os.WriteFile(defaults, []byte("-u -1\n"), 0644)
	oneErrorLine(t, runCLI(t, "", "start-command", dir), 1, "want NAME, UID")
	os.WriteFile(defaults, []byte("ls\n"), 0644)
	oneErrorLine(t, runCLI(t, "", "start-command", dir), 1, "want an option")
}
