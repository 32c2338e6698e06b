package client

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/topic"
)

// engine is the protocol core shared by Conn and Client: the session state
// machine, the subscriptions and the single goroutine that drains the
// session and writes to the current connection. Connections (links) come
// and go; the engine outlives them.
type engine struct {
	opts Options
	log  *slog.Logger
	// reconnects tells whether operations wait for a next connection
	// (Client) or fail when the connection ends (Conn).
	reconnects bool

	mu        sync.Mutex
	idle      sync.Cond // signalled when the drainer has no Ready outstanding
	sess      *session.Session
	scfg      session.Config
	gen       uint64
	link      *link
	up        chan struct{} // closed while a link is attached
	closed    bool
	closeErr  error
	draining  bool
	waiters   map[*session.Message]chan error
	stored    []chan error   // offline publications awaiting Options.Store
	ops       map[uint16]*op // SUBSCRIBE and UNSUBSCRIBE awaiting their ack
	queuedOps []*op          // waiting for a connection
	subs      map[string]*sub
	dflt      *sub       // Options.OnMessage
	acks      []*inbound // withheld acknowledgements of the current link, in order received
	extra     []byte     // encoded packets for the current link besides the session's
	finAfter  *link      // close this link once extra is written
	clientID  string     // assigned by the server if Options.ClientID is empty
	cid       atomic.Pointer[string]
	reqs      *requester

	kick chan struct{}
	quit chan struct{}
	wg   sync.WaitGroup

	handlerDrops atomic.Uint64
	storeErrors  atomic.Uint64
	base         session.Stats // counters of sessions replaced by resetSession
	// drainer scratch, owned by the drainer goroutine
	wbuf    []byte
	skip    []bool
	pub     packet.Publish
	ack     packet.Ack
	matched []*sub
	rdIns   []*inbound
	qos0    []*session.Message
}

func newEngine(opts Options, reconnects bool) *engine {
	e := &engine{
		opts:       opts,
		log:        opts.Logger,
		reconnects: reconnects,
		up:         make(chan struct{}),
		waiters:    make(map[*session.Message]chan error),
		ops:        make(map[uint16]*op),
		subs:       make(map[string]*sub),
		kick:       make(chan struct{}, 1),
		quit:       make(chan struct{}),
		clientID:   opts.ClientID,
	}
	e.idle.L = &e.mu
	e.scfg = session.Config{
		Role:           session.Client,
		Version:        opts.Version,
		ReceiveMaximum: opts.ReceiveMaximum,
		SendWindow:     opts.SendWindow,
		MaxQueued:      opts.MaxQueued,
		QueueQoS0:      opts.QueueOffline,
	}
	e.sess = session.New(e.scfg)
	if opts.OnMessage != nil {
		e.dflt = e.newSub(Subscription{Handler: opts.OnMessage})
	}
	e.wg.Add(1)
	go e.drainLoop()
	return e
}

func (e *engine) wake() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// shutdown stops the drainer and the handler goroutines, failing every
// waiting call with err. The link must already be detached.
func (e *engine) shutdown(err error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed, e.closeErr = true, err
	for m, w := range e.waiters {
		w <- err
		delete(e.waiters, m)
	}
	for _, w := range e.stored {
		w <- err
	}
	e.stored = nil
	for id, o := range e.ops {
		o.finish(nil, nil, err)
		delete(e.ops, id)
	}
	for _, o := range e.queuedOps {
		o.finish(nil, nil, err)
	}
	e.queuedOps = nil
	subs := make([]*sub, 0, len(e.subs)+1)
	for _, s := range e.subs {
		subs = append(subs, s)
	}
	if e.dflt != nil {
		subs = append(subs, e.dflt)
	}
	e.mu.Unlock()
	close(e.quit)
	for _, s := range subs {
		s.closeWith(true)
	}
	e.wg.Wait()
}

