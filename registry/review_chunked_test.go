package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Hostile review of the chunked blob download: a fake registry that
// serves one blob and lets each test forge the answer to any Range
// request.

var reviewRange = regexp.MustCompile(`^bytes=(\d+)-(\d+)$`)

// chunkForger answers a Range request for bytes [first, last] of blob
// itself (returning true), or leaves it to the honest server.
type chunkForger func(w http.ResponseWriter, r *http.Request, blob []byte, first, last int64) bool

// forgedChunkServer serves a random blob of size bytes; forge may answer
// any blob request itself.
func forgedChunkServer(t *testing.T, size int, forge chunkForger) (*fakeRegistry, ocispec.Descriptor, []byte) {
	t.Helper()
	f := newFakeRegistry(t)
	blob := make([]byte, size)
	rand.Read(blob)
	desc := f.addBlob(ocispec.MediaTypeImageLayer, blob)
	path := "/blobs/" + desc.Digest.String()
	f.before = func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, path) {
			return false
		}
		rg := r.Header.Get("Range")
		m := reviewRange.FindStringSubmatch(rg)
		if rg != "" && m == nil {
			http.Error(w, "unexpected range "+rg, http.StatusBadRequest)
			return true
		}
		if m == nil {
			w.Header().Set("Content-Length", strconv.Itoa(len(blob)))
			w.Write(blob)
			return true
		}
		first, _ := strconv.ParseInt(m[1], 10, 64)
		last, _ := strconv.ParseInt(m[2], 10, 64)
		if forge != nil && forge(w, r, blob, first, last) {
			return true
		}
		last = min(last, int64(len(blob))-1)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(blob)))
		w.Header().Set("Content-Length", strconv.FormatInt(last-first+1, 10))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(blob[first : last+1])
		return true
	}
	return f, desc, blob
}

func reviewClient(t *testing.T) *Client {
	t.Helper()
	c, err := NewClient(Options{NoDockerConfig: true, StallTimeout: 300 * time.Millisecond,
		Retry: RetryPolicy{Attempts: 3, Backoff: 10 * time.Millisecond, MaxWait: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readAllBounded reads the blob through c within 20 seconds, failing the
// test if it hangs.
func readAllBounded(t *testing.T, c *Client, ref Reference, desc ocispec.Descriptor) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		rc, err := c.Blob(ctx, ref, desc)
		if err != nil {
			done <- result{nil, err}
			return
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-time.After(30 * time.Second):
		t.Fatal("the blob read hung")
		return nil, nil
	}
}

// countChunkGoroutines counts goroutines running the chunked reader's code.
func countChunkGoroutines() int {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "registry.(*chunkedBlob)") {
			n++
		}
	}
	return n
}

// Whatever a hostile server answers to a later chunk's Range request, the
// reader gets the blob's own bytes or an error: never other bytes, never a
// hang, and no goroutine is left behind.
func TestReviewChunkForgedAnswers(t *testing.T) {
	const size = 9<<20 + 12345
	const victim = 2 << 20 // the second chunk (after the probe's)
	partial := func(w http.ResponseWriter, cr string, body []byte, length bool) {
		if cr != "" {
			w.Header().Set("Content-Range", cr)
		}
		if length {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.WriteHeader(http.StatusPartialContent)
		w.Write(body)
	}
	other := make([]byte, size)
	rand.Read(other)
	tests := []struct {
		name  string
		forge chunkForger
	}{
		{"Content-Range shifted by one", func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
			if last+2 > int64(len(b)) {
				return false
			}
			partial(w, fmt.Sprintf("bytes %d-%d/%d", first+1, last+1, len(b)), b[first+1:last+2], true)
			return true
		}},
		{"Content-Range longer", func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
			l := min(last+4096, int64(len(b))-1)
			partial(w, fmt.Sprintf("bytes %d-%d/%d", first, l, len(b)), b[first:l+1], true)
			return true
		}},
		{"Content-Range shorter", func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
			partial(w, fmt.Sprintf("bytes %d-%d/%d", first, last-4096, len(b)), b[first:last-4096+1], true)
			return true
		}},
		{"total other than the descriptor's", func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
			partial(w, fmt.Sprintf("bytes %d-%d/%d", first, last, len(b)+1), b[first:last+1], true)
			return true
		}},
		{"total unknown", func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
			partial(w, fmt.Sprintf("bytes %d-%d/*", first, last), b[first:last+1], true)
			return true
		}},
		{"unsatisfied form", func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
			partial(w, fmt.Sprintf("bytes */%d", len(b)), b[first:last+1], true)
			return true
		}},
		{"Content-Range missing", func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
			partial(w, "", b[first:last+1], true)
			return true
		}},
		{"body longer than its Content-Range (no length)", func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
			partial(w, fmt.Sprintf("bytes %d-%d/%d", first, last, len(b)), append(bytes.Clone(b[first:last+1]), other[:8192]...), false)
			return true
		}},
		{"body longer than its Content-Length", func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(b)))
			w.Header().Set("Content-Length", strconv.FormatInt(last-first+1+8192, 10))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(b[first : last+1])
			w.Write(other[:8192])
			return true
		}},
		{"body shorter than its Content-Range, then cut", func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
			if first != victim {
				return false
			}
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(b)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(b[first : first+1000])
			w.(http.Flusher).Flush() // no Content-Length: the cut is seen as one
			return true
		}},
		{"a 200 with the whole blob", func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.Write(b)
			return true
		}},
		{"a 200 with the chunk's bytes", func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
			w.Write(b[first : last+1])
			return true
		}},
		{"another version of the blob", func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
			partial(w, fmt.Sprintf("bytes %d-%d/%d", first, last, len(b)), other[first:last+1], true)
			return true
		}},
		{"a 416", func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(b)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var forged atomic.Int64
			f, desc, want := forgedChunkServer(t, size, func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
				if first < victim {
					return false // the probe is answered honestly: the blob is chunked
				}
				if tt.forge(w, r, b, first, last) {
					forged.Add(1)
					return true
				}
				return false
			})
			c := reviewClient(t)
			got, err := readAllBounded(t, c, f.ref(t, "v1"), desc)
			if forged.Load() == 0 {
				t.Fatal("no chunk was forged: the test proves nothing")
			}
			if err == nil && !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes without an error, and they are not the blob's", len(got))
			}
			// (Another version's bytes are streamed before the digest
			// fails, as in one stream: the error is what stops them.)
			if err != nil && tt.name != "another version of the blob" && len(got) > 0 && !bytes.Equal(got, want[:len(got)]) {
				t.Errorf("the %d bytes before the error are not the blob's", len(got))
			}
			time.Sleep(50 * time.Millisecond)
			if n := countChunkGoroutines(); n != 0 {
				t.Errorf("%d chunk goroutines left", n)
			}
			t.Logf("err = %v", err)
		})
	}
}

