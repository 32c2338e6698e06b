package pebble

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	pdb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store/internal/mirror"
)

// load reads the whole store into the mirror, checking the format version
// first. An empty store gets the current version.
func (s *Store) load() error {
	v, closer, err := s.db.Get(versionKey)
	switch {
	case err == pdb.ErrNotFound:
		it, err := s.db.NewIter(nil)
		if err != nil {
			return err
		}
		nonEmpty := it.First()
		if err := it.Close(); err != nil {
			return err
		}
		if nonEmpty {
			return fmt.Errorf("not a Tern store: data without a format version key")
		}
		set := func() error { return s.db.Set(versionKey, binary.AppendUvarint(nil, formatVersion), pdb.Sync) }
		if err := s.fs.force(set); err != nil {
			return fmt.Errorf("write format version: %w", err)
		}
		s.log.Info("store: created", "dir", s.dir, "format_version", formatVersion, "durability", s.opts.Durability.String())
		return nil
	case err != nil:
		return fmt.Errorf("read format version: %w", err)
	}
	ver, n := binary.Uvarint(v)
	_ = closer.Close()
	if n <= 0 || ver != formatVersion {
		return fmt.Errorf("unknown format version %d (this program reads version %d)", ver, formatVersion)
	}

	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: []byte{prefixVersion + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	bodies := make(map[uint64]*session.Message)
	var keys int
	for ok := it.First(); ok; ok = it.Next() {
		keys++
		k, val := it.Key(), it.Value()
		if err := s.loadKey(k, val, bodies); err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
	}
	if err := it.Error(); err != nil {
		return err
	}
	for id, m := range bodies {
		if s.bodies[id] == nil {
			// A body no entry refers to: left by nothing this code
			// writes; drop it so the store does not grow.
			s.log.Warn("store: unreferenced message body removed", "dir", s.dir, "id", id, "topic", m.Topic)
			if err := s.db.Delete(bodyKey(nil, id), pdb.NoSync); err != nil {
				return err
			}
		}
	}
	for _, cl := range s.clients {
		if cl.state.Order == 0 {
			cl.state.Order = uint64(len(cl.state.Flights))
		}
	}
	st := s.retainedCount()
	s.log.Info("store: opened", "dir", s.dir, "durability", s.opts.Durability.String(), "keys", keys,
		"clients", len(s.clients), "bodies", len(s.bodies), "retained", st)
	return nil
}

func (s *Store) retainedCount() int {
	n := 0
	_ = s.retained.MatchRetained(bgCtx, "#", func(*session.Message) bool { n++; return true })
	return n
}

func (s *Store) loadClient(id string) *client {
	cl := s.clients[id]
	if cl == nil {
		cl = &client{}
		s.clients[id] = cl
	}
	return cl
}

// loadKey adds one stored key to the mirror. Keys arrive in order, so
// bodies ('b') come before the entries ('f', 'q') that refer to them.
func (s *Store) loadKey(k, val []byte, bodies map[uint64]*session.Message) error {
	switch k[0] {
	case prefixBody:
		if len(k) != 9 {
			return errCorrupt
		}
		d := decoder{b: val}
		m := d.message()
		if err := d.done(); err != nil {
			return err
		}
		bodies[binary.BigEndian.Uint64(k[1:])] = m
		s.noteID(m.ID)
	case prefixRetained:
		d := decoder{b: val}
		m := d.message()
		if err := d.done(); err != nil {
			return err
		}
		s.noteID(m.ID)
		return s.retained.SetRetained(bgCtx, m)
	case prefixSession:
		id, rest, err := parseClientKey(k[1:])
		if err != nil || len(rest) != 0 {
			return errCorrupt
		}
		rec, err := decodeRecord(id, val)
		if err != nil {
			return err
		}
		s.loadClient(id).rec = &rec
	case prefixMeta:
		id, rest, err := parseClientKey(k[1:])
		if err != nil || len(rest) != 0 || len(val) != 2 {
			return errCorrupt
		}
		s.loadClient(id).state.NextID = binary.BigEndian.Uint16(val)
	case prefixInbound:
		id, rest, err := parseClientKey(k[1:])
		if err != nil || len(rest) != 2 {
			return errCorrupt
		}
		m := &s.loadClient(id).state
		if m.Inbound == nil {
			m.Inbound = make(map[uint16]struct{})
		}
		m.Inbound[binary.BigEndian.Uint16(rest)] = struct{}{}
	case prefixQueue:
		id, rest, err := parseClientKey(k[1:])
		if err != nil || len(rest) != 8 {
			return errCorrupt
		}
		seq := binary.BigEndian.Uint64(rest)
		d := decoder{b: val}
		dl, err := s.loadDelivery(&d, bodies)
		if err != nil {
			return err
		}
		m := &s.loadClient(id).state
		if m.Queue == nil {
			m.Queue = make(map[uint64]session.Delivery)
		}
		m.Queue[seq] = dl
		m.NextSeq = max(m.NextSeq, seq+1)
	case prefixFlight:
		id, rest, err := parseClientKey(k[1:])
		if err != nil || len(rest) != 2 {
			return errCorrupt
		}
		d := decoder{b: val}
		f := mirror.Flight{Order: d.uvarint(), Seq: d.uvarint(), Stage: session.Stage(d.byte())}
		if f.Delivery, err = s.loadDelivery(&d, bodies); err != nil {
			return err
		}
		m := &s.loadClient(id).state
		if m.Flights == nil {
			m.Flights = make(map[uint16]mirror.Flight)
		}
		m.Flights[binary.BigEndian.Uint16(rest)] = f
		m.NextSeq = max(m.NextSeq, f.Seq+1)
		m.Order = max(m.Order, f.Order)
	default:
		return fmt.Errorf("unknown key prefix %q", k[0])
	}
	return nil
}

// loadDelivery decodes a delivery and takes its body reference.
func (s *Store) loadDelivery(d *decoder, bodies map[uint64]*session.Message) (session.Delivery, error) {
	dl, id := d.delivery(bodies)
	if err := d.done(); err != nil {
		return dl, err
	}
	if dl.Msg == nil {
		return dl, fmt.Errorf("message body %d missing", id)
	}
	if id == 0 {
		s.nbodies++
		return dl, nil
	}
	s.noteID(id)
	if e := s.bodies[id]; e != nil {
		e.refs++
	} else {
		s.bodies[id] = &body{msg: dl.Msg, refs: 1}
		s.nbodies++
	}
	return dl, nil
}

// engineLog adapts the engine's logger to slog.
type engineLog struct{ log *slog.Logger }

func (l engineLog) Infof(format string, args ...any) {
	l.log.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (l engineLog) Errorf(format string, args ...any) {
	l.log.Error("pebble: " + fmt.Sprintf(format, args...))
}

func (l engineLog) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error("pebble: fatal: " + msg)
	panic(msg)
}

// countSyncs returns the default file system with a counter of the syncs
// of write-ahead log files. With deferred (Interval mode), a sync the
// engine requests for a write only marks the log dirty: the engine has
// written the record to the file (to the operating system) before it asks
// for the sync, which is what the write waits for; the fsync itself is
// done by the sync loop and Close (under forced) and when a log is closed.
func countSyncs(deferred bool) *syncFS {
	return &syncFS{FS: vfs.Default, n: new(atomic.Int64), deferred: deferred}
}

type syncFS struct {
	vfs.FS
	n        *atomic.Int64
	deferred bool
	forced   atomic.Int32 // > 0: every sync is an fsync (Interval mode)
}

// force runs fn (which requests a log sync) with every sync an fsync.
func (fs *syncFS) force(fn func() error) error {
	fs.forced.Add(1)
	defer fs.forced.Add(-1)
	return fn()
}

func (fs *syncFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &syncFile{File: f, fs: fs}, nil
}

func (fs *syncFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.wrap(name, f, err)
}

func (fs *syncFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	return fs.wrap(newname, f, err)
}

type syncFile struct {
	vfs.File
	fs    *syncFS
	dirty atomic.Bool // a sync was deferred
}

// skip reports whether a sync is deferred (and marks the file dirty).
func (f *syncFile) skip() bool {
	if !f.fs.deferred || f.fs.forced.Load() > 0 {
		f.dirty.Store(false)
		return false
	}
	f.dirty.Store(true)
	return true
}

func (f *syncFile) Sync() error {
	if f.skip() {
		return nil
	}
	f.fs.n.Add(1)
	return f.File.Sync()
}

func (f *syncFile) SyncData() error {
	if f.skip() {
		return nil
	}
	f.fs.n.Add(1)
	return f.File.SyncData()
}

// Close fsyncs a log whose last sync was deferred (a log the engine
// rotates away from is not synced again by the sync loop).
func (f *syncFile) Close() error {
	var err error
	if f.dirty.Load() {
		f.fs.n.Add(1)
		err = f.File.Sync()
	}
	return errors.Join(err, f.File.Close())
}
