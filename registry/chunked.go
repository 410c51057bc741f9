package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// DefaultBlobConnections is how many connections one large blob is
// fetched over at once by default. Links that cap each connection (a
// phone behind a CDN) are only filled by several; registries and CDNs
// take a handful from one client without complaint (Docker pulls three
// layers at once, containerd's parallel fetch defaults to a few
// connections per blob). Each chunk's request waits a round trip before
// its first byte, so a connection capped at a quarter of the link fills
// about 90% of its quarter over a phone's 80 ms: four left the benchmark's
// phone link 11% idle, five fill it (1.2x the link floor became 1.15x).
const DefaultBlobConnections = 5

// MaxBlobConnections bounds Options.BlobConnections.
const MaxBlobConnections = 8

// A blob larger than chunkMin is fetched in chunks of at most chunkMax
// bytes, each with a bounded Range "bytes=a-b": an open-ended range would
// have the server send the rest of the blob for every chunk
// (containerd#12476). Chunks shrink towards the blob's end, down to
// chunkTail, so that the connections finish together instead of the last
// large chunk crawling alone over one capped connection.
const (
	chunkMin  = 2 << 20
	chunkMax  = 2 << 20
	chunkTail = 512 << 10
	chunkStep = 256 << 10
)

// chunkBudget is how many chunk buffers a client whose blobs use conns
// connections each may have in use at once over all its blobs: 2×conns+2,
// 12 buffers (24 MiB) at the default. A pull reads several blobs at once
// (--jobs prefetches up to 32 into the cache; without a cache, the next
// layer's blob is opened ahead of the one applied); per blob only, each
// would take its own buffers and connections. One blob needs its 2×conns
// only while it still hands out chunks; once its last chunk is handed
// out it gives back each buffer as its chunk is read, and a blob opened
// ahead, started with the 2 left over, takes them as they come back. So
// the blob applied and the one ahead share the budget instead of each
// holding 2×conns: at 4 connections that was 16 buffers, 32 MiB, which
// with the rest of a pull kept the live heap near the CLI's 52 MiB soft
// limit and the collector running all the time. A blob that finds fewer
// than 2 left is fetched as one stream. Fewer than one connection (a
// library caller's negative Options.BlobConnections) counts as one: one
// stream, with no budget to size from it.
func chunkBudget(conns int) int { return 2*max(conns, 1) + 2 }

// takeChunkBuffers takes up to want of the client's chunk buffer tokens,
// without waiting, and returns how many it got.
func (c *Client) takeChunkBuffers(want int) int {
	for n := 0; n < want; n++ {
		select {
		case c.chunkTokens <- struct{}{}:
		default:
			return n
		}
	}
	return want
}

// giveChunkBuffers returns n tokens.
func (c *Client) giveChunkBuffers(n int) {
	for range n {
		<-c.chunkTokens
	}
}

// chunkSize is the next chunk when remaining bytes are left to hand out
// over conns connections: a share of what is left, so that each
// connection has about as much to do, in steps of chunkStep, between
// chunkTail (each request's latency stays small beside its transfer) and
// chunkMax (memory). A rest smaller than chunkTail joins the chunk.
func chunkSize(remaining int64, conns int) int64 {
	c := (remaining + int64(conns) - 1) / int64(conns)
	c = (c + chunkStep - 1) &^ (chunkStep - 1)
	c = min(max(c, chunkTail), chunkMax)
	if remaining-c < chunkTail {
		c = remaining
	}
	return min(c, remaining, chunkMax)
}

// chunkBufs keeps chunk buffers between blobs: a many-layer image reuses
// the same few instead of leaving garbage the size of each layer.
var chunkBufs = sync.Pool{New: func() any { b := make([]byte, chunkMax); return &b }}

// chunkBufsOut counts the buffers taken from chunkBufs and not yet put
// back, over every client, and chunkBufsPeak the most at once: tests
// check them against the budgets (a buffer put back twice or never shows).
var chunkBufsOut, chunkBufsPeak atomic.Int64

func getChunkBuf() *[]byte {
	n := chunkBufsOut.Add(1)
	for p := chunkBufsPeak.Load(); n > p && !chunkBufsPeak.CompareAndSwap(p, n); p = chunkBufsPeak.Load() {
	}
	return chunkBufs.Get().(*[]byte)
}

