package resolver

import (
	"context"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// A lookup whose caller gave up (Ctrl-C, a deadline) stops asking: no
// more queries go out, no goroutine keeps waiting on a source. Before,
// the chain's connection dropped the context's cancellation, and Go's
// resolver went on through all its tries (up to four, five seconds
// each) with nobody waiting.
func TestReviewCancelStopsQueries(t *testing.T) {
	c, _ := world(t)
	hole := startFakeUDP(t, func([]byte) [][]byte { return nil }) // never answers
	c.Servers = []netip.AddrPort{hole.Addr}
	c.Timeout = 3 * time.Second
	r := New(c)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := r.LookupNetIP(ctx, "ip", testName); err == nil {
		t.Fatal("a black hole answered")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the lookup returned %v after its context ended", d)
	}
	time.Sleep(500 * time.Millisecond)
	sent := hole.Queries()
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) && runtime.NumGoroutine() > before+1 {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(4 * time.Second)
	if n := hole.Queries(); n != sent {
		t.Errorf("%d queries sent after the caller gave up (%d before)", n-sent, sent)
	}
	if g := runtime.NumGoroutine(); g > before+1 {
		t.Errorf("%d goroutines left, %d before the lookup", g, before)
	}
}
