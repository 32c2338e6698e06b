package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/topic"
)

// matchPool recycles the slices MatchRetained collects matches into.
var matchPool = sync.Pool{New: func() any { return new([]*session.Message) }}

// SetRetained implements store.Store.
func (s *Store) SetRetained(ctx context.Context, msg *session.Message) error {
	if err := s.check(ctx, "store: set retained"); err != nil {
		return err
	}
	if msg == nil {
		return fmt.Errorf("store: set retained: nil message: %w", store.ErrInvalid)
	}
	if err := topic.ValidName(msg.Topic); err != nil {
		return fmt.Errorf("store: set retained %q: %w: %w", msg.Topic, store.ErrInvalid, err)
	}
	if len(msg.Payload) == 0 {
		s.retained.set(msg.Topic, nil) // [MQTT-3.3.1-10] [MQTT5-3.3.1-6]: not stored, and clears
	} else {
		s.retained.set(msg.Topic, msg)
	}
	s.noteID(msg.ID)
	return nil
}

// MatchRetained implements store.Store. The matches are collected under the
// tree's read lock and fn is called after it is released.
func (s *Store) MatchRetained(ctx context.Context, filter string, fn func(*session.Message) bool) error {
	if err := s.check(ctx, "store: match retained"); err != nil {
		return err
	}
	if err := topic.ValidFilter(filter); err != nil {
		return fmt.Errorf("store: match retained %q: %w: %w", filter, store.ErrInvalid, err)
	}
	bufp := matchPool.Get().(*[]*session.Message)
	matches := s.retained.match(filter, (*bufp)[:0])
	defer func() {
		clear(matches)
		*bufp = matches[:0]
		matchPool.Put(bufp)
	}()
	var now time.Time
	var expired []*session.Message
	defer func() {
		for _, m := range expired {
			s.retained.removeIf(m.Topic, m) // unless replaced meanwhile
		}
	}()
	for i, m := range matches {
		if i%64 == 63 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("store: match retained %q: %w", filter, err)
			}
		}
		if !m.Expires.IsZero() {
			if now.IsZero() {
				now = time.Now()
			}
			if !now.Before(m.Expires) {
				expired = append(expired, m) // [MQTT5-3.3.2-5]
				continue
			}
		}
		if !fn(m) {
			return nil
		}
	}
	return nil
}
