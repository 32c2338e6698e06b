package pebble

import (
	"cmp"
	"slices"

	pdb "github.com/cockroachdb/pebble/v2"
	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
)

// client is the in-memory mirror of what is stored for one client
// identifier. Reads are served from it; writes change it and the disk in the
// same critical section, in the same order.
type client struct {
	rec   *store.SessionRecord // nil when only message state is stored
	state msgState
}

// msgState is the message state of one client: queued deliveries by
// sequence number, outbound flows and inbound QoS 2 identifiers by packet
// identifier.
type msgState struct {
	queue   map[uint64]session.Delivery
	flights map[uint16]flightRec
	inbound map[uint16]struct{}
	nextID  uint16 // next packet identifier to try; 0 before any flight
	nextSeq uint64 // one past the largest sequence number stored
	order   uint64 // counter giving flights their send order
}

type flightRec struct {
	seq   uint64
	stage session.Stage
	order uint64
	d     session.Delivery
}

func (m *msgState) empty() bool {
	return len(m.queue) == 0 && len(m.flights) == 0 && len(m.inbound) == 0 && m.nextID == 0 && m.nextSeq == 0
}

// body is a stored message body and the number of queue and flight entries
// referring to it.
type body struct {
	msg  *session.Message
	refs int
}

// ref takes a reference to msg's body, writing the body when it is new, and
// returns the stored message for its ID. Messages with ID 0 are stored
// inline in their entries and are counted once per reference. Called with
// s.mu held.
func (s *Store) ref(b *pdb.Batch, msg *session.Message) *session.Message {
	s.noteID(msg.ID)
	if msg.ID == 0 {
		s.nbodies++
		return msg
	}
	if e := s.bodies[msg.ID]; e != nil {
		e.refs++
		return e.msg
	}
	s.bodies[msg.ID] = &body{msg: msg, refs: 1}
	s.nbodies++
	s.buf = appendMessage(s.buf[:0], msg)
	s.key = bodyKey(s.key[:0], msg.ID)
	_ = b.Set(s.key, s.buf, nil)
	return msg
}

// unref releases a reference taken by ref, deleting the body with its last
// reference. Called with s.mu held.
func (s *Store) unref(b *pdb.Batch, msg *session.Message) {
	if msg.ID == 0 {
		s.nbodies--
		return
	}
	e := s.bodies[msg.ID]
	if e == nil {
		return
	}
	if e.refs--; e.refs == 0 {
		delete(s.bodies, msg.ID)
		s.nbodies--
		s.key = bodyKey(s.key[:0], msg.ID)
		_ = b.Delete(s.key, nil)
	}
}

