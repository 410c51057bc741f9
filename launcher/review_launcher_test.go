package launcher

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Review tests of the launcher's options against a hostile image (its
// /etc/passwd, its symlinks) and odd arguments, under every shell, with
// the fake runtimes recording what would run.

// flagsArgv runs the launcher under sh with the fake runtimes and returns
// the runtime's argv (nil when it did not start), stderr and the status.
func flagsArgv(t *testing.T, sh []string, script, bin string, env []string, args ...string) ([]string, string, int) {
	t.Helper()
	_, errOut, err := runScript(t, sh, script, bin, env, args...)
	argv, _ := recorded(t, bin)
	return argv, errOut, exitCode(err)
}

// -u 1000 is the uid 1000, as docker run -u 1000 is: a passwd line whose
// NAME is "1000" (and whose uid is 0) must not make it root.
func TestReviewNumericUserIsAUID(t *testing.T) {
	bin := fakeRuntimes(t)
	script, rootfs := flagsRootfs(t, testConfig())
	os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n1000:x:0:0:alias:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"), 0644)
	if u, err := ResolveUser(rootfs, "1000"); err != nil || u.UID != 1000 || u.GID != 1000 {
		t.Fatalf("ResolveUser(1000) = %+v, %v", u, err)
	}
	for _, sh := range shells(t) {
		argv, errOut, code := flagsArgv(t, sh, script, bin, []string{"ROOTFS_RUNTIME=proot"}, "-u", "1000", "true")
		line := " " + strings.Join(argv, " ") + " "
		if code != 0 || !strings.Contains(line, " -i 1000:1000 ") || slices.Contains(argv, "-0") {
			t.Errorf("%s proot -u 1000: exit %d, stderr %q, argv %q: want -i 1000:1000, as ResolveUser says", sh[0], code, errOut, line)
		}
		if os.Geteuid() != 0 {
			continue
		}
		argv, errOut, code = flagsArgv(t, sh, script, bin, []string{"ROOTFS_RUNTIME=chroot"}, "-u", "1000", "true")
		if line = " " + strings.Join(argv, " ") + " "; code != 0 || !strings.Contains(line, " --userspec=+1000:+1000 ") {
			t.Errorf("%s chroot -u 1000: exit %d, stderr %q, argv %q: want --userspec=+1000:+1000", sh[0], code, errOut, line)
		}
	}
}

// startBounded runs the launcher under sh with a deadline: it must end by
// itself.
func startBounded(t *testing.T, sh []string, script, bin string, d time.Duration, env []string, args ...string) (string, string, int, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, sh[0], append(append(slices.Clone(sh[1:]), script), args...)...)
	cmd.Env = append([]string{"PATH=" + bin + ":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "TERM=xterm-prop"}, env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	recorded(t, bin)
	return out.String(), errb.String(), exitCode(err), ctx.Err() == nil
}

// The image's /etc/passwd (or a container, which can write it) may be
// huge: -u reads at most what rootfs-pull reads (4 MiB), and a bigger
// file is refused in one line, at once, as ResolveUser refuses it.
func TestReviewHugePasswd(t *testing.T) {
	bin := fakeRuntimes(t)
	script, rootfs := flagsRootfs(t, testConfig())
	for _, f := range []string{"passwd", "group"} {
		p := filepath.Join(rootfs, "etc", f)
		fh, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		// A line of 1 GiB, sparse: nothing to download, everything to read.
		if err := fh.Truncate(1 << 30); err != nil {
			t.Fatal(err)
		}
		fh.Close()
	}
	if _, err := ResolveUser(rootfs, "user"); err == nil {
		t.Fatal("ResolveUser read a 1 GiB passwd")
	}
	for _, sh := range shells(t) {
		for _, spec := range []string{"user", "1000:staff"} {
			_, errOut, code, ended := startBounded(t, sh, script, bin, 10*time.Second, []string{"ROOTFS_RUNTIME=proot"}, "-u", spec, "true")
			if !ended || code != 2 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "4 MiB") {
				t.Errorf("%s -u %s with a 1 GiB passwd and group: ended %v, exit %d, stderr %.200q; want status 2 at once, one line naming the 4 MiB bound", sh[0], spec, ended, code, errOut)
			}
		}
	}
}

