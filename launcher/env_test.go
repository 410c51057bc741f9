package launcher

import (
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/androidsim"
	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

func TestValidEnv(t *testing.T) {
	for kv, want := range map[string]bool{
		"A=1": true, "_=": true, "a_b9=x=y": true, "PATH=/bin:/usr/bin": true, "X=a\nb 'c' $d `e`": true,
		"sh": false, "-c": false, "--split-string=sh -c id": false, "-S=x": false, "=x": false, "1A=x": false,
		"A-B=x": false, "A.B=x": false, "A B=x": false, "Ä=x": false, "A=\x00": false, "A\x00=x": false, "": false, "--": false,
	} {
		if got := ValidEnv(kv); got != want {
			t.Errorf("ValidEnv(%q) = %v, want %v", kv, got, want)
		}
	}
}

// fakeRuntimeDir holds the fake runtime once built; TestMain removes it.
var fakeRuntimeDir string

func TestMain(m *testing.M) {
	androidsim.InstallIfChild()
	code := m.Run()
	if fakeRuntimeDir != "" {
		os.RemoveAll(fakeRuntimeDir)
	}
	os.Exit(code)
}

// fakeRuntime is testdata/fakeruntime, built once per test run.
var fakeRuntime = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "rootfs-pull-fakeruntime-")
	if err != nil {
		return "", err
	}
	fakeRuntimeDir = dir
	exe := filepath.Join(dir, "fakeruntime")
	build := exec.Command("go", "build", "-o", exe, "./testdata/fakeruntime")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the fake runtime: %v\n%s", err, out)
	}
	return exe, nil
})

// fakeRuntimes makes a bin directory where proot and chroot are the fake
// runtime (testdata/fakeruntime: it records its argv and environment
// beside itself) and points lookPath at it.
func fakeRuntimes(t *testing.T) string {
	t.Helper()
	exe, err := fakeRuntime()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "bin")
	os.Mkdir(bin, 0755)
	for _, n := range []string{"proot", "chroot"} {
		if err := os.Symlink(exe, filepath.Join(bin, n)); err != nil {
			t.Fatal(err)
		}
	}
	old := lookPath
	lookPath = func(name string) (string, error) {
		if p := filepath.Join(bin, name); name == "proot" || name == "chroot" {
			return p, nil
		}
		return old(name)
	}
	t.Cleanup(func() { lookPath = old })
	return bin
}

// recorded reads and clears what the fake runtime recorded: nil when it
// did not run.
func recorded(t *testing.T, bin string) (argv []string, env []string) {
	t.Helper()
	a, err := os.ReadFile(filepath.Join(bin, "argv"))
	if err != nil {
		return nil, nil
	}
	e, _ := os.ReadFile(filepath.Join(bin, "environ"))
	os.Remove(filepath.Join(bin, "argv"))
	os.Remove(filepath.Join(bin, "environ"))
	return strings.Split(string(a), "\x00"), strings.Split(string(e), "\x00")
}

// shells are the POSIX shells found here: the launcher must mean the same
// in each.
func shells(t *testing.T) [][]string {
	out := [][]string{{"sh"}}
	for _, s := range [][]string{{"dash"}, {"mksh"}, {"bash", "--posix"}, {"busybox", "sh"}} {
		if _, err := exec.LookPath(s[0]); err == nil {
			out = append(out, s)
		} else {
			t.Logf("%s is not installed: not tested", s[0])
		}
	}
	return out
}

