package broker

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
)

// seqMsg is a message whose payload carries a publisher and a sequence
// number.
func seqMsg(topic string, pub, seq int) *session.Message {
	p := make([]byte, 8)
	binary.BigEndian.PutUint32(p, uint32(pub))
	binary.BigEndian.PutUint32(p[4:], uint32(seq))
	return &session.Message{Topic: topic, Payload: p}
}

func seqOf(payload []byte) (pub, seq int) {
	return int(binary.BigEndian.Uint32(payload)), int(binary.BigEndian.Uint32(payload[4:]))
}

func TestInboxPushTakeClose(t *testing.T) {
	var ib inbox
	c := &conn{}
	d := session.Delivery{Msg: &session.Message{Payload: make([]byte, 10)}}
	if _, r := ib.push(d, 10, 100); r != pushClosed {
		t.Fatalf("push to a closed inbox: %d, want pushClosed", r)
	}
	ib.openFor(c)
	if got, r := ib.push(d, 3, 25); r != pushedFirst || got != c {
		t.Fatalf("first push: %d %p, want pushedFirst and the connection", r, got)
	}
	if _, r := ib.push(d, 3, 25); r != pushed {
		t.Fatalf("second push: %d, want pushed", r)
	}
	if _, r := ib.push(d, 3, 25); r != pushFull {
		t.Fatalf("push past 25 bytes: %d, want pushFull", r)
	}
	if _, r := ib.push(d, 2, 100); r != pushFull {
		t.Fatalf("push past 2 deliveries: %d, want pushFull", r)
	}
	if n, b := ib.len(); n != 2 || b != 20 {
		t.Fatalf("len = %d, %d bytes; want 2, 20", n, b)
	}
	b := ib.take()
	if b == nil || len(*b) != 2 {
		t.Fatalf("take: %v, want 2 deliveries", b)
	}
	recycleInbox(b)
	if ib.take() != nil {
		t.Fatal("take of an empty inbox returned deliveries")
	}
	if _, r := ib.push(d, 3, 25); r != pushedFirst {
		t.Fatalf("push after take: %d, want pushedFirst", r)
	}
	big := session.Delivery{Msg: &session.Message{Payload: make([]byte, 30)}}
	if _, r := ib.push(big, 3, 25); r != pushFull {
		t.Fatalf("push of a delivery larger than the byte bound: %d, want pushFull", r)
	}
	if b := ib.close(); b == nil || len(*b) != 1 {
		t.Fatalf("close returned %v, want the delivery left", b)
	}
	if _, r := ib.push(d, 3, 25); r != pushClosed {
		t.Fatalf("push after close: %d, want pushClosed", r)
	}
}

