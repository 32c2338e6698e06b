package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
)

// testApply: the QoS 1 and QoS 2 flows in both directions, step by step.
func (o opener) testApply(t *testing.T) {
	st := o.store(t)
	if got, err := st.LoadState(bg, "nobody"); err != nil || diffState(got, session.State{}, true) != "" {
		t.Fatalf("LoadState of an unknown client: %+v, %v; want the zero State", got, err)
	}
	p := newPeer("c", session.Config{Version: packet.V5, SendWindow: 2})
	peers := []*peer{p}
	step := func(what string) {
		t.Helper()
		persist(t, st, p)
		checkPeer(t, st, p)
		checkBodies(t, st, peers)
		if t.Failed() {
			t.Fatalf("after %s", what)
		}
	}
	now := t0
	// Offline: QoS 1 and 2 deliveries are queued [MQTT-3.1.2-5].
	m1 := &session.Message{ID: 1, Topic: "a", Payload: []byte("1"), QoS: packet.QoS1}
	m2 := &session.Message{ID: 2, Topic: "b", Payload: []byte("2"), QoS: packet.QoS2}
	m3 := &session.Message{ID: 3, Topic: "c", Payload: []byte("3"), QoS: packet.QoS2}
	must(t, p.s.Send(now, session.Delivery{Msg: m1, QoS: packet.QoS1, SubIDs: []uint32{4}}))
	must(t, p.s.Send(now, session.Delivery{Msg: m2, QoS: packet.QoS2, Retain: true}))
	must(t, p.s.Send(now, session.Delivery{Msg: m3, QoS: packet.QoS1}))
	step("queueing three deliveries offline")
	if len(p.ref.Queue) != 3 {
		t.Fatalf("%d queued, want 3", len(p.ref.Queue))
	}
	// Connecting moves two of them in flight (window 2).
	p.connect(now, packet.V5, 0)
	step("connecting")
	if len(p.ref.Inflight) != 2 || len(p.ref.Queue) != 1 {
		t.Fatalf("%d in flight and %d queued, want 2 and 1", len(p.ref.Inflight), len(p.ref.Queue))
	}
	p.ackOne(t, now, 0, false) // PUBACK for m1: m3 goes in flight
	step("PUBACK")
	p.ackOne(t, now, 0, false) // PUBREC for m2
	step("PUBREC")
	if p.ref.Inflight[0].Stage != session.AwaitPubcomp {
		t.Fatalf("stage %v after PUBREC, want %v", p.ref.Inflight[0].Stage, session.AwaitPubcomp)
	}
	p.ackOne(t, now, 0, false) // PUBCOMP for m2
	step("PUBCOMP")
	p.ackOne(t, now, 0, false) // PUBACK for m3
	step("PUBACK")
	// Inbound QoS 2: the identifier awaits PUBREL.
	must(t, p.inbound(now, packet.QoS2, &session.Message{ID: 9, Topic: "in", Payload: []byte("x"), QoS: packet.QoS2}))
	must(t, p.inbound(now, packet.QoS1, &session.Message{ID: 10, Topic: "in", Payload: []byte("y"), QoS: packet.QoS1}))
	step("inbound QoS 2 and QoS 1")
	if len(p.ref.InboundQoS2) != 1 {
		t.Fatalf("inbound QoS 2 %v, want one identifier", p.ref.InboundQoS2)
	}
	must(t, p.s.Receive(now, &packet.Ack{PacketType: packet.PUBREL, PacketID: p.ref.InboundQoS2[0]}))
	step("PUBREL")
	if len(p.ref.Inflight)+len(p.ref.Queue)+len(p.ref.InboundQoS2) != 0 {
		t.Fatalf("state not empty at the end: %+v", p.ref)
	}
}

// testApplyModel drives real sessions with random inputs and checks after
// every step that the stored state equals the one session.State.Apply builds
// from the same changes and the sessions' own State(), that message bodies
// are counted once and reclaimed, and that a session restored from the store
// carries on.
func (o opener) testApplyModel(t *testing.T) {
	o.check(t, func(g *gen, st store.Store) {
		m := newModel(g, st, nil)
		for range g.intRange(1, 60) {
			m.step()
		}
	})
}

// model drives random sessions against a store.
type model struct {
	g      *gen
	st     store.Store
	peers  []*peer
	now    time.Time
	nextID uint64
	// reopen, when set, closes the store and opens it again on the same
	// data; the "broker restart" step then restarts the whole store.
	reopen func() store.Store
}

