package store

import "context"

// Store is the persistence seam of the broker. See the package documentation
// for the contract every backend keeps (ordering, atomicity, durability).
//
// Every method is safe for concurrent use, honours ctx (a call whose ctx is
// already done does nothing and returns an error wrapping ctx.Err()), and
// returns errors wrapped with %w.
type Store interface {
	// SaveSession inserts or replaces the record of rec.ClientID.
	SaveSession(ctx context.Context, rec SessionRecord) error
	// DeleteSession removes the record of clientID and all its message
	// state. Deleting an unknown client is not an error.
	DeleteSession(ctx context.Context, clientID string) error
	// LoadSessions returns every stored record, in no particular order. The
	// broker calls it at startup.
	LoadSessions(ctx context.Context) ([]SessionRecord, error)

	// Close releases the backend. A durable backend makes every write
	// acknowledged so far durable first. Methods called after Close return
	// ErrClosed; Close is idempotent.
	Close() error
}