// runScript runs the launcher with shell sh, nothing of the caller's
// environment but a PATH with the fake runtimes first, and env.
func runScript(t *testing.T, sh []string, script, bin string, env []string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(sh[0], append(append(slices.Clone(sh[1:]), script), args...)...)
	cmd.Env = append([]string{"PATH=" + bin + ":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "TERM=xterm-prop"}, env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// The model of what a launch must be, written from the rules, not from
// the code: env entries NAME=VALUE with a portable name and no NUL; PATH
// and HOME filled in; LD_*-like names set inside by the container's sh.
var (
	portable  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	sensitive = regexp.MustCompile(`^(LD_|PROOT_|QEMU_|MALLOC_|GLIBC_|DYLD_)|^(GCONV_PATH|GETCONF_DIR|HOSTALIASES|LOCALDOMAIN|LOCPATH|NIS_PATH|NLSPATH|RESOLV_HOST_CONF|RES_OPTIONS|TMPDIR|TZDIR)=`)
)

type user struct {
	uid, gid int
	groups   string // chroot's --groups
	home     string
}

// users are the User values the test rootfs resolves, and what to.
var users = map[string]user{
	"": {0, 0, "0", "/root"}, "0": {0, 0, "0", "/root"}, "root": {0, 0, "0", "/root"},
	"user": {1000, 1000, "1000,50", "/home/user"}, "1000": {1000, 1000, "1000,50", "/home/user"},
	"1000:1000": {1000, 1000, "1000,50", "/home/user"}, "user:staff": {1000, 50, "50", "/home/user"},
	"4242": {4242, 0, "0", "/"}, "4242:7": {4242, 7, "7", "/"},
}

// hostileUsers must all be refused: each would be an option, or another
// user, to a runtime.
var hostileUsers = []string{"--help", "-0", "-1", "+1", "1000:-1", "0 -b /:/x", "root\n", "user:", ":0", "a:b:c",
	"$(id)", "99999999999", "4294967295", "user\x00", "user;id", "../user"}

type want struct {
	env     map[string]string // what the runtime's environment holds
	guest   []string          // set inside by the container's sh
	command []string
	wd      string
	u       user
}

func model(img ocispec.ImageConfig, args, extra []string, hasSh bool, term string) (w want, dropped []string) {
	w.env = map[string]string{}
	if term != "" {
		w.env["TERM"] = term
	}
	var valid []string
	for _, kv := range img.Env {
		if portable.MatchString(kv) && !strings.ContainsRune(kv, 0) {
			valid = append(valid, kv)
		} else {
			dropped = append(dropped, kv)
		}
	}
	has := func(n string) bool {
		return slices.ContainsFunc(valid, func(kv string) bool { return strings.HasPrefix(kv, n+"=") })
	}
	w.u = users[img.User]
	if !has("PATH") {
		valid = append([]string{"PATH=" + DefaultPath}, valid...)
	}
	if !has("HOME") {
		valid = append(valid, "HOME="+w.u.home)
	}
	for _, kv := range append(valid, extra...) {
		if sensitive.MatchString(kv) {
			w.guest = append(w.guest, kv)
			continue
		}
		n, v, _ := strings.Cut(kv, "=")
		w.env[n] = v
	}
	if !hasSh {
		w.guest = nil
	}
	w.wd = img.WorkingDir
	if !strings.HasPrefix(w.wd, "/") {
		w.wd = "/" + strings.TrimPrefix(w.wd, "./")
	}
	if args == nil {
		args = img.Cmd
	}
	w.command = append(slices.Clone(img.Entrypoint), args...)
	if len(w.command) == 0 {
		w.command = []string{"/bin/sh"}
	}
	return w, dropped
}

// guestWords is the container-side prelude for w.guest.
func (w want) guestWords() []string {
	if len(w.guest) == 0 {
		return nil
	}
	return append(append([]string{"/bin/sh", "-c", `for a; do shift; [ "$a" = -- ] && break; export "$a"; done; exec "$@"`, "sh"}, w.guest...), "--")
}

// prootArgs is proot's argv after its name.
func (w want) prootArgs(rootfs string) []string {
	a := []string{"-0"}
	if w.u.uid != 0 {
		a = []string{"-i", fmt.Sprintf("%d:%d", w.u.uid, w.u.gid)}
	}
	a = append(a, "-r", rootfs, "-b", "/dev", "-b", "/proc", "-b", "/sys", "-b", "/dev/urandom:/dev/random",
		"-b", "/proc/self/fd:/dev/fd", "-w", w.wd, "-b", rootfs+"/tmp:/dev/shm")
	return append(append(a, w.guestWords()...), w.command...)
}

// chrootArgs is chroot's argv after its name.
func (w want) chrootArgs(rootfs string) []string {
	var a []string
	if w.u.uid != 0 || w.u.gid != 0 {
		// Numeric ids marked with +: GNU chroot would look a bare number
		// up as a name in the rootfs first.
		a = append(a, fmt.Sprintf("--userspec=+%d:+%d", w.u.uid, w.u.gid), "--groups=+"+strings.ReplaceAll(w.u.groups, ",", ",+"))
	}
	a = append(a, rootfs)
	if w.wd != "/" {
		a = append(a, "/bin/sh", "-c", `cd "$0" && exec "$@"`, w.wd)
	}
	return append(append(a, w.guestWords()...), w.command...)
}

// envMap reads an environment list; duplicates are an error.
func envMap(t *testing.T, env []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, kv := range env {
		n, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Errorf("environment entry %q without =", kv)
		}
		if _, dup := m[n]; dup {
			t.Errorf("environment has %s twice", n)
		}
		m[n] = v
	}
	return m
}

// hostile builds strings meant to break out: of env, of the script's
// quoting, into an option; each would create the canary if it ran.
func hostile(r *rand.Rand, canary string) string {
	fixed := []string{
		"sh", "-c", "touch " + canary, "--split-string=sh -c 'touch " + canary + "'", "-S", "-u", "--", "-", "-i",
		"$(touch " + canary + ")", "`touch " + canary + "`", "'; touch " + canary + "; '", "\"; touch " + canary + "; \"",
		"\ntouch " + canary + "\n", "a\nb", "-w /", "--help", "${IFS}", "\\", "*", "", " ", "'", "\"", "$0", "$@", "%s",
		"\t-x", "=", "A=B", "é", "\u2028touch " + canary, "\x7f\x1b[31m", "\u202e\u009b2J",
	}
	if r.Intn(3) > 0 {
		return fixed[r.Intn(len(fixed))]
	}
	const alphabet = "aZ_09-=$`'\"\\ ;&|<>(){}*?[]!#~\n\t\r/."
	b := make([]byte, r.Intn(12))
	for i := range b {
		b[i] = alphabet[r.Intn(len(alphabet))]
	}
	return string(b)
}

func hostileEnv(r *rand.Rand, canary string) string {
	switch r.Intn(6) {
	case 0:
		return hostile(r, canary)
	case 1:
		names := []string{"LD_PRELOAD", "LD_LIBRARY_PATH", "PROOT_LOADER", "GCONV_PATH", "TMPDIR", "PATH", "HOME", "FOO", "_", "a1"}
		return names[r.Intn(len(names))] + "=" + hostile(r, canary)
	case 2:
		return "V" + fmt.Sprint(r.Intn(5)) + "=" + hostile(r, canary) + "\x00x"[:r.Intn(2)*2]
	default:
		return hostile(r, canary) + "=" + hostile(r, canary)
	}
}

// For random, hostile Env, Cmd, Entrypoint, WorkingDir and User, the
// runtime gets exactly the intended argv and environment, from the
// launcher under each shell and from the printed command, and nothing
// runs outside the container: env only ever starts the runtime.
func TestLaunchProperty(t *testing.T) {
	bin := fakeRuntimes(t)
	shs := shells(t)
	r := rand.New(rand.NewSource(14))
	iterations := 30
	if testing.Short() {
		iterations = 8
	}
	for i := 0; i < iterations; i++ {
		base := filepath.Join(t.TempDir(), "it's a $dir")
		rootfs := filepath.Join(base, "fs")
		canary := filepath.Join(t.TempDir(), "canary")
		for _, d := range []string{"etc", "tmp", "proc", "sys", "dev", ".rootfs-pull"} {
			os.MkdirAll(filepath.Join(rootfs, d), 0755)
		}
		os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"), 0644)
		os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte("root:x:0:\nstaff:x:50:user\nuser:x:1000:\n"), 0644)
		os.WriteFile(filepath.Join(rootfs, ".rootfs-pull/state.json"), []byte(`{"status": "ready"}`), 0644)
		hasSh := r.Intn(2) == 0
		if hasSh {
			os.MkdirAll(filepath.Join(rootfs, "bin"), 0755)
			os.WriteFile(filepath.Join(rootfs, "bin/sh"), nil, 0755)
		}

		var img ocispec.Image
		img.OS, img.Architecture = "linux", goruntime.GOARCH
		c := &img.Config
		for n := r.Intn(6); n > 0; n-- {
			c.Env = append(c.Env, hostileEnv(r, canary))
		}
		// First, the attacks of issue 14 as they were found.
		switch i {
		case 0:
			c.Env = []string{"sh", "-c", "touch " + canary}
		case 1:
			c.Env = []string{"--split-string=sh -c 'touch " + canary + "'", "A=1"}
		case 2:
			c.Env = []string{"-S", "touch " + canary}
		case 3:
			c.Env = []string{"PATH=/usr/bin", "-u", "PATH", "sh", "-c", "touch " + canary}
		}
		for n := r.Intn(3); n > 0; n-- {
			c.Entrypoint = append(c.Entrypoint, hostile(r, canary))
		}
		for n := r.Intn(4); n > 0; n-- {
			c.Cmd = append(c.Cmd, hostile(r, canary))
		}
		if r.Intn(2) == 0 {
			c.WorkingDir = hostile(r, canary)
		}
		bad := false
		if r.Intn(8) == 0 {
			c.User, bad = hostileUsers[r.Intn(len(hostileUsers))], true
		} else {
			var specs []string
			for s := range users {
				specs = append(specs, s)
			}
			slices.Sort(specs)
			c.User = specs[r.Intn(len(specs))]
		}
		if r.Intn(12) == 0 {
			if r.Intn(2) == 0 {
				c.WorkingDir += "\x00"
			} else {
				c.Cmd = append(c.Cmd, "a\x00b")
			}
			bad = true
		}
		if i < 4 { // the attacks above must reach the launch
			c.User, bad = "", false
			c.WorkingDir = strings.ReplaceAll(c.WorkingDir, "\x00", "")
			c.Cmd = slices.DeleteFunc(c.Cmd, func(a string) bool { return strings.ContainsRune(a, 0) })
			if dashFirst(*c, nil) {
				c.Entrypoint = append([]string{"/bin/echo"}, c.Entrypoint...)
			}
		}
		var args []string // nil: the image's Cmd
		if r.Intn(2) == 0 {
			args = []string{}
			for n := r.Intn(3); n > 0; n-- {
				args = append(args, hostile(r, canary))
			}
		}
		// A program starting with -, which proot (it has no --) reads as
		// its own options: "-r /" makes the host's / the container's root.
		switch i {
		case 4:
			c.Entrypoint = []string{"-r", "/", "/bin/sh", "-c", "touch " + canary}
		case 5:
			c.Entrypoint, c.Cmd = nil, []string{"-q", "/bin/sh", "-c", "touch " + canary}
		case 6, 7: // the user's command, after --
			c.Entrypoint, c.Cmd = nil, []string{"/bin/true"}
			args = []string{"-r", "/", "/bin/sh", "-c", "touch " + canary}
			if i == 7 {
				args = []string{"-b", "/:/host", "/bin/sh"}
			}
		}
		var extra []string
		for n := r.Intn(3); n > 0; n-- {
			names := []string{"X", "LD_PRELOAD", "PATH", "_y"}
			extra = append(extra, names[r.Intn(len(names))]+"="+hostile(r, canary))
		}
		desc := fmt.Sprintf("#%d: %#v args %q -e %q", i, *c, args, extra)

		cfg, err := NewConfig(rootfs, img, goruntime.GOARCH, Proot)
		if dashFirst(*c, nil) && !bad {
			// Refused at pull time; and a Config made by hand gets no
			// launcher and no printed command either.
			if !errors.Is(err, ErrBadConfig) || !errors.Is(err, ErrDashCommand) {
				t.Fatalf("%s: NewConfig = %v, want ErrBadConfig and ErrDashCommand", desc, err)
			}
			byHand := Config{Entrypoint: c.Entrypoint, Cmd: c.Cmd, WorkingDir: "/", Runtime: Auto}
			if err := Write(filepath.Join(base, "start-fs.sh"), rootfs, byHand); !errors.Is(err, ErrDashCommand) {
				t.Errorf("%s: Write = %v, want ErrDashCommand", desc, err)
			}
			for _, rt := range []string{Proot, Chroot, Ruri} {
				if line, err := Command(rt, rootfs, byHand, nil); !errors.Is(err, ErrDashCommand) {
					t.Errorf("%s: %s Command = %q, %v, want ErrDashCommand", desc, rt, line, err)
				}
			}
			continue
		}
		if bad {
			if !errors.Is(err, ErrBadConfig) {
				t.Fatalf("%s: NewConfig = %v, want ErrBadConfig", desc, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", desc, err)
		}
		scriptArgs := args // the launcher runs the image's Cmd for no arguments
		if len(args) == 0 {
			scriptArgs = nil
		}
		w, dropped := model(*c, scriptArgs, extra, hasSh, "xterm-prop")
		if !slices.Equal(cfg.DroppedEnv, dropped) {
			t.Errorf("%s: dropped %q, want %q", desc, cfg.DroppedEnv, dropped)
		}
		script := filepath.Join(base, "start-fs.sh")
		if err := Write(script, rootfs, cfg); err != nil {
			t.Fatal(err)
		}
		var largs []string
		for _, e := range extra {
			largs = append(largs, "-e", e)
		}
		if args != nil {
			largs = append(append(largs, "--"), args...)
		}

		check := func(how string, runtime string, wantArgs []string, wantEnv map[string]string) {
			t.Helper()
			argv, env := recorded(t, bin)
			if argv == nil {
				t.Errorf("%s: %s: %s never ran", desc, how, runtime)
				return
			}
			if len(wantArgs) == 0 {
				wantArgs = []string{""} // strings.Split of nothing
			}
			if !slices.Equal(argv, wantArgs) {
				t.Errorf("%s: %s: %s argv\n got %q\nwant %q", desc, how, runtime, argv, wantArgs)
			}
			if got := envMap(t, env); !maps.Equal(got, wantEnv) {
				t.Errorf("%s: %s: %s environment\n got %q\nwant %q", desc, how, runtime, got, wantEnv)
			}
		}
		if dashFirst(*c, args) {
			// The user's own command starts with -: a usage error (one
			// line, status 2) under every runtime and shell, nothing run.
			for _, sh := range shs {
				for _, rt := range []string{"proot", "chroot", "ruri"} {
					out, errOut, err := runScript(t, sh, script, bin, []string{"ROOTFS_RUNTIME=" + rt, "ROOTFS_DRY_RUN=" + map[bool]string{true: "1"}[rt == "ruri"]}, largs...)
					code := -1
					if ee, ok := err.(*exec.ExitError); ok {
						code = ee.ExitCode()
					}
					if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "cannot start with -") {
						t.Errorf("%s: %s: %s: exit %d, stdout %q, stderr %q; want status 2 and one line", desc, sh[0], rt, code, out, errOut)
					}
					if argv, _ := recorded(t, bin); argv != nil {
						t.Errorf("%s: %s: %s was started: %q", desc, sh[0], rt, argv)
					}
				}
			}
			for _, rt := range []string{Proot, Chroot, Ruri} {
				if line, err := Command(rt, rootfs, cfg, args); !errors.Is(err, ErrDashCommand) {
					t.Errorf("%s: %s Command = %q, %v, want ErrDashCommand", desc, rt, line, err)
				}
			}
			if _, err := os.Lstat(canary); err == nil {
				t.Fatalf("%s: a command starting with - ran a command on the host", desc)
			}
			continue
		}
		for _, sh := range shs {
			how := strings.Join(sh, " ")
			if _, errOut, err := runScript(t, sh, script, bin, []string{"ROOTFS_RUNTIME=proot"}, largs...); err != nil {
				t.Errorf("%s: %s: proot: %v: %s", desc, how, err, errOut)
			} else {
				check(how, "proot", w.prootArgs(rootfs), w.env)
			}
			if os.Geteuid() == 0 {
				if _, errOut, err := runScript(t, sh, script, bin, []string{"ROOTFS_RUNTIME=chroot"}, largs...); err != nil {
					t.Errorf("%s: %s: chroot: %v: %s", desc, how, err, errOut)
				} else {
					check(how, "chroot", w.chrootArgs(rootfs), w.env)
				}
			}
			// ruri, which is not installed: its dry-run line (control
			// characters escaped: it is printed on the user's terminal).
			out, errOut, err := runScript(t, sh, script, bin, []string{"ROOTFS_RUNTIME=ruri", "ROOTFS_DRY_RUN=1"}, largs...)
			if err != nil {
				t.Errorf("%s: %s: ruri: %v: %s", desc, how, err, errOut)
			}
			wantR := w.ruriLine(cfg, rootfs, extra)
			for j := range wantR {
				wantR[j] = safetext.Cut(wantR[j], 0)
			}
			if got := evalWords(t, strings.TrimSuffix(out, "\n")); !slices.Equal(got, wantR) {
				t.Errorf("%s: %s: ruri line\n got %q\nwant %q", desc, how, got, wantR)
			}
		}

		// The printed command lines, run as a user would paste them. They
		// have no -e, and cannot know whether the rootfs has a /bin/sh:
		// they always set LD_*-like variables through it.
		wp, _ := model(*c, args, nil, true, "")
		for _, rt := range []string{Proot, Chroot} {
			line, err := Command(rt, rootfs, cfg, args)
			if err != nil {
				t.Errorf("%s: printed %s command: %v", desc, rt, err)
				continue
			}
			wantLine := []string{"env", "-i", "--"}
			for _, kv := range cfg.Env {
				if portable.MatchString(kv) && !sensitive.MatchString(kv) {
					wantLine = append(wantLine, kv)
				}
			}
			wantArgs := wp.prootArgs(rootfs)
			if rt == Chroot {
				wantArgs = wp.chrootArgs(rootfs)
			}
			wantLine = append(append(wantLine, filepath.Join(bin, rt)), wantArgs...)
			if !slices.Equal(line, wantLine) {
				t.Errorf("%s: printed %s command\n got %q\nwant %q", desc, rt, line, wantLine)
			}
			cmd := exec.Command(line[0], line[1:]...)
			cmd.Env = []string{}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s: printed %s command: %v: %s", desc, rt, err, out)
			}
			check("printed command", rt, wantArgs, wp.env)
		}
		if _, err := os.Lstat(canary); err == nil {
			t.Fatalf("%s: a value from the image ran a command on the host", desc)
		}
	}
}

// dashFirst: the program the container would run starts with "-", for
// the image's command (args nil) or the user's args replacing its Cmd.
func dashFirst(c ocispec.ImageConfig, args []string) bool {
	command := c.Entrypoint
	if len(command) == 0 {
		command = c.Cmd
		if args != nil {
			command = args
		}
	}
	return len(command) > 0 && strings.HasPrefix(command[0], "-")
}

// ruriLine is ruri's whole dry-run line.
func (w want) ruriLine(cfg Config, rootfs string, extra []string) []string {
	a := []string{"ruri", "-N", "-W", w.wd}
	for _, kv := range cfg.Env {
		if portable.MatchString(kv) {
			n, v, _ := strings.Cut(kv, "=")
			a = append(a, "-e", n, v)
		}
	}
	if w.u.uid != 0 {
		a = append(a, "-E", fmt.Sprint(w.u.uid))
	}
	for _, kv := range append([]string{"TERM=xterm-prop"}, extra...) {
		n, v, _ := strings.Cut(kv, "=")
		a = append(a, "-e", n, v)
	}
	return append(append(a, rootfs), w.command...)
}

// A bad -e is a usage error: one line, exit status 2, nothing started.
func TestLauncherBadEnvFlag(t *testing.T) {
	bin := fakeRuntimes(t)
	dir := t.TempDir()
	cfg := testConfig()
	script := dir + "/start-fs.sh"
	if err := Write(script, dir+"/fs", cfg); err != nil {
		t.Fatal(err)
	}
	mkReady(t, dir+"/fs")
	canary := filepath.Join(dir, "canary")
	for _, bad := range []string{"sh", "-c", "1A=x", "A-B=x", "=x", "A B=x", "--split-string=touch " + canary, "Ä=x"} {
		for _, sh := range shells(t) {
			out, errOut, err := runScript(t, sh, script, bin, []string{"ROOTFS_RUNTIME=proot"}, "-e", bad, "touch", canary)
			code := -1
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "NAME=VALUE") {
				t.Errorf("%s -e %q: exit %d, stdout %q, stderr %q; want status 2 and one line", sh[0], bad, code, out, errOut)
			}
			if argv, _ := recorded(t, bin); argv != nil {
				t.Errorf("%s -e %q: the runtime was started: %q", sh[0], bad, argv)
			}
		}
	}
	if _, err := os.Lstat(canary); err == nil {
		t.Fatal("a -e value ran a command on the host")
	}
}
