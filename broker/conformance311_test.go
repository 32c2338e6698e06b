package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/memory"
)

// Normative statements checked on both MQTT 3.1.1 and 5.0 connections: each
// test runs once per version and carries the tags of both specifications.

var bothVersions = []packet.Version{packet.V311, packet.V5}

func forVersions(t *testing.T, f func(t *testing.T, v packet.Version)) {
	for _, v := range bothVersions {
		t.Run("v"+v.String(), func(t *testing.T) { f(t, v) })
	}
}

// drop closes the client's connection without DISCONNECT.
func (c *tclient) drop() { c.nc.Close() }

// publishAcked publishes at QoS 1 and waits for the PUBACK.
func (c *tclient) publishAcked(id uint16, topic, payload string, retain bool) {
	c.t.Helper()
	c.send(&packet.Publish{QoS: 1, PacketID: id, Topic: topic, Retain: retain, Payload: []byte(payload)})
	if a := c.recvAck(packet.PUBACK); a.PacketID != id {
		c.t.Fatalf("PUBACK %d, want %d", a.PacketID, id)
	}
}

// retained subscribes a fresh client to filter and returns the retained
// messages it gets (waiting quiet after the last).
func retained(t *testing.T, addr string, v packet.Version, filter string) []*packet.Publish {
	t.Helper()
	c := dial(t, addr, v)
	c.mustConnect("", true)
	c.subscribe(1, filter, 0)
	var got []*packet.Publish
	for {
		p, err := c.read(150 * time.Millisecond)
		if err != nil {
			return got
		}
		pub, ok := p.(*packet.Publish)
		if !ok {
			t.Fatalf("got %s, want PUBLISH", p.Type())
		}
		got = append(got, pub)
	}
}

// [MQTT-3.1.2-12] [MQTT-3.1.2-16] [MQTT-3.1.2-17] [MQTT5-3.1.2-14]
// [MQTT5-3.1.2-15] [MQTT5-3.1.2-7]: a will is published on an abnormal
// close, retained exactly when Will Retain is 1, and never without the Will
// Flag.
func TestWillRetainFlag_MQTT_3_1_2_17(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{})
		sub := dial(t, addr, v)
		sub.mustConnect("watcher", true)
		sub.subscribe(1, "will/#", 0)
		plain := dial(t, addr, v)
		plain.mustConnect("plain", true, withWill("will/plain", "p", 0, false))
		kept := dial(t, addr, v)
		kept.mustConnect("kept", true, withWill("will/kept", "k", 0, true))
		none := dial(t, addr, v)
		none.mustConnect("none", true)
		none.drop() // [MQTT-3.1.2-12] no will flag: nothing published
		plain.drop()
		kept.drop()
		got := map[string]bool{}
		for range 2 {
			p := sub.recvPublish()
			got[p.Topic] = true
		}
		if !got["will/plain"] || !got["will/kept"] {
			t.Fatalf("wills received %v", got)
		}
		sub.expectNothing(100 * time.Millisecond)
		r := retained(t, addr, v, "will/#")
		if len(r) != 1 || r[0].Topic != "will/kept" || !r[0].Retain || string(r[0].Payload) != "k" {
			t.Fatalf("retained wills %+v, want will/kept only", r)
		}
	})
}

// [MQTT-3.1.2-7] retained messages are not part of a session: they stay when
// the session of their publisher ends.
func TestRetainedOutlivesSession_MQTT_3_1_2_7(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{})
		p := dial(t, addr, v)
		p.mustConnect("pub", true)
		p.publishAcked(1, "keep/a", "A", true)
		p.disconnect()
		q := dial(t, addr, v)
		q.mustConnect("pub", true) // a new session for the same client
		q.disconnect()
		r := retained(t, addr, v, "keep/#")
		if len(r) != 1 || string(r[0].Payload) != "A" || !r[0].Retain {
			t.Fatalf("retained %+v", r)
		}
	})
}

