package broker

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/memory"
)

// runOn serves a new server with cfg on a loopback listener; stop shuts it
// down.
func runOn(t *testing.T, cfg Config) (addr string, stop func()) {
	t.Helper()
	cfg.Logger = testLogger()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}
}

// With a Store, a persistent session survives a restart of the server
// [MQTT-3.1.2-4]: its subscriptions, its queued messages and the retained
// messages.
func TestSessionSurvivesRestartWithStore_MQTT_3_1_2_4(t *testing.T) {
	st := memory.New()
	defer st.Close()
	addr, stop := runOn(t, Config{Store: st})
	sub := dial(t, addr, packet.V311)
	sub.mustConnect("durable", false)
	sub.subscribe(1, "p/#", 1)
	sub.disconnect()
	pub := dial(t, addr, packet.V311)
	pub.mustConnect("pub", true)
	for i := range 3 {
		pub.send(&packet.Publish{Topic: "p/q", QoS: 1, PacketID: uint16(i + 1), Payload: []byte{'a' + byte(i)}})
		pub.recvAck(packet.PUBACK)
	}
	pub.send(&packet.Publish{Topic: "p/r", Retain: true, QoS: 1, PacketID: 9, Payload: []byte("kept")})
	pub.recvAck(packet.PUBACK)
	pub.disconnect()
	stop()

	addr, stop = runOn(t, Config{Store: st})
	defer stop()
	sub = dial(t, addr, packet.V311)
	if ack := sub.mustConnect("durable", false); !ack.SessionPresent {
		t.Fatal("session not present after restart")
	}
	var got []string
	for range 4 {
		p := sub.recvPublish()
		got = append(got, string(p.Payload))
		sub.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: p.PacketID})
	}
	if got[0] != "a" || got[1] != "b" || got[2] != "c" || got[3] != "kept" {
		t.Fatalf("got %q, want a, b, c, kept", got)
	}
	sub.expectNothing(100 * time.Millisecond)
	// The subscription was restored: new messages arrive too.
	pub = dial(t, addr, packet.V311)
	pub.mustConnect("pub", true)
	pub.send(&packet.Publish{Topic: "p/new", Payload: []byte("live")})
	if p := sub.recvPublish(); string(p.Payload) != "live" {
		t.Fatalf("got %+v", p)
	}
	late := dial(t, addr, packet.V311)
	late.mustConnect("late", true)
	late.subscribe(1, "p/r", 0)
	if p := late.recvPublish(); !p.Retain || string(p.Payload) != "kept" {
		t.Fatalf("retained after restart: %+v", p)
	}
}

// [MQTT5-3.1.2-23] the session is kept after the connection closes, until
// its Session Expiry Interval passes; then it is removed.
func TestSessionExpiry_MQTT5_3_1_2_23(t *testing.T) {
	s, addr := startServer(t, Config{})
	c := dial(t, addr, packet.V5)
	c.mustConnect("exp", false, withProps(func(p *packet.Properties) {
		p.SessionExpiry = 1
		p.Set(packet.PropSessionExpiry)
	}))
	c.subscribe(1, "e", 0)
	c.disconnect()
	if s.Stats().Sessions != 1 {
		t.Fatalf("sessions %d, want 1 right after disconnect", s.Stats().Sessions)
	}
	eventually(t, "session expired", func() bool { return s.Stats().Sessions == 0 && s.Stats().Subscriptions == 0 })
	c = dial(t, addr, packet.V5)
	if ack := c.mustConnect("exp", false); ack.SessionPresent {
		t.Fatal("expired session still present")
	}
	c.disconnect()
}

