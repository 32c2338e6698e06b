package client

import (
	"context"
	"fmt"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/topic"
)

// op is a SUBSCRIBE or UNSUBSCRIBE awaiting its acknowledgement.
type op struct {
	sub   *packet.Subscribe
	unsub *packet.Unsubscribe
	done  chan opResult // nil for a resubscription after reconnecting
}

type opResult struct {
	codes []packet.ReasonCode
	props *packet.Properties
	err   error
}

func (o *op) finish(codes []packet.ReasonCode, props *packet.Properties, err error) {
	if o.done != nil {
		o.done <- opResult{codes, props, err}
	}
}

func (o *op) setID(id uint16) {
	if o.sub != nil {
		o.sub.PacketID = id
	} else {
		o.unsub.PacketID = id
	}
}

// sendOp assigns o a packet identifier and queues it on the current link.
// Called with e.mu held and e.link set.
func (e *engine) sendOp(o *op) error {
	if e.finAfter != nil && e.finAfter == e.link {
		e.queuedOps = append(e.queuedOps, o) // DISCONNECT is queued
		return nil
	}
	id, err := e.sess.ReserveID()
	if err != nil {
		return err
	}
	o.setID(id)
	var p packet.Packet = o.sub
	if o.unsub != nil {
		p = o.unsub
	}
	b, err := packet.Append(e.extra, p, e.link.version)
	if err != nil {
		e.sess.ReleaseID(id)
		return err
	}
	e.extra = b
	e.ops[id] = o
	return nil
}

// do runs a SUBSCRIBE or UNSUBSCRIBE: now if connected, else once
// connected (Client) or never (Conn).
func (e *engine) do(ctx context.Context, o *op) (opResult, error) {
	o.done = make(chan opResult, 1)
	e.mu.Lock()
	if e.closed {
		err := e.closeErr
		e.mu.Unlock()
		return opResult{}, err
	}
	switch {
	case e.link != nil:
		if err := e.sendOp(o); err != nil {
			e.mu.Unlock()
			return opResult{}, err
		}
	case e.reconnects:
		e.queuedOps = append(e.queuedOps, o)
	default:
		e.mu.Unlock()
		return opResult{}, ErrNotConnected
	}
	e.mu.Unlock()
	e.wake()
	select {
	case r := <-o.done:
		return r, r.err
	case <-ctx.Done():
		return opResult{}, ctx.Err()
	}
}

func (e *engine) subscribe(ctx context.Context, props *packet.Properties, subs []Subscription) ([]packet.ReasonCode, error) {
	if len(subs) == 0 {
		return nil, fmt.Errorf("client: subscribe: no topic filter")
	}
	p := &packet.Subscribe{}
	if props != nil && e.opts.Version == packet.V5 {
		p.Properties = *props
	}
	for _, s := range subs {
		if err := topic.ValidFilter(s.Filter); err != nil {
			return nil, fmt.Errorf("client: subscribe: %w", err)
		}
		if s.QoS > packet.QoS2 {
			return nil, fmt.Errorf("client: subscribe %s: invalid QoS %d", s.Filter, s.QoS)
		}
		p.Subscriptions = append(p.Subscriptions, packet.Subscription{Filter: s.Filter, Options: subOptions(s, e.opts.Version)})
	}
	// Handlers are in place before SUBSCRIBE goes out: retained messages
	// follow the SUBACK at once.
	e.mu.Lock()
	added := make([]*sub, 0, len(subs))
	for _, s := range subs {
		ns := e.newSub(s)
		if old := e.subs[s.Filter]; old != nil {
			defer old.close()
		}
		e.subs[s.Filter] = ns
		added = append(added, ns)
	}
	e.mu.Unlock()
	r, err := e.do(ctx, &op{sub: p})
	if err != nil && r.err == nil && ctx.Err() != nil {
		// The subscription may still be made; keep the handlers.
		return nil, err
	}
	var fail error
	for i, s := range subs {
		ok := err == nil && i < len(r.codes) && !r.codes[i].IsError()
		if ok {
			continue
		}
		e.mu.Lock()
		if e.subs[s.Filter] == added[i] {
			delete(e.subs, s.Filter)
		}
		e.mu.Unlock()
		added[i].close()
		if err == nil && fail == nil {
			code := packet.UnspecifiedError
			if i < len(r.codes) {
				code = r.codes[i]
			}
			fail = &ReasonError{Op: "subscribe " + s.Filter, Code: code, Reason: reasonString(r.props)}
		}
	}
	if err != nil {
		return nil, err
	}
	return r.codes, fail
}

func subOptions(s Subscription, v packet.Version) packet.SubOptions {
	o := packet.SubOptions{QoS: s.QoS}
	if v == packet.V5 {
		o.NoLocal, o.RetainAsPublished, o.RetainHandling = s.NoLocal, s.RetainAsPublished, s.RetainHandling
	}
	return o
}

func reasonString(p *packet.Properties) string {
	if p == nil {
		return ""
	}
	return p.ReasonString
}

func (e *engine) unsubscribe(ctx context.Context, filters []string) ([]packet.ReasonCode, error) {
	if len(filters) == 0 {
		return nil, fmt.Errorf("client: unsubscribe: no topic filter")
	}
	for _, f := range filters {
		if err := topic.ValidFilter(f); err != nil {
			return nil, fmt.Errorf("client: unsubscribe: %w", err)
		}
	}
	e.mu.Lock()
	var gone []*sub
	for _, f := range filters {
		if s := e.subs[f]; s != nil {
			gone = append(gone, s)
			delete(e.subs, f)
		}
	}
	e.mu.Unlock()
	for _, s := range gone {
		s.close()
	}
	r, err := e.do(ctx, &op{unsub: &packet.Unsubscribe{Filters: filters}})
	if err != nil {
		return nil, err
	}
	for i, c := range r.codes {
		if c.IsError() {
			return r.codes, &ReasonError{Op: "unsubscribe " + filters[i], Code: c, Reason: reasonString(r.props)}
		}
	}
	return r.codes, nil
}

// onAck handles SUBACK and UNSUBACK.
func (e *engine) onAck(id uint16, codes []packet.ReasonCode, props *packet.Properties) {
	e.mu.Lock()
	o := e.ops[id]
	if o != nil {
		delete(e.ops, id)
		e.sess.ReleaseID(id)
	}
	e.mu.Unlock()
	if o != nil {
		o.finish(codes, props, nil)
	}
}

// resubscriptions returns SUBSCRIBE ops for every subscription, used when
// the server has no session for us. Called with e.mu held.
func (e *engine) resubscriptions() []*op {
	var ops []*op
	var cur *packet.Subscribe
	for f, s := range e.subs {
		if cur == nil || len(cur.Subscriptions) == 64 {
			cur = &packet.Subscribe{}
			ops = append(ops, &op{sub: cur})
		}
		cur.Subscriptions = append(cur.Subscriptions, packet.Subscription{Filter: f, Options: subOptions(s.opts, e.opts.Version)})
	}
	return ops
}
