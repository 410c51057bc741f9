package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// ErrRefusedAddress: a request was not sent because of where it would go
// (a cloud metadata address, a loopback or private address the registry
// does not share, plain HTTP or unverified TLS to a host that may not have
// them). errors.Is matches *AddressError and the refusals of plain HTTP.
var ErrRefusedAddress = errors.New("refused address")

// AddressError says which host and address a request was refused for.
type AddressError struct {
	Host   string
	Addr   netip.Addr // invalid when the refusal is by name or scheme
	Reason string
}

func (e *AddressError) Error() string {
	if e.Addr.IsValid() && e.Addr.String() != e.Host {
		return fmt.Sprintf("refused to connect to %s (%s): %s", safetext.Cut(e.Host, 80), e.Addr, e.Reason)
	}
	return fmt.Sprintf("refused to connect to %s: %s", safetext.Cut(e.Host, 80), e.Reason)
}

// Is makes an AddressError match ErrRefusedAddress.
func (e *AddressError) Is(target error) bool { return target == ErrRefusedAddress }

// addrClass orders addresses from the outside in.
type addrClass int

const (
	addrPublic addrClass = iota
	addrPrivate
	addrLoopback
	addrForbidden // link-local, multicast, unspecified, cloud metadata
)

// forbiddenPrefixes are never dialed for a host the user did not name:
// link-local (where cloud metadata services live), multicast, unspecified,
// and the metadata addresses outside link-local.
var forbiddenPrefixes = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("ff00::/8"),
	netip.MustParsePrefix("255.255.255.255/32"),
	netip.MustParsePrefix("100.100.100.200/32"), // Alibaba
	netip.MustParsePrefix("168.63.129.16/32"),   // Azure
	netip.MustParsePrefix("fd00:ec2::254/128"),  // AWS IMDS over IPv6
	netip.MustParsePrefix("fd00:ec2::23/128"),   // AWS DNS
	netip.MustParsePrefix("fd20:ce::254/128"),   // GCP
}

var privatePrefixes = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"),
}

var (
	nat64Prefix  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4Prefix = netip.MustParsePrefix("2002::/16")
)

// classify places a; IPv4 inside IPv6 (mapped, NAT64, 6to4) counts as the
// IPv4 address it carries.
func classify(a netip.Addr) addrClass {
	worst := addrPublic
	for _, x := range []netip.Addr{a.WithZone(""), embeddedIPv4(a)} {
		c := classifyOne(x)
		if c > worst {
			worst = c
		}
	}
	return worst
}

func classifyOne(a netip.Addr) addrClass {
	if !a.IsValid() {
		return addrPublic
	}
	a = a.Unmap()
	if a.IsLoopback() {
		return addrLoopback
	}
	for _, p := range forbiddenPrefixes {
		if p.Contains(a) {
			return addrForbidden
		}
	}
	for _, p := range privatePrefixes {
		if p.Contains(a) {
			return addrPrivate
		}
	}
	return addrPublic
}

func embeddedIPv4(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if !a.Is6() {
		return netip.Addr{}
	}
	b := a.As16()
	switch {
	case nat64Prefix.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	case sixTo4Prefix.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
	}
	return netip.Addr{}
}

// guard decides where the client may connect. The registries the client
// is asked about (and their mirrors) may be anywhere: the user named them.
// Every other host (token realms, blob redirects, foreign-layer URLs) is
// checked on the address actually dialed: never link-local or metadata
// addresses; loopback only when a registry was dialed on loopback; private
// addresses only when a registry was dialed on a private or loopback one.
// Plain HTTP and unverified TLS are allowed to the registries --insecure
// names, and otherwise only to addresses dialed on loopback.
type guard struct {
	insecure bool
	// lookup resolves a name; dial connects to a checked address. Tests
	// replace them to stand in for DNS and distant hosts.
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)

	mu         sync.Mutex
	registries map[string]bool // host:port of registries and mirrors
	names      map[string]bool // their host names (what --insecure covers)
	inward     addrClass       // the innermost class a registry was dialed at
	proxies    sync.Map        // host:port of HTTP proxies in use
}