// [MQTT-3.3.1-12] [MQTT5-3.3.1-8] a PUBLISH with RETAIN 0 neither stores nor
// replaces the retained message; [MQTT-3.3.1-7] one at QoS 0 with RETAIN 1
// replaces it.
func TestRetainFlagZero_MQTT_3_3_1_12(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{})
		p := dial(t, addr, v)
		p.mustConnect("pub", true)
		p.publishAcked(1, "r/a", "kept", true)
		p.publishAcked(2, "r/a", "not retained", false)
		p.send(&packet.Publish{Topic: "r/a", Payload: []byte("not retained either")})
		p.publishAcked(3, "r/b", "never retained", false)
		r := retained(t, addr, v, "r/#")
		if len(r) != 1 || r[0].Topic != "r/a" || string(r[0].Payload) != "kept" {
			t.Fatalf("retained %+v, want r/a kept", r)
		}
		p.send(&packet.Publish{Topic: "r/a", Retain: true, Payload: []byte("qos0")}) // [MQTT-3.3.1-7]
		p.send(&packet.Pingreq{})                                                    // processed in order: the PUBLISH is done
		if _, ok := p.recv().(*packet.Pingresp); !ok {
			t.Fatal("no PINGRESP")
		}
		r = retained(t, addr, v, "r/#")
		if len(r) != 1 || string(r[0].Payload) != "qos0" || r[0].QoS != 0 {
			t.Fatalf("retained %+v, want the QoS 0 message", r)
		}
	})
}

// [MQTT-3.3.1-3] the DUP flag of an incoming PUBLISH is not propagated.
func TestDupNotPropagated_MQTT_3_3_1_3(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{})
		sub := dial(t, addr, v)
		sub.mustConnect("sub", true)
		sub.subscribe(1, "d", 1)
		p := dial(t, addr, v)
		p.mustConnect("pub", true)
		p.send(&packet.Publish{Dup: true, QoS: 1, PacketID: 7, Topic: "d", Payload: []byte("x")})
		p.recvAck(packet.PUBACK)
		if got := sub.recvPublish(); got.Dup {
			t.Fatalf("DUP propagated: %+v", got)
		}
	})
}

// [MQTT-3.3.2-3] [MQTT5-3.3.2-3] the topic of every PUBLISH sent to a
// subscriber matches one of its filters, and every matching message is sent.
func TestDeliveredTopicMatchesFilter_MQTT_3_3_2_3(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{})
		sub := dial(t, addr, v)
		sub.mustConnect("sub", true)
		sub.subscribe(1, "a/+/c", 0)
		sub.subscribe(2, "x/#", 0)
		p := dial(t, addr, v)
		p.mustConnect("pub", true)
		topics := []string{"a/b/c", "a/b/d", "a/c", "a//c", "x", "x/y/z", "y/x", "a/b/c/d", "A/b/c", "$SYS/x"}
		for _, tp := range topics {
			p.send(&packet.Publish{Topic: tp, Payload: []byte(tp)})
		}
		want := []string{"a/b/c", "a//c", "x", "x/y/z"}
		var got []string
		for range want {
			pub := sub.recvPublish()
			if string(pub.Payload) != pub.Topic {
				t.Fatalf("topic %q carries payload %q", pub.Topic, pub.Payload)
			}
			got = append(got, pub.Topic)
		}
		sub.expectNothing(100 * time.Millisecond)
		if !slices.Equal(got, want) {
			t.Fatalf("topics %v, want %v", got, want)
		}
	})
}

// [MQTT-3.8.3-2] a server without wildcard subscriptions refuses every
// filter with a wildcard, and only those.
func TestWildcardSubscriptionsRefused_MQTT_3_8_3_2(t *testing.T) {
	_, addr := startServer(t, Config{WildcardSubscriptionsUnavailable: true})
	for _, v := range bothVersions {
		c := dial(t, addr, v)
		c.mustConnect("w", true)
		c.send(&packet.Subscribe{PacketID: 3, Subscriptions: []packet.Subscription{{Filter: "a/+"}, {Filter: "a/b"}, {Filter: "#"}}})
		sa := c.recv().(*packet.Suback)
		refused := packet.ReasonCode(0x80)
		if v == packet.V5 {
			refused = packet.WildcardSubscriptionsNotSupported
		}
		if want := []packet.ReasonCode{refused, 0, refused}; !slices.Equal(sa.ReasonCodes, want) {
			t.Fatalf("v%s: SUBACK %v, want %v", v, sa.ReasonCodes, want)
		}
	}
}

