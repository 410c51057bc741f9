package resolver

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowServer answers zone's queries over UDP on 127.0.0.1 after delay:
// long enough that concurrent lookups of one name overlap.
func slowServer(t *testing.T, delay time.Duration) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := append([]byte(nil), buf[:n]...)
			go func() {
				time.Sleep(delay)
				if ans, _, err := zone.Answer(q); err == nil {
					pc.WriteTo(ans, from)
				}
			}()
		}
	}()
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// Go's resolver runs one lookup for concurrent callers of the same name
// (the parallel layer downloads of a pull); each caller must still be told
// which server answered, not "the hosts file".
func TestSharedLookupNamesItsSource(t *testing.T) {
	c, _ := world(t)
	server := slowServer(t, 300*time.Millisecond)
	c.Servers = []netip.AddrPort{server}
	r := New(c)
	var mu sync.Mutex
	var lines []string
	r.Debug = func(l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.LookupNetIP(ctx, "ip", testName); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(lines) != 8 {
		t.Fatalf("%d debug lines, want 8: %q", len(lines), lines)
	}
	for _, l := range lines {
		if !strings.HasSuffix(l, "answered by "+server.String()) {
			t.Errorf("%q: want answered by %s", l, server)
		}
	}
}