// A chunk whose server stalls forever (after its headers, or before them)
// is cut by the stall timeout and given up after the retry policy: the
// read fails in bounded time, the other connections' buffers do not
// deadlock it, and nothing is left running.
func TestReviewChunkStalledForever(t *testing.T) {
	const size = 9 << 20
	const victim = 4 << 20
	f, desc, _ := forgedChunkServer(t, size, func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
		if first < victim || first > victim+chunkMax {
			return false
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(b)))
		w.Header().Set("Content-Length", strconv.FormatInt(last-first+1, 10))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(b[first : first+100])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return true
	})
	c := reviewClient(t)
	start := time.Now()
	_, err := readAllBounded(t, c, f.ref(t, "v1"), desc)
	if !errors.Is(err, ErrStalled) {
		t.Errorf("err = %v, want ErrStalled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("a stalled chunk took %v to fail", d)
	}
	time.Sleep(50 * time.Millisecond)
	if n := countChunkGoroutines(); n != 0 {
		t.Errorf("%d chunk goroutines left", n)
	}
}

// A storm of 429s and 503s on every chunk: the requests made stay within
// the retry policy's bounds (per connection), and the read fails.
func TestReviewChunk429Storm(t *testing.T) {
	const size = 64 << 20
	var requests atomic.Int64
	f, desc, _ := forgedChunkServer(t, size, func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
		if first == 0 {
			return false
		}
		requests.Add(1)
		w.Header().Set("Retry-After", "1")
		if requests.Load()%2 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		} else {
			w.WriteHeader(http.StatusTooManyRequests)
		}
		return true
	})
	c := reviewClient(t)
	_, err := readAllBounded(t, c, f.ref(t, "v1"), desc)
	if err == nil {
		t.Fatal("read a blob whose chunks all failed")
	}
	// Each connection: Attempts fills, each of Attempts transport tries.
	limit := int64(DefaultBlobConnections * 2 * c.retry.Attempts * c.retry.Attempts)
	if n := requests.Load(); n > limit {
		t.Errorf("%d requests in the storm, want at most %d", n, limit)
	}
	t.Logf("%d requests, err = %v", requests.Load(), err)
}

