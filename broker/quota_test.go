package broker

import (
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
)

// A filter beyond MaxSubscriptions gets SUBACK 0x97 Quota exceeded (0x80
// in 3.1.1); subscribing again to a filter the client has is a
// replacement and passes.
func TestMaxSubscriptions(t *testing.T) {
	s, addr := startServer(t, Config{MaxSubscriptions: 2, SysInterval: -1})
	for _, tc := range []struct {
		v    packet.Version
		want packet.ReasonCode
	}{{packet.V5, packet.QuotaExceeded}, {packet.V311, packet.SubackFailure311}} {
		c := dial(t, addr, tc.v)
		c.mustConnect("subs", true)
		c.subscribe(1, "a", 1)
		c.subscribe(2, "$share/g/b", 1)
		if got := c.subscribe(3, "c", 1).ReasonCodes[0]; got != tc.want {
			t.Fatalf("v%d: third filter: SUBACK %#x, want %#x", tc.v, byte(got), byte(tc.want))
		}
		if got := c.subscribe(4, "a", 0).ReasonCodes[0]; got != packet.Success {
			t.Fatalf("v%d: a filter again: SUBACK %#x, want 0", tc.v, byte(got))
		}
		c.send(&packet.Unsubscribe{PacketID: 5, Filters: []string{"a"}})
		c.recv()
		if got := c.subscribe(6, "c", 1).ReasonCodes[0]; got != packet.GrantedQoS1 {
			t.Fatalf("v%d: after an UNSUBSCRIBE: SUBACK %#x, want 1", tc.v, byte(got))
		}
		c.disconnect()
	}
	if n := s.stats.limits.subscriptions.Load(); n != 2 {
		t.Fatalf("subscription refusals %d, want 2", n)
	}
}

// Topic names and filters beyond MaxTopicLength or MaxTopicLevels: SUBACK
// 0x8F (0x80 in 3.1.1), PUBLISH DISCONNECT 0x90 (closed in 3.1.1).
func TestTopicLimits(t *testing.T) {
	s, addr := startServer(t, Config{MaxTopicLength: 16, MaxTopicLevels: 3, SysInterval: -1})
	for _, tc := range []struct {
		v    packet.Version
		want packet.ReasonCode
	}{{packet.V5, packet.TopicFilterInvalid}, {packet.V311, packet.SubackFailure311}} {
		c := dial(t, addr, tc.v)
		c.mustConnect("topics", true)
		for _, f := range []string{"a/b/c/d", "0123456789abcdefg", "$share/g/a/b/c/#"} {
			if got := c.subscribe(1, f, 0).ReasonCodes[0]; got != tc.want {
				t.Fatalf("v%d: %s: SUBACK %#x, want %#x", tc.v, f, byte(got), byte(tc.want))
			}
		}
		for _, f := range []string{"a/b/c", "0123456789abcdef", "$share/g/x/y/+"} {
			if got := c.subscribe(2, f, 0).ReasonCodes[0]; got != packet.Success {
				t.Fatalf("v%d: %s: SUBACK %#x, want 0", tc.v, f, byte(got))
			}
		}
		c.send(&packet.Publish{Topic: "a/b/c", Payload: []byte("ok")})
		if p := c.recvPublish(); p.Topic != "a/b/c" {
			t.Fatalf("got %s", p.Topic)
		}
		c.send(&packet.Publish{Topic: "a/b/c/d", Payload: []byte("deep")})
		if tc.v == packet.V5 {
			c.expectDisconnect(packet.TopicNameInvalid)
		} else if got := c.expectClosed(); len(got) != 0 {
			t.Fatalf("v3.1.1: got %v, want closed", got)
		}
	}
	// A will topic beyond: CONNACK 0x90 (0x05 in 3.1.1).
	for v, want := range map[packet.Version]packet.ReasonCode{packet.V5: packet.TopicNameInvalid, packet.V311: packet.ConnRefusedNotAuthorized311} {
		c := dial(t, addr, v)
		if ack := c.connect("will", true, withWill("a/b/c/d", "x", 0, false)); ack.ReasonCode != want {
			t.Fatalf("v%d: will topic too deep: CONNACK %#x, want %#x", v, byte(ack.ReasonCode), byte(want))
		}
	}
	if n := s.stats.limits.topics.Load(); n != 10 {
		t.Fatalf("topic limit refusals %d, want 10", n)
	}
}

// A subscriber whose queue stays full for SlowConsumerTimeout is
// disconnected with DISCONNECT 0x97 Quota exceeded (closed in 3.1.1); a
// subscriber that keeps up stays.
func TestSlowConsumer(t *testing.T) {
	s, addr := startServer(t, Config{SlowConsumerTimeout: 100 * time.Millisecond, MaxQueued: 10, SendWindow: 1, SysInterval: -1})
	healthy := dial(t, addr, packet.V5)
	healthy.mustConnect("healthy", true)
	healthy.subscribe(1, "t", 0)
	slow5 := dial(t, addr, packet.V5)
	slow5.mustConnect("slow5", true)
	slow5.subscribe(1, "t", 1)
	slow3 := dial(t, addr, packet.V311)
	slow3.mustConnect("slow3", true)
	slow3.subscribe(1, "t", 1)
	pub := dial(t, addr, packet.V311)
	pub.mustConnect("pub", true)
	const n = 30 // more than the slow subscribers' window and queue
	for i := range n {
		pub.send(&packet.Publish{Topic: "t", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("x")})
		pub.recvAck(packet.PUBACK)
	}
	// Neither slow subscriber acknowledges its first message: its queue
	// fills and overflows.
	slow5.recvPublish()
	slow5.expectDisconnect(packet.QuotaExceeded)
	if got := slow3.expectClosed(); len(got) != 1 {
		t.Fatalf("v3.1.1: got %v, want one PUBLISH then closed", got)
	}
	for range n {
		healthy.recvPublish()
	}
	healthy.send(&packet.Pingreq{})
	if p := healthy.recv(); p.Type() != packet.PINGRESP {
		t.Fatalf("healthy subscriber: got %s", p.Type())
	}
	if n := s.stats.limits.slowConsumers.Load(); n != 2 {
		t.Fatalf("slow consumers disconnected %d, want 2", n)
	}
}
