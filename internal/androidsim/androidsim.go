// Package androidsim makes a Linux process behave like an Android app
// towards the syscalls Android's app seccomp policy forbids: openat2 and
// fchmodat2 kill the process with SIGSYS, as they do in Termux. Tests
// re-run themselves under it to prove a code path never makes them.
package androidsim

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Forbidden syscalls (the generic numbers, the same on amd64 and arm64).
const (
	sysOpenat2   = 437
	sysFchmodat2 = 452
)

// Env marks a child process that must install the filter first.
const Env = "ROOTFS_PULL_ANDROIDSIM"

// Install puts every thread of this process under the filter. It cannot
// be undone.
func Install() error {
	const (
		ldAbsW  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeqK    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		retK    = unix.BPF_RET | unix.BPF_K
		allow   = 0x7fff0000 // SECCOMP_RET_ALLOW
		killAll = 0x80000000 // SECCOMP_RET_KILL_PROCESS
	)
	filter := []unix.SockFilter{
		{Code: ldAbsW, K: 0}, // seccomp_data.nr
		{Code: jeqK, Jt: 2, Jf: 0, K: sysOpenat2},
		{Code: jeqK, Jt: 1, Jf: 0, K: sysFchmodat2},
		{Code: retK, K: allow},
		{Code: retK, K: killAll},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC,
		uintptr(unsafe.Pointer(&prog))); errno != 0 {
		return fmt.Errorf("seccomp: %w", errno)
	}
	return nil
}

// InstallIfChild installs the filter when this process was started by
// Rerun; test binaries call it first thing in TestMain.
func InstallIfChild() {
	if os.Getenv(Env) != "1" {
		return
	}
	if err := Install(); err != nil {
		fmt.Fprintln(os.Stderr, "androidsim:", err)
		os.Exit(3)
	}
}

// Rerun runs this test binary again under the filter with -test.run
// pattern and returns its combined output. killed reports a death by
// SIGSYS: a forbidden syscall was made.
func Rerun(pattern string) (out []byte, killed bool, err error) {
	cmd := exec.Command(os.Args[0], "-test.run", pattern, "-test.count=1")
	cmd.Env = append(os.Environ(), Env+"=1")
	out, err = cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGSYS {
			return out, true, err
		}
	}
	return out, false, err
}