// [MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT5-3.8.4-1] [MQTT5-3.8.4-2]
// [MQTT5-3.8.4-6] [MQTT5-3.9.3-1] [MQTT5-2.2.1-6] a SUBSCRIBE is answered by a
// SUBACK with its packet identifier and one code per filter, in order.
func TestSubackMatchesSubscribe_MQTT_3_8_4_2(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{})
		c := dial(t, addr, v)
		c.mustConnect("s", true)
		c.send(&packet.Subscribe{PacketID: 0x1234, Subscriptions: []packet.Subscription{
			{Filter: "q/2", Options: packet.SubOptions{QoS: 2}},
			{Filter: "q/0"},
			{Filter: "q/#/bad", Options: packet.SubOptions{QoS: 1}},
			{Filter: "q/1", Options: packet.SubOptions{QoS: 1}},
		}})
		sa, ok := c.recv().(*packet.Suback)
		if !ok || sa.PacketID != 0x1234 {
			t.Fatalf("got %+v, want SUBACK 0x1234", sa)
		}
		bad := packet.ReasonCode(0x80)
		if v == packet.V5 {
			bad = packet.TopicFilterInvalid
		}
		if want := []packet.ReasonCode{2, 0, bad, 1}; !slices.Equal(sa.ReasonCodes, want) {
			t.Fatalf("SUBACK %v, want %v", sa.ReasonCodes, want)
		}
	})
}

// [MQTT-3.8.4-4] [MQTT5-3.8.4-5] a SUBSCRIBE with several filters is a
// sequence of SUBSCRIBEs: a repeated filter replaces the earlier one.
func TestSubscribeIsASequence_MQTT_3_8_4_4(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{})
		c := dial(t, addr, v)
		c.mustConnect("s", true)
		c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
			{Filter: "seq"}, {Filter: "seq", Options: packet.SubOptions{QoS: 2}}, {Filter: "other", Options: packet.SubOptions{QoS: 1}},
		}})
		if sa := c.recv().(*packet.Suback); !slices.Equal(sa.ReasonCodes, []packet.ReasonCode{0, 2, 1}) {
			t.Fatalf("SUBACK %v", sa.ReasonCodes)
		}
		p := dial(t, addr, v)
		p.mustConnect("p", true)
		p.send(&packet.Publish{QoS: 2, PacketID: 1, Topic: "seq", Payload: []byte("x")})
		p.recvAck(packet.PUBREC)
		if got := c.recvPublish(); got.QoS != 2 || got.Topic != "seq" {
			t.Fatalf("got %+v, want one QoS 2 copy", got)
		}
		c.expectNothing(100 * time.Millisecond)
	})
}

// [MQTT-3.10.4-4] [MQTT-3.10.4-5] [MQTT-3.10.4-6] [MQTT5-3.10.4-4]
// [MQTT5-3.10.4-5] [MQTT5-3.10.4-6] [MQTT5-2.2.1-6] UNSUBSCRIBE is answered
// by an UNSUBACK with its identifier, even when nothing was subscribed, and
// its filters are removed as by one UNSUBSCRIBE each.
func TestUnsubscribe_MQTT_3_10_4_6(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{})
		c := dial(t, addr, v)
		c.mustConnect("u", true)
		for i, f := range []string{"u/a", "u/b", "u/c"} {
			c.subscribe(uint16(i+1), f, 0)
		}
		c.send(&packet.Unsubscribe{PacketID: 0x4321, Filters: []string{"u/a", "u/b", "u/none"}})
		ua, ok := c.recv().(*packet.Unsuback)
		if !ok || ua.PacketID != 0x4321 {
			t.Fatalf("got %+v, want UNSUBACK 0x4321", ua)
		}
		if v == packet.V5 {
			if want := []packet.ReasonCode{0, 0, packet.NoSubscriptionExisted}; !slices.Equal(ua.ReasonCodes, want) {
				t.Fatalf("UNSUBACK %v, want %v", ua.ReasonCodes, want)
			}
		}
		c.send(&packet.Unsubscribe{PacketID: 9, Filters: []string{"never/subscribed"}}) // [MQTT-3.10.4-5]
		if ua, ok := c.recv().(*packet.Unsuback); !ok || ua.PacketID != 9 {
			t.Fatalf("got %+v, want UNSUBACK 9", ua)
		}
		for _, tp := range []string{"u/a", "u/b", "u/c"} {
			c.send(&packet.Publish{Topic: tp, Payload: []byte(tp)})
		}
		if got := c.recvPublish(); got.Topic != "u/c" {
			t.Fatalf("got %s, want only u/c", got.Topic)
		}
		c.expectNothing(100 * time.Millisecond)
	})
}

