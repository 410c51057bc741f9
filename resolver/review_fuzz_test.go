package resolver

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// Whatever a peer at netd's socket sends to resnsend or getaddrinfo,
// netd's exchange ends within its time, does not panic, returns either
// an error whose text is safe to print or a whole DNS message.
func FuzzReviewNetdReply(f *testing.F) {
	f.Add([]byte("500 Command not recognized\x00"), false)
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 12, 0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}, false)
	f.Add([]byte{0xff, 0xff, 0xff, 0xf0}, false)
	f.Add([]byte("222\x00\x00\x00\x00\x00"), true)
	f.Add([]byte("401\x00\x00\x00\x00\x04\x07\x00\x00\x00"), true)
	f.Add([]byte("599 \x1b]0;owned\x07\u202e\x00"), true)
	sock := filepath.Join(os.TempDir(), "review-fuzz-netd-"+time.Now().Format("150405.000000"))
	ln, err := net.Listen("unix", sock)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ln.Close(); os.Remove(sock) })
	var reply atomic.Value
	reply.Store([]byte(nil))
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(2 * time.Second))
				buf := make([]byte, 1024)
				c.Read(buf)
				c.Write(reply.Load().([]byte))
			}()
		}
	}()
	q := queryFor(f, testName+".", dnsmessage.TypeA)
	f.Fuzz(func(t *testing.T, b []byte, legacy bool) {
		reply.Store(b)
		n := &netd{socket: sock}
		if legacy {
			n.speaks.Store(speaksGetaddrinfo)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		ans, err := n.exchange(ctx, q)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("took %v", d)
		}
		if err != nil {
			if !safetext.Safe(err.Error()) {
				t.Fatalf("unsafe error text %q", err)
			}
			return
		}
		if len(ans) < 12 || len(ans) > 65535 {
			t.Fatalf("answer of %d bytes", len(ans))
		}
	})
}
