// Package androidsim makes a Linux process behave like an Android app
// towards the syscalls Android's app seccomp policy forbids: openat2 and
// fchmodat2 kill the process with SIGSYS, as they do in Termux. Tests
// re-run themselves under it to prove a code path never makes them.
package androidsim

import (
	"flag"
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
// be undone. With denyLinks, link(2) and linkat(2) also fail with EACCES,
// as they do for apps since Android 6.
func Install(denyLinks bool) error {
	const (
		ldAbsW      = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeqK        = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		retK        = unix.BPF_RET | unix.BPF_K
		allow       = 0x7fff0000                       // SECCOMP_RET_ALLOW
		killAll     = 0x80000000                       // SECCOMP_RET_KILL_PROCESS
		errnoEACCES = 0x00050000 | uint32(unix.EACCES) // SECCOMP_RET_ERRNO
	)
	linkNr := uint32(unix.SYS_LINKAT) // never matches when links are allowed: see below
	linkatNr := uint32(unix.SYS_LINKAT)
	if sysLink >= 0 {
		linkNr = uint32(sysLink)
	}
	denied := uint32(allow)
	if denyLinks {
		denied = errnoEACCES
	}
	filter := []unix.SockFilter{
		/* 0 */ {Code: ldAbsW, K: 0}, // seccomp_data.nr
		/* 1 */ {Code: jeqK, Jt: 5, Jf: 0, K: sysOpenat2}, // → 7
		/* 2 */ {Code: jeqK, Jt: 4, Jf: 0, K: sysFchmodat2}, // → 7
		/* 3 */ {Code: jeqK, Jt: 1, Jf: 0, K: linkatNr}, // → 5
		/* 4 */ {Code: jeqK, Jt: 0, Jf: 1, K: linkNr}, // → 5, else 6
		/* 5 */ {Code: retK, K: denied},
		/* 6 */ {Code: retK, K: allow},
		/* 7 */ {Code: retK, K: killAll},
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
	v := os.Getenv(Env)
	if v != "1" && v != "links" {
		return
	}
	if err := Install(v == "links"); err != nil {
		fmt.Fprintln(os.Stderr, "androidsim:", err)
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
// SIGSYS: a forbidden syscall was made.
func Rerun(pattern string, denyLinks bool) (out []byte, killed bool, err error) {
	args := []string{"-test.run", pattern, "-test.count=1"}
	if f := flag.Lookup("test.timeout"); f != nil {
		args = append(args, "-test.timeout", f.Value.String()) // not the default 10m
	}
	cmd := exec.Command(os.Args[0], args...)
	mode := "1"
	if denyLinks {
		mode = "links"
	}
	cmd.Env = append(os.Environ(), Env+"="+mode)
	out, err = cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGSYS {
			return out, true, err
		}
	}
	return out, false, err
}
