package resolver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// Many lookups at once, of many names, through a chain whose sources
// fail in every way (netd that drops the connection or sends garbage,
// a server that refuses, one that never answers, one that answers
// slowly): under -race, no data race, every lookup ends, and no file
// descriptor or goroutine is left once they have.
func TestReviewParallelLookupsLeakNothing(t *testing.T) {
	c, dir := world(t)
	n := 0
	var mu sync.Mutex
	startFakeNetd(t, c.Socket, func(conn net.Conn, cmd string) {
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		q := resnsendQuery(cmd)
		switch {
		case q == nil:
		case k%4 == 0:
			conn.Write([]byte{0, 0, 0}) // cut short
		case k%4 == 1:
			writeResnsend(conn, withRCode(t, q, dnsmessage.RCodeServerFailure))
		case k%4 == 2:
			conn.Write([]byte("599 \x1b[2Jwhat\x00"))
		default:
			if a := zoneAnswer(q); a != nil {
				writeResnsend(conn, a[0])
			}
		}
	})
	hole := startFakeUDP(t, func([]byte) [][]byte { return nil })
	slow := goodServer(t, 50*time.Millisecond)
	os.WriteFile(c.TermuxResolvConf, []byte(fmt.Sprintf("nameserver %s\nnameserver %s\n", deadPort(t), hole.Addr)), 0644)
	c.Public = []netip.AddrPort{slow.Addr}
	c.Timeout = 300 * time.Millisecond
	_ = dir
	r := New(c)
	r.Debug = func(string) {}
	// Warm up: the runtime's own descriptors (netpoll) and goroutines.
	lookup(t, r, testName)
	time.Sleep(200 * time.Millisecond)
	fds, gs := openFDs(t), runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := testName
			if i%3 == 0 {
				name = fmt.Sprintf("n%d.nowhere.test", i)
			}
			r.LookupNetIP(ctx, "ip", name)
			r.Answered()
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("the lookups did not end within a minute")
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && (openFDs(t) > fds || runtime.NumGoroutine() > gs+2) {
		time.Sleep(100 * time.Millisecond)
	}
	if f := openFDs(t); f > fds {
		t.Errorf("%d file descriptors open after the lookups, %d before", f, fds)
	}
	if g := runtime.NumGoroutine(); g > gs+2 {
		t.Errorf("%d goroutines after the lookups, %d before", g, gs)
	}
}
