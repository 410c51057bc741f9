package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The chunk buffer budget shared by a client's blobs: a blob gives its
// buffers back as soon as it has no chunk left to hand out, a blob started
// short grows back as they return, and the budget ends whole.

// budgetState is what a chunked blob holds, read under its lock, and
// the tokens its client counts taken (under the same lock: the blob gives
// tokens back holding it).
type budgetState struct {
	tokens, bufs, max, client int
	dispatched                bool
}

func heldBy(cb *chunkedBlob) budgetState {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	return budgetState{tokens: cb.tokens, bufs: len(cb.bufs), max: cb.maxTokens, client: len(cb.budget), dispatched: cb.dispatched}
}

// openChunked opens desc through c and returns its reader and the chunked
// blob under it, failing the test if the blob is not chunked.
func openChunked(ctx context.Context, t *testing.T, c *Client, ref Reference, desc ocispec.Descriptor) (io.ReadCloser, *chunkedBlob) {
	t.Helper()
	rc, err := c.Blob(ctx, ref, desc)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := rc.(*Verifier)
	if !ok {
		rc.Close()
		t.Fatalf("Blob returned a %T, want a *Verifier", rc)
	}
	cb, ok := v.r.(*chunkedBlob)
	if !ok {
		rc.Close()
		t.Fatalf("the blob is read through a %T, not chunked: the test proves nothing", v.r)
	}
	return rc, cb
}

// budgetWhole checks that c holds no chunk buffer token, that no buffer
// is out of chunkBufs beyond base, and that no chunk goroutine is left.
func budgetWhole(t *testing.T, c *Client, base int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for countChunkGoroutines() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := countChunkGoroutines(); n != 0 {
		t.Errorf("%d chunk goroutines left", n)
	}
	if n := len(c.chunkTokens); n != 0 {
		t.Errorf("%d of the client's %d chunk buffer tokens still taken", n, cap(c.chunkTokens))
	}
	if n := chunkBufsOut.Load() - base; n != 0 {
		t.Errorf("%+d chunk buffers out of the pool after every blob closed (0: none leaked or put twice)", n)
	}
}

// readIn reads rc to its end in pieces of n bytes, calling each after
// every read that returned bytes.
func readIn(rc io.Reader, n int, each func()) ([]byte, error) {
	var got bytes.Buffer
	p := make([]byte, n)
	for {
		k, err := rc.Read(p)
		got.Write(p[:k])
		if k > 0 && each != nil {
			each()
		}
		if err == io.EOF {
			return got.Bytes(), nil
		}
		if err != nil {
			return got.Bytes(), err
		}
	}
}

// The budget is whole again however a blob ends: read and closed, closed
// midway, cancelled midway, or failed on a chunk.
func TestChunkBudgetWholeAfterClose(t *testing.T) {
	const size = 9<<20 + 12345
	const victim = 6 << 20
	const (
		honest = iota
		refuse // chunks past victim are refused: the read fails
		hang   // chunks past victim never come: only a cancel ends the read
	)
	tests := []struct {
		name  string
		fault int
		shape func(t *testing.T, rc io.ReadCloser, cancel context.CancelFunc, want []byte)
	}{
		{"read to its end", honest, func(t *testing.T, rc io.ReadCloser, _ context.CancelFunc, want []byte) {
			got, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%d bytes, %v", len(got), err)
			}
		}},
		{"closed midway", hang, func(t *testing.T, rc io.ReadCloser, _ context.CancelFunc, _ []byte) {
			if _, err := io.CopyN(io.Discard, rc, 3<<20); err != nil {
				t.Fatal(err)
			}
		}},
		{"cancelled midway", hang, func(t *testing.T, rc io.ReadCloser, cancel context.CancelFunc, _ []byte) {
			if _, err := io.CopyN(io.Discard, rc, 3<<20); err != nil {
				t.Fatal(err)
			}
			cancel()
			if _, err := io.Copy(io.Discard, rc); !errors.Is(err, context.Canceled) {
				t.Errorf("read after cancel: %v, want context.Canceled", err)
			}
		}},
		{"cancelled at once", hang, func(t *testing.T, rc io.ReadCloser, cancel context.CancelFunc, _ []byte) {
			cancel()
		}},
		{"a chunk refused", refuse, func(t *testing.T, rc io.ReadCloser, _ context.CancelFunc, _ []byte) {
			if _, err := io.Copy(io.Discard, rc); err == nil {
				t.Error("read a blob whose chunk was refused")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := chunkBufsOut.Load()
			f, desc, want := forgedChunkServer(t, size, func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
				if tt.fault == honest || first < victim {
					return false
				}
				if tt.fault == hang {
					<-r.Context().Done()
					return true
				}
				w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(b)))
				w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
				return true
			})
			c := reviewClient(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			rc, cb := openChunked(ctx, t, c, f.ref(t, "v1"), desc)
			if st := heldBy(cb); st.tokens < 2 || st.tokens != st.bufs {
				t.Errorf("started with %d tokens and %d buffers", st.tokens, st.bufs)
			}
			tt.shape(t, rc, cancel, want)
			if err := rc.Close(); err != nil {
				t.Error(err)
			}
			rc.Close() // twice: nothing given back twice
			if _, err := cb.Read(make([]byte, 10)); err == nil {
				t.Error("a read after Close did not fail")
			}
			budgetWhole(t, c, base)
		})
	}
}

