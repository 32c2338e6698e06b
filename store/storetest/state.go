package storetest

import (
	"fmt"
	"slices"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// sameDelivery compares deliveries by content: a durable backend returns
// copies of the messages.
func sameDelivery(a, b session.Delivery) bool {
	if (a.Msg == nil) != (b.Msg == nil) || a.Msg != nil && !sameMessage(a.Msg, b.Msg) {
		return false
	}
	return a.QoS == b.QoS && a.Retain == b.Retain && slices.Equal(a.SubIDs, b.SubIDs)
}

// diffState describes how got differs from want, or returns "". NextSeq is
// compared only when exactSeq is set; otherwise got.NextSeq must be 0 or
// above every sequence number in got.
func diffState(got, want session.State, exactSeq bool) string {
	if id := func(n uint16) uint16 { return max(n, 1) }; id(got.NextID) != id(want.NextID) {
		return fmt.Sprintf("NextID %d, want %d", got.NextID, want.NextID)
	}
	if exactSeq && got.NextSeq != want.NextSeq {
		return fmt.Sprintf("NextSeq %d, want %d", got.NextSeq, want.NextSeq)
	}
	if got.NextSeq != 0 {
		for _, e := range got.Queue {
			if e.Seq >= got.NextSeq {
				return fmt.Sprintf("NextSeq %d not above queued %d", got.NextSeq, e.Seq)
			}
		}
		for _, e := range got.Inflight {
			if e.Seq >= got.NextSeq {
				return fmt.Sprintf("NextSeq %d not above in-flight seq %d", got.NextSeq, e.Seq)
			}
		}
	}
	if len(got.Inflight) != len(want.Inflight) {
		return fmt.Sprintf("%d in flight, want %d", len(got.Inflight), len(want.Inflight))
	}
	for i, g := range got.Inflight {
		w := want.Inflight[i]
		if g.PacketID != w.PacketID || g.Stage != w.Stage || g.Seq != w.Seq || g.Sent != w.Sent || !sameDelivery(g.Delivery, w.Delivery) {
			return fmt.Sprintf("in flight #%d: %+v, want %+v", i, g, w)
		}
	}
	if len(got.Queue) != len(want.Queue) {
		return fmt.Sprintf("%d queued, want %d", len(got.Queue), len(want.Queue))
	}
	for i, g := range got.Queue {
		w := want.Queue[i]
		if g.Seq != w.Seq || !sameDelivery(g.Delivery, w.Delivery) {
			return fmt.Sprintf("queued #%d: %+v, want %+v", i, g, w)
		}
	}
	if !slices.Equal(got.InboundQoS2, want.InboundQoS2) {
		return fmt.Sprintf("inbound QoS 2 %v, want %v", got.InboundQoS2, want.InboundQoS2)
	}
	return ""
}

// peer is one client's session driven by the tests, with the reference
// state built by session.State.Apply from the same changes.
type peer struct {
	id   string
	cfg  session.Config
	s    *session.Session
	ref  session.State
	gen  uint64
	v    packet.Version
	next uint16 // next inbound packet identifier
}

func newPeer(id string, cfg session.Config) *peer {
	return &peer{id: id, cfg: cfg, s: session.New(cfg), v: cfg.Version}
}

// persist applies the pending Ready of every peer with one Apply call, and
// advances them.
func persist(t tb, st store.Store, peers ...*peer) {
	t.Helper()
	var updates []store.Update
	var ready []*peer
	for _, p := range peers {
		if !p.s.HasReady() {
			continue
		}
		rd := p.s.Ready()
		ready = append(ready, p)
		if len(rd.Persist) == 0 {
			continue
		}
		updates = append(updates, store.Update{ClientID: p.id, Changes: rd.Persist})
		for _, c := range rd.Persist {
			if err := p.ref.Apply(c); err != nil {
				t.Fatalf("%s: reference state: %v", p.id, err)
			}
		}
	}
	if len(updates) > 0 {
		must(t, st.Apply(bg, updates...))
	}
	for _, p := range ready {
		p.s.Advance()
	}
}

// checkPeer compares the stored state with the reference state and with the
// session's own.
func checkPeer(t tb, st store.Store, p *peer) {
	t.Helper()
	got, err := st.LoadState(bg, p.id)
	if err != nil {
		t.Fatalf("LoadState(%q): %v", p.id, err)
	}
	if d := diffState(got, p.ref, false); d != "" {
		t.Fatalf("LoadState(%q) differs from the changes applied: %s", p.id, d)
	}
	if d := diffState(got, p.s.State(), false); d != "" {
		t.Fatalf("LoadState(%q) differs from the session's State(): %s", p.id, d)
	}
}

// referenced counts the distinct message IDs the peers' states reference.
func referenced(peers []*peer) (n int, maxID uint64) {
	ids := map[uint64]bool{}
	for _, p := range peers {
		for _, e := range p.ref.Queue {
			ids[e.Delivery.Msg.ID] = true
		}
		for _, e := range p.ref.Inflight {
			ids[e.Delivery.Msg.ID] = true
		}
	}
	for id := range ids {
		maxID = max(maxID, id)
	}
	return len(ids), maxID
}

func checkBodies(t tb, st store.Store, peers []*peer) {
	t.Helper()
	want, maxID := referenced(peers)
	stats, err := st.Stats(bg)
	must(t, err)
	if stats.Messages != want {
		t.Fatalf("Stats.Messages = %d, want %d distinct messages referenced", stats.Messages, want)
	}
	got, err := st.MaxMessageID(bg)
	must(t, err)
	if got < maxID {
		t.Fatalf("MaxMessageID = %d, below referenced message %d", got, maxID)
	}
}

func (p *peer) connect(now time.Time, v packet.Version, recvMax uint16) {
	p.gen++
	p.v = v
	p.s.Connected(now, p.gen, session.Peer{Version: v, ReceiveMaximum: recvMax})
}

// ackOne acknowledges in-flight flow i the way its stage expects.
func (p *peer) ackOne(t tb, now time.Time, i int, refuse bool) {
	t.Helper()
	e := p.s.State().Inflight[i]
	a := &packet.Ack{PacketID: e.PacketID}
	switch e.Stage {
	case session.AwaitPuback:
		a.PacketType = packet.PUBACK
	case session.AwaitPubrec:
		a.PacketType = packet.PUBREC
		if refuse && p.v == packet.V5 {
			a.ReasonCode = packet.ReasonCode(0x80)
		}
	case session.AwaitPubcomp:
		a.PacketType = packet.PUBCOMP
	}
	if err := p.s.Receive(now, a); err != nil {
		t.Fatalf("%s: Receive(%v %d): %v", p.id, a.PacketType, a.PacketID, err)
	}
}

// inbound receives a QoS 1 or 2 PUBLISH from the peer with message m.
func (p *peer) inbound(now time.Time, qos packet.QoS, m *session.Message) error {
	p.next = p.next%4 + 1 // few identifiers, so duplicates and PUBREL hit
	pub := &packet.Publish{QoS: qos, PacketID: p.next, Topic: m.Topic, Payload: m.Payload}
	return p.s.ReceivePublish(now, pub, m, packet.Success)
}