func putChunkBuf(b *[]byte) {
	chunkBufsOut.Add(-1)
	chunkBufs.Put(b)
}

// chunkedBlob reads one blob over up to conns connections at once: chunk
// i is fetched with a bounded Range into a buffer of its own, and the
// reader is handed the chunks in order, each as it fills (the head chunk
// is read while it arrives). Buffers are given out in chunk order, at
// most 2×conns at a time and within the client's budget over all its
// blobs (chunkBudget), so memory is bounded and the chunk the reader
// waits for always has one. A blob starts with what the budget has left
// (at least 2), takes more from it while it hands out chunks, up to
// 2×conns, and gives each back once it has no chunk left to hand out: a
// buffer then free is not needed again. Chunks in flight are bounded by
// the buffers held; the connections stay conns. A chunk cut or stalled
// midway is resumed from the byte it reached, with a Range bounded by its
// own end, under the client's retry policy.
//
// Read and Close are the reader's: Close must not run beside a Read.
type chunkedBlob struct {
	ctx    context.Context
	cancel context.CancelFunc
	open   func(ctx context.Context, first, last int64) (*http.Response, error)
	size   int64
	chunk  int64 // the first chunk's size
	conns  int
	stall  time.Duration
	policy RetryPolicy
	resume *atomic.Int64
	notify func(RetryEvent)
	// budget is the client's chunk buffer budget: one token in it per
	// buffer in use. take takes up to n tokens without waiting and
	// returns how many it got; give returns n. The dispatcher also sends
	// on budget itself to grow. A nil budget: no bound over blobs.
	budget chan struct{}
	take   func(n int) int
	give   func(n int)
	tries  atomic.Int64 // tries after the first, over all chunks

	order chan *chunkSlot // chunks in order, for the reader
	work  chan *chunkSlot // chunks to fetch, for the workers
	free  chan *[]byte    // buffers of cb's not in a chunk: the dispatcher's
	wg    sync.WaitGroup

	// mu guards the buffers' bookkeeping. Each buffer in bufs is, at any
	// time, in free, in a chunk (the workers' and then the reader's), or
	// being moved between them by their owner; one taken out of bufs is
	// back in chunkBufs and is no one's. tokens == len(bufs) once started.
	mu         sync.Mutex
	tokens     int       // taken from the budget
	maxTokens  int       // what the blob grows to: 2×conns, or its chunks if fewer
	bufs       []*[]byte // every buffer of cb's, taken from chunkBufs
	dispatched bool      // every chunk handed out: free buffers go back
	closed     bool      // Close gave every buffer and token back

	cur      *chunkSlot
	pos      int   // read of cur
	consumed int64 // read of the blob
	err      error
	once     sync.Once
}

// chunkSlot is one chunk: bytes [start, end) of the blob, fetched into
// buf[:filled].
type chunkSlot struct {
	start, end int64
	buf        *[]byte
	first      *http.Response     // the probe's answer, for chunk 0
	stop       context.CancelFunc // ends first's request

	mu     sync.Mutex
	cond   sync.Cond
	filled int
	done   bool
	err    error
}

func (s *chunkSlot) len() int { return int(s.end - s.start) }

// errRangeBroken: a server that honoured Range for the first chunk did
// not for a later one.
var errRangeBroken = errors.New("the server stopped honouring Range requests midway")

