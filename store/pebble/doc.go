// Package pebble is the on-disk backend of store.Store, on the Pebble
// key-value engine (a log-structured merge tree with a write-ahead log).
//
// # Durability
//
// In Sync mode (the default) every write (Apply, SaveSession,
// DeleteSession, SetRetained) returns only after its batch is fsynced in the
// write-ahead log: acknowledged means on disk, across kill -9 and power
// loss. Concurrent writers are group-committed: each enqueues its batch in
// the engine's commit pipeline and waits for the fsync that covers it, so
// one fsync serves every batch enqueued while the previous one ran.
// In Interval mode a write returns once the engine has written its log
// record to the file (the operating system has it) and the log is fsynced
// every Options.Interval: a process crash loses nothing, a power loss up to
// one interval. A broker without durability uses store/memory instead.
//
// # Model
//
// The whole store is mirrored in memory and reads (LoadSessions,
// LoadState, MatchRetained) are served from the mirror. A write changes the
// mirror and builds the matching engine batch in one short critical section
// that also enqueues the batch, so the disk sees writes in the order the
// mirror does; the fsync is awaited outside it. Each Apply call is one
// batch, atomic across a crash. If the engine reports a write or sync
// error, the mirror may be ahead of the disk: the store refuses every later
// write with that error (reads go on) and must be reopened.
//
// # Contexts
//
// A call whose context is already done does nothing and returns an error
// wrapping ctx.Err(). Once a write's batch is enqueued, the call waits for
// its fsync even if the context ends meanwhile and then returns nil: the
// write is durable, which a caller may rely on (the store contract allows
// an error there, but an fsync is short and bounded by the disk).
//
// # Layout and recovery
//
// docs/storage.md describes the keys. Message bodies are stored once under
// their Message.ID and referenced by queue and flight entries; the mirror
// counts the references and the batch that drops the last one deletes the
// body. Open replays the write-ahead log (a torn record at its tail, from a
// crash during a write that was therefore never acknowledged, is left out
// and reported with slog), loads every key and checks the format version:
// a store of another version, or a directory holding other data, is
// refused with an error naming the directory and the reason. Corruption
// inside the log or a table is an error too, never silently skipped.
package pebble