// [MQTT-3.10.4-3] [MQTT5-3.10.4-3] a QoS 2 delivery started before an
// UNSUBSCRIBE is completed after it.
func TestUnsubscribeCompletesDelivery_MQTT_3_10_4_3(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{})
		c := dial(t, addr, v)
		c.mustConnect("u", true)
		c.subscribe(1, "u/q2", 2)
		p := dial(t, addr, v)
		p.mustConnect("p", true)
		p.send(&packet.Publish{QoS: 2, PacketID: 1, Topic: "u/q2", Payload: []byte("x")})
		pub := c.recvPublish()
		c.send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"u/q2"}})
		if _, ok := c.recv().(*packet.Unsuback); !ok {
			t.Fatal("no UNSUBACK")
		}
		c.send(&packet.Ack{PacketType: packet.PUBREC, PacketID: pub.PacketID})
		if a := c.recvAck(packet.PUBREL); a.PacketID != pub.PacketID || a.ReasonCode != 0 {
			t.Fatalf("PUBREL %+v", a)
		}
		c.send(&packet.Ack{PacketType: packet.PUBCOMP, PacketID: pub.PacketID})
		c.expectNothing(50 * time.Millisecond)
	})
}

// [MQTT-3.12.4-1] [MQTT5-3.12.4-1] PINGREQ gets PINGRESP.
func TestPingresp_MQTT_3_12_4_1(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{})
		c := dial(t, addr, v)
		c.mustConnect("ping", true)
		for range 3 {
			c.send(&packet.Pingreq{})
			if p := c.recv(); p.Type() != packet.PINGRESP {
				t.Fatalf("got %s, want PINGRESP", p.Type())
			}
		}
	})
}

// [MQTT-3.1.3-5] [MQTT5-3.1.3-5] client identifiers of 1 to 23 letters and
// digits are accepted.
func TestClientIDCharacters_MQTT_3_1_3_5(t *testing.T) {
	const chars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{MaxClientIDLength: 23})
		for _, id := range []string{"a", "Z9", chars[:23], chars[23:46], chars[39:]} {
			c := dial(t, addr, v)
			c.mustConnect(id, true)
			c.disconnect()
		}
	})
}

// [MQTT-3.1.3-9] [MQTT5-3.1.3-8] [MQTT5-3.2.2-7] a refused client
// identifier gets CONNACK 0x02 (0x85 in MQTT 5) and the connection closes.
func TestClientIDRejected_MQTT_3_1_3_9(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{MaxClientIDLength: 8})
		c := dial(t, addr, v)
		want := packet.ConnRefusedIdentifierRejected
		if v == packet.V5 {
			want = packet.ClientIdentifierNotValid
		}
		if ack := c.connect("much-too-long-an-id", true); ack.ReasonCode != want {
			t.Fatalf("CONNACK %#x, want %#x", byte(ack.ReasonCode), byte(want))
		}
		if got := c.expectClosed(); len(got) != 0 {
			t.Fatalf("got %v after the refusal", got)
		}
	})
}

// badConnect is a CONNECT of level v with the reserved flag set.
func badConnect(t *testing.T, v packet.Version) []byte {
	b, err := packet.Append(nil, &packet.Connect{Version: v, CleanStart: true, ClientID: "bad"}, v)
	if err != nil {
		t.Fatal(err)
	}
	i := 2 + 2 + 4 + 1 // fixed header, name length, "MQTT", level: the flags byte
	b[i] |= 1
	return b
}