// publish hands m to the session and waits for the end of its flow.
func (e *engine) publish(ctx context.Context, m *Message) error {
	if err := checkTopic(m.Topic); err != nil {
		return fmt.Errorf("client: publish: %w", err)
	}
	if m.QoS > packet.QoS2 {
		return fmt.Errorf("client: publish: invalid QoS %d", m.QoS)
	}
	sm := &session.Message{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain}
	if m.Properties != nil && e.opts.Version == packet.V5 {
		p := *m.Properties
		p.Clear(packet.PropTopicAlias)
		p.TopicAlias = 0
		p.SubscriptionIDs = nil // a client sends none [MQTT5-3.3.4-6]
		p.Clear(packet.PropSubscriptionID)
		sm.Properties = &p
		if p.Has(packet.PropMessageExpiry) {
			sm.Expires = time.Now().Add(time.Duration(p.MessageExpiry) * time.Second)
		}
	}
	for {
		e.mu.Lock()
		if e.closed {
			err := e.closeErr
			e.mu.Unlock()
			return err
		}
		if e.link == nil && !e.reconnects {
			e.mu.Unlock()
			return ErrNotConnected
		}
		if e.link == nil && !e.opts.QueueOffline {
			up := e.up
			e.mu.Unlock()
			select {
			case <-up:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		// Online, Publish waits for the QoS flow; offline, for the store
		// to hold the publication (with Options.Store), so that it
		// survives the process.
		var w chan error
		offline := e.link == nil
		if !offline || e.opts.Store != nil {
			w = make(chan error, 1)
		}
		switch {
		case !offline:
			e.waiters[sm] = w
		case w != nil:
			e.stored = append(e.stored, w)
		}
		err := e.sess.Send(time.Now(), session.Delivery{Msg: sm, QoS: m.QoS, Retain: m.Retain})
		if err != nil {
			delete(e.waiters, sm)
			if offline && w != nil {
				e.stored = e.stored[:len(e.stored)-1]
			}
			e.mu.Unlock()
			return fmt.Errorf("client: publish: %w", err)
		}
		e.mu.Unlock()
		e.wake()
		if w == nil {
			return nil
		}
		select {
		case err := <-w:
			return err
		case <-ctx.Done():
			e.mu.Lock()
			delete(e.waiters, sm)
			e.mu.Unlock()
			return ctx.Err()
		}
	}
}

// complete ends the waiter of m, if any. Called with e.mu held.
func (e *engine) complete(m *session.Message, err error) {
	if w, ok := e.waiters[m]; ok {
		delete(e.waiters, m)
		w <- err
	}
}

func completionErr(c *session.Completion) error {
	if c.Drop != session.DropNone {
		return &DropError{Reason: c.Drop.String()}
	}
	if c.Delivery.QoS == packet.QoS2 && c.Reason == packet.PacketIdentifierNotFound {
		// Only PUBCOMP carries 0x92: after a reconnection the server had
		// already released the identifier; its PUBREC accepted the message.
		return nil
	}
	if c.Reason.IsError() {
		return &ReasonError{Op: "publish " + c.Delivery.Msg.Topic, Code: c.Reason}
	}
	return nil
}

func (e *engine) drainLoop() {
	defer e.wg.Done()
	for {
		select {
		case <-e.kick:
		case <-e.quit:
			return
		}
		e.drain()
	}
}

// drain handles the session's output until there is none: withheld
// acknowledgements recorded, messages dispatched to handlers, packets
// written (outside the lock), completions reported, Advance.
func (e *engine) drain() {
	for {
		e.mu.Lock()
		has := e.sess.HasReady()
		// The offline publications sent so far are in this Ready's
		// Persist: stored once it is applied.
		stored := e.stored
		e.stored = nil
		if !has && len(e.extra) == 0 {
			e.mu.Unlock()
			storedDone(stored, nil)
			return
		}
		var rd session.Ready
		l := e.link
		if has {
			rd = e.sess.Ready()
			e.draining = true
			if l != nil && rd.Gen != l.gen {
				l = nil // packets for a connection that is gone
			}
			e.recordInbound(&rd, l)
		}
		e.mu.Unlock()

		var perr error
		if has && len(rd.Persist) > 0 && e.opts.Store != nil {
			perr = e.persist(rd.Persist)
		}
		storedDone(stored, perr)
		if has && len(rd.Deliver) > 0 {
			e.dispatch(&rd)
		}

		e.mu.Lock()
		e.flushAcks()
		wl := e.link
		e.wbuf = append(e.wbuf[:0], e.extra...)
		e.extra = e.extra[:0]
		fin := e.finAfter == wl && wl != nil
		if fin {
			e.finAfter = nil
		}
		e.mu.Unlock()

		if l != nil && l == wl && !fin {
			// Nothing follows a DISCONNECT [MQTT-3.14.4-2] [MQTT5-3.14.4-1]:
			// with fin the session's packets stay for the next connection.
			e.encodeReady(&rd, l)
		}
		// QoS 0 publications complete once written.
		e.qos0 = e.qos0[:0]
		if has {
			for i := range rd.Packets {
				if o := &rd.Packets[i]; o.Kind == packet.PUBLISH && o.PacketID == 0 {
					e.qos0 = append(e.qos0, o.Delivery.Msg)
				}
			}
		}

		// Advance before writing: the encoded bytes are ours, and the
		// server may answer our acknowledgements (with new PUBLISH
		// packets) as soon as they are written, which the session must
		// not count against our Receive Maximum any more.
		e.mu.Lock()
		if has {
			for i := range rd.Done {
				e.complete(rd.Done[i].Delivery.Msg, completionErr(&rd.Done[i]))
			}
			e.sess.Advance()
		}
		e.draining = false
		e.idle.Broadcast()
		e.mu.Unlock()

		var werr error
		if wl != nil && len(e.wbuf) > 0 {
			werr = wl.write(e.wbuf)
		}
		if fin {
			wl.close(nil) // [MQTT-3.14.4-1] [MQTT5-3.14.4-2]
		}
		if len(e.qos0) > 0 {
			e.mu.Lock()
			for _, m := range e.qos0 {
				if l == nil || l != wl || fin || werr != nil {
					e.complete(m, ErrConnectionLost)
				} else {
					e.complete(m, nil)
				}
			}
			e.mu.Unlock()
			clear(e.qos0)
		}
	}
}

// persist applies the session's changes to Options.Store before the
// packets they concern are written. A failure is logged, counted and
// returned: the flows go on in memory.
func (e *engine) persist(changes []session.Change) error {
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.WriteTimeout)
	defer cancel()
	if err := e.opts.Store.Apply(ctx, store.Update{ClientID: e.opts.ClientID, Changes: changes}); err != nil {
		e.storeErrors.Add(1)
		e.log.Error("client: store apply failed", "err", err)
		return err
	}
	return nil
}

// storedDone ends the wait of offline publications for the store.
func storedDone(stored []chan error, err error) {
	if err != nil {
		err = fmt.Errorf("client: publish: queued, but not stored: %w", err)
	}
	for _, w := range stored {
		w <- err
	}
}

// restore loads the message state of Options.ClientID from Options.Store.
func (e *engine) restore(ctx context.Context) error {
	st, err := e.opts.Store.LoadState(ctx, e.opts.ClientID)
	if err != nil {
		return fmt.Errorf("client: loading state: %w", err)
	}
	s, err := session.Restore(e.scfg, st)
	if err != nil {
		return fmt.Errorf("client: restoring state: %w", err)
	}
	e.mu.Lock()
	e.sess = s
	e.mu.Unlock()
	return nil
}

// recordInbound notes, for every message the Ready delivers with QoS 1 or
// 2, its acknowledgement, which the drainer withholds until the message is
// accepted by its handlers (or acknowledged by the application with
// ManualAck). e.rdIns gets one entry per delivered message (nil for QoS 0,
// or when the connection is gone). Called with e.mu held.
func (e *engine) recordInbound(rd *session.Ready, l *link) {
	if cap(e.skip) < len(rd.Packets) {
		e.skip = make([]bool, len(rd.Packets))
	}
	e.skip = e.skip[:len(rd.Packets)]
	clear(e.skip)
	clear(e.rdIns)
	e.rdIns = e.rdIns[:0]
	ci, pi := 0, 0
	for _, m := range rd.Deliver {
		var in *inbound
		if m.QoS > 0 {
			// Deliver and ChangeInbound are appended in the same order.
			for ci < len(rd.Persist) && rd.Persist[ci].Kind != session.ChangeInbound {
				ci++
			}
			if ci < len(rd.Persist) {
				ch := &rd.Persist[ci]
				ci++
				for pi < len(rd.Packets) {
					o := &rd.Packets[pi]
					pi++
					if (o.Kind == packet.PUBACK || o.Kind == packet.PUBREC) && o.PacketID == ch.PacketID {
						if l != nil {
							e.skip[pi-1] = true
							in = &inbound{e: e, gen: l.gen, id: o.PacketID, kind: o.Kind, reason: o.Reason}
							e.acks = append(e.acks, in)
						}
						break
					}
				}
			}
		}
		e.rdIns = append(e.rdIns, in)
	}
}

// encodeReady appends the Ready's packets, except withheld
// acknowledgements, to wbuf.
func (e *engine) encodeReady(rd *session.Ready, l *link) {
	v := l.version
	for i := range rd.Packets {
		if i < len(e.skip) && e.skip[i] {
			continue
		}
		o := &rd.Packets[i]
		var err error
		if o.Kind == packet.PUBLISH {
			o.Publish(&e.pub)
			if v != packet.V5 {
				e.pub.Properties = packet.Properties{}
			} else if l.aliasOutMax > 0 {
				l.aliasOut(&e.pub)
			}
			e.wbuf, err = e.pub.Append(e.wbuf, v)
			e.pub = packet.Publish{}
		} else {
			o.Ack(&e.ack)
			e.wbuf, err = e.ack.Append(e.wbuf, v)
		}
		if err != nil {
			e.log.Warn("client: cannot encode packet", "type", o.Kind, "err", err)
		}
	}
}

// flushAcks moves the released acknowledgements of e.acks to e.extra, in
// the order the messages were received. An acknowledgement still withheld
// (its handler queue full, or awaiting Message.Ack) does not hold back
// those after it, so a slow handler does not stall the other
// subscriptions' flows; within one subscription the order is kept
// [MQTT-4.6.0-2] [MQTT-4.6.0-3]. Called with e.mu held.
func (e *engine) flushAcks() {
	if e.finAfter != nil && e.finAfter == e.link {
		return // DISCONNECT is queued: nothing may follow it
	}
	w := 0
	for _, in := range e.acks {
		if !in.ready {
			e.acks[w] = in
			w++
			continue
		}
		a := packet.Ack{PacketType: in.kind, PacketID: in.id, ReasonCode: in.reason}
		var err error
		if e.extra, err = a.Append(e.extra, e.sess.Version()); err != nil {
			e.log.Warn("client: cannot encode acknowledgement", "err", err)
		}
	}
	clear(e.acks[w:])
	e.acks = e.acks[:w]
}

// inbound is the withheld acknowledgement of one received QoS 1 or 2
// message.
type inbound struct {
	e       *engine
	gen     uint64
	id      uint16
	kind    packet.Type
	reason  packet.ReasonCode
	pending atomic.Int32 // handler queues yet to accept it, plus one for a manual Ack
	acked   atomic.Bool  // Message.Ack was called
	ready   bool         // e.mu
}

// release counts one acceptance; the last one releases the acknowledgement.
func (in *inbound) release() {
	if in.pending.Add(-1) != 0 {
		return
	}
	e := in.e
	e.mu.Lock()
	in.ready = true
	if e.link != nil && e.link.gen == in.gen {
		e.flushAcks()
		e.mu.Unlock()
		e.wake()
		return
	}
	e.mu.Unlock()
}

// dispatch hands the Ready's messages to the handlers of the matching
// subscriptions.
func (e *engine) dispatch(rd *session.Ready) {
	for i, sm := range rd.Deliver {
		m := &Message{Topic: sm.Topic, Payload: sm.Payload, QoS: sm.QoS, Retain: sm.Retain, Properties: sm.Properties}
		e.route(m, e.rdIns[i])
	}
}

// route finds the subscriptions matching m and queues it to each.
func (e *engine) route(m *Message, in *inbound) {
	e.mu.Lock()
	e.matched = e.matched[:0]
	dflt := true
	for f, s := range e.subs {
		if topic.Match(f, m.Topic) || sharedMatch(f, m.Topic) {
			if s.passive {
				continue // no handler of its own: Options.OnMessage, once
			}
			dflt = false
			e.matched = append(e.matched, s)
		}
	}
	if dflt && e.dflt != nil {
		e.matched = append(e.matched, e.dflt)
	}
	matched := e.matched
	e.mu.Unlock()
	qin := in // released by each queue that accepts m
	if in != nil {
		n := int32(len(matched))
		if e.opts.ManualAck && len(matched) > 0 {
			n = 1 // released by Message.Ack
			m.ack = in
			qin = nil
		}
		in.pending.Store(n + 1) // +1 held by route until queued everywhere
	}
	for _, s := range matched {
		s.push(m, qin)
	}
	if in != nil {
		in.release()
	}
}

func sharedMatch(filter, name string) bool {
	_, inner, ok, err := topic.ParseShared(filter)
	return ok && err == nil && topic.Match(inner, name)
}

// resetSession discards the session state when the server has none
// (Session Present 0), keeping the publications not yet accepted by the
// server, which are sent again as new ones. Called with e.mu held.
func (e *engine) resetSession(now time.Time) {
	st := e.sess.State()
	var q []session.QueuedEntry
	for _, f := range st.Inflight {
		if f.Stage == session.AwaitPubcomp {
			// The server has the message (PUBREC); only the release
			// of the identifier is lost with its session.
			e.complete(f.Delivery.Msg, nil)
			continue
		}
		q = append(q, session.QueuedEntry{Seq: f.Seq, Delivery: f.Delivery})
	}
	q = append(q, st.Queue...)
	ns, err := session.Restore(e.scfg, session.State{NextID: st.NextID, NextSeq: st.NextSeq, Queue: q})
	if err != nil {
		e.log.Error("client: rebuilding session", "err", err)
		ns = session.New(e.scfg)
		for _, x := range q {
			e.complete(x.Delivery.Msg, fmt.Errorf("client: session lost: %w", err))
		}
	}
	old := e.sess.Stats()
	for i := range old.Dropped {
		e.base.Dropped[i] += old.Dropped[i]
	}
	e.base.Sent += old.Sent
	e.base.Resent += old.Resent
	e.base.Received += old.Received
	e.base.Duplicates += old.Duplicates
	e.base.Completed += old.Completed
	e.sess = ns
	if e.opts.Store != nil {
		// The stored state follows: the queue alone.
		ctx, cancel := context.WithTimeout(context.Background(), e.opts.WriteTimeout)
		defer cancel()
		changes := make([]session.Change, 0, len(q))
		for _, x := range q {
			changes = append(changes, session.Change{Kind: session.ChangeQueued, Seq: x.Seq, Delivery: x.Delivery})
		}
		err := e.opts.Store.DeleteSession(ctx, e.opts.ClientID)
		if err == nil && len(changes) > 0 {
			err = e.opts.Store.Apply(ctx, store.Update{ClientID: e.opts.ClientID, Changes: changes})
		}
		if err != nil {
			e.storeErrors.Add(1)
			e.log.Error("client: store rewrite failed", "err", err)
		}
	}
	_ = now
}

func keepAliveSecs(d time.Duration) uint16 {
	if d <= 0 {
		return 0
	}
	s := (d + time.Second - 1) / time.Second
	return uint16(min(s, math.MaxUint16))
}
