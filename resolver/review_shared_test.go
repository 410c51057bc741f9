package resolver

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Concurrent callers of one name share Go's lookup; when netd answered
// it, every caller must be told netd answered, not "the hosts file"
// (the netd source has no name of its own: its label is computed).
func TestReviewSharedNetdLookupNamesNetd(t *testing.T) {
	c, _ := world(t)
	startFakeNetd(t, c.Socket, func(conn net.Conn, cmd string) {
		q := resnsendQuery(cmd)
		if q == nil {
			return
		}
		time.Sleep(300 * time.Millisecond) // callers overlap
		if a := zoneAnswer(q); a != nil {
			writeResnsend(conn, a[0])
		}
	})
	r := New(c)
	var mu sync.Mutex
	var lines []string
	r.Debug = func(l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.LookupNetIP(ctx, "ip", testName); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	want := "answered by netd (" + c.Socket + ")"
	for _, l := range lines {
		if !strings.HasSuffix(l, want) {
			t.Errorf("%q: want %q", l, want)
		}
	}
	for _, a := range r.Answered() {
		if !strings.HasPrefix(a, "netd") {
			t.Errorf("Answered() holds %q; only netd answered", a)
		}
	}
}
