package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
)

// testConcurrent: sessions, message state and retained messages written and
// read from many goroutines (meant for -race); each session's final state is
// what its own changes built.
func (o opener) testConcurrent(t *testing.T) {
	st := o.store(t)
	const workers, rounds = 8, 40
	shared := make([]*session.Message, rounds)
	for i := range shared {
		shared[i] = &session.Message{ID: uint64(i + 1), Topic: fmt.Sprintf("shared/%d", i), Payload: []byte("s"), QoS: packet.QoS1}
	}
	peers := make([]*peer, workers)
	var wg sync.WaitGroup
	errs := make(chan error, 4*workers)
	for w := range workers {
		p := newPeer(fmt.Sprintf("worker-%d", w), session.Config{Version: packet.V5, SendWindow: 4})
		peers[w] = p
		wg.Go(func() {
			rec := sampleRecord(p.id)
			for i := range rounds {
				if i%3 == 0 {
					if !p.s.IsConnected() {
						p.connect(t0, packet.V5, 0)
					} else {
						p.s.Disconnected(t0, p.gen)
					}
				}
				// Every worker queues the same messages: bodies shared
				// between sessions written concurrently.
				if err := p.s.Send(t0, session.Delivery{Msg: shared[i], QoS: packet.QoS1}); err != nil {
					errs <- err
					return
				}
				if n := len(p.s.State().Inflight); n > 0 && p.s.IsConnected() && i%2 == 0 {
					if err := p.s.Receive(t0, &packet.Ack{PacketType: packet.PUBACK, PacketID: p.s.State().Inflight[0].PacketID}); err != nil {
						errs <- err
						return
					}
				}
				if rd := p.s.Ready(); len(rd.Persist) > 0 {
					for _, c := range rd.Persist {
						if err := p.ref.Apply(c); err != nil {
							errs <- err
							return
						}
					}
					if err := st.Apply(bg, store.Update{ClientID: p.id, Changes: rd.Persist}); err != nil {
						errs <- err
						return
					}
				}
				p.s.Advance()
				rec.Subscriptions[0].SubID = uint32(i)
				if err := st.SaveSession(bg, rec); err != nil {
					errs <- err
					return
				}
				if _, err := st.LoadState(bg, p.id); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for w := range 2 {
		wg.Go(func() {
			for i := range rounds * 4 {
				name := fmt.Sprintf("r/%d/%d", w, i%17)
				payload := []byte("v")
				if i%5 == 4 {
					payload = nil
				}
				if err := st.SetRetained(bg, &session.Message{ID: uint64(1000 + i), Topic: name, Payload: payload, Retain: true}); err != nil {
					errs <- err
					return
				}
				if err := st.MatchRetained(bg, "r/+/#", func(*session.Message) bool { return true }); err != nil {
					errs <- err
					return
				}
				if _, err := st.LoadSessions(bg); err != nil {
					errs <- err
					return
				}
				if _, err := st.Stats(bg); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, p := range peers {
		checkPeer(t, st, p)
	}
	checkBodies(t, st, peers)
	recs, err := st.LoadSessions(bg)
	must(t, err)
	if len(recs) != workers {
		t.Fatalf("%d records, want %d", len(recs), workers)
	}
	for _, r := range recs {
		if r.Subscriptions[0].SubID != rounds-1 {
			t.Fatalf("%s: last save lost: SubID %d, want %d", r.ClientID, r.Subscriptions[0].SubID, rounds-1)
		}
	}
}

// testConcurrentFanOut: Apply calls spanning several clients, from many
// goroutines, over overlapping sets of clients in different orders: no
// deadlock, nothing lost, bodies counted once.
func (o opener) testConcurrentFanOut(t *testing.T) {
	st := o.store(t)
	const workers, rounds, clients = 6, 50, 5
	ids := make([]string, clients)
	for i := range ids {
		ids[i] = fmt.Sprintf("fan-%d", i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			updates := make([]store.Update, 0, clients)
			for i := range rounds {
				m := &session.Message{ID: uint64(w*rounds + i + 1), Topic: "fan", Payload: []byte("f"), QoS: packet.QoS1}
				seq := uint64(w*rounds + i + 1) // distinct per call, so no two calls write one entry
				updates = updates[:0]
				for k := range clients {
					id := ids[(k*(w+1)+i)%clients] // a different order per worker
					if (w+k)%3 == 2 {
						continue
					}
					updates = append(updates, store.Update{ClientID: id, Changes: []session.Change{
						{Kind: session.ChangeQueued, Seq: seq, Delivery: session.Delivery{Msg: m, QoS: packet.QoS1}}}})
				}
				if err := st.Apply(bg, updates...); err != nil {
					errs <- err
					return
				}
				if i%2 == 1 { // every other message delivered everywhere
					for j := range updates {
						updates[j].Changes = []session.Change{{Kind: session.ChangeRemoved, Seq: seq}}
					}
					if err := st.Apply(bg, updates...); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Every queued message of an even round is still queued, in order, and
	// counted once however many sessions hold it.
	bodies := map[uint64]bool{}
	for _, id := range ids {
		got, err := st.LoadState(bg, id)
		must(t, err)
		for k, e := range got.Queue {
			if k > 0 && e.Seq <= got.Queue[k-1].Seq {
				t.Fatalf("%s: queue out of order at %d", id, k)
			}
			if i := (e.Seq - 1) % rounds; i%2 == 1 {
				t.Fatalf("%s: seq %d was removed but is still queued", id, e.Seq)
			}
			bodies[e.Delivery.Msg.ID] = true
		}
	}
	if len(bodies) != workers*rounds/2 {
		t.Fatalf("%d messages still queued, want %d", len(bodies), workers*rounds/2)
	}
	stats, err := st.Stats(bg)
	must(t, err)
	if stats.Messages != len(bodies) {
		t.Fatalf("Stats.Messages = %d, want %d", stats.Messages, len(bodies))
	}
}

// calls lists one call of every method, for the context and Close tests.
func calls(st store.Store) map[string]func(ctx context.Context) error {
	m := &session.Message{ID: 5, Topic: "ctx", Payload: []byte("x"), QoS: packet.QoS1}
	return map[string]func(ctx context.Context) error{
		"SaveSession":   func(ctx context.Context) error { return st.SaveSession(ctx, sampleRecord("ctx")) },
		"DeleteSession": func(ctx context.Context) error { return st.DeleteSession(ctx, "kept") },
		"LoadSessions":  func(ctx context.Context) error { _, err := st.LoadSessions(ctx); return err },
		"Apply": func(ctx context.Context) error {
			return st.Apply(ctx, store.Update{ClientID: "ctx", Changes: []session.Change{
				{Kind: session.ChangeQueued, Seq: 1, Delivery: session.Delivery{Msg: m, QoS: packet.QoS1}}}})
		},
		"LoadState":     func(ctx context.Context) error { _, err := st.LoadState(ctx, "kept"); return err },
		"SetRetained":   func(ctx context.Context) error { return st.SetRetained(ctx, msg(6, "ctx", "x")) },
		"ClearRetained": func(ctx context.Context) error { return st.SetRetained(ctx, msg(7, "kept", "")) },
		"MatchRetained": func(ctx context.Context) error {
			return st.MatchRetained(ctx, "#", func(*session.Message) bool { return true })
		},
		"MaxMessageID": func(ctx context.Context) error { _, err := st.MaxMessageID(ctx); return err },
		"Stats":        func(ctx context.Context) error { _, err := st.Stats(ctx); return err },
	}
}

// seedKept stores a record, message state and a retained message under
// "kept", which the calls of calls() would change or delete.
func seedKept(t tb, st store.Store) {
	must(t, st.SaveSession(bg, sampleRecord("kept")))
	must(t, st.SetRetained(bg, msg(8, "kept", "x")))
	must(t, st.Apply(bg, store.Update{ClientID: "kept", Changes: []session.Change{
		{Kind: session.ChangeQueued, Seq: 1, Delivery: session.Delivery{Msg: msg(9, "k", "k"), QoS: packet.QoS1}}}}))
}

// testContext: a call with a done context fails with the context's error and
// changes nothing; a context cancelled during MatchRetained stops it.
func (o opener) testContext(t *testing.T) {
	st := o.store(t)
	seedKept(t, st)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	for name, call := range calls(st) {
		if err := call(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: got %v, want context.Canceled", name, err)
		}
	}
	checkRecords(t, st, []store.SessionRecord{sampleRecord("kept")})
	checkMatch(t, st, "#", []*session.Message{msg(8, "kept", "x")})
	got, err := st.LoadState(bg, "kept")
	must(t, err)
	if len(got.Queue) != 1 {
		t.Fatalf("state of kept changed by cancelled calls: %+v", got)
	}
	if got, err := st.LoadState(bg, "ctx"); err != nil || len(got.Queue) != 0 {
		t.Fatalf("a cancelled Apply took effect: %+v, %v", got, err)
	}

	// Cancelled while matching: fn is not called much longer, and the
	// error says why.
	for i := range 300 {
		must(t, st.SetRetained(bg, msg(uint64(100+i), fmt.Sprintf("many/%d", i), "x")))
	}
	ctx, cancel = context.WithCancel(bg)
	defer cancel()
	n := 0
	err = st.MatchRetained(ctx, "many/#", func(*session.Message) bool {
		if n++; n == 1 {
			cancel()
		}
		return true
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("MatchRetained cancelled midway: got %v after %d calls, want context.Canceled", err, n)
	}
	if n >= 300 {
		t.Fatalf("MatchRetained went on for all %d messages after its context was cancelled", n)
	}
}

// testClosed: every method fails with ErrClosed after Close; Close again
// succeeds.
func (o opener) testClosed(t *testing.T) {
	st := o(t)
	seedKept(t, st)
	must(t, st.Close())
	for name, call := range calls(st) {
		if err := call(bg); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: got %v, want ErrClosed", name, err)
		}
	}
	if err := st.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
