package androidsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A World is a phone as a Termux app sees it, built on a Debian host by a
// test that runs as root. RunInWorld re-runs a test in its own mount,
// network, UTS and IPC namespaces, where NewWorld pivots into a new root
// made of the host's directories and Android's:
//
//   - the network: loopback only, so nothing leaves the test; the test's
//     servers (a registry, a stand-in netd or Hub) run in there;
//   - Termux's tree at its real place, /data/data/com.termux/files: $PREFIX
//     (its bin holds dash as sh, proot and the coreutils a Termux shell
//     has), $HOME, $PREFIX/tmp, all owned by the app's uid (u0_a123);
//   - /system/bin: toybox applets and mksh as sh, all a rooted phone's su
//     shell has (no GNU chroot, no util-linux); /system/bin/linker64 and
//     /system/build.prop, so run-time detection sees Android;
//   - /dev: a few nodes and /dev/socket, where netd's dnsproxyd socket is
//     on a phone (a test may serve a stand-in there);
//   - no /etc/resolv.conf (hidden: Android has none), no /bin/sh (the dash
//     it names is hidden: a script needing it fails as on a phone), and a
//     read-only /tmp.
//
// App runs (Exec) are the app's uid under Android's app seccomp policy,
// with link(2) denied; root runs are what su gives on a rooted phone:
// uid 0, no app policy, Android's PATH.
type World struct {
	Files  string // /data/data/com.termux/files
	Prefix string // $PREFIX
	Home   string // $HOME
	TmpDir string // $TMPDIR: $PREFIX/tmp
	System string // /system/bin
	UID    int    // the app's uid and gid
	// Env is the app's environment: a Termux shell's. Tests add to it.
	Env []string
}

// AppUID is the Termux app's uid (u0_a123).
const AppUID = 10123

// NetdSocket is where Android's netd listens for DNS (dnsproxyd).
const NetdSocket = "/dev/socket/dnsproxyd"

// worldEnv carries, to the test re-run in the world, the empty directory
// that becomes its root.
const worldEnv = "ROOTFS_PULL_ANDROID_WORLD"

// InWorld reports whether this process is a test re-run by RunInWorld.
func InWorld() bool { return os.Getenv(worldEnv) != "" }

// RunInWorld re-runs the calling test (its top-level name) in fresh mount,
// network, UTS and IPC namespaces, with env added to its environment, and
// fails t when it fails. The test calls it when !InWorld() and returns.
// Without root it skips with one line; CI runs as root.
func RunInWorld(t *testing.T, timeout time.Duration, env ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: the Android world needs root (namespaces, an app uid); CI runs it as root")
	}
	// Not t.TempDir, under /tmp, which the world makes read-only.
	dir, err := os.MkdirTemp("/var/tmp", "rootfs-pull-phone-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for _, d := range []string{"root", "scratch"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	name := strings.SplitN(t.Name(), "/", 2)[0]
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/proc/self/exe", "-test.run", "^"+regexp.QuoteMeta(name)+"$",
		"-test.count=1", "-test.v", "-test.timeout", timeout.String())
	cmd.Env = append(append(os.Environ(), env...), worldEnv+"="+filepath.Join(dir, "root"), "TMPDIR="+filepath.Join(dir, "scratch"))
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWNET | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		Pdeathsig:  syscall.SIGKILL,
	}
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the test in the Android world did not end in %v:\n%s", timeout, out)
	}
	if err != nil {
		t.Fatalf("in the Android world: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "--- SKIP: "+name) {
		t.Skipf("skipped in the Android world:\n%s", out)
	}
	t.Logf("in the Android world:\n%s", out)
}

var worldOnce struct {
	sync.Once
	w   *World
	err error
}

// Termux's commands a launcher or a user's shell uses, from the host
// (Termux has coreutils, grep, sed in $PREFIX/bin).
var termuxCommands = []string{"env", "id", "cat", "dirname", "grep", "sed", "ls", "mkdir", "rm", "uname", "chroot", "ln", "proot"}

// The toybox applets of Android's /system/bin that a launcher's root path
// may use: no --userspec in its chroot, no util-linux.
var toyboxApplets = []string{"chroot", "mount", "umount", "unshare", "env", "id", "cat", "dirname",
	"grep", "sed", "ls", "mkdir", "rm", "uname", "nsenter", "setsid", "printf", "test"}

// NewWorld makes this process's namespaces a phone's (RunInWorld's child
// only; once per process: later calls return the same World).
func NewWorld(t *testing.T) *World {
	t.Helper()
	root := os.Getenv(worldEnv)
	if root == "" {
		t.Fatal("androidsim.NewWorld outside RunInWorld: it would change the host")
	}
	worldOnce.Do(func() { worldOnce.w, worldOnce.err = build(root) })
	if worldOnce.err != nil {
		t.Fatalf("build the Android world: %v", worldOnce.err)
	}
	w := *worldOnce.w
	w.Env = slices.Clone(w.Env)
	return &w
}

