package launcher

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/android"
)

// termuxProotHelp is the part of Termux's proot --help the launcher reads.
const termuxProotHelp = "Regular options:\n  -r *path*, --rootfs=*path*\n  --kill-on-exit\n\tKill all processes on command exit.\n" +
	"Extension options:\n  --link2symlink\n  --sysvipc\n  -p\n\tModify bindings to protected ports to use a higher port number.\n" +
	"  -L\n\tCorrect the size returned from lstat for symbolic links.\n"

// flagsRootfs lays out a ready rootfs with users, a /bin/sh, the
// prepared stand-ins, and writes its launcher for cfg; it returns the
// launcher and the rootfs.
func flagsRootfs(t *testing.T, cfg Config) (string, string) {
	t.Helper()
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "fs")
	for _, d := range []string{"etc", "bin", "home/user"} {
		os.MkdirAll(filepath.Join(rootfs, d), 0755)
	}
	os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"), 0644)
	os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte("root:x:0:\nstaff:x:50:user\nuser:x:1000:\n"), 0644)
	os.WriteFile(filepath.Join(rootfs, "bin/sh"), nil, 0755)
	if err := Prepare(rootfs, PrepareOptions{DNS: []string{"1.1.1.1"}}); err != nil {
		t.Fatal(err)
	}
	mkReady(t, rootfs)
	script := filepath.Join(dir, "start-fs.sh")
	if err := Write(script, rootfs, cfg); err != nil {
		t.Fatal(err)
	}
	return script, rootfs
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// Every bad value is one line on stderr and exit status 2, under each
// shell and runtime, and nothing is started.
func TestLauncherBadFlagValues(t *testing.T) {
	t.Parallel()
	bin := fakeRuntimes(t)
	cfg := testConfig()
	script, _ := flagsRootfs(t, cfg)
	host := t.TempDir()
	badEnv := filepath.Join(host, "bad.env")
	os.WriteFile(badEnv, []byte("OK=1\nA-B=2\n"), 0644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-v"}, "needs a value"},
		{[]string{"-v", host + "/missing"}, "does not exist on the host"},
		{[]string{"-v", host + ":rel"}, "absolute"},
		{[]string{"-v", host + ":/a/../b"}, ".."},
		{[]string{"-v", host + ":/"}, "cannot be /"},
		{[]string{"-v", host + ":/x:rx"}, "ro or rw"},
		{[]string{"-v", host + ":/x:ro:z"}, "HOST[:CONTAINER][:ro]"},
		{[]string{"-v", ":/x"}, "HOST is empty"},
		{[]string{"-u", "-1"}, "NAME, UID"},
		{[]string{"-u", "a:b:c"}, "NAME, UID"},
		{[]string{"-u", "user:"}, "NAME, UID"},
		{[]string{"-u", "4294967295"}, "NAME, UID"},
		{[]string{"-u", "99999999999"}, "NAME, UID"},
		{[]string{"-u", "$(id)"}, "NAME, UID"},
		{[]string{"-u", "nobody"}, "no user nobody"},
		{[]string{"-u", "user:wheel"}, "no group wheel"},
		{[]string{"-w", "rel"}, "absolute"},
		{[]string{"--workdir"}, "needs a value"},
		{[]string{"--hostname", "-x"}, "host name"},
		{[]string{"--hostname", "a_b"}, "host name"},
		{[]string{"--hostname", strings.Repeat("h", 65)}, "64"},
		{[]string{"--kernel-release", ""}, "release"},
		{[]string{"--kernel-release", `1\Linux`}, "release"},
		{[]string{"--env-file", host + "/none"}, "no readable file"},
		{[]string{"--env-file", badEnv}, "NAME=VALUE"},
		{[]string{"--env-file", host}, "no readable file"},
		{[]string{"--bogus"}, "unknown option"},
	} {
		for _, sh := range shells(t) {
			for _, rt := range []string{"proot", "chroot", "ruri"} {
				if rt == "chroot" && os.Geteuid() != 0 {
					continue
				}
				args := tc.args
				if tc.want != "needs a value" {
					args = append(slices.Clone(args), "true")
				}
				out, errOut, err := runScript(t, sh, script, bin, []string{"ROOTFS_RUNTIME=" + rt, "ROOTFS_DRY_RUN=" + map[bool]string{true: "1"}[rt == "ruri"]},
					args...)
				if code := exitCode(err); code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
					t.Errorf("%s %s %q: exit %d, stdout %q, stderr %q; want status 2 and one line with %q", sh[0], rt, tc.args, code, out, errOut, tc.want)
				}
				if argv, _ := recorded(t, bin); argv != nil {
					t.Errorf("%s %s %q: the runtime was started: %q", sh[0], rt, tc.args, argv)
				}
			}
		}
	}
}

