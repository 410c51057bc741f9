package androidsim

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// callEnv names the syscall TestHelperSyscall (in a child under Rerun)
// or testdata/probe (under Wrap) makes.
const callEnv = "ANDROIDSIM_TEST_CALL"

// call makes one syscall by name, raw, and returns its errno (0 for
// success). The arguments are harmless should the filter let it through.
func call(t *testing.T, name string) syscall.Errno {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cwd := ^uintptr(99) // AT_FDCWD, -100
	p := func(s string) uintptr { b, _ := unix.BytePtrFromString(s); return uintptr(unsafe.Pointer(b)) }
	var errno syscall.Errno
	switch name {
	case "read":
		var b [1]byte
		fd, err := unix.Open(file, unix.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, _, errno = unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), 1)
	case "openat":
		_, _, errno = unix.RawSyscall6(unix.SYS_OPENAT, cwd, p(file), unix.O_RDONLY, 0, 0, 0)
	case "linkat":
		_, _, errno = unix.RawSyscall6(unix.SYS_LINKAT, cwd, p(file), cwd, p(file+".l"), 0, 0)
	case "link":
		nr, ok := sysnumX86_64["link"]
		if runtime.GOARCH != "amd64" || !ok {
			t.Skip("link(2) exists on x86_64 only")
		}
		_, _, errno = unix.RawSyscall(uintptr(nr), p(file), p(file+".l"), 0)
	case "openat2":
		how := unix.OpenHow{Flags: unix.O_RDONLY}
		_, _, errno = unix.RawSyscall6(unix.SYS_OPENAT2, cwd, p(file), uintptr(unsafe.Pointer(&how)), unsafe.Sizeof(how), 0, 0)
	case "fchmodat2":
		_, _, errno = unix.RawSyscall6(unix.SYS_FCHMODAT2, cwd, p(file), 0o600, 0, 0, 0)
	case "chroot":
		_, _, errno = unix.RawSyscall(unix.SYS_CHROOT, p("/"), 0, 0)
	case "mount":
		_, _, errno = unix.RawSyscall6(unix.SYS_MOUNT, p("none"), p(filepath.Join(dir, "nonexistent")), p("tmpfs"), 0, 0, 0)
	case "setuid":
		_, _, errno = unix.RawSyscall(unix.SYS_SETUID, uintptr(os.Getuid()), 0, 0)
	case "setgid":
		_, _, errno = unix.RawSyscall(unix.SYS_SETGID, uintptr(os.Getgid()), 0, 0)
	case "setgroups":
		_, _, errno = unix.RawSyscall(unix.SYS_SETGROUPS, ^uintptr(0), 0, 0) // size -1: EINVAL
	case "settimeofday":
		_, _, errno = unix.RawSyscall(unix.SYS_SETTIMEOFDAY, 0, 0, 0) // both NULL: changes nothing
	case "init_module":
		_, _, errno = unix.RawSyscall(unix.SYS_INIT_MODULE, 0, 0, p(""))
	default:
		t.Fatalf("no syscall %q in the helper", name)
	}
	return errno
}

// TestHelperSyscall makes the syscall named in callEnv under the filter
// and prints its errno; a trapped one never prints.
func TestHelperSyscall(t *testing.T) {
	name := os.Getenv(callEnv)
	if on, _ := Active(); !on || name == "" {
		t.Skip("a helper: runs under the filter from TestSyscalls")
	}
	fmt.Printf("androidsim-result: %s errno=%d\n", name, call(t, name))
}

// TestSyscalls runs syscalls in a child under the filter: what Android
// allows an app works; what it forbids raises SIGSYS, which the Go
// runtime turns into "SIGSYS: bad system call"; links fail with EACCES
// only when denied.
func TestSyscalls(t *testing.T) {
	if on, _ := Active(); on {
		t.Skip("this is the child")
	}
	const trap = -1
	for _, c := range []struct {
		call  string
		deny  bool
		errno int // trap: SIGSYS
	}{
		{call: "read"},
		{call: "openat"},
		{call: "linkat"},
		{call: "linkat", deny: true, errno: int(unix.EACCES)},
		{call: "link", errno: trap}, // not in the x86_64 app policy: bionic uses linkat
		{call: "link", deny: true, errno: int(unix.EACCES)},
		{call: "openat2", errno: trap},
		{call: "fchmodat2", errno: trap},
		{call: "chroot", errno: trap},
		{call: "mount", errno: trap},
		{call: "setuid", errno: trap},
		{call: "setgid", errno: trap},
		{call: "setgroups", errno: trap},
		{call: "settimeofday", errno: trap},
		{call: "init_module", errno: trap},
	} {
		t.Run(fmt.Sprintf("%s/deny=%v", c.call, c.deny), func(t *testing.T) {
			if c.call == "link" && runtime.GOARCH != "amd64" {
				t.Skip("link(2) exists on x86_64 only")
			}
			t.Setenv(callEnv, c.call)
			out, killed, err := Rerun("^TestHelperSyscall$", c.deny)
			if c.errno == trap {
				if !killed {
					t.Fatalf("%s was not trapped (err %v):\n%s", c.call, err, out)
				}
				if !bytes.Contains(out, []byte("SIGSYS: bad system call")) {
					t.Errorf("no Go runtime SIGSYS report:\n%s", out)
				}
				return
			}
			want := fmt.Sprintf("androidsim-result: %s errno=%d\n", c.call, c.errno)
			if killed || err != nil || !bytes.Contains(out, []byte(want)) {
				t.Fatalf("killed=%v err=%v, want %q in:\n%s", killed, err, want, out)
			}
		})
	}
}

