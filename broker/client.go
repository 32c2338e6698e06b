package broker

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
)

// client is a client session: the design's logical client process. It
// outlives its connections; it is not a goroutine, so an offline client
// costs memory only. mu guards every field but srv and id.
type client struct {
	srv *Server
	id  string

	mu      sync.Mutex
	sess    *session.Session
	version packet.Version
	gen     uint64
	conn    *conn // the connection of generation gen, nil while offline
	subs    map[string]subscription
	will    *will  // the will of the current connection
	expiry  uint32 // session expiry interval, seconds; store.NeverExpire: never
	removed bool   // the session ended; a new CONNECT creates a new client

	// QoS 0 deliveries handed to sess since the writer last drained it: the
	// bound of a connected slow consumer's QoS 0 backlog.
	qos0Pending, qos0Bytes int

	// The deliveries routed to the client that its connection's writer
	// has not taken yet; open while a connection is attached. Its own
	// lock: publishers append without cl.mu.
	inbox inbox

	// PUBLISH packets encoded by QoS, not yet added to the counters.
	sent [3]int64

	// Messages the session accepted from its client that a drain off the
	// client's reader took (its writer's, or a durable delivery's): the
	// reader routes them, before those of its own next drain, so that a
	// publisher's messages are routed in their order by one goroutine.
	later []*session.Message

	offlineAt   time.Time
	pendingWill *will       // a will waiting for its delay after the connection ended
	timer       *time.Timer // will delay and session expiry, while offline
	timerGen    uint64
}

// will is a will message and its v5 Will Delay Interval in seconds.
type will struct {
	msg   *session.Message
	delay uint32
}

// subscription is one subscription's options, the value in the trie.
type subscription struct {
	qos     packet.QoS
	noLocal bool
	rap     bool // Retain As Published
	rh      byte // Retain Handling
	subIDs  []uint32
	acl     *subACL // its authorization, checked again when the ACL changes (aclcheck.go)
}

func (s *Server) newSession(v packet.Version) *session.Session {
	return session.New(s.sessionConfig(v))
}

func (s *Server) sessionConfig(v packet.Version) session.Config {
	cfg := session.Config{
		Role:           session.Server,
		Version:        v,
		ReceiveMaximum: uint16(s.cfg.ReceiveMaximum),
		SendWindow:     uint16(s.cfg.SendWindow),
		MaxQueued:      s.cfg.MaxQueued,
		MaxQueuedBytes: s.cfg.MaxQueuedBytes,
		QueueQoS0:      s.cfg.QueueQoS0,
	}
	if v != packet.V5 && s.cfg.RetryInterval > 0 {
		cfg.Retry = session.Retry{Initial: s.cfg.RetryInterval, Max: s.cfg.RetryMax}
	}
	return cfg
}

// capExpiry applies MaxSessionExpiry to a requested expiry interval.
func (s *Server) capExpiry(secs uint32) uint32 {
	if m := s.cfg.MaxSessionExpiry; m > 0 {
		return uint32(min(int64(secs), int64(m/time.Second)))
	}
	return secs
}

// persistentExpiry is the expiry interval of a 3.1/3.1.1 persistent
// session: PersistentClientExpiration in whole seconds rounded up (never
// when unset), capped by MaxSessionExpiry.
func (s *Server) persistentExpiry() uint32 {
	secs := store.NeverExpire
	if d := s.cfg.PersistentClientExpiration; d > 0 {
		secs = uint32(min((d+time.Second-1)/time.Second, time.Duration(store.NeverExpire-1)))
	}
	return s.capExpiry(secs)
}