// startChunked probes the blob with its first chunk's Range. When the
// server does not honour it (a 200, a 416, a Content-Range or length
// that is not the one asked for) it returns no chunkedBlob: the caller
// fetches the blob as one stream, whose own checks judge the server. A
// 200 is that stream's first answer already: it is returned, with the
// function that ends its request, to be read rather than asked again.
func startChunked(ctx context.Context, cb *chunkedBlob, conns int) (*chunkedBlob, *http.Response, context.CancelFunc, error) {
	// The probe's connection starts first: its chunk is at least chunkMin.
	cb.chunk = min(max(chunkSize(cb.size, conns), chunkMin), cb.size)
	// A connection for every chunk up to conns; buffers for twice as many
	// chunks, fewer for a blob of few chunks.
	chunks := 1
	for off := cb.chunk; off < cb.size && chunks < 2*conns; chunks++ {
		off += chunkSize(cb.size-off, conns)
	}
	n := min(chunks, conns)
	// Twice as many buffers as connections: a connection whose chunk is
	// done goes on with the next while the reader still waits for an
	// earlier chunk (head of line), instead of idling until it is read.
	// The client's other blobs may hold most of its budget: the blob
	// starts with what is left and grows as they give theirs back; with
	// fewer than two buffers left, one stream.
	cb.maxTokens = min(2*n, chunks)
	nbuf := cb.maxTokens
	if cb.take != nil {
		nbuf = cb.take(nbuf)
		cb.tokens = nbuf
		if nbuf < 2 {
			cb.giveBack()
			return nil, nil, nil, nil
		}
	}
	conns = n
	cb.ctx, cb.cancel = context.WithCancel(ctx)
	pctx, pcancel := context.WithCancel(cb.ctx)
	resp, err := cb.open(pctx, 0, cb.chunk-1)
	if err != nil {
		pcancel()
		cb.cancel()
		cb.giveBack()
		var he *HTTPError
		if errors.As(err, &he) && he.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			return nil, nil, nil, nil
		}
		return nil, nil, nil, err
	}
	if checkChunk(resp, 0, cb.chunk, cb.size) != nil {
		cb.giveBack()
		if resp.StatusCode == http.StatusOK {
			return nil, resp, func() { pcancel(); cb.cancel() }, nil
		}
		resp.Body.Close()
		pcancel()
		cb.cancel()
		return nil, nil, nil, nil
	}
	cb.conns = conns
	// No more slots than the blob may hold buffers, so each channel has
	// room.
	cb.free = make(chan *[]byte, cb.maxTokens)
	cb.order = make(chan *chunkSlot, cb.maxTokens)
	cb.work = make(chan *chunkSlot, cb.maxTokens)
	cb.tokens = nbuf
	for range nbuf {
		b := getChunkBuf()
		cb.bufs = append(cb.bufs, b)
		cb.free <- b
	}
	cb.wg.Add(1 + conns)
	go cb.dispatch(resp, pcancel)
	for range conns {
		go func() {
			defer cb.wg.Done()
			for s := range cb.work {
				cb.fetch(s)
			}
		}()
	}
	return cb, nil, nil, nil
}

// giveBack returns cb's tokens to the client's budget (before the blob
// starts, or with mu held).
func (cb *chunkedBlob) giveBack() {
	if cb.give != nil && cb.tokens > 0 {
		cb.give(cb.tokens)
	}
	cb.tokens = 0
}

// nextBuf waits for a buffer for the next chunk: one of cb's own that is
// free, or, while cb holds fewer than maxTokens, a new one for a token
// the client's other blobs gave back. It returns nil once cb.ctx is done.
func (cb *chunkedBlob) nextBuf() *[]byte {
	select {
	case buf := <-cb.free:
		return buf
	default:
	}
	var grow chan struct{} // nil: never ready
	cb.mu.Lock()
	if cb.tokens < cb.maxTokens {
		grow = cb.budget
	}
	cb.mu.Unlock()
	select {
	case buf := <-cb.free:
		return buf
	case grow <- struct{}{}:
		buf := getChunkBuf()
		cb.mu.Lock()
		cb.tokens++
		cb.bufs = append(cb.bufs, buf)
		cb.mu.Unlock()
		return buf
	case <-cb.ctx.Done():
		return nil
	}
}

// recycle takes back the buffer of a chunk the reader is done with: to
// free while chunks are still handed out, else to chunkBufs, with its
// token to the budget.
func (cb *chunkedBlob) recycle(buf *[]byte) {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	switch {
	case cb.closed: // Close put every buffer back already
	case cb.dispatched:
		cb.release(buf)
	default:
		cb.free <- buf // room: the channel holds all cb may have
	}
}

// dispatchDone marks every chunk handed out and gives back the buffers
// free: none is needed again.
func (cb *chunkedBlob) dispatchDone() {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	cb.dispatched = true
	for {
		select {
		case buf := <-cb.free:
			cb.release(buf)
		default:
			return
		}
	}
}

