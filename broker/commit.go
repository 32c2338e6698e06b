package broker

import (
	"fmt"
	"sync"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/store"
)

// The durable publish path. A QoS 1 or 2 PUBLISH accepted with a Store is
// routed at once, its changes (the publisher's acceptance and every
// subscriber's delivery) collected in a fanout and persisted with one
// Apply, atomic across the sessions. The packets it causes (the PUBACK or
// PUBREC, the subscribers' PUBLISH) are encoded into the control queues of
// their connections behind a hold: a writer writes the bytes before the
// first hold still pending, never past it, so no packet goes out before the
// state it depends on is durable, and every connection keeps its order.
//
// With a store that orders a write before it is durable
// (store.AsyncApplier, the on-disk store in sync mode), the reader does
// not wait for the fsync: it hands the fanout to the connection's
// pipeline and reads the next packet, so one publisher has many messages
// in one group commit. The pipeline's goroutine waits for the commits in
// order and releases their holds; at most maxPipeline commits of one
// connection are in flight, the reader waits beyond.

// maxPipeline bounds the commits of one connection in flight (and the
// Receive Maximum announced bounds them further).
const maxPipeline = 1024

// errStore ends the connections whose packets depend on a write the store
// failed: nothing that write would have made durable is acknowledged.
var errStore = &packet.Error{Code: packet.ImplementationSpecificError, Reason: "storage failure"}

// fanout collects, while a durable QoS 1 or 2 message is routed, the
// session changes of the publisher and the subscribers (persisted with one
// Apply, atomic across the sessions) and the holds on the connections
// whose packets wait for it. Changes that must be ordered in the store at
// once (a queued delivery; every change when eager) are written when
// collected, and their packets wait for those writes as well.
type fanout struct {
	updates []store.Update
	held    []heldRef
	eager   bool           // order every change at once (a reader's drain)
	extra   []store.Commit // writes ordered at once, not yet waited for
	err     error          // the first failure of those writes
	pending store.Commit   // the write of updates, while in the pipeline
	one     [1]store.Update
}

// heldRef is one hold of a fanout: a connection and the hold's identifier.
type heldRef struct {
	c  *conn
	id uint64
}

var fanoutPool = sync.Pool{New: func() any { return new(fanout) }}

func getFanout() *fanout { return fanoutPool.Get().(*fanout) }

// hold takes a hold on c's control queue at its current end. c.mu is held.
func (b *fanout) hold(c *conn) {
	b.held = append(b.held, heldRef{c, c.hq.take(c.ctlLen())})
}

// holdFrom takes a hold on c's control queue at offset n, where it ended
// before packets depending on b were appended, if any were: a drain that
// encoded nothing (a delivery queued behind a full window) holds nothing
// back. c.mu is held since the queue was n bytes long.
func (b *fanout) holdFrom(c *conn, n int) {
	if c.ctlLen() > n {
		b.held = append(b.held, heldRef{c, c.hq.take(n)})
	}
}

// applyNow orders u in the store now; its packets wait for it with b's.
// The session's lock is held.
func (b *fanout) applyNow(s *Server, u store.Update) {
	b.one[0] = u
	defer clear(b.one[:])
	if b.err != nil {
		return // the connections will be closed: write nothing more
	}
	if aa, ok := s.store.(store.AsyncApplier); ok {
		cm, err := aa.ApplyAsync(s.ctx, b.one[:]...)
		if err != nil {
			b.err = err
		} else if cm != nil {
			b.extra = append(b.extra, cm)
		}
		return
	}
	b.err = s.store.Apply(s.ctx, b.one[:]...)
}

// idle reports whether b has nothing to write or wait for.
func (b *fanout) idle() bool {
	return len(b.updates) == 0 && len(b.extra) == 0 && b.pending == nil && b.err == nil
}

// wait waits for every write of b, in order, and returns the first error.
func (b *fanout) wait() error {
	err := b.err
	for _, cm := range b.extra {
		if werr := cm.Wait(); err == nil {
			err = werr
		}
	}
	if b.pending != nil {
		if werr := b.pending.Wait(); err == nil {
			err = werr
		}
	}
	return err
}

