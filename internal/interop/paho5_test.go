package interop

import (
	"context"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// client5 is a connected paho.golang (MQTT 5) client with the messages it
// received on msgs and the DISCONNECT the server sent on disc.
type client5 struct {
	*paho.Client
	conn net.Conn
	msgs chan *paho.Publish
	disc chan *paho.Disconnect
	ack  *paho.Connack
}

// connect5 dials addr and connects with cp (ClientID and KeepAlive filled
// in when empty). The client is disconnected when the test ends, and the
// test waits for its goroutines.
func connect5(t *testing.T, addr string, cp *paho.Connect) *client5 {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &client5{conn: nc, msgs: make(chan *paho.Publish, 100), disc: make(chan *paho.Disconnect, 1)}
	c.Client = paho.NewClient(paho.ClientConfig{
		ClientID: cp.ClientID,
		Conn:     nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { c.disc <- d },
		PacketTimeout:      wait,
	})
	if cp.KeepAlive == 0 {
		cp.KeepAlive = 30
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c.ack, err = c.Connect(ctx, cp)
	if err != nil {
		nc.Close()
		t.Fatalf("%s: connect: %v (CONNACK %+v)", cp.ClientID, err, c.ack)
	}
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
		recv(t, c.Done(), "the client to stop")
	})
	return c
}

func u32(v uint32) *uint32 { return &v }

// sub subscribes and returns the SUBACK, refusals included (Paho reports
// them as an error along with the SUBACK).
func (c *client5) sub(t *testing.T, s *paho.Subscribe) *paho.Suback {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sa, err := c.Subscribe(ctx, s)
	if sa == nil {
		t.Fatalf("subscribe: %v", err)
	}
	return sa
}

// sub1 subscribes to one filter and checks the granted QoS.
func (c *client5) sub1(t *testing.T, filter string, qos byte) {
	t.Helper()
	sa := c.sub(t, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if !slices.Equal(sa.Reasons, []byte{qos}) {
		t.Fatalf("subscribe %q QoS %d: reason codes %v", filter, qos, sa.Reasons)
	}
}

func (c *client5) pub(t *testing.T, p *paho.Publish) *paho.PublishResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	r, err := c.Publish(ctx, p)
	if err != nil {
		t.Fatalf("publish %q: %v", p.Topic, err)
	}
	return r
}

func (c *client5) next(t *testing.T) *paho.Publish {
	t.Helper()
	return recv(t, c.msgs, "a message")
}

// expect checks topic, payload, QoS and RETAIN of the next message and
// returns it.
func (c *client5) expect(t *testing.T, topic, payload string, qos byte, retain bool) *paho.Publish {
	t.Helper()
	m := c.next(t)
	if m.Topic != topic || string(m.Payload) != payload || m.QoS != qos || m.Retain != retain {
		t.Fatalf("received %q %q QoS %d retain %v; want %q %q QoS %d retain %v",
			m.Topic, m.Payload, m.QoS, m.Retain, topic, payload, qos, retain)
	}
	return m
}

// barrier has from publish a marker to topic (which c subscribes to) and
// fails if any message arrives at c before it (see client311.barrier).
func (c *client5) barrier(t *testing.T, from *client5, topic string) {
	t.Helper()
	from.pub(t, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("marker")})
	if m := c.next(t); m.Topic != topic || string(m.Payload) != "marker" {
		t.Fatalf("before the marker: received %q %q", m.Topic, m.Payload)
	}
}

// quiet checks that no message arrives for a short while.
func (c *client5) quiet(t *testing.T) {
	t.Helper()
	select {
	case m := <-c.msgs:
		t.Fatalf("unexpected message %q %q", m.Topic, m.Payload)
	case <-time.After(quietPeriod):
	}
}

