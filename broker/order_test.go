package broker

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/store/memory"
)

// gateAuthorizer holds the first PUBLISH authorized once armed until
// released: the reader that handles it stops between reading the packet and
// handing it to the session.
type gateAuthorizer struct {
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (g *gateAuthorizer) Allow(_ context.Context, _ auth.ClientInfo, a auth.Action, _ string) bool {
	if a == auth.Publish && g.armed.CompareAndSwap(true, false) {
		close(g.entered)
		<-g.release
	}
	return true
}

// A QoS 1 PUBLISH read by a connection that is taken over before it reaches
// the session is accepted by the session of the new connection; the next
// PUBLISH on the new connection must be routed after it: the messages of
// one publisher reach a subscriber in the order they were accepted
// [MQTT-4.6.0-6] [MQTT5-4.6.0-5].
func TestDurablePublishOrderAcrossTakeover_MQTT_4_6_0_6(t *testing.T) {
	st := memory.New()
	defer st.Close()
	g := &gateAuthorizer{entered: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(g.release) }) }
	defer release()
	s, addr := startServer(t, Config{Store: st, Authorizer: g})
	defer release() // before the server's shutdown, also when the test fails

	sub := dial(t, addr, packet.V311)
	sub.mustConnect("sub", false)
	sub.subscribe(1, "o", 1)

	a := dial(t, addr, packet.V311)
	a.mustConnect("pub", false)
	g.armed.Store(true)
	a.send(&packet.Publish{Topic: "o", QoS: 1, PacketID: 1, Payload: []byte("1")})
	select {
	case <-g.entered:
	case <-time.After(waitFor):
		t.Fatal("the PUBLISH was never authorized")
	}
	// Take the session over while the first connection's reader holds
	// the PUBLISH; its CONNACK waits for that reader's commits.
	s.mu.Lock()
	cl := s.clients["pub"]
	s.mu.Unlock()
	gen0 := func() uint64 { cl.mu.Lock(); defer cl.mu.Unlock(); return cl.gen }()
	b := dial(t, addr, packet.V311)
	b.send(&packet.Connect{Version: packet.V311, ClientID: "pub", KeepAlive: 60})
	eventually(t, "takeover", func() bool {
		cl.mu.Lock()
		defer cl.mu.Unlock()
		return cl.gen != gen0
	})
	release()
	if ack, ok := b.recv().(*packet.Connack); !ok || !ack.SessionPresent {
		t.Fatalf("got %+v, want CONNACK with the session present", ack)
	}
	// The session accepted message 1 from the old connection: its PUBACK
	// comes on the new one, and the client goes on with message 2.
	b.recvAck(packet.PUBACK)
	b.send(&packet.Publish{Topic: "o", QoS: 1, PacketID: 2, Payload: []byte("2")})
	b.recvAck(packet.PUBACK)

	for _, want := range []string{"1", "2"} {
		p := sub.recvPublish()
		if string(p.Payload) != want {
			t.Fatalf("subscriber got message %q, want %q", p.Payload, want)
		}
		sub.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: p.PacketID})
	}
}
