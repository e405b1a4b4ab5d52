package bench

import (
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	cases := []struct {
		name   string
		values func(h *histogram)
		q      float64
		want   uint64
	}{
		{name: "exact below 1 ms", values: func(h *histogram) {
			for v := 1; v <= 1000; v++ {
				h.record(time.Duration(v) * time.Microsecond)
			}
		}, q: 0.5, want: 500},
		{name: "p99 of 1..100 ms", values: func(h *histogram) {
			for v := 1; v <= 100; v++ {
				h.record(time.Duration(v) * time.Millisecond)
			}
		}, q: 0.99, want: 99000},
		{name: "single large value", values: func(h *histogram) { h.record(7 * time.Second) }, q: 0.999, want: 7000000},
		{name: "empty", values: func(*histogram) {}, q: 0.5, want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h histogram
			tc.values(&h)
			got := h.quantile(tc.q)
			// Buckets are at most 1/512 wide.
			if lo, hi := tc.want-tc.want/512, tc.want+tc.want/512; got < lo || got > hi {
				t.Fatalf("q%v = %d, want %d ± 0.2%%", tc.q, got, tc.want)
			}
		})
	}
}

func TestHistogramBucketsCover(t *testing.T) {
	prev := -1
	for v := uint64(0); v < 1<<22; v += 1 + v/1000 {
		i := histIndex(v)
		if i < prev {
			t.Fatalf("index of %d went back: %d < %d", v, i, prev)
		}
		if hv := histValue(i); hv < v || float64(hv-v) > float64(v)/500+1 {
			t.Fatalf("value %d: bucket %d tops at %d", v, i, hv)
		}
		prev = i
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b histogram
	for v := 1; v <= 50; v++ {
		a.record(time.Duration(v) * time.Microsecond)
		b.record(time.Duration(v+50) * time.Microsecond)
	}
	a.merge(&b)
	l := a.latency()
	if a.total != 100 || l.P50 != 50 || l.Max != 100 || l.P99 != 99 || l.Mean != 50 {
		t.Fatalf("merged: total %d latency %+v", a.total, l)
	}
}