// TestPaho5QoS: QoS 0, 1, 2 both ways, delivery at the lower of the two
// [MQTT5-3.8.4-8], and the PUBACK/PUBREC reason codes.
func TestPaho5QoS(t *testing.T) {
	_, addr := startBroker(t)
	sub := connect5(t, addr, &paho.Connect{ClientID: "sub", CleanStart: true})
	pub := connect5(t, addr, &paho.Connect{ClientID: "pub", CleanStart: true})
	for s := byte(0); s <= 2; s++ {
		sub.sub1(t, fmt.Sprintf("q/%d", s), s)
	}
	for p := byte(0); p <= 2; p++ {
		for s := byte(0); s <= 2; s++ {
			topic := fmt.Sprintf("q/%d", s)
			payload := fmt.Sprintf("pub QoS %d to sub QoS %d", p, s)
			r := pub.pub(t, &paho.Publish{Topic: topic, QoS: p, Payload: []byte(payload)})
			if p > 0 && r.ReasonCode != 0 {
				t.Errorf("QoS %d publish with a subscriber: reason code 0x%02x, want 0", p, r.ReasonCode)
			}
			sub.expect(t, topic, payload, min(p, s), false)
		}
	}
	// No subscriber: Success or No matching subscribers (0x10).
	for p := byte(1); p <= 2; p++ {
		r := pub.pub(t, &paho.Publish{Topic: "nobody/here", QoS: p, Payload: []byte("x")})
		if r.ReasonCode != 0 && r.ReasonCode != 0x10 {
			t.Errorf("QoS %d publish without subscribers: reason code 0x%02x", p, r.ReasonCode)
		}
	}
}

