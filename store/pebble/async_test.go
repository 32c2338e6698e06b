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

// TestApplyAsyncInterval: in Interval mode a write is ordered at once and
// its Commit returns after the periodic sync that covers it.
func TestApplyAsyncInterval(t *testing.T) {
	st, err := pebble.Open(t.TempDir(), pebble.Options{Durability: pebble.Interval, Interval: 20 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := &session.Message{ID: 1, Topic: "t", Payload: []byte("x"), QoS: packet.QoS1}
	before := st.WriteCounters().Syncs
	cm, err := st.ApplyAsync(bg, store.Update{ClientID: "c", Changes: []session.Change{{Kind: session.ChangeQueued, Seq: 1, Delivery: session.Delivery{Msg: m, QoS: packet.QoS1}}}})
	if err != nil || cm == nil {
		t.Fatalf("ApplyAsync = %v, %v; want a Commit", cm, err)
	}
	if s, err := st.LoadState(bg, "c"); err != nil || len(s.Queue) != 1 {
		t.Fatalf("not ordered at once: %+v, %v", s.Queue, err)
	}
	if err := cm.Wait(); err != nil {
		t.Fatal(err)
	}
	if st.WriteCounters().Syncs == before {
		t.Fatal("Wait returned before the periodic sync")
	}
}
