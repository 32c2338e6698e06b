package pebble

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	pdb "github.com/cockroachdb/pebble/v2"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/memory"
	"github.com/tern-mq/tern/topic"
)

// Durability says when a write is acknowledged.
type Durability uint8

const (
	// Sync: a write returns only after it is fsynced. Concurrent writes
	// share one fsync (group commit).
	Sync Durability = iota
	// Interval: a write returns once it reaches the operating system (the
	// engine has written its log record to the file); the log is fsynced
	// every Options.Interval. A process crash loses nothing, a power loss
	// up to one interval of writes.
	Interval
)

// String returns "sync" or "interval".
func (d Durability) String() string {
	switch d {
	case Sync:
		return "sync"
	case Interval:
		return "interval"
	}
	return fmt.Sprintf("Durability(%d)", d)
}

// DefaultInterval is the fsync period of Interval mode when Options.Interval
// is 0.
const DefaultInterval = 10 * time.Millisecond

// Options configure Open. The zero value is Sync mode without logging.
type Options struct {
	Durability Durability
	// Interval is the fsync period in Interval mode (0: DefaultInterval).
	Interval time.Duration
	// Logger receives the storage engine's messages (Debug) and what
	// recovery found (Info, Warn). nil: slog.Default().
	Logger *slog.Logger
	// SalvageLog opens a store whose write-ahead log is damaged in the
	// middle, keeping the records before the damage (and a copy of the log
	// in DIR/damaged). Without it, Open refuses such a store: replay would
	// lose acknowledged writes. A torn tail (a write cut by a crash) is
	// always dropped and reported, without this option.
	SalvageLog bool
	// CacheSize is the block cache of the engine in bytes (0: 8 MiB).
	CacheSize int64
}

// Store is the on-disk backend. Open returns one; it is safe for concurrent
// use.
type Store struct {
	db       *pdb.DB
	dir      string
	opts     Options
	log      *slog.Logger
	fs       *syncFS      // counts the fsyncs of the write-ahead log
	commits  atomic.Int64 // write batches committed
	opened   time.Time
	retained *memory.Store // in-memory index of retained messages
	maxID    atomic.Uint64

	// mu orders writes: a write changes the mirror and enqueues its batch
	// in the engine's commit pipeline under mu, then waits for its fsync
	// without it, so concurrent writes share fsyncs.
	mu      sync.Mutex
	closed  bool
	failed  error // a write failed: the mirror may be ahead of the disk
	clients map[string]*client
	bodies  map[uint64]*body
	nbodies int
	buf     []byte     // value scratch, under mu
	key     []byte     // key scratch, under mu
	hooks   batchHooks // applyLocked's, under mu
	pending sync.WaitGroup

	stop chan struct{} // Interval mode: stops the sync loop
	done chan struct{}

	// written counts the batches enqueued (under mu, after the engine
	// ordered them): the sync loop fsyncs when it moved.
	written atomic.Int64
}

var (
	_ store.Store        = (*Store)(nil)
	_ store.AsyncApplier = (*Store)(nil)
	_ store.WriteCounter = (*Store)(nil)
)

// Open opens (creating it if needed) the store in directory dir and loads
// it. Errors name dir and the reason: a directory that is not a Tern store,
// an unknown format version, a corrupt log or table.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Durability > Interval {
		return nil, fmt.Errorf("store/pebble: open %s: unknown durability %d", dir, opts.Durability)
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 8 << 20
	}
	s := &Store{dir: dir, opts: opts, log: opts.Logger, opened: time.Now(), retained: memory.New(),
		clients: make(map[string]*client), bodies: make(map[uint64]*body)}
	fs := countSyncs(opts.Durability == Interval)
	s.fs = fs
	cache := pdb.NewCache(opts.CacheSize)
	defer cache.Unref()
	po := &pdb.Options{
		FS:                 fs,
		Cache:              cache,
		Logger:             engineLog{opts.Logger},
		FormatMajorVersion: pdb.FormatNewest,
		MemTableSize:       16 << 20,
	}
	if err := checkLogs(dir, opts.SalvageLog, opts.Logger); err != nil {
		return nil, fmt.Errorf("store/pebble: open %s: %w", dir, err)
	}
	db, err := pdb.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("store/pebble: open %s: %w", dir, err)
	}
	s.db = db
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store/pebble: open %s: %w", dir, err)
	}
	if opts.Durability == Interval {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.syncLoop()
	}
	return s, nil
}