// TestPaho5ReasonCodes checks SUBACK and UNSUBACK reason codes.
func TestPaho5ReasonCodes(t *testing.T) {
	_, addr := startBroker(t)
	c := connect5(t, addr, &paho.Connect{ClientID: "codes", CleanStart: true})
	if c.ack.ReasonCode != 0 || c.ack.SessionPresent {
		t.Fatalf("CONNACK %+v", c.ack)
	}
	sa := c.sub(t, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "a/b", QoS: 2},
		{Topic: "a/#/b", QoS: 1}, // '#' not last: invalid [MQTT5-4.7.1-1]
		{Topic: "c/+", QoS: 0},
	}})
	if want := []byte{0x02, 0x8F, 0x00}; !slices.Equal(sa.Reasons, want) {
		t.Errorf("SUBACK reason codes % x, want % x", sa.Reasons, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ua, err := c.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{"a/b", "never/subscribed"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x00, 0x11}; !slices.Equal(ua.Reasons, want) {
		t.Errorf("UNSUBACK reason codes % x, want % x", ua.Reasons, want)
	}
}

// TestPaho5PropertiesPassThrough: user properties (order and repeats),
// response topic, correlation data, content type and payload format reach
// the subscriber unaltered [MQTT5-3.3.2-4] [MQTT5-3.3.2-15]
// [MQTT5-3.3.2-16] [MQTT5-3.3.2-17] [MQTT5-3.3.2-18] [MQTT5-3.3.2-20].
func TestPaho5PropertiesPassThrough(t *testing.T) {
	_, addr := startBroker(t)
	sub := connect5(t, addr, &paho.Connect{ClientID: "sub", CleanStart: true})
	sub.sub1(t, "req/#", 1)
	pub := connect5(t, addr, &paho.Connect{ClientID: "pub", CleanStart: true})
	format := byte(1)
	user := paho.UserProperties{{Key: "k", Value: "1"}, {Key: "a", Value: "x"}, {Key: "k", Value: "2"}}
	pub.pub(t, &paho.Publish{Topic: "req/1", QoS: 1, Payload: []byte(`{"q":1}`), Properties: &paho.PublishProperties{
		ResponseTopic: "resp/1", CorrelationData: []byte{0, 1, 0xFE}, ContentType: "application/json",
		PayloadFormat: &format, User: user,
	}})
	m := sub.expect(t, "req/1", `{"q":1}`, 1, false)
	p := m.Properties
	if p == nil {
		t.Fatal("no properties")
	}
	if p.ResponseTopic != "resp/1" || !slices.Equal(p.CorrelationData, []byte{0, 1, 0xFE}) || p.ContentType != "application/json" {
		t.Errorf("response topic %q, correlation data %x, content type %q", p.ResponseTopic, p.CorrelationData, p.ContentType)
	}
	if p.PayloadFormat == nil || *p.PayloadFormat != 1 {
		t.Errorf("payload format %v, want 1", p.PayloadFormat)
	}
	if !slices.Equal(p.User, user) {
		t.Errorf("user properties %v, want %v", p.User, user)
	}
}

// TestPaho5SubscriptionIdentifiers: a message carries the identifier of
// the subscription it matched [MQTT5-3.3.4-3].
func TestPaho5SubscriptionIdentifiers(t *testing.T) {
	_, addr := startBroker(t)
	sub := connect5(t, addr, &paho.Connect{ClientID: "sub", CleanStart: true})
	for _, s := range []struct {
		filter string
		id     int
	}{{"ids/a/#", 7}, {"ids/b/+", 268435455}} {
		id := s.id
		sa := sub.sub(t, &paho.Subscribe{Properties: &paho.SubscribeProperties{SubscriptionIdentifier: &id},
			Subscriptions: []paho.SubscribeOptions{{Topic: s.filter, QoS: 1}}})
		if !slices.Equal(sa.Reasons, []byte{1}) {
			t.Fatalf("subscribe %q: reason codes % x", s.filter, sa.Reasons)
		}
	}
	sub.sub1(t, "ids/none", 1)
	pub := connect5(t, addr, &paho.Connect{ClientID: "pub", CleanStart: true})
	for _, c := range []struct {
		topic string
		id    int // 0: none
	}{{"ids/a/x/y", 7}, {"ids/b/z", 268435455}, {"ids/none", 0}} {
		pub.pub(t, &paho.Publish{Topic: c.topic, QoS: 1, Payload: []byte("x")})
		m := sub.expect(t, c.topic, "x", 1, false)
		var got *int
		if m.Properties != nil {
			got = m.Properties.SubscriptionIdentifier
		}
		switch {
		case c.id == 0 && got != nil:
			t.Errorf("%s: subscription identifier %d, want none", c.topic, *got)
		case c.id != 0 && (got == nil || *got != c.id):
			t.Errorf("%s: subscription identifier %v, want %d", c.topic, got, c.id)
		}
	}
}

// TestPaho5Retained sets, replaces and clears a retained message
// [MQTT5-3.3.1-5] [MQTT5-3.3.1-6] [MQTT5-3.3.1-7].
func TestPaho5Retained(t *testing.T) {
	_, addr := startBroker(t)
	pub := connect5(t, addr, &paho.Connect{ClientID: "pub", CleanStart: true})
	// pub waits for its own copies to know the retained message is stored.
	pub.sub1(t, "r/t", 1)
	pub.pub(t, &paho.Publish{Topic: "r/t", QoS: 1, Retain: true, Payload: []byte("v1")})
	pub.expect(t, "r/t", "v1", 1, false)
	pub.pub(t, &paho.Publish{Topic: "r/t", QoS: 1, Retain: true, Payload: []byte("v2")})
	pub.expect(t, "r/t", "v2", 1, false)
	s1 := connect5(t, addr, &paho.Connect{ClientID: "s1", CleanStart: true})
	s1.sub1(t, "r/#", 1)
	s1.expect(t, "r/t", "v2", 1, true)
	s1.barrier(t, s1, "r/marker")

	pub.pub(t, &paho.Publish{Topic: "r/t", QoS: 0, Retain: true})
	s1.expect(t, "r/t", "", 0, false)
	s2 := connect5(t, addr, &paho.Connect{ClientID: "s2", CleanStart: true})
	s2.sub1(t, "r/#", 1)
	s2.barrier(t, s2, "r/marker")
}

// TestPaho5Will: the will is published when the connection breaks
// [MQTT5-3.1.2-8], with its properties, and after DISCONNECT 0x04
// (Disconnect with Will Message); not after a normal DISCONNECT
// [MQTT5-3.14.4-3].
func TestPaho5Will(t *testing.T) {
	srv, addr := startBroker(t)
	sub := connect5(t, addr, &paho.Connect{ClientID: "sub", CleanStart: true})
	sub.sub1(t, "will/#", 2)
	withWill := func(id string) *paho.Connect {
		return &paho.Connect{ClientID: id, CleanStart: true,
			WillMessage:    &paho.WillMessage{Topic: "will/" + id, QoS: 1, Payload: []byte("gone " + id)},
			WillProperties: &paho.WillProperties{User: paho.UserProperties{{Key: "who", Value: id}}},
		}
	}

	broken := connect5(t, addr, withWill("broken"))
	broken.conn.Close()
	m := sub.expect(t, "will/broken", "gone broken", 1, false)
	if m.Properties == nil || !slices.Equal(m.Properties.User, paho.UserProperties{{Key: "who", Value: "broken"}}) {
		t.Errorf("will user properties: %+v", m.Properties)
	}

	d4 := connect5(t, addr, withWill("d4"))
	if err := d4.Disconnect(&paho.Disconnect{ReasonCode: 0x04}); err != nil {
		t.Fatal(err)
	}
	sub.expect(t, "will/d4", "gone d4", 1, false)

	eventually(t, "only sub connected", func() bool { return srv.Stats().Clients == 1 })
	normal := connect5(t, addr, withWill("normal"))
	if err := normal.Disconnect(&paho.Disconnect{ReasonCode: 0}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "normal to be gone", func() bool { return srv.Stats().Clients == 1 })
	sub.barrier(t, sub, "will/marker")
	sub.quiet(t)
}

// TestPaho5PersistentSession: with Clean Start 0 and a Session Expiry
// Interval, messages published while the client is away are delivered
// when it comes back [MQTT5-3.1.2-5] [MQTT5-3.2.2-3].
func TestPaho5PersistentSession(t *testing.T) {
	srv, addr := startBroker(t)
	cp := func() *paho.Connect {
		return &paho.Connect{ClientID: "keeper", CleanStart: false,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(300)}}
	}
	s := connect5(t, addr, cp())
	if s.ack.SessionPresent {
		t.Fatal("new session: session present 1")
	}
	s.sub1(t, "p/#", 2)
	if err := s.Disconnect(&paho.Disconnect{ReasonCode: 0}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the session to go offline", func() bool { return srv.Stats().Clients == 0 })

	pub := connect5(t, addr, &paho.Connect{ClientID: "pub", CleanStart: true})
	pub.pub(t, &paho.Publish{Topic: "p/1", QoS: 1, Payload: []byte("one")})
	pub.pub(t, &paho.Publish{Topic: "p/2", QoS: 2, Payload: []byte("two"),
		Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: "k", Value: "v"}}}})

	s2 := connect5(t, addr, cp())
	if !s2.ack.SessionPresent {
		t.Fatal("reconnection: session present 0")
	}
	s2.expect(t, "p/1", "one", 1, false)
	m := s2.expect(t, "p/2", "two", 2, false)
	if m.Properties == nil || !slices.Equal(m.Properties.User, paho.UserProperties{{Key: "k", Value: "v"}}) {
		t.Errorf("queued message lost its user property: %+v", m.Properties)
	}
}

// TestPaho5Takeover: a second connection with the same Client Identifier
// makes the server send DISCONNECT 0x8E (Session taken over) to the first
// [MQTT5-3.1.4-3].
func TestPaho5Takeover(t *testing.T) {
	_, addr := startBroker(t)
	first := connect5(t, addr, &paho.Connect{ClientID: "same", CleanStart: true})
	second := connect5(t, addr, &paho.Connect{ClientID: "same", CleanStart: true})
	d := recv(t, first.disc, "DISCONNECT to the first connection")
	if d.ReasonCode != 0x8E {
		t.Errorf("DISCONNECT reason code 0x%02x, want 0x8E", d.ReasonCode)
	}
	recv(t, first.Done(), "the first client to stop")
	second.sub1(t, "t/x", 1)
	second.pub(t, &paho.Publish{Topic: "t/x", QoS: 1, Payload: []byte("still here")})
	second.expect(t, "t/x", "still here", 1, false)
}