// release puts buf, one of cb's, back in chunkBufs and gives its token
// back (mu held). A buffer cb no longer holds is left alone: putting it
// back twice would let two blobs share it.
func (cb *chunkedBlob) release(buf *[]byte) {
	i := slices.Index(cb.bufs, buf)
	if i < 0 {
		return
	}
	cb.bufs = slices.Delete(cb.bufs, i, i+1)
	putChunkBuf(buf)
	cb.tokens--
	if cb.give != nil {
		cb.give(1)
	}
}

// checkChunk checks resp is exactly bytes [first, end) of a blob of size.
func checkChunk(resp *http.Response, first, end, size int64) error {
	if resp.StatusCode != http.StatusPartialContent {
		return fmt.Errorf("%w: asked for bytes %d-%d, got %s", errRangeBroken, first, end-1, safetext.Cut(resp.Status, 80))
	}
	want := fmt.Sprintf("bytes %d-%d/%d", first, end-1, size)
	if cr := resp.Header.Get("Content-Range"); cr != want {
		return fmt.Errorf("%w: asked for %q, got Content-Range %q", errRangeBroken, want, safetext.Cut(cr, 80))
	}
	if resp.ContentLength >= 0 && resp.ContentLength != end-first {
		return fmt.Errorf("%w: %d bytes for a range of %d", errRangeBroken, resp.ContentLength, end-first)
	}
	return nil
}

// dispatch hands out chunks in order, each with a buffer of cb's that is
// free or newly taken within the budget; once the last is handed out, the
// buffers left free go back.
func (cb *chunkedBlob) dispatch(first *http.Response, stop context.CancelFunc) {
	defer cb.wg.Done()
	defer close(cb.order)
	defer close(cb.work)
	for off := int64(0); off < cb.size; {
		buf := cb.nextBuf()
		if buf == nil {
			if first != nil {
				first.Body.Close()
				stop()
			}
			return
		}
		n := cb.chunk // the probe's
		if off > 0 {
			n = chunkSize(cb.size-off, cb.conns)
		}
		s := &chunkSlot{start: off, end: off + n, buf: buf, first: first, stop: stop}
		s.cond.L = &s.mu
		first, stop = nil, nil
		off += n
		// Both have room: no more slots than buffers exist at once.
		cb.work <- s
		cb.order <- s
	}
	cb.dispatchDone()
}

// fetch fills s, resuming after cuts and stalls.
func (cb *chunkedBlob) fetch(s *chunkSlot) {
	resp, stop := s.first, s.stop
	s.first, s.stop = nil, nil
	failures, tries := 0, 0
	for {
		progressed, err := cb.fill(s, resp, stop)
		resp, stop = nil, nil
		if err == nil {
			s.finish(nil)
			return
		}
		if cb.ctx.Err() != nil {
			s.finish(cb.ctx.Err())
			return
		}
		if progressed {
			failures = 0
		}
		failures++
		tries++
		off := s.start + int64(s.filled)
		// The whole blob's tries are bounded too, as one stream's are:
		// per chunk only, a server that cuts every chunk after a little
		// progress would get tries in proportion to the blob's size.
		all := cb.tries.Add(1)
		if errors.Is(err, errRangeBroken) || errors.Is(err, ErrRefusedAddress) ||
			failures >= cb.policy.Attempts || tries >= 4*cb.policy.Attempts ||
			all >= int64(4*cb.policy.Attempts*cb.conns) {
			s.finish(fmt.Errorf("after %d bytes: %w", off, err))
			return
		}
		if cb.resume != nil {
			cb.resume.Add(1)
		}
		wait := min(cb.policy.Backoff<<(failures-1), cb.policy.MaxWait)
		if cb.notify != nil {
			cb.notify(RetryEvent{Attempt: failures + 1, Wait: wait, Reason: fmt.Sprintf("blob transfer cut at byte %d (%v): resuming", off, err)})
		}
		if sleep(cb.ctx, wait) != nil {
			s.finish(cb.ctx.Err())
			return
		}
	}
}

