package main

import (
	"fmt"
	"io"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/rootfs-pull/rootfs-pull/pull"
)

// bars draws the progress on a terminal: one live bar per layer (bytes,
// speed, ETA; "applied" when done) and an overall one.
type bars struct {
	w       io.Writer
	p       *mpb.Progress // made when the image is known
	total   *mpb.Bar
	layers  map[int]*mpb.Bar
	meters  map[int]*meter // each layer's download speed
	speed   *meter         // the whole download's
	seen    map[int]int64  // bytes of each layer counted in fetched
	fetched int64          // bytes done in all, applied earlier included
	moved   int64          // bytes that came in this run
}

// layer is layer e.Index's bar, made on first sight.
func (b *bars) layer(e pull.Event) *mpb.Bar {
	if bar := b.layers[e.Index]; bar != nil {
		return bar
	}
	m := newMeter(time.Now(), meterWindow)
	bar := b.p.AddBar(max(e.Size, 1),
		mpb.BarPriority(e.Index),
		mpb.PrependDecorators(decor.Name(layerName(e), decor.WC{C: decor.DindentRight | decor.DextraSpace})),
		mpb.AppendDecorators(decor.OnComplete(decor.Counters(decor.SizeB1000(0), "% .1f / % .1f"), "applied"),
			rateDecors(m)),
	)
	b.layers[e.Index] = bar
	b.meters[e.Index] = m
	return bar
}

func newBars(w io.Writer) *bars {
	return &bars{w: w, layers: map[int]*mpb.Bar{}, meters: map[int]*meter{}, seen: map[int]int64{}}
}

func (b *bars) event(e pull.Event) {
	if b.p == nil {
		if e.Kind != pull.EventResolved {
			return
		}
		b.speed = newMeter(time.Now(), meterWindow)
		b.p = mpb.New(mpb.WithOutput(b.w), mpb.WithWidth(min(termWidth(), 100)), mpb.WithRefreshRate(150*time.Millisecond), mpb.WithAutoRefresh())
	}
	switch e.Kind {
	case pull.EventResolved:
		b.total = b.p.AddBar(max(e.Size, 1),
			mpb.BarPriority(1<<30), // always the bottom line
			mpb.PrependDecorators(decor.Name(fmt.Sprintf("%d layer%s", e.Count, plural(e.Count)), decor.WC{C: decor.DindentRight | decor.DextraSpace})),
			mpb.AppendDecorators(decor.Counters(decor.SizeB1000(0), "% .1f / % .1f"), decor.Name(" "), decor.Percentage(),
				rateDecors(b.speed)),
		)
	case pull.EventLayerStart:
		b.layer(e)
	case pull.EventLayerBytes:
		// Bytes come from the applier's stream, or earlier from the
		// download ahead (and then again, quickly, from the cache).
		bar := b.layer(e)
		done := min(e.Done, max(e.Size, 1)-1)
		if done > bar.Current() {
			now := time.Now()
			bar.SetCurrent(done)
			b.meters[e.Index].add(now, done)
			b.fetched += done - b.seen[e.Index]
			b.moved += done - b.seen[e.Index]
			b.seen[e.Index] = done
			b.speed.add(now, b.moved)
			if b.total != nil {
				b.total.SetCurrent(b.fetched)
			}
		}
	case pull.EventLayerDone, pull.EventLayerCached:
		bar := b.layers[e.Index]
		if bar == nil { // applied by an earlier run
			bar = b.p.AddBar(max(e.Size, 1), mpb.BarPriority(e.Index),
				mpb.PrependDecorators(decor.Name(layerName(e), decor.WC{C: decor.DindentRight | decor.DextraSpace})),
				mpb.AppendDecorators(decor.Name("already applied")))
			b.layers[e.Index] = bar
		}
		bar.SetCurrent(max(e.Size, 1))
		bar.SetTotal(-1, true)
		if b.total != nil {
			b.fetched += e.Size - b.seen[e.Index]
			b.seen[e.Index] = e.Size
			b.total.SetCurrent(b.fetched)
		}
	}
}

func layerName(e pull.Event) string {
	return fmt.Sprintf("layer %d/%d %s", e.Index, e.Count, shortDigest(string(e.Digest)))
}

// write prints a line above the bars (or alone, before they start).
func (b *bars) write(s string) {
	if b.p == nil {
		fmt.Fprint(b.w, s)
		return
	}
	fmt.Fprint(b.p, s)
}

// end completes the bars (ok) or drops the unfinished ones, and waits for
// the last frame.
func (b *bars) end(ok bool) {
	if b.p == nil {
		return
	}
	for _, bar := range b.layers {
		if !bar.Completed() {
			bar.Abort(false)
		}
	}
	if b.total != nil {
		if ok {
			b.total.SetTotal(-1, true)
		} else {
			b.total.Abort(false)
		}
	}
	b.p.Wait()
	b.p = nil
}