// finish releases the holds (err nil) or closes the held connections
// (err set: their held packets are never written), and recycles b.
func (b *fanout) finish(s *Server, err error) error {
	if err != nil {
		s.log.Error("persisting session state; closing the connections that depend on it",
			"connections", len(b.held), "err", err)
		err = fmt.Errorf("%w: %w", errStore, err)
	}
	for _, h := range b.held {
		if err != nil {
			h.c.disconnectWith(err)
		} else {
			h.c.unhold(h.id)
		}
	}
	b.recycle()
	return err
}

// recycle resets b and returns it to the pool.
func (b *fanout) recycle() {
	clear(b.updates)
	clear(b.held)
	clear(b.extra)
	b.updates, b.held, b.extra = b.updates[:0], b.held[:0], b.extra[:0]
	b.eager, b.err, b.pending = false, nil, nil
	fanoutPool.Put(b)
}

// commit persists the collected changes and waits for them, then releases
// the held connections to their writers. A failure closes them and is
// returned.
func (b *fanout) commit(s *Server) error {
	err := b.err
	if err == nil && len(b.updates) > 0 {
		err = s.store.Apply(s.ctx, b.updates...)
	}
	return b.finish(s, err)
}

// submit persists b for c's reader: with a store.AsyncApplier, the write
// is ordered now and b goes to c's pipeline, which releases it once
// durable; otherwise it is committed before submit returns. An error means
// the connection must end.
func (c *conn) submit(b *fanout) error {
	s := c.srv
	aa, ok := s.store.(store.AsyncApplier)
	if !ok {
		return b.commit(s)
	}
	if len(b.updates) > 0 && b.err == nil {
		cm, err := aa.ApplyAsync(s.ctx, b.updates...)
		if err != nil {
			b.err = err
		}
		b.pending = cm
	}
	clear(b.updates) // the store keeps no reference
	b.updates = b.updates[:0]
	if b.err != nil || (b.pending == nil && len(b.extra) == 0) {
		return b.finish(s, b.wait())
	}
	if c.memoryDurability() {
		// A listener in memory mode: its client's acknowledgements and the
		// deliveries go out now; the pipeline still waits for the write,
		// whose failure is logged.
		b.release()
	}
	c.pipe.push(c, b)
	return nil
}

// release releases b's holds now, before its writes are durable.
func (b *fanout) release() {
	for _, h := range b.held {
		h.c.unhold(h.id)
	}
	clear(b.held)
	b.held = b.held[:0]
}

// pipeline is a connection's queue of commits in flight, in the order
// their writes were ordered; a goroutine runs while it is not empty.
type pipeline struct {
	mu      sync.Mutex
	space   sync.Cond // signalled when a commit leaves the queue
	q       []*fanout // q[head:] in flight
	head    int
	running bool
	ended   bool      // the reader has returned: it pushes nothing more
	next    []heldRef // holds of connections that took the session over
}

// push appends b, waiting while the queue is full, and starts the
// pipeline's goroutine if needed. Only the reader calls it.
func (p *pipeline) push(c *conn, b *fanout) {
	limit := min(c.srv.cfg.ReceiveMaximum, maxPipeline)
	p.mu.Lock()
	if p.space.L == nil {
		p.space.L = &p.mu
	}
	for len(p.q)-p.head >= limit {
		p.space.Wait()
	}
	if p.head > 0 && p.head >= len(p.q)/2 { // compact
		n := copy(p.q, p.q[p.head:])
		clear(p.q[n:])
		p.q, p.head = p.q[:n], 0
	}
	p.q = append(p.q, b)
	start := !p.running
	p.running = true
	p.mu.Unlock()
	if start {
		c.srv.wg.Add(1) // the reader still counts, so the counter is not zero
		go c.commitLoop()
	}
}