// [MQTT-3.1.4-1] [MQTT-3.2.2-6] a CONNECT that does not conform closes the
// connection without CONNACK in 3.1.1 (no return code applies);
// [MQTT5-3.1.4-1] [MQTT5-3.14.0-1] in MQTT 5 at most a refusing CONNACK
// precedes the close, never a DISCONNECT.
func TestInvalidConnectCloses_MQTT_3_1_4_1(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{})
		c := dial(t, addr, v)
		c.sendRaw(badConnect(t, v))
		got := c.expectClosed()
		if v == packet.V311 && len(got) != 0 {
			t.Fatalf("got %v, want the connection closed without CONNACK", got)
		}
		if v == packet.V5 {
			if len(got) > 1 {
				t.Fatalf("got %v", got)
			}
			if len(got) == 1 {
				if ca, ok := got[0].(*packet.Connack); !ok || ca.ReasonCode < 0x80 {
					t.Fatalf("got %+v, want at most a refusing CONNACK", got[0])
				}
			}
		}
	})
}

// [MQTT-3.1.4-5] [MQTT5-3.1.4-6] data sent after a refused CONNECT is not
// processed.
func TestRefusedConnectIgnoresFollowingData_MQTT_3_1_4_5(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{MaxClientIDLength: 4})
		watch := dial(t, addr, v)
		watch.mustConnect("w", true)
		watch.subscribe(1, "after/#", 1)
		var b []byte
		for _, p := range []packet.Packet{
			&packet.Connect{Version: v, CleanStart: true, ClientID: "refused-id", KeepAlive: 60},
			&packet.Publish{Topic: "after/refusal", Retain: true, Payload: []byte("must not be processed")},
			&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "#"}}},
		} {
			var err error
			if b, err = packet.Append(b, p, v); err != nil {
				t.Fatal(err)
			}
		}
		c := dial(t, addr, v)
		c.sendRaw(b) // one write: the server has the bytes when it refuses
		got := c.expectClosed()
		if len(got) != 1 || got[0].Type() != packet.CONNACK || got[0].(*packet.Connack).ReasonCode == 0 {
			t.Fatalf("got %v, want only the refusing CONNACK", got)
		}
		watch.expectNothing(100 * time.Millisecond)
		if r := retained(t, addr, v, "after/#"); len(r) != 0 {
			t.Fatalf("retained %+v", r)
		}
	})
}

// [MQTT-3.1.4-4] [MQTT5-3.1.4-5] [MQTT-3.2.0-1] [MQTT5-3.2.0-1] an accepted
// CONNECT gets a CONNACK with code 0 as the first packet, even when the
// session has messages waiting; [MQTT-4.1.0-1] [MQTT-4.5.0-1]
// [MQTT5-4.5.0-1] [MQTT5-4.1.0-1] the session kept its subscription and the
// messages published while it was disconnected.
func TestConnackFirstThenSessionState_MQTT_3_2_0_1(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{})
		keep := keepOpts(v)
		c := dial(t, addr, v)
		c.mustConnect("durable", false, keep...)
		c.subscribe(1, "state/#", 1)
		c.disconnect()
		p := dial(t, addr, v)
		p.mustConnect("p", true)
		for i := range 3 {
			p.publishAcked(uint16(i+1), "state/x", fmt.Sprint(i), false)
		}
		c = dial(t, addr, v)
		c.send(&packet.Connect{Version: v, ClientID: "durable", KeepAlive: 60})
		first := c.recv()
		ca, ok := first.(*packet.Connack)
		if !ok || ca.ReasonCode != 0 || !ca.SessionPresent {
			t.Fatalf("first packet %+v, want CONNACK 0 with the session present", first)
		}
		for i := range 3 {
			pub := c.recvPublish()
			if string(pub.Payload) != fmt.Sprint(i) {
				t.Fatalf("got %q, want %d", pub.Payload, i)
			}
			c.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: pub.PacketID})
		}
	})
}

