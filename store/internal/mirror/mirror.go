package mirror

import (
	"cmp"
	"slices"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
)

// State is the message state of one client.
type State struct {
	Queue   map[uint64]session.Delivery
	Flights map[uint16]Flight
	Inbound map[uint16]struct{} // QoS 2 identifiers awaiting PUBREL
	NextID  uint16              // next packet identifier to try; 0 before any flight
	NextSeq uint64              // one past the largest sequence number stored
	Order   uint64              // counter giving flights their send order
}

// Flight is an outbound QoS 1 or 2 flow.
type Flight struct {
	Seq      uint64
	Stage    session.Stage
	Order    uint64 // send order among the client's flights
	Delivery session.Delivery
}

// Hooks are what a backend does besides changing the State: counting
// references to message bodies, and writing the entries that changed.
type Hooks interface {
	// Ref takes a reference to msg's body and returns the message to keep
	// (the one already stored under its ID, if any); Unref releases one.
	Ref(msg *session.Message) *session.Message
	Unref(msg *session.Message)
	// The entries written or deleted, after the State changed. Values,
	// not pointers, so that nothing escapes to the heap per change.
	PutQueued(seq uint64, d session.Delivery)
	DeleteQueued(seq uint64)
	PutFlight(id uint16, f Flight)
	DeleteFlight(id uint16)
	PutInbound(id uint16)
	DeleteInbound(id uint16)
}

// Empty reports whether nothing is stored for the client's messages.
func (m *State) Empty() bool {
	return len(m.Queue) == 0 && len(m.Flights) == 0 && len(m.Inbound) == 0 && m.NextID == 0 && m.NextSeq == 0
}

// Apply applies validated changes (store.Update.Validate). Changes that do
// not fit the state (the acknowledgement of an unknown flow) change
// nothing, as blind writes to a key-value store would.
func (m *State) Apply(h Hooks, changes []session.Change) {
	for i := range changes {
		c := &changes[i]
		switch c.Kind {
		case session.ChangeQueued:
			if m.Queue == nil {
				m.Queue = make(map[uint64]session.Delivery)
			}
			d := c.Delivery
			d.Msg = h.Ref(d.Msg)
			if old, ok := m.Queue[c.Seq]; ok {
				h.Unref(old.Msg)
			}
			m.Queue[c.Seq] = d
			m.NextSeq = max(m.NextSeq, c.Seq+1)
			h.PutQueued(c.Seq, d)
		case session.ChangeInflight:
			// Reference the body before releasing the queue entry's, so
			// that a body moving from queue to flight is kept throughout.
			d := c.Delivery
			d.Msg = h.Ref(d.Msg)
			if old, ok := m.Queue[c.Seq]; ok {
				delete(m.Queue, c.Seq)
				h.Unref(old.Msg)
				h.DeleteQueued(c.Seq)
			}
			if m.Flights == nil {
				m.Flights = make(map[uint16]Flight)
			}
			st := session.AwaitPuback
			if c.Delivery.QoS == packet.QoS2 {
				st = session.AwaitPubrec
			}
			if old, ok := m.Flights[c.PacketID]; ok {
				h.Unref(old.Delivery.Msg)
			}
			m.Order++
			f := Flight{Seq: c.Seq, Stage: st, Order: m.Order, Delivery: d}
			m.Flights[c.PacketID] = f
			if m.NextID = c.PacketID + 1; m.NextID == 0 {
				m.NextID = 1 // identifiers wrap after 65535, skipping 0
			}
			m.NextSeq = max(m.NextSeq, c.Seq+1)
			h.PutFlight(c.PacketID, f)
		case session.ChangeRemoved:
			if old, ok := m.Queue[c.Seq]; ok {
				delete(m.Queue, c.Seq)
				h.Unref(old.Msg)
				h.DeleteQueued(c.Seq)
			}
		case session.ChangePubrec:
			if f, ok := m.Flights[c.PacketID]; ok {
				f.Stage = session.AwaitPubcomp
				m.Flights[c.PacketID] = f
				h.PutFlight(c.PacketID, f)
			}
		case session.ChangeAcked:
			if f, ok := m.Flights[c.PacketID]; ok {
				delete(m.Flights, c.PacketID)
				h.Unref(f.Delivery.Msg)
				h.DeleteFlight(c.PacketID)
			}
		case session.ChangeInbound:
			// The message itself is not kept: the broker persists its
			// routing (the subscribers' queued deliveries) in the same
			// Apply call. Only a QoS 2 identifier awaits PUBREL.
			if c.Delivery.QoS == packet.QoS2 {
				if m.Inbound == nil {
					m.Inbound = make(map[uint16]struct{})
				}
				m.Inbound[c.PacketID] = struct{}{}
				h.PutInbound(c.PacketID)
			}
		case session.ChangeReleased:
			if _, ok := m.Inbound[c.PacketID]; ok {
				delete(m.Inbound, c.PacketID)
				h.DeleteInbound(c.PacketID)
			}
		}
	}
}

// Release drops every body reference of m, with unref.
func (m *State) Release(unref func(*session.Message)) {
	for _, d := range m.Queue {
		unref(d.Msg)
	}
	for _, f := range m.Flights {
		unref(f.Delivery.Msg)
	}
}

// Snapshot returns m as a session.State: flights in the order they went in
// flight, the queue by sequence number, inbound identifiers sorted, as
// session.State.Apply builds it.
func (m *State) Snapshot() session.State {
	st := session.State{NextID: m.NextID, NextSeq: m.NextSeq}
	if len(m.Flights) > 0 {
		st.Inflight = make([]session.InflightEntry, 0, len(m.Flights))
		for id, f := range m.Flights {
			// Every stored flight was written: the change is stored before
			// its PUBLISH is sent.
			st.Inflight = append(st.Inflight, session.InflightEntry{PacketID: id, Stage: f.Stage, Seq: f.Seq, Sent: true, Delivery: f.Delivery})
		}
		slices.SortFunc(st.Inflight, func(a, b session.InflightEntry) int {
			return cmp.Compare(m.Flights[a.PacketID].Order, m.Flights[b.PacketID].Order)
		})
	}
	if len(m.Queue) > 0 {
		st.Queue = make([]session.QueuedEntry, 0, len(m.Queue))
		for seq, d := range m.Queue {
			st.Queue = append(st.Queue, session.QueuedEntry{Seq: seq, Delivery: d})
		}
		slices.SortFunc(st.Queue, func(a, b session.QueuedEntry) int { return cmp.Compare(a.Seq, b.Seq) })
	}
	if len(m.Inbound) > 0 {
		st.InboundQoS2 = make([]uint16, 0, len(m.Inbound))
		for id := range m.Inbound {
			st.InboundQoS2 = append(st.InboundQoS2, id)
		}
		slices.Sort(st.InboundQoS2)
	}
	return st
}