// The flags combine, and each runtime gets its own words for them: the
// exact argv of proot and chroot (the fake runtime records it) and ruri's
// dry-run line, under each shell.
func TestLauncherFlagsArgv(t *testing.T) {
	t.Parallel()
	bin := fakeRuntimes(t)
	cfg := testConfig()
	script, rootfs := flagsRootfs(t, cfg)
	host := t.TempDir()
	envFile := filepath.Join(host, "e.env")
	os.WriteFile(envFile, []byte("F=from file\n"), 0644)
	args := []string{"-v", host + ":/data/x", "-u", "user:staff", "-w", "/tmp", "--env-file", envFile, "--hostname", "box", "-e", "G=1", "ls", "/"}
	for _, sh := range shells(t) {
		_, errOut, err := runScript(t, sh, script, bin, []string{"ROOTFS_RUNTIME=proot", "FAKERUNTIME_HELP=" + termuxProotHelp},
			append([]string{"--kernel-release", "5.4.0", "-p", "--no-sysvipc"}, args...)...)
		argv, env := recorded(t, bin)
		if err != nil || argv == nil {
			t.Fatalf("%s proot: %v %s", sh[0], err, errOut)
		}
		line := strings.Join(argv, " ")
		for _, want := range []string{"-i 1000:50 -r " + rootfs, "-w /tmp", "--link2symlink --kill-on-exit -L -p -k \\Linux\\box\\5.4.0\\",
			"-b " + host + ":/data/x /bin/app ls /"} {
			if !strings.Contains(line, want) {
				t.Errorf("%s proot argv lacks %q:\n%s", sh[0], want, line)
			}
		}
		if slices.Contains(argv, "--sysvipc") {
			t.Errorf("%s: --no-sysvipc: proot still got --sysvipc", sh[0])
		}
		for _, want := range []string{"F=from file", "G=1", "HOME=/home/app"} {
			if !slices.Contains(env, want) {
				t.Errorf("%s proot environment lacks %q: %q", sh[0], want, env)
			}
		}
		if fi, err := os.Stat(filepath.Join(rootfs, "data/x")); err != nil || !fi.IsDir() {
			t.Errorf("%s: -v did not make /data/x in the rootfs: %v", sh[0], err)
		}

		// ruri takes no group: -u user:staff is refused for it.
		_, errOut, err = runScript(t, sh, script, bin, []string{"ROOTFS_RUNTIME=ruri", "ROOTFS_DRY_RUN=1"}, args...)
		if exitCode(err) != 2 || !strings.Contains(errOut, "ruri sets only the user") {
			t.Errorf("%s ruri -u user:staff: %v, stderr %q", sh[0], err, errOut)
		}
		out, errOut, err := runScript(t, sh, script, bin, []string{"ROOTFS_RUNTIME=ruri", "ROOTFS_DRY_RUN=1", "TERM="},
			"-v", host+":/ro:ro", "-u", "user", "-w", "/tmp", "--hostname", "box", "ls")
		if err != nil {
			t.Fatalf("%s ruri: %v %s", sh[0], err, errOut)
		}
		got := evalWords(t, strings.TrimSuffix(out, "\n"))
		got[0] = filepath.Base(got[0])
		want := []string{"ruri", "-N", "-W", "/tmp", "-e", "PATH", "/usr/bin:/bin", "-e", "MSG", "a b", "-e", "HOME", "/home/app",
			"-E", "1000", "-M", host, "/ro", "-u", "-t", "box", rootfs, "/bin/app", "ls"}
		if !slices.Equal(got, want) {
			t.Errorf("%s ruri line\n got %q\nwant %q", sh[0], got, want)
		}
		if os.Geteuid() != 0 {
			continue
		}
		_, errOut, err = runScript(t, sh, script, bin, []string{"ROOTFS_RUNTIME=chroot"}, args...)
		argv, _ = recorded(t, bin)
		if err != nil || argv == nil {
			t.Fatalf("%s chroot: %v %s", sh[0], err, errOut)
		}
		// unshare is the real one here: the fake chroot sits after it.
		line = strings.Join(argv, " ")
		for _, want := range []string{"--userspec=+1000:+50 --groups=+50 " + rootfs + " /bin/sh -c", " /tmp /bin/app ls /"} {
			if !strings.Contains(line, want) {
				t.Errorf("%s chroot argv lacks %q:\n%s", sh[0], want, line)
			}
		}
	}
}

