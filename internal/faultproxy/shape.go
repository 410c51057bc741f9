package faultproxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Shape is a network profile the proxy imposes on every response: a
// latency before its first byte (the round trip to a far server), and
// rate caps on the bodies, one per connection and one on all of them
// together (a mobile link behind a CDN: one connection cannot fill the
// link). Zero fields impose nothing. Only bytes actually sent count, so
// a Range request's 206 costs what it carries, no more.
type Shape struct {
	Name      string
	Latency   time.Duration // before the first byte of every response
	ConnRate  int64         // bytes per second per client connection (0: no cap)
	TotalRate int64         // bytes per second over all connections (0: no cap)
}

// Profiles the benchmark and tests use.
var (
	// LAN is a registry next door: nothing imposed.
	LAN = Shape{Name: "lan"}
	// Phone is a mobile link: 80 ms before every answer, 3 MB/s per
	// connection, 12 MB/s in all.
	Phone = Shape{Name: "phone", Latency: 80 * time.Millisecond, ConnRate: 3_000_000, TotalRate: 12_000_000}
)

// Profile returns the named profile.
func Profile(name string) (Shape, bool) {
	for _, s := range []Shape{LAN, Phone} {
		if s.Name == name {
			return s, true
		}
	}
	return Shape{}, false
}

// shaper is a Shape in force: its total bucket is shared by every
// connection.
type shaper struct {
	Shape
	total *bucket
}

// SetShape puts s in force for responses that start from now on.
func (p *Proxy) SetShape(s Shape) {
	sh := &shaper{Shape: s}
	if s.TotalRate > 0 {
		sh.total = newBucket(s.TotalRate)
	}
	p.shape.Store(sh)
}

// connKey carries a connection's own state in its requests' contexts.
type connKey struct{}

// connState is what the proxy keeps per client connection: its bucket,
// made on its first shaped response (at that shape's rate).
type connState struct {
	mu     sync.Mutex
	bucket *bucket
	rate   int64
}

func connContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connState{})
}

// connBucket is the bucket of r's connection at rate.
func connBucket(r *http.Request, rate int64) *bucket {
	cs, _ := r.Context().Value(connKey{}).(*connState)
	if cs == nil {
		return newBucket(rate)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.bucket == nil || cs.rate != rate {
		cs.bucket, cs.rate = newBucket(rate), rate
	}
	return cs.bucket
}

// delay waits the shape's latency before a response's first byte; it
// reports false when the client went away meanwhile.
func (sh *shaper) delay(r *http.Request) bool {
	if sh == nil || sh.Latency <= 0 {
		return true
	}
	t := time.NewTimer(sh.Latency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// shapedQuantum is how many bytes are sent per wait: small enough that
// the rates are smooth at tens of milliseconds, large enough to be cheap.
const shapedQuantum = 16 << 10

// copy sends body to w under the shape's caps, with one fixed buffer.
func (sh *shaper) copy(w http.ResponseWriter, r *http.Request, body io.Reader) {
	var conn *bucket
	if sh.ConnRate > 0 {
		conn = connBucket(r, sh.ConnRate)
	}
	buf := make([]byte, shapedQuantum)
	fl, _ := w.(http.Flusher)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			// The connection's own cap first, then the link's: the link's
			// tokens are taken only when this connection may send.
			if !wait(r, conn, n) || !wait(r, sh.total, n) {
				return
			}
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

func wait(r *http.Request, b *bucket, n int) bool {
	if b == nil {
		return true
	}
	d := b.reserve(n)
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// bucket is a token bucket: rate tokens (bytes) a second, at most burst
// saved up. A reservation may take it into debt, which later reservers
// wait out in turn, so waiters are served in order and the rate holds
// however many share it.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate int64) *bucket {
	// 20 ms of burst, at least one quantum: smooth, and never a wait for a
	// single quantum at a low rate's start.
	burst := max(float64(rate)/50, shapedQuantum)
	return &bucket{rate: float64(rate), burst: burst, tokens: burst, last: time.Now()}
}

// reserve takes n tokens and says how long to wait before using them.
func (b *bucket) reserve(n int) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}
