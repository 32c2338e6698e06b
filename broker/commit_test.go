package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/memory"
)

var _ store.AsyncApplier = (*pipeStore)(nil)

// The hold queue never lets a writer take a byte at or past the position of
// a hold not yet released, whatever the order of releases, and lets every
// byte go once all holds are released, in order.
func TestHoldQueue(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var q holdQueue
		var queued []byte  // the control queue
		var written []byte // what writers took
		type open struct {
			id  uint64
			pos int // absolute position
		}
		var holds []open
		next := byte(0)
		for range rapid.IntRange(1, 60).Draw(t, "steps") {
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0: // queue bytes (a packet)
				for range rapid.IntRange(1, 5).Draw(t, "n") {
					queued = append(queued, next)
					next++
				}
			case 1: // hold at the end, then queue the held packet
				id := q.take(len(queued))
				holds = append(holds, open{id, len(written) + len(queued)})
				queued = append(queued, next)
				next++
			case 2: // release any pending hold
				if len(holds) == 0 {
					continue
				}
				i := rapid.IntRange(0, len(holds)-1).Draw(t, "release")
				q.release(holds[i].id)
				holds = append(holds[:i], holds[i+1:]...)
			case 3: // a writer takes what is free
				n := q.free(len(queued))
				if n < 0 || n > len(queued) {
					t.Fatalf("free %d of %d queued", n, len(queued))
				}
				for _, h := range holds {
					if len(written)+n > h.pos {
						t.Fatalf("writer may take up to %d, past hold %d at %d", len(written)+n, h.id, h.pos)
					}
				}
				written = append(written, queued[:n]...)
				queued = queued[n:]
				q.taken += int64(n)
			}
			if q.held() != (len(holds) > 0) {
				t.Fatalf("held() = %v with %d holds pending", q.held(), len(holds))
			}
		}
		for _, h := range holds {
			q.release(h.id)
		}
		if n := q.free(len(queued)); n != len(queued) {
			t.Fatalf("all released, free %d of %d", n, len(queued))
		}
		written = append(written, queued...)
		for i, b := range written {
			if b != byte(i) {
				t.Fatalf("byte %d is %d: order broken", i, b)
			}
		}
	})
}

// pipeStore is a memory store whose ApplyAsync commits complete when the
// test says, in any order, or fail.
type pipeStore struct {
	*memory.Store
	mu      sync.Mutex
	commits []*pipeCommit
	auto    bool // commits complete at once
	added   chan struct{}
}

type pipeCommit struct {
	done chan error
}

func (c *pipeCommit) Wait() error { return <-c.done }

func newPipeStore() *pipeStore {
	return &pipeStore{Store: memory.New(), added: make(chan struct{}, 1000)}
}

func (p *pipeStore) ApplyAsync(ctx context.Context, updates ...store.Update) (store.Commit, error) {
	if err := p.Store.Apply(ctx, updates...); err != nil {
		return nil, err
	}
	c := &pipeCommit{done: make(chan error, 1)}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.auto {
		c.done <- nil
		return c, nil
	}
	p.commits = append(p.commits, c)
	select {
	case p.added <- struct{}{}:
	default:
	}
	return c, nil
}

// ordered returns the number of commits ordered so far.
func (p *pipeStore) ordered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.commits)
}

// await waits for the n-th commit (from 1) to be ordered.
func (p *pipeStore) await(t *testing.T, n int) *pipeCommit {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		p.mu.Lock()
		if len(p.commits) >= n {
			c := p.commits[n-1]
			p.mu.Unlock()
			return c
		}
		p.mu.Unlock()
		select {
		case <-p.added:
		case <-deadline:
			t.Fatalf("commit %d never ordered", n)
		}
	}
}

// completeAll completes the pending commits and every later one at once.
func (p *pipeStore) completeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.auto = true
	for _, c := range p.commits {
		select {
		case c.done <- nil:
		default:
		}
	}
}

// pipelined serves a broker on a pipeStore with a subscriber to "p" and a
// publisher of version v, which sends three QoS 1 messages "a", "b", "c";
// it returns their three commits, ordered and pending. The commits still
// pending complete when the test ends.
func pipelined(t *testing.T, v packet.Version) (pub, sub *tclient, c []*pipeCommit) {
	st := newPipeStore()
	addr, stop := runOn(t, Config{Store: st})
	t.Cleanup(func() { st.Close() })
	t.Cleanup(stop)
	t.Cleanup(st.completeAll) // before stop
	sub = dial(t, addr, v)
	sub.mustConnect("sub", v == packet.V5)
	sub.subscribe(1, "p", 1)
	pub = dial(t, addr, v)
	pub.mustConnect("pub", true)
	base := st.ordered()
	for i := range 3 {
		pub.send(&packet.Publish{Topic: "p", QoS: 1, PacketID: uint16(i + 1), Payload: []byte{'a' + byte(i)}})
	}
	// All three are ordered in the store while none is durable: the
	// reader did not wait.
	return pub, sub, []*pipeCommit{st.await(t, base+1), st.await(t, base+2), st.await(t, base+3)}
}