// On Android (laid out in a directory, as TestAndroidLauncher does),
// proot gets proot-distro's binds and stand-ins: Termux's $PREFIX and
// Android's system directories (those that exist), the kernel release
// glibc wants, an empty /sys/fs/selinux, /dev/std* where the phone lacks
// them, /proc and /proc/sys stand-ins where they are unreadable.
// --isolated drops the directories.
func TestLauncherAndroidBinds(t *testing.T) {
	bin := fakeRuntimes(t)
	root := t.TempDir()
	const prefix = android.TermuxPrefix
	for _, d := range []string{"system/bin", "apex", "vendor", "sys/fs/selinux", "dev", "proc", prefix[1:] + "/tmp"} {
		os.MkdirAll(filepath.Join(root, d), 0755)
	}
	os.WriteFile(filepath.Join(root, "system/bin/linker64"), nil, 0755)
	os.WriteFile(filepath.Join(root, "dev/stdout"), nil, 0644)
	os.WriteFile(filepath.Join(root, "proc/uptime"), []byte("1 2\n"), 0644)
	old := host
	host = android.Host{Root: root, Getenv: func(string) string { return "" }}
	script, rootfs := flagsRootfs(t, testConfig())
	host = old

	run := func(args ...string) []string {
		t.Helper()
		_, errOut, err := runScript(t, []string{"sh"}, script, bin, []string{"ROOTFS_RUNTIME=proot", "PREFIX=" + prefix, "FAKERUNTIME_HELP=" + termuxProotHelp}, append(args, "true")...)
		argv, _ := recorded(t, bin)
		if err != nil || argv == nil {
			t.Fatalf("%q: %v %s", args, err, errOut)
		}
		return argv
	}
	line := strings.Join(run(), " ")
	for _, want := range []string{
		"-k " + DefaultKernelRelease,
		"-b " + root + prefix + ":" + prefix, "-b " + root + "/system:/system", "-b " + root + "/apex:/apex", "-b " + root + "/vendor:/vendor",
		"-b " + rootfs + "/.rootfs-pull/empty:/sys/fs/selinux",
		"-b /proc/self/fd/0:/dev/stdin", "-b /proc/self/fd/2:/dev/stderr",
		"-b " + rootfs + "/.rootfs-pull/proc/loadavg:/proc/loadavg",
		"-b " + rootfs + "/.rootfs-pull/proc/sys.kernel.cap_last_cap:/proc/sys/kernel/cap_last_cap",
		"-b " + rootfs + "/.rootfs-pull/proc/sys.fs.inotify.max_user_watches:/proc/sys/fs/inotify/max_user_watches",
		"-b " + rootfs + "/.rootfs-pull/proc/sys.kernel.overflowuid:/proc/sys/kernel/overflowuid",
		"-b " + rootfs + "/.rootfs-pull/proc/sys.kernel.overflowgid:/proc/sys/kernel/overflowgid",
	} {
		if !strings.Contains(line, want+" ") {
			t.Errorf("on Android, proot's argv lacks %q:\n%s", want, line)
		}
	}
	for _, not := range []string{"/dev/stdout", "/proc/uptime", "/odm"} { // the phone has them (no /odm)
		if strings.Contains(line, not) {
			t.Errorf("on Android, proot's argv has %q, which it should not:\n%s", not, line)
		}
	}
	for _, d := range []string{"system", "apex", prefix[1:]} {
		if fi, err := os.Lstat(filepath.Join(rootfs, d)); err != nil || !fi.IsDir() {
			t.Errorf("the mount point /%s was not made in the rootfs: %v", d, err)
		}
	}
	line = strings.Join(run("--isolated", "--kernel-release", "4.19.0", "--shared-tmp"), " ")
	if strings.Contains(line, "/system") || strings.Contains(line, prefix+":") {
		t.Errorf("--isolated: Android's directories are still bound:\n%s", line)
	}
	if !strings.Contains(line, "-k 4.19.0 ") || !strings.Contains(line, "-b "+root+prefix+"/tmp:/tmp ") {
		t.Errorf("--kernel-release 4.19.0 --shared-tmp on Android:\n%s", line)
	}
}

