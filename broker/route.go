package broker

import (
	"errors"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/topic"
)

// validName checks a PUBLISH or will topic name; the error carries reason
// code 0x90 (Topic Name invalid).
func validName(name string) error {
	if err := topic.ValidName(name); err != nil {
		return &packet.Error{Code: packet.TopicNameInvalid, Reason: err.Error()}
	}
	return nil
}

// subscribe handles SUBSCRIBE: one SUBACK code per filter, then the
// retained messages matching the new subscriptions.
func (s *Server) subscribe(c *conn, p *packet.Subscribe) error {
	cl := c.cl
	v5 := c.version == packet.V5
	if err := s.checkSubscribe(c, p); err != nil {
		return err
	}
	codes := make([]packet.ReasonCode, len(p.Subscriptions))
	var subIDs []uint32
	if v5 && len(p.Properties.SubscriptionIDs) > 0 {
		if p.Properties.SubscriptionIDs[0] == 0 { // a protocol error (section 3.8.2.1.2)
			return protocolError("subscription identifier 0")
		}
		subIDs = p.Properties.SubscriptionIDs[:1:1]
	}
	type retainReq struct {
		filter string
		sub    subscription
	}
	var sends []retainReq
	now := time.Now()
	var hold *fanout
	rec, err := func() (store.SessionRecord, error) {
		cl.mu.Lock()
		defer cl.mu.Unlock()
		for i, sp := range p.Subscriptions {
			f := sp.Filter
			fail := packet.SubackFailure311 // [MQTT-3.9.3-2]
			if v5 {
				fail = packet.TopicFilterInvalid
			}
			if code, ok := s.subscribeCaps(c, f, &sp.Options); !ok {
				codes[i] = code
				continue
			}
			if isShared(f) {
				code, err := s.subscribeShared(c, f, sp.Options, subIDs)
				if err != nil {
					return store.SessionRecord{}, err
				}
				codes[i] = code
				continue
			}
			if topic.ValidFilter(f) != nil {
				codes[i] = fail
				continue
			}
			if !s.allow(c, auth.Subscribe, f) { // [MQTT-3.9.3-2] [MQTT5-3.9.3-2]
				codes[i] = deniedCode(c.version)
				continue
			}
			o := sp.Options
			sub := subscription{qos: o.QoS, noLocal: o.NoLocal, rap: o.RetainAsPublished, rh: o.RetainHandling, subIDs: subIDs,
				acl: s.newSubACL(c)}
			_, existed := cl.subs[f]
			if cl.subs == nil {
				cl.subs = make(map[string]subscription)
			}
			cl.subs[f] = sub
			s.addSub(f, cl, sub)                // [MQTT-3.8.4-3] [MQTT5-3.8.4-3] replaces an identical filter
			codes[i] = packet.ReasonCode(o.QoS) // [MQTT-3.9.3-1] granted QoS
			// [MQTT5-3.3.1-9] [MQTT5-3.3.1-10] Retain Handling 0, or 1 for a new subscription.
			if !v5 || o.RetainHandling == 0 || (o.RetainHandling == 1 && !existed) {
				sends = append(sends, retainReq{f, sub})
			}
		}
		// A persistent session's SUBACK waits behind a hold until its
		// record is saved. SUBACK goes before the retained messages
		// [MQTT-3.8.4-4].
		if s.store != nil && cl.expiry > 0 {
			hold = getFanout()
			c.mu.Lock()
			hold.hold(c)
			c.mu.Unlock()
		}
		err := c.appendCtl(&packet.Suback{PacketID: p.PacketID, ReasonCodes: codes})
		for _, r := range sends {
			s.retained.MatchRetained(s.ctx, r.filter, func(m *session.Message) bool {
				// [MQTT-3.3.1-8] retain flag set on delivery
				// because of a new subscription.
				d := session.Delivery{Msg: m, QoS: min(m.QoS, r.sub.qos), Retain: true, SubIDs: r.sub.subIDs}
				cl.sess.Send(now, d)
				return true
			})
		}
		return s.recordLocked(cl), err
	}()
	if hold != nil {
		var serr error
		if err == nil {
			serr = s.store.SaveSession(s.ctx, rec)
		}
		// Released, or the connection closed: no SUBACK without its record.
		if serr = hold.finish(s, serr); serr != nil {
			return serr
		}
	}
	if err != nil {
		return err
	}
	c.kick()
	return nil
}

