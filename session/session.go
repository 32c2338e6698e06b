package session

import (
	"math"
	"sync"
	"time"

	"github.com/tern-mq/tern/packet"
)

// Session is the MQTT session state of one side of a client/broker pair.
// It is not safe for concurrent use.
type Session struct {
	cfg       Config
	version   packet.Version
	connected bool
	gen       uint64
	window    int    // outbound in-flight limit of the current connection
	maxPacket uint32 // peer's Maximum Packet Size (0: none)
	recvMax   int    // our Receive Maximum

	nextID  uint16
	nextSeq uint64

	fl        flights
	quota     int // flows counted against the window on this connection
	deferred  int // flows whose PUBLISH resend waits for the window
	q         queue
	in        idTable // inbound QoS 2 identifiers awaiting PUBREL
	inUnacked int     // MQTT 5: PUBACK/PUBCOMP produced but not yet advanced

	changes []Change
	packets []Outbound
	deliver []*Message
	done    []Completion

	outstanding bool  // Ready returned, Advance not yet called
	rd          Ready // the outstanding Ready
	rdAcks      int   // inUnacked counted in rd

	retryAt time.Time // earliest flight retry deadline (zero: none)
	stats   Stats
}

// sizing holds the PUBLISH values publishSize encodes into: pooled, so
// that a session does not hold one.
var sizing = sync.Pool{New: func() any { return new(packet.Publish) }}

// New returns a disconnected session with no state.
func New(cfg Config) *Session {
	if cfg.SendWindow == 0 {
		cfg.SendWindow = DefaultSendWindow
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = DefaultMaxQueued
	}
	if cfg.MaxQueuedBytes < 0 {
		cfg.MaxQueuedBytes = 0
	}
	s := &Session{cfg: cfg, version: cfg.Version, nextID: 1, nextSeq: 1, fl: newFlights()}
	s.recvMax = int(cfg.ReceiveMaximum)
	if s.recvMax == 0 {
		s.recvMax = math.MaxUint16
	}
	s.window = int(cfg.SendWindow)
	return s
}

func (s *Session) v5() bool { return s.version >= packet.V5 }

// Connected attaches the connection of generation gen. It resends every
// unacknowledged PUBLISH with DUP set (when it was sent before), with its
// original packet identifier and in the original order, and PUBREL for
// flows whose PUBREC was received [MQTT-4.4.0-1] [MQTT5-4.4.0-1]
// [MQTT-4.6.0-1] [MQTT5-4.6.0-1] [MQTT-2.3.1-3] [MQTT-2.3.1-4]; then fills
// the window from the queue. For an MQTT 5 peer whose Receive Maximum is
// now below the number of flows, the PUBLISH resends beyond the window
// wait, in order, for earlier flows to end [MQTT5-3.3.4-9]. A session
// already connected is first disconnected (takeover).
func (s *Session) Connected(now time.Time, gen uint64, peer Peer) {
	if s.connected {
		s.disconnect()
	}
	s.connected, s.gen = true, gen
	s.version = peer.Version
	if s.version == 0 {
		s.version = s.cfg.Version
	}
	s.window = int(s.cfg.SendWindow)
	if s.v5() {
		rm := int(peer.ReceiveMaximum)
		if rm == 0 {
			rm = math.MaxUint16
		}
		s.window = min(s.window, rm) // [MQTT5-4.9.0-1]
	}
	s.maxPacket = peer.MaximumPacketSize
	s.retryAt = time.Time{}
	for i := s.fl.head; i >= 0; {
		e := &s.fl.slots[i]
		next := e.next
		switch {
		case e.stage == AwaitPubcomp:
			s.pubrel(now, i, true, s.cfg.Retry.Initial)
		case s.tooLarge(&e.d):
			s.endFlight(i, packet.Success, DropTooLarge) // [MQTT5-3.1.2-25]
		case !e.sent && s.expired(now, e.d.Msg):
			// Onward delivery never started: the copy is deleted [MQTT5-3.3.2-5].
			s.endFlight(i, packet.Success, DropExpired)
		case s.v5() && s.quota >= s.window:
			e.deferred = true
			s.deferred++
		default:
			s.publish(now, i, e.sent, s.cfg.Retry.Initial) // [MQTT-3.3.1-1] [MQTT5-3.3.1-1]
		}
		i = next
	}
	s.pump(now)
}