// Text from the image (a home directory in its /etc/passwd) reaches the
// terminal only escaped, in errors too.
func TestReviewErrorsEscapeImageText(t *testing.T) {
	bin := fakeRuntimes(t)
	script, rootfs := flagsRootfs(t, testConfig())
	os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/\x1b]0;owned\x07\x1b[2J\u202e/..:/bin/sh\n"), 0644)
	home := t.TempDir()
	for _, sh := range shells(t) {
		_, errOut, code := flagsArgv(t, sh, script, bin, []string{"ROOTFS_RUNTIME=proot", "HOME=" + home}, "-u", "user", "--shared-home", "true")
		if code != 2 || strings.ContainsAny(errOut, "\x1b\x07\u202e") || !strings.Contains(errOut, `\x1b`) {
			t.Errorf("%s: exit %d, stderr %q: want status 2 and the image's text escaped (\\x1b)", sh[0], code, errOut)
		}
		// A bad line of a file (here a program given as --env-file) is cut
		// to a readable length, and escaped.
		_, errOut, code = flagsArgv(t, sh, script, bin, []string{"ROOTFS_RUNTIME=proot"}, "--env-file", "/bin/busybox", "true")
		if code != 2 || len(errOut) > 300 || strings.Count(errOut, "\n") != 1 || strings.ContainsAny(errOut, "\x00\x01\x7f") {
			t.Errorf("%s --env-file /bin/busybox: exit %d, %d bytes of stderr: %.300q", sh[0], code, len(errOut), errOut)
		}
	}
}

// A defaults line that needs a value and has none does not take the first
// word of the command line as its value: the command stays the command.
func TestReviewDefaultsOptionWithoutValue(t *testing.T) {
	bin := fakeRuntimes(t)
	script, _ := flagsRootfs(t, testConfig())
	for _, opt := range []string{"-w", "--entrypoint", "-u", "-v", "-e", "--env-file", "--hostname"} {
		os.WriteFile(DefaultsPath(script), []byte(opt+"\n"), 0644)
		for _, sh := range shells(t) {
			argv, errOut, code := flagsArgv(t, sh, script, bin, []string{"ROOTFS_RUNTIME=proot"}, "/bin/pwd")
			if code != 2 || argv != nil || !strings.Contains(errOut, "needs a value") {
				t.Errorf("%s: defaults %q, command /bin/pwd: exit %d, stderr %q, argv %q; want status 2, %q", sh[0], opt, code, errOut, argv, "needs a value")
			}
		}
		if words, err := ReadDefaults(DefaultsPath(script), "/h"); err == nil {
			t.Errorf("ReadDefaults: defaults %q = %q, want an error as the launcher's", opt, words)
		}
	}
}

// --env-file names a file the launcher reads to its end: /dev/zero (or a
// terminal) is refused at once, not read forever.
func TestReviewEnvFileDevice(t *testing.T) {
	bin := fakeRuntimes(t)
	script, _ := flagsRootfs(t, testConfig())
	for _, sh := range shells(t) {
		_, errOut, code, ended := startBounded(t, sh, script, bin, 5*time.Second, []string{"ROOTFS_RUNTIME=proot"}, "--env-file", "/dev/zero", "true")
		if !ended || code != 2 || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s --env-file /dev/zero: ended %v, exit %d, stderr %.200q; want status 2 at once", sh[0], ended, code, errOut)
		}
	}
}

