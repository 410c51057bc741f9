// Package faultproxy puts a proxy in front of a real registry that fails
// the way real networks and registries fail, on demand: 503s, 429s with
// Retry-After, connections cut midway, servers that ignore Range, stalls.
// It counts what it saw, so tests can assert the retries and resumes
// happened. It also shapes traffic like a real link (see Shape): latency
// before every answer, a rate cap per connection and one for the whole
// link. For tests and the benchmark only.
package faultproxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy forwards to Target (host:port, plain HTTP) with faults. Each
// counter of faults to inject is used up as faults are injected.
type Proxy struct {
	*httptest.Server
	Host   string // the proxy's host:port
	Target string

	// Faults to inject, each decremented as it is used.
	FailManifests atomic.Int32 // manifest GETs answered 503
	FailBlobs     atomic.Int32 // blob GETs answered 503
	ThrottleBlobs atomic.Int32 // blob GETs answered 429 with Retry-After: 1
	Cuts          atomic.Int32 // blob bodies cut (connection dropped) after CutAfter bytes
	CutAfter      atomic.Int64
	Stalls        atomic.Int32 // blob bodies that stop after StallAfter (or CutAfter) bytes and hang
	StallAfter    atomic.Int64
	IgnoreRange   atomic.Bool             // forward without Range: the answer is a full 200
	RangeStatus   atomic.Int32            // blob GETs with a Range answered with this status (e.g. 416) instead
	Down          atomic.Bool             // every request fails (connection dropped)
	BlobDelay     atomic.Int64            // nanoseconds each blob body waits before it is sent (a slow link)
	Rate          atomic.Int64            // bytes per second blob bodies are sent at (0: as fast as they come)
	Forge         atomic.Pointer[Forgery] // a blob answered with forged bytes (see Forgery)

	// What it saw.
	Manifests atomic.Int64 // manifest GETs
	Blobs     atomic.Int64 // blob GETs
	Ranges    atomic.Int64 // blob GETs with a Range header
	TagLists  atomic.Int64 // tags/list GETs (pages)
	InFlight  atomic.Int64 // blob GETs in their BlobDelay now
	MaxFlight atomic.Int64 // the most blob GETs in their BlobDelay at once
	Conns     atomic.Int64 // client connections accepted
	BlobBytes atomic.Int64 // blob body bytes sent
	Bodies    atomic.Int64 // blob bodies being sent now
	MaxBodies atomic.Int64 // the most blob bodies sent at once

	mu     sync.Mutex
	ranges []string // the Range headers of blob GETs, in order

	shape    atomic.Pointer[shaper]
	upstream *http.Transport
}

// New starts a proxy to target; Close stops it.
func New(target string) *Proxy {
	p := &Proxy{Target: target}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64 // a client's parallel requests each keep theirs
	p.upstream = t
	p.Server = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.Server.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		p.Conns.Add(1)
		return connContext(ctx, c)
	}
	p.Server.Start()
	p.Host = p.Listener.Addr().String()
	return p
}

// RangeHeaders returns the Range headers of the blob GETs seen so far.
func (p *Proxy) RangeHeaders() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.ranges...)
}

// Close stops the proxy and drops its connections to the target.
func (p *Proxy) Close() {
	p.Server.Close()
	p.upstream.CloseIdleConnections()
}

// send copies a body to w: under the shape in force if any, else at once.
func (p *Proxy) send(w http.ResponseWriter, r *http.Request, body io.Reader) {
	if sh := p.shape.Load(); sh != nil && (sh.ConnRate > 0 || sh.TotalRate > 0) {
		sh.copy(w, r, body)
		return
	}
	io.Copy(w, body)
}

// copyBody sends a blob body, at Rate if set (else under the shape).
func (p *Proxy) copyBody(w http.ResponseWriter, req *http.Request, r io.Reader) {
	rate := p.Rate.Load()
	if rate <= 0 {
		p.send(w, req, r)
		return
	}
	chunk := max(rate/20, 1)
	for {
		n, err := io.CopyN(w, r, chunk)
		w.(http.Flusher).Flush()
		if err != nil || n < chunk {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countingReader adds what it reads to n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	k, err := c.r.Read(b)
	c.n.Add(int64(k))
	return k, err
}

func take(n *atomic.Int32) bool {
	for {
		v := n.Load()
		if v <= 0 {
			return false
		}
		if n.CompareAndSwap(v, v-1) {
			return true
		}
	}
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if p.Down.Load() {
		panic(http.ErrAbortHandler)
	}
	if !p.shape.Load().delay(r) {
		return
	}
	if p.forge(w, r) {
		return
	}
	blob := r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:")
	manifest := r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/")
	if strings.HasSuffix(r.URL.Path, "/tags/list") {
		p.TagLists.Add(1)
	}
	switch {
	case manifest:
		p.Manifests.Add(1)
		if take(&p.FailManifests) {
			http.Error(w, "injected", http.StatusServiceUnavailable)
			return
		}
	case blob:
		p.Blobs.Add(1)
		if d := time.Duration(p.BlobDelay.Load()); d > 0 {
			// Requests are counted as concurrent while they wait, before
			// any byte is sent: a client that asks for one blob after the
			// other never has two here, however late the server's side of
			// the last one ends.
			n := p.InFlight.Add(1)
			for {
				m := p.MaxFlight.Load()
				if n <= m || p.MaxFlight.CompareAndSwap(m, n) {
					break
				}
			}
			select {
			case <-time.After(d):
				p.InFlight.Add(-1)
			case <-r.Context().Done():
				p.InFlight.Add(-1)
				return
			}
		}
		if rg := r.Header.Get("Range"); rg != "" {
			p.Ranges.Add(1)
			p.mu.Lock()
			p.ranges = append(p.ranges, rg)
			p.mu.Unlock()
			if st := p.RangeStatus.Load(); st != 0 {
				http.Error(w, "injected", int(st))
				return
			}
		}
		if take(&p.FailBlobs) {
			http.Error(w, "injected", http.StatusServiceUnavailable)
			return
		}
		if take(&p.ThrottleBlobs) {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "injected", http.StatusTooManyRequests)
			return
		}
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+p.Target+r.URL.RequestURI(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	if blob && p.IgnoreRange.Load() {
		out.Header.Del("Range")
	}
	out.ContentLength = r.ContentLength
	resp, err := p.upstream.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	if !blob || resp.StatusCode >= 300 {
		p.send(w, r, resp.Body)
		return
	}
	body := countingReader{resp.Body, &p.BlobBytes}
	n := p.Bodies.Add(1)
	defer p.Bodies.Add(-1)
	for {
		m := p.MaxBodies.Load()
		if n <= m || p.MaxBodies.CompareAndSwap(m, n) {
			break
		}
	}
	limit := p.CutAfter.Load() // 0: at once, after the headers
	cut := resp.ContentLength > limit && take(&p.Cuts)
	if at := p.StallAfter.Load(); !cut && at > 0 {
		limit = at
	}
	stall := !cut && resp.ContentLength > limit && take(&p.Stalls)
	if !cut && !stall {
		p.copyBody(w, r, body)
		return
	}
	p.send(w, r, io.LimitReader(body, limit))
	w.(http.Flusher).Flush()
	if stall {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	}
	panic(http.ErrAbortHandler) // drop the connection mid-body
}