// The defaults file is read as words, never run: a line holding shell
// runs nothing, and it is taken apart the same way by rootfs-pull
// (ReadDefaults, for start-command).
func TestLauncherDefaultsAreWords(t *testing.T) {
	bin := fakeRuntimes(t)
	script, _ := flagsRootfs(t, testConfig())
	canary := filepath.Join(t.TempDir(), "canary")
	body := "# a comment\n-e A=$(touch " + canary + ")\n  --hostname\tbox\n-e B=`touch " + canary + "`; touch " + canary + "\r\n--shared-tmp\n"
	defaults := DefaultsPath(script)
	os.WriteFile(defaults, []byte(body), 0644)
	for _, sh := range shells(t) {
		_, errOut, err := runScript(t, sh, script, bin, []string{"ROOTFS_RUNTIME=proot"}, "-e", "C=3", "true")
		_, env := recorded(t, bin)
		if err != nil {
			t.Fatalf("%s: %v %s", sh[0], err, errOut)
		}
		for _, want := range []string{"A=$(touch " + canary + ")", "B=`touch " + canary + "`; touch " + canary, "C=3"} {
			if !slices.Contains(env, want) {
				t.Errorf("%s: environment lacks %q: %q", sh[0], want, env)
			}
		}
	}
	if _, err := os.Lstat(canary); err == nil {
		t.Fatal("a line of the defaults file ran as shell")
	}
	words, err := ReadDefaults(defaults, "/h")
	want := []string{"-e", "A=$(touch " + canary + ")", "--hostname", "box", "-e", "B=`touch " + canary + "`; touch " + canary, "--shared-tmp"}
	if err != nil || !slices.Equal(words, want) {
		t.Errorf("ReadDefaults = %q, %v\nwant %q", words, err, want)
	}
	// A symlink is not followed, by the launcher or by ReadDefaults.
	os.Remove(defaults)
	os.Symlink("/etc/passwd", defaults)
	if _, err := ReadDefaults(defaults, "/h"); err == nil {
		t.Error("ReadDefaults read through a symlink")
	}
	_, errOut, err := runScript(t, []string{"sh"}, script, bin, []string{"ROOTFS_RUNTIME=proot"}, "true")
	if exitCode(err) != 1 || !strings.Contains(errOut, "symlink") {
		t.Errorf("a symlinked defaults file: %v, %q", err, errOut)
	}
}

// --help names every option the launcher reads, says the rootfs persists,
// and rootfs-pull's ParseOptions refuses the bad values the script
// refuses (those it can judge without the rootfs).
func TestLauncherHelpAndParseOptions(t *testing.T) {
	t.Parallel()
	script, _ := flagsRootfs(t, testConfig())
	out, err := exec.Command(script, "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"-e, --env", "--env-file", "--entrypoint", "-v, --volume", "-u, --user", "-w, --workdir", "--hostname",
		"--bind-storage", "--shared-tmp", "--shared-home", "--shared-x11", "--isolated", "-p, --fix-low-ports", "--kernel-release",
		"--no-link2symlink", "--no-sysvipc", "--no-kill-on-exit", "--no-defaults", "no --rm", "persists", "start-fs.defaults",
		"-v ~/src:/src", "-u 1000:1000", "-w /tmp", "--hostname box", "--kernel-release 6.1.0", "ROOTFS_DRY_RUN=1"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	dir := t.TempDir()
	for _, bad := range [][]string{{"-v"}, {"-v", dir + "/missing"}, {"-v", dir + ":rel"}, {"-v", dir + ":/a/../b"}, {"-v", dir + ":/"},
		{"-v", dir + ":/x:rx"}, {"-v", dir + ":/x:ro:z"}, {"-u", "-1"}, {"-u", "a:b:c"}, {"-u", "user:"}, {"-u", "4294967295"},
		{"-w", "rel"}, {"--hostname", "-x"}, {"--hostname", "a_b"}, {"--kernel-release", ""}, {"-e", "1A=x"}, {"--bogus"}} {
		if _, _, err := ParseOptions(bad); !errors.Is(err, ErrOption) {
			t.Errorf("ParseOptions(%q) = %v, want ErrOption", bad, err)
		}
	}
	o, rest, err := ParseOptions([]string{"--volume=" + dir + ":/x:ro", "-u", "user", "--shared-tmp", "-p", "--", "-x"})
	if err != nil || !slices.Equal(rest, []string{"-x"}) || o.User != "user" || !o.FixLowPorts || len(o.Volumes) != 1 ||
		o.Volumes[0] != (Volume{Host: dir, Container: "/x", ReadOnly: true}) || !slices.Equal(o.LauncherOnly, []string{"--shared-tmp"}) {
		t.Errorf("ParseOptions: %+v, rest %q, %v", o, rest, err)
	}
}
