package broker

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
)

// Normative statements of MQTT 5.0 that have no 3.1.1 counterpart.

func subscribeOpts(c *tclient, id uint16, filter string, o packet.SubOptions, subID uint32) {
	c.t.Helper()
	s := &packet.Subscribe{PacketID: id, Subscriptions: []packet.Subscription{{Filter: filter, Options: o}}}
	if subID != 0 {
		s.Properties.SubscriptionIDs = []uint32{subID}
	}
	c.send(s)
	if sa, ok := c.recv().(*packet.Suback); !ok || sa.PacketID != id || sa.ReasonCodes[0] >= 0x80 {
		c.t.Fatalf("got %+v, want SUBACK %d granting", sa, id)
	}
}

// [MQTT5-3.1.2-10] the will is removed on DISCONNECT 0x00, and once
// published it is not published again.
func TestWillRemoved_MQTT5_3_1_2_10(t *testing.T) {
	_, addr := startServer(t, Config{})
	sub := dial(t, addr, packet.V5)
	sub.mustConnect("watcher", true)
	sub.subscribe(1, "will/#", 0)
	c := dial(t, addr, packet.V5)
	c.mustConnect("normal", true, withWill("will/normal", "n", 0, false))
	c.send(&packet.Disconnect{ReasonCode: packet.Success})
	c.expectClosed()
	d := dial(t, addr, packet.V5)
	d.mustConnect("delayed", false, withSessionExpiry(60), withWill("will/delayed", "d", 0, false))
	d.drop()
	if p := sub.recvPublish(); p.Topic != "will/delayed" {
		t.Fatalf("got %s, want only will/delayed", p.Topic)
	}
	// The session goes on without a will: taking it over and dropping the
	// connection again publishes nothing.
	d = dial(t, addr, packet.V5)
	if ca := d.mustConnect("delayed", false, withSessionExpiry(60)); !ca.SessionPresent {
		t.Fatal("session lost")
	}
	d.drop()
	sub.expectNothing(150 * time.Millisecond)
}

// [MQTT5-3.1.3-6] [MQTT5-3.1.3-7] an empty client identifier gets a unique
// one, returned as Assigned Client Identifier, which then names the session.
func TestAssignedClientID_MQTT5_3_1_3_7(t *testing.T) {
	_, addr := startServer(t, Config{})
	ids := map[string]bool{}
	var first string
	for range 3 {
		c := dial(t, addr, packet.V5)
		ca := c.mustConnect("", false, withSessionExpiry(60))
		id := ca.Properties.AssignedClientID
		if !ca.Properties.Has(packet.PropAssignedClientID) || id == "" || ids[id] {
			t.Fatalf("Assigned Client Identifier %q (seen %v)", id, ids)
		}
		ids[id] = true
		if first == "" {
			first = id
			c.subscribe(1, "assigned", 1)
		}
		c.disconnect()
	}
	c := dial(t, addr, packet.V5)
	if ca := c.mustConnect(first, false, withSessionExpiry(60)); !ca.SessionPresent || ca.Properties.Has(packet.PropAssignedClientID) {
		t.Fatalf("CONNACK %+v: want the session of %s, no assigned identifier", ca, first)
	}
	c.send(&packet.Publish{Topic: "assigned", Payload: []byte("x")})
	if p := c.recvPublish(); p.Topic != "assigned" {
		t.Fatalf("got %s", p.Topic)
	}
}

// [MQTT5-3.1.3-10] the User Properties of a will keep their order.
func TestWillUserPropertyOrder_MQTT5_3_1_3_10(t *testing.T) {
	_, addr := startServer(t, Config{})
	sub := dial(t, addr, packet.V5)
	sub.mustConnect("watcher", true)
	sub.subscribe(1, "will/#", 0)
	users := []packet.UserProperty{{Key: "b", Value: "1"}, {Key: "a", Value: "2"}, {Key: "b", Value: "3"}, {Key: "c"}, {Key: "a", Value: "1"}}
	c := dial(t, addr, packet.V5)
	c.mustConnect("w", true, withWill("will/w", "x", 0, false), func(p *packet.Connect) { p.WillProperties.User = users })
	c.drop()
	if p := sub.recvPublish(); !slices.Equal(p.Properties.User, users) {
		t.Fatalf("will user properties %v, want %v", p.Properties.User, users)
	}
}