// A publisher's messages are committed in a pipeline: the reader orders
// the next one while earlier commits are in flight, and its PUBACKs, like
// the subscriber's PUBLISH packets, go out in order once the commits they
// depend on are durable, even when later commits complete first.
func TestPipelinedAcksInOrder(t *testing.T) {
	pub, sub, c := pipelined(t, packet.V311)
	c[2].done <- nil
	c[1].done <- nil
	pub.expectNothing(100 * time.Millisecond)
	sub.expectNothing(10 * time.Millisecond)
	c[0].done <- nil
	for i := range 3 {
		if a := pub.recvAck(packet.PUBACK); a.PacketID != uint16(i+1) {
			t.Fatalf("PUBACK %d, want %d", a.PacketID, i+1)
		}
	}
	for i := range 3 {
		p := sub.recvPublish()
		if string(p.Payload) != string(rune('a'+i)) {
			t.Fatalf("delivery %d is %q", i, p.Payload)
		}
	}
}

// When a commit fails, its PUBACK and every later one are never sent and
// the connections that depend on it close; what was durable before is
// acknowledged.
func TestPipelinedCommitFailure(t *testing.T) {
	pub, sub, c := pipelined(t, packet.V5)
	c[2].done <- nil
	c[0].done <- nil
	if a := pub.recvAck(packet.PUBACK); a.PacketID != 1 {
		t.Fatalf("PUBACK %d, want 1", a.PacketID)
	}
	if p := sub.recvPublish(); string(p.Payload) != "a" {
		t.Fatalf("got %q, want a", p.Payload)
	}
	c[1].done <- errors.New("disk on fire")
	for _, p := range pub.expectClosed() {
		if a, ok := p.(*packet.Ack); ok {
			t.Fatalf("%s %d sent after a failed commit", a.PacketType, a.PacketID)
		}
	}
	for _, p := range sub.expectClosed() {
		if pp, ok := p.(*packet.Publish); ok {
			t.Fatalf("PUBLISH %q sent after its commit failed", pp.Payload)
		}
	}
}

// failStore fails every Apply of a delivery to one client.
type failStore struct {
	*memory.Store
	client string
}

func (f *failStore) Apply(ctx context.Context, updates ...store.Update) error {
	for _, u := range updates {
		if u.ClientID == f.client {
			return fmt.Errorf("apply for %s: %w", f.client, errors.New("disk full"))
		}
	}
	return f.Store.Apply(ctx, updates...)
}

// With a store that commits synchronously, a failed Apply leaves the
// message unacknowledged and closes the publisher's connection.
func TestApplyFailureNoAck(t *testing.T) {
	st := &failStore{Store: memory.New(), client: "doomed"}
	defer st.Close()
	addr, stop := runOn(t, Config{Store: st})
	defer stop()
	sub := dial(t, addr, packet.V311)
	sub.mustConnect("doomed", false)
	sub.subscribe(1, "p", 1)
	pub := dial(t, addr, packet.V5)
	pub.mustConnect("pub", true)
	pub.send(&packet.Publish{Topic: "p", QoS: 1, PacketID: 7, Payload: []byte("x")})
	got := pub.expectClosed()
	for _, p := range got {
		if _, ok := p.(*packet.Ack); ok {
			t.Fatalf("acknowledged a message whose Apply failed: %+v", p)
		}
	}
	if len(got) == 0 || got[len(got)-1].Type() != packet.DISCONNECT {
		t.Fatalf("got %v, want DISCONNECT", got)
	}
}

// A connection taking a session over writes nothing, CONNACK included,
// before the commits still in flight for the connection it replaces are
// durable: the PUBREC of a QoS 2 PUBLISH sent again must not precede the
// write of the first one.
func TestTakeoverWaitsForCommits(t *testing.T) {
	st := newPipeStore()
	addr, stop := runOn(t, Config{Store: st})
	t.Cleanup(func() { st.Close() })
	t.Cleanup(stop)
	t.Cleanup(st.completeAll) // before stop
	sub := dial(t, addr, packet.V311)
	sub.mustConnect("sub", true)
	sub.subscribe(1, "p", 2)
	pub := dial(t, addr, packet.V311)
	pub.mustConnect("pub", false)
	base := st.ordered()
	pub.send(&packet.Publish{Topic: "p", QoS: 2, PacketID: 1, Payload: []byte("x")})
	c := st.await(t, base+1)
	again := dial(t, addr, packet.V311)
	again.send(&packet.Connect{Version: packet.V311, ClientID: "pub", KeepAlive: 60})
	again.expectNothing(100 * time.Millisecond)
	c.done <- nil
	if ack, ok := again.recv().(*packet.Connack); !ok || !ack.SessionPresent {
		t.Fatalf("got %+v, want CONNACK with the session present", ack)
	}
	again.send(&packet.Publish{Topic: "p", QoS: 2, PacketID: 1, Dup: true, Payload: []byte("x")})
	again.recvAck(packet.PUBREC)
}