// barrier releases hold id of c, the connection that took over the
// session of p's connection, once every commit p's reader submits is
// durable: a packet of the new connection may depend on them (a QoS 2
// PUBLISH sent again gets PUBREC because the old connection accepted it; a
// PUBREL goes out because a PUBREC received on the old one is stored). A
// failure of those commits closes c. While the old reader runs, it may
// have changed the session and not yet pushed the commit (it orders and
// pushes it after releasing the session's lock): the barrier waits for
// the reader to return (end).
func (p *pipeline) barrier(c *conn, id uint64) {
	p.mu.Lock()
	if !p.ended {
		p.next = append(p.next, heldRef{c, id})
		p.mu.Unlock()
		return
	}
	release := p.barrierLocked(heldRef{c, id})
	p.mu.Unlock()
	if release {
		c.unhold(id)
	}
}

// barrierLocked queues h behind the commits in flight, or reports that
// none is and h may be released now. p.mu is held.
func (p *pipeline) barrierLocked(h heldRef) (release bool) {
	if !p.running {
		return true
	}
	b := getFanout()
	b.held = append(b.held, h)
	p.q = append(p.q, b) // beyond the limit: never waits
	return false
}

// end marks the reader returned and queues the barriers taken meanwhile
// behind its last commits.
func (p *pipeline) end() {
	p.mu.Lock()
	p.ended = true
	next := p.next
	p.next = nil
	var now []heldRef
	for _, h := range next {
		if p.barrierLocked(h) {
			now = append(now, h)
		}
	}
	p.mu.Unlock()
	for _, h := range now {
		h.c.unhold(h.id)
	}
}

// pop removes the oldest commit, or returns nil and marks the goroutine
// stopped when none is left.
func (p *pipeline) pop() *fanout {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.head == len(p.q) {
		p.q, p.head, p.running = p.q[:0], 0, false
		return nil
	}
	b := p.q[p.head]
	p.q[p.head] = nil
	p.head++
	if p.space.L != nil {
		p.space.Signal()
	}
	return b
}

// commitLoop waits for the pipeline's commits in order and releases (or,
// on failure, closes) the connections they hold.
func (c *conn) commitLoop() {
	defer c.srv.wg.Done()
	for b := c.pipe.pop(); b != nil; b = c.pipe.pop() {
		b.finish(c.srv, b.wait())
	}
}

// holdQueue tracks the holds on a connection's control queue. Each hold
// marks where the queue ended when it was taken (an offset in the stream
// of bytes ever queued); a writer may take the bytes before the first
// hold not yet released. Holds are taken in queue order and released in
// any order. c.mu guards it.
type holdQueue struct {
	taken int64 // bytes of the control queue taken by writers so far
	first uint64
	marks []holdMark // from hold first on
}

type holdMark struct {
	pos      int64
	released bool
}

// take adds a hold at the end of a control queue of n bytes.
func (q *holdQueue) take(n int) uint64 {
	q.marks = append(q.marks, holdMark{pos: q.taken + int64(n)})
	return q.first + uint64(len(q.marks)-1)
}

// release releases hold id.
func (q *holdQueue) release(id uint64) {
	q.marks[id-q.first].released = true
	n := 0
	for n < len(q.marks) && q.marks[n].released {
		n++
	}
	if n == 0 {
		return
	}
	m := copy(q.marks, q.marks[n:])
	q.marks = q.marks[:m]
	q.first += uint64(n)
}

// held reports whether a hold is pending.
func (q *holdQueue) held() bool { return len(q.marks) > 0 }

// free returns how many of the n bytes queued may be written.
func (q *holdQueue) free(n int) int {
	if len(q.marks) == 0 {
		return n
	}
	return int(q.marks[0].pos - q.taken)
}

// ctlLen returns the bytes in the control queue. c.mu is held.
func (c *conn) ctlLen() int {
	if c.ctl == nil {
		return 0
	}
	return len(*c.ctl)
}

// unhold releases one hold and wakes the writer.
func (c *conn) unhold(id uint64) {
	c.mu.Lock()
	c.hq.release(id)
	c.mu.Unlock()
	c.kick()
}
