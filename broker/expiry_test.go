package broker

import (
	"context"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/memory"
)

func withExpiry(secs uint32) func(*packet.Properties) {
	return func(p *packet.Properties) {
		p.MessageExpiry = secs
		p.Set(packet.PropMessageExpiry)
	}
}

func withSessionExpiry(secs uint32) connectOpt {
	return withProps(func(p *packet.Properties) {
		p.SessionExpiry = secs
		p.Set(packet.PropSessionExpiry)
	})
}

// [MQTT5-3.3.2-6]: a forwarded message carries the remaining Message
// Expiry Interval, live and retained; [MQTT5-3.3.2-5]: a message whose
// interval passed while queued for an offline session, or while retained,
// is not sent. The session's Session Expiry Interval passes too
// [MQTT5-3.1.2-23]: the session is gone.
func TestMessageExpiry_MQTT5_3_3_2_5(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, Config{})
	sub := dial(t, addr, packet.V5)
	sub.mustConnect("exp-sub", true, withSessionExpiry(300))
	sub.subscribe(1, "e/#", 1)
	short := dial(t, addr, packet.V5)
	short.mustConnect("exp-short", false, withSessionExpiry(1))
	short.subscribe(1, "e/#", 1)
	short.disconnect()

	pub := dial(t, addr, packet.V5)
	pub.mustConnect("exp-pub", true)
	send := func(id uint16, topic string, retain bool, expiry uint32) {
		p := &packet.Publish{Topic: topic, QoS: 1, PacketID: id, Retain: retain, Payload: []byte(topic)}
		withExpiry(expiry)(&p.Properties)
		pub.send(p)
		pub.recvAck(packet.PUBACK)
	}
	send(1, "e/live", false, 100)
	p := sub.recvPublish()
	if !p.Properties.Has(packet.PropMessageExpiry) || p.Properties.MessageExpiry == 0 || p.Properties.MessageExpiry > 100 {
		t.Fatalf("live: Message Expiry %d (present %v), want 1..100", p.Properties.MessageExpiry, p.Properties.Has(packet.PropMessageExpiry))
	}
	sub.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: p.PacketID})
	sub.disconnect()

	t0 := time.Now()
	send(2, "e/short", false, 1)
	send(3, "e/long", false, 100)
	send(4, "e/ret-short", true, 1)
	send(5, "e/ret-long", true, 100)
	// Wait for the one-second intervals to pass.
	eventually(t, "two seconds", func() bool { return time.Since(t0) > 2*time.Second })

	back := dial(t, addr, packet.V5)
	if ack := back.mustConnect("exp-sub", false, withSessionExpiry(300)); !ack.SessionPresent {
		t.Fatal("session not present")
	}
	var got []string
	for range 2 {
		p := back.recvPublish()
		got = append(got, p.Topic)
		if p.Properties.MessageExpiry == 0 || p.Properties.MessageExpiry > 99 {
			t.Errorf("%s: Message Expiry %d, want 1..99", p.Topic, p.Properties.MessageExpiry)
		}
		back.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: p.PacketID})
	}
	if got[0] != "e/long" || got[1] != "e/ret-long" {
		t.Fatalf("got %v, want [e/long e/ret-long]", got)
	}
	back.expectNothing(50 * time.Millisecond)
	back.subscribe(2, "e/+", 1) // retained: only the unexpired one
	if p := back.recvPublish(); p.Topic != "e/ret-long" || !p.Retain || p.Properties.MessageExpiry > 99 {
		t.Fatalf("retained: got %s retain %v expiry %d", p.Topic, p.Retain, p.Properties.MessageExpiry)
	}
	back.expectNothing(50 * time.Millisecond)

	gone := dial(t, addr, packet.V5)
	if ack := gone.mustConnect("exp-short", false, withSessionExpiry(1)); ack.SessionPresent {
		t.Fatal("a session past its Session Expiry Interval is present")
	}
	gone.expectNothing(50 * time.Millisecond)
}

