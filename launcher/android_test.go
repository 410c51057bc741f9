package launcher

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/android"
)

// On Android /bin/sh exists only through Termux's termux-exec: under su -c,
// tsu or another app a "#!/bin/sh" launcher fails with "not found". A
// launcher written there names /system/bin/sh (mksh), or Termux's own sh.
// Here an Android is laid out in a directory, its sh is mksh (Android's sh)
// or dash (Termux's), and the launcher is started by the kernel through
// its #! line, with nothing in PATH but toybox's applets (as Android's
// /system/bin) and the fake runtimes: no GNU tool, no /bin/sh.
func TestAndroidLauncher(t *testing.T) {
	for _, sh := range []string{"mksh", "dash", "toybox"} {
		if _, err := exec.LookPath(sh); err != nil {
			t.Skipf("%s is not installed (Debian: apt install mksh dash toybox): not tested", sh)
		}
	}
	fake := fakeRuntimes(t)
	toybin := filepath.Join(t.TempDir(), "toybox")
	os.Mkdir(toybin, 0755)
	toybox, _ := exec.LookPath("toybox")
	for _, applet := range []string{"cat", "dirname", "env", "grep", "id", "printf", "sed"} {
		if err := os.Symlink(toybox, filepath.Join(toybin, applet)); err != nil {
			t.Fatal(err)
		}
	}
	const termux = "/data/data/com.termux/files/usr"
	for _, tc := range []struct {
		name, sh, prefix, want string // want: the #! path under the root
	}{
		{"su -c: /system/bin/sh is mksh", "mksh", "", "/system/bin/sh"},
		{"Termux: its sh is dash", "dash", termux, termux + "/bin/sh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, err := os.MkdirTemp("", "a") // short: a #! line is read up to 127 bytes
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(root)
			shell, _ := exec.LookPath(tc.sh)
			for _, f := range []string{"/system/bin/sh", "/system/bin/linker64", tc.prefix + "/bin/sh"} {
				os.MkdirAll(filepath.Dir(root+f), 0755)
				os.Symlink(shell, root+f)
			}
			old := host
			host = android.Host{Root: root, Getenv: func(n string) string {
				if n == "PREFIX" {
					return tc.prefix
				}
				return ""
			}}
			defer func() { host = old }()

			dir := t.TempDir()
			script := filepath.Join(dir, "start-fs.sh")
			if err := Write(script, dir+"/fs", testConfig()); err != nil {
				t.Fatal(err)
			}
			mkReady(t, dir+"/fs")
			os.Mkdir(dir+"/fs/tmp", 0755)
			f, _ := os.Open(script)
			first, _ := bufio.NewReader(f).ReadString('\n')
			f.Close()
			if want := "#!" + root + tc.want + "\n"; first != want {
				t.Fatalf("first line %q, want %q", first, want)
			}

			run := func(env []string, args ...string) (string, string, error) {
				cmd := exec.Command(script, args...) // execve: the kernel reads the #! line
				cmd.Env = append([]string{"PATH=" + fake + ":" + toybin, "TERM=xterm"}, env...)
				var out, errb strings.Builder
				cmd.Stdout, cmd.Stderr = &out, &errb
				err := cmd.Run()
				return out.String(), errb.String(), err
			}
			out, errOut, err := run([]string{"ROOTFS_RUNTIME=proot"}, "-e", "A=b c", "echo", "hi")
			argv, env := recorded(t, fake)
			if err != nil || argv == nil {
				t.Fatalf("proot: %v, stdout %q, stderr %q: the runtime did not start", err, out, errOut)
			}
			if got := strings.Join(argv[len(argv)-2:], " "); got != "echo hi" || !strings.Contains(strings.Join(argv, " "), "-r "+dir+"/fs ") {
				t.Errorf("proot argv %q", argv)
			}
			if !slices.Contains(env, "A=b c") {
				t.Errorf("proot env %q lacks A=b c", env)
			}

			out, errOut, err = run([]string{"ROOTFS_RUNTIME=ruri", "ROOTFS_DRY_RUN=1"})
			if err != nil || !strings.Contains(out, " 'ruri' '-N' '-W' '/srv' ") || !strings.HasSuffix(out, " /bin/app serve --port=80\n") {
				t.Errorf("ruri dry run: %v, stdout %q, stderr %q", err, out, errOut)
			}
			out, errOut, err = run(nil, "--help")
			if err != nil || !strings.HasPrefix(out, "start-fs.sh: start demo") || !strings.Contains(out, "ROOTFS_DRY_RUN=1") {
				t.Errorf("--help: %v, stdout %q, stderr %q", err, out, errOut)
			}
		})
	}
}
