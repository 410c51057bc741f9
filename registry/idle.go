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
// byte: a manifest, token, config or tag-list answer that sends its
// headers and then nothing (or a byte now and then, slower than the
// timeout between them) is cut with ErrStalled instead of holding the
// pull forever. Blob bodies have their own watchdog, which resumes them
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
	resp.Body = &idleBody{rc: resp.Body, cancel: cancel, timeout: t.timeout}
	return resp, nil
}

type idleBody struct {
	rc      io.ReadCloser
	cancel  context.CancelFunc
	timeout time.Duration
	stalled atomic.Bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	timer := time.AfterFunc(b.timeout, func() { b.stalled.Store(true); b.cancel() })
	n, err := b.rc.Read(p)
	timer.Stop()
	if err != nil && err != io.EOF && b.stalled.Load() {
		err = fmt.Errorf("%w: no byte for %v", ErrStalled, b.timeout)
	}
	return n, err
}

func (b *idleBody) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}
