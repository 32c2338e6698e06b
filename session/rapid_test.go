package session

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
	"pgregory.net/rapid"
)

// machine drives a Session (and, after a restore, a shadow restored from
// its State) through random inputs, playing a conforming peer on the other
// side, and checks the invariants after every step.
type machine struct {
	cfg       Config
	peer      Peer
	retry     bool // 3.1.1 timed retries on
	s, shadow *Session
	now       time.Time
	gen       uint64
	connected bool
	held      bool // a Ready is outstanding
	base      int  // flows in flight when the connection started

	stored State // built from every Persist with State.Apply

	// Outbound accounting, by message.
	sends    []*Message
	qos      map[*Message]packet.QoS
	outcomes map[*Message]int // Done entries + QoS 0 PUBLISH handed out
	// handedOut marks the messages whose PUBLISH a Ready returned.
	handedOut map[*Message]bool

	// The peer as receiver of our PUBLISH.
	pIn      map[uint16]*peerFlow
	seenConn map[uint16]bool // identifiers whose PUBLISH arrived on this connection
	relConn  map[uint16]bool // identifiers whose PUBREL arrived on this connection

	// The peer as sender of PUBLISH.
	pOut       map[uint16]*peerFlow
	nextK      int
	delivered  map[string]int // inbound topic -> deliveries
	awaiting   map[uint16]bool
	peerWindow int
}

type peerFlow struct {
	qos   packet.QoS
	stage int // 1 PUBLISH seen/sent, 2 PUBREC sent/seen, 3 PUBREL seen
	topic string
	m     *Message
}

func newMachine(t *rapid.T) *machine {
	v := rapid.SampledFrom([]packet.Version{packet.V311, packet.V5}).Draw(t, "version")
	cfg := Config{
		Version:        v,
		SendWindow:     uint16(rapid.IntRange(1, 4).Draw(t, "window")),
		MaxQueued:      rapid.IntRange(1, 6).Draw(t, "maxQueued"),
		MaxQueuedBytes: rapid.SampledFrom([]int{0, 12, 40}).Draw(t, "maxBytes"),
		QueueQoS0:      rapid.Bool().Draw(t, "queueQoS0"),
		ReceiveMaximum: uint16(rapid.IntRange(1, 4).Draw(t, "receiveMax")),
	}
	m := &machine{cfg: cfg, now: t0, qos: map[*Message]packet.QoS{}, outcomes: map[*Message]int{}, handedOut: map[*Message]bool{},
		pIn: map[uint16]*peerFlow{}, pOut: map[uint16]*peerFlow{}, delivered: map[string]int{},
		awaiting: map[uint16]bool{}, seenConn: map[uint16]bool{}, relConn: map[uint16]bool{}}
	if rapid.Bool().Draw(t, "retry") {
		// Configured for both; only 3.1.1 retries [MQTT5-4.4.0-1].
		m.cfg.Retry = Retry{Initial: time.Second, Max: 3 * time.Second}
		m.retry = v == packet.V311
	}
	m.peer = Peer{Version: v}
	if v == packet.V5 {
		m.peer.ReceiveMaximum = uint16(rapid.IntRange(0, 3).Draw(t, "peerRM"))
		m.peer.MaximumPacketSize = uint32(rapid.SampledFrom([]int{0, 40}).Draw(t, "maxPacket"))
	}
	m.peerWindow = int(m.cfg.ReceiveMaximum)
	m.s = New(m.cfg)
	return m
}

// both runs f on the session and its shadow.
func (m *machine) both(f func(*Session)) {
	f(m.s)
	if m.shadow != nil {
		f(m.shadow)
	}
}

func (m *machine) bothErr(t *rapid.T, f func(*Session) error) error {
	err := f(m.s)
	if m.shadow != nil {
		if e2 := f(m.shadow); (err == nil) != (e2 == nil) {
			t.Fatalf("shadow error %v, session error %v", e2, err)
		}
	}
	return err
}

func (m *machine) Send(t *rapid.T) {
	q := packet.QoS(rapid.IntRange(0, 2).Draw(t, "qos"))
	size := rapid.IntRange(0, 30).Draw(t, "size")
	msg := &Message{Topic: fmt.Sprintf("out/%d", len(m.sends)), Payload: make([]byte, size), QoS: q}
	m.sends = append(m.sends, msg)
	m.qos[msg] = q
	if err := m.bothErr(t, func(s *Session) error { return s.Send(m.now, Delivery{Msg: msg, QoS: q}) }); err != nil {
		t.Fatal(err)
	}
}

