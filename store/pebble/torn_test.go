package pebble_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/pebble"
)

// tornSteps returns the updates of step i (1-based) of a workload that
// queues, sends and acknowledges messages to two sessions, one of them
// fanned out to both.
func tornStep(i int, msgs map[uint64]*session.Message) []store.Update {
	m := &session.Message{ID: uint64(i), Topic: fmt.Sprintf("t/%d", i), Payload: bytes.Repeat([]byte{byte(i)}, 10+i%40), QoS: packet.QoS1}
	msgs[m.ID] = m
	d := session.Delivery{Msg: m, QoS: packet.QoS1}
	c := []session.Change{{Kind: session.ChangeQueued, Seq: uint64(i), Delivery: d}}
	if i > 3 {
		old := msgs[uint64(i-3)]
		c = append(c, session.Change{Kind: session.ChangeInflight, Seq: uint64(i - 3), PacketID: uint16(i - 3), Delivery: session.Delivery{Msg: old, QoS: packet.QoS1}})
	}
	if i > 6 {
		c = append(c, session.Change{Kind: session.ChangeAcked, PacketID: uint16(i - 6)})
	}
	ups := []store.Update{{ClientID: "c", Changes: c}}
	if i%2 == 0 {
		ups = append(ups, store.Update{ClientID: "d", Changes: []session.Change{{Kind: session.ChangeQueued, Seq: uint64(i), Delivery: d}}})
	}
	return ups
}

// summary describes a state by what recovery must get right: entries, their
// messages' IDs and payload sizes, the next identifier.
func summary(st session.State) string {
	var b strings.Builder
	fmt.Fprintf(&b, "next=%d", max(st.NextID, 1))
	for _, e := range st.Inflight {
		fmt.Fprintf(&b, " f%d/%d/%v/m%d:%d", e.PacketID, e.Seq, e.Stage, e.Delivery.Msg.ID, len(e.Delivery.Msg.Payload))
	}
	for _, e := range st.Queue {
		fmt.Fprintf(&b, " q%d/m%d:%d", e.Seq, e.Delivery.Msg.ID, len(e.Delivery.Msg.Payload))
	}
	return b.String()
}

func newestWAL(t *testing.T, dir string) string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no log in %s: %v", dir, err)
	}
	slices.Sort(logs)
	return logs[len(logs)-1]
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTornLog simulates a crash during writes: the data directory is copied
// while the store is open (everything acknowledged is in the log), the
// newest log is cut at many offsets within its last records, or has a byte
// flipped, and the copy is reopened. Recovery must give exactly the state
// after the last complete record (a prefix of the Apply calls), report the
// discarded tail, and never panic or return garbage; a flipped byte may
// instead make Open fail with an error naming the directory.
func TestTornLog(t *testing.T) {
	const n = 40
	dir := t.TempDir()
	st := open(t, dir, pebble.Sync)
	defer st.Close()
	wal := filepath.Base(newestWAL(t, dir))

	msgs := map[uint64]*session.Message{}
	ref := map[string]*session.State{"c": {}, "d": {}}
	want := []map[string]string{{"c": summary(session.State{}), "d": summary(session.State{})}}
	sizes := []int64{fileSize(t, filepath.Join(dir, wal))}
	for i := 1; i <= n; i++ {
		ups := tornStep(i, msgs)
		if err := st.Apply(bg, ups...); err != nil {
			t.Fatal(err)
		}
		for _, u := range ups {
			for _, c := range u.Changes {
				if err := ref[u.ClientID].Apply(c); err != nil {
					t.Fatal(err)
				}
			}
		}
		want = append(want, map[string]string{"c": summary(*ref["c"]), "d": summary(*ref["d"])})
		sizes = append(sizes, fileSize(t, filepath.Join(dir, wal)))
		if sizes[i] <= sizes[i-1] {
			t.Fatalf("log did not grow at step %d (%d bytes): the test needs one log file", i, sizes[i])
		}
	}
	if w := filepath.Base(newestWAL(t, dir)); w != wal {
		t.Fatalf("log rotated from %s to %s", wal, w)
	}
	snap := t.TempDir()
	copyDir(t, dir, snap)

	// recovered reopens a copy of the snapshot changed by mutate and returns
	// the step whose state it holds, or -1 with Open's error.
	recovered := func(mutate func(path string), salvage bool) (int, string, error) {
		t.Helper()
		d := t.TempDir()
		copyDir(t, snap, d)
		mutate(filepath.Join(d, wal))
		var logs syncBuffer
		s, err := pebble.Open(d, pebble.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), SalvageLog: salvage})
		if err != nil {
			if !strings.Contains(err.Error(), d) {
				t.Errorf("Open error does not name the directory: %v", err)
			}
			return -1, logs.String(), err
		}
		defer s.Close()
		got := map[string]string{}
		for _, id := range []string{"c", "d"} {
			gs, err := s.LoadState(bg, id)
			if err != nil {
				t.Fatal(err)
			}
			got[id] = summary(gs)
		}
		for k := len(want) - 1; k >= 0; k-- {
			if got["c"] == want[k]["c"] && got["d"] == want[k]["d"] {
				return k, logs.String(), nil
			}
		}
		t.Fatalf("recovered state is no prefix of the writes:\n c: %s\n d: %s", got["c"], got["d"])
		return -1, "", nil
	}

	var cuts []int64
	for k := n - 12; k < n; k++ {
		a, b := sizes[k], sizes[k+1]
		cuts = append(cuts, a, a+1, a+7, (a+b)/2, b-1)
	}
	cuts = append(cuts, sizes[n])
	for _, cut := range cuts {
		k, logs, err := recovered(func(p string) {
			if err := os.Truncate(p, cut); err != nil {
				t.Fatal(err)
			}
		}, false)
		if err != nil {
			t.Fatalf("cut at %d: Open: %v", cut, err)
		}
		wantK := 0
		for i, sz := range sizes {
			if sz <= cut {
				wantK = i
			}
		}
		if k != wantK {
			t.Errorf("cut at %d: recovered step %d, want %d (complete records end at %v)", cut, k, wantK, sizes[n-12:])
		}
		if torn := cut != sizes[wantK]; torn != strings.Contains(logs, "torn tail") {
			t.Errorf("cut at %d (step %d ends at %d): tail warning %v, logs:\n%s", cut, wantK, sizes[wantK], !torn, logs)
		}
	}

	// A flipped byte in one of the last records. In the last record it is
	// a torn tail: recovery stops before it. Before complete records, Open
	// refuses (replay would drop acknowledged writes) and names the
	// damage; with SalvageLog it keeps the records before the damage and a
	// copy of the log.
	for k := n - 6; k < n; k++ {
		off := (sizes[k] + sizes[k+1]) / 2
		flip := func(p string) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[off] ^= 0x5a
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, logs, err := recovered(flip, false)
		switch {
		case k == n-1 && (err != nil || got != k || !strings.Contains(logs, "torn tail")):
			t.Errorf("flip in the last record: step %d, err %v, logs:\n%s", got, err, logs)
		case k < n-1 && (err == nil || !strings.Contains(err.Error(), "damaged at offset")):
			t.Errorf("flip in record %d of %d: Open gave step %d, err %v; want refusal", k+1, n, got, err)
		case k < n-1:
			got, logs, err = recovered(flip, true)
			if err != nil || got != k || !strings.Contains(logs, "salvaging") {
				t.Errorf("flip in record %d, salvaged: step %d, err %v, logs:\n%s", k+1, got, err, logs)
			}
		}
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