// Once a blob has handed out its last chunk, each buffer goes back to the
// budget as its chunk is read: the tokens held fall to none before Close,
// and never exceed the chunks not yet read.
func TestChunkBudgetReleasedAsRead(t *testing.T) {
	const size = 24<<20 + 4321
	base := chunkBufsOut.Load()
	f, desc, want := forgedChunkServer(t, size, nil)
	c := reviewClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rc, cb := openChunked(ctx, t, c, f.ref(t, "v1"), desc)
	defer rc.Close()
	// The chunks' ends, as the dispatcher plans them.
	var ends []int64
	for off := int64(0); off < cb.size; {
		n := cb.chunk
		if off > 0 {
			n = chunkSize(cb.size-off, cb.conns)
		}
		off += n
		ends = append(ends, off)
	}
	if len(ends) <= heldBy(cb).max {
		t.Fatalf("%d chunks for %d buffers: the blob is handed out at once, the test proves nothing", len(ends), heldBy(cb).max)
	}
	prev, falls, sawDispatched := -1, 0, false
	got, err := readIn(rc, 64<<10, func() {
		st := heldBy(cb)
		if st.tokens != st.bufs {
			t.Fatalf("%d tokens for %d buffers", st.tokens, st.bufs)
		}
		if st.client != st.tokens {
			t.Fatalf("the client counts %d tokens taken, its only blob holds %d", st.client, st.tokens)
		}
		if !st.dispatched {
			return
		}
		sawDispatched = true
		unread := 0
		for _, e := range ends {
			if e > cb.consumed {
				unread++
			}
		}
		if st.tokens > unread {
			t.Fatalf("every chunk handed out, %d unread, and %d buffers still held", unread, st.tokens)
		}
		if prev >= 0 && st.tokens > prev {
			t.Fatalf("the tokens held rose from %d to %d after every chunk was handed out", prev, st.tokens)
		}
		if prev >= 0 && st.tokens < prev {
			falls++
		}
		prev = st.tokens
	})
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	if !sawDispatched {
		t.Fatal("never saw the dispatch done")
	}
	if st := heldBy(cb); st.tokens != 0 || st.bufs != 0 || len(c.chunkTokens) != 0 {
		t.Errorf("read to its end, before Close: %d tokens, %d buffers held, %d counted by the client; want none", st.tokens, st.bufs, len(c.chunkTokens))
	}
	if falls < 2 {
		t.Errorf("the tokens held fell %d times as the last chunks were read, want one fall per chunk", falls)
	}
	rc.Close()
	budgetWhole(t, c, base)
}

// A blob opened while another holds most of the budget starts with what
// is left, progresses on it alone, and grows back to its full count as
// the other gives its buffers back; both blobs arrive whole.
func TestChunkBudgetGrows(t *testing.T) {
	const size = 24<<20 + 4321
	for _, order := range []string{"A finished first", "B read alone first"} {
		t.Run(order, func(t *testing.T) {
			base := chunkBufsOut.Load()
			f, desc, want := forgedChunkServer(t, size, nil)
			c := reviewClient(t)
			budget := cap(c.chunkTokens)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			ref := f.ref(t, "v1")
			a, cbA := openChunked(ctx, t, c, ref, desc)
			defer a.Close()
			if _, err := io.CopyN(io.Discard, a, 1<<20); err != nil {
				t.Fatal(err)
			}
			stA := heldBy(cbA)
			if stA.dispatched || stA.tokens != stA.max {
				t.Fatalf("A: %+v, want every buffer held and chunks left to hand out", stA)
			}
			b, cbB := openChunked(ctx, t, c, ref, desc)
			defer b.Close()
			stB := heldBy(cbB)
			if stB.tokens != budget-stA.tokens || stB.tokens >= stB.max {
				t.Fatalf("B started with %d of %d tokens, A holding %d of the budget's %d: want the rest", stB.tokens, stB.max, stA.tokens, budget)
			}
			if order == "B read alone first" {
				got, err := io.ReadAll(b)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("B alone: %d bytes, %v", len(got), err)
				}
				if st := heldBy(cbA); st.tokens != stA.tokens {
					t.Errorf("A's tokens went from %d to %d while it was not read", stA.tokens, st.tokens)
				}
				got, err = io.ReadAll(a)
				if err != nil || !bytes.Equal(got, want[1<<20:]) {
					t.Fatalf("A: %d bytes, %v", len(got), err)
				}
				a.Close()
				b.Close()
				budgetWhole(t, c, base)
				return
			}
			got, err := io.ReadAll(a)
			if err != nil || !bytes.Equal(got, want[1<<20:]) {
				t.Fatalf("A: %d bytes, %v", len(got), err)
			}
			a.Close()
			// B, not read yet, takes the tokens A gave back.
			deadline := time.Now().Add(10 * time.Second)
			for heldBy(cbB).tokens < stB.max && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if st := heldBy(cbB); st.tokens != st.max || st.bufs != st.max {
				t.Fatalf("B holds %d tokens and %d buffers after A closed, want its full %d", st.tokens, st.bufs, st.max)
			}
			if n := len(cbB.order); n <= stB.tokens {
				t.Errorf("%d of B's chunks handed out, no more than it started with (%d)", n, stB.tokens)
			}
			got, err = io.ReadAll(b)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("B: %d bytes, %v", len(got), err)
			}
			b.Close()
			budgetWhole(t, c, base)
		})
	}
}