// fill reads the rest of s from resp (the probe's answer, whose context
// is stop), or from a new request for it. Only waits for the network are
// timed: the buffer is the chunk's own, so a slow reader never holds a
// transfer up.
func (cb *chunkedBlob) fill(s *chunkSlot, resp *http.Response, stop context.CancelFunc) (progressed bool, err error) {
	off := s.start + int64(s.filled)
	ctx, cancel := context.WithCancel(cb.ctx)
	defer cancel()
	if resp == nil {
		// Waiting for headers is bounded by the transport and the retry
		// policy; the watchdog times the body.
		resp, err = cb.open(ctx, off, s.end-1)
		if err != nil {
			return false, err
		}
		if err := checkChunk(resp, off, s.end, cb.size); err != nil {
			resp.Body.Close()
			return false, err
		}
	} else {
		defer stop()
	}
	defer resp.Body.Close()
	var stalled atomic.Bool
	if cb.stall > 0 {
		watchdog := time.AfterFunc(cb.stall, func() {
			stalled.Store(true)
			cancel()
			if stop != nil {
				stop()
			}
		})
		defer watchdog.Stop()
		resp.Body = progressBody{resp.Body, func() { watchdog.Reset(cb.stall) }}
	}
	buf := (*s.buf)[:s.len()]
	for s.filled < len(buf) {
		n, rerr := resp.Body.Read(buf[s.filled:])
		if n > 0 {
			progressed = true
			s.mu.Lock()
			s.filled += n
			s.cond.Broadcast()
			s.mu.Unlock()
		}
		if s.filled < len(buf) && rerr != nil {
			if stalled.Load() {
				return progressed, ErrStalled
			}
			if rerr == io.EOF {
				rerr = io.ErrUnexpectedEOF
			}
			return progressed, rerr
		}
	}
	return progressed, nil
}

// progressBody calls kick after every read that returned bytes.
type progressBody struct {
	io.ReadCloser
	kick func()
}

func (p progressBody) Read(b []byte) (int, error) {
	n, err := p.ReadCloser.Read(b)
	if n > 0 {
		p.kick()
	}
	return n, err
}

func (s *chunkSlot) finish(err error) {
	s.mu.Lock()
	s.done, s.err = true, err
	s.cond.Broadcast()
	s.mu.Unlock()
}

// errBlobClosed: a read after Close, or after the chunks stopped coming.
var errBlobClosed = errors.New("blob reader closed")

// Read returns the blob's bytes in order.
func (cb *chunkedBlob) Read(p []byte) (int, error) {
	for {
		if cb.err != nil {
			return 0, cb.err
		}
		if cb.cur == nil {
			s, ok := <-cb.order
			if !ok {
				if cb.consumed == cb.size {
					cb.err = io.EOF
				} else if cb.err = cb.ctx.Err(); cb.err == nil {
					cb.err = errBlobClosed
				}
				continue
			}
			cb.cur, cb.pos = s, 0
		}
		s := cb.cur
		s.mu.Lock()
		for s.filled == cb.pos && !s.done {
			s.cond.Wait()
		}
		filled, err := s.filled, s.err
		s.mu.Unlock()
		if filled > cb.pos {
			n := copy(p, (*s.buf)[cb.pos:filled])
			cb.pos += n
			cb.consumed += int64(n)
			if cb.pos == s.len() {
				cb.cur = nil
				cb.recycle(s.buf)
			}
			return n, nil
		}
		if err != nil {
			cb.err = err
			return 0, err
		}
		// done, and every byte read
		cb.cur = nil
		cb.recycle(s.buf)
	}
}

// Close stops every transfer, waits for them, and gives back every
// buffer cb still holds, with its token. A Read after it fails.
func (cb *chunkedBlob) Close() error {
	cb.once.Do(func() {
		cb.cancel()
		cb.wg.Wait()
		cb.mu.Lock()
		defer cb.mu.Unlock()
		for _, b := range cb.bufs {
			putChunkBuf(b)
		}
		cb.bufs = nil
		cb.giveBack()
		cb.closed = true
		// The chunk being read has no buffer of its own any more.
		cb.cur, cb.err = nil, errBlobClosed
	})
	return nil
}
