package faultproxy

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

const blobPath = "/v2/x/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000"

// origin serves blob (Range honoured, as a registry does) and a small
// manifest.
func origin(t *testing.T, blob []byte) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == blobPath {
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(blob))
			return
		}
		w.Write([]byte("{}"))
	}))
	t.Cleanup(s.Close)
	return s
}

func shaped(t *testing.T, size int, s Shape) (*Proxy, []byte) {
	t.Helper()
	blob := make([]byte, size)
	rand.Read(blob)
	o := origin(t, blob)
	p := New(o.Listener.Addr().String())
	t.Cleanup(p.Close)
	p.SetShape(s)
	return p, blob
}

// get fetches path through its own connection and reports when the first
// byte and the last came.
func get(t *testing.T, host, path string, header http.Header) (first, all time.Duration, resp *http.Response, body []byte) {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, "http://"+host+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Error(err)
		return
	}
	defer resp.Body.Close()
	one := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, one); err != nil {
		t.Error(err)
		return
	}
	first = time.Since(start)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Error(err)
	}
	return first, time.Since(start), resp, append(one, rest...)
}

// within fails unless got is in [lo, hi] times want.
func within(t *testing.T, what string, got, want time.Duration, lo, hi float64) {
	t.Helper()
	r := got.Seconds() / want.Seconds()
	if r < lo || r > hi {
		t.Errorf("%s took %v, want %v (%.2fx; allowed %.2f-%.2fx)", what, got.Round(time.Millisecond), want, r, lo, hi)
	}
}

func TestShapeLatency(t *testing.T) {
	p, _ := shaped(t, 1000, Shape{Latency: 150 * time.Millisecond})
	for _, path := range []string{"/v2/x/manifests/latest", blobPath} {
		first, _, _, _ := get(t, p.Host, path, nil)
		if first < 150*time.Millisecond || first > 600*time.Millisecond {
			t.Errorf("%s: first byte after %v, want 150 ms of latency", path, first)
		}
	}
	lan, _ := shaped(t, 1000, LAN)
	if first, _, _, _ := get(t, lan.Host, blobPath, nil); first > 100*time.Millisecond {
		t.Errorf("lan: first byte after %v, want no latency", first)
	}
}

func TestShapeConnectionCap(t *testing.T) {
	// Two connections at 1 MB/s each, under a link of 10 MB/s: each takes
	// 1.5 s for its 1.5 MB, together as alone.
	p, blob := shaped(t, 1_500_000, Shape{ConnRate: 1_000_000, TotalRate: 10_000_000})
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, all, _, body := get(t, p.Host, blobPath, nil)
			if !bytes.Equal(body, blob) {
				t.Errorf("connection %d: body differs", i)
			}
			within(t, fmt.Sprintf("connection %d", i), all, 1500*time.Millisecond, 0.85, 1.3)
		}()
	}
	wg.Wait()
}

func TestShapeTotalCap(t *testing.T) {
	// Four connections of up to 1 MB/s share a 2 MB/s link: 4 × 1 MB
	// takes 2 s, each connection about as long as the others.
	p, _ := shaped(t, 1_000_000, Shape{ConnRate: 1_000_000, TotalRate: 2_000_000})
	var wg sync.WaitGroup
	start := time.Now()
	times := make([]time.Duration, 4)
	for i := range times {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, times[i], _, _ = get(t, p.Host, blobPath, nil)
		}()
	}
	wg.Wait()
	within(t, "4 MB over the link", time.Since(start), 2*time.Second, 0.85, 1.3)
	for i, d := range times {
		within(t, fmt.Sprintf("connection %d", i), d, 2*time.Second, 0.7, 1.3)
	}
	if got := p.BlobBytes.Load(); got != 4_000_000 {
		t.Errorf("blob bytes sent %d, want 4000000", got)
	}
}

func TestShapeRange(t *testing.T) {
	// A Range request costs what it carries: 500 kB of a 3 MB blob at
	// 1 MB/s is half a second, and the 206 comes through as the origin
	// sent it.
	p, blob := shaped(t, 3_000_000, Shape{ConnRate: 1_000_000})
	_, all, resp, body := get(t, p.Host, blobPath, http.Header{"Range": {"bytes=1000000-1499999"}})
	if resp == nil {
		return
	}
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != "bytes 1000000-1499999/3000000" {
		t.Errorf("got %s, Content-Range %q", resp.Status, resp.Header.Get("Content-Range"))
	}
	if !bytes.Equal(body, blob[1000000:1500000]) {
		t.Errorf("range body differs (%d bytes)", len(body))
	}
	within(t, "500 kB at 1 MB/s", all, 500*time.Millisecond, 0.8, 1.4)
}
