package main

import (
	"math"
	"testing"
	"time"
)

func TestMeter(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	type at struct {
		ms   int
		done int64
	}
	for _, tc := range []struct {
		name    string
		updates []at
		now     int     // ms
		want    float64 // bytes per second; -1 unknown
	}{
		{"nothing yet", nil, 500, -1},
		{"too soon to tell", []at{{10, 4000}, {260, 500_000}}, 300, -1},
		{"steady", []at{{250, 250_000}, {500, 500_000}, {750, 750_000}}, 800, 1e6},
		// The failure mpb's moving average showed in CI: 512 bytes after a
		// slow first response, then 2 MB/s; the speed is the total over
		// the time, not held down by the first update for many more.
		{"slow first bytes", []at{{100, 512}, {350, 500_512}, {600, 1_000_512}, {850, 1_500_512}}, 850, 1_500_512 / 0.85},
		// Only the last window counts: a slow start is forgotten.
		{"window forgets", []at{{1000, 1000}, {6000, 2000}, {7000, 1_002_000}, {8000, 2_002_000}}, 8000, 2_000_000 / 2.0},
		// A stall: the time since the last update counts after a second,
		// and a window without bytes is 0.
		{"stalling", []at{{1000, 1e6}, {2000, 2e6}}, 4000, 2e6 / 4},
		{"stalled", []at{{1000, 1e6}, {2000, 2e6}}, 7000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMeter(t0, 5*time.Second)
			for _, u := range tc.updates {
				m.add(ms(u.ms), u.done)
			}
			got := m.rate(ms(tc.now))
			if math.Abs(got-tc.want) > 1e-6*math.Max(1, math.Abs(tc.want)) {
				t.Errorf("rate = %.1f, want %.1f", got, tc.want)
			}
		})
	}
}

func TestETA(t *testing.T) {
	for _, tc := range []struct {
		left int64
		rate float64
		want string
	}{
		{1e6, 1e6, "1s"},
		{90e6, 1e6, "1m30s"},
		{1, 1e6, "1s"}, // never "0s" while bytes are left
		{0, 1e6, ""},
		{1e6, 0, ""},
		{1e6, -1, ""},
		{1 << 62, 1, ""}, // absurd: say nothing
	} {
		if got := eta(tc.left, tc.rate); got != tc.want {
			t.Errorf("eta(%d, %g) = %q, want %q", tc.left, tc.rate, got, tc.want)
		}
	}
}