// syncLoop fsyncs the log every Interval in Interval mode, when a batch
// was enqueued since the last fsync. A write's own log sync only had the
// engine write its record to the file (see countSyncs); the loop's forced
// sync record follows every batch enqueued before written was read, so
// its fsync covers them. A batch enqueued after moves written again: the
// next tick fsyncs it.
func (s *Store) syncLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	var synced int64
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			// Sync only after writes: an empty log record per tick would
			// grow an idle store's log without bound.
			n := s.written.Load()
			if n == synced {
				continue
			}
			synced = n
			if err := s.fs.force(func() error { return s.db.LogData(nil, pdb.Sync) }); err != nil {
				s.log.Error("store: periodic log sync failed; refusing further writes", "dir", s.dir, "err", err)
				s.mu.Lock()
				s.failed = err
				s.mu.Unlock()
			}
		}
	}
}

// check returns the error for a call on a closed store or with a done context.
func (s *Store) check(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// write runs fill under mu with a fresh batch, then commits the batch: it
// is enqueued under mu and its log sync awaited after (in Interval mode
// that sync only waits for the engine to write the record to the file:
// see countSyncs). fill must not fail after changing the mirror.
func (s *Store) write(ctx context.Context, op string, fill func(b *pdb.Batch) error) error {
	b, err := s.enqueue(ctx, op, fill)
	if err != nil || b == nil {
		return err
	}
	return s.finish(op, b)
}

// enqueue runs fill under mu with a fresh batch and orders it: the batch is
// enqueued in the engine's commit pipeline and returned, to be passed to
// finish once; nil is returned for an empty batch. Interval mode requests
// a sync as well: the engine buffers a record written without one in
// memory, where a killed process loses it, until the next sync or full
// block; the sync makes it write the record to the file.
func (s *Store) enqueue(ctx context.Context, op string, fill func(b *pdb.Batch) error) (*pdb.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", op, store.ErrClosed)
	}
	if s.failed != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%s: store failed earlier: %w", op, s.failed)
	}
	b := s.db.NewBatch()
	if err := fill(b); err != nil {
		s.mu.Unlock()
		_ = b.Close()
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if b.Empty() {
		s.mu.Unlock()
		_ = b.Close()
		return nil, nil
	}
	if err := s.db.ApplyNoSyncWait(b, pdb.Sync); err != nil {
		s.failed = err
		s.mu.Unlock()
		_ = b.Close()
		s.log.Error("store: write failed; refusing further writes", "dir", s.dir, "err", err)
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	s.written.Add(1)
	s.pending.Add(1)
	s.mu.Unlock()
	return b, nil
}

// finish waits for the log sync of an enqueued batch.
func (s *Store) finish(op string, b *pdb.Batch) error {
	defer s.pending.Done()
	if err := b.SyncWait(); err != nil {
		s.mu.Lock()
		s.failed = err
		s.mu.Unlock()
		s.log.Error("store: log sync failed; refusing further writes", "dir", s.dir, "err", err)
		return fmt.Errorf("%s: %w", op, err)
	}
	_ = b.Close()
	s.commits.Add(1)
	return nil
}

// read runs fn under mu unless the store is closed.
func (s *Store) read(ctx context.Context, op string, fn func()) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("%s: %w", op, store.ErrClosed)
	}
	fn()
	return nil
}

// noteID raises maxID to id.
func (s *Store) noteID(id uint64) {
	for {
		cur := s.maxID.Load()
		if id <= cur || s.maxID.CompareAndSwap(cur, id) {
			return
		}
	}
}

