package tarball

import (
	"errors"
	"io"
	"sync"
	"time"
)

// ErrStalled: a download sent nothing for the stall timeout.
var ErrStalled = errors.New("the download stalled (no data for a minute): check your network and run the same command again")

// stallReader closes a download that sends nothing for timeout, so a
// dead connection cannot hang the pull.
type stallReader struct {
	rc    io.ReadCloser
	timer *time.Timer
	d     time.Duration
	fired chan struct{}
}

// Only the time spent waiting in Read counts: a consumer that reads
// slowly (a slow disk) does not stall a download.
func newStallReader(rc io.ReadCloser, d time.Duration) io.ReadCloser {
	s := &stallReader{rc: rc, d: d, fired: make(chan struct{})}
	var once sync.Once
	s.timer = time.AfterFunc(d, func() { once.Do(func() { close(s.fired); rc.Close() }) })
	s.timer.Stop()
	return s
}

func (s *stallReader) Read(p []byte) (int, error) {
	s.timer.Reset(s.d)
	n, err := s.rc.Read(p)
	s.timer.Stop()
	select {
	case <-s.fired:
		if err != nil && err != io.EOF {
			return n, ErrStalled
		}
	default:
	}
	return n, err
}

func (s *stallReader) Close() error {
	s.timer.Stop()
	return s.rc.Close()
}
