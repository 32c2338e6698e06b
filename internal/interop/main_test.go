package interop

import (
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/internal/brokertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every wait for something that must happen.
const wait = 5 * time.Second

// quietPeriod is how long a check that nothing more arrives listens.
const quietPeriod = 200 * time.Millisecond

// startBroker serves a new broker on a free loopback port until the test
// ends, and returns the server and its address.
func startBroker(t *testing.T) (*broker.Server, string) {
	t.Helper()
	return brokertest.Start(t, broker.Config{Logger: slog.New(slog.DiscardHandler)})
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// recv returns the next value of ch, failing the test after the deadline.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}