// [MQTT-3.1.4-3] [MQTT5-3.1.4-4] [MQTT5-3.1.2-4] [MQTT5-3.2.2-2]
// [MQTT-4.1.0-2] Clean Session / Clean Start 1 discards the session: no
// Session Present, no subscriptions; [MQTT5-3.1.2-6] Clean Start 0 without
// a session creates one.
func TestCleanStartDiscardsSession_MQTT_3_1_4_3(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{})
		keep := keepOpts(v)
		c := dial(t, addr, v)
		if ca := c.mustConnect("cs", false, keep...); ca.SessionPresent {
			t.Fatal("Session Present for a client never seen") // [MQTT5-3.1.2-6]
		}
		c.subscribe(1, "cs/#", 0)
		c.disconnect()
		c = dial(t, addr, v)
		if ca := c.mustConnect("cs", false, keep...); !ca.SessionPresent {
			t.Fatal("session created by Clean Start 0 is not present") // [MQTT5-3.1.2-6]
		}
		c.disconnect()
		c = dial(t, addr, v)
		if ca := c.mustConnect("cs", true, keep...); ca.SessionPresent {
			t.Fatal("Session Present after Clean Start 1") // [MQTT5-3.2.2-2]
		}
		c.send(&packet.Publish{Topic: "cs/x", Payload: []byte("x")})
		c.expectNothing(100 * time.Millisecond)
		// [MQTT-4.1.0-2] the new session lasts while connected.
		c.subscribe(2, "cs/#", 0)
		c.send(&packet.Publish{Topic: "cs/y", Payload: []byte("y")})
		if got := c.recvPublish(); got.Topic != "cs/y" {
			t.Fatalf("got %s", got.Topic)
		}
	})
}

// [MQTT-3.1.3-2] [MQTT5-3.1.3-2] the client identifier selects the session.
func TestClientIDSelectsSession_MQTT_3_1_3_2(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{})
		keep := keepOpts(v)
		for _, id := range []string{"one", "two"} {
			c := dial(t, addr, v)
			c.mustConnect(id, false, keep...)
			c.subscribe(1, "id/"+id, 1)
			c.disconnect()
		}
		p := dial(t, addr, v)
		p.mustConnect("p", true)
		p.publishAcked(1, "id/one", "for one", false)
		p.publishAcked(2, "id/two", "for two", false)
		for _, id := range []string{"two", "one"} {
			c := dial(t, addr, v)
			c.mustConnect(id, false, keep...)
			if got := c.recvPublish(); got.Topic != "id/"+id {
				t.Fatalf("%s got %s", id, got.Topic)
			}
			c.expectNothing(50 * time.Millisecond)
		}
	})
}

// [MQTT-4.8.0-1] a protocol violation closes the connection (MQTT 3.1.1:
// without a packet).
func TestProtocolViolationCloses_MQTT_4_8_0_1(t *testing.T) {
	for _, raw := range [][]byte{
		{0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01},       // PUBLISH QoS 3
		{0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00}, // SUBSCRIBE with reserved flags 0
		{0x62, 0x02, 0x00, 0x00},                        // PUBREL for packet identifier 0
		{0xF0, 0x00},                                    // AUTH does not exist in 3.1.1
	} {
		_, addr := startServer(t, Config{})
		c := dial(t, addr, packet.V311)
		c.mustConnect("v", true)
		c.sendRaw(raw)
		if got := c.expectClosed(); len(got) != 0 {
			t.Fatalf("% x: got %v before the close", raw, got)
		}
	}
}

// [MQTT-4.6.0-5] [MQTT-4.6.0-6] [MQTT5-4.6.0-5] [MQTT5-4.6.0-6] messages of
// one topic and QoS reach a subscriber in the order they were published.
func TestOrderedTopic_MQTT_4_6_0_6(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{SendWindow: 4})
		sub := dial(t, addr, v)
		sub.mustConnect("sub", true)
		sub.subscribe(1, "ord/#", 2)
		p := dial(t, addr, v)
		p.mustConnect("p", true)
		const n = 40
		for i := range n {
			q := packet.QoS(i % 3)
			p.send(&packet.Publish{QoS: q, PacketID: uint16(i + 1), Topic: fmt.Sprintf("ord/%d", q), Payload: []byte(fmt.Sprint(i))})
		}
		last := map[string]int{"ord/0": -1, "ord/1": -1, "ord/2": -1}
		seen := 0
		for seen < n {
			pk := sub.recv()
			switch x := pk.(type) {
			case *packet.Publish:
				var i int
				fmt.Sscan(string(x.Payload), &i)
				if i <= last[x.Topic] {
					t.Fatalf("%s: %d after %d", x.Topic, i, last[x.Topic])
				}
				last[x.Topic] = i
				seen++
				switch x.QoS {
				case 1:
					sub.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: x.PacketID})
				case 2:
					sub.send(&packet.Ack{PacketType: packet.PUBREC, PacketID: x.PacketID})
				}
			case *packet.Ack:
				if x.PacketType == packet.PUBREL {
					sub.send(&packet.Ack{PacketType: packet.PUBCOMP, PacketID: x.PacketID})
				}
			}
		}
	})
}