// [MQTT5-3.1.4-2] a CONNECT the authenticator refuses gets a refusing
// CONNACK and the connection closes.
func TestAuthenticationRefusedCloses_MQTT5_3_1_4_2(t *testing.T) {
	authn, authz := fileAuth(t, testACL, false)
	_, addr := startServer(t, Config{Authenticator: authn, Authorizer: authz})
	for _, login := range []connectOpt{withLogin("alice", "wrong"), func(*packet.Connect) {}} {
		c := dial(t, addr, packet.V5)
		if ca := c.connect("a", true, login); ca.ReasonCode < 0x80 {
			t.Fatalf("CONNACK %#x, want a refusal", byte(ca.ReasonCode))
		}
		if got := c.expectClosed(); len(got) != 0 {
			t.Fatalf("got %v after the refusal", got)
		}
	}
}

// [MQTT5-3.2.0-2] a second CONNECT gets no second CONNACK: DISCONNECT 0x82.
func TestOneConnack_MQTT5_3_2_0_2(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr, packet.V5)
	c.mustConnect("once", true)
	c.send(&packet.Connect{Version: packet.V5, CleanStart: true, ClientID: "once"})
	got := c.expectClosed()
	for _, p := range got {
		if p.Type() == packet.CONNACK {
			t.Fatalf("second CONNACK: %v", got)
		}
	}
	if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != packet.ProtocolError {
		t.Fatalf("got %v, want DISCONNECT 0x82", got)
	}
}

// [MQTT5-3.14.0-1] before a successful CONNACK the server sends no
// DISCONNECT: a packet before CONNECT, or an unsupported level, just closes
// (after CONNACK 0x84 for the latter).
func TestNoDisconnectBeforeConnack_MQTT5_3_14_0_1(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr, packet.V5)
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a"}}})
	if got := c.expectClosed(); len(got) != 0 {
		t.Fatalf("got %v before the close", got)
	}
	c = dial(t, addr, packet.V5)
	b := []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 6, 2, 0, 60, 0, 1, 'x'}
	b[1] = byte(len(b) - 2)
	c.sendRaw(b)
	got := c.expectClosed()
	for _, p := range got {
		if p.Type() == packet.DISCONNECT {
			t.Fatalf("DISCONNECT before a successful CONNACK: %v", got)
		}
	}
}

// [MQTT5-3.2.2-9] a server without QoS 2 (or QoS 1) says so with Maximum QoS.
func TestMaximumQoSAnnounced_MQTT5_3_2_2_9(t *testing.T) {
	for _, tc := range []struct {
		cfg  int
		want byte
	}{{1, 1}, {-1, 0}} {
		_, addr := startServer(t, Config{MaximumQoS: tc.cfg})
		c := dial(t, addr, packet.V5)
		ca := c.mustConnect("q", true)
		if !ca.Properties.Has(packet.PropMaximumQoS) || ca.Properties.MaximumQoS != tc.want {
			t.Fatalf("MaximumQoS %d: CONNACK %+v", tc.cfg, ca.Properties)
		}
		if sa := c.subscribe(1, "q", 2); sa.ReasonCodes[0] != packet.ReasonCode(tc.want) {
			t.Fatalf("granted %d, want %d", sa.ReasonCodes[0], tc.want)
		}
	}
	_, addr := startServer(t, Config{})
	c := dial(t, addr, packet.V5)
	if ca := c.mustConnect("q", true); ca.Properties.Has(packet.PropMaximumQoS) {
		t.Fatal("Maximum QoS announced by a server with QoS 2")
	}
}

