package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// idleTransport bounds how long a response body may wait for its next
// byte, and how slowly it may come: a manifest, token, config or
// tag-list answer that sends its headers and then nothing, or a byte now
// and then (each inside the stall timeout, but below minBodyRate on
// average once the stall timeout has passed), is cut with ErrStalled
// instead of holding the pull for years. Blob bodies have their own watchdog, which resumes them
// (see resumable): their requests carry watchedKey and pass through.
// Only time spent waiting inside Read counts, so a slow consumer is no
// stall.
type idleTransport struct {
	next    http.RoundTripper
	timeout time.Duration
}

// watchedKey marks a request whose body a resumable watches itself.
type watchedKey struct{}

func (t *idleTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.timeout <= 0 || req.Context().Value(watchedKey{}) != nil {
		return t.next.RoundTrip(req)
	}
	ctx, cancel := context.WithCancel(req.Context())
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &idleBody{rc: resp.Body, cancel: cancel, timeout: t.timeout, start: time.Now()}
	return resp, nil
}

// minBodyRate is the slowest average a document body may come at, once
// the stall timeout has passed: 1 KiB/s, far below any working link, so
// the largest manifest allowed (4 MiB) takes at most about an hour.
const minBodyRate = 1 << 10

type idleBody struct {
	rc      io.ReadCloser
	cancel  context.CancelFunc
	timeout time.Duration
	stalled atomic.Bool
	start   time.Time
	n       int64
}

func (b *idleBody) Read(p []byte) (int, error) {
	timer := time.AfterFunc(b.timeout, func() { b.stalled.Store(true); b.cancel() })
	n, err := b.rc.Read(p)
	timer.Stop()
	if err != nil && err != io.EOF && b.stalled.Load() {
		err = fmt.Errorf("%w: no byte for %v", ErrStalled, b.timeout)
	}
	b.n += int64(n)
	if err == nil {
		if el := time.Since(b.start); el > b.timeout && float64(b.n) < minBodyRate*el.Seconds() {
			b.cancel()
			return n, fmt.Errorf("%w: %d bytes in %v, below %d bytes/s", ErrStalled, b.n, el.Round(time.Second), minBodyRate)
		}
	}
	return n, err
}

func (b *idleBody) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}
