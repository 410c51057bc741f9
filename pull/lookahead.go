package pull

import (
	"context"
	"io"

	"github.com/rootfs-pull/rootfs-pull/registry"
)

// Without a blob cache there is nowhere to put a whole layer ahead of
// time, but the next layer's blob can still be opened before the one
// being applied ends: its first chunks then download while the last ones
// of this layer arrive and are applied, so the link never idles between
// layers. Memory stays bounded: one blob ahead, whose reader buffers at
// most its chunks in flight.
//
// aheadWindow is how close to its end the layer being applied must be
// (in compressed bytes read) before the next blob opens: about what the
// current one has in flight, so that the next one's connections start as
// the current one's fall idle, and the current one, whose bytes the
// applier waits for, is not slowed by the next one for long.
const aheadWindow = registry.DefaultBlobConnections * (4 << 20)

// lookahead is a blob opened ahead of its layer.
type lookahead struct {
	index  int
	done   chan struct{}
	rc     io.ReadCloser
	err    error
	cancel context.CancelFunc
}

// openAhead opens layer i's blob on its own goroutine.
func openAhead(ctx context.Context, src Source, im *registry.Image, i int) *lookahead {
	ctx, cancel := context.WithCancel(ctx)
	la := &lookahead{index: i, done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(la.done)
		la.rc, la.err = src.Blob(ctx, im.Manifest.Layers[i])
	}()
	return la
}

// take waits for the blob to open and hands it over: its reader, and the
// function that ends its requests.
func (la *lookahead) take() (io.ReadCloser, context.CancelFunc, error) {
	<-la.done
	return la.rc, la.cancel, la.err
}

// drop ends a blob opened ahead that will not be read.
func (la *lookahead) drop() {
	if la == nil {
		return
	}
	la.cancel()
	<-la.done
	if la.rc != nil {
		la.rc.Close()
	}
}