// [MQTT5-3.3.1-12] Retain As Published 0 clears RETAIN on forwarding, 1 keeps it.
func TestRetainAsPublished_MQTT5_3_3_1_12(t *testing.T) {
	_, addr := startServer(t, Config{})
	c0 := dial(t, addr, packet.V5)
	c0.mustConnect("rap0", true)
	subscribeOpts(c0, 1, "rap", packet.SubOptions{}, 0)
	c1 := dial(t, addr, packet.V5)
	c1.mustConnect("rap1", true)
	subscribeOpts(c1, 1, "rap", packet.SubOptions{RetainAsPublished: true}, 0)
	p := dial(t, addr, packet.V5)
	p.mustConnect("p", true)
	p.send(&packet.Publish{Topic: "rap", Retain: true, Payload: []byte("r")})
	p.send(&packet.Publish{Topic: "rap", Payload: []byte("n")})
	for _, tc := range []struct {
		c    *tclient
		want []bool
	}{{c0, []bool{false, false}}, {c1, []bool{true, false}}} {
		for _, want := range tc.want {
			if got := tc.c.recvPublish(); got.Retain != want {
				t.Fatalf("%q: RETAIN %v, want %v", got.Payload, got.Retain, want)
			}
		}
	}
}

// [MQTT5-3.8.4-4] with Retain Handling 0 a repeated SUBSCRIBE sends the
// retained messages again, and replacing the subscription loses nothing.
func TestRetainHandlingZeroResubscribe_MQTT5_3_8_4_4(t *testing.T) {
	_, addr := startServer(t, Config{})
	p := dial(t, addr, packet.V5)
	p.mustConnect("p", true)
	p.publishAcked(1, "rh/a", "retained", true)
	c := dial(t, addr, packet.V5)
	c.mustConnect("c", true)
	for i := range 2 {
		subscribeOpts(c, uint16(i+1), "rh/#", packet.SubOptions{QoS: 1}, 0)
		if got := c.recvPublish(); !got.Retain || string(got.Payload) != "retained" {
			t.Fatalf("subscription %d: got %+v, want the retained message", i, got)
		} else {
			c.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: got.PacketID})
		}
	}
	for i := range 20 {
		p.send(&packet.Publish{QoS: 1, PacketID: uint16(i + 2), Topic: "rh/b", Payload: []byte(fmt.Sprint(i))})
		if i == 10 {
			c.send(&packet.Subscribe{PacketID: 9, Subscriptions: []packet.Subscription{{Filter: "rh/#", Options: packet.SubOptions{QoS: 1}}}})
		}
	}
	next := 0
	for next < 20 {
		switch x := c.recv().(type) {
		case *packet.Publish:
			if x.Retain {
				c.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: x.PacketID})
				continue // the retained message again
			}
			if string(x.Payload) != fmt.Sprint(next) {
				t.Fatalf("got %q, want %d", x.Payload, next)
			}
			next++
			c.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: x.PacketID})
		case *packet.Suback:
		default:
			t.Fatalf("got %s", x.Type())
		}
	}
}

// [MQTT5-3.3.4-2] overlapping subscriptions: one copy at the highest QoS.
func TestOverlappingMaxQoS_MQTT5_3_3_4_2(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr, packet.V5)
	c.mustConnect("o", true)
	c.subscribe(1, "ov/#", 0)
	c.subscribe(2, "ov/+", 2)
	c.subscribe(3, "ov/x", 1)
	p := dial(t, addr, packet.V5)
	p.mustConnect("p", true)
	p.send(&packet.Publish{QoS: 2, PacketID: 1, Topic: "ov/x", Payload: []byte("x")})
	if got := c.recvPublish(); got.QoS != 2 {
		t.Fatalf("QoS %d, want 2", got.QoS)
	}
	c.expectNothing(100 * time.Millisecond)
}