func newModel(g *gen, st store.Store, reopen func() store.Store) *model {
	m := &model{g: g, st: st, now: t0, reopen: reopen}
	for i := range g.intRange(1, 3) {
		cfg := session.Config{
			Version:        pick(g, []packet.Version{packet.V311, packet.V5}),
			SendWindow:     uint16(g.intRange(1, 3)),
			MaxQueued:      g.intRange(1, 5),
			QueueQoS0:      g.bool(),
			ReceiveMaximum: 3,
		}
		m.peers = append(m.peers, newPeer(fmt.Sprintf("client-%d", i), cfg))
	}
	return m
}

// step makes one random input, persists the changes and checks the store.
func (m *model) step() {
	g, st := m.g, m.st
	p := m.peers[g.intRange(0, len(m.peers)-1)]
	switch op := g.intRange(0, 9); op {
	case 0, 1, 2: // a message fanned out to some peers
		m.nextID++
		msg := &session.Message{ID: m.nextID, Topic: fmt.Sprintf("t/%d", m.nextID), Payload: []byte{byte(m.nextID)},
			QoS: packet.QoS(g.intRange(0, 2))}
		if g.intRange(0, 4) == 0 {
			msg.Expires = m.now.Add(time.Duration(g.intRange(1, 5)) * time.Second)
		}
		for _, q := range m.peers {
			if g.bool() {
				d := session.Delivery{Msg: msg, QoS: min(msg.QoS, packet.QoS(g.intRange(0, 2)))}
				if g.bool() {
					d.SubIDs = []uint32{uint32(q.gen + 1)}
				}
				must(g, q.s.Send(m.now, d))
			}
		}
	case 3:
		if !p.s.IsConnected() {
			v := pick(g, []packet.Version{packet.V311, packet.V5})
			p.connect(m.now, v, uint16(g.intRange(0, 3)))
		}
	case 4:
		p.s.Disconnected(m.now, p.gen)
	case 5, 6:
		if n := len(p.s.State().Inflight); n > 0 && p.s.IsConnected() {
			p.ackOne(g, m.now, g.intRange(0, n-1), g.intRange(0, 4) == 0)
		}
	case 7:
		if p.s.IsConnected() {
			m.nextID++
			qos := packet.QoS(g.intRange(1, 2))
			_ = p.inbound(m.now, qos, &session.Message{ID: m.nextID, Topic: "in", Payload: []byte("in"), QoS: qos}) // may exceed Receive Maximum
			if g.bool() {
				must(g, p.s.Receive(m.now, &packet.Ack{PacketType: packet.PUBREL, PacketID: p.next}))
			}
		}
	case 8:
		m.now = m.now.Add(time.Duration(g.intRange(1, 3)) * time.Second)
		p.s.Tick(m.now)
	case 9:
		switch {
		case g.bool():
			// The session ends: its state goes, and the client starts
			// afresh.
			must(g, st.DeleteSession(bg, p.id))
			p.s, p.ref, p.gen = session.New(p.cfg), session.State{}, 0
		case m.reopen != nil && g.bool():
			// The broker restarts with everything persisted: the store
			// is closed and opened again, every session comes back
			// from it, disconnected.
			for _, q := range m.peers {
				q.s.Disconnected(m.now, q.gen)
			}
			persist(g, st, m.peers...)
			m.st = m.reopen()
			for _, q := range m.peers {
				m.restore(q)
			}
		default:
			// The session is rebuilt from the store, disconnected.
			p.s.Disconnected(m.now, p.gen)
			persist(g, st, m.peers...)
			m.restore(p)
		}
	}
	if g.bool() {
		persist(g, m.st, m.peers...)
	} else {
		for _, q := range m.peers {
			persist(g, m.st, q)
		}
	}
	for _, q := range m.peers {
		checkPeer(g, m.st, q)
	}
	checkBodies(g, m.st, m.peers)
}

func (m *model) restore(p *peer) {
	stored, err := m.st.LoadState(bg, p.id)
	must(m.g, err)
	s, err := session.Restore(p.cfg, stored)
	if err != nil {
		m.g.Fatalf("%s: Restore(LoadState): %v", p.id, err)
	}
	p.s = s
}

