package memory

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/internal/mirror"
)

const numShards = 64 // power of two

// Store is the in-memory backend. The zero value is not usable; call New.
type Store struct {
	closed   atomic.Bool
	seed     maphash.Seed
	shards   [numShards]shard
	bodies   bodies
	retained tree[session.Message]
	maxID    atomic.Uint64
}

// shard holds the clients whose identifier hashes to it, under one mutex, so
// sessions in different shards never contend.
type shard struct {
	mu      sync.Mutex
	clients map[string]*client
}

// client is everything stored for one client identifier.
type client struct {
	rec   *store.SessionRecord // nil when only message state is stored
	state mirror.State
}

// New returns an empty in-memory store.
func New() *Store {
	s := &Store{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].clients = make(map[string]*client)
	}
	return s
}

var _ store.Store = (*Store)(nil)

func (s *Store) shardIndex(clientID string) int {
	return int(maphash.String(s.seed, clientID) & (numShards - 1))
}

func (s *Store) shard(clientID string) *shard { return &s.shards[s.shardIndex(clientID)] }

// noteID raises maxID to id.
func (s *Store) noteID(id uint64) {
	for {
		cur := s.maxID.Load()
		if id <= cur || s.maxID.CompareAndSwap(cur, id) {
			return
		}
	}
}

// check returns the error for a call on a closed store or with a done context.
func (s *Store) check(ctx context.Context, op string) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", op, store.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// SaveSession implements store.Store.
func (s *Store) SaveSession(ctx context.Context, rec store.SessionRecord) error {
	if err := s.check(ctx, "store: save session"); err != nil {
		return err
	}
	if rec.ClientID == "" {
		return fmt.Errorf("store: save session: empty client identifier: %w", store.ErrInvalid)
	}
	c := rec.Clone()
	sh := s.shard(rec.ClientID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cl := sh.clients[rec.ClientID]
	if cl == nil {
		cl = &client{}
		sh.clients[rec.ClientID] = cl
	}
	cl.rec = &c
	return nil
}

// DeleteSession implements store.Store.
func (s *Store) DeleteSession(ctx context.Context, clientID string) error {
	if err := s.check(ctx, "store: delete session"); err != nil {
		return err
	}
	sh := s.shard(clientID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if cl := sh.clients[clientID]; cl != nil {
		cl.state.Release(s.bodies.unref)
		delete(sh.clients, clientID)
	}
	return nil
}

// LoadSessions implements store.Store.
func (s *Store) LoadSessions(ctx context.Context) ([]store.SessionRecord, error) {
	if err := s.check(ctx, "store: load sessions"); err != nil {
		return nil, err
	}
	var out []store.SessionRecord
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, cl := range sh.clients {
			if cl.rec != nil {
				out = append(out, cl.rec.Clone())
			}
		}
		sh.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("store: load sessions: %w", err)
		}
	}
	return out, nil
}

// MaxMessageID implements store.Store: the largest Message.ID ever given to
// the store.
func (s *Store) MaxMessageID(ctx context.Context) (uint64, error) {
	if err := s.check(ctx, "store: max message id"); err != nil {
		return 0, err
	}
	return s.maxID.Load(), nil
}

// Stats implements store.Store.
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	if err := s.check(ctx, "store: stats"); err != nil {
		return store.Stats{}, err
	}
	var st store.Stats
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, cl := range sh.clients {
			if cl.rec != nil {
				st.Sessions++
			}
		}
		sh.mu.Unlock()
	}
	st.Messages = int(s.bodies.n.Load())
	st.Retained = s.retained.len()
	return st, nil
}

// Close implements store.Store. The data is dropped.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.clients = make(map[string]*client)
		sh.mu.Unlock()
	}
	s.retained.mu.Lock()
	s.retained.root, s.retained.n = node[session.Message]{}, 0
	s.retained.mu.Unlock()
	return nil
}