// busyboxRootfs lays out a ready rootfs holding the host's static busybox
// (its sh, id, cat, touch), prepared as a pull prepares it, and writes its
// launcher for cfg, with the Android (if any) laid out at androidRoot.
func busyboxRootfs(t *testing.T, cfg Config, androidRoot string) (string, string) {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("no static busybox: %v", err)
	}
	dir, err := os.MkdirTemp("", "review-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0755)
	t.Cleanup(func() { exec.Command("rm", "-rf", dir).Run() })
	rootfs := filepath.Join(dir, "fs")
	for _, d := range []string{"etc", "bin", "home/user", "root", "tmp"} {
		os.MkdirAll(filepath.Join(rootfs, d), 0755)
	}
	os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0755)
	for _, a := range []string{"sh", "id", "cat", "touch", "echo", "ls"} {
		os.Symlink("busybox", filepath.Join(rootfs, "bin", a))
	}
	os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"), 0644)
	os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte("root:x:0:\nuser:x:1000:\n"), 0644)
	if err := Prepare(rootfs, PrepareOptions{DNS: []string{"1.1.1.1"}}); err != nil {
		t.Fatal(err)
	}
	mkReady(t, rootfs)
	old := host
	host.Root = androidRoot
	defer func() { host = old }()
	script := filepath.Join(dir, "start-fs.sh")
	if err := Write(script, rootfs, cfg); err != nil {
		t.Fatal(err)
	}
	return script, rootfs
}

// On a rooted Android, chroot shows Android's directories inside (unless
// --isolated), but not for writing: a container user is an Android uid
// too (1000 is AID_SYSTEM, which owns /data/app and /data/dalvik-cache),
// and what it writes there stays on the phone, in its apps.
func TestReviewChrootAndroidBindsReadOnly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	root, err := os.MkdirTemp("", "a")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	os.Chmod(root, 0755)
	for _, d := range []string{"system/bin", "data/app", "data/dalvik-cache", "vendor"} {
		os.MkdirAll(filepath.Join(root, d), 0755)
	}
	os.WriteFile(filepath.Join(root, "system/bin/linker64"), nil, 0755)
	for _, d := range []string{"data/app", "data/dalvik-cache", "system", "vendor"} { // AID_SYSTEM's, as on a phone
		os.Chown(filepath.Join(root, d), 1000, 1000)
		os.Chmod(filepath.Join(root, d), 0771)
	}
	sh, _ := exec.LookPath("sh")
	os.Symlink(sh, filepath.Join(root, "system/bin/sh")) // the launcher's #!
	cfg := Config{Image: "demo", Env: []string{"PATH=/bin"}, Cmd: []string{"/bin/sh"}, WorkingDir: "/", User: User{Home: "/root"}, Runtime: Chroot}
	script, _ := busyboxRootfs(t, cfg, root)
	for _, d := range []string{"/data/app", "/data/dalvik-cache", "/system", "/vendor"} {
		os.WriteFile(filepath.Join(root, d, "shown"), nil, 0644)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, script, "-u", "1000", "sh", "-c", "ls "+d+"/shown && touch "+d+"/planted")
		cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}
		out, err := cmd.CombinedOutput()
		cancel()
		if !strings.HasPrefix(string(out), d+"/shown\n") {
			t.Errorf("Android's %s is not shown inside: %v: %s", d, err, out)
		}
		if _, serr := os.Lstat(filepath.Join(root, d, "planted")); serr == nil {
			t.Errorf("-u 1000 under chroot wrote into Android's %s", d)
		}
	}
	// With toybox's mount (su's PATH on a phone), which cannot make one
	// bind read-only, the directories AID_SYSTEM writes are left out.
	if toybox, err := exec.LookPath("toybox"); err == nil {
		bin := t.TempDir()
		os.Symlink(toybox, filepath.Join(bin, "mount"))
		for _, d := range []string{"/data/app", "/data/dalvik-cache"} {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			cmd := exec.CommandContext(ctx, script, "-u", "1000", "sh", "-c", "touch "+d+"/planted")
			cmd.Env = []string{"PATH=" + bin + ":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}
			out, err := cmd.CombinedOutput()
			cancel()
			if _, serr := os.Lstat(filepath.Join(root, d, "planted")); serr == nil {
				t.Errorf("with toybox's mount, -u 1000 under chroot wrote into Android's %s (%v: %s)", d, err, out)
			}
		}
	}
	// ruri binds them read-only too (-M).
	cmd := exec.Command(script, "-u", "1000", "true")
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "ROOTFS_RUNTIME=ruri", "ROOTFS_DRY_RUN=1"}
	out, err := cmd.Output()
	if line := string(out); err != nil || !strings.Contains(line, " '-M' '"+root+"/system' '/system' ") || strings.Contains(line, "'-m'") {
		t.Errorf("ruri on Android: %v: %s", err, out)
	}
}

