package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
)

// msgState is the message state of one client, kept the way a key-value
// backend keeps it: queued deliveries by sequence number, outbound flows and
// inbound QoS 2 identifiers by packet identifier. Each change is O(1).
type msgState struct {
	queue   map[uint64]session.Delivery
	flights map[uint16]flightRec
	inbound map[uint16]struct{} // QoS 2 identifiers awaiting PUBREL
	nextID  uint16              // next packet identifier to try; 0 before any flight
	nextSeq uint64              // one past the largest sequence number stored
	order   uint64              // counter giving flights their send order
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

// apply applies validated changes, taking and releasing body references.
func (m *msgState) apply(s *Store, changes []session.Change) {
	for i := range changes {
		c := &changes[i]
		switch c.Kind {
		case session.ChangeQueued:
			if m.queue == nil {
				m.queue = make(map[uint64]session.Delivery)
			}
			d := c.Delivery
			d.Msg = s.bodies.ref(d.Msg)
			if old, ok := m.queue[c.Seq]; ok {
				s.bodies.unref(old.Msg)
			}
			m.queue[c.Seq] = d
			m.nextSeq = max(m.nextSeq, c.Seq+1)
		case session.ChangeInflight:
			if old, ok := m.queue[c.Seq]; ok {
				delete(m.queue, c.Seq)
				s.bodies.unref(old.Msg)
			}
			if m.flights == nil {
				m.flights = make(map[uint16]flightRec)
			}
			st := session.AwaitPuback
			if c.Delivery.QoS == packet.QoS2 {
				st = session.AwaitPubrec
			}
			d := c.Delivery
			d.Msg = s.bodies.ref(d.Msg)
			if old, ok := m.flights[c.PacketID]; ok {
				s.bodies.unref(old.d.Msg)
			}
			m.order++
			m.flights[c.PacketID] = flightRec{seq: c.Seq, stage: st, order: m.order, d: d}
			if m.nextID = c.PacketID + 1; m.nextID == 0 {
				m.nextID = 1 // identifiers wrap after 65535, skipping 0
			}
			m.nextSeq = max(m.nextSeq, c.Seq+1)
		case session.ChangeRemoved:
			if old, ok := m.queue[c.Seq]; ok {
				delete(m.queue, c.Seq)
				s.bodies.unref(old.Msg)
			}
		case session.ChangePubrec:
			if f, ok := m.flights[c.PacketID]; ok {
				f.stage = session.AwaitPubcomp
				m.flights[c.PacketID] = f
			}
		case session.ChangeAcked:
			if f, ok := m.flights[c.PacketID]; ok {
				delete(m.flights, c.PacketID)
				s.bodies.unref(f.d.Msg)
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
			}
		case session.ChangeReleased:
			delete(m.inbound, c.PacketID)
		}
	}
}

// release drops every body reference of m.
func (m *msgState) release(s *Store) {
	for _, d := range m.queue {
		s.bodies.unref(d.Msg)
	}
	for _, f := range m.flights {
		s.bodies.unref(f.d.Msg)
	}
}

// snapshot returns m as a session.State: flights in the order they went in
// flight, the queue by sequence number, inbound identifiers sorted, as
// session.State.Apply builds it.
func (m *msgState) snapshot() session.State {
	st := session.State{NextID: m.nextID, NextSeq: m.nextSeq}
	if len(m.flights) > 0 {
		st.Inflight = make([]session.InflightEntry, 0, len(m.flights))
		orders := make(map[uint16]uint64, len(m.flights))
		for id, f := range m.flights {
			// Every stored flight was written: the change is stored before
			// its PUBLISH is sent.
			st.Inflight = append(st.Inflight, session.InflightEntry{PacketID: id, Stage: f.stage, Seq: f.seq, Sent: true, Delivery: f.d})
			orders[id] = f.order
		}
		slices.SortFunc(st.Inflight, func(a, b session.InflightEntry) int {
			return cmp.Compare(orders[a.PacketID], orders[b.PacketID])
		})
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

// LoadState implements store.Store.
func (s *Store) LoadState(ctx context.Context, clientID string) (session.State, error) {
	if err := s.check(ctx, "store: load state"); err != nil {
		return session.State{}, err
	}
	sh := s.shard(clientID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cl := sh.clients[clientID]
	if cl == nil {
		return session.State{}, nil
	}
	return cl.state.snapshot(), nil
}

// Apply implements store.Store. The shards of every client in the call are
// locked together, in index order, so the call is atomic for readers.
func (s *Store) Apply(ctx context.Context, updates ...store.Update) error {
	if err := s.check(ctx, "store: apply"); err != nil {
		return err
	}
	for i := range updates {
		if err := updates[i].Validate(); err != nil {
			return fmt.Errorf("store: apply: %w", err)
		}
	}
	if len(updates) == 1 {
		sh := s.shard(updates[0].ClientID)
		sh.mu.Lock()
		s.applyLocked(sh, &updates[0])
		sh.mu.Unlock()
		return nil
	}
	var locked [numShards]bool
	for i := range updates {
		locked[s.shardIndex(updates[i].ClientID)] = true
	}
	for i := range locked {
		if locked[i] {
			s.shards[i].mu.Lock()
		}
	}
	for i := range updates {
		s.applyLocked(s.shard(updates[i].ClientID), &updates[i])
	}
	for i := range locked {
		if locked[i] {
			s.shards[i].mu.Unlock()
		}
	}
	return nil
}

func (s *Store) applyLocked(sh *shard, u *store.Update) {
	if len(u.Changes) == 0 {
		return
	}
	cl := sh.clients[u.ClientID]
	if cl == nil {
		cl = &client{}
		sh.clients[u.ClientID] = cl
	}
	for i := range u.Changes {
		if m := u.Changes[i].Delivery.Msg; m != nil {
			s.noteID(m.ID)
		}
	}
	cl.state.apply(s, u.Changes)
	if cl.rec == nil && cl.state.empty() {
		delete(sh.clients, u.ClientID)
	}
}

// bodies counts the references to message bodies by Message.ID, so that a
// message fanned out to many sessions is kept once and dropped with its last
// reference, as a durable backend does. Messages with ID 0 are not shared and
// are counted once per reference.
type bodies struct {
	shards [numShards]struct {
		mu sync.Mutex
		m  map[uint64]body
	}
	n atomic.Int64
}

type body struct {
	msg  *session.Message
	refs int
}

// ref takes a reference to msg's body and returns the stored message for its
// ID (the first one stored: messages with one ID are the same message).
func (b *bodies) ref(msg *session.Message) *session.Message {
	if msg.ID == 0 {
		b.n.Add(1)
		return msg
	}
	sh := &b.shards[msg.ID&(numShards-1)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[msg.ID]; ok {
		e.refs++
		sh.m[msg.ID] = e
		return e.msg
	}
	if sh.m == nil {
		sh.m = make(map[uint64]body)
	}
	sh.m[msg.ID] = body{msg: msg, refs: 1}
	b.n.Add(1)
	return msg
}

// unref releases a reference taken by ref.
func (b *bodies) unref(msg *session.Message) {
	if msg.ID == 0 {
		b.n.Add(-1)
		return
	}
	sh := &b.shards[msg.ID&(numShards-1)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[msg.ID]; ok {
		if e.refs--; e.refs == 0 {
			delete(sh.m, msg.ID)
			b.n.Add(-1)
		} else {
			sh.m[msg.ID] = e
		}
	}
}
