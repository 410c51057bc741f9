package launcher

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// proot has no "--" to end its options: a program starting with "-" is
// read as proot's options ("-r / /bin/sh" runs the host's sh on the
// host's files). The launcher refuses one from the user (--entrypoint, or
// a command after --) as a usage error, under every runtime and shell,
// before starting anything; no launcher is written for an image's.
func TestLauncherRefusesDashProgram(t *testing.T) {
	bin := fakeRuntimes(t)
	dir := t.TempDir()
	canary := filepath.Join(dir, "canary")
	noEntrypoint := testConfig()
	noEntrypoint.Entrypoint = nil
	for _, tc := range []struct {
		name string
		cfg  Config
		args []string
	}{
		{"--entrypoint -r", testConfig(), []string{"--entrypoint", "-r", "--", "/", "/bin/sh", "-c", "touch " + canary}},
		{"--entrypoint -", testConfig(), []string{"--entrypoint", "-", "/bin/sh"}},
		{"-- -r /", noEntrypoint, []string{"--", "-r", "/", "/bin/sh", "-c", "touch " + canary}},
		{"-- -q", noEntrypoint, []string{"--", "-q", "/bin/sh", "-c", "touch " + canary}},
		{"-- --", noEntrypoint, []string{"--", "--", "/bin/sh"}},
	} {
		script := filepath.Join(dir, "start-fs.sh")
		if err := Write(script, dir+"/fs", tc.cfg); err != nil {
			t.Fatal(err)
		}
		mkReady(t, dir+"/fs")
		for _, sh := range shells(t) {
			for _, env := range [][]string{{"ROOTFS_RUNTIME=proot"}, {"ROOTFS_RUNTIME=chroot"}, {"ROOTFS_RUNTIME=ruri", "ROOTFS_DRY_RUN=1"}, {"ROOTFS_RUNTIME=proot", "ROOTFS_DRY_RUN=1"}} {
				out, errOut, err := runScript(t, sh, script, bin, env, tc.args...)
				code := -1
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				}
				if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "cannot start with -") {
					t.Errorf("%s: %s %s: exit %d, stdout %q, stderr %q; want status 2 and one line", tc.name, sh[0], env, code, out, errOut)
				}
				if argv, _ := recorded(t, bin); argv != nil {
					t.Errorf("%s: %s %s: the runtime was started: %q", tc.name, sh[0], env, argv)
				}
			}
		}
	}
	if _, err := os.Lstat(canary); err == nil {
		t.Fatal("a command starting with - ran a command on the host")
	}

	// The image's own: no launcher, no printed command.
	for _, cfg := range []Config{
		{Entrypoint: []string{"-r", "/", "/bin/sh"}, WorkingDir: "/"},
		{Cmd: []string{"-b", "/:/host", "/bin/sh"}, WorkingDir: "/"},
	} {
		script := filepath.Join(t.TempDir(), "start-fs.sh")
		if err := Write(script, dir+"/fs", cfg); !errors.Is(err, ErrDashCommand) || !errors.Is(err, ErrBadConfig) {
			t.Errorf("Write for %q %q: %v, want ErrBadConfig and ErrDashCommand", cfg.Entrypoint, cfg.Cmd, err)
		}
		if _, err := os.Lstat(script); err == nil {
			t.Errorf("a launcher was written for %q %q", cfg.Entrypoint, cfg.Cmd)
		}
		for _, rt := range []string{Proot, Chroot, Ruri} {
			if line, err := Command(rt, dir+"/fs", cfg, nil); !errors.Is(err, ErrDashCommand) || line != nil {
				t.Errorf("%s Command for %q %q: %q, %v, want ErrDashCommand", rt, cfg.Entrypoint, cfg.Cmd, line, err)
			}
		}
	}
}
