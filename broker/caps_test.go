package broker

import (
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
)

// The CONNACK of a default server announces no restriction: absent
// properties mean available (sections 3.2.2.3.4 to 3.2.2.3.13); Shared
// Subscription Available is announced as 1.
func TestConnackDefaultCapabilities(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr, packet.V5)
	pr := c.mustConnect("d", true).Properties
	if !pr.Has(packet.PropSharedSubAvailable) || pr.SharedSubAvailable != 1 {
		t.Errorf("Shared Subscription Available %d (present %v), want 1", pr.SharedSubAvailable, pr.Has(packet.PropSharedSubAvailable))
	}
	for _, id := range []packet.PropID{packet.PropMaximumQoS, packet.PropRetainAvailable, packet.PropWildcardSubAvailable,
		packet.PropSubIDAvailable, packet.PropServerKeepAlive, packet.PropResponseInfo} {
		if pr.Has(id) {
			t.Errorf("property %#x announced by default", byte(id))
		}
	}
}

// Capabilities from Config are announced in CONNACK and enforced:
// [MQTT5-3.2.2-11] Maximum QoS (PUBLISH above it: DISCONNECT 0x9B),
// [MQTT5-3.2.2-10] SUBSCRIBE at any QoS accepted and granted at most the
// maximum, [MQTT5-3.2.2-12] will QoS above it refused, [MQTT5-3.2.2-14]
// Retain Available 0 (0x9A), [MQTT5-3.2.2-13] a retained will refused,
// wildcard (0xA2), subscription identifier (0xA1) and shared (0x9E)
// subscriptions off.
func TestConnackCapabilities_MQTT5_3_2_2_11(t *testing.T) {
	_, addr := startServer(t, Config{MaximumQoS: 1, RetainUnavailable: true, WildcardSubscriptionsUnavailable: true,
		SubscriptionIDsUnavailable: true, SharedSubscriptionsUnavailable: true, ServerKeepAlive: 30 * time.Second})
	c := dial(t, addr, packet.V5)
	pr := c.mustConnect("caps", true).Properties
	check := func(name string, id packet.PropID, got, want int) {
		t.Helper()
		if !pr.Has(id) || got != want {
			t.Errorf("%s = %d (present %v), want %d", name, got, pr.Has(id), want)
		}
	}
	check("Maximum QoS", packet.PropMaximumQoS, int(pr.MaximumQoS), 1)
	check("Retain Available", packet.PropRetainAvailable, int(pr.RetainAvailable), 0)
	check("Wildcard Subscription Available", packet.PropWildcardSubAvailable, int(pr.WildcardSubAvailable), 0)
	check("Subscription Identifier Available", packet.PropSubIDAvailable, int(pr.SubIDAvailable), 0)
	check("Shared Subscription Available", packet.PropSharedSubAvailable, int(pr.SharedSubAvailable), 0)
	check("Server Keep Alive", packet.PropServerKeepAlive, int(pr.ServerKeepAlive), 30)

	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
		{Filter: "a/b", Options: packet.SubOptions{QoS: 2}},
		{Filter: "a/+"},
		{Filter: "$share/g/a/b"},
	}})
	sa := c.recv().(*packet.Suback)
	want := []packet.ReasonCode{1, packet.WildcardSubscriptionsNotSupported, packet.SharedSubscriptionsNotSupported}
	for i := range want {
		if sa.ReasonCodes[i] != want[i] {
			t.Fatalf("SUBACK %v, want %v", sa.ReasonCodes, want)
		}
	}
	sub := &packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "x"}}}
	sub.Properties.SubscriptionIDs = []uint32{5}
	sub.Properties.Set(packet.PropSubscriptionID)
	c.send(sub)
	c.expectDisconnect(packet.SubscriptionIdentifiersNotSupported)

	for _, tc := range []struct {
		p    *packet.Publish
		want packet.ReasonCode
	}{
		{&packet.Publish{Topic: "a/b", QoS: 2, PacketID: 1}, packet.QoSNotSupported},
		{&packet.Publish{Topic: "a/b", Retain: true, Payload: []byte("r")}, packet.RetainNotSupported},
	} {
		c := dial(t, addr, packet.V5)
		c.mustConnect("pub", true)
		c.send(tc.p)
		c.expectDisconnect(tc.want)
	}
	for _, tc := range []struct {
		qos    packet.QoS
		retain bool
		want   packet.ReasonCode
	}{{2, false, packet.QoSNotSupported}, {0, true, packet.RetainNotSupported}} {
		c := dial(t, addr, packet.V5)
		if ack := c.connect("will", true, withWill("w", "x", tc.qos, tc.retain)); ack.ReasonCode != tc.want {
			t.Errorf("will QoS %d retain %v: CONNACK %#x, want %#x", tc.qos, tc.retain, byte(ack.ReasonCode), byte(tc.want))
		}
	}
	// 3.1.1: a refused filter is 0x80.
	v3 := dial(t, addr, packet.V311)
	v3.mustConnect("v3", true)
	if sa := v3.subscribe(1, "a/#", 1); sa.ReasonCodes[0] != packet.SubackFailure311 {
		t.Fatalf("3.1.1 wildcard SUBACK %#x", byte(sa.ReasonCodes[0]))
	}
}

