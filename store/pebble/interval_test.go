package pebble_test

import (
	"bytes"
	"fmt"
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

// TestIntervalRotatedLogFsynced: in Interval mode a write's own log sync
// is deferred; a log the engine rotates away from (its memtable full) is
// not synced by the loop again, so it is fsynced when the engine closes it.
// With a one-hour interval, only rotations fsync: writes that rotate the
// log several times must count fsyncs, and a copy of the open store's
// directory holds every write.
func TestIntervalRotatedLogFsynced(t *testing.T) {
	dir := t.TempDir()
	st, err := pebble.Open(dir, pebble.Options{Durability: pebble.Interval, Interval: time.Hour, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base := st.WriteStats().Syncs
	payload := bytes.Repeat([]byte("x"), 64<<10)
	const n = 100 // 6.4 MB: the engine's first memtables are far smaller
	for i := range n {
		m := &session.Message{ID: uint64(i + 1), Topic: fmt.Sprintf("r/%d", i), Payload: payload}
		if err := st.SetRetained(bg, m); err != nil {
			t.Fatal(err)
		}
	}
	if st.WriteStats().Syncs == base {
		t.Fatal("no fsync after writes that rotated the log: a rotated-away log was left unsynced")
	}
	killed := t.TempDir()
	copyDir(t, dir, killed)
	cp := open(t, killed, pebble.Sync)
	defer cp.Close()
	got := 0
	if err := cp.MatchRetained(bg, "r/#", func(*session.Message) bool { got++; return true }); err != nil || got != n {
		t.Fatalf("the copy holds %d of the %d writes (%v)", got, n, err)
	}
}
