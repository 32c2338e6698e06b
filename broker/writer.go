package broker

import (
	"sync"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
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

// drive is kick for the reader: it drains the session inline when no writer
// is running, which routes the reader's own publications without starting
// a goroutine and paces the reader to its routing.
func (c *conn) drive() {
	c.dirty.Store(true)
	if c.writing.CompareAndSwap(false, true) {
		c.writeLoop()
	}
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
		c.flush()
		c.writing.Store(false)
		c.signalFlushed()
		if !c.dirty.Load() || c.closed.Load() || !c.writing.CompareAndSwap(false, true) {
			return
		}
	}
}

// maxInboundBacklog bounds the PUBLISH packets a reader accepts while a
// writer goroutine (blocked on a client that does not read) has not
// drained them.
const maxInboundBacklog = 256

// signalFlushed wakes a reader waiting in pace.
func (c *conn) signalFlushed() {
	c.mu.Lock()
	if c.waiters > 0 {
		c.flushed.Broadcast()
	}
	c.mu.Unlock()
}

// pace makes the reader wait for the writer when the messages it accepted
// are not being drained: the backpressure of a client's own socket reaches
// its publishing, and nothing grows without bound.
func (c *conn) pace() {
	cl := c.cl
	cl.mu.Lock()
	cl.inbound++
	over := cl.inbound > maxInboundBacklog
	cl.mu.Unlock()
	if !over {
		return
	}
	c.mu.Lock()
	for c.writing.Load() && !c.closed.Load() {
		c.waiters++
		c.flushed.Wait()
		c.waiters--
	}
	c.mu.Unlock()
	c.drive()
}

// flush drains the client session once: persist, encode every packet into
// one buffer, take the messages to deliver, Advance; then, outside the
// session lock, one Write, and the routing of the delivered messages.
func (c *conn) flush() {
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
	out, deliver = c.take(cl, out, deliver)
	if len(out) > 0 {
		c.wmu.Lock()
		_, err := c.nc.Write(out)
		c.wmu.Unlock()
		if err != nil {
			c.close(err)
		}
	}
	if cap(out) <= maxPooledOut {
		*bp = out[:0]
		outBufPool.Put(bp)
	}
	for i, m := range deliver {
		c.srv.route(m, cl)
		deliver[i] = nil
	}
	c.deliver = deliver[:0]
}

// take appends the queued control packets and, when c is still the
// client's connection, drains the session, under the client's lock (so
// that CONNACK and SUBACK precede the packets the session produced after
// them).
func (c *conn) take(cl *client, out []byte, deliver []*session.Message) ([]byte, []*session.Message) {
	if cl != nil {
		cl.mu.Lock()
		defer cl.mu.Unlock()
	}
	c.mu.Lock()
	out = append(out, c.ctl...)
	c.ctl = nil
	c.mu.Unlock()
	if cl != nil && cl.conn == c {
		out, deliver = c.drain(cl, out, deliver)
	}
	return out, deliver
}

// drain takes everything the session has ready. cl.mu is held.
func (c *conn) drain(cl *client, out []byte, deliver []*session.Message) ([]byte, []*session.Message) {
	cl.qos0Pending, cl.qos0Bytes, cl.inbound = 0, 0, 0
	for cl.sess.HasReady() {
		rd := cl.sess.Ready()
		c.srv.persist(cl, &rd) // persist, then send, then deliver
		if rd.Gen == c.gen {
			sc := getScratch()
			for i := range rd.Packets {
				out = c.encode(cl, out, &rd.Packets[i], sc)
			}
			putScratch(sc)
		}
		deliver = append(deliver, rd.Deliver...)
		cl.sess.Advance()
	}
	return out, deliver
}

// encode appends one outbound packet of the session, with the reused
// packet values: no allocation.
func (c *conn) encode(cl *client, out []byte, ob *session.Outbound, sc *scratch) []byte {
	var err error
	if ob.Kind == packet.PUBLISH {
		p := &sc.pub
		ob.Publish(p)
		if c.version != packet.V5 {
			p.Properties = packet.Properties{} // MQTT 3 has no properties
		} else {
			// Topic aliases are per connection: never forwarded.
			p.Properties.Clear(packet.PropTopicAlias)
			p.Properties.TopicAlias = 0
		}
		out, err = p.Append(out, c.version)
		if err == nil {
			c.srv.stats.sent.Add(1)
		}
		p.Properties = packet.Properties{}
		p.Payload = nil
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