// connect handles an accepted CONNECT packet: checks the client identifier,
// attaches the client session (taking it over from another connection if
// needed) and queues CONNACK. A non-nil error closes the connection.
func (s *Server) connect(c *conn, p *packet.Connect) error {
	now := time.Now()
	v5 := p.Version == packet.V5
	c.version = p.Version
	refuse := func(code311, code5 packet.ReasonCode, why string) error {
		code := code311
		if v5 {
			code = code5
		}
		ack := &packet.Connack{ReasonCode: code}
		withReason(&ack.Properties, ack, problemInfo(p), why, int(p.Properties.MaximumPacketSize))
		c.writeDirect(ack, p.Version)
		return fmt.Errorf("CONNECT refused (%s): %s", connackText(code, v5), why)
	}
	if err := s.redirect(c, p); err != nil {
		return err
	}
	c.problemInfo = problemInfo(p)
	id := p.ClientID
	assigned := false
	switch {
	case p.Version == packet.V31 && (len(id) == 0 || len(id) > 23):
		return refuse(packet.ConnRefusedIdentifierRejected, 0, "a 3.1 client identifier has 1 to 23 characters")
	case id == "" && !v5 && !p.CleanStart: // [MQTT-3.1.3-8]
		return refuse(packet.ConnRefusedIdentifierRejected, 0, "empty client identifier without clean session")
	case id == "": // [MQTT-3.1.3-6] [MQTT5-3.1.3-6]
		var b [12]byte
		rand.Read(b[:])
		id = "tern-" + hex.EncodeToString(b[:])
		assigned = true
	}
	if p.WillFlag {
		if err := validName(p.WillTopic); err != nil {
			return refuse(0, packet.TopicNameInvalid, err.Error())
		}
		if c5, c3, why := s.checkWill(p); why != "" {
			return refuse(c3, c5, why)
		}
	}
	var peer session.Peer
	peer.Version = p.Version
	expiry := uint32(0)
	if v5 {
		pr := &p.Properties
		if pr.Has(packet.PropAuthMethod) {
			code, why, err := s.enhancedAuth(c, p, id)
			if err != nil {
				return err
			}
			if code != 0 {
				return refuse(0, code, why)
			}
		}
		if pr.Has(packet.PropReceiveMaximum) {
			if pr.ReceiveMaximum == 0 { // [MQTT5-3.1.2-...] Receive Maximum 0 is a protocol error
				return refuse(0, packet.ProtocolError, "Receive Maximum 0")
			}
			peer.ReceiveMaximum = pr.ReceiveMaximum
		}
		if pr.Has(packet.PropMaximumPacketSize) {
			if pr.MaximumPacketSize == 0 {
				return refuse(0, packet.ProtocolError, "Maximum Packet Size 0")
			}
			peer.MaximumPacketSize = pr.MaximumPacketSize
		}
		expiry = s.capExpiry(pr.SessionExpiry)
	} else if !p.CleanStart {
		expiry = s.persistentExpiry()
	}

	if c.enh != nil { // authenticated by the AUTH exchange
		if err := s.checkClientID(c, p); err != nil {
			return err
		}
		if p.WillFlag && !s.allow(c, auth.Publish, p.WillTopic) {
			return refuse(0, packet.NotAuthorized, "will topic not authorized")
		}
	} else if err := s.authenticate(c, p, id); err != nil {
		return err
	}

	// Keep alive [MQTT-3.1.2-24] [MQTT5-3.1.2-22]: the read deadline before
	// every blocking read is one and a half times the interval.
	if ka := s.keepAlive(p); ka > 0 {
		c.rd.timeout = time.Duration(ka) * 1500 * time.Millisecond
	}
	c.nc.SetReadDeadline(time.Time{})

	var w *will
	if p.WillFlag { // [MQTT-3.1.2-8] [MQTT5-3.1.2-7]
		w = &will{msg: &session.Message{ID: s.messageID(), Topic: p.WillTopic, Payload: p.WillPayload, QoS: p.WillQoS, Retain: p.WillRetain}}
		if v5 {
			wp := p.WillProperties
			w.delay = wp.WillDelay
			wp.Clear(packet.PropWillDelay)
			wp.WillDelay = 0
			if !wp.Empty() {
				w.msg.Properties = &wp
				if wp.Has(packet.PropMessageExpiry) {
					w.msg.Expires = now.Add(time.Duration(wp.MessageExpiry) * time.Second)
				}
			}
		}
	}

	var cl *client
	fresh := false
	for {
		s.mu.Lock()
		cl = s.clients[id]
		if cl == nil {
			cl = &client{srv: s, id: id, version: p.Version}
			s.clients[id] = cl
			fresh = true
		}
		s.mu.Unlock()
		cl.mu.Lock()
		if !cl.removed {
			break
		}
		cl.mu.Unlock()
	}
	// The attachment runs under cl.mu, released by defer even if session
	// code panics.
	a := attachment{fresh: fresh, assigned: assigned, expiry: expiry, will: w, peer: peer, now: now}
	err := func() error {
		defer cl.mu.Unlock()
		return s.attachLocked(c, cl, p, &a)
	}()
	if err != nil {
		return err
	}
	old, present, rec, publish := a.old, a.present, a.rec, a.publish

	s.stats.connected.Add(1)
	if s.store != nil && expiry > 0 {
		if err := s.store.SaveSession(s.ctx, rec); err != nil {
			s.log.Error("saving session", "client", id, "err", err)
		}
	}
	// Attributes, not arguments: nothing is boxed, nothing built below info.
	s.log.LogAttrs(s.ctx, slog.LevelInfo, "client connected", slog.String("client", id), slog.String("remote", c.remote),
		slog.String("version", p.Version.String()), slog.Bool("clean", p.CleanStart), slog.Int("keepalive", int(p.KeepAlive)),
		slog.Bool("session_present", present), slog.Bool("takeover", old != nil))
	if old != nil {
		old.pipe.barrier(c, a.barrier)
		old.disconnectWith(errTakenOver)
	}
	c.kick()
	for _, m := range publish {
		s.route(m, cl)
	}
	s.flushHandoffs() // of a session discarded by Clean Start
	return nil
}

