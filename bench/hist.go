package bench

import (
	"math/bits"
	"time"
)

// histogram is a log-linear histogram of microseconds in the manner of HDR
// histograms: exact below 1024 µs, then 512 buckets per power of two, so
// any recorded value is known to within 0.2%. Fixed size, no allocation
// per record, and histograms of several workers add up.
type histogram struct {
	counts [histBuckets]uint64
	total  uint64
	max    uint64
	sum    uint64
}

const (
	histSub     = 512
	histBuckets = 32 * histSub
)

func histIndex(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - 10
	i := shift*histSub + int(v>>shift)
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// histValue is the highest value that lands in bucket i.
func histValue(i int) uint64 {
	if i < 2*histSub {
		return uint64(i)
	}
	shift := i/histSub - 1
	m := uint64(i - shift*histSub)
	return (m+1)<<shift - 1
}

func (h *histogram) record(d time.Duration) {
	us := uint64(0)
	if d > 0 {
		us = uint64(d / time.Microsecond)
	}
	h.counts[histIndex(us)]++
	h.total++
	h.sum += us
	if us > h.max {
		h.max = us
	}
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile returns the value at q (0..1) in microseconds.
func (h *histogram) quantile(q float64) uint64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q*float64(h.total) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(histValue(i), h.max)
		}
	}
	return h.max
}

// Latency holds percentiles of a run's session latencies, in microseconds.
type Latency struct {
	P50  uint64 `json:"p50_us"`
	P90  uint64 `json:"p90_us"`
	P99  uint64 `json:"p99_us"`
	P999 uint64 `json:"p999_us"`
	Max  uint64 `json:"max_us"`
	Mean uint64 `json:"mean_us"`
}

func (h *histogram) latency() Latency {
	l := Latency{P50: h.quantile(0.5), P90: h.quantile(0.9), P99: h.quantile(0.99), P999: h.quantile(0.999), Max: h.max}
	if h.total > 0 {
		l.Mean = h.sum / h.total
	}
	return l
}