// unsubscribe handles UNSUBSCRIBE.
func (s *Server) unsubscribe(c *conn, p *packet.Unsubscribe) error {
	cl := c.cl
	v5 := c.version == packet.V5
	ack := &packet.Unsuback{PacketID: p.PacketID}
	if v5 {
		ack.ReasonCodes = make([]packet.ReasonCode, len(p.Filters))
	}
	rec, err := func() (store.SessionRecord, error) {
		cl.mu.Lock()
		defer cl.mu.Unlock()
		for i, f := range p.Filters {
			code := packet.Success
			if _, ok := cl.subs[f]; ok {
				delete(cl.subs, f)
				s.removeSub(f, cl)
			} else if topic.ValidFilter(f) != nil {
				code = packet.TopicFilterInvalid
			} else {
				code = packet.NoSubscriptionExisted
			}
			if v5 {
				ack.ReasonCodes[i] = code
			}
		}
		err := c.appendCtl(ack) // [MQTT-3.10.4-4]
		return s.recordLocked(cl), err
	}()
	if err != nil {
		return err
	}
	if s.store != nil && rec.ExpiryInterval > 0 {
		s.store.SaveSession(s.ctx, rec)
	}
	c.kick()
	return nil
}

// target is one client a message goes to, its overlapping matching
// subscriptions merged.
type target struct {
	cl     *client
	qos    packet.QoS
	rap    bool
	subIDs []uint32
	merged bool // subIDs was built by merging and is owned by this target
}

// router holds the scratch space of one routing; routers are pooled so that
// routing a message allocates nothing.
type router struct {
	from    *client
	targets []target
	index   map[*client]int
	add     func(filter string, cl *client, sub subscription)
	count   int
	counter func(filter string, cl *client, sub subscription)

	groups   []*shareGroup // matching shared subscriptions
	addGroup func(filter string, g *shareGroup, _ struct{})

	srv      *Server
	aclGen   uint64 // the generation of the ACL, when checkACL
	checkACL bool
}

const linearTargets = 8 // up to this many targets, dedupe by scanning

var routerPool = sync.Pool{New: func() any {
	r := &router{index: make(map[*client]int)}
	r.add = r.match
	r.counter = func(string, *client, subscription) { r.count++ }
	r.addGroup = func(_ string, g *shareGroup, _ struct{}) { r.groups = append(r.groups, g) }
	return r
}}

// match is the trie callback: it merges overlapping subscriptions of one
// client into one target [MQTT-3.3.5-1] [MQTT5-3.3.4-2]: one copy, with the
// maximum QoS of the matching subscriptions and all their subscription
// identifiers [MQTT5-3.3.4-3].
func (r *router) match(filter string, cl *client, sub subscription) {
	if sub.noLocal && cl == r.from { // [MQTT5-3.8.3-3]
		return
	}
	if r.checkACL && sub.acl != nil && r.srv.denied(sub.acl, filter, r.aclGen) {
		return // no longer authorized since an ACL reload
	}
	i := -1
	if len(r.targets) <= linearTargets {
		for j := range r.targets {
			if r.targets[j].cl == cl {
				i = j
				break
			}
		}
	} else {
		if len(r.index) == 0 {
			for j := range r.targets {
				r.index[r.targets[j].cl] = j
			}
		}
		if j, ok := r.index[cl]; ok {
			i = j
		}
	}
	if i < 0 {
		r.targets = append(r.targets, target{cl: cl, qos: sub.qos, rap: sub.rap, subIDs: sub.subIDs})
		if len(r.targets) > linearTargets+1 {
			r.index[cl] = len(r.targets) - 1
		}
		return
	}
	t := &r.targets[i]
	t.qos = max(t.qos, sub.qos)
	t.rap = t.rap || sub.rap
	if len(sub.subIDs) > 0 {
		ids := make([]uint32, 0, len(t.subIDs)+len(sub.subIDs))
		t.subIDs = append(append(ids, t.subIDs...), sub.subIDs...)
		t.merged = true
	}
}

func (r *router) reset() {
	clear(r.targets)
	r.targets = r.targets[:0]
	if len(r.index) > 0 {
		clear(r.index)
	}
	r.from = nil
	r.count = 0
}

// hasSubscribers reports whether any subscription matches name.
func (s *Server) hasSubscribers(name string) bool {
	r := routerPool.Get().(*router)
	s.subs.Match(name, r.counter)
	s.shared.trie.Match(name, r.addGroup)
	n := r.count + len(r.groups)
	clear(r.groups)
	r.groups = r.groups[:0]
	r.reset()
	routerPool.Put(r)
	return n > 0
}

// route delivers a message accepted from a client (or a will) to every
// matching subscription, and updates the retained message of its topic.
func (s *Server) route(m *session.Message, from *client) {
	s.routeAt(m, from, time.Now(), nil)
}

