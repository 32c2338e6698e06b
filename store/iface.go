package store

import (
	"context"

	"github.com/tern-mq/tern/session"
)

// Store is the persistence seam of the broker. See the package documentation
// for the contract every backend keeps (ordering, atomicity, durability,
// message bodies).
//
// Every method is safe for concurrent use, honours ctx (a call whose ctx is
// already done does nothing and returns an error wrapping ctx.Err()), and
// returns errors wrapped with %w.
type Store interface {
	// SaveSession inserts or replaces the record of rec.ClientID. The store
	// keeps no reference to rec's slices or pointers.
	SaveSession(ctx context.Context, rec SessionRecord) error
	// DeleteSession removes the record of clientID and all its message
	// state, releasing its references to message bodies. Retained messages
	// are not touched [MQTT-3.1.2-7]. Deleting an unknown client is not an
	// error.
	DeleteSession(ctx context.Context, clientID string) error
	// LoadSessions returns every stored record, in no particular order. The
	// broker calls it at startup.
	LoadSessions(ctx context.Context) ([]SessionRecord, error)

	// Apply applies the changes of each update, in order, to the message
	// state of update.ClientID: session.Ready.Persist, before the Ready's
	// packets are sent. One call is atomic across all its updates, so the
	// broker can persist a fan-out (the subscribers' queued or in-flight
	// deliveries and the publisher's ChangeInbound) with one write and, in a
	// durable backend, one sync. A durable backend returns once the changes
	// are durable. A client needs no record to have message state.
	Apply(ctx context.Context, updates ...Update) error
	// LoadState returns the message state of clientID: what
	// session.State.Apply builds from the changes applied, which equals the
	// State() of the session that produced them, except that NextSeq may be
	// lower (it is 0 or above every sequence number in the state) and NextID
	// 0 stands for 1. session.Restore accepts it. A client without message
	// state gets the zero State. Messages in it may be shared with other
	// states and must not be modified.
	LoadState(ctx context.Context, clientID string) (session.State, error)

	// SetRetained stores msg as the retained message of msg.Topic,
	// replacing the previous one; when msg.Payload is empty it removes the
	// topic's retained message instead [MQTT-3.3.1-10] [MQTT-3.3.1-11]
	// [MQTT5-3.3.1-6] [MQTT5-3.3.1-7]. msg must not be modified afterwards.
	SetRetained(ctx context.Context, msg *session.Message) error
	// MatchRetained calls fn for every retained message whose topic name
	// matches filter under the rules of topic.Match, including the '$' rule
	// [MQTT-4.7.2-1] [MQTT5-4.7.2-1], in no particular order, until fn
	// returns false. Messages whose Expires has passed are not reported. fn
	// may call the store; it must not modify the message.
	MatchRetained(ctx context.Context, filter string, fn func(*session.Message) bool) error

	// MaxMessageID returns a value at least as large as the ID of every
	// message the store references. After a restart the broker allocates
	// message IDs above it.
	MaxMessageID(ctx context.Context) (uint64, error)
	// Stats returns the store's gauges.
	Stats(ctx context.Context) (Stats, error)

	// Close releases the backend. A durable backend makes every write
	// acknowledged so far durable first. Methods called after Close return
	// ErrClosed; calling Close again returns nil.
	Close() error
}

// Update is the message-state changes of one session, as returned in
// session.Ready.Persist. The store keeps no reference to Changes; it may keep
// the messages and subscription identifier slices the changes point to,
// which are read-only.
type Update struct {
	ClientID string
	Changes  []session.Change
}

// Stats are the gauges of a store.
type Stats struct {
	Sessions int // session records
	Messages int // message bodies referenced by message state, each counted once
	Retained int // retained messages
}

// AsyncApplier is implemented by a durable backend that can order a write
// before it is durable, so that a caller keeps working while the sync runs
// (the broker pipelines a connection's publications this way).
//
// ApplyAsync does what Apply does, except that it returns once the write
// is ordered: it takes effect, with respect to every later call of any
// method, in the order ApplyAsync returned, exactly as if Apply had
// returned at that point; and it is durable once the returned Commit's
// Wait returns nil. The caller must call Wait exactly once, and must not
// act on the write's durability (acknowledge it) before Wait returned nil.
// A nil Commit means the write is already as durable as the backend makes
// it. An error from ApplyAsync means nothing was ordered; an error from
// Wait, that the write may or may not have taken effect (as an error from
// Apply).
type AsyncApplier interface {
	ApplyAsync(ctx context.Context, updates ...Update) (Commit, error)
}

// Commit is a write ordered by ApplyAsync, not yet known to be durable.
type Commit interface {
	// Wait returns once the write is durable, or the error that prevents
	// it. It must be called exactly once.
	Wait() error
}

// WriteCounters are the counters of a durable backend's write path since
// it was opened: writes committed and syncs of its log. Commits / Syncs is
// the average group-commit batch size.
type WriteCounters struct {
	Commits int64 // write batches committed (Apply, SaveSession, ... calls that wrote)
	Syncs   int64 // fsyncs of the log
}

// WriteCounter is implemented by a backend that counts its writes and
// syncs (the broker exports them as metrics).
type WriteCounter interface {
	WriteCounters() WriteCounters
}