// [MQTT5-3.3.4-5] when a client gets several PUBLISH packets for one message
// (a shared and a non-shared subscription), each carries the identifier of
// its own subscription.
func TestSubscriptionIDPerCopy_MQTT5_3_3_4_5(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr, packet.V5)
	c.mustConnect("s", true)
	subscribeOpts(c, 1, "$share/g/sid/t", packet.SubOptions{}, 7)
	subscribeOpts(c, 2, "sid/+", packet.SubOptions{}, 9)
	p := dial(t, addr, packet.V5)
	p.mustConnect("p", true)
	p.send(&packet.Publish{Topic: "sid/t", Payload: []byte("x")})
	var got [][]uint32
	for range 2 {
		got = append(got, c.recvPublish().Properties.SubscriptionIDs)
	}
	slices.SortFunc(got, func(a, b []uint32) int { return int(a[0]) - int(b[0]) })
	if len(got[0]) != 1 || got[0][0] != 7 || len(got[1]) != 1 || got[1][0] != 9 {
		t.Fatalf("subscription identifiers %v, want [7] and [9]", got)
	}
}

// [MQTT5-3.3.4-10] [MQTT5-4.9.0-3] with its send quota used up, the server
// still answers every other packet at once.
func TestQuotaZeroOtherPacketsFlow_MQTT5_3_3_4_10(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr, packet.V5)
	c.mustConnect("q", true, withProps(func(p *packet.Properties) {
		p.ReceiveMaximum = 1
		p.Set(packet.PropReceiveMaximum)
	}))
	c.subscribe(1, "quota", 1)
	p := dial(t, addr, packet.V5)
	p.mustConnect("p", true)
	for i := range 3 {
		p.publishAcked(uint16(i+1), "quota", fmt.Sprint(i), false)
	}
	first := c.recvPublish() // the quota is now 0
	c.send(&packet.Pingreq{})
	if got := c.recv(); got.Type() != packet.PINGRESP {
		t.Fatalf("got %s, want PINGRESP", got.Type())
	}
	c.send(&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "other"}}})
	if got := c.recv(); got.Type() != packet.SUBACK {
		t.Fatalf("got %s, want SUBACK", got.Type())
	}
	c.send(&packet.Publish{QoS: 1, PacketID: 5, Topic: "nobody", Payload: []byte("o")})
	if a := c.recvAck(packet.PUBACK); a.PacketID != 5 {
		t.Fatalf("PUBACK %d, want 5", a.PacketID)
	}
	c.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: first.PacketID})
	if got := c.recvPublish(); string(got.Payload) != "1" {
		t.Fatalf("got %q after the PUBACK, want 1", got.Payload)
	}
}

// [MQTT5-3.3.4-7] more unacknowledged QoS 1 PUBLISH than the server's
// Receive Maximum is DISCONNECT 0x93.
func TestClientReceiveMaximumEnforced_MQTT5_3_3_4_7(t *testing.T) {
	_, addr := startServer(t, Config{ReceiveMaximum: 2})
	c := dial(t, addr, packet.V5)
	if ca := c.mustConnect("r", true); ca.Properties.ReceiveMaximum != 2 {
		t.Fatalf("Receive Maximum %d", ca.Properties.ReceiveMaximum)
	}
	for i := range 3 {
		c.send(&packet.Publish{QoS: 2, PacketID: uint16(i + 1), Topic: "r", Payload: []byte("x")})
	}
	c.expectDisconnect(packet.ReceiveMaximumExceeded)
}

