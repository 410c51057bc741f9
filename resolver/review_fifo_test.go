package resolver

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A resolver file that is a FIFO (or a device that never ends a read,
// a symlink to /dev/tty...) must not hang the tool: only a regular
// file is read.
func TestReviewResolvConfFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "resolv.conf")
	if err := syscall.Mkfifo(fifo, 0644); err != nil {
		t.Skip("no FIFO:", err)
	}
	t.Cleanup(func() { // let a reader stuck in open(2) go
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	c, _ := world(t)
	c.TermuxResolvConf = fifo
	c.ResolvConf = fifo
	done := make(chan struct{})
	go func() {
		defer close(done)
		New(c)
		Nameservers(fifo)
		ContainerServers(fifo)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("reading a FIFO resolv.conf hangs")
	}
	if _, err := Nameservers(fifo); err == nil {
		t.Error("a FIFO read as a resolver file")
	}
	link := filepath.Join(dir, "zero")
	os.Symlink("/dev/zero", link)
	if _, err := Nameservers(link); err == nil {
		t.Error("/dev/zero read as a resolver file")
	}
}