func (m *machine) Connect(t *rapid.T) {
	if m.connected && !rapid.Bool().Draw(t, "takeover") {
		t.Skip("connected")
	}
	m.gen++
	before := m.s.State().Inflight
	keep := len(m.s.packets)
	if m.connected {
		// Takeover: packets not yet handed out are dropped, so their
		// first PUBLISH was never sent.
		keep = 0
		if m.held {
			keep = len(m.s.rd.Packets)
		}
		for _, o := range m.s.packets[keep:] {
			if o.Kind == packet.PUBLISH && o.PacketID != 0 && !o.Dup {
				for i := range before {
					if before[i].PacketID == o.PacketID {
						before[i].Sent = false
					}
				}
			}
		}
	}
	m.both(func(s *Session) { s.Connected(m.now, m.gen, m.peer) })
	m.connected = true
	m.seenConn, m.relConn = map[uint16]bool{}, map[uint16]bool{}
	m.base = len(before)
	// [MQTT-4.4.0-1] [MQTT5-4.4.0-1] [MQTT-4.6.0-1]: resends first, original identifiers, original order.
	// An MQTT 5 peer's quota bounds the PUBLISH resends; the others wait [MQTT5-3.3.4-9].
	var want, got []string
	quota := 0
	for _, e := range before {
		if e.Stage == AwaitPubcomp {
			want = append(want, fmt.Sprintf("PUBREL(%d)", e.PacketID))
			continue
		}
		if m.peer.MaximumPacketSize > 0 && m.s.publishSize(&e.Delivery) > int(m.peer.MaximumPacketSize) {
			continue
		}
		if m.s.v5() && quota >= m.s.window {
			continue
		}
		quota++
		want = append(want, show([]Outbound{{Kind: packet.PUBLISH, PacketID: e.PacketID, Dup: e.Sent, Delivery: e.Delivery}}))
	}
	for _, o := range m.s.packets[keep:] {
		if len(got) == len(want) {
			break
		}
		got = append(got, show([]Outbound{o}))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("resend on connect:\n got  %v\n want %v", got, want)
	}
	// The peer resends its own unacknowledged flows.
	for _, id := range sortedIDs(m.pOut) {
		f := m.pOut[id]
		if f.stage == 1 {
			m.peerPublish(t, id, f, true)
		} else {
			m.peerAck(t, packet.PUBREL, id, 0)
		}
	}
}

func (m *machine) Disconnect(t *rapid.T) {
	if rapid.Bool().Draw(t, "stale") && m.gen > 0 {
		m.both(func(s *Session) { s.Disconnected(m.now, m.gen-1) })
		if m.connected && !m.s.IsConnected() {
			t.Fatal("stale Disconnected detached the connection")
		}
		return
	}
	m.both(func(s *Session) { s.Disconnected(m.now, m.gen) })
	m.connected = false
}

func (m *machine) Hold(t *rapid.T) {
	if m.held || !m.s.HasReady() {
		t.Skip("nothing to hold")
	}
	m.both(func(s *Session) { s.Ready() })
	m.held = true
}

func (m *machine) Drain(t *rapid.T) {
	if m.held {
		m.process(t)
	}
	if m.s.HasReady() {
		m.both(func(s *Session) { s.Ready() })
		m.held = true
		m.process(t)
	}
	if m.shadow != nil && m.shadow.HasReady() {
		t.Fatal("shadow has output the session has not")
	}
	m.checkDrained(t)
}

func (m *machine) Tick(t *rapid.T) {
	m.now = m.now.Add(time.Duration(rapid.IntRange(0, 3000).Draw(t, "ms")) * time.Millisecond)
	m.both(func(s *Session) { s.Tick(m.now) })
}

// PeerAck acknowledges one flow the peer received on this connection (what
// it received on an earlier one it acknowledged there, or waits for the
// resend).
func (m *machine) PeerAck(t *rapid.T) {
	var ids []uint16
	for _, id := range sortedIDs(m.pIn) {
		if m.seenConn[id] || m.relConn[id] {
			ids = append(ids, id)
		}
	}
	if !m.connected || len(ids) == 0 {
		t.Skip("nothing to acknowledge")
	}
	id := rapid.SampledFrom(ids).Draw(t, "id")
	f := m.pIn[id]
	var reason packet.ReasonCode
	if m.s.v5() && f.stage == 1 && rapid.IntRange(0, 4).Draw(t, "refuse") == 0 {
		reason = packet.QuotaExceeded
	}
	switch {
	case f.qos == 1:
		delete(m.pIn, id)
		m.peerAck(t, packet.PUBACK, id, reason)
	case f.stage == 1 && reason.IsError():
		delete(m.pIn, id)
		m.peerAck(t, packet.PUBREC, id, reason)
	case f.stage <= 2:
		f.stage = 2
		m.peerAck(t, packet.PUBREC, id, 0)
	default:
		delete(m.pIn, id)
		m.peerAck(t, packet.PUBCOMP, id, 0)
	}
}