// [MQTT5-4.1.0-2] a session is discarded once its connection closed and
// its Session Expiry Interval passed.
func TestSessionDiscardedAfterExpiry_MQTT5_4_1_0_2(t *testing.T) {
	s, addr := startServer(t, Config{})
	c := dial(t, addr, packet.V5)
	c.mustConnect("brief", false, withSessionExpiry(1))
	c.subscribe(1, "brief", 1)
	c.disconnect()
	if s.Stats().Sessions != 1 {
		t.Fatalf("sessions %d right after the disconnection, want 1", s.Stats().Sessions)
	}
	eventually(t, "the session expired", func() bool { return s.Stats().Sessions == 0 })
	c = dial(t, addr, packet.V5)
	if ca := c.mustConnect("brief", false); ca.SessionPresent {
		t.Fatal("expired session still present")
	}
}

// [MQTT5-4.8.2-4] a QoS 2 message of a shared subscription whose delivery
// was cut by a broken connection is completed with the same client when it
// reconnects.
func TestSharedQoS2CompletedOnReconnect_MQTT5_4_8_2_4(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr, packet.V5)
	c.mustConnect("member", false, withSessionExpiry(60))
	c.subscribe(1, "$share/g/s2", 2)
	other := dial(t, addr, packet.V5)
	other.mustConnect("other", false, withSessionExpiry(60))
	other.subscribe(1, "$share/g/s2", 2)
	p := dial(t, addr, packet.V5)
	p.mustConnect("p", true)
	var pub *packet.Publish
	for i := 0; pub == nil; i++ {
		if i == 4 {
			t.Fatal("no message for member")
		}
		p.send(&packet.Publish{QoS: 2, PacketID: uint16(i + 1), Topic: "s2", Payload: []byte(fmt.Sprint(i))})
		p.recvAck(packet.PUBREC)
		p.send(&packet.Ack{PacketType: packet.PUBREL, PacketID: uint16(i + 1)})
		p.recvAck(packet.PUBCOMP)
		if x, err := c.read(100 * time.Millisecond); err == nil {
			pub = x.(*packet.Publish)
		} else {
			c.br.Reset(c.nc)
		}
	}
	c.send(&packet.Ack{PacketType: packet.PUBREC, PacketID: pub.PacketID})
	c.recvAck(packet.PUBREL)
	c.drop() // before PUBCOMP
	c = dial(t, addr, packet.V5)
	c.mustConnect("member", false, withSessionExpiry(60))
	if a := c.recvAck(packet.PUBREL); a.PacketID != pub.PacketID {
		t.Fatalf("PUBREL %d, want %d", a.PacketID, pub.PacketID)
	}
	c.send(&packet.Ack{PacketType: packet.PUBCOMP, PacketID: pub.PacketID})
	c.expectNothing(50 * time.Millisecond)
}

// [MQTT5-4.8.2-6] a PUBACK with a reason code of 0x80 or more ends the
// delivery: the message is not sent again.
func TestFailedPubackDiscards_MQTT5_4_8_2_6(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr, packet.V5)
	c.mustConnect("f", false, withSessionExpiry(60))
	c.subscribe(1, "$share/g/f", 1)
	c.subscribe(2, "f2", 1)
	p := dial(t, addr, packet.V5)
	p.mustConnect("p", true)
	p.publishAcked(1, "f", "shared", false)
	p.publishAcked(2, "f2", "plain", false)
	for range 2 {
		got := c.recvPublish()
		c.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: got.PacketID, ReasonCode: packet.UnspecifiedError})
	}
	c.expectNothing(100 * time.Millisecond)
	c.drop()
	c = dial(t, addr, packet.V5)
	c.mustConnect("f", false, withSessionExpiry(60))
	c.expectNothing(100 * time.Millisecond)
}

// [MQTT5-4.12.0-6] a client without Authentication Method gets no AUTH and
// no method in CONNACK, even from a server with enhanced authentication.
func TestNoAuthWithoutMethod_MQTT5_4_12_0_6(t *testing.T) {
	addr := scramServer(t)
	c := dial(t, addr, packet.V5)
	ca := c.mustConnect("plain", true)
	if ca.Properties.Has(packet.PropAuthMethod) || ca.Properties.Has(packet.PropAuthData) {
		t.Fatalf("CONNACK with authentication properties: %+v", ca.Properties)
	}
	c.send(&packet.Pingreq{})
	if got := c.recv(); got.Type() != packet.PINGRESP {
		t.Fatalf("got %s", got.Type())
	}
}

