package client

import (
	"runtime/debug"
	"sync"
)

// sub is one subscription's handler with its bounded queue and goroutine.
//
// The first Options.HandlerQueue messages waiting are accepted: their
// acknowledgements go to the server. A QoS 0 message beyond the bound is
// dropped and counted; a QoS 1 or 2 one is held with its acknowledgement
// withheld, so the server's own window (its in-flight limit, our Receive
// Maximum in MQTT 5) bounds how many can be held.
type sub struct {
	e       *engine
	opts    Subscription
	handler Handler
	passive bool // no handler: messages go to Options.OnMessage

	mu      sync.Mutex
	q       []qitem
	head    int
	closed  bool
	discard bool
	wake    chan struct{}
}

type qitem struct {
	m    *Message
	in   *inbound // acknowledgement released on acceptance (nil: none)
	held bool     // beyond the bound: not yet accepted
}

// newSub starts the handler goroutine of a subscription. A subscription
// without a handler is passive: its messages go to Options.OnMessage.
func (e *engine) newSub(s Subscription) *sub {
	ns := &sub{e: e, opts: s, handler: s.Handler, wake: make(chan struct{}, 1)}
	if ns.handler == nil {
		ns.passive = true
		return ns
	}
	e.wg.Add(1)
	go ns.run()
	return ns
}

func (s *sub) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// push queues m; in is released when m is accepted.
func (s *sub) push(m *Message, in *inbound) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		if in != nil {
			in.release()
		}
		return
	}
	bound := s.e.opts.HandlerQueue
	held := len(s.q)-s.head >= bound
	if held && m.QoS == 0 {
		s.mu.Unlock()
		s.e.handlerDrops.Add(1)
		return
	}
	s.q = append(s.q, qitem{m: m, in: in, held: held})
	s.mu.Unlock()
	s.signal()
	if !held && in != nil {
		in.release()
	}
}

// close stops the goroutine once the queue is empty; with discard the
// queue is dropped.
func (s *sub) close() { s.closeWith(false) }

func (s *sub) closeWith(discard bool) {
	if s.passive {
		return
	}
	s.mu.Lock()
	s.closed = true
	s.discard = s.discard || discard
	s.mu.Unlock()
	s.signal()
}

func (s *sub) run() {
	defer s.e.wg.Done()
	for {
		s.mu.Lock()
		if s.discard {
			s.q, s.head = nil, 0
		}
		if s.head == len(s.q) {
			s.q, s.head = s.q[:0], 0
			if s.closed {
				s.mu.Unlock()
				return
			}
			s.mu.Unlock()
			<-s.wake
			continue
		}
		it := s.q[s.head]
		s.q[s.head] = qitem{}
		s.head++
		var rel, next *inbound
		if it.held {
			rel = it.in // accepted only now
		}
		// The message that now falls within the bound is accepted.
		if k := s.head + s.e.opts.HandlerQueue - 1; k < len(s.q) && s.q[k].held {
			s.q[k].held = false
			next = s.q[k].in
		}
		s.mu.Unlock()
		if rel != nil {
			rel.release()
		}
		if next != nil {
			next.release()
		}
		s.call(it.m)
	}
}

// call runs the handler, recovering (and logging) a panic so that one bad
// message does not end the program.
func (s *sub) call(m *Message) {
	defer func() {
		if r := recover(); r != nil {
			s.e.log.Error("client: message handler panicked", "topic", m.Topic, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	if s.handler != nil {
		s.handler(m)
	}
}
