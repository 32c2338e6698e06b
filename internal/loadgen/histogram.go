package loadgen

import (
	"math"
	"math/bits"
)

// subBits sets the precision of Histogram: each power-of-two range is cut
// into 2^subBits linear buckets, so a recorded value is known within
// 1/2^subBits (0.8 %) of itself.
const (
	subBits  = 7
	subCount = 1 << subBits
	rows     = 64 - subBits
)

// Histogram is a log-linear histogram of non-negative int64 values
// (latencies in nanoseconds), in the spirit of HdrHistogram: values below
// 128 are exact, larger ones fall in buckets whose width is at most 1/128 of
// their lower bound. Min, Max, Count and Sum are exact. The zero value is
// ready to use; it is not safe for concurrent use (merge per-goroutine
// histograms with Merge).
type Histogram struct {
	counts [rows * subCount]uint64
	n      uint64
	sum    float64
	min    int64
	max    int64
}

// bucket returns the index of the bucket holding v (v >= 0).
func bucket(v int64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits - 1
	return (shift+1)*subCount + int(v>>shift) - subCount
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < subCount {
		return int64(i), int64(i)
	}
	shift := i/subCount - 1
	top := int64(subCount + i%subCount)
	lo = top << shift
	return lo, lo + (int64(1) << shift) - 1
}

// Record adds v; a negative value counts as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
	h.counts[bucket(v)]++
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
	for i, c := range o.counts {
		h.counts[i] += c
	}
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max return the exact extremes (0 when empty).
func (h *Histogram) Min() int64 { return h.min }

// Max returns the largest recorded value (0 when empty).
func (h *Histogram) Max() int64 { return h.max }

// Mean returns the exact mean (0 when empty).
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Percentile returns the value at quantile q (0 < q <= 1): the upper bound
// of the bucket holding the value of rank ceil(q*Count) among the sorted
// values, clamped to [Min, Max]. The sorted sample's value of that rank lies
// in the same bucket, so the error is below 1/128 of the value. It returns 0
// when empty.
func (h *Histogram) Percentile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketRange(i)
			return min(max(hi, h.min), h.max)
		}
	}
	return h.max
}