// applyLocked applies validated changes of one client to the mirror and adds
// the same changes to b. Called with s.mu held. Batch methods only fail on
// a closed batch or an oversized key, neither of which can happen here.
func (s *Store) applyLocked(b *pdb.Batch, u *store.Update) {
	if len(u.Changes) == 0 {
		return
	}
	cl := s.clients[u.ClientID]
	if cl == nil {
		cl = &client{}
		s.clients[u.ClientID] = cl
	}
	m := &cl.state
	id := u.ClientID
	oldNextID := m.nextID
	for i := range u.Changes {
		c := &u.Changes[i]
		switch c.Kind {
		case session.ChangeQueued:
			if m.queue == nil {
				m.queue = make(map[uint64]session.Delivery)
			}
			d := c.Delivery
			d.Msg = s.ref(b, d.Msg)
			if old, ok := m.queue[c.Seq]; ok {
				s.unref(b, old.Msg)
			}
			m.queue[c.Seq] = d
			m.nextSeq = max(m.nextSeq, c.Seq+1)
			s.buf = appendDelivery(s.buf[:0], &d)
			s.key = queueKey(s.key[:0], id, c.Seq)
			_ = b.Set(s.key, s.buf, nil)
		case session.ChangeInflight:
			// Reference the body before releasing the queue entry's, so
			// that a body moving from queue to flight is not deleted and
			// written again.
			d := c.Delivery
			d.Msg = s.ref(b, d.Msg)
			if old, ok := m.queue[c.Seq]; ok {
				delete(m.queue, c.Seq)
				s.unref(b, old.Msg)
				s.key = queueKey(s.key[:0], id, c.Seq)
				_ = b.Delete(s.key, nil)
			}
			if m.flights == nil {
				m.flights = make(map[uint16]flightRec)
			}
			st := session.AwaitPuback
			if c.Delivery.QoS == packet.QoS2 {
				st = session.AwaitPubrec
			}
			if old, ok := m.flights[c.PacketID]; ok {
				s.unref(b, old.d.Msg)
			}
			m.order++
			f := flightRec{seq: c.Seq, stage: st, order: m.order, d: d}
			m.flights[c.PacketID] = f
			if m.nextID = c.PacketID + 1; m.nextID == 0 {
				m.nextID = 1 // identifiers wrap after 65535, skipping 0
			}
			m.nextSeq = max(m.nextSeq, c.Seq+1)
			s.putFlight(b, id, c.PacketID, &f)
		case session.ChangeRemoved:
			if old, ok := m.queue[c.Seq]; ok {
				delete(m.queue, c.Seq)
				s.unref(b, old.Msg)
				s.key = queueKey(s.key[:0], id, c.Seq)
				_ = b.Delete(s.key, nil)
			}
		case session.ChangePubrec:
			if f, ok := m.flights[c.PacketID]; ok {
				f.stage = session.AwaitPubcomp
				m.flights[c.PacketID] = f
				s.putFlight(b, id, c.PacketID, &f)
			}
		case session.ChangeAcked:
			if f, ok := m.flights[c.PacketID]; ok {
				delete(m.flights, c.PacketID)
				s.unref(b, f.d.Msg)
				s.key = flightKey(s.key[:0], id, c.PacketID)
				_ = b.Delete(s.key, nil)
			}
		case session.ChangeInbound:
			// The message itself is not kept: the broker persists its
			// routing (the subscribers' queued deliveries) in the same
			// Apply call. Only a QoS 2 identifier awaits PUBREL.
			if c.Delivery.QoS == packet.QoS2 {
				if m.inbound == nil {
					m.inbound = make(map[uint16]struct{})
				}
				m.inbound[c.PacketID] = struct{}{}
				s.key = inboundKey(s.key[:0], id, c.PacketID)
				_ = b.Set(s.key, nil, nil)
			}
		case session.ChangeReleased:
			if _, ok := m.inbound[c.PacketID]; ok {
				delete(m.inbound, c.PacketID)
				s.key = inboundKey(s.key[:0], id, c.PacketID)
				_ = b.Delete(s.key, nil)
			}
		}
	}
	if m.nextID != oldNextID {
		s.key = clientKey(s.key[:0], prefixMeta, id)
		s.buf = binaryAppendU16(s.buf[:0], m.nextID)
		_ = b.Set(s.key, s.buf, nil)
	}
	if cl.rec == nil && m.empty() {
		delete(s.clients, id)
	}
}

func binaryAppendU16(dst []byte, v uint16) []byte { return append(dst, byte(v>>8), byte(v)) }

func (s *Store) putFlight(b *pdb.Batch, clientID string, id uint16, f *flightRec) {
	s.buf = s.buf[:0]
	s.buf = appendUvarint(s.buf, f.order)
	s.buf = appendUvarint(s.buf, f.seq)
	s.buf = append(s.buf, byte(f.stage))
	s.buf = appendDelivery(s.buf, &f.d)
	s.key = flightKey(s.key[:0], clientID, id)
	_ = b.Set(s.key, s.buf, nil)
}

// release drops every body reference of m.
func (s *Store) release(b *pdb.Batch, m *msgState) {
	for _, d := range m.queue {
		s.unref(b, d.Msg)
	}
	for _, f := range m.flights {
		s.unref(b, f.d.Msg)
	}
}

// snapshot returns m as a session.State: flights in the order they went in
// flight, the queue by sequence number, inbound identifiers sorted, as
// session.State.Apply builds it.
func (m *msgState) snapshot() session.State {
	st := session.State{NextID: m.nextID, NextSeq: m.nextSeq}
	if len(m.flights) > 0 {
		type ordered struct {
			e     session.InflightEntry
			order uint64
		}
		fl := make([]ordered, 0, len(m.flights))
		for id, f := range m.flights {
			// Every stored flight was written: the change is stored before
			// its PUBLISH is sent.
			fl = append(fl, ordered{session.InflightEntry{PacketID: id, Stage: f.stage, Seq: f.seq, Sent: true, Delivery: f.d}, f.order})
		}
		slices.SortFunc(fl, func(a, b ordered) int { return cmp.Compare(a.order, b.order) })
		st.Inflight = make([]session.InflightEntry, len(fl))
		for i := range fl {
			st.Inflight[i] = fl[i].e
		}
	}
	if len(m.queue) > 0 {
		st.Queue = make([]session.QueuedEntry, 0, len(m.queue))
		for seq, d := range m.queue {
			st.Queue = append(st.Queue, session.QueuedEntry{Seq: seq, Delivery: d})
		}
		slices.SortFunc(st.Queue, func(a, b session.QueuedEntry) int { return cmp.Compare(a.Seq, b.Seq) })
	}
	if len(m.inbound) > 0 {
		st.InboundQoS2 = make([]uint16, 0, len(m.inbound))
		for id := range m.inbound {
			st.InboundQoS2 = append(st.InboundQoS2, id)
		}
		slices.Sort(st.InboundQoS2)
	}
	return st
}
