package registry

import (
	"context"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// NewHostClient is an HTTP client for one source outside a registry that
// the user named by its URL (a rootfs tarball, an LXC image server or
// mirror), with Client's network rules. The host of the client's first
// request is the one the user named: it may be anywhere. Every other host
// (where a redirect leads) is checked on the address actually dialed:
// never a link-local or cloud metadata address, a loopback or private one
// only when the named host was dialed there. A redirect never goes from
// https down to plain HTTP, plain HTTP goes only to loopback addresses,
// and a response that sends nothing for opts.StallTimeout (60 s when 0),
// or trickles below 1 KiB/s on average after that, is cut with
// ErrStalled. Of opts, only Resolver, CAFile and StallTimeout are used.
func NewHostClient(opts Options) (*http.Client, error) {
	g := newGuard(false)
	if opts.Resolver != nil {
		r := opts.Resolver
		g.lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return r.LookupNetIP(ctx, "ip", host)
		}
	}
	gt, err := newTransport(g, opts.CAFile, opts.Resolver)
	if err != nil {
		return nil, err
	}
	stall := opts.StallTimeout
	if stall == 0 {
		stall = 60 * time.Second
	}
	t := &namingTransport{g: g, next: &idleTransport{next: gt, timeout: stall}, routes: gt}
	return &http.Client{Transport: t, CheckRedirect: g.checkRedirect}, nil
}

// namingTransport takes the host of the first request as the one the
// user named.
type namingTransport struct {
	g      *guard
	next   http.RoundTripper
	routes *guardTransport
	once   sync.Once
}

func (t *namingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.once.Do(func() { t.g.addRegistry(req.URL.Host) })
	return t.next.RoundTrip(req)
}

// CloseIdleConnections closes the idle connections of every route.
func (t *namingTransport) CloseIdleConnections() { t.routes.CloseIdleConnections() }
