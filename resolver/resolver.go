package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
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
	// flights are the lookups under way, by network and name: concurrent
	// callers of one name share one, as Go's resolver would share its
	// lookup, but each of them then reads the lookup's own record of
	// which sources answered (Go's sharing would give it only to the
	// first caller).
	flights map[string]*flight
}

// flight is one lookup, shared by the callers that asked for the same
// network and name while it ran.
type flight struct {
	done    chan struct{} // closed when addrs and err are set
	rec     *record
	addrs   []netip.Addr
	err     error
	waiters int                // callers still waiting (under Resolver.mu)
	cancel  context.CancelFunc // ends the lookup once no caller waits
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
	r := &Resolver{failedAt: map[*source]time.Time{}, flights: map[string]*flight{}}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	addServers := func(list []netip.AddrPort, how string, max int) {
		var taken []netip.AddrPort
		for _, ap := range list {
			if len(taken) == max {
				break
			}
			if slices.Contains(taken, ap) {
				continue
			}
			taken = append(taken, ap)
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
		addServers(c.Servers, "", MaxForced)
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
			addServers(ns, " (from "+safetext.Cut(t, maxPathShown)+")", maxFileServers)
		}
		pub := c.Public
		if pub == nil {
			pub = Public
		}
		addServers(pub, " (public)", maxFileServers)
	}
	r.goRes = &net.Resolver{PreferGo: true, Dial: r.dial}
	return r
}

// maxPathShown is how much of a path (from the environment: $PREFIX, the
// test socket) a source's name shows, escaped as safetext does: names are
// printed as they are (--debug).
const maxPathShown = 120

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

// noteAnswer notes that the sources by (those whose answers held
// records) gave host's addresses.
func (r *Resolver) noteAnswer(host string, by []string, addrs []netip.Addr) {
	r.mu.Lock()
	for _, b := range by {
		if !slices.Contains(r.answered, b) {
			r.answered = append(r.answered, b)
		}
	}
	r.mu.Unlock()
	if r.Debug != nil {
		r.Debug(fmt.Sprintf("dns: %s is %s, answered by %s", safetext.Cut(host, 80), showAddrs(addrs), strings.Join(by, " and ")))
	}
}

// maxAddrsShown is how many of a name's addresses a --debug line shows.
const maxAddrsShown = 8

// showAddrs is addrs for a --debug line: the first few, and how many
// there are when there are more.
func showAddrs(addrs []netip.Addr) string {
	if len(addrs) <= maxAddrsShown {
		return fmt.Sprint(addrs)
	}
	return fmt.Sprintf("%v… (%d in all)", addrs[:maxAddrsShown], len(addrs))
}

// LookupNetIP resolves host to its addresses (network "ip", "ip4" or
// "ip6"). Its errors are *LookupError.
func (r *Resolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if r.system {
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, network, host)
		if err != nil {
			return nil, &LookupError{Host: host, Asked: System, System: true, NotFound: isNotFound(err), Err: err}
		}
		r.noteAnswer(host, []string{System}, addrs)
		return addrs, nil
	}
	f, err := r.join(ctx, network, host)
	if err != nil {
		return nil, &LookupError{Host: host, Asked: r.Describe(), Forced: r.forced, Err: err}
	}
	by, tried := f.rec.report()
	if f.err == nil {
		if nx := f.rec.contradicted(); nx != "" {
			// A name a source said does not exist stays so, whatever a
			// later source said to the query of the other type.
			f = &flight{err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
			by = []string{nx}
		}
	}
	if f.err != nil {
		return nil, &LookupError{Host: host, Asked: r.Describe(), Forced: r.forced, NotFound: isNotFound(f.err), AnsweredBy: strings.Join(by, " and "), Tried: tried, Err: f.err}
	}
	if len(by) == 0 { // no query was sent
		by = []string{"the hosts file"}
	}
	r.noteAnswer(host, by, f.addrs)
	return f.addrs, nil
}