// A server that cuts every chunk request after a little progress: each
// cut is a new request. One stream gives up after 4×Attempts tries for
// the whole blob; the chunks must not multiply that budget by the number
// of chunks (a 1 GiB blob has 512).
func TestReviewChunkResumeBudgetIsPerBlob(t *testing.T) {
	const size = 16 << 20
	var requests atomic.Int64
	f, desc, _ := forgedChunkServer(t, size, func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
		requests.Add(1)
		end := min(last+1, first+256<<10)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(b)))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(b[first:end])
		return true // cut: the rest is never sent
	})
	c := reviewClient(t)
	_, err := readAllBounded(t, c, f.ref(t, "v1"), desc)
	_, resumes := c.Counters()
	limit := int64(4*c.retry.Attempts) * int64(DefaultBlobConnections)
	t.Logf("%d requests, %d resumes, err = %v", requests.Load(), resumes, err)
	if resumes > limit {
		t.Errorf("%d resumes for one blob, want at most %d (4×Attempts per connection)", resumes, limit)
	}
}

// A chunk redirected to a cloud metadata address, or to a host that
// resolves to one, is refused before any dial, as a whole blob's redirect
// is.
func TestReviewChunkRedirectGuarded(t *testing.T) {
	for _, target := range []string{"http://169.254.169.254/latest/meta-data/", "http://metadata.test/x", "http://[fe80::1]/x"} {
		t.Run(target, func(t *testing.T) {
			const size = 9 << 20
			var redirected atomic.Int64
			f, desc, _ := forgedChunkServer(t, size, func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
				if first < 4<<20 {
					return false
				}
				redirected.Add(1)
				http.Redirect(w, r, target, http.StatusTemporaryRedirect)
				return true
			})
			c := reviewClient(t)
			fakeNet(t, c, map[string]string{"metadata.test": "169.254.169.254"})
			_, err := readAllBounded(t, c, f.ref(t, "v1"), desc)
			if !errors.Is(err, ErrRefusedAddress) {
				t.Errorf("err = %v, want ErrRefusedAddress", err)
			}
			if redirected.Load() == 0 {
				t.Error("no chunk was redirected: the test proves nothing")
			}
		})
	}
}

// A chunk may go to a CDN on another (public) host; the registry's
// Authorization is not sent there.
func TestReviewChunkRedirectToCDN(t *testing.T) {
	const size = 9 << 20
	var leaked atomic.Int64
	var cdnHits atomic.Int64
	cdn := startFake(t, true) // its certificate names example.com
	var blob []byte
	cdn.before = func(w http.ResponseWriter, r *http.Request) bool {
		cdnHits.Add(1)
		if r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		m := reviewRange.FindStringSubmatch(r.Header.Get("Range"))
		if m == nil {
			http.Error(w, "no range", 400)
			return true
		}
		first, _ := strconv.ParseInt(m[1], 10, 64)
		last, _ := strconv.ParseInt(m[2], 10, 64)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(blob)))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(blob[first : last+1])
		return true
	}
	f, desc, b := forgedChunkServer(t, size, func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
		if first == 0 {
			return false
		}
		http.Redirect(w, r, "https://example.com:"+port(cdn.Server)+"/blob", http.StatusTemporaryRedirect)
		return true
	})
	blob = b
	c, err := NewClient(Options{NoDockerConfig: true, Username: "u", Password: "p", StallTimeout: time.Second, CAFile: caFileFor(t, cdn.Server),
		Retry: RetryPolicy{Attempts: 2, Backoff: 10 * time.Millisecond, MaxWait: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	fakeNet(t, c, map[string]string{"example.com": "203.0.113.7"})
	f.before = wrapBasicAuth(f.before)
	got, err := readAllBounded(t, c, f.ref(t, "v1"), desc)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("read through a CDN: %d bytes, %v", len(got), err)
	}
	if cdnHits.Load() == 0 {
		t.Fatal("no chunk went to the CDN")
	}
	if leaked.Load() != 0 {
		t.Errorf("%d chunk requests carried the registry's Authorization to the CDN", leaked.Load())
	}
}

// wrapBasicAuth makes the registry demand basic credentials.
func wrapBasicAuth(next func(w http.ResponseWriter, r *http.Request) bool) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if _, _, ok := r.BasicAuth(); !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		return next(w, r)
	}
}