// [MQTT5-3.14.2-2]: DISCONNECT with a Session Expiry Interval after CONNECT
// set 0 is a protocol error.
func TestDisconnectSessionExpiry_MQTT5_3_14_2_2(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, Config{})
	c := dial(t, addr, packet.V5)
	c.mustConnect("zero", true)
	d := &packet.Disconnect{}
	d.Properties.SessionExpiry = 60
	d.Properties.Set(packet.PropSessionExpiry)
	c.send(d)
	c.expectDisconnect(packet.ProtocolError)

	// Non-zero to another value is allowed: the session is kept.
	c = dial(t, addr, packet.V5)
	c.mustConnect("some", true, withSessionExpiry(10))
	d.Properties.SessionExpiry = 300
	c.send(d)
	c.expectClosed()
	c = dial(t, addr, packet.V5)
	if ack := c.mustConnect("some", false, withSessionExpiry(10)); !ack.SessionPresent {
		t.Fatal("session not kept")
	}
}

// Config.MaxSessionExpiry caps the interval a client asks for; the CONNACK
// tells the client the interval in force [MQTT5-3.2.2-3].
func TestMaxSessionExpiry(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, Config{MaxSessionExpiry: 20 * time.Second})
	c := dial(t, addr, packet.V5)
	ack := c.mustConnect("cap", true, withSessionExpiry(3600))
	if !ack.Properties.Has(packet.PropSessionExpiry) || ack.Properties.SessionExpiry != 20 {
		t.Fatalf("CONNACK Session Expiry %d, want 20", ack.Properties.SessionExpiry)
	}
}

// Config.PersistentClientExpiration: a 3.1.1 persistent session is stored
// with its queued messages after the connection ends [MQTT-3.1.2-5], never
// expiring by default; with the option, a session restored from the Store
// takes the expiry in force and, once it passes, the session, its
// subscriptions and its queue are removed, from the Store too. A session
// created under the option expires the same way.
func TestPersistentClientExpiration(t *testing.T) {
	st := memory.New()
	defer st.Close()
	ctx := context.Background()
	queueFor := func(addr, id string) {
		t.Helper()
		sub := dial(t, addr, packet.V311)
		sub.mustConnect(id, false)
		sub.subscribe(1, "pce/#", 1)
		sub.disconnect()
		pub := dial(t, addr, packet.V311)
		pub.mustConnect("pub", true)
		pub.send(&packet.Publish{Topic: "pce/x", QoS: 1, PacketID: 1, Payload: []byte("queued")})
		pub.recvAck(packet.PUBACK)
		pub.disconnect()
	}
	stored := func(id string) (rec store.SessionRecord, queued int, ok bool) {
		t.Helper()
		recs, err := st.LoadSessions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.ClientID == id {
				s, err := st.LoadState(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				return r, len(s.Queue) + len(s.Inflight), true
			}
		}
		return rec, 0, false
	}

	addr, stop := runOn(t, Config{Store: st})
	queueFor(addr, "old")
	stop()
	if rec, n, ok := stored("old"); !ok || rec.ExpiryInterval != store.NeverExpire || n != 1 {
		t.Fatalf("default: stored %v expiry %#x, %d queued; want a never-expiring session with 1 queued", ok, rec.ExpiryInterval, n)
	}

	s, addr := startServer(t, Config{Store: st, PersistentClientExpiration: 300 * time.Millisecond})
	if s.Stats().Sessions != 1 {
		t.Fatalf("sessions %d after restart, want 1", s.Stats().Sessions)
	}
	queueFor(addr, "new")
	if rec, n, ok := stored("new"); !ok || rec.ExpiryInterval != 1 || n != 1 {
		t.Fatalf("stored %v expiry %d, %d queued; want expiry 1 (rounded up) with 1 queued", ok, rec.ExpiryInterval, n)
	}
	eventually(t, "sessions expired", func() bool {
		st := s.Stats()
		return st.Sessions == 0 && st.Subscriptions == 0
	})
	for _, id := range []string{"old", "new"} {
		if _, _, ok := stored(id); ok {
			t.Errorf("session %q still in the store", id)
		}
		if state, err := st.LoadState(ctx, id); err != nil || len(state.Queue)+len(state.Inflight) != 0 {
			t.Errorf("state of %q after expiry: %+v, %v", id, state, err)
		}
		c := dial(t, addr, packet.V311)
		if ack := c.mustConnect(id, false); ack.SessionPresent {
			t.Errorf("expired session %q present", id)
		}
		c.expectNothing(50 * time.Millisecond) // its queue is gone
		c.disconnect()
	}
}
