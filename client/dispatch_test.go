package client

import (
	"log/slog"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/tern-mq/tern/packet"
)

// TestHandlerQueueProperties drives one subscription queue with random
// pushes while its handler is blocked and released at random: every QoS
// 1/2 message is delivered once, in order, and acknowledged once; a QoS 0
// message is either delivered or counted as dropped; acknowledgements
// released but not yet handled never exceed the bound plus the message in
// the handler.
func TestHandlerQueueProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		bound := rapid.IntRange(1, 5).Draw(t, "bound")
		e := &engine{opts: Options{HandlerQueue: bound}, log: discardLogger()}
		e.idle.L = &e.mu
		permit := make(chan struct{}, 64) // tokens: each lets the handler finish one message
		var mu sync.Mutex
		var got []*Message
		s := e.newSub(Subscription{Handler: func(m *Message) {
			<-permit
			mu.Lock()
			got = append(got, m)
			mu.Unlock()
		}})
		var pushed []*Message
		var ins []*inbound
		qos0 := 0
		for i := range rapid.IntRange(0, 40).Draw(t, "n") {
			if rapid.Bool().Draw(t, "handle") {
				permit <- struct{}{}
				continue
			}
			q := packet.QoS(rapid.IntRange(0, 2).Draw(t, "qos"))
			m := &Message{QoS: q, Payload: []byte{byte(i)}}
			var in *inbound
			if q > 0 {
				in = &inbound{e: e}
				in.pending.Store(1)
				ins = append(ins, in)
			} else {
				qos0++
			}
			pushed = append(pushed, m)
			s.push(m, in)
			// Released but not handled: at most bound queued plus one in
			// the handler.
			e.mu.Lock()
			ready := 0
			for _, x := range ins {
				if x.ready {
					ready++
				}
			}
			e.mu.Unlock()
			mu.Lock()
			handled := 0
			for _, g := range got {
				if g.QoS > 0 {
					handled++
				}
			}
			mu.Unlock()
			if ready-handled > bound+1 {
				t.Fatalf("%d acknowledgements released for %d handled, bound %d", ready, handled, bound)
			}
		}
		// Release everything.
		close(permit)
		s.close()
		e.wg.Wait()
		var want []*Message
		for _, m := range pushed {
			if m.QoS > 0 {
				want = append(want, m)
			}
		}
		var gotQ []*Message
		got0 := 0
		for _, m := range got {
			if m.QoS > 0 {
				gotQ = append(gotQ, m)
			} else {
				got0++
			}
		}
		if len(gotQ) != len(want) {
			t.Fatalf("%d QoS 1/2 delivered, %d pushed", len(gotQ), len(want))
		}
		for i := range want {
			if gotQ[i] != want[i] {
				t.Fatalf("QoS 1/2 message %d out of order", i)
			}
		}
		for i, in := range ins {
			if !in.ready || in.pending.Load() != 0 {
				t.Fatalf("acknowledgement %d not released once (pending %d)", i, in.pending.Load())
			}
		}
		if got0+int(e.handlerDrops.Load()) != qos0 {
			t.Fatalf("QoS 0: %d delivered + %d dropped != %d pushed", got0, e.handlerDrops.Load(), qos0)
		}
	})
}

func discardLogger() *slog.Logger { return slog.New(discard{}) }
