package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/tern-mq/tern/store"
)

// Run runs the conformance suite against the backend open returns. open is
// called once per subtest (and per run of a randomised property) and must return an empty,
// open store; Run closes every store it opens.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	o := opener(open)
	t.Run("Sessions", o.testSessions)
	t.Run("SessionsModel", o.testSessionsModel)
	t.Run("SessionRecordCopied", o.testRecordCopied)
	t.Run("InvalidInput", o.testInvalid)
	t.Run("Retained", o.testRetained)
	t.Run("RetainedMatch", o.testRetainedMatch)
	t.Run("RetainedModel", o.testRetainedModel)
	t.Run("RetainedStop", o.testRetainedStop)
	t.Run("RetainedExpiry", o.testRetainedExpiry)
	t.Run("RetainedReentrant", o.testRetainedReentrant)
	t.Run("Apply", o.testApply)
	t.Run("ApplyModel", o.testApplyModel)
	t.Run("ApplyFanOut", o.testFanOut)
	t.Run("ApplyAtomic", o.testApplyAtomic)
	t.Run("DeleteDropsState", o.testDeleteDropsState)
	t.Run("Concurrent", o.testConcurrent)
	t.Run("ConcurrentFanOut", o.testConcurrentFanOut)
	t.Run("Context", o.testContext)
	t.Run("Closed", o.testClosed)
}

type opener func(t *testing.T) store.Store

// tb is what the checks need from *testing.T and gen.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
}

// store opens a store closed when t ends.
func (o opener) store(t *testing.T) store.Store {
	st := o(t)
	t.Cleanup(func() { closeStore(t, st) })
	return st
}

// check runs a randomised property with a fresh store per run.
func (o opener) check(t *testing.T, prop func(g *gen, st store.Store)) {
	t.Helper()
	runs(t, 100, func(g *gen) {
		st := o(t)
		defer closeStore(t, st)
		prop(g, st)
	})
}

// runs runs a randomised property n times (a fifth of that with -short),
// each with its own seed. A failure names the seed; STORETEST_SEED=n runs
// that seed alone.
func runs(t *testing.T, n int, prop func(g *gen)) {
	t.Helper()
	base := uint64(time.Now().UnixNano())
	if v := os.Getenv("STORETEST_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("STORETEST_SEED=%q: %v", v, err)
		}
		base, n = seed, 1
	} else if testing.Short() {
		n = max(1, n/5)
	}
	for i := range uint64(n) {
		prop(&gen{t: t, seed: base + i, r: rand.New(rand.NewPCG(base+i, 0x5eed))})
		if t.Failed() {
			return
		}
	}
}

// gen draws random values for one run of a property, and reports failures
// with the run's seed.
type gen struct {
	t    *testing.T
	seed uint64
	r    *rand.Rand
}

func (g *gen) Helper() { g.t.Helper() }
func (g *gen) Fatal(args ...any) {
	g.t.Helper()
	g.t.Fatalf("STORETEST_SEED=%d: %s", g.seed, fmt.Sprint(args...))
}
func (g *gen) Fatalf(format string, args ...any) {
	g.t.Helper()
	g.t.Fatalf("STORETEST_SEED=%d: %s", g.seed, fmt.Sprintf(format, args...))
}
func (g *gen) Errorf(format string, args ...any) {
	g.t.Helper()
	g.t.Errorf("STORETEST_SEED=%d: %s", g.seed, fmt.Sprintf(format, args...))
}

// intRange returns an int in [lo, hi].
func (g *gen) intRange(lo, hi int) int { return lo + g.r.IntN(hi-lo+1) }

// int64Range returns an int64 in [lo, hi].
func (g *gen) int64Range(lo, hi int64) int64 { return lo + g.r.Int64N(hi-lo+1) }

func (g *gen) bool() bool { return g.r.IntN(2) == 0 }

// bytes returns between lo and hi random bytes.
func (g *gen) bytes(lo, hi int) []byte {
	b := make([]byte, g.intRange(lo, hi))
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

// levels returns between lo and hi elements drawn from from.
func (g *gen) levels(from []string, lo, hi int) []string {
	out := make([]string, g.intRange(lo, hi))
	for i := range out {
		out[i] = pick(g, from)
	}
	return out
}

func pick[T any](g *gen, from []T) T { return from[g.r.IntN(len(from))] }

func closeStore(t tb, st store.Store) {
	if err := st.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
		t.Errorf("Close: %v", err)
	}
}

func must(t tb, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var bg = context.Background()
