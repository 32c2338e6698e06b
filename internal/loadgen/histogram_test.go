package loadgen

import (
	"math"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

func TestBucketBoundaries(t *testing.T) {
	prevHi := int64(-1)
	for i := range rows * subCount {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if bucket(lo) != i || bucket(hi) != i {
			t.Fatalf("bucket %d [%d,%d]: bucket(lo)=%d bucket(hi)=%d", i, lo, hi, bucket(lo), bucket(hi))
		}
		if lo >= subCount && float64(hi-lo+1) > float64(lo)/subCount {
			t.Fatalf("bucket %d [%d,%d] wider than 1/%d of its lower bound", i, lo, hi, subCount)
		}
		prevHi = hi
		if hi == math.MaxInt64 {
			return
		}
	}
	t.Fatalf("buckets end at %d, before MaxInt64", prevHi)
}

func TestHistogramEmptyAndSmall(t *testing.T) {
	var h Histogram
	if h.Percentile(0.99) != 0 || h.Count() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
	for _, v := range []int64{5, 1, 3, -7} {
		h.Record(v)
	}
	if h.Min() != 0 || h.Max() != 5 || h.Count() != 4 {
		t.Fatalf("min %d max %d count %d", h.Min(), h.Max(), h.Count())
	}
	if got := h.Percentile(0.5); got != 1 {
		t.Fatalf("p50 of {0,1,3,5} = %d, want 1", got)
	}
	if got := h.Percentile(1); got != 5 {
		t.Fatalf("p100 = %d, want 5", got)
	}
}

// The percentile of the histogram lies within the precision of the bucket
// of the exact percentile of the sorted sample (same rank definition), and
// percentiles are ordered.
func TestPercentileWithinBucketPrecision(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		scale := rapid.SampledFrom([]int64{100, 10_000, 1_000_000, 1 << 40, math.MaxInt64 / 2}).Draw(t, "scale")
		vals := rapid.SliceOfN(rapid.Int64Range(0, scale), 1, 400).Draw(t, "vals")
		split := rapid.IntRange(0, len(vals)).Draw(t, "split")
		var a, b Histogram
		for i, v := range vals {
			if i < split {
				a.Record(v)
			} else {
				b.Record(v)
			}
		}
		a.Merge(&b)
		h := &a
		sorted := slices.Clone(vals)
		slices.Sort(sorted)
		if h.Min() != sorted[0] || h.Max() != sorted[len(sorted)-1] || h.Count() != uint64(len(vals)) {
			t.Fatalf("min/max/count %d/%d/%d, want %d/%d/%d", h.Min(), h.Max(), h.Count(), sorted[0], sorted[len(sorted)-1], len(vals))
		}
		prev := int64(0)
		for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
			rank := int(math.Ceil(q * float64(len(sorted))))
			want := sorted[max(rank, 1)-1]
			got := h.Percentile(q)
			if bucket(got) != bucket(want) && got != h.Max() && got != h.Min() {
				t.Fatalf("p%v = %d, exact %d (different buckets)", q*100, got, want)
			}
			if tol := want/subCount + 1; got < want-tol || got > want+tol {
				t.Fatalf("p%v = %d, exact %d: off by more than %d", q*100, got, want, tol)
			}
			if got < prev {
				t.Fatalf("p%v = %d below the previous percentile %d", q*100, got, prev)
			}
			prev = got
		}
	})
}
