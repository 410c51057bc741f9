package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// RetryPolicy bounds how often and how long requests are retried.
type RetryPolicy struct {
	// Attempts is the most tries per request (first included).
	Attempts int
	// Backoff is the wait before the second try; it doubles each time.
	Backoff time.Duration
	// MaxWait caps one wait, Retry-After included.
	MaxWait time.Duration
}

// DefaultRetry: 5 tries over about 8 seconds of backoff, and a
// Retry-After of up to a minute honoured.
var DefaultRetry = RetryPolicy{Attempts: 5, Backoff: 500 * time.Millisecond, MaxWait: time.Minute}

// retryTransport retries GET and HEAD requests (manifests, tokens, blobs)
// that fail the way real networks fail: connection errors, resets,
// timeouts, 5xx, and 429 (after the server's Retry-After). Anything else,
// and a request whose context is done, is returned as it is.
type retryTransport struct {
	next    http.RoundTripper
	policy  RetryPolicy
	retries *atomic.Int64 // counts retries, for the summary and tests
	notify  func(RetryEvent)
}

// RetryEvent tells the caller a request is about to be tried again.
type RetryEvent struct {
	URL     string
	Attempt int // the try about to start, from 2
	Wait    time.Duration
	Reason  string // "503 Service Unavailable", "connection reset by peer", …
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead || req.Body != nil && req.Body != http.NoBody {
		return t.next.RoundTrip(req)
	}
	wait := t.policy.Backoff
	for attempt := 1; ; attempt++ {
		resp, err := t.next.RoundTrip(req)
		reason, retry := retryable(resp, err)
		if !retry || attempt >= t.policy.Attempts || req.Context().Err() != nil {
			return resp, err
		}
		w := wait
		if resp != nil {
			if ra, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
				w = ra
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if w > t.policy.MaxWait {
			w = t.policy.MaxWait
		}
		if t.retries != nil {
			t.retries.Add(1)
		}
		if t.notify != nil {
			t.notify(RetryEvent{URL: req.URL.Redacted(), Attempt: attempt + 1, Wait: w, Reason: reason})
		}
		if err := sleep(req.Context(), w); err != nil {
			return nil, err
		}
		wait *= 2
	}
}

// retryable says whether a try failed in a way another try may fix.
func retryable(resp *http.Response, err error) (string, bool) {
	if err != nil {
		var (
			rec  tls.RecordHeaderError
			cert *tls.CertificateVerificationError
			ua   x509.UnknownAuthorityError
			hn   x509.HostnameError
		)
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrRefusedAddress) ||
			errors.As(err, &rec) || errors.As(err, &cert) || errors.As(err, &ua) || errors.As(err, &hn) {
			return "", false // another try gets the same answer
		}
		return safetext.Clean(err.Error()), true // refused, reset, timed out, EOF mid-header, DNS hiccup
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests,
		resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented && resp.StatusCode != http.StatusHTTPVersionNotSupported:
		return safetext.Cut(resp.Status, 80), true
	}
	return "", false
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
