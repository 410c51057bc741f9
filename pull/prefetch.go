package pull

import (
	"context"
	"io"
	"sync"

	"github.com/rootfs-pull/rootfs-pull/registry"
)

// prefetcher downloads the layers after the one being applied into the
// blob cache, at most jobs at a time, so the network keeps working while
// the applier writes files. The applier claims each layer before applying
// it: one the prefetcher has not started is streamed by the applier
// itself, one it is fetching is waited for (and then read from the cache).
// Without a cache there is nowhere to put a layer ahead of time, so there
// is no prefetching (memory stays bounded).
type prefetcher struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	state  []int           // per layer: pending, running, claimed, finished
	done   []chan struct{} // closed when a running prefetch ends
}

const (
	pending = iota
	running
	claimed
	finished
)

// startPrefetch starts prefetching the layers of im not yet applied, after
// the first of them (which the applier streams at once).
func startPrefetch(ctx context.Context, src Source, im *registry.Image, applied func(int) bool, jobs int, progress func(Event)) *prefetcher {
	ctx, cancel := context.WithCancel(ctx)
	n := len(im.Manifest.Layers)
	p := &prefetcher{cancel: cancel, state: make([]int, n), done: make([]chan struct{}, n)}
	c, ok := src.(cachingSource)
	if !ok || !c.HasCache() {
		jobs = 0 // nowhere to put a layer ahead of time
	}
	var todo []int
	first := true
	for i := range n {
		if applied(i) {
			p.state[i] = finished
			continue
		}
		if first { // the applier streams this one now
			p.state[i], first = claimed, false
			continue
		}
		if jobs > 0 && c.Cached(im.Manifest.Layers[i]) {
			p.state[i] = finished
			continue
		}
		todo = append(todo, i)
	}
	if jobs < 1 {
		todo = nil
	}
	sem := make(chan struct{}, max(jobs, 1))
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for _, i := range todo {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			p.mu.Lock()
			if p.state[i] != pending { // the applier got there first
				p.mu.Unlock()
				<-sem
				continue
			}
			p.state[i], p.done[i] = running, make(chan struct{})
			p.mu.Unlock()
			p.wg.Add(1)
			go func(i int) {
				defer p.wg.Done()
				defer func() { <-sem }()
				fetch(ctx, src, im, i, progress)
				p.mu.Lock()
				p.state[i] = finished
				close(p.done[i])
				p.mu.Unlock()
			}(i)
		}
	}()
	return p
}

// fetch reads layer i to its end through the client, which verifies it
// and keeps it in the cache, reporting the bytes as they come. Errors are
// the applier's to meet again. Each uses one connection: chunks need
// buffers to be put back in order, and those (a fixed amount) are for the
// layer being applied; jobs layers at once fill a link all the same.
func fetch(ctx context.Context, src Source, im *registry.Image, i int, progress func(Event)) {
	desc := im.Manifest.Layers[i]
	rc, err := src.Blob(registry.WithBlobConnections(ctx, 1), desc)
	if err != nil {
		return
	}
	defer rc.Close()
	counted := &countingReader{r: rc, progress: progress,
		ev: Event{Kind: EventLayerBytes, Index: i + 1, Count: len(im.Manifest.Layers), Digest: desc.Digest, Size: desc.Size}}
	io.Copy(io.Discard, counted)
}

// claim is called before layer i is applied: it waits for a running
// prefetch of it, and stops a pending one from starting.
func (p *prefetcher) claim(ctx context.Context, i int) {
	p.mu.Lock()
	switch p.state[i] {
	case pending:
		p.state[i] = claimed
		p.mu.Unlock()
	case running:
		done := p.done[i]
		p.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
		}
	default:
		p.mu.Unlock()
	}
}

// stop cancels what is still running and waits for it: an unfinished
// download leaves nothing in the cache.
func (p *prefetcher) stop() {
	p.cancel()
	p.wg.Wait()
}