// SaveSession implements store.Store.
func (s *Store) SaveSession(ctx context.Context, rec store.SessionRecord) error {
	const op = "store: save session"
	if rec.ClientID == "" {
		if err := s.check(ctx, op); err != nil {
			return err
		}
		return fmt.Errorf("%s: empty client identifier: %w", op, store.ErrInvalid)
	}
	c := rec.Clone()
	return s.write(ctx, op, func(b *pdb.Batch) error {
		cl := s.clients[rec.ClientID]
		if cl == nil {
			cl = &client{}
			s.clients[rec.ClientID] = cl
		}
		cl.rec = &c
		s.key = clientKey(s.key[:0], prefixSession, rec.ClientID)
		s.buf = appendRecord(s.buf[:0], &c)
		return b.Set(s.key, s.buf, nil)
	})
}

// DeleteSession implements store.Store.
func (s *Store) DeleteSession(ctx context.Context, clientID string) error {
	return s.write(ctx, "store: delete session", func(b *pdb.Batch) error {
		cl := s.clients[clientID]
		if cl == nil {
			return nil
		}
		s.release(b, &cl.state)
		delete(s.clients, clientID)
		for _, p := range [...]byte{prefixSession, prefixMeta} {
			s.key = clientKey(s.key[:0], p, clientID)
			_ = b.Delete(s.key, nil)
		}
		for _, p := range [...]byte{prefixQueue, prefixFlight, prefixInbound} {
			lo := clientKey(nil, p, clientID)
			_ = b.DeleteRange(lo, prefixEnd(lo), nil)
		}
		return nil
	})
}

// prefixEnd returns the smallest key above every key starting with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i]++; end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// LoadSessions implements store.Store.
func (s *Store) LoadSessions(ctx context.Context) ([]store.SessionRecord, error) {
	var out []store.SessionRecord
	err := s.read(ctx, "store: load sessions", func() {
		for _, cl := range s.clients {
			if cl.rec != nil {
				out = append(out, cl.rec.Clone())
			}
		}
	})
	return out, err
}

// Apply implements store.Store: one batch for all updates, committed
// atomically, returned once durable (Sync mode) or in the operating
// system (Interval mode).
func (s *Store) Apply(ctx context.Context, updates ...store.Update) error {
	b, err := s.applyAsync(ctx, updates)
	if err != nil || b == nil {
		return err
	}
	return s.finish(opApply, b)
}

const opApply = "store: apply"

// ApplyAsync implements store.AsyncApplier: the batch of Apply is ordered
// (in the mirror and the engine's commit pipeline) before it returns; in
// Sync mode the Commit waits for the fsync that covers it, shared with
// every batch enqueued meanwhile; in Interval mode it waits for the
// engine to write the batch's log record to the file. An empty write
// returns a nil Commit.
func (s *Store) ApplyAsync(ctx context.Context, updates ...store.Update) (store.Commit, error) {
	b, err := s.applyAsync(ctx, updates)
	if err != nil || b == nil {
		return nil, err
	}
	c := commitPool.Get().(*commit)
	c.s, c.b = s, b
	return c, nil
}

func (s *Store) applyAsync(ctx context.Context, updates []store.Update) (*pdb.Batch, error) {
	for i := range updates {
		if err := updates[i].Validate(); err != nil {
			if err := s.check(ctx, opApply); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%s: %w", opApply, err)
		}
	}
	return s.enqueue(ctx, opApply, func(b *pdb.Batch) error {
		for i := range updates {
			s.applyLocked(b, &updates[i])
		}
		return nil
	})
}

// commit is the store.Commit of ApplyAsync: a batch awaiting its log
// sync; pooled.
type commit struct {
	s *Store
	b *pdb.Batch
}

var commitPool = sync.Pool{New: func() any { return new(commit) }}

// Wait implements store.Commit.
func (c *commit) Wait() error {
	s, b := c.s, c.b
	c.s, c.b = nil, nil
	commitPool.Put(c)
	return s.finish(opApply, b)
}

// LoadState implements store.Store.
func (s *Store) LoadState(ctx context.Context, clientID string) (session.State, error) {
	var st session.State
	err := s.read(ctx, "store: load state", func() {
		if cl := s.clients[clientID]; cl != nil {
			st = cl.state.Snapshot()
		}
	})
	return st, err
}

