package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A negative BlobConnections (the library's callers, not the CLI, which
// checks its flag) means one stream, as 0 or 1 would mean fewer
// connections: it must not panic in NewClient sizing the chunk budget.
func TestReview18NegativeBlobConnections(t *testing.T) {
	for _, n := range []int{-1, -2, -100} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("NewClient(BlobConnections: %d) panicked: %v", n, r)
				}
			}()
			c, err := NewClient(Options{NoDockerConfig: true, BlobConnections: n})
			if err != nil {
				return // refusing it is fine too
			}
			if got := c.blobConns(context.Background()); got > 1 {
				t.Errorf("BlobConnections %d: %d connections per blob", n, got)
			}
		})
	}
}

// Many blobs at once through one client, over servers that cut, stall,
// forge or refuse chunks at random, read whole, closed midway, cancelled
// midway or never read: no read hangs, a read that ends without error
// has the blob's bytes, the buffers out never exceed the budget, and the
// budget, the pool and the goroutines end whole.
func TestReview18ChunkBudgetHostileStress(t *testing.T) {
	if testing.Short() {
		t.Skip("stress")
	}
	var rmu sync.Mutex
	rng := rand.New(rand.NewSource(18))
	pick := func(n int) int {
		rmu.Lock()
		defer rmu.Unlock()
		return rng.Intn(n)
	}
	forge := func(w http.ResponseWriter, r *http.Request, b []byte, first, last int64) bool {
		last = min(last, int64(len(b))-1)
		switch pick(12) {
		case 0: // cut midway
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(b)))
			w.Header().Set("Content-Length", strconv.FormatInt(last-first+1, 10))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(b[first : first+(last-first+1)/3])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case 1: // the whole blob instead of a range
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.Write(b)
			return true
		case 2: // a range of other bytes, announced as asked
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(b)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(bytes.Repeat([]byte{0x5a}, int(last-first+1)))
			return true
		case 3: // a stall past the client's stall timeout
			select {
			case <-time.After(400 * time.Millisecond):
			case <-r.Context().Done():
				return true
			}
			return false
		case 4:
			time.Sleep(time.Duration(pick(30)) * time.Millisecond)
			return false
		}
		return false
	}
	type blob struct {
		ref  Reference
		desc ocispec.Descriptor
		want []byte
	}
	var blobs []blob
	for _, size := range []int{3<<20 + 17, 9<<20 + 12345, 17<<20 + 1} {
		f, desc, want := forgedChunkServer(t, size, forge)
		blobs = append(blobs, blob{f.ref(t, "v1"), desc, want})
	}
	c := reviewClient(t)
	budget := int64(cap(c.chunkTokens))
	base := chunkBufsOut.Load()
	chunkBufsPeak.Store(base)

	const workers, rounds = 6, 4
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range rounds {
				b := blobs[pick(len(blobs))]
				ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
				rc, err := c.Blob(ctx, b.ref, b.desc)
				if err != nil {
					cancel()
					continue // a forged probe may fail the open: fine
				}
				switch (w + round) % 4 {
				case 0, 1:
					got, err := io.ReadAll(rc)
					if err == nil && !bytes.Equal(got, b.want) {
						errs <- fmt.Errorf("blob of %d: read %d bytes without error, not the blob's", len(b.want), len(got))
					}
					if ctx.Err() != nil {
						errs <- fmt.Errorf("blob of %d: the read took until its deadline", len(b.want))
					}
				case 2:
					io.CopyN(io.Discard, rc, int64(pick(len(b.want))))
				case 3:
					io.CopyN(io.Discard, rc, int64(pick(len(b.want))))
					cancel()
					io.Copy(io.Discard, rc)
				}
				if pick(3) == 0 {
					time.Sleep(time.Duration(pick(50)) * time.Millisecond) // held open, unread
				}
				rc.Close()
				cancel()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("the blobs hung:\n%s", buf[:runtime.Stack(buf, true)])
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if peak := chunkBufsPeak.Load() - base; peak > budget {
		t.Errorf("%d chunk buffers out at once, over the client's budget of %d", peak, budget)
	}
	budgetWhole(t, c, base)
}