// PeerUnknownAck sends an acknowledgement for an identifier with no flow.
func (m *machine) PeerUnknownAck(t *rapid.T) {
	if !m.connected {
		t.Skip("disconnected")
	}
	id := uint16(rapid.IntRange(1, 20).Draw(t, "id"))
	if _, ok := m.s.fl.byID.get(id); ok || m.pIn[id] != nil {
		t.Skip("known identifier")
	}
	kind := rapid.SampledFrom([]packet.Type{packet.PUBACK, packet.PUBREC, packet.PUBCOMP}).Draw(t, "kind")
	before := m.s.Stats().UnknownAcks
	m.peerAck(t, kind, id, 0)
	if m.s.Stats().UnknownAcks != before+1 {
		t.Fatal("unknown acknowledgement not counted")
	}
}

// PeerPublish sends a new application message to the session.
func (m *machine) PeerPublish(t *rapid.T) {
	if !m.connected {
		t.Skip("disconnected")
	}
	q := packet.QoS(rapid.IntRange(0, 2).Draw(t, "qos"))
	if q > 0 && len(m.pOut) >= m.peerWindow {
		t.Skip("peer window full")
	}
	id := uint16(rapid.IntRange(1, 6).Draw(t, "id"))
	if q > 0 && m.pOut[id] != nil {
		t.Skip("identifier in use by the peer")
	}
	m.nextK++
	f := &peerFlow{qos: q, stage: 1, topic: fmt.Sprintf("in/%d/%d", id, m.nextK)}
	if q > 0 {
		m.pOut[id] = f
	}
	m.peerPublish(t, id, f, false)
}

// PeerResend resends an unacknowledged PUBLISH or PUBREL of the peer on the
// same connection: a 3.1.1 peer's timed retry (MQTT 5 resends only on
// reconnection, see Connect).
func (m *machine) PeerResend(t *rapid.T) {
	if !m.connected || len(m.pOut) == 0 || m.s.v5() {
		t.Skip("nothing to resend")
	}
	id := rapid.SampledFrom(sortedIDs(m.pOut)).Draw(t, "id")
	f := m.pOut[id]
	if f.stage == 1 {
		m.peerPublish(t, id, f, true)
	} else {
		m.peerAck(t, packet.PUBREL, id, 0)
	}
}

func (m *machine) peerPublish(t *rapid.T, id uint16, f *peerFlow, dup bool) {
	p := &packet.Publish{QoS: f.qos, Dup: dup, Topic: f.topic}
	if f.qos > 0 {
		p.PacketID = id
	}
	reason := packet.Success
	if m.s.v5() && f.qos > 0 && rapid.IntRange(0, 5).Draw(t, "verdict") == 0 {
		reason = packet.NotAuthorized
	}
	n := len(m.s.deliver)
	wasAwaiting := f.qos == 2 && m.awaiting[id]
	if err := m.bothErr(t, func(s *Session) error { return s.ReceivePublish(m.now, p, nil, reason) }); err != nil {
		t.Fatalf("conforming peer refused: %v", err)
	}
	if len(m.s.deliver) > n {
		m.delivered[f.topic]++
		if f.qos == 2 {
			// [MQTT-4.3.3-2] [MQTT5-4.3.3-10]: at most once per identifier flow.
			if wasAwaiting || m.delivered[f.topic] > 1 {
				t.Fatalf("QoS 2 message %s delivered again", f.topic)
			}
			m.awaiting[id] = true
		}
	}
}

func (m *machine) peerAck(t *rapid.T, kind packet.Type, id uint16, reason packet.ReasonCode) {
	a := &packet.Ack{PacketType: kind, PacketID: id, ReasonCode: reason}
	if kind == packet.PUBREL {
		delete(m.awaiting, id)
	}
	if err := m.bothErr(t, func(s *Session) error { return s.Receive(m.now, a) }); err != nil {
		t.Fatal(err)
	}
}

func (m *machine) Restore(t *rapid.T) {
	if m.connected || m.held || m.s.HasReady() {
		t.Skip("only a quiescent, disconnected session is snapshotted")
	}
	r, err := Restore(m.cfg, m.s.State())
	if err != nil {
		t.Fatal(err)
	}
	m.shadow = r
}

