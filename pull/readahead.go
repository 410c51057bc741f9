package pull

import (
	"io"
	"sync"
)

// readAhead reads r on its own goroutine, up to depth chunks ahead of the
// consumer, so the network, the compressed stream's sha256 and any resume
// run beside the decompressor instead of on its goroutine: with a single
// core decoding gzip, every cycle taken off it shortens the pull.
type readAhead struct {
	chunks chan []byte
	free   chan []byte
	buf    []byte // the chunk being read from
	cur    []byte // its unread part
	err    error  // the source's final error, valid once chunks is closed
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

const (
	readAheadChunk = 256 << 10
	readAheadDepth = 8 // 2 MiB in flight at most
)

func newReadAhead(r io.Reader) *readAhead {
	ra := &readAhead{
		chunks: make(chan []byte, readAheadDepth),
		free:   make(chan []byte, readAheadDepth+1),
		stop:   make(chan struct{}),
	}
	for range readAheadDepth + 1 {
		ra.free <- make([]byte, readAheadChunk)
	}
	ra.wg.Add(1)
	go func() {
		defer ra.wg.Done()
		defer close(ra.chunks)
		for {
			var buf []byte
			select {
			case buf = <-ra.free:
			case <-ra.stop:
				return
			}
			n, err := io.ReadFull(r, buf[:cap(buf)])
			if n > 0 {
				select {
				case ra.chunks <- buf[:n]:
				case <-ra.stop:
					return
				}
			}
			if err == io.ErrUnexpectedEOF {
				err = io.EOF // a short last chunk
			}
			if err != nil {
				ra.err = err
				return
			}
		}
	}()
	return ra
}

func (ra *readAhead) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(ra.cur) == 0 {
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)]
			ra.buf = nil
		}
		c, ok := <-ra.chunks
		if !ok {
			return 0, ra.err
		}
		ra.buf, ra.cur = c, c
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the reader goroutine and waits for it to end; cancel must
// abort a read in progress (it cancels the request's context). The source
// is then the caller's alone again, to close.
func (ra *readAhead) Close(cancel func()) {
	ra.once.Do(func() { close(ra.stop) })
	cancel()
	ra.wg.Wait()
}
