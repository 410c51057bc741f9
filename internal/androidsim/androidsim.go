// Package androidsim makes a Linux process behave like an Android app
// towards seccomp: Install puts it under Android's real app policy, built
// from bionic's own SYSCALLS.TXT and SECCOMP_*.TXT files (in bionic/), so
// every syscall Android does not allow an app (openat2, fchmodat2, chroot,
// mount, setuid, ...) raises SIGSYS, as it does in Termux. Tests re-run
// themselves under it (Rerun) or run real programs under it (Wrap) to
// prove a code path makes no such syscall.
package androidsim

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Env marks a child process that must install the filter first: "1", or
// "links" to also deny hard links.
const Env = "ROOTFS_PULL_ANDROIDSIM"

// envExec marks a process started by Wrap: install the filter, then
// exec the program named in the arguments.
const envExec = "ROOTFS_PULL_ANDROIDSIM_EXEC"

// wrapArg follows argv[0] in a process started by Wrap.
const wrapArg = "-androidsim.exec"

// Install puts every thread of this process, and every process it starts
// from then on, under Android's app seccomp policy for runtime.GOARCH
// (amd64 or arm64). It cannot be undone. A syscall the policy does not
// allow raises SIGSYS (a Go program dies with "SIGSYS: bad system call").
// With denyLinks, link(2) and linkat(2) fail with EACCES instead, as
// SELinux makes them fail for apps since Android 6.
//
// A program linked against the host's glibc (cgo, -race) is let through
// the three syscalls glibc makes to start a thread and bionic never makes
// (clone3 fails with ENOSYS, rseq and set_robust_list work), so that it
// can go on starting threads; see hostLibcThreads.
func Install(denyLinks bool) error {
	var shim map[string]uint32
	if onHostLibc() {
		shim = hostLibcThreads
	}
	return install(denyLinks, shim, false)
}

// install is Install with shim's answers for its syscalls (see
// buildFilter); with linksOnly, only links are denied (linksOnlyFilter).
func install(denyLinks bool, shim map[string]uint32, linksOnly bool) error {
	p, ok := policies[runtime.GOARCH]
	if !ok {
		return fmt.Errorf("androidsim: no Android seccomp policy for GOARCH=%s (amd64 and arm64 have one)", runtime.GOARCH)
	}
	filter, err := buildFilter(p, denyLinks, shim)
	if err != nil {
		return err
	}
	if linksOnly {
		filter = linksOnlyFilter(p)
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("androidsim: no_new_privs: %w", err)
	}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC,
		uintptr(unsafe.Pointer(&prog))); errno != 0 {
		if errno == unix.ENOSYS || errno == unix.EINVAL {
			return fmt.Errorf("androidsim: seccomp: %w (a kernel without seccomp filters, or qemu-user, which does not emulate them)", errno)
		}
		return fmt.Errorf("androidsim: seccomp: %w", errno)
	}
	return nil
}

// InstallIfChild installs the filter when this process was started by
// Rerun, and runs the program when it was started by Wrap (it does not
// return then). Test binaries call it first thing in TestMain.
func InstallIfChild() {
	if mode, ok := os.LookupEnv(envExec); ok {
		os.Exit(execWrapped(mode))
	}
	v := os.Getenv(Env)
	if v != "1" && v != "links" {
		return
	}
	if err := Install(v == "links"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
}

// Active reports whether this process runs under the filter, and whether
// links are denied.
func Active() (on, denyLinks bool) {
	v := os.Getenv(Env)
	return v == "1" || v == "links", v == "links"
}

// Rerun runs this test binary again under the filter with -test.run
// pattern and returns its combined output. killed reports a death by
// SIGSYS: a syscall Android forbids was made.
func Rerun(pattern string, denyLinks bool) (out []byte, killed bool, err error) {
	args := []string{"-test.run", pattern, "-test.count=1"}
	if f := flag.Lookup("test.timeout"); f != nil {
		args = append(args, "-test.timeout", f.Value.String()) // not the default 10m
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), Env+"="+mode(denyLinks))
	out, err = cmd.CombinedOutput()
	return out, KilledBySIGSYS(err, out), err
}

