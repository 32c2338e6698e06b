package pebble

import (
	pdb "github.com/cockroachdb/pebble/v2"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/internal/mirror"
)

// client is the in-memory mirror of what is stored for one client
// identifier. Reads are served from it; writes change it and the disk in the
// same critical section, in the same order.
type client struct {
	rec   *store.SessionRecord // nil when only message state is stored
	state mirror.State
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
	oldNextID := m.NextID
	s.hooks = batchHooks{s: s, b: b, id: id}
	m.Apply(&s.hooks, u.Changes)
	s.hooks = batchHooks{}
	if m.NextID != oldNextID {
		s.key = clientKey(s.key[:0], prefixMeta, id)
		s.buf = binaryAppendU16(s.buf[:0], m.NextID)
		_ = b.Set(s.key, s.buf, nil)
	}
	if cl.rec == nil && m.Empty() {
		delete(s.clients, id)
	}
}

// batchHooks write the changes mirror.State.Apply makes for one client
// into a batch. Used with s.mu held.
type batchHooks struct {
	s  *Store
	b  *pdb.Batch
	id string
}

func (h *batchHooks) Ref(m *session.Message) *session.Message { return h.s.ref(h.b, m) }
func (h *batchHooks) Unref(m *session.Message)                { h.s.unref(h.b, m) }

func (h *batchHooks) PutQueued(seq uint64, d session.Delivery) {
	s := h.s
	s.buf = appendDelivery(s.buf[:0], &d)
	s.key = queueKey(s.key[:0], h.id, seq)
	_ = h.b.Set(s.key, s.buf, nil)
}

func (h *batchHooks) DeleteQueued(seq uint64) {
	h.s.key = queueKey(h.s.key[:0], h.id, seq)
	_ = h.b.Delete(h.s.key, nil)
}

func (h *batchHooks) PutFlight(id uint16, f mirror.Flight) { h.s.putFlight(h.b, h.id, id, &f) }

func (h *batchHooks) DeleteFlight(id uint16) {
	h.s.key = flightKey(h.s.key[:0], h.id, id)
	_ = h.b.Delete(h.s.key, nil)
}

func (h *batchHooks) PutInbound(id uint16) {
	h.s.key = inboundKey(h.s.key[:0], h.id, id)
	_ = h.b.Set(h.s.key, nil, nil)
}

func (h *batchHooks) DeleteInbound(id uint16) {
	h.s.key = inboundKey(h.s.key[:0], h.id, id)
	_ = h.b.Delete(h.s.key, nil)
}

func binaryAppendU16(dst []byte, v uint16) []byte { return append(dst, byte(v>>8), byte(v)) }

func (s *Store) putFlight(b *pdb.Batch, clientID string, id uint16, f *mirror.Flight) {
	s.buf = s.buf[:0]
	s.buf = appendUvarint(s.buf, f.Order)
	s.buf = appendUvarint(s.buf, f.Seq)
	s.buf = append(s.buf, byte(f.Stage))
	s.buf = appendDelivery(s.buf, &f.Delivery)
	s.key = flightKey(s.key[:0], clientID, id)
	_ = b.Set(s.key, s.buf, nil)
}

// release drops every body reference of m.
func (s *Store) release(b *pdb.Batch, m *mirror.State) {
	m.Release(func(msg *session.Message) { s.unref(b, msg) })
}
