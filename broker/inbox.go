package broker

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
)

// inbox is the outbound queue of one client session toward its current
// connection: the deliveries routed to the client that its writer has not
// yet handed to the session. Publishers append under inbox.mu, held for the
// append alone; whoever holds cl.mu (the writer once per flush, or a
// delivery that must go through the session at once) takes the whole
// batch and hands it to the session in order. The session's lock is so
// taken once per batch instead of once per message, and a publisher never
// waits for a writer that is encoding or for another publisher's session
// work. Only a connected client's inbox is open; an offline session is
// delivered to under its lock.
//
// Lock order: cl.mu, then c.mu, then inbox.mu, which is innermost: nothing
// is locked while it is held.
type inbox struct {
	mu    sync.Mutex
	open  bool                // a connection is attached and drains the inbox
	conn  *conn               // that connection, kicked when the inbox stops being empty
	buf   *[]session.Delivery // pooled; nil while empty
	bytes int                 // payload bytes in buf
	stuck atomic.Bool         // a publisher's wait for the writer ran out; cleared by take
}

// Results of inbox.push.
const (
	pushed      = iota // appended; the writer was already due to take it
	pushedFirst        // appended to an empty inbox: kick the writer
	pushFull           // at capacity: not appended
	pushClosed         // no connection drains the inbox: not appended
)

// inboxKeep bounds the capacity of the buffers kept in inboxPool.
const inboxKeep = 4096

var inboxPool = sync.Pool{New: func() any { b := make([]session.Delivery, 0, 64); return &b }}

// push appends d unless the inbox is closed or already holds maxN
// deliveries or would pass maxBytes payload bytes. It returns the
// connection draining the inbox (with pushedFirst, to kick; with pushFull,
// to see whether its writer is blocked).
func (ib *inbox) push(d session.Delivery, maxN, maxBytes int) (*conn, int) {
	size := len(d.Msg.Payload)
	ib.mu.Lock()
	if !ib.open {
		ib.mu.Unlock()
		return nil, pushClosed
	}
	c := ib.conn
	if ib.buf == nil {
		if maxN <= 0 || size > maxBytes {
			ib.mu.Unlock()
			return c, pushFull
		}
		ib.buf = inboxPool.Get().(*[]session.Delivery)
		*ib.buf = append(*ib.buf, d)
		ib.bytes = size
		ib.mu.Unlock()
		return c, pushedFirst
	}
	if len(*ib.buf) >= maxN || ib.bytes+size > maxBytes {
		ib.mu.Unlock()
		return c, pushFull
	}
	*ib.buf = append(*ib.buf, d)
	ib.bytes += size
	ib.mu.Unlock()
	return c, pushed
}

// take empties the inbox and returns its deliveries (nil: none), to give
// back with recycle. cl.mu is held.
func (ib *inbox) take() *[]session.Delivery {
	if ib.stuck.Load() {
		ib.stuck.Store(false)
	}
	ib.mu.Lock()
	b := ib.buf
	ib.buf, ib.bytes = nil, 0
	ib.mu.Unlock()
	return b
}

// recycle returns a buffer of take to the pool.
func recycleInbox(b *[]session.Delivery) {
	clear(*b)
	*b = (*b)[:0]
	if cap(*b) <= inboxKeep {
		inboxPool.Put(b)
	}
}

// openFor makes c the connection that drains the inbox. cl.mu is held.
func (ib *inbox) openFor(c *conn) {
	ib.mu.Lock()
	ib.open, ib.conn = true, c
	ib.mu.Unlock()
}

// close stops the inbox taking deliveries and returns those it holds.
// cl.mu is held.
func (ib *inbox) close() *[]session.Delivery {
	ib.mu.Lock()
	b := ib.buf
	ib.open, ib.conn, ib.buf, ib.bytes = false, nil, nil, 0
	ib.mu.Unlock()
	return b
}

// len returns the number of deliveries waiting and their payload bytes,
// for the gauges.
func (ib *inbox) len() (n, bytes int) {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	if ib.buf == nil {
		return 0, 0
	}
	return len(*ib.buf), ib.bytes
}

// toSession hands the deliveries of b, taken from cl's inbox, to the
// session in their order, and recycles b. With bound set, QoS 0
// deliveries count towards the backlog that the writer has not taken yet
// (cl.qos0Pending), and those beyond MaxQueued or MaxQueuedBytes are
// dropped and counted; the writer, which takes that backlog at once, hands
// them over without the bound. cl.mu is held.
func (s *Server) toSession(cl *client, b *[]session.Delivery, now time.Time, bound bool) {
	if b == nil {
		return
	}
	v5 := cl.version == packet.V5
	for i := range *b {
		d := (*b)[i]
		if !v5 {
			d.Retain = false // Retain As Published is MQTT 5
		}
		if bound && d.QoS == 0 {
			if cl.qos0Pending >= s.cfg.MaxQueued || cl.qos0Bytes+len(d.Msg.Payload) > s.cfg.MaxQueuedBytes {
				s.droppedSlow(cl, d.Msg)
				continue
			}
			cl.qos0Pending++
			cl.qos0Bytes += len(d.Msg.Payload)
		}
		cl.sess.Send(now, d)
	}
	recycleInbox(b)
}

// takeInbox encodes, for the writer, the deliveries of b taken from cl's
// inbox, after the packets the session had ready (drained by the caller).
// A QoS 0 delivery without properties goes straight to out while nothing
// is queued in the session ahead of it: the session keeps no state for it
// and would only pass it through. Every other delivery goes through the
// session, which is drained before the next direct one, so the order of
// the inbox is the order on the wire. cl.mu is held.
func (c *conn) takeInbox(cl *client, b *[]session.Delivery, out []byte, deliver []*session.Message) ([]byte, []*session.Message) {
	now := time.Now() // once per batch
	v5 := cl.version == packet.V5
	direct := c.maxOut == 0 && cl.sess.IsConnected() && cl.sess.Stats().Queued == 0
	pending := false // deliveries handed to the session and not drained
	var sc *scratch
	for i := range *b {
		d := (*b)[i]
		if !v5 {
			d.Retain = false // Retain As Published is MQTT 5
		}
		if direct && d.QoS == 0 && plain(&d) {
			if pending {
				out, deliver = c.drain(cl, out, deliver, true, nil)
				pending = false
				direct = cl.sess.Stats().Queued == 0
			}
			if direct {
				if sc == nil {
					sc = getScratch()
				}
				ob := session.Outbound{Kind: packet.PUBLISH, Delivery: d}
				out = c.encode(cl, out, &ob, sc)
				continue
			}
		}
		cl.sess.Send(now, d)
		pending = true
	}
	if sc != nil {
		putScratch(sc)
		c.countSent(cl)
	}
	recycleInbox(b)
	if pending {
		out, deliver = c.drain(cl, out, deliver, true, nil)
	}
	return out, deliver
}