// proot reads a bind's HOST:GUEST at the first ':': a host path holding
// one would bind another directory (the part before it) than the one
// meant. No -b the launcher gives proot may hold more than that one ':'.
func TestReviewProotBindColon(t *testing.T) {
	bin := fakeRuntimes(t)
	cfg := testConfig()
	dir := filepath.Join(t.TempDir(), "alpine:3.20")
	os.Mkdir(dir, 0755)
	rootfs := filepath.Join(dir, "fs")
	for _, d := range []string{"etc", "bin", "tmp"} {
		os.MkdirAll(filepath.Join(rootfs, d), 0755)
	}
	os.WriteFile(filepath.Join(rootfs, "bin/sh"), nil, 0755)
	if err := Prepare(rootfs, PrepareOptions{DNS: []string{"1.1.1.1"}}); err != nil {
		t.Fatal(err)
	}
	mkReady(t, rootfs)
	script := filepath.Join(dir, "start-fs.sh")
	if err := Write(script, rootfs, cfg); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(t.TempDir(), "src:old")
	os.MkdirAll(filepath.Join(work, "data"), 0755)
	for _, sh := range shells(t) {
		cmd := exec.Command(sh[0], append(append(slices.Clone(sh[1:]), script), "-v", "data:/data", "true")...)
		cmd.Dir = work
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "ROOTFS_RUNTIME=proot"}
		out, err := cmd.CombinedOutput()
		argv, _ := recorded(t, bin)
		for i, a := range argv {
			if a == "-b" && i+1 < len(argv) && strings.Count(argv[i+1], ":") > 1 {
				t.Errorf("%s: proot gets -b %q: it binds %q, not what was meant", sh[0], argv[i+1], argv[i+1][:strings.IndexByte(argv[i+1], ':')])
			}
		}
		if argv == nil && exitCode(err) != 2 {
			t.Errorf("%s: neither started nor refused: %v %s", sh[0], err, out)
		}
	}
	line, err := Command(Proot, rootfs, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range line {
		if a == "-b" && strings.Count(line[i+1], ":") > 1 {
			t.Errorf("Command (start-command's line): -b %q", line[i+1])
		}
	}
	o := Options{Volumes: []Volume{{Host: filepath.Join(work, "data"), Container: "/data"}}}
	if line, _, err := CommandWith(Proot, rootfs, cfg, o, nil); err == nil {
		t.Errorf("CommandWith (start-command with the defaults' -v %s): %q", o.Volumes[0].Host, line)
	}
}

