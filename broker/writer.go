package broker

import (
	"sync"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
)

// outBufSize is the initial size of a writer's output buffer; buffers that
// grew beyond maxPooledOut are not kept.
const (
	outBufSize   = 4096
	maxPooledOut = 256 << 10
)

var outBufPool = sync.Pool{New: func() any { b := make([]byte, 0, outBufSize); return &b }}

// kick makes sure a writer drains c's session soon. It never blocks: if no
// writer is running, it starts one.
func (c *conn) kick() {
	c.dirty.Store(true)
	if c.closed.Load() || !c.writing.CompareAndSwap(false, true) {
		return
	}
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		c.writing.Store(false)
		return
	}
	c.srv.wg.Add(1) // the reader still counts, so the counter is not zero
	c.mu.Unlock()
	go c.writeFn()
}

// afterReceive runs on the reader after it handed a packet to the
// session. It drains the session aside: the reader routes the messages the
// session accepted itself (no goroutine is started to publish) and queues
// the packets to write (acknowledgements) for the writer, which it kicks.
// A reader never writes, so it never blocks on a client that does not read
// while that client's writes wait to be read; it waits only when the bytes
// queued for such a client pass a bound (see waitBacklog).
//
// Without a store, when the next packet of the same socket read is a
// PUBLISH already buffered whole, the drain waits for it: the session is
// drained, and what it accepted routed, once for every PUBLISH of a read
// instead of once per packet, still by this reader and in order.
func (c *conn) afterReceive(now time.Time) error {
	if c.srv.store == nil && c.rd.publishBuffered() {
		return nil
	}
	cl := c.cl
	deliver, pending, b := c.drainAside(cl, c.rdeliver[:0])
	for i, m := range deliver {
		c.srv.routeAt(m, cl, now, nil)
		deliver[i] = nil
	}
	c.rdeliver = deliver[:0]
	if b != nil {
		if err := c.submit(b); err != nil {
			return err
		}
	}
	if pending {
		c.kick()
		return c.waitBacklog()
	}
	return nil
}

// drainAside drains the session under its lock, encoding its packets at
// the end of the control queue; pending reports whether that queue has
// bytes for the writer. With a store.AsyncApplier, the session's changes
// are ordered in the store under the lock and its packets held until they
// are durable: b, for submit.
func (c *conn) drainAside(cl *client, deliver []*session.Message) (_ []*session.Message, pending bool, b *fanout) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	deliver = cl.takeLater(deliver) // taken by earlier drains: routed first
	if cl.conn == c {
		if _, ok := c.srv.store.(store.AsyncApplier); ok && cl.sess.HasReady() {
			b = getFanout()
			b.eager = true
		}
		n := c.ctlLen()
		var out []byte
		if c.ctl != nil {
			out = *c.ctl
		}
		out, deliver = c.drain(cl, out, deliver, false, b)
		c.setCtl(out)
		if b != nil {
			if b.idle() { // nothing was written: no wait
				b.recycle()
				b = nil
			} else {
				b.holdFrom(c, n)
			}
		}
	}
	return deliver, c.ctl != nil && len(*c.ctl) > 0, b
}

// ctlPool holds the buffers of control queues, so that an idle connection
// holds none and a busy one allocates none.
var ctlPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// setCtl stores out as the control queue. c.mu is held.
func (c *conn) setCtl(out []byte) {
	if len(out) == 0 {
		return
	}
	if c.ctl == nil {
		c.ctl = ctlPool.Get().(*[]byte)
	}
	*c.ctl = out
}

// appendCtl encodes p at the end of the control queue, unless it does not
// fit the client's Maximum Packet Size even without its optional
// properties [MQTT5-3.1.2-24]: then it is dropped and counted.
func (c *conn) appendCtl(p packet.Packet) error {
	if !packet.Fit(p, c.version, c.maxOut) {
		c.srv.stats.dropped.Add(1)
		c.srv.log.Warn("packet larger than the client's maximum packet size not sent",
			"client", c.clientID(), "packet", p.Type(), "max", c.maxOut)
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []byte
	if c.ctl != nil {
		out = *c.ctl
	} else {
		out = (*ctlPool.Get().(*[]byte))[:0]
	}
	out, err := packet.Append(out, p, c.version)
	c.setCtl(out)
	return err
}

// drainHeld drains the session into the control queue with its changes
// collected in b, behind a hold released when b is committed: the packets
// keep their place in the order of the connection, and none is written
// before its state is persisted. cl.mu is held.
func (c *conn) drainHeld(cl *client, b *fanout) []*session.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.ctlLen()
	var out []byte
	if c.ctl != nil {
		out = *c.ctl
	}
	out, deliver := c.drain(cl, out, nil, false, b)
	c.setCtl(out)
	b.holdFrom(c, n)
	return deliver
}

