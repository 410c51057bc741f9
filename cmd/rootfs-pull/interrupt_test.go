package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Ctrl-C and SIGTERM end any command within about two seconds, whatever
// it is blocked on. Here it waits for a password on a pipe that never
// delivers one, a read no context can cancel.
func TestInterruptWhileBlocked(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := command(t, ctx, "", "-u", "me", "--password-stdin", "127.0.0.1:1/a/b", filepath.Join(t.TempDir(), "x"))
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pw.Close() // held open: the password never comes
			cmd.Stdin = pr
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pr.Close()
			// Signal only once it waits in the read (and so has its signal
			// handlers): on a loaded machine the start alone can take
			// longer than any fixed sleep.
			if !waitForStdinRead(cmd.Process.Pid, 30*time.Second) {
				cmd.Process.Kill()
				t.Fatal("the command never reached its read of standard input")
			}
			sent := time.Now()
			cmd.Process.Signal(sig)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("%v did not end a blocked command within 10s", sig)
			}
			if d := time.Since(sent); d > 5*time.Second {
				t.Errorf("%v took %v to end the command", sig, d)
			}
			if code := cmd.ProcessState.ExitCode(); code != 130 {
				t.Errorf("exit status %d, want 130", code)
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "rootfs-pull: interrupted") {
				t.Errorf("stderr %q, want one line saying it was interrupted", stderr.String())
			}
		})
	}
}

// waitForStdinRead reports whether one of pid's threads is blocked in
// read(0, …) within d, from /proc/PID/task/*/syscall.
func waitForStdinRead(pid int, d time.Duration) bool {
	want := fmt.Sprintf("%d 0x0 ", unix.SYS_READ)
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/syscall", pid))
		for _, p := range tasks {
			if b, err := os.ReadFile(p); err == nil && strings.HasPrefix(string(b), want) {
				return true
			}
		}
	}
	return false
}