// start-command prints ruri's line with the defaults' volumes for the
// user to run as root: ruri mounts -m HOST CONTAINER at ROOTFS/CONTAINER
// on the host, following what is there. A CONTAINER path through the
// image's symlink (/src -> /etc) is refused, as the launcher refuses it.
func TestReviewCommandWithRuriVolumeSymlink(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"etc", "data"} {
		os.MkdirAll(filepath.Join(dir, d), 0755)
	}
	os.Symlink("/etc", filepath.Join(dir, "src"))
	os.Symlink("../..", filepath.Join(dir, "data/up"))
	host := t.TempDir()
	cfg := testConfig()
	for _, c := range []string{"/src", "/src/x", "/data/up/tmp"} {
		o := Options{Volumes: []Volume{{Host: host, Container: c}}}
		for _, rt := range []string{Ruri, Proot} {
			line, _, err := CommandWith(rt, dir, cfg, o, nil)
			if rt == Ruri && err == nil {
				t.Errorf("ruri -m %s %s through the image's symlink: %q", host, c, line)
			}
			if rt == Proot && err != nil && !strings.Contains(err.Error(), "symlink") {
				t.Errorf("proot: %v", err)
			}
		}
	}
}

// --shared-tmp gives a container Termux's $PREFIX/tmp (or /tmp), where it
// can put a symlink named .X11-unix to any directory of the host: a later
// --shared-x11 must not bind what that symlink names (the runtimes follow
// it on the host).
func TestReviewSharedX11Symlink(t *testing.T) {
	bin := fakeRuntimes(t)
	script, _ := flagsRootfs(t, testConfig())
	prefix := t.TempDir()
	secret := t.TempDir()
	os.Mkdir(filepath.Join(prefix, "tmp"), 0777)
	os.Symlink(secret, filepath.Join(prefix, "tmp/.X11-unix")) // what the container wrote, as /tmp/.X11-unix
	rts := []string{"proot"}
	if os.Geteuid() == 0 {
		rts = append(rts, "chroot")
	}
	for _, sh := range shells(t) {
		for _, rt := range rts {
			argv, errOut, code := flagsArgv(t, sh, script, bin, []string{"ROOTFS_RUNTIME=" + rt, "PREFIX=" + prefix}, "--shared-x11", "true")
			if code != 2 || argv != nil || !strings.Contains(errOut, "symlink") {
				t.Errorf("%s %s --shared-x11 with .X11-unix a symlink to %s: exit %d, stderr %q, argv %q; want status 2", sh[0], rt, secret, code, errOut, argv)
			}
		}
	}
}