// testFanOut: one message queued to many sessions in one call is stored
// once and reclaimed with its last reference.
func (o opener) testFanOut(t *testing.T) {
	st := o.store(t)
	m := &session.Message{ID: 42, Topic: "fan", Payload: []byte("out"), QoS: packet.QoS1}
	var peers []*peer
	for i := range 3 {
		p := newPeer(fmt.Sprintf("sub-%d", i), session.Config{Version: packet.V5})
		must(t, p.s.Send(t0, session.Delivery{Msg: m, QoS: packet.QoS1}))
		peers = append(peers, p)
	}
	persist(t, st, peers...)
	checkBodies(t, st, peers)
	stats, err := st.Stats(bg)
	must(t, err)
	if stats.Messages != 1 {
		t.Fatalf("Stats.Messages = %d after a fan-out of one message, want 1", stats.Messages)
	}
	for _, p := range peers {
		checkPeer(t, st, p)
	}
	// Delivered to the first, session of the second deleted: the third
	// still references it.
	peers[0].connect(t0, packet.V5, 0)
	persist(t, st, peers[0])
	peers[0].ackOne(t, t0, 0, false)
	persist(t, st, peers[0])
	must(t, st.DeleteSession(bg, peers[1].id))
	peers[1].ref = session.State{}
	checkBodies(t, st, peers)
	got, err := st.LoadState(bg, peers[2].id)
	must(t, err)
	if len(got.Queue) != 1 || !sameMessage(got.Queue[0].Delivery.Msg, m) {
		t.Fatalf("third session lost the message: %+v", got)
	}
	// Dropped from the third: nothing references it any more.
	peers[2].connect(t0, packet.V5, 0)
	persist(t, st, peers[2])
	peers[2].ackOne(t, t0, 0, false)
	persist(t, st, peers[2])
	checkBodies(t, st, peers)
}

// testApplyAtomic: a call with one invalid update applies nothing.
func (o opener) testApplyAtomic(t *testing.T) {
	st := o.store(t)
	m := &session.Message{ID: 1, Topic: "x", Payload: []byte("x"), QoS: packet.QoS1}
	good := store.Update{ClientID: "a", Changes: []session.Change{{Kind: session.ChangeQueued, Seq: 1, Delivery: session.Delivery{Msg: m, QoS: packet.QoS1}}}}
	for _, bad := range []store.Update{
		{ClientID: "", Changes: good.Changes},
		{ClientID: "b", Changes: []session.Change{{Kind: session.ChangeKind(200), Seq: 1}}},
		{ClientID: "b", Changes: []session.Change{{Kind: session.ChangeQueued, Seq: 1}}},                                       // no message
		{ClientID: "b", Changes: []session.Change{{Kind: session.ChangeInflight, Seq: 1, Delivery: good.Changes[0].Delivery}}}, // packet identifier 0
	} {
		err := st.Apply(bg, good, bad)
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Apply with %+v: got %v, want ErrInvalid", bad, err)
		}
		for _, id := range []string{"a", "b"} {
			got, err := st.LoadState(bg, id)
			must(t, err)
			if diffState(got, session.State{}, true) != "" {
				t.Fatalf("a refused call changed %q: %+v", id, got)
			}
		}
	}
	if stats, err := st.Stats(bg); err != nil || stats.Messages != 0 {
		t.Fatalf("Stats after refused calls: %+v, %v", stats, err)
	}
}

// testDeleteDropsState: deleting a session drops its message state and its
// references to message bodies.
func (o opener) testDeleteDropsState(t *testing.T) {
	st := o.store(t)
	p := newPeer("gone", session.Config{Version: packet.V311, SendWindow: 1})
	must(t, st.SaveSession(bg, sampleRecord(p.id)))
	p.connect(t0, packet.V311, 0)
	for i := range 3 {
		must(t, p.s.Send(t0, session.Delivery{Msg: &session.Message{ID: uint64(i + 1), Topic: "d", Payload: []byte("d"), QoS: packet.QoS2}, QoS: packet.QoS2}))
	}
	must(t, p.inbound(t0, packet.QoS2, &session.Message{ID: 7, Topic: "in", Payload: []byte("x"), QoS: packet.QoS2}))
	persist(t, st, p)
	checkPeer(t, st, p)
	must(t, st.DeleteSession(bg, p.id))
	got, err := st.LoadState(bg, p.id)
	must(t, err)
	if d := diffState(got, session.State{}, false); d != "" {
		t.Fatalf("state after DeleteSession: %s", d)
	}
	stats, err := st.Stats(bg)
	must(t, err)
	if stats != (store.Stats{}) {
		t.Fatalf("Stats after DeleteSession = %+v, want zero", stats)
	}
	checkRecords(t, st, nil)
}
