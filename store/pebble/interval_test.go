package pebble_test

import (
	"testing"
	"time"

	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store/pebble"
)

// TestIntervalSync: in Interval mode a write is fsynced by the next tick,
// and an idle store does not sync (each sync writes a log record: an idle
// broker would grow its log without bound).
func TestIntervalSync(t *testing.T) {
	st, err := pebble.Open(t.TempDir(), pebble.Options{Durability: pebble.Interval, Interval: time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base := st.WriteStats().Syncs
	if err := st.SetRetained(bg, &session.Message{ID: 1, Topic: "a", Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for st.WriteStats().Syncs == base {
		if time.Now().After(deadline) {
			t.Fatal("the write was not synced within 5 s at a 1 ms interval")
		}
		time.Sleep(time.Millisecond) // polling
	}
	idle := st.WriteStats().Syncs
	// Watch 50 ticks without writes.
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
		time.Sleep(time.Millisecond) // observing an idle store
	}
	if n := st.WriteStats().Syncs; n != idle {
		t.Fatalf("%d syncs while idle", n-idle)
	}
}