// With a Store, in-flight QoS 2 state survives a restart: an outbound
// PUBLISH not yet acknowledged is sent again with DUP set and the same
// packet identifier [MQTT-4.4.0-1] [MQTT-3.3.1-1], and an inbound one
// awaiting PUBREL is completed without a second delivery [MQTT-4.3.3-2].
func TestQoS2StateSurvivesRestart_MQTT_4_4_0_1(t *testing.T) {
	st := memory.New()
	defer st.Close()
	addr, stop := runOn(t, Config{Store: st})
	sub := dial(t, addr, packet.V311)
	sub.mustConnect("sub2", false)
	sub.subscribe(1, "x", 2)
	pub := dial(t, addr, packet.V311)
	pub.mustConnect("pub2", false)
	pub.send(&packet.Publish{Topic: "x", QoS: 2, PacketID: 5, Payload: []byte("once")})
	pub.recvAck(packet.PUBREC)
	first := sub.recvPublish() // not acknowledged
	// A second message from pub stays awaiting PUBREL across the restart.
	pub.send(&packet.Publish{Topic: "x", QoS: 2, PacketID: 6, Payload: []byte("twice?")})
	pub.recvAck(packet.PUBREC)
	stop()

	addr, stop = runOn(t, Config{Store: st})
	defer stop()
	sub = dial(t, addr, packet.V311)
	if ack := sub.mustConnect("sub2", false); !ack.SessionPresent {
		t.Fatal("subscriber session not present after restart")
	}
	// Both flows were in flight: both are resent, in order, with DUP set.
	again := sub.recvPublish()
	if !again.Dup || again.PacketID != first.PacketID || string(again.Payload) != "once" {
		t.Fatalf("resent %+v, want DUP and packet identifier %d", again, first.PacketID)
	}
	second := sub.recvPublish()
	if string(second.Payload) != "twice?" {
		t.Fatalf("got %+v", second)
	}
	for _, p := range []*packet.Publish{again, second} {
		sub.send(&packet.Ack{PacketType: packet.PUBREC, PacketID: p.PacketID})
		sub.recvAck(packet.PUBREL)
		sub.send(&packet.Ack{PacketType: packet.PUBCOMP, PacketID: p.PacketID})
	}

	pub = dial(t, addr, packet.V311)
	if ack := pub.mustConnect("pub2", false); !ack.SessionPresent {
		t.Fatal("publisher session not present after restart")
	}
	// The publisher resends the PUBLISH (it saw PUBREC, so it sends PUBREL).
	pub.send(&packet.Ack{PacketType: packet.PUBREL, PacketID: 5})
	pub.recvAck(packet.PUBCOMP)
	pub.send(&packet.Ack{PacketType: packet.PUBREL, PacketID: 6})
	pub.recvAck(packet.PUBCOMP)
	sub.expectNothing(200 * time.Millisecond) // no second copy
}

// gatedStore holds the Apply calls of one client until released.
type gatedStore struct {
	*memory.Store
	client  string
	entered chan struct{}
	release chan struct{}
}

func (g *gatedStore) Apply(ctx context.Context, updates ...store.Update) error {
	for _, u := range updates {
		if u.ClientID != g.client {
			continue
		}
		for _, ch := range u.Changes {
			if ch.Kind == session.ChangeInflight {
				select {
				case g.entered <- struct{}{}:
				default:
				}
				<-g.release
			}
		}
	}
	return g.Store.Apply(ctx, updates...)
}

// With a Store, a QoS 1 PUBLISH is acknowledged only once its delivery to
// every subscriber is persisted: while a subscriber's Apply is held, the
// publisher gets no PUBACK.
func TestPubackAfterFanOutPersisted(t *testing.T) {
	st := &gatedStore{Store: memory.New(), client: "held", entered: make(chan struct{}, 1), release: make(chan struct{})}
	defer st.Close()
	addr, stop := runOn(t, Config{Store: st})
	defer stop()
	var once sync.Once
	release := func() { once.Do(func() { close(st.release) }) }
	defer release() // before stop, also when the test fails
	sub := dial(t, addr, packet.V311)
	sub.mustConnect("held", false)
	sub.subscribe(1, "f", 1)
	pub := dial(t, addr, packet.V311)
	pub.mustConnect("pub", true)
	pub.send(&packet.Publish{Topic: "f", QoS: 1, PacketID: 1, Payload: []byte("x")})
	select {
	case <-st.entered:
	case <-time.After(waitFor):
		t.Fatal("the subscriber's delivery was never persisted")
	}
	pub.expectNothing(100 * time.Millisecond) // no PUBACK while the Apply is held
	release()
	pub.recvAck(packet.PUBACK)
	if p := sub.recvPublish(); string(p.Payload) != "x" {
		t.Fatalf("got %+v", p)
	}
}