// attachment holds the inputs and the results of attachLocked.
type attachment struct {
	fresh, assigned bool
	expiry          uint32
	will            *will
	peer            session.Peer
	now             time.Time

	old     *conn               // the connection taken over, if any
	barrier uint64              // c's hold released by old's pipeline
	present bool                // Session Present
	rec     store.SessionRecord // to save
	publish []*session.Message  // wills to publish
}

// attachLocked attaches c to cl (cl.mu held): takeover, clean start, will,
// session present, CONNACK queued before any session packet.
func (s *Server) attachLocked(c *conn, cl *client, p *packet.Connect, a *attachment) error {
	v5 := p.Version == packet.V5
	id, now, fresh := cl.id, a.now, a.fresh
	a.old = cl.conn
	old0 := a.old
	gen := s.gen.Add(1)
	cl.stopTimerLocked()
	// The session of a connection taken over ends with it when its expiry
	// is 0 (Clean Session 1) [MQTT-3.1.2-6] [MQTT5-4.1.0-2].
	ended := old0 != nil && cl.expiry == 0
	if old0 != nil { // [MQTT-3.1.4-2] [MQTT5-3.1.4-3] take the session over
		cl.conn = nil
		cl.sess.Disconnected(now, old0.gen)
		// Deliveries routed to the old connection go to the session, in
		// order: queued for the new one, or dropped and counted.
		s.toSession(cl, cl.inbox.close(), now, false)
		if ow := cl.will; ow != nil && (ow.delay == 0 || p.CleanStart || ended) {
			a.publish = append(a.publish, ow.msg) // the old connection ended abnormally
		}
		cl.will = nil
	}
	if pw := cl.pendingWill; pw != nil {
		if p.CleanStart { // the old session ends now [MQTT5-3.1.3-9]
			a.publish = append(a.publish, pw.msg)
		}
		cl.pendingWill = nil // else reconnected within the delay: not sent
	}
	a.present = !fresh && cl.sess != nil
	if p.CleanStart || ended || cl.sess == nil || cl.version != p.Version {
		// [MQTT-3.1.2-6] [MQTT5-3.1.2-4] discard any existing session.
		s.clearSubsLocked(cl)
		cl.sess = s.newSession(p.Version)
		a.present = false
		if s.store != nil && !fresh {
			s.store.DeleteSession(s.ctx, id)
		}
	}
	cl.version = p.Version
	cl.gen, c.gen, c.cl = gen, gen, cl
	s.rebindSubsLocked(cl, c) // the subscriptions of a resumed session
	c.maxOut = int(a.peer.MaximumPacketSize)
	if v5 {
		c.outAlias.max = min(p.Properties.TopicAliasMaximum, s.topicAliasMax())
	}
	cl.expiry = a.expiry
	cl.will = a.will
	cl.qos0Pending, cl.qos0Bytes = 0, 0
	cl.offlineAt = time.Time{}

	// [MQTT-3.2.2-1] [MQTT-3.2.2-2] [MQTT-3.2.2-3] [MQTT5-3.2.2-2] [MQTT5-3.2.2-3]
	ack := &packet.Connack{SessionPresent: a.present}
	if v5 {
		pr := &ack.Properties
		if s.cfg.ReceiveMaximum != 65535 {
			pr.ReceiveMaximum = uint16(s.cfg.ReceiveMaximum)
			pr.Set(packet.PropReceiveMaximum)
		}
		pr.MaximumPacketSize = uint32(s.cfg.MaxPacketSize)
		pr.Set(packet.PropMaximumPacketSize)
		s.connackCaps(pr, &p.Properties)
		if c.enh != nil { // [MQTT5-4.12.0-5]
			pr.AuthMethod, pr.AuthData = c.enh.method, c.enh.data
			pr.Set(packet.PropAuthMethod)
			pr.Set(packet.PropAuthData)
		}
		if m := s.topicAliasMax(); m > 0 {
			pr.TopicAliasMaximum = m
			pr.Set(packet.PropTopicAliasMaximum)
		}
		if a.assigned { // [MQTT5-3.2.2-16]
			pr.AssignedClientID = id
			pr.Set(packet.PropAssignedClientID)
		}
		if p.Properties.SessionExpiry != a.expiry {
			pr.SessionExpiry = a.expiry
			pr.Set(packet.PropSessionExpiry)
		}
	}
	if err := c.appendCtl(ack); err != nil {
		return fmt.Errorf("encoding CONNACK: %w", err)
	}
	cl.sess.Connected(now, gen, a.peer)
	c.attached.Store(true)
	if old0 != nil {
		// Nothing goes out on c before the commits still in flight for
		// the connection taken over are durable (see barrier).
		c.mu.Lock()
		a.barrier = c.hq.take(0)
		c.mu.Unlock()
	}
	cl.conn = c
	cl.inbox.openFor(c)
	a.rec = s.recordLocked(cl)
	return nil
}

