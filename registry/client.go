package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// Options configure a Client.
type Options struct {
	// Insecure allows plain HTTP and unverified TLS for the registries the
	// client is asked about and their mirrors (by host name, any port),
	// not for token realms, redirects or foreign-layer URLs elsewhere.
	// Addresses dialed on loopback are always allowed both, as Docker does.
	Insecure bool
	// Username and Password, when set, are used for every registry.
	Username, Password string
	// NoDockerConfig skips $DOCKER_CONFIG/config.json and ~/.docker/config.json.
	NoDockerConfig bool
	// UserAgent is sent with every request.
	UserAgent string
	// Transport overrides the HTTP transport (tests inject faults with
	// it). It replaces the checks on where connections go: for tests only.
	Transport http.RoundTripper
	// CAFile adds the PEM certificates in it to the system's roots.
	CAFile string
	// Mirrors maps a registry domain ("docker.io") to mirrors tried in
	// order before it, each "host[:port][/path/prefix]". See ParseMirror.
	Mirrors map[string][]string
	// Retry bounds retries; the zero value means DefaultRetry.
	Retry RetryPolicy
	// StallTimeout is how long a blob transfer may wait for a byte before
	// it is cut and resumed (default 60s). Only waits for the network
	// count: a consumer that reads slowly does not stall a transfer.
	StallTimeout time.Duration
	// BlobConnections is how many connections one large blob is fetched
	// over at once, each chunk a bounded Range request (0: the default,
	// DefaultBlobConnections; 1: one stream; at most MaxBlobConnections).
	// A server that does not honour Range gets one stream whatever this
	// says. It also sets the client's chunk memory over all its blobs:
	// 2×BlobConnections+2 buffers of 2 MiB (24 MiB at the default).
	BlobConnections int
	// OnRetry, if set, hears about every retry and resume (for progress).
	OnRetry func(RetryEvent)
	// Cache, if set, serves blobs it holds and keeps those downloaded.
	Cache BlobCache
	// Resolver resolves host names (nil: Go's default resolver, which
	// needs /etc/resolv.conf). resolver.Resolver finds one on Android.
	Resolver Resolver
}

// Resolver resolves host names; *net.Resolver and *resolver.Resolver are
// ones. When it also has Go() *net.Resolver, the names of HTTP proxies
// are resolved with that.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Client fetches manifests and blobs. It is safe for concurrent use.
type Client struct {
	opts    Options
	guard   *guard       // where requests may go
	auth    *auth.Client // registry requests: challenges, tokens, Basic
	once    *http.Client // no retries: the scheme probe, foreign URLs (the next URL is the retry)
	mu      sync.Mutex
	schemes map[string]string // host → "https" or "http"
	users   sync.Map          // host → user name last sent to it
	served  sync.Map          // origin reference → the source that served its manifest

	retry   RetryPolicy
	stall   time.Duration
	retries atomic.Int64
	resumes atomic.Int64
	// chunkTokens holds one token per chunk buffer in use over all the
	// client's blobs; its capacity is their budget (see chunkBudget).
	chunkTokens chan struct{}
}

// Counters reports how many requests were retried and how many blob
// transfers resumed since the client was made.
func (c *Client) Counters() (retries, resumes int64) { return c.retries.Load(), c.resumes.Load() }

// NewClient builds a client. Credentials come from opts, then from the
// docker config and its credential helpers.
func NewClient(opts Options) (*Client, error) {
	g := newGuard(opts.Insecure)
	if opts.Resolver != nil {
		g.lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return opts.Resolver.LookupNetIP(ctx, "ip", host)
		}
	}
	transport := opts.Transport
	if transport == nil {
		gt, err := newTransport(g, opts.CAFile, opts.Resolver)
		if err != nil {
			return nil, err
		}
		transport = gt
	}
	for domain, ms := range opts.Mirrors {
		for _, m := range ms {
			if _, _, err := ParseMirror(m); err != nil {
				return nil, fmt.Errorf("mirror for %s: %w", domain, err)
			}
		}
	}
	retry := opts.Retry
	if retry.Attempts <= 0 {
		retry = DefaultRetry
	}
	stall := opts.StallTimeout
	if stall == 0 {
		stall = 60 * time.Second
	}
	transport = &idleTransport{next: transport, timeout: stall}
	c := &Client{
		opts:    opts,
		guard:   g,
		schemes: map[string]string{},
		retry:   retry,
		stall:   stall,
	}
	c.chunkTokens = make(chan struct{}, chunkBudget(c.blobConns(context.Background())))
	c.once = &http.Client{Transport: transport, CheckRedirect: g.checkRedirect} // a scheme probe is not retried
	transport = &retryTransport{next: transport, policy: retry, retries: &c.retries, notify: opts.OnRetry}
	httpClient := &http.Client{Transport: transport, CheckRedirect: g.checkRedirect}

	var credFunc auth.CredentialFunc
	var store credentials.Store
	if !opts.NoDockerConfig {
		// An unreadable or broken docker config must not stop anonymous
		// pulls (a registry that needs credentials still says so).
		if s, err := credentials.NewStoreFromDocker(credentials.StoreOptions{}); err == nil {
			store = s
		}
	}
	switch {
	case opts.Username != "" || opts.Password != "":
		explicit := auth.Credential{Username: opts.Username, Password: opts.Password}
		credFunc = func(ctx context.Context, host string) (auth.Credential, error) { return explicit, nil }
	case store != nil:
		docker := credentials.Credential(store)
		credFunc = func(ctx context.Context, host string) (auth.Credential, error) {
			c, err := docker(ctx, host)
			if err != nil {
				// A broken credential helper must not stop anonymous pulls.
				return auth.EmptyCredential, nil
			}
			return c, nil
		}
	}
	if credFunc != nil {
		inner := credFunc
		credFunc = func(ctx context.Context, host string) (auth.Credential, error) {
			cred, err := inner(ctx, host)
			if err == nil && cred.Username != "" {
				c.users.Store(host, cred.Username)
			}
			return cred, err
		}
	}
	ac := &auth.Client{
		Client:     httpClient,
		Credential: credFunc,
		Cache:      auth.NewCache(),
		// The guard checks every realm on the address it dials (a name's
		// too), allowing loopback and private ones when the registry is
		// there; oras's own check would refuse a loopback registry's.
		BlockedRealmPrefixes: []netip.Prefix{},
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = "rootfs-pull"
	}
	ac.SetUserAgent(ua)
	c.auth = ac
	return c, nil
}