// [MQTT5-3.3.4-1] the server answers a PUBLISH as its QoS says: nothing,
// PUBACK, or PUBREC then PUBCOMP, with the packet's identifier.
func TestPublishAnsweredByQoS_MQTT5_3_3_4_1(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{})
		c := dial(t, addr, v)
		c.mustConnect("q", true)
		c.send(&packet.Publish{Topic: "q", Payload: []byte("0")})
		c.send(&packet.Publish{QoS: 1, PacketID: 11, Topic: "q", Payload: []byte("1")})
		if a := c.recvAck(packet.PUBACK); a.PacketID != 11 {
			t.Fatalf("PUBACK %d", a.PacketID)
		}
		c.send(&packet.Publish{QoS: 2, PacketID: 12, Topic: "q", Payload: []byte("2")})
		if a := c.recvAck(packet.PUBREC); a.PacketID != 12 {
			t.Fatalf("PUBREC %d", a.PacketID)
		}
		c.send(&packet.Ack{PacketType: packet.PUBREL, PacketID: 12})
		if a := c.recvAck(packet.PUBCOMP); a.PacketID != 12 {
			t.Fatalf("PUBCOMP %d", a.PacketID)
		}
		c.expectNothing(50 * time.Millisecond)
	})
}

// [MQTT-2.3.1-4] [MQTT5-2.2.1-4] [MQTT5-4.3.2-2] [MQTT5-4.3.3-2]
// [MQTT5-3.3.1-1] [MQTT5-4.6.0-1] the server gives each new QoS 1 and 2
// PUBLISH an unused non-zero identifier with DUP 0, and resends
// unacknowledged ones with the same identifiers, DUP 1, in the original
// order.
func TestResendKeepsPacketIDs_MQTT_2_3_1_4(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{})
		keep := keepOpts(v)
		c := dial(t, addr, v)
		c.mustConnect("re", false, keep...)
		c.subscribe(1, "re/#", 2)
		p := dial(t, addr, v)
		p.mustConnect("p", true)
		for i := range 6 {
			p.send(&packet.Publish{QoS: packet.QoS(1 + i%2), PacketID: uint16(i + 1), Topic: "re/t", Payload: []byte(fmt.Sprint(i))})
		}
		var first []*packet.Publish
		ids := map[uint16]bool{}
		for range 6 {
			pub := c.recvPublish()
			if pub.Dup || pub.PacketID == 0 || ids[pub.PacketID] {
				t.Fatalf("new PUBLISH %+v: DUP set or identifier 0 or in use", pub)
			}
			ids[pub.PacketID] = true
			first = append(first, pub)
		}
		c.drop()
		c = dial(t, addr, v)
		c.mustConnect("re", false, keep...)
		for _, f := range first {
			pub := c.recvPublish()
			if !pub.Dup || pub.PacketID != f.PacketID || string(pub.Payload) != string(f.Payload) || pub.QoS != f.QoS {
				t.Fatalf("resent %+v, want %+v with DUP", pub, f)
			}
		}
	})
}

// keepOpts returns the options that keep a session after disconnection.
func keepOpts(v packet.Version) []connectOpt {
	if v == packet.V5 {
		return []connectOpt{withSessionExpiry(60)}
	}
	return nil
}

// failingStore fails every write of message state.
type failingStore struct{ store.Store }

func (failingStore) Apply(context.Context, ...store.Update) error {
	return errors.New("disk full")
}

// [MQTT-4.8.0-2] a store that fails while a QoS 1 PUBLISH is persisted is a
// transient error: the publisher's connection closes without PUBACK,
// whether the message had no subscriber, a connected one or one offline.
func TestStoreFailureCloses_MQTT_4_8_0_2(t *testing.T) {
	for _, sub := range []string{"none", "online", "offline"} {
		t.Run(sub, func(t *testing.T) {
			_, addr := startServer(t, Config{Store: failingStore{memory.New()}})
			if sub != "none" {
				s := dial(t, addr, packet.V311)
				s.mustConnect("sub", false)
				s.subscribe(1, "t", 1)
				if sub == "offline" {
					s.disconnect()
				}
			}
			p := dial(t, addr, packet.V311)
			p.mustConnect("pub", true)
			p.send(&packet.Publish{QoS: 1, PacketID: 1, Topic: "t", Payload: []byte("x")})
			if got := p.expectClosed(); len(got) != 0 {
				t.Fatalf("got %v, want the connection closed without PUBACK", got)
			}
		})
	}
}

