package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
			time.Sleep(300 * time.Millisecond) // let it reach the read
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
