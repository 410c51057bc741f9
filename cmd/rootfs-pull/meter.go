package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8/decor"
)

// meter measures a transfer's speed as bytes over time across the last few
// seconds. mpb's moving averages average each update's time per byte, so
// one slow update (a connection's first few bytes) skews the speed and ETA
// for tens of updates; a window of totals does not, and a stall shows as a
// speed falling to zero. Safe for one writer and the drawing goroutine.
type meter struct {
	mu      sync.Mutex
	window  time.Duration
	samples []sample // oldest first
}

type sample struct {
	at   time.Time
	done int64
}

// meterWindow is how far back the speed looks: long enough to smooth a
// mobile link's bursts, short enough to follow a change within seconds.
const meterWindow = 5 * time.Second

// stallAfter is how long without an update before the time since the last
// one counts, so that a stalled transfer's speed falls.
const stallAfter = time.Second

// minSpan is the least time a speed is told from.
const minSpan = 500 * time.Millisecond

func newMeter(start time.Time, window time.Duration) *meter {
	return &meter{window: window, samples: []sample{{start, 0}}}
}

// add records that done bytes had arrived at time at.
func (m *meter) add(at time.Time, done int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.samples = append(m.samples, sample{at, done})
	// Forget what is older than the window, keeping two samples to span.
	drop := 0
	for drop < len(m.samples)-2 && at.Sub(m.samples[drop].at) > m.window {
		drop++
	}
	m.samples = append(m.samples[:0], m.samples[drop:]...)
}

// rate is the speed in bytes per second at time now: -1 before the first
// byte, 0 when nothing came for a whole window.
func (m *meter) rate(now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	first, last := m.samples[0], m.samples[len(m.samples)-1]
	switch {
	case last.done == 0:
		return -1
	case now.Sub(last.at) >= m.window:
		return 0
	}
	end := last.at
	if now.Sub(end) > stallAfter {
		end = now
	}
	span := end.Sub(first.at)
	if span < minSpan {
		return -1 // the first burst would read as a wild speed
	}
	return float64(last.done-first.done) / span.Seconds()
}

// rateDecors shows the meter's speed and the time left at it
// (" 1.5 MB/s 1m20s"): nothing before the first byte, and nothing once the
// bar completes.
func rateDecors(m *meter) decor.Decorator {
	return decor.OnComplete(decor.Any(func(s decor.Statistics) string {
		r := m.rate(time.Now())
		if r < 0 {
			return ""
		}
		out := fmt.Sprintf(" % .1f/s", decor.SizeB1000(int64(r)))
		if t := eta(s.Total-s.Current, r); t != "" {
			out += " " + t
		}
		return out
	}), "")
}

// eta is how long left bytes take at rate bytes per second, rounded to the
// second; "" when it cannot be told.
func eta(left int64, rate float64) string {
	if rate <= 0 || left <= 0 {
		return ""
	}
	secs := float64(left) / rate
	if secs > (99 * time.Hour).Seconds() {
		return ""
	}
	return max(time.Duration(secs*float64(time.Second)).Round(time.Second), time.Second).String()
}
