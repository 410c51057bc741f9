package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// System names the host's own resolver in reports.
const System = "the system's resolver (/etc/resolv.conf)"

// Resolver resolves names from the sources its Config allows. It is safe
// for concurrent use.
type Resolver struct {
	// Debug, if set before use, hears one line per name resolved: which
	// source answered.
	Debug func(line string)

	system  bool
	forced  bool
	sources []*source
	goRes   *net.Resolver

	mu       sync.Mutex
	failedAt map[*source]time.Time // when a source last failed to answer
	answered []string              // sources that answered, first use first
	// lastBy is the source that last answered for a name: Go's resolver
	// shares one lookup between concurrent callers of the same name, and
	// only the first caller's record hears which source answered.
	lastBy map[string]string
}

// source is one place DNS messages can be sent.
type source struct {
	name     string
	timeout  time.Duration
	exchange func(ctx context.Context, query []byte) ([]byte, error)
	netd     *netd // when the source is netd
}

// label names s in reports.
func (s *source) label() string {
	if s.netd != nil {
		return s.netd.label()
	}
	return s.name
}

// New builds a Resolver. When c forces no servers and the host's
// resolv.conf is usable, it is Go's resolver, unchanged.
func New(c Config) *Resolver {
	r := &Resolver{failedAt: map[*source]time.Time{}, lastBy: map[string]string{}}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	addServers := func(list []netip.AddrPort, how string) {
		for _, ap := range list {
			r.sources = append(r.sources, &source{
				name:    ap.String() + how,
				timeout: timeout,
				exchange: func(ctx context.Context, q []byte) ([]byte, error) {
					return serverExchange(ctx, ap, q)
				},
			})
		}
	}
	switch {
	case len(c.Servers) > 0:
		r.forced = true
		addServers(c.Servers, "")
	case Usable(c.ResolvConf):
		r.system = true
		r.goRes = net.DefaultResolver
		return r
	default:
		if sock := c.Socket; sock != "-" {
			if sock == "" {
				sock = DNSProxySocket
			}
			n := &netd{socket: sock}
			r.sources = append(r.sources, &source{
				timeout:  2 * timeout,
				netd:     n,
				exchange: n.exchange,
			})
		}
		if t := c.TermuxResolvConf; t != "-" {
			if t == "" {
				t = TermuxResolvConf()
			}
			ns, _ := Nameservers(t)
			addServers(ns, " (from "+t+")")
		}
		pub := c.Public
		if pub == nil {
			pub = Public
		}
		addServers(pub, " (public)")
	}
	r.goRes = &net.Resolver{PreferGo: true, Dial: r.dial}
	return r
}

// Go is the net.Resolver behind r, for a net.Dialer's Resolver.
func (r *Resolver) Go() *net.Resolver { return r.goRes }

// IsSystem reports whether r is the host's own resolver.
func (r *Resolver) IsSystem() bool { return r.system }

// Describe says what r asks, in order.
func (r *Resolver) Describe() string {
	if r.system {
		return System
	}
	names := make([]string, len(r.sources))
	for i, s := range r.sources {
		names[i] = s.label()
	}
	return strings.Join(names, ", then ")
}

// Answered lists the sources that answered so far (System for the host's
// resolver, "the hosts file" when no server was asked).
func (r *Resolver) Answered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.answered...)
}

func (r *Resolver) noteAnswer(host, by string, addrs []netip.Addr) {
	r.mu.Lock()
	seen := false
	for _, a := range r.answered {
		seen = seen || a == by
	}
	if !seen {
		r.answered = append(r.answered, by)
	}
	r.mu.Unlock()
	if r.Debug != nil {
		r.Debug(fmt.Sprintf("dns: %s is %v, answered by %s", safetext.Cut(host, 80), addrs, by))
	}
}