// build pivots into root, shaped as a phone.
func build(root string) (*World, error) {
	// What the world needs from the host, found before it changes.
	shells := map[string][]byte{}
	for _, name := range []string{"dash", "mksh"} {
		p, err := exec.LookPath(name)
		if err == nil {
			shells[name], err = os.ReadFile(p)
		}
		if err != nil {
			return nil, fmt.Errorf("%s is missing (run scripts/setup.sh): %w", name, err)
		}
	}
	links := map[string]string{}
	for _, name := range termuxCommands {
		p, err := exec.LookPath(name)
		if err != nil {
			return nil, fmt.Errorf("%s is missing: run scripts/setup.sh", name)
		}
		links[name] = p
	}
	toybox, err := exec.LookPath("toybox")
	if err != nil {
		return nil, errors.New("toybox is missing: run scripts/setup.sh")
	}
	dash, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		return nil, err
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}

	if err := pivot(root); err != nil {
		return nil, err
	}
	if err := os.Chdir(cwd); err != nil {
		return nil, err
	}
	if err := loopbackUp(); err != nil {
		return nil, err
	}
	// Android has no /etc/resolv.conf and no /bin/sh.
	if _, err := os.Stat("/etc/resolv.conf"); err == nil {
		if err := unix.Mount("/dev/null", "/etc/resolv.conf", "", unix.MS_BIND, ""); err != nil {
			return nil, fmt.Errorf("hide /etc/resolv.conf: %w", err)
		}
	}
	if err := unix.Mount("/dev/null", dash, "", unix.MS_BIND, ""); err != nil {
		return nil, fmt.Errorf("hide /bin/sh: %w", err)
	}

	w := &World{Files: "/data/data/com.termux/files", System: "/system/bin", UID: AppUID}
	w.Prefix = filepath.Join(w.Files, "usr")
	w.Home = filepath.Join(w.Files, "home")
	w.TmpDir = filepath.Join(w.Prefix, "tmp")
	for _, d := range []string{w.Home, w.TmpDir, filepath.Join(w.Prefix, "bin"), filepath.Join(w.Prefix, "etc"), w.System} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	files := map[string][]byte{
		filepath.Join(w.Prefix, "bin/dash"): shells["dash"], // Termux's sh
		filepath.Join(w.System, "sh"):       shells["mksh"], // Android's sh
	}
	for to, b := range files {
		if err := os.WriteFile(to, b, 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile("/system/build.prop", []byte("ro.build.version.release=14\nro.build.version.sdk=34\nro.product.cpu.abi=arm64-v8a\n"), 0o644); err != nil {
		return nil, err
	}
	links[filepath.Join(w.Prefix, "bin/sh")] = "dash"
	for name, to := range links {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(w.Prefix, "bin", name)
		}
		if err := os.Symlink(to, p); err != nil {
			return nil, err
		}
	}
	for _, a := range toyboxApplets {
		if err := os.Symlink(toybox, filepath.Join(w.System, a)); err != nil {
			return nil, err
		}
	}
	if err := filepath.Walk("/data", func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, w.UID, w.UID)
	}); err != nil {
		return nil, err
	}
	w.Env = []string{
		"PATH=" + filepath.Join(w.Prefix, "bin") + ":" + w.System,
		"HOME=" + w.Home, "PREFIX=" + w.Prefix, "TMPDIR=" + w.TmpDir,
		"ANDROID_ROOT=/system", "ANDROID_DATA=/data", "TERMUX_VERSION=0.118.0",
		"LANG=en_US.UTF-8", "TERM=dumb", "SHELL=" + filepath.Join(w.Prefix, "bin/sh"),
	}
	return w, nil
}