// buildProbe builds testdata/probe, static, in a directory any user can
// reach (the program under a Credential must be able to exec it).
func buildProbe(t *testing.T) string {
	dir, err := os.MkdirTemp("", "androidsim")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "probe")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the probe: %v\n%s", err, out)
	}
	return bin
}

func TestWrap(t *testing.T) {
	if on, _ := Active(); on {
		t.Skip("this is a child")
	}
	probe := buildProbe(t)
	run := func(t *testing.T, call string, deny bool, setup func(*exec.Cmd)) ([]byte, error) {
		cmd := exec.Command(probe, "one", "two words")
		cmd.Env = append(os.Environ(), "ANDROIDSIM_FOO=bar", callEnv+"="+call)
		if setup != nil {
			setup(cmd)
		}
		Wrap(cmd, deny)
		if cmd.Path == probe || cmd.Err != nil {
			t.Fatalf("not wrapped: %s %v", cmd.Path, cmd.Err)
		}
		return cmd.CombinedOutput()
	}
	t.Run("a Go program runs under the filter", func(t *testing.T) {
		dir := t.TempDir()
		out, err := run(t, "", false, func(c *exec.Cmd) { c.Dir = dir })
		want := fmt.Sprintf("uid=%d seccomp=2 cwd=%s foo=bar wrapvar=false args=[\"one\" \"two words\"]\n", os.Getuid(), dir)
		if err != nil || string(out) != want {
			t.Fatalf("err %v, want %q, got:\n%s", err, want, out)
		}
	})
	t.Run("links allowed", func(t *testing.T) {
		out, err := run(t, "linkat", false, nil)
		if want := "androidsim-result: linkat errno=0\n"; err != nil || !bytes.Contains(out, []byte(want)) {
			t.Fatalf("err %v, want %q in:\n%s", err, want, out)
		}
	})
	t.Run("links denied", func(t *testing.T) {
		out, err := run(t, "linkat", true, nil)
		if want := fmt.Sprintf("androidsim-result: linkat errno=%d\n", unix.EACCES); err != nil || !bytes.Contains(out, []byte(want)) {
			t.Fatalf("err %v, want %q in:\n%s", err, want, out)
		}
	})
	t.Run("a forbidden syscall kills a Go program", func(t *testing.T) {
		out, err := run(t, "chroot", false, nil)
		if !KilledBySIGSYS(err, out) || bytes.Contains(out, []byte("androidsim-result")) {
			t.Fatalf("chroot was not trapped: err %v:\n%s", err, out)
		}
	})
	t.Run("credentials apply before the filter", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("needs root to start the program as another user")
		}
		out, err := run(t, "", false, func(c *exec.Cmd) {
			c.Dir = "/"
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		})
		if err != nil || !bytes.HasPrefix(out, []byte("uid=65534 seccomp=2 ")) {
			t.Fatalf("err %v, want uid=65534 under the filter:\n%s", err, out)
		}
	})
	t.Run("a C program dies by SIGSYS", func(t *testing.T) {
		// Debian's programs are not Android's: glibc's loader calls
		// access(2) on x86_64 and set_robust_list(2), neither of which
		// Android allows an app (bionic uses faccessat and no robust
		// futex list). Android's own programs link bionic.
		cmd := exec.Command("/bin/true")
		Wrap(cmd, false)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || !KilledBySIGSYS(err, out) {
			t.Fatalf("/bin/true under the filter: err %v, want death by SIGSYS:\n%s", err, out)
		}
	})
	t.Run("a command that failed to resolve is left alone", func(t *testing.T) {
		cmd := exec.Command("androidsim-no-such-program")
		Wrap(cmd, false)
		if cmd.Err == nil || cmd.Path != "androidsim-no-such-program" {
			t.Fatalf("Path %q Err %v", cmd.Path, cmd.Err)
		}
	})
}

func TestKilledBySIGSYS(t *testing.T) {
	for _, c := range []struct {
		script string
		want   bool
	}{
		{"exit 0", false},
		{"exit 2", false},
		{"echo 'SIGSYS: bad system call'; exit 1", false},
		{"echo 'SIGSYS: bad system call'; exit 2", true}, // the Go runtime's way
		{"kill -SYS $$", true},                           // a C program's way
		{"kill -TERM $$", false},
	} {
		out, err := exec.Command("/bin/sh", "-c", c.script).CombinedOutput()
		if got := KilledBySIGSYS(err, out); got != c.want {
			t.Errorf("%q: %v, want %v (err %v)", c.script, got, c.want, err)
		}
	}
	if KilledBySIGSYS(errors.New("exec: not found"), nil) {
		t.Error("an error without an exit status counted as SIGSYS")
	}
}

func TestInstallOtherArch(t *testing.T) {
	if _, ok := policies[runtime.GOARCH]; !ok {
		if err := Install(false); err == nil || !strings.Contains(err.Error(), "GOARCH="+runtime.GOARCH) {
			t.Fatalf("Install on %s: %v", runtime.GOARCH, err)
		}
		return
	}
	for _, goarch := range []string{"arm", "386", "riscv64"} {
		if _, ok := policies[goarch]; ok {
			t.Errorf("a policy for %s, which bionic's x86_64/arm64 numbers do not cover", goarch)
		}
	}
}

// TestCrossCompiles: the package builds for every target rootfs-pull
// ships to, including those without an Android policy (linux/arm once
// failed on a negative link(2) number).
func TestCrossCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds for other targets")
	}
	for _, target := range []string{"linux/arm", "linux/386", "linux/riscv64", "linux/arm64", "android/arm64"} {
		goos, goarch, _ := strings.Cut(target, "/")
		cmd := exec.Command("go", "vet", ".")
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go vet for %s: %v\n%s", target, err, out)
		}
	}
}