func connackText(code packet.ReasonCode, v5 bool) string {
	if v5 {
		return code.String()
	}
	return packet.ConnackString311(code)
}

// detach ends c's attachment to its client session when the connection
// ends: the will is published (or its delay starts), and the session ends
// or waits for its expiry.
func (cl *client) detach(c *conn, reason error) {
	s := cl.srv
	d, ok := cl.detachLocked(c, s.isClosing())
	if !ok {
		return
	}
	if d.ended {
		s.removeClient(cl)
	} else if s.store != nil {
		if err := s.store.SaveSession(s.ctx, d.rec); err != nil {
			s.log.Error("saving session", "client", cl.id, "err", err)
		}
	}
	for _, m := range d.deliver {
		s.route(m, cl)
	}
	if d.publish != nil {
		s.route(d.publish, cl)
	}
}

// detachment is what detachLocked leaves to do outside the lock.
type detachment struct {
	deliver []*session.Message // accepted from the client, not yet routed
	publish *session.Message   // the will, now
	ended   bool               // the session ended
	rec     store.SessionRecord
}

// detachLocked detaches c under cl.mu; ok is false if c was taken over.
func (cl *client) detachLocked(c *conn, closing bool) (d detachment, ok bool) {
	s := cl.srv
	now := time.Now()
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.conn != c { // taken over: the new connection owns the session
		return d, false
	}
	// Route what the session accepted before the connection ended.
	d.deliver = append(cl.takeLater(nil), c.drainDeliveries(cl)...)
	cl.conn = nil
	cl.sess.Disconnected(now, c.gen)
	// Deliveries routed to the connection and not taken by its writer go
	// to the offline session, which queues or drops (and counts) them.
	s.toSession(cl, cl.inbox.close(), now, false)
	s.drainOffline(cl)
	cl.offlineAt = now
	if w := cl.will; w != nil && !closing {
		// [MQTT-3.1.2-8] [MQTT5-3.1.2-8] the connection ended without a
		// normal DISCONNECT; a v5 will waits for its delay, or the end of
		// the session if that comes first [MQTT5-3.1.3-9].
		if w.delay == 0 || cl.expiry == 0 {
			d.publish = w.msg
		} else {
			cl.pendingWill = w
		}
	}
	cl.will = nil
	d.ended = cl.expiry == 0
	if d.ended {
		cl.removed = true
		s.clearSubsLocked(cl)
	} else if !closing {
		cl.armTimerLocked(now)
	}
	d.rec = s.recordLocked(cl)
	return d, true
}

// handOff keeps the messages of deliver, taken by a drain off the
// client's reader, for the reader to route, and returns deliver emptied.
// cl.mu is held.
func (cl *client) handOff(deliver []*session.Message) []*session.Message {
	if len(deliver) > 0 {
		cl.later = append(cl.later, deliver...)
		clear(deliver)
	}
	return deliver[:0]
}

// takeLater appends the messages kept by handOff to deliver, in their
// order, and forgets them. cl.mu is held.
func (cl *client) takeLater(deliver []*session.Message) []*session.Message {
	if len(cl.later) == 0 {
		return deliver
	}
	deliver = append(deliver, cl.later...)
	clear(cl.later)
	cl.later = cl.later[:0]
	return deliver
}

