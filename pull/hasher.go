package pull

import (
	"hash"

	"github.com/opencontainers/go-digest"
)

// asyncHasher hashes what is written to it on its own goroutine, so the
// layer's diff_id is computed beside the applier rather than on its
// goroutine. Writes are copied into 256 KiB chunks (few handoffs); at most
// a few chunks are in flight.
type asyncHasher struct {
	h     hash.Hash
	algo  digest.Algorithm
	full  chan []byte
	free  chan []byte
	cur   []byte
	done  chan struct{}
	sum   digest.Digest
	ended bool
}

func newAsyncHasher(algo digest.Algorithm) *asyncHasher {
	a := &asyncHasher{h: algo.Hash(), algo: algo, full: make(chan []byte, 4), free: make(chan []byte, 5), done: make(chan struct{})}
	for range 5 {
		a.free <- make([]byte, 0, readAheadChunk)
	}
	a.cur = <-a.free
	go func() {
		defer close(a.done)
		for b := range a.full {
			a.h.Write(b)
			a.free <- b[:0]
		}
	}()
	return a
}

func (a *asyncHasher) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := copy(a.cur[len(a.cur):cap(a.cur)], p)
		a.cur = a.cur[:len(a.cur)+k]
		p = p[k:]
		if len(a.cur) == cap(a.cur) {
			a.full <- a.cur
			a.cur = <-a.free
		}
	}
	return n, nil
}

// Digest ends the stream and returns its digest; call it once, after the
// last Write.
func (a *asyncHasher) Digest() digest.Digest {
	if !a.ended {
		a.ended = true
		if len(a.cur) > 0 {
			a.full <- a.cur
		}
		close(a.full)
		<-a.done
		a.sum = digest.NewDigest(a.algo, a.h)
	}
	return a.sum
}

// Close stops the goroutine when the digest is not wanted (an error).
func (a *asyncHasher) Close() { a.Digest() }