// join waits for the lookup of host (network "ip", "ip4" or "ip6") under
// way, or starts it. It returns early, with ctx's error, when ctx ends;
// the lookup is then stopped if no other caller waits for it.
func (r *Resolver) join(ctx context.Context, network, host string) (*flight, error) {
	key := network + "\x00" + host
	r.mu.Lock()
	f := r.flights[key]
	if f == nil {
		// The lookup outlives the caller that started it when others
		// wait for it too: not its cancellation, only its values.
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), rec: &record{}, cancel: cancel}
		r.flights[key] = f
		go func() {
			addrs, err := r.goRes.LookupNetIP(context.WithValue(fctx, recordKey{}, f.rec), network, host)
			r.mu.Lock()
			f.addrs, f.err = addrs, err
			if r.flights[key] == f {
				delete(r.flights, key)
			}
			r.mu.Unlock()
			cancel()
			close(f.done)
		}()
	}
	f.waiters++
	r.mu.Unlock()
	select {
	case <-f.done:
		return f, nil
	case <-ctx.Done():
	}
	r.mu.Lock()
	f.waiters--
	if f.waiters == 0 {
		f.cancel()
		if r.flights[key] == f {
			delete(r.flights, key) // a later caller starts afresh
		}
	}
	r.mu.Unlock()
	return nil, &net.DNSError{Err: ctx.Err().Error(), Name: host, IsTimeout: errors.Is(ctx.Err(), context.DeadlineExceeded), UnwrapErr: ctx.Err()}
}

// canonical is host as a question names it: lower case, no final dot.
func canonical(host string) string { return strings.ToLower(strings.TrimSuffix(host, ".")) }

// questionName is the canonical name query asks about ("" if none).
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

// hasRecords reports whether the DNS message ans has answer records.
func hasRecords(ans []byte) bool { return len(ans) >= 8 && (ans[6] != 0 || ans[7] != 0) }

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
	qname, _ := questionName(query)
	var errs []string
	for _, s := range r.order() {
		if s.netd != nil && s.netd.mute() {
			continue
		}
		if by := rec.notFound(qname); by != "" && by != s.label() {
			// A source said this name does not exist, to a query of
			// another type: final for the name, not asked elsewhere.
			if ans, err := notFoundAnswer(query); err == nil {
				rec.answer(qname, by, false, true)
				return ans, nil
			}
		}
		sctx, cancel := context.WithTimeout(ctx, s.timeout)
		ans, err := s.exchange(sctx, query)
		cancel()
		if err == nil {
			err = checkAnswer(query, ans)
		}
		name := s.label()
		if err == nil {
			r.mu.Lock()
			delete(r.failedAt, s)
			r.mu.Unlock()
			rec.answer(qname, name, hasRecords(ans), ans[3]&0x0f == byte(dnsmessage.RCodeNameError))
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

// record collects, for one lookup (its A and AAAA queries, each name of
// its search list), which sources answered and how the others failed.
type record struct {
	mu     sync.Mutex
	by     []string // sources whose answers held records, first first
	empty  string   // the first source whose answer held none
	failed []Attempt
	// For each question name: the source that said it does not exist,
	// and the sources whose answers for it held records.
	nx      map[string]string
	records map[string][]string
}

type recordKey struct{}

// answer notes that the source name answered a query about qname, with
// records or not, saying that qname does not exist or not.
func (rec *record) answer(qname, name string, records, nxdomain bool) {
	if rec == nil {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	switch {
	case records && !slices.Contains(rec.by, name):
		rec.by = append(rec.by, name)
	case !records && rec.empty == "":
		rec.empty = name
	}
	if rec.nx == nil {
		rec.nx, rec.records = map[string]string{}, map[string][]string{}
	}
	if nxdomain && rec.nx[qname] == "" {
		rec.nx[qname] = name
	}
	if records && !slices.Contains(rec.records[qname], name) {
		rec.records[qname] = append(rec.records[qname], name)
	}
}

// notFound is the source that said qname does not exist, "" if none.
func (rec *record) notFound(qname string) string {
	if rec == nil {
		return ""
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.nx[qname]
}

// contradicted is the source that said a name does not exist for which
// another source gave records (the queries for A and AAAA went their
// own ways: one failed at netd and was answered elsewhere), "" if none.
// A source that itself said both (a router that answers AAAA queries
// with NXDOMAIN) is left to Go's resolver, which takes the records.
func (rec *record) contradicted() string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for qname, by := range rec.nx {
		for _, r := range rec.records[qname] {
			if r != by {
				return by
			}
		}
	}
	return ""
}

// report is the sources that answered the lookup (those that gave
// records, else the first that answered without), and those that
// failed.
func (rec *record) report() (by []string, failed []Attempt) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	by = slices.Clone(rec.by)
	if len(by) == 0 && rec.empty != "" {
		by = []string{rec.empty}
	}
	return by, slices.Clone(rec.failed)
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
