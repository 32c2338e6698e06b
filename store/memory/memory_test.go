package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/tern-mq/tern/session"

	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/memory"
	"github.com/tern-mq/tern/store/storetest"
)

// The memory backend keeps nothing across Close, so RunReopen does not
// apply to it.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return memory.New() })
}

// TestExpiredRetainedReclaimed: an expired retained message found by a match
// is deleted, not only skipped.
func TestExpiredRetainedReclaimed(t *testing.T) {
	st := memory.New()
	defer st.Close()
	ctx := context.Background()
	live := &session.Message{ID: 1, Topic: "e/live", Payload: []byte("x"), Expires: time.Now().Add(time.Hour)}
	dead := &session.Message{ID: 2, Topic: "e/dead", Payload: []byte("x"), Expires: time.Now().Add(-time.Second)}
	for _, m := range []*session.Message{live, dead} {
		if err := st.SetRetained(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := st.MatchRetained(ctx, "e/+", func(m *session.Message) bool { got = append(got, m.Topic); return true }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "e/live" {
		t.Fatalf("matched %q, want only e/live", got)
	}
	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Retained != 1 {
		t.Fatalf("Stats.Retained = %d after matching an expired message, want 1", stats.Retained)
	}
}
