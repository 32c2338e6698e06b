package pebble_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/pebble"
	"github.com/tern-mq/tern/store/storetest"
)

var bg = context.Background()

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// open opens a store; in Interval mode with a 1 ms interval, so that the
// periodic fsync runs concurrently with the writes.
func open(t testing.TB, dir string, d pebble.Durability) *pebble.Store {
	t.Helper()
	st, err := pebble.Open(dir, pebble.Options{Durability: d, Interval: time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestConformanceSync(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, t.TempDir(), pebble.Sync) })
}

func TestConformanceInterval(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, t.TempDir(), pebble.Interval) })
}

func TestReopenSync(t *testing.T) {
	storetest.RunReopen(t, func(dir string) store.Store { return open(t, dir, pebble.Sync) })
}

func TestReopenInterval(t *testing.T) {
	storetest.RunReopen(t, func(dir string) store.Store { return open(t, dir, pebble.Interval) })
}