// [MQTT-3.1.2-6] [MQTT5-4.1.0-2] a session of Clean Session 1 (Session
// Expiry 0) lasts as long as its connection: a client taking it over with
// Clean Session 0 gets a new session, also when it reconnects right after
// the old connection closed.
func TestCleanSessionEndsWithConnection_MQTT_3_1_2_6(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{})
		old := dial(t, addr, v)
		old.mustConnect("brief", true)
		old.subscribe(1, "brief/#", 0)
		c := dial(t, addr, v)
		if ca := c.mustConnect("brief", false, keepOpts(v)...); ca.SessionPresent {
			t.Fatal("takeover of a Clean Session 1 connection: session present")
		}
		c.send(&packet.Publish{Topic: "brief/x", Payload: []byte("x")})
		c.expectNothing(50 * time.Millisecond) // the subscription went with the old session
		c.disconnect()
		for i := range 30 {
			c = dial(t, addr, v)
			c.mustConnect("brief", true)
			c.disconnect()
			c = dial(t, addr, v)
			if ca := c.mustConnect("brief", false); ca.SessionPresent {
				t.Fatalf("reconnection %d right after a Clean Session 1 connection: session present", i)
			}
			c.disconnect()
		}
	})
}

// [MQTT-4.4.0-1] [MQTT5-4.4.0-1] a connection that takes over a session
// while the old one is still open gets the unacknowledged PUBLISH again
// (same identifier, DUP) and the PUBREL of a flow past PUBREC; the old
// connection is closed (DISCONNECT 0x8E in MQTT 5).
func TestTakeoverResends_MQTT_4_4_0_1(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{})
		c := dial(t, addr, v)
		c.mustConnect("tk", false, keepOpts(v)...)
		c.subscribe(1, "tk", 2)
		p := dial(t, addr, v)
		p.mustConnect("p", true)
		p.publishAcked(1, "tk", "one", false)
		p.send(&packet.Publish{QoS: 2, PacketID: 2, Topic: "tk", Payload: []byte("two")})
		p.recvAck(packet.PUBREC)
		a := c.recvPublish()
		b := c.recvPublish()
		c.send(&packet.Ack{PacketType: packet.PUBREC, PacketID: b.PacketID})
		c.recvAck(packet.PUBREL)
		n := dial(t, addr, v)
		if ca := n.mustConnect("tk", false, keepOpts(v)...); !ca.SessionPresent {
			t.Fatal("taken over: session not present")
		}
		x := n.recvPublish()
		if x.PacketID != a.PacketID || !x.Dup || string(x.Payload) != "one" {
			t.Fatalf("resent %+v, want %+v with DUP", x, a)
		}
		if r := n.recvAck(packet.PUBREL); r.PacketID != b.PacketID {
			t.Fatalf("PUBREL %d, want %d", r.PacketID, b.PacketID)
		}
		n.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: a.PacketID})
		n.send(&packet.Ack{PacketType: packet.PUBCOMP, PacketID: b.PacketID})
		n.expectNothing(50 * time.Millisecond)
		if v == packet.V5 {
			c.expectDisconnect(packet.SessionTakenOver)
		} else {
			c.expectClosed()
		}
	})
}

// [MQTT-4.6.0-6] [MQTT5-4.6.0-6] a client that receives what it publishes
// (its writer drains its session while its reader accepts the next
// messages) still has its messages forwarded in order.
func TestOrderedOwnPublications_MQTT_4_6_0_6(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := startServer(t, Config{})
		c := dial(t, addr, v)
		c.mustConnect("self", true)
		c.subscribe(1, "self", 0)
		const n = 400
		for i := range n {
			c.send(&packet.Publish{Topic: "self", Payload: []byte(fmt.Sprintf("%d-%0100d", i, i))})
		}
		for i := range n {
			if p := c.recvPublish(); !strings.HasPrefix(string(p.Payload), fmt.Sprintf("%d-", i)) {
				t.Fatalf("message %d is %.10q", i, p.Payload)
			}
		}
	})
}