// TestInboxConcurrentProducers pushes from several producers while a
// consumer takes batches: every accepted delivery is taken exactly once,
// in the order of its producer, the bound is never passed, and each
// producer's refusals are exactly the deliveries not taken.
func TestInboxConcurrentProducers(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		producers := rapid.IntRange(1, 8).Draw(rt, "producers")
		per := rapid.IntRange(1, 400).Draw(rt, "per producer")
		maxN := rapid.IntRange(1, 64).Draw(rt, "maxN")
		var ib inbox
		ib.openFor(&conn{})
		accepted := make([]int, producers)
		var wg sync.WaitGroup
		for p := range producers {
			wg.Go(func() {
				for i := range per {
					_, r := ib.push(session.Delivery{Msg: seqMsg("t", p, i)}, maxN, 1<<30)
					if r == pushed || r == pushedFirst {
						accepted[p]++
					}
				}
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		last := make([]int, producers)
		for p := range last {
			last[p] = -1
		}
		taken := make([]int, producers)
		check := func(b *[]session.Delivery) {
			if b == nil {
				return
			}
			if len(*b) > maxN {
				rt.Fatalf("batch of %d deliveries, bound %d", len(*b), maxN)
			}
			for _, d := range *b {
				p, i := seqOf(d.Msg.Payload)
				if i <= last[p] {
					rt.Fatalf("producer %d: %d taken after %d", p, i, last[p])
				}
				last[p] = i
				taken[p]++
			}
			recycleInbox(b)
		}
		for running := true; running; {
			select {
			case <-done:
				running = false
			default:
			}
			check(ib.take())
		}
		check(ib.close())
		for p := range producers {
			if taken[p] != accepted[p] {
				rt.Fatalf("producer %d: %d accepted, %d taken", p, accepted[p], taken[p])
			}
		}
	})
}

// recordConn is an in-memory net.Conn whose reads return the preloaded
// bytes and then block until Close, and whose writes are kept; while
// blocked is set, writes wait.
type recordConn struct {
	fakeConn
	wmu  sync.Mutex
	out  []byte
	gate sync.RWMutex // held for writing while writes are blocked
}

func newRecordConn(in []byte) *recordConn {
	return &recordConn{fakeConn: fakeConn{in: in, closed: make(chan struct{})}}
}

func (r *recordConn) Write(b []byte) (int, error) {
	r.gate.RLock()
	defer r.gate.RUnlock()
	select {
	case <-r.closed:
		return 0, net.ErrClosed
	default:
	}
	r.wmu.Lock()
	r.out = append(r.out, b...)
	r.wmu.Unlock()
	return len(b), nil
}

// publishes decodes the PUBLISH packets written so far (after the
// CONNACK and SUBACK).
func (r *recordConn) publishes(t testing.TB, v packet.Version) []*packet.Publish {
	r.wmu.Lock()
	b := append([]byte(nil), r.out...)
	r.wmu.Unlock()
	var out []*packet.Publish
	for len(b) > 0 {
		p, n, err := packet.DecodeBytes(b, v, 0)
		if err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatalf("decoding what the broker wrote: %v", err)
		}
		b = b[n:]
		if pp, ok := p.(*packet.Publish); ok {
			out = append(out, pp)
		}
	}
	return out
}

func attachRecorded(t testing.TB, s *Server, id string, qos packet.QoS, filter string) *recordConn {
	t.Helper()
	in, _ := packet.Append(nil, &packet.Connect{Version: packet.V311, CleanStart: true, ClientID: id}, packet.V311)
	in, _ = packet.Append(in, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
		{Filter: filter, Options: packet.SubOptions{QoS: qos}}}}, packet.V311)
	rc := newRecordConn(in)
	s.serveConn(rc)
	eventually(t, "subscribed", func() bool { return s.subs.Len() > 0 })
	return rc
}

// TestFanInOrderAndDropsCounted routes QoS 0 messages from concurrent
// publishers to one subscriber whose writes are blocked part of the time:
// each publisher's messages arrive in order, and every message is either
// written or counted as dropped.
func TestFanInOrderAndDropsCounted(t *testing.T) {
	s := newBenchServer(t, Config{MaxQueued: 50})
	rc := attachRecorded(t, s, "sink", 0, "in/+")
	const pubs, per = 6, 3000
	var wg sync.WaitGroup
	rc.gate.Lock() // the subscriber does not read at first: drops
	for p := range pubs {
		wg.Go(func() {
			now := time.Now()
			for i := range per {
				s.routeAt(seqMsg(fmt.Sprintf("in/%d", p), p, i), nil, now, nil)
				if i == per/2 && p == 0 {
					rc.gate.Unlock()
				}
			}
		})
	}
	wg.Wait()
	var got []*packet.Publish
	eventually(t, "every message written or dropped", func() bool {
		got = rc.publishes(t, packet.V311)
		return int64(len(got))+s.Stats().DroppedQoS0 == pubs*per
	})
	if s.Stats().DroppedQoS0 == 0 {
		t.Error("no drop while the subscriber's writes were blocked")
	}
	checkOrder(t, got, pubs, nil)
	rc.Close()
}