// resume resends deferred PUBLISH packets, in order, while the window has
// room, then fills it from the queue.
func (s *Session) resume(now time.Time) {
	for i := s.fl.head; i >= 0 && s.deferred > 0 && s.quota < s.window; {
		e := &s.fl.slots[i]
		next := e.next // read before endFlight frees the slot
		if e.deferred {
			e.deferred = false
			s.deferred--
			if !e.sent && s.expired(now, e.d.Msg) {
				s.endFlight(i, packet.Success, DropExpired) // [MQTT5-3.3.2-5]
			} else {
				s.publish(now, i, e.sent, s.cfg.Retry.Initial)
			}
		}
		i = next
	}
	s.pump(now)
}

// Disconnected detaches the connection of generation gen; a stale gen is
// ignored, so a taken-over connection cannot detach its successor. Packets
// not yet returned by Ready are dropped: QoS 1/2 ones are resent from state
// on reconnection, QoS 0 PUBLISH are counted as DropDisconnected. Unless
// QueueQoS0 is set, queued QoS 0 deliveries are dropped too.
func (s *Session) Disconnected(now time.Time, gen uint64) {
	if !s.connected || gen != s.gen {
		return
	}
	s.disconnect()
}

func (s *Session) disconnect() {
	s.connected = false
	keep := 0
	if s.outstanding {
		keep = len(s.rd.Packets)
	}
	for k := keep; k < len(s.packets); k++ {
		o := &s.packets[k]
		if o.Kind != packet.PUBLISH {
			continue
		}
		if o.PacketID == 0 {
			s.dropped(o.Delivery, 0, DropDisconnected)
		} else if !o.Dup {
			// Never handed out: the peer has not seen it.
			if i, ok := s.fl.lookup(o.PacketID); ok {
				s.fl.slots[i].sent = false
			}
		}
	}
	clear(s.packets[keep:])
	s.packets = s.packets[:keep]
	for i := s.fl.head; i >= 0; i = s.fl.slots[i].next {
		e := &s.fl.slots[i]
		e.counted, e.deferred = false, false
	}
	s.quota, s.deferred = 0, 0
	s.inUnacked, s.rdAcks = 0, 0
	s.retryAt = time.Time{}
	if !s.cfg.QueueQoS0 && s.q.qos0 > 0 {
		s.dropQueuedQoS0()
	}
}

// IsConnected reports whether a connection is attached.
func (s *Session) IsConnected() bool { return s.connected }

// Send hands a delivery to the session. It never blocks: when connected
// and nothing is queued, a QoS 0 delivery is written at once and a QoS 1
// or 2 one goes in flight with a fresh packet identifier if the window has
// room; otherwise it is queued, strictly FIFO (so no message overtakes an
// earlier one [MQTT-4.6.0-5] [MQTT5-4.6.0-5]). Drops (queue full, QoS 0
// offline, too large, expired) are counted and reported in Ready.Done.
// The error (a *packet.Error) reports only invalid input.
func (s *Session) Send(now time.Time, d Delivery) error {
	if d.Msg == nil {
		return &packet.Error{Code: packet.ImplementationSpecificError, Reason: "send of a nil message"}
	}
	if d.QoS > packet.QoS2 {
		return &packet.Error{Code: packet.ProtocolError, Reason: "send with invalid QoS"}
	}
	seq := s.nextSeq
	s.nextSeq++
	if s.connected && s.q.n == 0 {
		switch {
		case s.expired(now, d.Msg):
			s.dropped(d, 0, DropExpired)
		case s.tooLarge(&d):
			s.dropped(d, 0, DropTooLarge) // [MQTT5-3.1.2-24] [MQTT5-3.1.2-25]
		case d.QoS == packet.QoS0:
			s.publish0(now, d)
		case s.canStart():
			s.startFlight(now, seq, d)
		default:
			s.enqueue(seq, d)
		}
		return nil
	}
	if !s.connected && d.QoS == packet.QoS0 && !s.cfg.QueueQoS0 {
		s.dropped(d, 0, DropQoS0Offline)
		return nil
	}
	s.enqueue(seq, d)
	return nil
}

