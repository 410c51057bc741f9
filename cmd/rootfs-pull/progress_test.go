package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/rootfs-pull/rootfs-pull/internal/faultproxy"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

// On a terminal the progress is live bars (one per layer and a total),
// drawn with cursor movements; on a pipe, plain lines (TestPullHuman).
func TestProgressOnTerminal(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	big := make([]byte, 3<<20)
	rand.Read(big)
	push(t, reg.Host, "demo/bars", testimage.Build(testimage.Spec{Layers: []testimage.Layer{
		{Tar: testimage.Tar(testimage.File("small", "s")), Compression: testimage.Gzip},
		{Tar: testimage.Tar(testimage.File("big", string(big))), Compression: testimage.Gzip},
	}}))
	slow := faultproxy.New(reg.Host) // 3 MB over about 1.5 s: the bars move
	defer slow.Close()
	slow.Rate.Store(2 << 20)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 80})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := command(t, ctx, "", slow.Host+"/demo/bars", filepath.Join(t.TempDir(), "r"))
	cmd.Env = append(cmd.Env, "TERM=xterm")
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, tty
	var screen bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&screen, ptmx); close(done) }()
	if err := cmd.Run(); err != nil {
		t.Fatalf("pull: %v\n%s", err, screen.String())
	}
	tty.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	out := screen.String()
	for _, want := range []string{"\x1b[", "layer 1/2", "layer 2/2", "applied", "2 layers", "100 %", "MB/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, out)
		}
	}
	if strings.Contains(out, ": pulling ") {
		t.Errorf("plain progress lines on a terminal:\n%q", out)
	}
	if !strings.Contains(stdout.String(), "Pulled ") || strings.Contains(stdout.String(), "\x1b") {
		t.Errorf("stdout (a pipe) = %q", stdout.String())
	}
}