// [MQTT5-3.2.2-21] [MQTT5-3.2.2-22]: the Server Keep Alive replaces the
// client's: a client silent for longer than one and a half times it is
// disconnected although its own keep alive is long.
func TestServerKeepAlive_MQTT5_3_2_2_21(t *testing.T) {
	_, addr := startServer(t, Config{ServerKeepAlive: time.Second})
	c := dial(t, addr, packet.V5)
	c.mustConnect("ka", true, withKeepAlive(600))
	start := time.Now()
	c.expectClosed()
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("closed after %v, want about 1.5s", d)
	}
}

// [MQTT5-3.1.2-28]: Response Information only when requested.
func TestResponseInformation_MQTT5_3_1_2_28(t *testing.T) {
	_, addr := startServer(t, Config{ResponseInformation: "resp/"})
	c := dial(t, addr, packet.V5)
	if pr := c.mustConnect("no", true).Properties; pr.Has(packet.PropResponseInfo) {
		t.Fatal("Response Information sent unrequested")
	}
	c = dial(t, addr, packet.V5)
	pr := c.mustConnect("yes", true, withProps(func(p *packet.Properties) {
		p.RequestResponseInfo = 1
		p.Set(packet.PropRequestResponseInfo)
	})).Properties
	if pr.ResponseInfo != "resp/" {
		t.Fatalf("Response Information %q, want resp/", pr.ResponseInfo)
	}
}

// [MQTT5-3.1.2-29]: a Reason String on DISCONNECT by default, none when
// the client set Request Problem Information 0.
func TestRequestProblemInformation_MQTT5_3_1_2_29(t *testing.T) {
	_, addr := startServer(t, Config{})
	for _, rpi := range []bool{true, false} {
		c := dial(t, addr, packet.V5)
		c.mustConnect("rpi", true, withProps(func(p *packet.Properties) {
			if !rpi {
				p.RequestProblemInfo = 0
				p.Set(packet.PropRequestProblemInfo)
			}
		}))
		c.send(aliasPublish("", 9, "x")) // unmapped alias: a protocol error
		got := c.expectClosed()
		d, ok := got[len(got)-1].(*packet.Disconnect)
		if !ok || d.ReasonCode != packet.ProtocolError {
			t.Fatalf("got %v", got)
		}
		if has := d.Properties.Has(packet.PropReasonString) && d.Properties.ReasonString != ""; has != rpi {
			t.Errorf("Request Problem Information %v: Reason String %q", rpi, d.Properties.ReasonString)
		}
	}
}

// Server redirection (section 4.11): CONNACK 0x9C or 0x9D with the Server
// Reference; 0x03 for 3.1.1.
func TestServerRedirect(t *testing.T) {
	for _, moved := range []bool{false, true} {
		_, addr := startServer(t, Config{ServerReference: "other.example:1883", ServerMoved: moved})
		c := dial(t, addr, packet.V5)
		ack := c.connect("r", true)
		want := packet.UseAnotherServer
		if moved {
			want = packet.ServerMoved
		}
		if ack.ReasonCode != want || ack.Properties.ServerReference != "other.example:1883" {
			t.Fatalf("CONNACK %#x reference %q", byte(ack.ReasonCode), ack.Properties.ServerReference)
		}
		c.expectClosed()
		v3 := dial(t, addr, packet.V311)
		if ack := v3.connect("r3", true); ack.ReasonCode != packet.ConnRefusedServerUnavailable {
			t.Fatalf("3.1.1 CONNACK %#x", byte(ack.ReasonCode))
		}
	}
}

// Section 3.3.4 (flow control): more unacknowledged QoS 2 PUBLISH
// packets than the announced Receive Maximum is DISCONNECT 0x93.
func TestReceiveMaximumExceeded(t *testing.T) {
	_, addr := startServer(t, Config{ReceiveMaximum: 2})
	c := dial(t, addr, packet.V5)
	if ack := c.mustConnect("rm", true); ack.Properties.ReceiveMaximum != 2 {
		t.Fatalf("CONNACK Receive Maximum %d, want 2", ack.Properties.ReceiveMaximum)
	}
	for id := uint16(1); id <= 3; id++ { // QoS 2 without PUBREL: each stays unacknowledged
		c.send(&packet.Publish{Topic: "rm", QoS: 2, PacketID: id})
	}
	got := c.expectClosed()
	d, ok := got[len(got)-1].(*packet.Disconnect)
	if !ok || d.ReasonCode != packet.ReceiveMaximumExceeded {
		t.Fatalf("got %v, want PUBREC, PUBREC, DISCONNECT 0x93", got)
	}
}