// newTransport is http.DefaultTransport's behaviour (proxies from the
// environment, HTTP/2, keep-alive) with connection timeouts bounded, and
// every connection checked by g (see guard).
func newTransport(g *guard, caFile string, r Resolver) (*guardTransport, error) {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if gr, ok := r.(interface{ Go() *net.Resolver }); ok {
		dialer.Resolver = gr.Go() // a proxy named by host name
	}
	g.dial = dialer.DialContext
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = func(req *http.Request) (*url.URL, error) {
		u, err := http.ProxyFromEnvironment(req)
		if u != nil {
			g.proxies.Store(hostPort(u), true)
		}
		return u, err
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return g.dialChecked(ctx, network, addr, false)
	}
	t.TLSHandshakeTimeout = 30 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	t.MaxResponseHeaderBytes = 1 << 20 // a registry's headers are small; Go's default is 10 MiB
	t.MaxIdleConnsPerHost = 8
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", caFile)
		}
		t.TLSClientConfig.RootCAs = pool
	}
	loose := t.Clone()
	loose.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	local := loose.Clone()
	local.Proxy = nil
	local.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return g.dialChecked(ctx, network, addr, true)
	}
	return &guardTransport{g: g, secure: t, loose: loose, local: local}, nil
}

// IsLoopback reports whether host[:port] is named as loopback: localhost,
// a .localhost name, or a loopback address. A name proves nothing: the
// client's transport lets such hosts use plain HTTP and unverified TLS only
// when the address it dials for them is loopback.
func IsLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// baseURL is scheme://host for the registry. HTTPS always; for --insecure
// and loopback registries, plain HTTP when the HTTPS probe fails at the
// transport level (as Docker's insecure-registry fallback does).
func (c *Client) baseURL(ctx context.Context, host string) (string, error) {
	if !c.opts.Insecure && !IsLoopback(host) {
		return "https://" + host, nil
	}
	c.mu.Lock()
	scheme, ok := c.schemes[host]
	c.mu.Unlock()
	if ok {
		return scheme + "://" + host, nil
	}
	scheme = "https"
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, "https://"+host+"/v2/", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.once.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		scheme = "http"
	} else {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
	}
	c.mu.Lock()
	c.schemes[host] = scheme
	c.mu.Unlock()
	return scheme + "://" + host, nil
}

// do sends a registry request through the auth client and turns a
// non-2xx answer into an *HTTPError.
func (c *Client) do(ctx context.Context, method, url string, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.auth.Do(req)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err == nil && (resp.StatusCode < 200 || resp.StatusCode > 299) {
		defer resp.Body.Close()
		err = newHTTPError(resp)
	}
	if err != nil {
		err = shortenURLError(wrapAuthError(err))
		var he *HTTPError
		if errors.As(err, &he) && errors.Is(he, ErrUnauthorized) {
			if u, ok := c.users.Load(req.URL.Host); ok {
				he.Username = u.(string)
			}
		}
		return nil, err
	}
	return resp, nil
}

// wrapAuthError turns the auth client's token-fetch failure (an
// *errcode.ErrorResponse carrying the token server's status) into an
// *HTTPError, so callers see one error type for refusals.
func wrapAuthError(err error) error {
	var er *errcode.ErrorResponse
	if !errors.As(err, &er) {
		return err
	}
	e := &HTTPError{Method: er.Method, StatusCode: er.StatusCode}
	if er.URL != nil {
		e.URL = er.URL.Redacted()
	}
	if len(er.Errors) > 0 {
		e.Code, e.Message = er.Errors[0].Code, er.Errors[0].Message
	}
	return e
}

// shortenURLError cuts the URL a transport error names (a redirect's
// Location, a realm: the server chose them) to a readable length.
func shortenURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = safetext.Cut(ue.URL, 200)
	}
	// The rest of a transport error can quote the server too (a malformed
	// status line, a certificate's names): escape and cut the whole text.
	if msg := err.Error(); len(msg) > maxErrorText || !safetext.Safe(msg) {
		return &cleanError{err: err, msg: safetext.Cut(msg, maxErrorText)}
	}
	return err
}

// maxErrorText is how much of a transport error's text is kept.
const maxErrorText = 400

// cleanError is err with its text escaped and cut; errors.Is and As
// still see err.
type cleanError struct {
	err error
	msg string
}

func (e *cleanError) Error() string { return e.msg }
func (e *cleanError) Unwrap() error { return e.err }
