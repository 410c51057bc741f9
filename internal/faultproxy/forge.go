package faultproxy

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Forgery makes the proxy answer a blob's GETs with bytes that are not
// the blob's: the first request gets Prefix (under the real blob's
// headers, so its size looks right) and is then cut or left hanging;
// every later request for it (a resume, another chunk) is answered 503.
// A first request with a Range gets the real 206's headers: the forged
// bytes stand in for that range's. It stands for a
// hostile mirror or a man in the middle whose lie is never completed, so
// no digest check ever sees the whole forged blob.
type Forgery struct {
	Digest string // "sha256:…" of the blob to forge
	Prefix []byte // what is sent instead of its first bytes
	Stall  bool   // hang after Prefix (until the client goes) instead of cutting

	served atomic.Int32
	// Sent is closed once Prefix has been sent.
	Sent chan struct{}
}

// NewForgery returns a Forgery of digest's blob that sends prefix.
func NewForgery(digest string, prefix []byte, stall bool) *Forgery {
	return &Forgery{Digest: digest, Prefix: prefix, Stall: stall, Sent: make(chan struct{})}
}

// forge serves r if it asks for the forged blob, and says whether it did.
func (p *Proxy) forge(w http.ResponseWriter, r *http.Request) bool {
	f := p.Forge.Load()
	if f == nil || r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+f.Digest) {
		return false
	}
	if f.served.Add(1) > 1 {
		http.Error(w, "injected", http.StatusServiceUnavailable)
		return true
	}
	// The real blob's headers (its Content-Length above all, or the
	// range's Content-Range).
	out, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://"+p.Target+r.URL.RequestURI(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return true
	}
	out.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return true
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(f.Prefix)
	w.(http.Flusher).Flush()
	close(f.Sent)
	if f.Stall {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	}
	panic(http.ErrAbortHandler) // cut
}