func newGuard(insecure bool) *guard {
	return &guard{
		insecure:   insecure,
		registries: map[string]bool{},
		names:      map[string]bool{},
		lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		},
	}
}

// addRegistry records host[:port] as a registry the user named.
func (g *guard) addRegistry(host string) {
	h, port, err := net.SplitHostPort(host)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		h = strings.Trim(host, "[]")
		g.registries[canonical(h, "443")] = true
		g.registries[canonical(h, "80")] = true
	} else {
		g.registries[canonical(h, port)] = true
	}
	g.names[strings.ToLower(h)] = true
}

func canonical(host, port string) string { return net.JoinHostPort(strings.ToLower(host), port) }

// hostPort is u's host:port with the scheme's default port.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "http":
			port = "80"
		case "socks5", "socks5h":
			port = "1080"
		default:
			port = "443"
		}
	}
	return canonical(u.Hostname(), port)
}

func (g *guard) isRegistry(hostport string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	h, p, err := net.SplitHostPort(hostport)
	return err == nil && g.registries[canonical(h, p)]
}

// insecureHost reports whether --insecure covers host (a registry or a
// mirror the user named, on any port).
func (g *guard) insecureHost(host string) bool {
	if !g.insecure {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.names[strings.ToLower(strings.Trim(host, "[]"))]
}

// permit checks an address of a host the user did not name.
func (g *guard) permit(host string, a netip.Addr, cls addrClass) error {
	g.mu.Lock()
	inward := g.inward
	g.mu.Unlock()
	switch {
	case cls == addrForbidden:
		return &AddressError{Host: host, Addr: a, Reason: "a link-local, multicast, unspecified or cloud metadata address"}
	case cls == addrLoopback && inward < addrLoopback:
		return &AddressError{Host: host, Addr: a, Reason: "a loopback address, and the registry is not on loopback"}
	case cls == addrPrivate && inward < addrPrivate:
		return &AddressError{Host: host, Addr: a, Reason: "a private address, and the registry is not on a private or loopback address"}
	}
	return nil
}

// maxDialAddrs bounds how many of a name's addresses are tried.
const maxDialAddrs = 8

// dialChecked resolves addr's host, checks every address before it is
// dialed (the address checked is the address dialed: no second lookup),
// and with loopbackOnly accepts only loopback addresses.
func (g *guard) dialChecked(ctx context.Context, network, addr string, loopbackOnly bool) (net.Conn, error) {
	if _, ok := g.proxies.Load(strings.ToLower(addr)); ok && !loopbackOnly {
		return g.dial(ctx, network, addr) // the user's proxy resolves the rest
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port %q: %w", portStr, err)
	}
	registry := g.isRegistry(addr)
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, err = g.lookup(ctx, host); err != nil {
		return nil, err
	}
	if len(addrs) > maxDialAddrs {
		addrs = addrs[:maxDialAddrs]
	}
	var errs []error
	var targets []dialTarget
	for _, a := range addrs {
		a = a.Unmap()
		cls := classify(a)
		if loopbackOnly && cls != addrLoopback {
			errs = append(errs, &AddressError{Host: host, Addr: a, Reason: "plain HTTP and unverified TLS are allowed only to loopback addresses, or to the registry --insecure names"})
			continue
		}
		if !registry {
			if err := g.permit(host, a, cls); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		targets = append(targets, dialTarget{netip.AddrPortFrom(a, uint16(port)).String(), cls})
	}
	if len(targets) == 0 {
		if len(errs) == 0 {
			return nil, fmt.Errorf("%s: no address", safetext.Cut(host, 80))
		}
		return nil, errors.Join(errs...)
	}
	conn, cls, err := g.race(ctx, network, targets)
	if err != nil {
		return nil, errors.Join(append(errs, err)...)
	}
	if registry && cls != addrForbidden {
		g.mu.Lock()
		g.inward = max(g.inward, cls)
		g.mu.Unlock()
	}
	return conn, nil
}

type dialTarget struct {
	addr string
	cls  addrClass
}

// raceDelay is how long one address may try alone before the next starts
// beside it, as Go's own dialer does between IPv6 and IPv4: a dead
// address (a broken IPv6 route on a phone) costs this, not a timeout.
const raceDelay = 300 * time.Millisecond

// race dials targets in order, starting the next one whenever the last
// failed or raceDelay passed; the first connection wins and the others
// are closed.
func (g *guard) race(ctx context.Context, network string, targets []dialTarget) (net.Conn, addrClass, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		conn net.Conn
		cls  addrClass
		err  error
	}
	results := make(chan result, len(targets))
	next, pending := 0, 0
	start := func() {
		t := targets[next]
		next++
		pending++
		go func() {
			c, err := g.dial(ctx, network, t.addr)
			results <- result{c, t.cls, err}
		}()
	}
	start()
	timer := time.NewTimer(raceDelay)
	defer timer.Stop()
	var errs []error
	for pending > 0 {
		select {
		case r := <-results:
			pending--
			if r.err == nil {
				go func(n int) { // close the connections that lost
					for ; n > 0; n-- {
						if l := <-results; l.conn != nil {
							l.conn.Close()
						}
					}
				}(pending)
				return r.conn, r.cls, nil
			}
			errs = append(errs, r.err)
			if next < len(targets) && ctx.Err() == nil {
				start()
				timer.Reset(raceDelay)
			}
		case <-timer.C:
			if next < len(targets) {
				start()
				timer.Reset(raceDelay)
			}
		}
	}
	return nil, 0, errors.Join(errs...)
}

// guardTransport routes each request by what it may use: verified TLS
// through the checked dialer; plain HTTP and unverified TLS either to a
// registry --insecure names, or (a loopback name) through a dialer that
// accepts only loopback addresses.
type guardTransport struct {
	g      *guard
	secure *http.Transport // verified TLS, proxies from the environment
	loose  *http.Transport // unverified TLS and plain HTTP, for --insecure registries
	local  *http.Transport // unverified TLS and plain HTTP, loopback addresses only, no proxy
}

func (t *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	fail := func(err error) (*http.Response, error) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	host := req.URL.Hostname()
	if req.URL.Scheme != "https" && req.URL.Scheme != "http" {
		return fail(&AddressError{Host: host, Reason: fmt.Sprintf("scheme %q is not http(s)", safetext.Cut(req.URL.Scheme, 20))})
	}
	hp := hostPort(req.URL)
	if !t.g.isRegistry(hp) {
		// A literal address is checked here too: behind a proxy the
		// dialer only sees the proxy's.
		if a, err := netip.ParseAddr(host); err == nil {
			a = a.Unmap()
			if err := t.g.permit(host, a, classify(a)); err != nil {
				return fail(err)
			}
		}
	}
	switch {
	case t.g.insecureHost(host):
		return t.loose.RoundTrip(req)
	case IsLoopback(req.URL.Host):
		return t.local.RoundTrip(req)
	case req.URL.Scheme == "http":
		return fail(&AddressError{Host: host, Reason: "plain HTTP is allowed only to loopback addresses, or to the registry --insecure names"})
	}
	return t.secure.RoundTrip(req)
}

// CloseIdleConnections closes the idle connections of every route.
func (t *guardTransport) CloseIdleConnections() {
	t.secure.CloseIdleConnections()
	t.loose.CloseIdleConnections()
	t.local.CloseIdleConnections()
}

// checkRedirect refuses a redirect from https to plain HTTP (unless
// --insecure covers the target) and to schemes other than http(s).
func (g *guard) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	prev := via[len(via)-1].URL
	switch {
	case req.URL.Scheme != "https" && req.URL.Scheme != "http":
		return &AddressError{Host: req.URL.Hostname(), Reason: fmt.Sprintf("a redirect to scheme %q", safetext.Cut(req.URL.Scheme, 20))}
	case prev.Scheme == "https" && req.URL.Scheme == "http" && !g.insecureHost(req.URL.Hostname()):
		return &AddressError{Host: req.URL.Hostname(), Reason: fmt.Sprintf("a redirect from https://%s to plain HTTP", safetext.Cut(prev.Host, 80))}
	}
	return nil
}