// routeAt is route with the current time. With a fan-out batch b (durable
// QoS 1 and 2 publishing), the subscribers' changes and packets are
// collected in b instead of being persisted and queued one by one.
func (s *Server) routeAt(m *session.Message, from *client, now time.Time, b *fanout) {
	if m.Retain { // [MQTT-3.3.1-5] [MQTT5-3.3.1-5]
		// An empty payload removes the retained message [MQTT-3.3.1-10]
		// [MQTT-3.3.1-11]; the store implements both.
		if err := s.retained.SetRetained(s.ctx, m); err != nil && !errors.Is(err, s.ctx.Err()) {
			s.log.Error("retaining message", "topic", m.Topic, "err", err)
		}
	}
	r := routerPool.Get().(*router)
	r.from = from
	r.srv = s
	r.aclGen, r.checkACL = s.aclGeneration()
	s.subs.Match(m.Topic, r.add)
	s.matchShared(m.Topic, r)
	for i := range r.targets {
		s.deliver(&r.targets[i], m, now, b)
	}
	r.reset()
	routerPool.Put(r)
}

// deliver hands m to one subscriber and wakes its writer. A connected
// subscriber's delivery is appended to its inbox, under a lock held for
// the append alone; the others (offline sessions, a full inbox, durable
// QoS 1 and 2 publishing) go through the session under the subscriber's
// lock, briefly. A slow consumer never blocks the publisher.
func (s *Server) deliver(t *target, m *session.Message, now time.Time, b *fanout) {
	cl := t.cl
	qos := min(m.QoS, t.qos) // [MQTT-3.8.4-6] [MQTT5-3.8.4-8] downgrade to the granted QoS
	// [MQTT-3.3.1-9] retain 0 for an established subscription; MQTT 5
	// Retain As Published keeps it [MQTT5-3.3.1-13].
	retain := t.rap && m.Retain
	d := session.Delivery{Msg: m, QoS: qos, Retain: retain, SubIDs: t.subIDs}
	if b == nil && (s.store == nil || m.QoS == 0) {
		// Durable QoS 1 and 2 deliveries are persisted before the
		// publisher is acknowledged: never through the inbox.
		var since time.Time
		for {
			c, res := cl.inbox.push(d, s.cfg.MaxQueued, s.cfg.MaxQueuedBytes)
			if res == pushed {
				return
			}
			if res == pushedFirst {
				c.kick()
				return
			}
			if res == pushClosed || qos > 0 {
				break // through the session, whose queue has its own bounds
			}
			if !cl.inbox.waitForWriter(c, &since) {
				s.droppedSlow(cl, m)
				return
			}
		}
	}
	var since time.Time
	for {
		c, ok := s.send(cl, d, now, b)
		if ok {
			if c != nil {
				c.kick()
			}
			return
		}
		if !cl.inbox.waitForWriter(c, &since) {
			break
		}
	}
	s.droppedSlow(cl, m)
}

// Bounds of waitForWriter.
const (
	maxWriterWait = 20 * time.Millisecond // the longest a publisher yields to a subscriber's writer
	slowWrite     = 10 * time.Millisecond // a Write blocked longer: the subscriber does not read fast enough
	writerPause   = 50 * time.Microsecond
)

// waitForWriter is called when a QoS 0 delivery does not fit the backlog
// of c, a connected subscriber, ib its inbox. If c's writer has been
// blocked writing for more than slowWrite (the subscriber does not read
// fast enough: a slow network or client), it returns false at once: the
// delivery is dropped and counted. Otherwise the writer only waits for a
// processor, and a busy publisher must not starve it into drops:
// waitForWriter yields to it and returns true to try again, for at most
// maxWriterWait from *since (set on the first call). The publisher is then
// held back as the subscriber's reading allows, and spends no processor
// time on messages to drop. Once a wait ran out, the inbox is marked
// stuck and publishers drop at once until the writer takes a batch: a
// writer that does not progress delays each publisher by one wait only.
func (ib *inbox) waitForWriter(c *conn, since *time.Time) bool {
	if ib.stuck.Load() || c.closed.Load() {
		return false
	}
	now := time.Now()
	if ws := c.writeSince.Load(); ws != 0 && now.UnixNano()-ws > int64(slowWrite) {
		return false
	}
	if since.IsZero() {
		*since = now
		runtime.Gosched() // the writer may only need to be scheduled
		return true
	}
	if now.Sub(*since) > maxWriterWait {
		ib.stuck.Store(true)
		return false
	}
	// Sleep rather than spin: the processor goes to the writer.
	time.Sleep(writerPause)
	return true
}

