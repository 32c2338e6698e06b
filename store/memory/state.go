package memory

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/internal/mirror"
)

// hooks let mirror.State count the references to message bodies; the
// memory store writes nothing else.
type hooks struct{ b *bodies }

func (h hooks) Ref(m *session.Message) *session.Message { return h.b.ref(m) }
func (h hooks) Unref(m *session.Message)                { h.b.unref(m) }
func (hooks) PutQueued(uint64, session.Delivery)        {}
func (hooks) DeleteQueued(uint64)                       {}
func (hooks) PutFlight(uint16, mirror.Flight)           {}
func (hooks) DeleteFlight(uint16)                       {}
func (hooks) PutInbound(uint16)                         {}
func (hooks) DeleteInbound(uint16)                      {}

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
	return cl.state.Snapshot(), nil
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
	cl.state.Apply(hooks{&s.bodies}, u.Changes)
	if cl.rec == nil && cl.state.Empty() {
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