// SetRetained implements store.Store.
func (s *Store) SetRetained(ctx context.Context, msg *session.Message) error {
	const op = "store: set retained"
	if err := s.check(ctx, op); err != nil {
		return err
	}
	if msg == nil {
		return fmt.Errorf("%s: nil message: %w", op, store.ErrInvalid)
	}
	if err := topic.ValidName(msg.Topic); err != nil {
		return fmt.Errorf("%s %q: %w: %w", op, msg.Topic, store.ErrInvalid, err)
	}
	return s.write(ctx, op, func(b *pdb.Batch) error {
		if err := s.retained.SetRetained(context.Background(), msg); err != nil {
			return err
		}
		s.noteID(msg.ID)
		s.key = append(append(s.key[:0], prefixRetained), msg.Topic...)
		if len(msg.Payload) == 0 {
			return b.Delete(s.key, nil)
		}
		s.buf = appendMessage(s.buf[:0], msg)
		return b.Set(s.key, s.buf, nil)
	})
}

// MatchRetained implements store.Store.
func (s *Store) MatchRetained(ctx context.Context, filter string, fn func(*session.Message) bool) error {
	op := "store: match retained " + filter
	if err := s.read(ctx, op, func() {}); err != nil {
		return err
	}
	return s.retained.MatchRetained(ctx, filter, fn)
}

// MaxMessageID implements store.Store: the largest Message.ID stored since
// Open or found at Open.
func (s *Store) MaxMessageID(ctx context.Context) (uint64, error) {
	if err := s.read(ctx, "store: max message id", func() {}); err != nil {
		return 0, err
	}
	return s.maxID.Load(), nil
}

// Stats implements store.Store.
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	var st store.Stats
	err := s.read(ctx, "store: stats", func() {
		for _, cl := range s.clients {
			if cl.rec != nil {
				st.Sessions++
			}
		}
		st.Messages = s.nbodies
	})
	if err != nil {
		return st, err
	}
	rs, err := s.retained.Stats(ctx)
	st.Retained = rs.Retained
	return st, err
}

// WriteStats are the counters of the write path since Open.
type WriteStats struct {
	Commits int64         // write batches committed (Apply, SaveSession, ... calls that wrote)
	Syncs   int64         // fsyncs of the write-ahead log
	Elapsed time.Duration // since Open
}

// SyncsPerSecond is the average fsync rate since Open.
func (w WriteStats) SyncsPerSecond() float64 {
	if w.Elapsed <= 0 {
		return 0
	}
	return float64(w.Syncs) / w.Elapsed.Seconds()
}

// CommitsPerSync is the average number of writes covered by one fsync (the
// group-commit batch size).
func (w WriteStats) CommitsPerSync() float64 {
	if w.Syncs == 0 {
		return 0
	}
	return float64(w.Commits) / float64(w.Syncs)
}

// WriteCounters implements store.WriteCounter.
func (s *Store) WriteCounters() store.WriteCounters {
	return store.WriteCounters{Commits: s.commits.Load(), Syncs: s.fs.n.Load()}
}

// WriteStats returns the counters of the write path.
func (s *Store) WriteStats() WriteStats {
	return WriteStats{Commits: s.commits.Load(), Syncs: s.fs.n.Load(), Elapsed: time.Since(s.opened)}
}

// Close implements store.Store: it waits for writes in progress, fsyncs the
// log and closes the engine.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.pending.Wait()
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	var errs []error
	if s.failed == nil {
		if err := s.fs.force(func() error { return s.db.LogData(nil, pdb.Sync) }); err != nil {
			errs = append(errs, err)
		}
	}
	// The engine's final sync of its log is a real fsync too.
	if err := s.fs.force(s.db.Close); err != nil {
		errs = append(errs, err)
	}
	_ = s.retained.Close()
	w := s.WriteStats()
	s.log.Info("store: closed", "dir", s.dir, "commits", w.Commits, "fsyncs", w.Syncs,
		"fsyncs_per_s", fmt.Sprintf("%.1f", w.SyncsPerSecond()), "commits_per_fsync", fmt.Sprintf("%.2f", w.CommitsPerSync()))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store/pebble: close %s: %w", s.dir, err)
	}
	return nil
}

func appendUvarint(dst []byte, v uint64) []byte { return binary.AppendUvarint(dst, v) }

var bgCtx = context.Background()
