package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// ErrStalled: no byte arrived for the stall timeout.
var ErrStalled = errors.New("transfer stalled")

// resumable is one blob's body that survives cuts and stalls: it
// re-requests from the offset it reached. The consumer sees the blob's
// bytes once, in order, whatever happened underneath.
type resumable struct {
	ctx     context.Context
	open    func(ctx context.Context, off int64) (*http.Response, error)
	size    int64
	stall   time.Duration
	policy  RetryPolicy
	resumes *atomic.Int64
	notify  func(RetryEvent)

	off      int64
	body     io.ReadCloser
	cancel   context.CancelFunc
	watchdog *time.Timer
	stalled  atomic.Bool
	failures int // consecutive tries without progress
	tries    int // all tries after the first
}

// start opens the first request; its errors (404, 401, …) are the
// caller's to see at once.
func (r *resumable) start() error { return r.connect() }

func (r *resumable) connect() error {
	// Waiting for headers is bounded by the transport and the retry
	// policy (a Retry-After may be long); the watchdog times the body.
	actx, cancel := context.WithCancel(r.ctx)
	r.stalled.Store(false)
	resp, err := r.open(actx, r.off)
	if err != nil {
		cancel()
		return err
	}
	if r.stall > 0 {
		r.watchdog = time.AfterFunc(r.stall, func() { r.stalled.Store(true); cancel() })
	}
	if err := r.accept(resp); err != nil {
		resp.Body.Close()
		r.stop(cancel)
		return err
	}
	r.body, r.cancel = resp.Body, cancel
	return nil
}

// accept checks a response continues the blob at r.off; a 200 to a Range
// request restarts the blob, so its first r.off bytes are skipped.
func (r *resumable) accept(resp *http.Response) error {
	switch {
	case r.off == 0 || resp.StatusCode == http.StatusOK:
		if resp.ContentLength >= 0 && r.size >= 0 && resp.ContentLength != r.size {
			return &VerifyError{What: "blob", Size: r.size, Got: resp.ContentLength}
		}
		if r.off > 0 {
			// Skipping is progress too: the stall watchdog must not cut a
			// long skip on a slow link.
			if _, err := io.CopyN(io.Discard, progressReader{resp.Body, r.kick}, r.off); err != nil {
				if r.stalled.Load() {
					err = ErrStalled
				}
				return fmt.Errorf("skipping the %d bytes already read: %w", r.off, err)
			}
		}
	case resp.StatusCode == http.StatusPartialContent:
		want := fmt.Sprintf("bytes %d-", r.off)
		if cr := resp.Header.Get("Content-Range"); !strings.HasPrefix(cr, want) {
			return fmt.Errorf("resume at byte %d: the server answered Content-Range %q", r.off, safetext.Cut(cr, 80))
		}
	default:
		return fmt.Errorf("resume at byte %d: %s", r.off, safetext.Cut(resp.Status, 80))
	}
	return nil
}

// kick tells the stall watchdog bytes arrived, or that a wait for them
// starts.
func (r *resumable) kick() {
	if r.watchdog != nil {
		r.watchdog.Reset(r.stall)
	}
}

// pause stops the stall watchdog while the consumer has the bytes: only
// waits for the network are timed, so a consumer that pauses (a slow
// disk, a stopped process) is never taken for a stalled link.
func (r *resumable) pause() {
	if r.watchdog != nil {
		r.watchdog.Stop()
	}
}

// progressReader calls kick after every read that returned bytes.
type progressReader struct {
	r    io.Reader
	kick func()
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.kick()
	}
	return n, err
}

func (r *resumable) stop(cancel context.CancelFunc) {
	if r.watchdog != nil {
		r.watchdog.Stop()
	}
	cancel()
}

func (r *resumable) Read(p []byte) (int, error) {
	for {
		if r.body == nil {
			if err := r.connect(); err != nil {
				if r.ctx.Err() != nil {
					return 0, r.ctx.Err()
				}
				if errors.Is(err, ErrRefusedAddress) || !r.again(err) {
					return 0, err
				}
				continue
			}
		}
		r.kick()
		n, err := r.body.Read(p)
		r.pause()
		r.off += int64(n)
		if n > 0 {
			r.failures = 0
		}
		if err == nil || err == io.EOF && (r.size < 0 || r.off >= r.size) {
			return n, err
		}
		// Cut: a reset, an early EOF, a stall.
		r.closeBody()
		if r.ctx.Err() != nil {
			return n, r.ctx.Err()
		}
		if r.stalled.Load() {
			err = ErrStalled
		} else if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if !r.again(err) {
			return n, fmt.Errorf("after %d bytes: %w", r.off, err)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// again waits before the next try, or says to give up.
func (r *resumable) again(err error) bool {
	r.failures++
	r.tries++
	// Bounded twice: tries in a row without a byte of progress, and all
	// tries (a server that sends a trickle before each cut).
	if r.failures >= r.policy.Attempts || r.tries >= 4*r.policy.Attempts {
		return false
	}
	if r.resumes != nil {
		r.resumes.Add(1)
	}
	wait := min(r.policy.Backoff<<(r.failures-1), r.policy.MaxWait)
	if r.notify != nil {
		r.notify(RetryEvent{Attempt: r.failures + 1, Wait: wait, Reason: fmt.Sprintf("blob transfer cut at byte %d (%v): resuming", r.off, err)})
	}
	return sleep(r.ctx, wait) == nil
}

func (r *resumable) closeBody() {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
	if r.cancel != nil {
		r.stop(r.cancel)
		r.cancel = nil
	}
}

func (r *resumable) Close() error {
	r.closeBody()
	return nil
}
