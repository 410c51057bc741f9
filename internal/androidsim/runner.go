package androidsim

import (
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// runnerEnv carries a runSpec to the test binary re-run as a runner: it
// binds, drops to the app's uid, installs Android's policy and becomes
// the program.
const runnerEnv = "ROOTFS_PULL_ANDROID_RUN"

// runSpec is one World run, as the runner receives it.
type runSpec struct {
	Argv    []string
	Env     []string
	Dir     string
	UID     int
	App     bool   // the app's uid under the app policy; else root
	BindTmp string // bound at /tmp first, when set
}

// command is the runner process for s: this test binary in a mount
// namespace of its own (for BindTmp), as root until it drops.
func (s runSpec) command(ctx context.Context) (*exec.Cmd, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Env = append(os.Environ(), runnerEnv+"="+string(b))
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL, Setsid: true}
	cmd.WaitDelay = 5 * time.Second
	return cmd, nil
}

// RunnerIfChild becomes a World run's program when this process is its
// runner; test binaries call it first thing in TestMain (the World uses
// the test binary itself to run programs as the app).
func RunnerIfChild() {
	v := os.Getenv(runnerEnv)
	if v == "" {
		return
	}
	if err := runner(v); err != nil {
		fmt.Fprintln(os.Stderr, "androidsim runner:", err)
		os.Exit(125)
	}
}

func runner(v string) error {
	var s runSpec
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return err
	}
	if len(s.Argv) == 0 {
		return fmt.Errorf("nothing to run")
	}
	if s.BindTmp != "" {
		if err := unix.Mount(s.BindTmp, "/tmp", "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s at /tmp: %w", s.BindTmp, err)
		}
	}
	if s.App {
		// The app's uid, no supplementary groups, no capabilities left.
		if err := syscall.Setgroups(nil); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
		if err := syscall.Setresgid(s.UID, s.UID, s.UID); err != nil {
			return fmt.Errorf("setresgid: %w", err)
		}
		if err := syscall.Setresuid(s.UID, s.UID, s.UID); err != nil {
			return fmt.Errorf("setresuid: %w", err)
		}
	}
	if err := os.Chdir(s.Dir); err != nil {
		return err
	}
	prog := s.Argv[0]
	if p, err := lookPathIn(prog, s.Env); err == nil {
		prog = p
	}
	if s.App {
		// A static Go program, like rootfs-pull's builds, meets Android's app
		// policy as it is (the runner's own threads excepted: it is this
		// test binary, maybe on glibc, until it execs). The host's
		// glibc-linked programs stand in for Termux's bionic-linked ones
		// (dash, proot, toybox): they make syscalls bionic never makes,
		// and Termux's proot answers a guest's forbidden syscalls itself
		// (its SIGSYS handler), which Debian's cannot; qemu-user stands in
		// for the phone's CPU. They run with links denied only.
		if err := install(true, hostLibcThreads, !staticGo(prog)); err != nil {
			return err
		}
	}
	return syscall.Exec(prog, s.Argv, s.Env)
}

// staticGo reports whether the program at path is a static Go program:
// no ELF interpreter, and Go's build information.
func staticGo(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false // a script: its interpreter is a host program
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return f.Section(".go.buildinfo") != nil
}

// lookPathIn finds prog in the PATH of env, as a shell would.
func lookPathIn(prog string, env []string) (string, error) {
	for _, kv := range env {
		if len(kv) > 5 && kv[:5] == "PATH=" {
			old := os.Getenv("PATH")
			os.Setenv("PATH", kv[5:])
			defer os.Setenv("PATH", old)
			return exec.LookPath(prog)
		}
	}
	return exec.LookPath(prog)
}