// A token that expires midway (a 401 on one chunk): that connection gets
// a new token and the blob arrives whole.
func TestReviewChunkTokenExpiresMidway(t *testing.T) {
	const size = 9 << 20
	var issued atomic.Int64
	ts := httptestToken(t, &issued)
	f, desc, want := forgedChunkServer(t, size, nil)
	honest := f.before
	f.before = func(w http.ResponseWriter, r *http.Request) bool {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		m := reviewRange.FindStringSubmatch(r.Header.Get("Range"))
		// The first token is good for the probe only.
		expired := tok == "t1" && m != nil && m[1] != "0"
		if tok == "" || expired {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="fake",scope="repository:hostile/app:pull"`, ts.URL))
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		return honest(w, r)
	}
	c := reviewClient(t)
	got, err := readAllBounded(t, c, f.ref(t, "v1"), desc)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	if issued.Load() < 2 {
		t.Errorf("%d tokens issued: the expiry was not exercised", issued.Load())
	}
}

// httptestToken issues tokens t1, t2, … counting them.
func httptestToken(t *testing.T, issued *atomic.Int64) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"token":"t%d"}`, issued.Add(1))
	}))
	t.Cleanup(s.Close)
	return s
}

// Cancelling while the reader waits for a chunk whose server sends
// nothing ends the read at once, and leaves nothing running.
func TestReviewChunkCancelWhileWaiting(t *testing.T) {
	const size = 9 << 20
	f, desc, _ := forgedChunkServer(t, size, func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
		if first == 0 {
			return false
		}
		<-r.Context().Done() // headers never come
		return true
	})
	c, err := NewClient(Options{NoDockerConfig: true, StallTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc, err := c.Blob(ctx, f.ref(t, "v1"), desc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, rc, 2<<20); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := rc.Read(make([]byte, 10)); done <- err }()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the read waiting for a chunk did not end on cancel")
	}
	rc.Close()
	if n := countChunkGoroutines(); n != 0 {
		t.Errorf("%d chunk goroutines left", n)
	}
}

// A pull reads several blobs at once through one client (--jobs
// prefetches into the cache, up to 32, beside the layer being applied;
// without a cache, one blob is opened ahead). Each chunked blob holds
// 2×connections buffers of 2 MiB and that many connections, so the
// client's chunk memory and connections must be bounded over all its
// blobs, not per blob: 4 blobs at the default were 64 MiB of buffers
// (above the CLI's 52 MiB soft limit) and 16 connections; --jobs 32 with
// 8 connections, 1 GiB and 264.
func TestReviewChunkBuffersBoundedPerClient(t *testing.T) {
	const size = 9 << 20
	var inFlight, maxFlight atomic.Int64
	f, desc, want := forgedChunkServer(t, size, func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxFlight.Load()
			if n <= m || maxFlight.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(100 * time.Millisecond) // requests overlap
		return false
	})
	// Count the whole blob's requests too.
	honest := f.before
	f.before = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Range") == "" && strings.Contains(r.URL.Path, "/blobs/") {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				m := maxFlight.Load()
				if n <= m || maxFlight.CompareAndSwap(m, n) {
					break
				}
			}
		}
		return honest(w, r)
	}
	// A stall would resume a blob read as one stream with an open-ended
	// Range, which this server refuses: under -race, six blobs on two
	// cores can go quiet for longer than reviewClient's 300 ms.
	c, err := NewClient(Options{NoDockerConfig: true, StallTimeout: 10 * time.Second,
		Retry: RetryPolicy{Attempts: 3, Backoff: 10 * time.Millisecond, MaxWait: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	const blobs = 6
	errs := make(chan error, blobs)
	for range blobs {
		go func() {
			got, err := readAllBounded(t, c, f.ref(t, "v1"), desc)
			if err == nil && !bytes.Equal(got, want) {
				err = errors.New("wrong bytes")
			}
			errs <- err
		}()
	}
	for range blobs {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// Two blobs chunked at once (one applied, one ahead), the rest as one
	// stream each.
	limit := int64(2*DefaultBlobConnections + blobs - 2)
	if m := maxFlight.Load(); m > limit {
		t.Errorf("%d blob requests at once for %d blobs, want at most %d", m, blobs, limit)
	}
	if n := len(c.chunkTokens); n != 0 {
		t.Errorf("%d chunk buffers still counted as held", n)
	}
}
