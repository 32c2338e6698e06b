package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/tern-mq/tern/store"
	"pgregory.net/rapid"
)

// Run runs the conformance suite against the backend open returns. open is
// called once per subtest (and per rapid check) and must return an empty,
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
	t.Run("Context", o.testContext)
	t.Run("Closed", o.testClosed)
}

type opener func(t *testing.T) store.Store

// tb is what the checks need from *testing.T and *rapid.T.
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

// check runs a rapid property with a fresh store per run.
func (o opener) check(t *testing.T, prop func(rt *rapid.T, st store.Store)) {
	rapid.Check(t, func(rt *rapid.T) {
		st := o(t)
		defer closeStore(rt, st)
		prop(rt, st)
	})
}

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
