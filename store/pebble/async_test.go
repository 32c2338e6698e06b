package pebble_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/pebble"
)

// TestApplyAsync: writers order their writes with ApplyAsync and keep
// many commits in flight before waiting for them, in order. Reads see a
// write as soon as it is ordered; the writes share fsyncs (far fewer
// fsyncs than commits); after Close and reopen every waited write is there,
// in the order the writes were ordered.
func TestApplyAsync(t *testing.T) {
	const writers, msgs, window = 4, 200, 32
	dir := t.TempDir()
	st := open(t, dir, pebble.Sync)
	base := st.WriteCounters()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("w%d", w)
			var inflight []store.Commit
			for i := range msgs {
				m := &session.Message{ID: uint64(w*msgs + i + 1), Topic: "t", Payload: []byte{byte(i)}, QoS: packet.QoS1}
				seq := uint64(i + 1)
				changes := []session.Change{{Kind: session.ChangeQueued, Seq: seq, Delivery: session.Delivery{Msg: m, QoS: packet.QoS1}}}
				if i > 0 { // the previous one leaves the queue: order matters
					changes = append(changes, session.Change{Kind: session.ChangeRemoved, Seq: seq - 1})
				}
				cm, err := st.ApplyAsync(bg, store.Update{ClientID: id, Changes: changes})
				if err != nil {
					t.Error(err)
					return
				}
				s, err := st.LoadState(bg, id)
				if err != nil || len(s.Queue) != 1 || s.Queue[0].Seq != seq {
					t.Errorf("%s after ordering %d: state %+v, %v", id, seq, s.Queue, err)
					return
				}
				inflight = append(inflight, cm)
				if len(inflight) == window {
					for _, cm := range inflight {
						if err := cm.Wait(); err != nil {
							t.Error(err)
						}
					}
					inflight = inflight[:0]
				}
			}
			for _, cm := range inflight {
				if err := cm.Wait(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	wc := st.WriteCounters()
	commits, syncs := wc.Commits-base.Commits, wc.Syncs-base.Syncs
	if commits != writers*msgs {
		t.Errorf("%d commits, want %d", commits, writers*msgs)
	}
	if syncs*4 > commits {
		t.Errorf("%d fsyncs for %d commits: the pipelined writes did not share fsyncs", syncs, commits)
	}
	t.Logf("%d commits, %d fsyncs", commits, syncs)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = open(t, dir, pebble.Sync)
	defer st.Close()
	for w := range writers {
		s, err := st.LoadState(bg, fmt.Sprintf("w%d", w))
		if err != nil || len(s.Queue) != 1 || s.Queue[0].Seq != msgs || s.Queue[0].Delivery.Msg.Payload[0] != byte(msgs-1) {
			t.Fatalf("w%d after reopen: %+v, %v", w, s.Queue, err)
		}
	}
}

// TestApplyAsyncInterval: in Interval mode a write (Apply, or ApplyAsync
// and its Commit's Wait) returns once its record is in the log file, in
// the operating system's hands: a copy of the directory taken while the
// store is open, with no fsync since (the interval is an hour), holds every
// write, as a killed process's directory would. The engine buffers a
// record written without a sync in memory; the store lost up to the last
// interval of acknowledged writes at kill -9 when it wrote without one.
func TestApplyAsyncInterval(t *testing.T) {
	dir := t.TempDir()
	st, err := pebble.Open(dir, pebble.Options{Durability: pebble.Interval, Interval: time.Hour, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fsyncs := st.WriteCounters().Syncs
	const n = 20
	for i := range n {
		m := &session.Message{ID: uint64(i + 1), Topic: "t", Payload: []byte{byte(i)}, QoS: packet.QoS1}
		u := store.Update{ClientID: "c", Changes: []session.Change{{Kind: session.ChangeQueued, Seq: uint64(i + 1), Delivery: session.Delivery{Msg: m, QoS: packet.QoS1}}}}
		if i%2 == 0 {
			err = st.Apply(bg, u)
		} else {
			var cm store.Commit
			if cm, err = st.ApplyAsync(bg, u); err == nil && cm != nil {
				err = cm.Wait()
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if d := st.WriteCounters().Syncs - fsyncs; d != 0 {
		t.Fatalf("%d fsyncs counted for writes within one interval; want 0", d)
	}
	killed := t.TempDir()
	copyDir(t, dir, killed)
	cp := open(t, killed, pebble.Sync)
	defer cp.Close()
	s, err := cp.LoadState(bg, "c")
	if err != nil || len(s.Queue) != n {
		t.Fatalf("the copy holds %d of the %d writes (%v)", len(s.Queue), n, err)
	}
}