// Several blobs at once through one client, read, closed midway or
// cancelled: the buffers out of the pool never exceed the client's budget,
// and it ends whole.
func TestChunkBudgetNeverExceeded(t *testing.T) {
	const size = 13<<20 + 999
	for _, conns := range []int{DefaultBlobConnections, MaxBlobConnections} {
		t.Run(strconv.Itoa(conns), func(t *testing.T) {
			f, desc, want := forgedChunkServer(t, size, func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
				time.Sleep(20 * time.Millisecond) // blobs overlap
				return false
			})
			c, err := NewClient(Options{NoDockerConfig: true, StallTimeout: 2 * time.Second, BlobConnections: conns,
				Retry: RetryPolicy{Attempts: 3, Backoff: 10 * time.Millisecond, MaxWait: 50 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			budget := int64(cap(c.chunkTokens))
			var mu sync.Mutex
			oneBlob := 0 // the most one blob may hold
			base := chunkBufsOut.Load()
			chunkBufsPeak.Store(base)
			ref := f.ref(t, "v1")
			const blobs = 8
			var wg sync.WaitGroup
			errs := make(chan error, blobs)
			for i := range blobs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					// Stagger the starts: some find the budget taken,
					// some find it given back.
					time.Sleep(time.Duration(i%4) * 30 * time.Millisecond)
					rc, err := c.Blob(ctx, ref, desc)
					if err != nil {
						errs <- err
						return
					}
					defer rc.Close()
					if cb, ok := rc.(*Verifier).r.(*chunkedBlob); ok {
						mu.Lock()
						oneBlob = max(oneBlob, heldBy(cb).max)
						mu.Unlock()
					}
					switch i % 4 {
					case 0, 1:
						got, err := io.ReadAll(rc)
						if err == nil && !bytes.Equal(got, want) {
							err = errors.New("wrong bytes")
						}
						errs <- err
					case 2:
						_, err := io.CopyN(io.Discard, rc, 5<<20)
						errs <- err
					case 3:
						if _, err := io.CopyN(io.Discard, rc, 3<<20); err != nil {
							errs <- err
							return
						}
						cancel()
						if _, err := io.Copy(io.Discard, rc); !errors.Is(err, context.Canceled) {
							errs <- fmt.Errorf("after cancel: %v", err)
							return
						}
						errs <- nil
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			peak := chunkBufsPeak.Load() - base
			t.Logf("at most %d chunk buffers out at once, budget %d", peak, budget)
			if peak > budget {
				t.Errorf("%d chunk buffers out at once, over the client's budget of %d", peak, budget)
			}
			if peak <= int64(oneBlob) {
				t.Errorf("at most %d buffers out at once, one blob's %d: no two blobs shared the budget, the test proves little", peak, oneBlob)
			}
			budgetWhole(t, c, base)
		})
	}
}

// At the default connections the budget stays within 24 MiB (the blob
// applied and the one ahead together), and it scales with more.
func TestChunkBudgetSize(t *testing.T) {
	for _, conns := range []int{0, 2, DefaultBlobConnections, MaxBlobConnections} {
		c, err := NewClient(Options{NoDockerConfig: true, BlobConnections: conns})
		if err != nil {
			t.Fatal(err)
		}
		n := conns
		if n == 0 {
			n = DefaultBlobConnections
		}
		got := cap(c.chunkTokens)
		if got < 2*n {
			t.Errorf("%d connections: a budget of %d buffers, less than one blob's %d", conns, got, 2*n)
		}
		if n == DefaultBlobConnections && got*chunkMax > 24<<20 {
			t.Errorf("the default budget is %d MiB, want at most 24", got*chunkMax>>20)
		}
	}
}