// drainDeliveries takes the messages the session accepted but no writer
// routed yet, discarding its packets (the connection is gone). cl.mu is held.
func (c *conn) drainDeliveries(cl *client) []*session.Message {
	var deliver []*session.Message
	for cl.sess.HasReady() {
		rd := cl.sess.Ready()
		c.srv.persist(cl, &rd, nil)
		deliver = append(deliver, rd.Deliver...)
		cl.sess.Advance()
	}
	return deliver
}

// armTimerLocked starts the timer for the pending will or the session
// expiry, whichever comes first.
func (cl *client) armTimerLocked(now time.Time) {
	var due time.Time
	if cl.expiry != store.NeverExpire {
		due = cl.offlineAt.Add(time.Duration(cl.expiry) * time.Second)
	}
	if w := cl.pendingWill; w != nil {
		wd := cl.offlineAt.Add(time.Duration(w.delay) * time.Second)
		if due.IsZero() || wd.Before(due) {
			due = wd
		}
	}
	if due.IsZero() {
		return
	}
	cl.timerGen++
	tg := cl.timerGen
	cl.timer = time.AfterFunc(max(due.Sub(now), 0), func() { cl.onTimer(tg) })
}

func (cl *client) stopTimerLocked() {
	if cl.timer != nil {
		cl.timer.Stop()
		cl.timer = nil
	}
	cl.timerGen++
}

func (cl *client) stopTimers() {
	cl.mu.Lock()
	cl.stopTimerLocked()
	cl.mu.Unlock()
}

// onTimer publishes a will whose delay has passed and ends an expired
// session [MQTT5-3.1.2-23].
func (cl *client) onTimer(tg uint64) {
	s := cl.srv
	publish, ended := cl.timerLocked(tg)
	if ended {
		s.removeClient(cl)
		s.log.Debug("session expired", "client", cl.id)
	}
	if publish != nil && !s.isClosing() {
		s.route(publish, cl)
	}
}

func (cl *client) timerLocked(tg uint64) (publish *session.Message, ended bool) {
	now := time.Now()
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if tg != cl.timerGen || cl.conn != nil || cl.removed {
		return nil, false
	}
	cl.timer = nil
	ended = cl.expiry != store.NeverExpire && !now.Before(cl.offlineAt.Add(time.Duration(cl.expiry)*time.Second))
	if w := cl.pendingWill; w != nil && (ended || !now.Before(cl.offlineAt.Add(time.Duration(w.delay)*time.Second))) {
		publish = w.msg
		cl.pendingWill = nil
	}
	if ended {
		cl.removed = true
		cl.srv.clearSubsLocked(cl)
	} else {
		cl.armTimerLocked(now)
	}
	return publish, ended
}

// removeClient forgets an ended session.
func (s *Server) removeClient(cl *client) {
	s.mu.Lock()
	if s.clients[cl.id] == cl {
		delete(s.clients, cl.id)
	}
	s.mu.Unlock()
	s.flushHandoffs()
	if s.store != nil {
		if err := s.store.DeleteSession(s.ctx, cl.id); err != nil {
			s.log.Error("deleting session", "client", cl.id, "err", err)
		}
	}
}

// clearSubsLocked removes every subscription of cl.
func (s *Server) clearSubsLocked(cl *client) {
	s.handOverLocked(cl)
	for f := range cl.subs {
		s.removeSub(f, cl)
	}
	cl.subs = nil
}

// recordLocked returns the store record of cl.
func (s *Server) recordLocked(cl *client) store.SessionRecord {
	if s.store == nil {
		return store.SessionRecord{}
	}
	rec := store.SessionRecord{ClientID: cl.id, Version: cl.version, ExpiryInterval: cl.expiry, DisconnectedAt: cl.offlineAt}
	for f, o := range cl.subs {
		sub := store.Subscription{Filter: f, Options: packet.SubOptions{QoS: o.qos, NoLocal: o.noLocal,
			RetainAsPublished: o.rap, RetainHandling: o.rh}}
		if len(o.subIDs) > 0 {
			sub.SubID = o.subIDs[0]
		}
		rec.Subscriptions = append(rec.Subscriptions, sub)
	}
	if w := cl.pendingWill; w != nil {
		rec.Will = &store.Will{Topic: w.msg.Topic, Payload: w.msg.Payload, QoS: w.msg.QoS, Retain: w.msg.Retain,
			Properties: w.msg.Properties, Delay: w.delay}
	}
	return rec
}