// LookupNetIP resolves host to its addresses (network "ip", "ip4" or
// "ip6"). Its errors are *LookupError.
func (r *Resolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if r.system {
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, network, host)
		if err != nil {
			return nil, &LookupError{Host: host, Asked: System, System: true, NotFound: isNotFound(err), Err: err}
		}
		r.noteAnswer(host, System, addrs)
		return addrs, nil
	}
	rec := &record{}
	addrs, err := r.goRes.LookupNetIP(context.WithValue(ctx, recordKey{}, rec), network, host)
	rec.mu.Lock()
	by, tried := rec.by, rec.failed
	rec.mu.Unlock()
	if err != nil {
		return nil, &LookupError{Host: host, Asked: r.Describe(), Forced: r.forced, NotFound: isNotFound(err), AnsweredBy: by, Tried: tried, Err: err}
	}
	if by == "" {
		r.mu.Lock()
		by = r.lastBy[canonical(host)]
		r.mu.Unlock()
	}
	if by == "" { // no query was sent
		by = "the hosts file"
	}
	r.noteAnswer(host, by, addrs)
	return addrs, nil
}

// canonical is host as a question names it: lower case, no final dot.
func canonical(host string) string { return strings.ToLower(strings.TrimSuffix(host, ".")) }

// questionName is the canonical name query asks about.
func questionName(query []byte) (string, bool) {
	var p dnsmessage.Parser
	if _, err := p.Start(query); err != nil {
		return "", false
	}
	q, err := p.Question()
	if err != nil {
		return "", false
	}
	return canonical(q.Name.String()), true
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// DialContext connects to addr (host:port), resolving host with r: for
// HTTP clients (a net.Dialer with Go() as its Resolver would hide which
// sources failed).
func (r *Resolver) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	host, port, err := net.SplitHostPort(addr)
	if err != nil || r.system {
		return d.DialContext(ctx, network, addr)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return d.DialContext(ctx, network, addr)
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var errs []error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// maxLastBy bounds Resolver.lastBy.
const maxLastBy = 1000

// retryAfter is how long a source that failed is asked after the others.
const retryAfter = 30 * time.Second

// order is r's sources, those that failed lately last.
func (r *Resolver) order() []*source {
	r.mu.Lock()
	defer r.mu.Unlock()
	var fresh, stale []*source
	for _, s := range r.sources {
		if t, ok := r.failedAt[s]; ok && time.Since(t) < retryAfter {
			stale = append(stale, s)
		} else {
			fresh = append(fresh, s)
		}
	}
	return append(fresh, stale...)
}

// exchange sends query to the sources in order until one answers.
func (r *Resolver) exchange(ctx context.Context, query []byte) ([]byte, error) {
	rec, _ := ctx.Value(recordKey{}).(*record)
	var errs []string
	for _, s := range r.order() {
		if s.netd != nil && s.netd.mute() {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, s.timeout)
		ans, err := s.exchange(sctx, query)
		cancel()
		if err == nil {
			switch rcode := ans[3] & 0x0f; rcode {
			case 2:
				err = errors.New("server failure")
			case 5:
				err = errors.New("refused")
			}
		}
		name := s.label()
		if err == nil {
			r.mu.Lock()
			delete(r.failedAt, s)
			if q, ok := questionName(query); ok {
				if len(r.lastBy) >= maxLastBy {
					clear(r.lastBy) // forget old names rather than stop noting new ones
				}
				r.lastBy[q] = name // the label: netd's source has no name
			}
			r.mu.Unlock()
			rec.answer(name)
			return ans, nil
		}
		errs = append(errs, name+": "+err.Error())
		if errors.Is(err, errNotAnswerable) {
			continue // not a failure of the source
		}
		r.mu.Lock()
		r.failedAt[s] = time.Now()
		r.mu.Unlock()
		rec.fail(name, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, errors.New("no DNS source to ask")
	}
	return nil, errors.New(strings.Join(errs, "; "))
}

// record collects, for one lookup, which source answered and how the
// others failed.
type record struct {
	mu     sync.Mutex
	by     string
	failed []Attempt
}

type recordKey struct{}

func (rec *record) answer(name string) {
	if rec == nil {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.by == "" {
		rec.by = name
	}
}

func (rec *record) fail(name string, err error) {
	if rec == nil {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i := range rec.failed {
		if rec.failed[i].Source == name {
			rec.failed[i].Err = err
			return
		}
	}
	rec.failed = append(rec.failed, Attempt{name, err})
}

// Attempt is one source that did not answer, and why.
type Attempt struct {
	Source string
	Err    error
}