// KilledBySIGSYS reports whether a process that ended with err (from
// exec.Cmd's Wait or Run) and printed out met a syscall the filter traps:
// a C program dies by the signal; a Go program's runtime catches it and
// exits with status 2 after "SIGSYS: bad system call" and a traceback.
func KilledBySIGSYS(err error, out []byte) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok {
		return false
	}
	if ws.Signaled() && ws.Signal() == syscall.SIGSYS {
		return true
	}
	return ws.Exited() && ws.ExitStatus() == 2 && bytes.Contains(out, []byte("SIGSYS: bad system call"))
}

// Wrap rewrites a prepared command so that it runs under the filter: the
// current test binary (whose TestMain calls InstallIfChild) starts in its
// place, installs the filter, then execs the original program with its
// arguments and environment. What applies before exec still does, in the
// wrapper: cmd.Dir, cmd.SysProcAttr (so a Credential makes the program
// start unprivileged, as setuid and friends are forbidden once the filter
// is on), the standard streams and ExtraFiles. A command that already
// failed to resolve its program (cmd.Err) is left alone.
//
// The wrapper is started through a descriptor of the test binary that
// the child inherits (/proc/self/fd/N), so a Credential needs no copy of
// the binary where the other user can reach it.
//
// Only programs made for Android survive the policy: static Go programs
// (rootfs-pull is built CGO_ENABLED=0) and programs linked against
// bionic. A Debian program dies of SIGSYS before main, as it would in an
// Android app: glibc's loader calls access(2) (x86_64) and
// set_robust_list(2), which Android's app policy does not allow.
func Wrap(cmd *exec.Cmd, denyLinks bool) {
	if cmd.Err != nil {
		return
	}
	self, err := selfFile()
	if err != nil {
		cmd.Err = fmt.Errorf("androidsim: wrapping %s: %w", cmd.Path, err)
		return
	}
	env := cmd.Environ() // what the program would have got (PWD follows Dir)
	fd := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, self)
	args := append([]string{os.Args[0], wrapArg, strconv.Itoa(fd), cmd.Path}, cmd.Args...)
	cmd.Path, cmd.Args = "/proc/self/fd/"+strconv.Itoa(fd), args
	cmd.Env = append(withoutEnv(env, envExec), envExec+"="+mode(denyLinks))
}

var self struct {
	once sync.Once
	f    *os.File
	err  error
}

// selfFile is this test binary, opened once for every Wrap.
func selfFile() (*os.File, error) {
	self.once.Do(func() {
		var path string
		if path, self.err = os.Executable(); self.err == nil {
			self.f, self.err = os.Open(path)
		}
	})
	return self.f, self.err
}

func mode(denyLinks bool) string {
	if denyLinks {
		return "links"
	}
	return "1"
}

// execWrapped is the wrapper's side of Wrap; it returns only on failure.
func execWrapped(mode string) int {
	// os.Args: argv0, wrapArg, our descriptor, program path, program argv...
	if len(os.Args) < 5 || os.Args[1] != wrapArg || (mode != "1" && mode != "links") {
		fmt.Fprintf(os.Stderr, "androidsim: %s=%q set, but this process was not started by Wrap\n", envExec, mode)
		return 3
	}
	if fd, err := strconv.Atoi(os.Args[2]); err == nil {
		unix.CloseOnExec(fd) // the program does not inherit the test binary
	}
	path, argv := os.Args[3], os.Args[4:]
	env := withoutEnv(os.Environ(), envExec)
	if err := Install(mode == "links"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	err := syscall.Exec(path, argv, env)
	fmt.Fprintf(os.Stderr, "androidsim: exec %s: %v\n", path, err)
	return 127
}

// withoutEnv drops the variable key from env.
func withoutEnv(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if len(kv) > len(key) && kv[:len(key)] == key && kv[len(key)] == '=' {
			continue
		}
		out = append(out, kv)
	}
	return out
}