// canStart reports whether a new QoS 1/2 flow fits the window: fewer
// PUBLISH written on this connection are unacknowledged than the window
// [MQTT5-3.3.4-9] [MQTT5-4.9.0-2], and no resend waits before it.
func (s *Session) canStart() bool {
	return s.quota < s.window && s.deferred == 0 && s.fl.byID.n < math.MaxUint16
}

// enqueue appends to the queue, first making room by the overflow policy:
// the oldest queued QoS 0 delivery goes first, then (for an incoming QoS 0)
// the incoming one, then the oldest queued delivery.
func (s *Session) enqueue(seq uint64, d Delivery) {
	size := len(d.Msg.Payload)
	maxBytes := s.cfg.MaxQueuedBytes
	if maxBytes > 0 && size > maxBytes {
		s.dropped(d, 0, DropQueueFull)
		return
	}
	for s.q.n >= s.cfg.MaxQueued || (maxBytes > 0 && s.q.bytes+size > maxBytes) {
		if i := s.q.firstQoS0(); i >= 0 {
			s.removeQueued(i, DropQueueFull)
		} else if d.QoS == packet.QoS0 {
			s.dropped(d, 0, DropQueueFull)
			return
		} else {
			s.removeQueued(0, DropQueueFull)
		}
	}
	s.q.push(qentry{seq: seq, d: d})
	s.changes = append(s.changes, Change{Kind: ChangeQueued, Seq: seq, Delivery: d})
}

func (s *Session) removeQueued(i int, why DropReason) {
	e := s.q.remove(i)
	s.changes = append(s.changes, Change{Kind: ChangeRemoved, Seq: e.seq, Drop: why})
	s.dropped(e.d, 0, why)
}

func (s *Session) dropQueuedQoS0() {
	w := 0
	for r := 0; r < s.q.n; r++ {
		e := *s.q.at(r)
		if e.d.QoS == packet.QoS0 {
			s.changes = append(s.changes, Change{Kind: ChangeRemoved, Seq: e.seq, Drop: DropQoS0Offline})
			s.dropped(e.d, 0, DropQoS0Offline)
			s.q.account(&e, -1)
			continue
		}
		*s.q.at(w) = e
		w++
	}
	for k := w; k < s.q.n; k++ {
		*s.q.at(k) = qentry{}
	}
	s.q.n = w
}

// pump moves queued deliveries out while the window has room.
func (s *Session) pump(now time.Time) {
	for s.connected && s.q.n > 0 {
		if s.q.at(0).d.QoS > packet.QoS0 && !s.canStart() {
			return
		}
		e := s.q.remove(0)
		switch {
		case s.expired(now, e.d.Msg):
			s.changes = append(s.changes, Change{Kind: ChangeRemoved, Seq: e.seq, Drop: DropExpired})
			s.dropped(e.d, 0, DropExpired) // [MQTT5-3.3.2-5]
		case s.tooLarge(&e.d):
			s.changes = append(s.changes, Change{Kind: ChangeRemoved, Seq: e.seq, Drop: DropTooLarge})
			s.dropped(e.d, 0, DropTooLarge) // [MQTT5-3.1.2-25]
		case e.d.QoS == packet.QoS0:
			s.changes = append(s.changes, Change{Kind: ChangeRemoved, Seq: e.seq})
			s.publish0(now, e.d)
		default:
			s.startFlight(now, e.seq, e.d)
		}
	}
}

// allocID returns an identifier unused by any outbound flow, never 0,
// wrapping after 65535 [MQTT-2.3.1-1] [MQTT-2.3.1-2] [MQTT5-2.2.1-3]
// [MQTT-4.3.2-1] [MQTT5-4.3.2-1] [MQTT5-4.3.3-1]. canStart guarantees one
// exists.
func (s *Session) allocID() uint16 {
	for range math.MaxUint16 {
		id := s.nextID
		s.nextID++
		if s.nextID == 0 {
			s.nextID = 1
		}
		if !s.fl.byID.has(id) {
			return id
		}
	}
	return 0
}

func (s *Session) startFlight(now time.Time, seq uint64, d Delivery) {
	id := s.allocID()
	st := AwaitPuback
	if d.QoS == packet.QoS2 {
		st = AwaitPubrec
	}
	i := s.fl.add(flight{id: id, stage: st, seq: seq, d: d})
	s.changes = append(s.changes, Change{Kind: ChangeInflight, Seq: seq, PacketID: id, Delivery: d})
	s.publish(now, i, false, s.cfg.Retry.Initial) // [MQTT-4.3.2-1] [MQTT5-4.3.2-2] [MQTT5-4.3.3-2]
}