// takeCtl appends the control queue to out and empties it. c.mu is held.
func (c *conn) takeCtl(out []byte) []byte {
	if c.ctl == nil {
		return out
	}
	out = append(out, *c.ctl...)
	c.hq.taken += int64(len(*c.ctl))
	if cap(*c.ctl) <= maxPooledOut {
		*c.ctl = (*c.ctl)[:0]
		ctlPool.Put(c.ctl)
	}
	c.ctl = nil
	return out
}

// takeCtlFree appends the bytes of the control queue before its first
// hold to out and removes them. c.mu is held.
func (c *conn) takeCtlFree(out []byte) []byte {
	n := c.hq.free(c.ctlLen())
	if n == 0 {
		return out
	}
	if n == len(*c.ctl) {
		return c.takeCtl(out)
	}
	out = append(out, (*c.ctl)[:n]...)
	*c.ctl = (*c.ctl)[:copy(*c.ctl, (*c.ctl)[n:])]
	c.hq.taken += int64(n)
	return out
}

// writer is the body of a writer goroutine.
func (c *conn) writer() {
	defer c.srv.wg.Done()
	defer func() {
		if r := recover(); r != nil {
			c.close(c.srv.recovered(c, "writer", r))
			c.writing.Store(false)
			c.signalFlushed()
		}
	}()
	c.writeLoop()
}

// writeLoop flushes until nothing is pending. The caller holds the writing
// flag; writeLoop releases it.
func (c *conn) writeLoop() {
	for {
		c.dirty.Store(false)
		if c.closed.Load() {
			c.writing.Store(false)
			c.signalFlushed()
			return
		}
		held := c.flush()
		c.writing.Store(false)
		c.signalFlushed()
		if held && c.isHeld() {
			return // release kicks a writer
		}
		if !c.dirty.Load() || c.closed.Load() || !c.writing.CompareAndSwap(false, true) {
			return
		}
	}
}

// isHeld reports whether a hold stops the writer.
func (c *conn) isHeld() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hq.held()
}

// maxCtlBacklog bounds the bytes a reader queues for a writer that is
// blocked on a client that does not read, beyond the queue bound of the
// session (MaxQueuedBytes); beyond it the reader waits for the writer, at
// most stallTimeout, then disconnects the client.
const (
	maxCtlBacklog = 1 << 20
	stallTimeout  = 30 * time.Second
)

var errStalled = &packet.Error{Code: packet.ImplementationSpecificError, Reason: "client does not read"}

// signalFlushed wakes a reader waiting in waitBacklog.
func (c *conn) signalFlushed() {
	c.mu.Lock()
	if c.waiters > 0 {
		c.flushed.Broadcast()
	}
	c.mu.Unlock()
}

// waitBacklog makes the reader wait while too many bytes are queued for a
// blocked writer: the backpressure of the client's socket then reaches its
// publishing, and nothing grows without bound.
func (c *conn) waitBacklog() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.overBacklog() {
		return nil
	}
	deadline := time.Now().Add(stallTimeout)
	t := time.AfterFunc(stallTimeout, c.signalFlushed)
	defer t.Stop()
	if c.flushed == nil {
		c.flushed = sync.NewCond(&c.mu)
	}
	for c.overBacklog() && time.Now().Before(deadline) {
		c.waiters++
		c.flushed.Wait()
		c.waiters--
	}
	if c.overBacklog() {
		return errStalled
	}
	return nil
}

// overBacklog reports whether the reader must wait for the writer. c.mu is
// held.
func (c *conn) overBacklog() bool {
	return c.ctl != nil && len(*c.ctl) > c.srv.cfg.MaxQueuedBytes+maxCtlBacklog && c.writing.Load() && !c.closed.Load()
}

// flush drains the client session once: persist, encode every packet into
// one buffer, Advance; then, outside the session lock, one Write. The
// messages the drain took from the client are left to its reader to route
// (client.handOff).
func (c *conn) flush() (held bool) {
	if c.closed.Load() {
		return
	}
	if h := c.srv.testWriteHook.Load(); h != nil {
		(*h)(c.clientID())
	}
	bp := outBufPool.Get().(*[]byte)
	out := (*bp)[:0]
	deliver := c.deliver[:0]
	cl := c.cl
	out, deliver, held = c.take(cl, out, deliver)
	if len(out) > 0 {
		c.wmu.Lock()
		c.writeSince.Store(time.Now().UnixNano())
		n, err := c.nc.Write(out)
		c.writeSince.Store(0)
		c.wmu.Unlock()
		c.ctr.bytesOut.Add(int64(n))
		if err != nil {
			c.close(err)
		}
	}
	if cap(out) <= maxPooledOut {
		*bp = out[:0]
		outBufPool.Put(bp)
	}
	c.deliver = deliver[:0]
	return held
}