// pivot makes root (an empty directory) this mount namespace's root: a
// tmpfs holding the host's top-level directories (bound), /proc, a small
// /dev with /dev/socket, a read-only /tmp and Android's /data and /system.
func pivot(root string) error {
	// Nothing done here may reach the host's mounts.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	if err := unix.Mount("tmpfs", root, "tmpfs", 0, "mode=755"); err != nil {
		return fmt.Errorf("mount the world's root: %w", err)
	}
	entries, err := os.ReadDir("/")
	if err != nil {
		return err
	}
	for _, e := range entries {
		name, at := e.Name(), filepath.Join(root, e.Name())
		switch {
		case name == "dev" || name == "tmp" || name == "data" || name == "system":
		case e.Type()&os.ModeSymlink != 0:
			to, err := os.Readlink("/" + name)
			if err != nil {
				return err
			}
			if err := os.Symlink(to, at); err != nil {
				return err
			}
		case e.IsDir():
			if err := os.Mkdir(at, 0o755); err != nil {
				return err
			}
			if err := unix.Mount("/"+name, at, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
				return fmt.Errorf("bind /%s: %w", name, err)
			}
		}
	}
	if err := os.Mkdir(filepath.Join(root, "tmp"), 0o755); err != nil {
		return err
	}
	if err := unix.Mount("/tmp", filepath.Join(root, "tmp"), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind /tmp: %w", err)
	}
	if err := unix.Mount("", filepath.Join(root, "tmp"), "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("make /tmp read-only: %w", err)
	}
	if err := makeDev(filepath.Join(root, "dev")); err != nil {
		return err
	}
	for _, d := range []string{"data", "system"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	old := filepath.Join(root, ".old")
	if err := os.Mkdir(old, 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(root, old); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.old", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount the host's root: %w", err)
	}
	return os.Remove("/.old")
}

// makeDev fills dev (a new tmpfs) with the nodes programs use, bound from
// the host's, and an empty /dev/socket as Android has.
func makeDev(dev string) error {
	if err := os.Mkdir(dev, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID, "mode=755"); err != nil {
		return fmt.Errorf("mount /dev: %w", err)
	}
	for _, n := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		p := filepath.Join(dev, n)
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+n, p, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", n, err)
		}
	}
	for _, d := range []string{"pts", "shm", "socket"} {
		if err := os.Mkdir(filepath.Join(dev, d), 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount("/dev/pts", filepath.Join(dev, "pts"), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind /dev/pts: %w", err)
	}
	if err := unix.Mount("tmpfs", filepath.Join(dev, "shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	for name, to := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx"} {
		if err := os.Symlink(to, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	return nil
}

// loopbackUp brings lo up: a new network namespace has it down.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("lo: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Install copies the file from into the world at to, mode 0755, owned
// by the app: a program the app runs.
func (w *World) Install(t *testing.T, from, to string) {
	t.Helper()
	if err := copyFile(from, to); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(to, w.UID, w.UID); err != nil {
		t.Fatal(err)
	}
}

// WriteFile writes a file of the app's (a Termux config file).
func (w *World) WriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(path, w.UID, w.UID); err != nil {
		t.Fatal(err)
	}
}

// RootEnv is what su gives on a rooted phone: Android's PATH (toybox and
// mksh only), Termux's HOME.
func (w *World) RootEnv() []string {
	return []string{"PATH=" + w.System, "HOME=" + w.Home, "ANDROID_ROOT=/system", "ANDROID_DATA=/data", "TERM=dumb"}
}

// Run is one program run in the world.
type Run struct {
	Argv []string
	Env  []string // the whole environment (World.Env plus the test's)
	Dir  string   // working directory ("" = $HOME)
	// Root runs as su would (uid 0, no app policy); otherwise the app's
	// uid under Android's app seccomp policy, links denied.
	Root bool
	// ProotTmp binds $PREFIX/tmp at /tmp for this run: Termux's proot
	// writes to $PREFIX/tmp (PROOT_TMP_DIR), Debian's only to /tmp.
	ProotTmp bool
	Stdin    string
	Timeout  time.Duration // 0 = 2 minutes
}

// Result is what a Run printed and how it ended.
type Result struct {
	Stdout, Stderr string
	Code           int  // exit status, -1 when killed
	SIGSYS         bool // killed by Android's policy (or the Go runtime's report of it)
	Err            error
}

// Exec runs r and returns what it did; it fails t only when the run
// cannot start or does not end in time.
func (w *World) Exec(t *testing.T, r Run) Result {
	t.Helper()
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	spec := runSpec{Argv: r.Argv, Env: r.Env, Dir: r.Dir, UID: w.UID, App: !r.Root}
	if spec.Dir == "" {
		spec.Dir = w.Home
	}
	if r.ProotTmp {
		spec.BindTmp = w.TmpDir
	}
	cmd, err := spec.command(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Stdin = strings.NewReader(r.Stdin)
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%q did not end in %v\nstdout: %s\nstderr: %s", r.Argv, timeout, o.String(), e.String())
	}
	res := Result{Stdout: o.String(), Stderr: e.String(), Err: err}
	if cmd.ProcessState != nil {
		res.Code = cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGSYS {
			res.SIGSYS = true
		}
	}
	if strings.Contains(res.Stderr, "SIGSYS: bad system call") {
		res.SIGSYS = true
	}
	return res
}