// [MQTT5-3.1.2-30] a client that started enhanced authentication may send
// only AUTH or DISCONNECT until CONNACK: a PUBLISH is a protocol error and
// is not processed.
func TestOnlyAuthBeforeConnack_MQTT5_3_1_2_30(t *testing.T) {
	addr := scramServer(t)
	watch := dial(t, addr, packet.V5)
	watch.mustConnect("w", true)
	watch.subscribe(1, "early", 0)
	c := dial(t, addr, packet.V5)
	c.send(scramConnect("early", scramClient("user", "pencil", "n").First()))
	if _, ok := c.recv().(*packet.Auth); !ok {
		t.Fatal("no AUTH")
	}
	c.send(&packet.Publish{Topic: "early", Payload: []byte("x")})
	got := c.expectClosed()
	if len(got) != 1 || got[0].(*packet.Connack).ReasonCode != packet.ProtocolError {
		t.Fatalf("got %v, want CONNACK 0x82", got)
	}
	watch.expectNothing(100 * time.Millisecond)
}

// [MQTT5-3.14.1-1] a DISCONNECT with reserved flags set is Malformed: the
// server answers DISCONNECT 0x81.
func TestDisconnectReservedBits_MQTT5_3_14_1_1(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr, packet.V5)
	c.mustConnect("d", true)
	c.sendRaw([]byte{0xE2, 0x00})
	c.expectDisconnect(packet.MalformedPacket)
}

func withMaxPacket(n uint32) connectOpt {
	return withProps(func(p *packet.Properties) {
		p.MaximumPacketSize = n
		p.Set(packet.PropMaximumPacketSize)
	})
}

// [MQTT5-3.2.2-19] [MQTT5-3.14.2-3] the server's CONNACK and DISCONNECT
// carry a Reason String only when it fits the client's Maximum Packet
// Size: the packet itself is still sent.
func TestReasonStringWithinMaximumPacketSize_MQTT5_3_2_2_19(t *testing.T) {
	_, addr := startServer(t, Config{MaximumQoS: 1})
	for _, tc := range []struct {
		max    uint32
		reason bool
	}{{1000, true}, {24, false}} { // a successful CONNACK takes 20 bytes
		c := dial(t, addr, packet.V5)
		ca := c.connect("w", true, withMaxPacket(tc.max), withWill("w", "x", 2, false)) // above Maximum QoS
		if ca.ReasonCode != packet.QoSNotSupported || ca.Properties.Has(packet.PropReasonString) != tc.reason {
			t.Fatalf("Maximum Packet Size %d: CONNACK %#x, Reason String %q", tc.max, byte(ca.ReasonCode), ca.Properties.ReasonString)
		}
		if b, _ := packet.Append(nil, ca, packet.V5); len(b) > int(tc.max) {
			t.Fatalf("CONNACK of %d bytes", len(b))
		}
		c.expectClosed()

		c = dial(t, addr, packet.V5)
		c.mustConnect("ok", true, withMaxPacket(tc.max))
		c.sendRaw([]byte{0x30, 0x03, 0x00, 0x01, '#'}) // a wildcard in a topic name: 0x90
		got := c.expectClosed()
		if len(got) != 1 {
			t.Fatalf("got %v, want one DISCONNECT", got)
		}
		d := got[0].(*packet.Disconnect)
		if d.ReasonCode != packet.TopicNameInvalid || d.Properties.Has(packet.PropReasonString) != tc.reason {
			t.Fatalf("Maximum Packet Size %d: DISCONNECT %#x, Reason String %q", tc.max, byte(d.ReasonCode), d.Properties.ReasonString)
		}
	}
}