// take appends the queued control packets and, when c is still the
// client's connection, drains the session, under the client's lock (so
// that CONNACK and SUBACK precede the packets the session produced after
// them).
func (c *conn) take(cl *client, out []byte, deliver []*session.Message) ([]byte, []*session.Message, bool) {
	if cl != nil {
		cl.mu.Lock()
		defer cl.mu.Unlock()
	}
	c.mu.Lock()
	if c.hq.held() {
		// Write what precedes the first hold; the session's packets go
		// after the held ones, into the control queue. Releasing the hold
		// kicks the writer again.
		out = c.takeCtlFree(out)
		if cl != nil && cl.conn == c && cl.sess.HasReady() {
			var ctl []byte
			if c.ctl != nil {
				ctl = *c.ctl
			}
			ctl, deliver = c.drain(cl, ctl, deliver, true, nil)
			c.setCtl(ctl)
			deliver = cl.handOff(deliver)
		}
		c.mu.Unlock()
		return out, deliver, true
	}
	out = c.takeCtl(out)
	c.mu.Unlock()
	if cl != nil && cl.conn == c {
		out, deliver = c.drain(cl, out, deliver, true, nil)
		if b := cl.inbox.take(); b != nil {
			out, deliver = c.takeInbox(cl, b, out, deliver)
		}
		// Messages the client published, accepted by its session: its
		// reader routes them, in order with the others.
		deliver = cl.handOff(deliver)
	}
	return out, deliver, false
}

// drain takes everything the session has ready, for the writer or for
// drainAside. cl.mu is held.
func (c *conn) drain(cl *client, out []byte, deliver []*session.Message, writer bool, b *fanout) ([]byte, []*session.Message) {
	if writer {
		// The QoS 0 backlog counts what no Write has taken yet.
		cl.qos0Pending, cl.qos0Bytes = 0, 0
	}
	for cl.sess.HasReady() {
		rd := cl.sess.Ready()
		c.srv.persist(cl, &rd, b) // persist, then send, then deliver
		if rd.Gen == c.gen && len(rd.Packets) > 0 {
			sc := getScratch()
			for i := range rd.Packets {
				out = c.encode(cl, out, &rd.Packets[i], sc)
			}
			putScratch(sc)
			c.countSent(cl)
		}
		deliver = append(deliver, rd.Deliver...)
		cl.sess.Advance()
	}
	return out, deliver
}

// countSent adds the PUBLISH packets counted by encode to the counters,
// once per batch instead of once per message. cl.mu is held.
func (c *conn) countSent(cl *client) {
	var n int64
	for q, k := range cl.sent {
		if k > 0 {
			c.ctr.sentQoS[q].Add(k)
			n += k
			cl.sent[q] = 0
		}
	}
	if n > 0 {
		c.srv.stats.sent.Add(n)
	}
}

// plain reports whether d's PUBLISH has no property to send: nothing in
// the message, no subscription identifier, no expiry.
func plain(d *session.Delivery) bool {
	return d.Msg.Properties == nil && len(d.SubIDs) == 0 && d.Msg.Expires.IsZero()
}

// emptyProps reports whether pr encodes no property (what is encoded
// follows the Present bits and the User and SubscriptionIDs slices).
func emptyProps(pr *packet.Properties) bool {
	return pr.Present == 0 && len(pr.User) == 0 && len(pr.SubscriptionIDs) == 0
}

// encode appends one outbound packet of the session, with the reused
// packet values: no allocation. The PUBLISH packets encoded are counted in
// cl.sent, which the caller adds to the counters with countSent. cl.mu is
// held.
func (c *conn) encode(cl *client, out []byte, ob *session.Outbound, sc *scratch) []byte {
	var err error
	if ob.Kind == packet.PUBLISH {
		p := &sc.pub
		if plain(&ob.Delivery) && c.outAlias.max == 0 && emptyProps(&p.Properties) {
			// No property to send: the large Properties of p stays zero
			// instead of being copied and cleared.
			d := &ob.Delivery
			p.Dup, p.QoS, p.Retain, p.PacketID = ob.Dup, d.QoS, d.Retain, ob.PacketID
			p.Topic, p.Payload = d.Msg.Topic, d.Msg.Payload
			out, err = p.Append(out, c.version)
		} else {
			ob.Publish(p)
			if c.version != packet.V5 {
				p.Properties = packet.Properties{} // MQTT 3 has no properties
			} else {
				// Topic aliases are per connection: never forwarded; this
				// connection's own, if the client accepts them.
				p.Properties.Clear(packet.PropTopicAlias)
				p.Properties.TopicAlias = 0
				c.outAlias.prepare(p)
			}
			out, err = p.Append(out, c.version)
			if err == nil {
				c.outAlias.commit()
			}
			p.Properties = packet.Properties{}
		}
		p.Topic, p.Payload = "", nil
		if err == nil {
			cl.sent[p.QoS]++
		}
	} else {
		ob.Ack(&sc.ack)
		out, err = sc.ack.Append(out, c.version)
	}
	if err != nil {
		c.srv.stats.dropped.Add(1)
		c.srv.log.Error("encoding", "client", cl.id, "packet", ob.Kind, "err", err)
	}
	return out
}