// process hands the outstanding Ready to the store and the peer, compares it
// with the shadow's, and advances.
func (m *machine) process(t *rapid.T) {
	rd := m.s.Ready()
	if m.shadow != nil {
		sr := m.shadow.Ready()
		if a, b := readyString(rd), readyString(sr); a != b {
			t.Fatalf("restored session diverged:\n session %s\n shadow  %s", a, b)
		}
	}
	for _, c := range rd.Persist {
		if err := m.stored.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range rd.Done {
		m.outcomes[c.Delivery.Msg]++
	}
	live := m.connected && rd.Gen == m.gen
	for _, o := range rd.Packets {
		if o.Kind == packet.PUBLISH && o.PacketID == 0 {
			m.outcomes[o.Delivery.Msg]++
		}
		if o.Kind == packet.PUBLISH && o.PacketID != 0 {
			// [MQTT-3.3.1-1] [MQTT5-3.3.1-3]: DUP exactly on retransmissions.
			if o.Dup != m.handedOut[o.Delivery.Msg] {
				t.Fatalf("PUBLISH %d of %s: DUP %v, handed out before %v", o.PacketID, o.Delivery.Msg.Topic, o.Dup, !o.Dup)
			}
			m.handedOut[o.Delivery.Msg] = true
		}
		if live {
			m.peerReceive(t, o)
		}
	}
	m.both(func(s *Session) { s.Advance() })
	m.held = false
}

// peerReceive is the peer reading one packet from the session.
func (m *machine) peerReceive(t *rapid.T, o Outbound) {
	id := o.PacketID
	switch o.Kind {
	case packet.PUBLISH:
		if id == 0 {
			if o.Dup {
				t.Fatal("QoS 0 PUBLISH with DUP") // [MQTT-3.3.1-2]
			}
			return
		}
		f := m.pIn[id]
		if o.Dup && m.seenConn[id] && !m.retry {
			t.Fatalf("PUBLISH %d resent within a connection", id) // [MQTT5-4.4.0-1]
		}
		if !o.Dup && f != nil {
			t.Fatalf("identifier %d reused while unacknowledged", id) // [MQTT-2.3.1-2]
		}
		if f != nil && f.stage == 3 {
			t.Fatalf("PUBLISH %d resent after PUBREL", id) // [MQTT5-4.3.3-6]
		}
		m.seenConn[id] = true
		if m.s.v5() {
			// [MQTT5-3.3.4-9]: PUBLISH received on this connection and not yet acknowledged.
			n := 0
			for pid := range m.pIn {
				if m.seenConn[pid] {
					n++
				}
			}
			if f == nil {
				n++
			}
			if n > m.s.window {
				t.Fatalf("peer holds %d unacknowledged PUBLISH from this connection, window %d", n, m.s.window)
			}
		}
		if f == nil {
			m.pIn[id] = &peerFlow{qos: o.Delivery.QoS, stage: 1, m: o.Delivery.Msg}
		} else if f.m != o.Delivery.Msg {
			t.Fatalf("resend of %d carries another message", id)
		}
	case packet.PUBREL:
		if f := m.pIn[id]; f != nil && f.qos == 2 && f.stage >= 2 {
			f.stage = 3
			m.relConn[id] = true
		}
	case packet.PUBACK:
		if f := m.pOut[id]; f != nil && f.qos == 1 {
			if !o.Reason.IsError() && m.delivered[f.topic] == 0 {
				t.Fatalf("PUBACK for %s never delivered", f.topic)
			}
			delete(m.pOut, id)
		}
	case packet.PUBREC:
		if f := m.pOut[id]; f != nil && f.qos == 2 {
			if o.Reason.IsError() {
				delete(m.pOut, id)
			} else {
				f.stage = 2
			}
		}
	case packet.PUBCOMP:
		if f := m.pOut[id]; f != nil && f.qos == 2 && f.stage == 2 {
			if m.delivered[f.topic] != 1 && o.Reason == 0 {
				t.Fatalf("QoS 2 %s completed with %d deliveries", f.topic, m.delivered[f.topic])
			}
			delete(m.pOut, id)
		}
	}
}

// Check holds after every step.
func (m *machine) Check(t *rapid.T) {
	st := m.s.State()
	seen := map[uint16]bool{}
	for _, e := range st.Inflight {
		if e.PacketID == 0 || seen[e.PacketID] {
			t.Fatalf("identifier %d zero or repeated", e.PacketID) // [MQTT-2.3.1-1] [MQTT-2.3.1-2]
		}
		seen[e.PacketID] = true
		if e.Delivery.QoS == 0 {
			t.Fatal("QoS 0 in flight")
		}
	}
	counted, deferred := 0, 0
	for i := m.s.fl.head; i >= 0; i = m.s.fl.slots[i].next {
		if e := &m.s.fl.slots[i]; e.counted {
			counted++
		} else if e.deferred {
			deferred++
		}
	}
	if counted != m.s.quota || deferred != m.s.deferred {
		t.Fatalf("quota %d/%d, deferred %d/%d", m.s.quota, counted, m.s.deferred, deferred)
	}
	limit := m.s.window
	if !m.s.v5() {
		limit = max(limit, m.base) // 3.1.1 resends everything on reconnection
	}
	if m.connected && m.s.quota > limit {
		t.Fatalf("%d PUBLISH unacknowledged on this connection, window %d", m.s.quota, m.s.window) // [MQTT5-3.3.4-9]
	}
	if m.connected && m.s.deferred > 0 && m.s.quota < m.s.window {
		t.Fatalf("%d resends wait with %d of %d in flight", m.s.deferred, m.s.quota, m.s.window)
	}
	// Liveness: while connected, the queue only waits for the window.
	if m.connected && m.s.q.n > 0 && (m.s.q.at(0).d.QoS == 0 || m.s.canStart()) {
		t.Fatalf("queue head (QoS %d) waits with %d of %d in flight", m.s.q.at(0).d.QoS, m.s.fl.n, m.s.window)
	}
	if m.s.q.n > m.cfg.MaxQueued || (m.cfg.MaxQueuedBytes > 0 && m.s.q.bytes > m.cfg.MaxQueuedBytes) {
		t.Fatalf("queue %d/%d bytes over its bounds", m.s.q.n, m.s.q.bytes)
	}
	for _, msg := range m.sends {
		if m.outcomes[msg] > 1 {
			t.Fatalf("%s ended %d times", msg.Topic, m.outcomes[msg])
		}
	}
}

// checkDrained holds when no output is pending: every delivery is pending
// exactly once or has ended exactly once, and the stored state matches.
func (m *machine) checkDrained(t *rapid.T) {
	st := m.s.State()
	pending := map[*Message]int{}
	for _, e := range st.Inflight {
		pending[e.Delivery.Msg]++
	}
	for _, e := range st.Queue {
		pending[e.Delivery.Msg]++
	}
	for _, msg := range m.sends {
		if n := pending[msg] + m.outcomes[msg]; n != 1 {
			t.Fatalf("%s (QoS %d): pending %d, ended %d", msg.Topic, m.qos[msg], pending[msg], m.outcomes[msg])
		}
	}
	stored := m.stored
	if stored.NextID == 0 {
		stored.NextID = 1
	}
	if a, b := stateString(stored), stateString(st); a != b {
		t.Fatalf("stored state differs:\n stored  %s\n session %s", a, b)
	}
	if m.s.Stats().InboundPending != len(m.awaiting) {
		t.Fatalf("inbound pending %d, model %d", m.s.Stats().InboundPending, len(m.awaiting))
	}
}

func readyString(rd Ready) string {
	s := "packets=[" + show(rd.Packets) + "] persist=["
	if len(rd.Packets) > 0 {
		s = fmt.Sprintf("gen=%d %s", rd.Gen, s)
	}
	for _, c := range rd.Persist {
		topic := ""
		if c.Delivery.Msg != nil {
			topic = c.Delivery.Msg.Topic
		}
		s += fmt.Sprintf(" %v/%d/%d/%d/%d/%s", c.Kind, c.Seq, c.PacketID, c.Reason, c.Drop, topic)
	}
	s += " ] deliver=["
	for _, d := range rd.Deliver {
		s += " " + d.Topic
	}
	s += " ] done=["
	for _, c := range rd.Done {
		s += fmt.Sprintf(" %s/%d/%d/%d", c.Delivery.Msg.Topic, c.PacketID, c.Reason, c.Drop)
	}
	return s + " ]"
}

func sortedIDs(m map[uint16]*peerFlow) []uint16 {
	ids := make([]uint16, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func TestRapidSession(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newMachine(t)
		t.Repeat(map[string]func(*rapid.T){
			"Send":           m.Send,
			"Connect":        m.Connect,
			"Disconnect":     m.Disconnect,
			"Hold":           m.Hold,
			"Drain":          m.Drain,
			"Tick":           m.Tick,
			"PeerAck":        m.PeerAck,
			"PeerUnknownAck": m.PeerUnknownAck,
			"PeerPublish":    m.PeerPublish,
			"PeerResend":     m.PeerResend,
			"Restore":        m.Restore,
			"":               m.Check,
		})
	})
}
