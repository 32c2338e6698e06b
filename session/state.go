package session

import (
	"fmt"
	"math"
	"slices"

	"github.com/tern-mq/tern/packet"
)

// State is a snapshot of what a session must remember across restarts.
type State struct {
	// NextID is the next packet identifier to try (0 is read as 1).
	NextID uint16
	// NextSeq is the next queue sequence number (0: one past the largest
	// in Queue and Inflight).
	NextSeq uint64
	// Inflight are the outbound flows in the order their PUBLISH packets
	// were first sent.
	Inflight []InflightEntry
	// Queue are the deliveries waiting for the window, oldest first.
	Queue []QueuedEntry
	// InboundQoS2 are the peer's QoS 2 identifiers awaiting PUBREL, sorted.
	InboundQoS2 []uint16
}

// InflightEntry is one outbound flow.
type InflightEntry struct {
	PacketID uint16
	Stage    Stage
	Seq      uint64
	// Sent tells whether the PUBLISH was written (its resend sets DUP).
	// State.Apply sets it, as the Change is stored before sending.
	Sent     bool
	Delivery Delivery
}

// QueuedEntry is one queued delivery.
type QueuedEntry struct {
	Seq      uint64
	Delivery Delivery
}

// State returns a snapshot of the session. The snapshot does not include
// a pending Ready: take it after Advance, or apply that Ready's Persist.
func (s *Session) State() State {
	st := State{NextID: s.nextID, NextSeq: s.nextSeq}
	for i := s.fl.head; i >= 0; i = s.fl.slots[i].next {
		e := &s.fl.slots[i]
		st.Inflight = append(st.Inflight, InflightEntry{PacketID: e.id, Stage: e.stage, Seq: e.seq, Sent: e.sent, Delivery: e.d})
	}
	for i := 0; i < s.q.n; i++ {
		e := s.q.at(i)
		st.Queue = append(st.Queue, QueuedEntry{Seq: e.seq, Delivery: e.d})
	}
	s.in.each(func(id uint16, _ int32) { st.InboundQoS2 = append(st.InboundQoS2, id) })
	slices.Sort(st.InboundQoS2)
	return st
}

// Restore returns a disconnected session with configuration cfg and state
// st. Restoring a session's State gives a session that behaves like it
// (counters and retry timers apart). The queue is kept even if longer than
// cfg allows; the overflow policy applies to the next Send.
func Restore(cfg Config, st State) (*Session, error) {
	s := New(cfg)
	if st.NextID != 0 {
		s.nextID = st.NextID
	}
	next := st.NextSeq
	for _, e := range st.Inflight {
		if e.PacketID == 0 || s.fl.byID.has(e.PacketID) {
			return nil, fmt.Errorf("session: restore: in-flight packet identifier %d zero or repeated", e.PacketID)
		}
		if e.Delivery.Msg == nil {
			return nil, fmt.Errorf("session: restore: in-flight %d has no message", e.PacketID)
		}
		switch {
		case e.Delivery.QoS == packet.QoS1 && e.Stage == AwaitPuback:
		case e.Delivery.QoS == packet.QoS2 && (e.Stage == AwaitPubrec || e.Stage == AwaitPubcomp):
		default:
			return nil, fmt.Errorf("session: restore: in-flight %d: stage %v for QoS %d", e.PacketID, e.Stage, e.Delivery.QoS)
		}
		s.fl.add(flight{id: e.PacketID, stage: e.Stage, sent: e.Sent, seq: e.Seq, d: e.Delivery})
		next = max(next, e.Seq+1)
	}
	for _, e := range st.Queue {
		if e.Delivery.Msg == nil || e.Delivery.QoS > packet.QoS2 {
			return nil, fmt.Errorf("session: restore: queued entry %d invalid", e.Seq)
		}
		s.q.push(qentry{seq: e.Seq, d: e.Delivery})
		next = max(next, e.Seq+1)
	}
	for _, id := range st.InboundQoS2 {
		if id == 0 {
			return nil, fmt.Errorf("session: restore: inbound packet identifier 0")
		}
		s.in.put(id, 0)
	}
	s.nextSeq = max(next, 1)
	return s, nil
}

