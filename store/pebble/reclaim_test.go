package pebble_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	pdb "github.com/cockroachdb/pebble/v2"
	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/pebble"
)

// dirSize sums the sizes of the files in dir; files the engine deletes
// meanwhile are skipped.
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && !fi.IsDir() {
			n += fi.Size()
		}
	}
	return n
}

// TestReclaim delivers many messages, each fanned out to three persistent
// sessions and acknowledged by each, and checks that nothing of them stays:
// the key count returns to the per-session keys and, once compacted, the
// directory is back to its starting size order. TERN_RECLAIM_N sets the
// count (docs/storage.md reports 1,000,000).
func TestReclaim(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 1000
	}
	if v := os.Getenv("TERN_RECLAIM_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	st := open(t, dir, pebble.Interval)
	defer st.Close()
	subs := []string{"s1", "s2", "s3"}
	for _, id := range subs {
		if err := st.SaveSession(bg, store.SessionRecord{ClientID: id, Version: packet.V5, ExpiryInterval: store.NeverExpire}); err != nil {
			t.Fatal(err)
		}
	}
	payload := []byte(strings.Repeat("x", 100))
	var peak int64
	ups := make([]store.Update, len(subs))
	// Writes are ordered at once and their periodic syncs awaited in
	// groups, as the broker's pipeline does.
	var pending []store.Commit
	apply := func(ups ...store.Update) error {
		cm, err := st.ApplyAsync(bg, ups...)
		if cm != nil {
			pending = append(pending, cm)
		}
		if len(pending) >= 300 || err != nil {
			for _, cm := range pending {
				if werr := cm.Wait(); err == nil {
					err = werr
				}
			}
			pending = pending[:0]
		}
		return err
	}
	for i := 1; i <= n; i++ {
		m := &session.Message{ID: uint64(i), Topic: "t/x", Payload: payload, QoS: packet.QoS1}
		pid := uint16((i-1)%65535 + 1)
		for j, id := range subs {
			ups[j] = store.Update{ClientID: id, Changes: []session.Change{
				{Kind: session.ChangeQueued, Seq: uint64(i), Delivery: session.Delivery{Msg: m, QoS: packet.QoS1}},
			}}
		}
		if err := apply(ups...); err != nil {
			t.Fatal(err)
		}
		for j, id := range subs {
			ups[j] = store.Update{ClientID: id, Changes: []session.Change{
				{Kind: session.ChangeInflight, Seq: uint64(i), PacketID: pid, Delivery: session.Delivery{Msg: m, QoS: packet.QoS1}},
			}}
		}
		if err := apply(ups...); err != nil {
			t.Fatal(err)
		}
		// Acknowledge this message now; at most one message per session
		// is in flight between the calls.
		for j, id := range subs {
			ups[j] = store.Update{ClientID: id, Changes: []session.Change{{Kind: session.ChangeAcked, PacketID: pid}}}
		}
		if err := apply(ups...); err != nil {
			t.Fatal(err)
		}
		if i%(n/4) == 0 {
			peak = max(peak, dirSize(t, dir))
		}
	}
	for _, cm := range pending {
		if err := cm.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	stats, err := st.Stats(bg)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Messages != 0 || stats.Sessions != len(subs) {
		t.Fatalf("after delivery: %+v, want 0 messages and %d sessions", stats, len(subs))
	}
	keys, err := st.KeyCount()
	if err != nil {
		t.Fatal(err)
	}
	// The version key, and a record and a next-identifier key per session.
	if want := 1 + 2*len(subs); keys != want {
		t.Fatalf("%d keys after %d messages delivered, want %d", keys, n, want)
	}
	before := dirSize(t, dir)
	if err := st.Compact(); err != nil {
		t.Fatal(err)
	}
	after := dirSize(t, dir)
	var files []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Size() > 64<<10 {
			files = append(files, fmt.Sprintf("%s:%d", e.Name(), fi.Size()))
		}
	}
	t.Logf("files over 64 KiB after compaction: %v", files)
	t.Logf("%d messages x %d sessions: %d keys left, directory peak %d bytes, %d before and %d after compaction, %d compactions",
		n, len(subs), keys, peak, before, after, st.Metrics().Compact.Count)
}

// TestFormatVersion: a store of another format version, or a directory with
// other data, is refused with an error naming the directory.
func TestFormatVersion(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, pebble.Sync)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := pdb.Open(dir, &pdb.Options{FormatMajorVersion: pdb.FormatNewest, Logger: nopLog{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte{0, 'v'}, []byte{99}, pdb.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = pebble.Open(dir, pebble.Options{Logger: quiet()})
	if err == nil || !strings.Contains(err.Error(), "unknown format version 99") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Open of version 99: %v", err)
	}

	other := t.TempDir()
	db, err = pdb.Open(other, &pdb.Options{Logger: nopLog{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("k"), []byte("v"), pdb.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := pebble.Open(other, pebble.Options{Logger: quiet()}); err == nil || !strings.Contains(err.Error(), "not a Tern store") {
		t.Fatalf("Open of foreign data: %v", err)
	}

	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pebble.Open(file, pebble.Options{Logger: quiet()}); err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("Open of a file: %v", err)
	}
}

type nopLog struct{}

func (nopLog) Infof(string, ...any)      {}
func (nopLog) Errorf(string, ...any)     {}
func (nopLog) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