// endFlight ends the flow in slot i: completed by the peer (drop ==
// DropNone, reason from its ack) or dropped.
func (s *Session) endFlight(i int32, reason packet.ReasonCode, drop DropReason) {
	e := &s.fl.slots[i]
	s.changes = append(s.changes, Change{Kind: ChangeAcked, PacketID: e.id, Reason: reason, Drop: drop})
	s.done = append(s.done, Completion{Delivery: e.d, PacketID: e.id, Reason: reason, Drop: drop})
	if drop != DropNone {
		s.stats.Dropped[drop]++
	} else {
		s.stats.Completed++
	}
	if e.counted {
		s.quota--
	}
	if e.deferred {
		s.deferred--
	}
	s.fl.remove(i)
}

func (s *Session) dropped(d Delivery, id uint16, why DropReason) {
	s.stats.Dropped[why]++
	s.done = append(s.done, Completion{Delivery: d, PacketID: id, Drop: why})
}

func (s *Session) publish0(now time.Time, d Delivery) {
	// QoS 0: no identifier, DUP 0 [MQTT-4.3.1-1] [MQTT5-4.3.1-1] [MQTT-3.3.1-2] [MQTT5-3.3.1-2].
	s.packets = append(s.packets, Outbound{Kind: packet.PUBLISH, Expiry: expiry(now, d.Msg), Delivery: d})
	s.stats.Sent++
}

// publish writes the PUBLISH of flow i and arms its retry timer with
// interval.
func (s *Session) publish(now time.Time, i int32, dup bool, interval time.Duration) {
	e := &s.fl.slots[i]
	s.packets = append(s.packets, Outbound{Kind: packet.PUBLISH, PacketID: e.id, Dup: dup,
		Expiry: expiry(now, e.d.Msg), Delivery: e.d})
	if dup {
		s.stats.Resent++
	} else {
		s.stats.Sent++
	}
	e.sent = true
	if !e.counted {
		e.counted = true
		s.quota++
	}
	s.arm(now, e, interval)
}

// pubrel writes the PUBREL of flow i and arms its retry timer.
func (s *Session) pubrel(now time.Time, i int32, resend bool, interval time.Duration) {
	e := &s.fl.slots[i]
	s.packets = append(s.packets, Outbound{Kind: packet.PUBREL, PacketID: e.id})
	if resend {
		s.stats.Resent++
	}
	s.arm(now, e, interval)
}

func (s *Session) retryOn() bool {
	return s.connected && !s.v5() && s.cfg.Retry.Initial > 0
}

func (s *Session) arm(now time.Time, e *flight, interval time.Duration) {
	if !s.retryOn() {
		e.retryAt, e.interval = time.Time{}, 0
		return
	}
	e.interval = interval
	e.retryAt = now.Add(interval)
	if s.retryAt.IsZero() || e.retryAt.Before(s.retryAt) {
		s.retryAt = e.retryAt
	}
}

func (s *Session) expired(now time.Time, m *Message) bool {
	return !m.Expires.IsZero() && !now.Before(m.Expires)
}

// expiry is the remaining Message Expiry Interval in whole seconds,
// rounded up, at least 1.
func expiry(now time.Time, m *Message) uint32 {
	if m.Expires.IsZero() {
		return 0
	}
	rem := m.Expires.Sub(now)
	secs := (rem + time.Second - 1) / time.Second
	switch {
	case secs < 1:
		return 1
	case secs > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(secs)
}

func (s *Session) tooLarge(d *Delivery) bool {
	return s.maxPacket > 0 && s.publishSize(d) > int(s.maxPacket)
}

// publishSize is the encoded size of the PUBLISH of d on the current
// connection.
func (s *Session) publishSize(d *Delivery) int {
	o := Outbound{Kind: packet.PUBLISH, Expiry: 1, Delivery: *d}
	if d.QoS > 0 {
		o.PacketID = 1
	}
	p := sizing.Get().(*packet.Publish)
	o.Publish(p)
	n := packet.Size(p, s.version)
	*p = packet.Publish{}
	sizing.Put(p)
	return n
}