// Apply updates st with one Change, as a store does with Ready.Persist.
// It is a reference implementation: linear in the size of the state.
func (st *State) Apply(c Change) error {
	switch c.Kind {
	case ChangeQueued:
		st.Queue = append(st.Queue, QueuedEntry{Seq: c.Seq, Delivery: c.Delivery})
		st.NextSeq = max(st.NextSeq, c.Seq+1)
	case ChangeInflight:
		st.removeQueued(c.Seq)
		stage := AwaitPuback
		if c.Delivery.QoS == packet.QoS2 {
			stage = AwaitPubrec
		}
		st.Inflight = append(st.Inflight, InflightEntry{PacketID: c.PacketID, Stage: stage, Seq: c.Seq, Sent: true, Delivery: c.Delivery})
		st.NextID = c.PacketID + 1
		if c.PacketID == math.MaxUint16 {
			st.NextID = 1
		}
		st.NextSeq = max(st.NextSeq, c.Seq+1)
	case ChangeRemoved:
		if !st.removeQueued(c.Seq) {
			return fmt.Errorf("session: apply %v: no queued entry %d", c.Kind, c.Seq)
		}
	case ChangePubrec:
		i := st.inflight(c.PacketID)
		if i < 0 {
			return fmt.Errorf("session: apply %v: no flow %d", c.Kind, c.PacketID)
		}
		st.Inflight[i].Stage = AwaitPubcomp
	case ChangeAcked:
		i := st.inflight(c.PacketID)
		if i < 0 {
			return fmt.Errorf("session: apply %v: no flow %d", c.Kind, c.PacketID)
		}
		st.Inflight = slices.Delete(st.Inflight, i, i+1)
	case ChangeInbound:
		if c.Delivery.QoS == packet.QoS2 {
			if i, found := slices.BinarySearch(st.InboundQoS2, c.PacketID); !found {
				st.InboundQoS2 = slices.Insert(st.InboundQoS2, i, c.PacketID)
			}
		}
	case ChangeReleased:
		if i, found := slices.BinarySearch(st.InboundQoS2, c.PacketID); found {
			st.InboundQoS2 = slices.Delete(st.InboundQoS2, i, i+1)
		}
	default:
		return fmt.Errorf("session: apply: invalid change kind %d", c.Kind)
	}
	return nil
}

func (st *State) removeQueued(seq uint64) bool {
	for i := range st.Queue {
		if st.Queue[i].Seq == seq {
			st.Queue = slices.Delete(st.Queue, i, i+1)
			return true
		}
	}
	return false
}

func (st *State) inflight(id uint16) int {
	for i := range st.Inflight {
		if st.Inflight[i].PacketID == id {
			return i
		}
	}
	return -1
}

// ReserveID allocates a packet identifier from the space of outbound
// PUBLISH flows, for a client's SUBSCRIBE or UNSUBSCRIBE [MQTT-2.3.1-2]
// [MQTT5-2.2.1-3]. It is not part of State; release it with ReleaseID when
// the SUBACK or UNSUBACK arrives.
func (s *Session) ReserveID() (uint16, error) {
	if s.fl.byID.n >= math.MaxUint16 {
		return 0, &packet.Error{Code: packet.QuotaExceeded, Reason: "no free packet identifier"}
	}
	id := s.allocID()
	s.fl.byID.put(id, -1)
	return id, nil
}

// ReleaseID frees an identifier from ReserveID; others are left alone.
func (s *Session) ReleaseID(id uint16) {
	if v, ok := s.fl.byID.get(id); ok && v < 0 {
		s.fl.byID.del(id)
	}
}