// checkOrder fails unless each publisher's messages in got are in the
// order of their sequence numbers; each one is also passed to check, if
// not nil.
func checkOrder(t *testing.T, got []*packet.Publish, pubs int, check func(p, i int, pp *packet.Publish)) {
	t.Helper()
	last := make([]int, pubs)
	for p := range last {
		last[p] = -1
	}
	for _, pp := range got {
		p, i := seqOf(pp.Payload)
		if i <= last[p] {
			t.Fatalf("publisher %d: message %d written after %d", p, i, last[p])
		}
		if check != nil {
			check(p, i, pp)
		}
		last[p] = i
	}
}

// TestMixedQoSKeepsPublisherOrder routes alternating QoS 0 and QoS 1
// messages from concurrent publishers to a QoS 1 subscriber whose writes
// are blocked at first: QoS 1 goes through the session when the inbox is
// full, QoS 0 through the inbox (or is dropped and counted), and each
// publisher's messages are still written in order, no QoS 1 one lost.
func TestMixedQoSKeepsPublisherOrder(t *testing.T) {
	s := newBenchServer(t, Config{MaxQueued: 64, SendWindow: 65535})
	rc := attachRecorded(t, s, "sink", 1, "mix/+")
	const pubs, per = 4, 2000
	var wg sync.WaitGroup
	rc.gate.Lock()
	for p := range pubs {
		wg.Go(func() {
			now := time.Now()
			for i := range per {
				m := seqMsg(fmt.Sprintf("mix/%d", p), p, i)
				m.QoS = packet.QoS(i % 2)
				s.routeAt(m, nil, now, nil)
				if i == per/4 && p == 0 {
					rc.gate.Unlock()
				}
			}
		})
	}
	wg.Wait()
	var got []*packet.Publish
	qos1 := 0
	eventually(t, "every QoS 1 message written, every QoS 0 one written or dropped", func() bool {
		got = rc.publishes(t, packet.V311)
		qos1 = 0
		for _, pp := range got {
			if pp.QoS == 1 {
				qos1++
			}
		}
		return qos1 == pubs*per/2 && int64(len(got)-qos1)+s.Stats().DroppedQoS0 == pubs*per/2
	})
	if d, d0 := s.Stats().Dropped, s.Stats().DroppedQoS0; d != d0 {
		t.Fatalf("%d dropped, of which %d QoS 0", d, d0)
	}
	checkOrder(t, got, pubs, func(p, i int, pp *packet.Publish) {
		if pp.QoS != packet.QoS(i%2) {
			t.Fatalf("publisher %d message %d: QoS %d", p, i, pp.QoS)
		}
	})
	rc.Close()
}

// TestWaitForWriter: a publisher finding a subscriber's backlog full
// yields to its writer for at most maxWriterWait, then the inbox is stuck
// and publishers drop at once until the writer takes a batch; a writer
// blocked in a Write for more than slowWrite means drop at once.
func TestWaitForWriter(t *testing.T) {
	var ib inbox
	c := &conn{}
	ib.openFor(c)
	var since time.Time
	start := time.Now()
	tries := 0
	for ib.waitForWriter(c, &since) {
		tries++
		if time.Since(start) > 100*maxWriterWait {
			t.Fatal("waitForWriter never gave up")
		}
	}
	if waited := time.Since(start); waited < maxWriterWait {
		t.Fatalf("gave up after %v (%d tries), before %v", waited, tries, maxWriterWait)
	}
	if !ib.stuck.Load() {
		t.Fatal("inbox not marked stuck after a wait ran out")
	}
	since = time.Time{}
	if ib.waitForWriter(c, &since) {
		t.Fatal("a stuck inbox made a publisher wait")
	}
	ib.take()
	if ib.stuck.Load() {
		t.Fatal("take left the inbox stuck")
	}
	if !ib.waitForWriter(c, &since) {
		t.Fatal("no wait for a writer that took a batch")
	}
	c.writeSince.Store(time.Now().Add(-2 * slowWrite).UnixNano())
	if ib.waitForWriter(c, &since) {
		t.Fatal("a publisher waits for a writer blocked in a Write")
	}
	c.writeSince.Store(0)
	c.closed.Store(true)
	if ib.waitForWriter(c, &since) {
		t.Fatal("a publisher waits for a closed connection")
	}
}
