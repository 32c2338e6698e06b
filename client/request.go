package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"

	"github.com/tern-mq/tern/packet"
)

// requester holds the response subscription of Request and the requests
// waiting for a response, by correlation data.
type requester struct {
	mu         sync.Mutex
	topic      string
	subscribed bool
	next       uint64
	waiting    map[string]chan *Message
}

func (r *requester) handle(m *Message) {
	if m.Properties == nil {
		return
	}
	r.mu.Lock()
	ch, ok := r.waiting[string(m.Properties.CorrelationData)]
	if ok {
		delete(r.waiting, string(m.Properties.CorrelationData))
	}
	r.mu.Unlock()
	if ok {
		ch <- m
	}
}

// request publishes m with a Response Topic and Correlation Data and waits
// for the response.
func (e *engine) request(ctx context.Context, m Message) (*Message, error) {
	if e.opts.Version != packet.V5 {
		return nil, errors.New("client: request/response needs MQTT 5")
	}
	e.mu.Lock()
	if e.reqs == nil {
		var b [8]byte
		rand.Read(b[:])
		e.reqs = &requester{topic: "tern/response/" + hex.EncodeToString(b[:]), waiting: make(map[string]chan *Message)}
	}
	r := e.reqs
	e.mu.Unlock()

	r.mu.Lock()
	if !r.subscribed {
		// Subscribed once, before the first request goes out.
		if _, err := e.subscribe(ctx, nil, []Subscription{{Filter: r.topic, QoS: packet.QoS1, Handler: r.handle}}); err != nil {
			r.mu.Unlock()
			return nil, err
		}
		r.subscribed = true
	}
	r.next++
	corr := strconv.FormatUint(r.next, 36)
	ch := make(chan *Message, 1)
	r.waiting[corr] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waiting, corr)
		r.mu.Unlock()
	}()

	var p packet.Properties
	if m.Properties != nil {
		p = *m.Properties
	}
	p.ResponseTopic = r.topic
	p.Set(packet.PropResponseTopic)
	p.CorrelationData = []byte(corr)
	p.Set(packet.PropCorrelationData)
	m.Properties = &p
	if err := e.publish(ctx, &m); err != nil {
		return nil, err
	}
	select {
	case resp := <-ch:
		return resp, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Respond publishes payload as the response to the request req (to its
// Response Topic, with its Correlation Data). It is a helper for
// responders, usable from a handler.
func Respond(ctx context.Context, pub interface {
	Publish(context.Context, Message) error
}, req *Message, payload []byte) error {
	if req.Properties == nil || req.Properties.ResponseTopic == "" {
		return errors.New("client: respond: the request has no Response Topic")
	}
	p := &packet.Properties{}
	if req.Properties.Has(packet.PropCorrelationData) {
		p.CorrelationData = req.Properties.CorrelationData
		p.Set(packet.PropCorrelationData)
	}
	return pub.Publish(ctx, Message{Topic: req.Properties.ResponseTopic, Payload: payload, QoS: req.QoS, Properties: p})
}

// Stats are a client's counters.
type Stats struct {
	InFlight     int    // outbound QoS 1/2 publications awaiting acknowledgement
	Queued       int    // publications waiting for the window or the connection
	Sent         uint64 // PUBLISH packets sent (first sends)
	Resent       uint64 // PUBLISH and PUBREL packets sent again
	Received     uint64 // PUBLISH packets received
	Duplicates   uint64 // QoS 2 duplicates received and not delivered again
	Dropped      uint64 // publications dropped by the client
	HandlerDrops uint64 // QoS 0 messages dropped because a handler queue was full
	StoreErrors  uint64 // failed writes to Options.Store
}

func (e *engine) stats() Stats {
	e.mu.Lock()
	st := e.sess.Stats()
	b := e.base
	e.mu.Unlock()
	return Stats{InFlight: st.InFlight, Queued: st.Queued, Sent: b.Sent + st.Sent, Resent: b.Resent + st.Resent,
		Received: b.Received + st.Received, Duplicates: b.Duplicates + st.Duplicates,
		Dropped:      b.DroppedTotal() + st.DroppedTotal(),
		HandlerDrops: e.handlerDrops.Load(), StoreErrors: e.storeErrors.Load()}
}

func (e *engine) currentID() string {
	if p := e.cid.Load(); p != nil {
		return *p
	}
	return e.opts.ClientID
}