// A defaults line means one thing wherever the launcher is started from,
// and never makes a command: "--env=A=a b" is A="a b" (not -e A=a and a
// command "b"); a trailing word after an option that takes no value (a
// comment: "--isolated  # no Android") is refused, not run as the
// command; a relative -v HOST or --env-file is beside the defaults file,
// not in the directory the launcher is started from (which may be in the
// rootfs, where "data" can be the image's symlink to any host directory).
func TestReviewDefaultsLineGrammar(t *testing.T) {
	bin := fakeRuntimes(t)
	script, rootfs := flagsRootfs(t, testConfig())
	here := filepath.Dir(script)
	defaults := DefaultsPath(script)
	os.Mkdir(filepath.Join(here, "data"), 0755)
	os.WriteFile(filepath.Join(here, "app.env"), []byte("E=beside\n"), 0644)
	// Started from inside the rootfs, where the image put its own "data".
	cwd := filepath.Join(rootfs, "home/user")
	os.Symlink("/", filepath.Join(cwd, "data"))
	os.WriteFile(filepath.Join(cwd, "app.env"), []byte("E=from the rootfs\n"), 0644)
	run := func(sh []string, args ...string) ([]string, []string, string, int) {
		cmd := exec.Command(sh[0], append(append(slices.Clone(sh[1:]), script), args...)...)
		cmd.Dir = cwd
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "ROOTFS_RUNTIME=proot", "HOME=/h"}
		var errb strings.Builder
		cmd.Stderr = &errb
		err := cmd.Run()
		argv, env := recorded(t, bin)
		return argv, env, errb.String(), exitCode(err)
	}
	for _, sh := range shells(t) {
		os.WriteFile(defaults, []byte("--env=A=a b\n-v data:/data\n--env-file app.env\n"), 0644)
		argv, env, errOut, code := run(sh, "true")
		line := strings.Join(argv, " ")
		if code != 0 || !strings.HasSuffix(line, " /bin/app true") || !slices.Contains(env, "A=a b") {
			t.Errorf("%s: defaults --env=A=a b: exit %d, stderr %q, argv %q, env %q; want A=\"a b\" and the command true", sh[0], code, errOut, line, env)
		}
		if !strings.Contains(line, " -b "+filepath.Join(here, "data")+":/data ") || !slices.Contains(env, "E=beside") {
			t.Errorf("%s: defaults -v data:/data and --env-file app.env, started from the rootfs: argv %q, env %q; want the ones beside the defaults file", sh[0], line, env)
		}
		os.WriteFile(defaults, []byte("--isolated  # no Android\n"), 0644)
		argv, _, errOut, code = run(sh, "true")
		if code != 2 || argv != nil || !strings.Contains(errOut, "takes no value") {
			t.Errorf("%s: defaults --isolated with a trailing comment: exit %d, stderr %q, argv %q; want status 2, takes no value", sh[0], code, errOut, argv)
		}
	}
	os.WriteFile(defaults, []byte("--env=A=a b\n-v data:/data\n--env-file app.env\n"), 0644)
	words, err := ReadDefaults(defaults, "/h")
	want := []string{"--env", "A=a b", "-v", filepath.Join(here, "data") + ":/data", "--env-file", filepath.Join(here, "app.env")}
	if err != nil || !slices.Equal(words, want) {
		t.Errorf("ReadDefaults = %q, %v; want %q", words, err, want)
	}
	os.WriteFile(defaults, []byte("--isolated  # no Android\n"), 0644)
	if words, err := ReadDefaults(defaults, "/h"); err == nil {
		t.Errorf("ReadDefaults took --isolated with a trailing word: %q", words)
	}
}

// The launcher makes a -v CONTAINER path in the rootfs one component at
// a time, each checked not to be a symlink. A container of the rootfs,
// running, can swap a checked directory for a symlink before the next
// component is made there: the launcher (root, under chroot) must not
// make it where that symlink leads. (A mkdir wrapper first in PATH does
// the swap, as the running container would.)
func TestReviewVolumeMkdirSwapped(t *testing.T) {
	bin := fakeRuntimes(t)
	script, rootfs := flagsRootfs(t, testConfig())
	outside := t.TempDir()
	host := t.TempDir()
	realMkdir, err := exec.LookPath("mkdir")
	if err != nil {
		t.Skip("no mkdir")
	}
	wrap := filepath.Join(t.TempDir(), "bin")
	os.Mkdir(wrap, 0755)
	os.WriteFile(filepath.Join(wrap, "mkdir"), []byte("#!/bin/sh\n[ -L \"$SWAP\" ] || { mv \"$SWAP\" \"$SWAP.real\" && ln -s \"$TO\" \"$SWAP\"; }\nexec '"+realMkdir+"' \"$@\"\n"), 0755)
	for _, sh := range shells(t) {
		a := filepath.Join(rootfs, "a")
		os.RemoveAll(a)
		os.RemoveAll(a + ".real")
		os.Mkdir(a, 0755)
		cmd := exec.Command(sh[0], append(append(slices.Clone(sh[1:]), script), "-v", host+":/a/made", "true")...)
		cmd.Env = []string{"PATH=" + wrap + ":" + bin + ":/usr/bin:/bin", "ROOTFS_RUNTIME=proot", "SWAP=" + a, "TO=" + outside}
		out, _ := cmd.CombinedOutput()
		recorded(t, bin)
		if _, err := os.Lstat(filepath.Join(outside, "made")); err == nil {
			t.Errorf("%s: the launcher made /a/made where the swapped symlink led, outside the rootfs (%s)", sh[0], out)
			os.Remove(filepath.Join(outside, "made"))
		}
	}
}
