package storetest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/memory"
	"github.com/tern-mq/tern/store/storetest"
)

// kept is a backend for testing RunReopen itself: the data of each directory
// is a memory store that outlives its handles, as a disk would.
type kept struct {
	*memory.Store
	mu     sync.Mutex
	closed bool
}

func (k *kept) guard(op string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return fmt.Errorf("%s: %w", op, store.ErrClosed)
	}
	return nil
}

func (k *kept) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	return nil
}

func (k *kept) Apply(ctx context.Context, u ...store.Update) error {
	if err := k.guard("apply"); err != nil {
		return err
	}
	return k.Store.Apply(ctx, u...)
}

func (k *kept) SaveSession(ctx context.Context, r store.SessionRecord) error {
	if err := k.guard("save session"); err != nil {
		return err
	}
	return k.Store.SaveSession(ctx, r)
}

func (k *kept) SetRetained(ctx context.Context, m *session.Message) error {
	if err := k.guard("set retained"); err != nil {
		return err
	}
	return k.Store.SetRetained(ctx, m)
}

func TestRunReopen(t *testing.T) {
	var mu sync.Mutex
	disks := map[string]*memory.Store{}
	storetest.RunReopen(t, func(dir string) store.Store {
		mu.Lock()
		defer mu.Unlock()
		if disks[dir] == nil {
			disks[dir] = memory.New()
		}
		return &kept{Store: disks[dir]}
	})
}
