package pebble_test

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/pebble"
)

// TestConcurrentOrder: writers on many clients share message bodies (each
// message is queued to every client, sent and acknowledged, so its body is
// set and deleted again and again by different writers) and retained
// topics. After Close and reopen, what the disk holds must equal what the
// store reported before Close: the disk saw every shared key change in the
// order the in-memory state did.
func TestConcurrentOrder(t *testing.T) {
	const clients, msgs = 8, 150
	dir := t.TempDir()
	st := open(t, dir, pebble.Sync)
	shared := make([]*session.Message, msgs)
	for i := range shared {
		shared[i] = &session.Message{ID: uint64(i + 1), Topic: "t", Payload: []byte(fmt.Sprint(i)), QoS: packet.QoS1}
	}
	hot := []*session.Message{
		{ID: 5001, Topic: "h", Payload: []byte("0"), QoS: packet.QoS1},
		{ID: 5002, Topic: "h", Payload: []byte("1"), QoS: packet.QoS1},
		{ID: 5003, Topic: "h", Payload: []byte("2"), QoS: packet.QoS1},
	}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("c%d", c)
			if err := st.SaveSession(bg, store.SessionRecord{ClientID: id, Version: packet.V5, ExpiryInterval: store.NeverExpire}); err != nil {
				t.Error(err)
				return
			}
			for i, m := range shared {
				// Offset the clients so that bodies are released by one
				// writer while another takes them again.
				m = shared[(i+c*7)%msgs]
				d := session.Delivery{Msg: m, QoS: packet.QoS1}
				seq, pid := uint64(i+1), uint16(i%100+1)
				steps := [][]session.Change{
					{{Kind: session.ChangeQueued, Seq: seq, Delivery: d}},
					{{Kind: session.ChangeInflight, Seq: seq, PacketID: pid, Delivery: d}},
				}
				if (i+c)%3 != 0 { // leave some in flight
					steps = append(steps, []session.Change{{Kind: session.ChangeAcked, PacketID: pid}})
				}
				for _, ch := range steps {
					if err := st.Apply(bg, store.Update{ClientID: id, Changes: ch}); err != nil {
						t.Error(err)
						return
					}
				}
				if i%50 == 0 {
					r := &session.Message{ID: uint64(1000 + c), Topic: fmt.Sprintf("r/%d", i%3), Payload: []byte(id), QoS: packet.QoS1, Retain: true}
					if err := st.SetRetained(bg, r); err != nil {
						t.Error(err)
						return
					}
				}
			}
			// Hot bodies: three messages queued and removed again by
			// every writer, so that their bodies are set and deleted
			// by different writers in quick succession.
			for i := range 400 {
				m := hot[i%3]
				seq := uint64(100000 + i)
				if err := st.Apply(bg, store.Update{ClientID: id, Changes: []session.Change{{Kind: session.ChangeQueued, Seq: seq, Delivery: session.Delivery{Msg: m, QoS: packet.QoS1}}}}); err != nil {
					t.Error(err)
					return
				}
				if err := st.Apply(bg, store.Update{ClientID: id, Changes: []session.Change{{Kind: session.ChangeRemoved, Seq: seq}}}); err != nil {
					t.Error(err)
					return
				}
			}
			if c%4 == 0 {
				if err := st.DeleteSession(bg, id); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	before := dump(t, st, clients)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	st, err := pebble.Open(dir, pebble.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer st.Close()
	if strings.Contains(logs.String(), "unreferenced") {
		t.Errorf("bodies left without references on disk:\n%s", logs.String())
	}
	if after := dump(t, st, clients); after != before {
		t.Fatalf("reopened store differs:\nbefore %s\nafter  %s", before, after)
	}
}

// dump describes everything a store reports about the test's clients.
func dump(t *testing.T, st store.Store, clients int) string {
	t.Helper()
	stats, err := st.Stats(bg)
	if err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprintf("%+v", stats)
	for c := range clients {
		s, err := st.LoadState(bg, fmt.Sprintf("c%d", c))
		if err != nil {
			t.Fatal(err)
		}
		out += fmt.Sprintf("\nc%d %s", c, summary(s))
	}
	for _, f := range []string{"r/0", "r/1", "r/2"} {
		_ = st.MatchRetained(bg, f, func(m *session.Message) bool {
			out += fmt.Sprintf("\n%s=%d:%s", f, m.ID, m.Payload)
			return true
		})
	}
	return out
}
