package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/rootfs-pull/rootfs-pull/internal/faultproxy"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

var speedRE = regexp.MustCompile(`([0-9.]+) (b|KB|MB|GB)/s`)

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
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	tty.Close() // the reader then sees the end
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the terminal's output did not end")
	}
	out := screen.String()
	if err != nil {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	for _, want := range []string{"\x1b[", "layer 1/2", "layer 2/2", "applied", "2 layers", "100 %"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, out)
		}
	}
	// The speed shown must be true to the transfer: its best reading is at
	// least half the whole pull's average (the download takes less than
	// the pull), however slow the machine. A moving average held down by
	// the first slow bytes showed a tenth of it.
	fastest := 0.0
	for _, m := range speedRE.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		fastest = max(fastest, v*map[string]float64{"b": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9}[m[2]])
	}
	if average := float64(len(big)) / wall.Seconds(); fastest < average/2 {
		t.Errorf("fastest speed shown %.0f B/s, below half the pull's average %.0f B/s:\n%q", fastest, average, out)
	}
	if strings.Contains(out, ": pulling ") {
		t.Errorf("plain progress lines on a terminal:\n%q", out)
	}
	if !strings.Contains(stdout.String(), "Pulled ") || strings.Contains(stdout.String(), "\x1b") {
		t.Errorf("stdout (a pipe) = %q", stdout.String())
	}
}