// droppedSlow counts a QoS 0 message dropped for a slow connected consumer.
func (s *Server) droppedSlow(cl *client, m *session.Message) {
	s.stats.droppedQoS0.Add(1)
	s.stats.dropped.Add(1)
	if s.log.Enabled(s.ctx, slog.LevelDebug) {
		s.log.Debug("dropped message", "client", cl.id, "topic", m.Topic, "qos", 0, "reason", "slow consumer")
	}
}

// send hands d to cl's session, after the deliveries waiting in its inbox
// (which keeps the order of every publisher's messages), and returns its
// connection to kick; ok is false (with the connection) when a QoS 0
// delivery does not fit the backlog of a connected consumer. Messages the
// session accepted from its client, taken by a drain here, are left to
// the client's reader to route (client.handOff).
func (s *Server) send(cl *client, d session.Delivery, now time.Time, b *fanout) (c *conn, ok bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.removed || cl.sess == nil {
		return nil, true
	}
	if cl.version != packet.V5 {
		d.Retain = false // Retain As Published is MQTT 5
	}
	c = cl.conn
	if c != nil {
		s.toSession(cl, cl.inbox.take(), now, true)
	}
	if d.QoS == 0 && c != nil {
		// Bound the QoS 0 backlog of a connected consumer that does not
		// read fast enough: drop and count.
		if cl.qos0Pending >= s.cfg.MaxQueued || cl.qos0Bytes+len(d.Msg.Payload) > s.cfg.MaxQueuedBytes {
			return c, false
		}
		cl.qos0Pending++
		cl.qos0Bytes += len(d.Msg.Payload)
	}
	cl.sess.Send(now, d)
	switch {
	case c == nil:
		// No writer drains an offline session: persist its queue changes
		// and count its drops here.
		s.drainOfflineTo(cl, b)
	case b != nil:
		// Drain here: b persists the changes; the packets take their place
		// in the control queue now, held back from the writer until then.
		cl.handOff(c.drainHeld(cl, b))
	case s.store != nil && d.Msg.QoS > 0:
		// Persist the delivery before the publisher is acknowledged: drain
		// the session here, its packets queued for its writer.
		c.mu.Lock()
		var out []byte
		if c.ctl != nil {
			out = *c.ctl
		}
		out, more := c.drain(cl, out, nil, false, nil)
		c.setCtl(out)
		cl.handOff(more)
		c.mu.Unlock()
	}
	return c, true
}

// drainOffline drains the Ready of an offline session; it has no packets
// to send. cl.mu is held.
func (s *Server) drainOffline(cl *client) { s.drainOfflineTo(cl, nil) }

// drainOfflineTo is drainOffline with the changes collected in b, if not
// nil.
func (s *Server) drainOfflineTo(cl *client, b *fanout) {
	for cl.sess.HasReady() {
		rd := cl.sess.Ready()
		s.persist(cl, &rd, b)
		cl.sess.Advance()
	}
}

// queues reports whether changes queue a delivery.
func queues(changes []session.Change) bool {
	for i := range changes {
		if changes[i].Kind == session.ChangeQueued {
			return true
		}
	}
	return false
}

// persist stores the session's changes when a store is configured, and
// counts the deliveries the session dropped. cl.mu is held.
func (s *Server) persist(cl *client, rd *session.Ready, b *fanout) {
	for i := range rd.Done {
		d := &rd.Done[i]
		if d.Drop == session.DropNone {
			continue
		}
		s.stats.dropped.Add(1)
		s.stats.obs.droppedBy[d.Drop].Add(1)
		if d.Drop == session.DropTooLarge {
			s.stats.droppedTooLarge.Add(1)
		}
		if s.log.Enabled(s.ctx, slog.LevelDebug) {
			s.log.Debug("dropped message", "client", cl.id, "topic", d.Delivery.Msg.Topic,
				"qos", d.Delivery.QoS, "reason", d.Drop.String())
		}
	}
	switch {
	case len(rd.Persist) == 0 || s.store == nil:
	case b != nil && !b.eager && !queues(rd.Persist):
		// Kept past Advance: copied.
		b.updates = append(b.updates, storeUpdate(cl.id, slices.Clone(rd.Persist)))
	case b != nil:
		// A queued delivery is ordered in the store at once, under the
		// session's lock: once the lock is released, another drain (an
		// acknowledgement, a reconnection) may move it into flight and
		// persist that, which must not reach the store before the
		// queueing. b's packets wait for it to be durable too.
		b.applyNow(s, storeUpdate(cl.id, rd.Persist))
	default:
		if err := s.store.Apply(s.ctx, storeUpdate(cl.id, rd.Persist)); err != nil {
			s.log.Error("persisting session state", "client", cl.id, "err", err)
		}
	}
}

func storeUpdate(id string, changes []session.Change) store.Update {
	return store.Update{ClientID: id, Changes: changes}
}
