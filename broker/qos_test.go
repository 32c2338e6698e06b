package broker

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
)

// QoS 1 both ways: the publisher gets PUBACK [MQTT-4.3.2-2], the subscriber
// gets a QoS 1 PUBLISH with a packet identifier and acknowledges it.
func TestQoS1Flow_MQTT_4_3_2_2(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			_, addr := startServer(t, Config{})
			sub := dial(t, addr, v)
			sub.mustConnect("sub", true)
			sub.subscribe(1, "q/1", 1)
			pub := dial(t, addr, v)
			pub.mustConnect("pub", true)
			pub.send(&packet.Publish{Topic: "q/1", QoS: 1, PacketID: 7, Payload: []byte("one")})
			if a := pub.recvAck(packet.PUBACK); a.PacketID != 7 || a.ReasonCode != 0 {
				t.Fatalf("PUBACK %+v", a)
			}
			p := sub.recvPublish()
			if p.QoS != 1 || p.PacketID == 0 || string(p.Payload) != "one" || p.Dup {
				t.Fatalf("got %+v", p)
			}
			sub.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: p.PacketID})
			pub.disconnect()
			sub.disconnect()
		})
	}
}

// QoS 2 both ways: PUBLISH, PUBREC, PUBREL, PUBCOMP [MQTT-4.3.3-2]; the
// message is delivered once.
func TestQoS2Flow_MQTT_4_3_3_2(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			_, addr := startServer(t, Config{})
			sub := dial(t, addr, v)
			sub.mustConnect("sub", true)
			sub.subscribe(1, "q/2", 2)
			pub := dial(t, addr, v)
			pub.mustConnect("pub", true)
			pub.send(&packet.Publish{Topic: "q/2", QoS: 2, PacketID: 9, Payload: []byte("two")})
			pub.recvAck(packet.PUBREC)
			// A duplicate before PUBREL is acknowledged, not delivered again.
			pub.send(&packet.Publish{Topic: "q/2", QoS: 2, PacketID: 9, Dup: true, Payload: []byte("two")})
			pub.recvAck(packet.PUBREC)
			pub.send(&packet.Ack{PacketType: packet.PUBREL, PacketID: 9})
			if a := pub.recvAck(packet.PUBCOMP); a.PacketID != 9 {
				t.Fatalf("PUBCOMP %+v", a)
			}
			p := sub.recvPublish()
			if p.QoS != 2 || string(p.Payload) != "two" {
				t.Fatalf("got %+v", p)
			}
			sub.send(&packet.Ack{PacketType: packet.PUBREC, PacketID: p.PacketID})
			if a := sub.recvAck(packet.PUBREL); a.PacketID != p.PacketID {
				t.Fatalf("PUBREL %+v", a)
			}
			sub.send(&packet.Ack{PacketType: packet.PUBCOMP, PacketID: p.PacketID})
			sub.expectNothing(100 * time.Millisecond)
			pub.disconnect()
			sub.disconnect()
		})
	}
}

// [MQTT-3.8.4-6] [MQTT5-3.8.4-8] the delivered QoS is the minimum of the
// published QoS and the subscription's.
func TestQoSDowngradedToSubscription_MQTT_3_8_4_6(t *testing.T) {
	_, addr := startServer(t, Config{})
	sub := dial(t, addr, packet.V311)
	sub.mustConnect("sub", true)
	sub.subscribe(1, "d", 0)
	pub := dial(t, addr, packet.V311)
	pub.mustConnect("pub", true)
	pub.send(&packet.Publish{Topic: "d", QoS: 2, PacketID: 1, Payload: []byte("x")})
	pub.recvAck(packet.PUBREC)
	pub.send(&packet.Ack{PacketType: packet.PUBREL, PacketID: 1})
	pub.recvAck(packet.PUBCOMP)
	if p := sub.recvPublish(); p.QoS != 0 {
		t.Fatalf("got QoS %d, want 0", p.QoS)
	}
	sub.subscribe(2, "d", 1) // replaces the subscription [MQTT-3.8.4-3]
	pub.send(&packet.Publish{Topic: "d", QoS: 2, PacketID: 2, Payload: []byte("y")})
	pub.recvAck(packet.PUBREC)
	if p := sub.recvPublish(); p.QoS != 1 {
		t.Fatalf("after resubscribing: got QoS %d, want 1", p.QoS)
	}
	sub.expectNothing(100 * time.Millisecond) // one subscription, not two
}

// [MQTT-3.3.5-1] overlapping subscriptions of one client: one copy, with
// the maximum QoS of the matching subscriptions, and [MQTT5-3.3.4-3] all
// their subscription identifiers.
func TestOverlappingSubscriptionsOneCopy_MQTT_3_3_5_1(t *testing.T) {
	_, addr := startServer(t, Config{})
	sub := dial(t, addr, packet.V5)
	sub.mustConnect("sub", true)
	for i, f := range []struct {
		filter string
		qos    packet.QoS
	}{{"o/+", 0}, {"o/#", 1}, {"#", 0}} {
		s := &packet.Subscribe{PacketID: uint16(i + 1), Subscriptions: []packet.Subscription{{Filter: f.filter, Options: packet.SubOptions{QoS: f.qos}}}}
		s.Properties.SubscriptionIDs = []uint32{uint32(10 + i)}
		s.Properties.Set(packet.PropSubscriptionID)
		sub.send(s)
		sub.recv()
	}
	pub := dial(t, addr, packet.V5)
	pub.mustConnect("pub", true)
	pub.send(&packet.Publish{Topic: "o/x", Payload: []byte("a"), QoS: 1, PacketID: 1})
	pub.recvAck(packet.PUBACK)
	p := sub.recvPublish()
	if p.QoS != 1 {
		t.Fatalf("QoS %d, want 1", p.QoS)
	}
	ids := map[uint32]bool{}
	for _, id := range p.Properties.SubscriptionIDs {
		ids[id] = true
	}
	if len(p.Properties.SubscriptionIDs) != 3 || !ids[10] || !ids[11] || !ids[12] {
		t.Fatalf("subscription identifiers %v, want 10, 11, 12", p.Properties.SubscriptionIDs)
	}
	sub.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: p.PacketID})
	sub.expectNothing(100 * time.Millisecond)
}

// A persistent session keeps its subscriptions and queues QoS 1 messages
// while offline [MQTT-3.1.2-4]; they are delivered in order on reconnect.
func TestPersistentSessionOfflineQueue_MQTT_3_1_2_4(t *testing.T) {
	_, addr := startServer(t, Config{})
	sub := dial(t, addr, packet.V311)
	sub.mustConnect("offline", false)
	sub.subscribe(1, "q/#", 1)
	sub.disconnect()
	pub := dial(t, addr, packet.V311)
	pub.mustConnect("pub", true)
	for i := range 5 {
		pub.send(&packet.Publish{Topic: "q/x", QoS: 1, PacketID: uint16(i + 1), Payload: []byte{byte('0' + i)}})
		pub.recvAck(packet.PUBACK)
	}
	pub.send(&packet.Publish{Topic: "q/x", Payload: []byte("qos0")}) // not queued by default
	pub.disconnect()
	sub = dial(t, addr, packet.V311)
	if ack := sub.mustConnect("offline", false); !ack.SessionPresent {
		t.Fatal("session not present")
	}
	for i := range 5 {
		p := sub.recvPublish()
		if p.QoS != 1 || !bytes.Equal(p.Payload, []byte{byte('0' + i)}) {
			t.Fatalf("message %d: got %+v", i, p)
		}
		sub.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: p.PacketID})
	}
	sub.expectNothing(100 * time.Millisecond)
	sub.disconnect()
}

// [MQTT5-3.3.4-9] the server sends no more unacknowledged QoS 1/2 PUBLISH
// than the client's Receive Maximum.
func TestReceiveMaximumHonoured_MQTT5_3_3_4_9(t *testing.T) {
	_, addr := startServer(t, Config{})
	sub := dial(t, addr, packet.V5)
	sub.mustConnect("sub", true, withProps(func(p *packet.Properties) {
		p.ReceiveMaximum = 2
		p.Set(packet.PropReceiveMaximum)
	}))
	sub.subscribe(1, "rm", 1)
	pub := dial(t, addr, packet.V5)
	pub.mustConnect("pub", true)
	for i := range 5 {
		pub.send(&packet.Publish{Topic: "rm", QoS: 1, PacketID: uint16(i + 1), Payload: []byte{byte(i)}})
		pub.recvAck(packet.PUBACK)
	}
	first := sub.recvPublish()
	sub.recvPublish()
	sub.expectNothing(200 * time.Millisecond)
	sub.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: first.PacketID})
	if p := sub.recvPublish(); p.Payload[0] != 2 {
		t.Fatalf("got %+v, want the third message", p)
	}
	sub.expectNothing(200 * time.Millisecond)
}

// [MQTT5-3.1.2-25] a message larger than the client's Maximum Packet Size
// is not sent to it; the drop is counted.
func TestMaximumPacketSizeHonoured_MQTT5_3_1_2_25(t *testing.T) {
	s, addr := startServer(t, Config{})
	sub := dial(t, addr, packet.V5)
	sub.mustConnect("sub", true, withProps(func(p *packet.Properties) {
		p.MaximumPacketSize = 64
		p.Set(packet.PropMaximumPacketSize)
	}))
	sub.subscribe(1, "mp", 1)
	pub := dial(t, addr, packet.V5)
	pub.mustConnect("pub", true)
	pub.send(&packet.Publish{Topic: "mp", QoS: 1, PacketID: 1, Payload: make([]byte, 100)})
	pub.recvAck(packet.PUBACK)
	pub.send(&packet.Publish{Topic: "mp", QoS: 1, PacketID: 2, Payload: []byte("small")})
	pub.recvAck(packet.PUBACK)
	if p := sub.recvPublish(); string(p.Payload) != "small" {
		t.Fatalf("got %d bytes, want the small message", len(p.Payload))
	}
	eventually(t, "drop counted", func() bool { st := s.Stats(); return st.DroppedTooLarge == 1 && st.Dropped >= 1 })
}

// MQTT 5 properties of a PUBLISH are passed through to subscribers
// [MQTT5-3.3.2-16] [MQTT5-3.3.2-17] [MQTT5-3.3.2-18] [MQTT5-3.3.2-20], and
// PUBACK says 0x10 when no one subscribed.
func TestPropertiesPassedThrough_MQTT5_3_3_2_17(t *testing.T) {
	_, addr := startServer(t, Config{})
	sub := dial(t, addr, packet.V5)
	sub.mustConnect("sub", true)
	sub.subscribe(1, "props", 1)
	pub := dial(t, addr, packet.V5)
	pub.mustConnect("pub", true)
	p := &packet.Publish{Topic: "props", QoS: 1, PacketID: 1, Payload: []byte("{}")}
	pr := &p.Properties
	pr.PayloadFormat, pr.ContentType, pr.ResponseTopic, pr.CorrelationData = 1, "application/json", "reply/here", []byte{1, 2, 3}
	pr.User = []packet.UserProperty{{Key: "k", Value: "v1"}, {Key: "k", Value: "v2"}}
	pr.Set(packet.PropPayloadFormat)
	pr.Set(packet.PropContentType)
	pr.Set(packet.PropResponseTopic)
	pr.Set(packet.PropCorrelationData)
	pub.send(p)
	if a := pub.recvAck(packet.PUBACK); a.ReasonCode != packet.Success {
		t.Fatalf("PUBACK %#x, want 0", byte(a.ReasonCode))
	}
	got := sub.recvPublish()
	g := &got.Properties
	if g.PayloadFormat != 1 || g.ContentType != "application/json" || g.ResponseTopic != "reply/here" ||
		!bytes.Equal(g.CorrelationData, []byte{1, 2, 3}) || fmt.Sprint(g.User) != fmt.Sprint(pr.User) {
		t.Fatalf("properties %+v, want %+v", g, pr)
	}
	pub.send(&packet.Publish{Topic: "nobody/listens", QoS: 1, PacketID: 2})
	if a := pub.recvAck(packet.PUBACK); a.ReasonCode != packet.NoMatchingSubscribers {
		t.Fatalf("PUBACK %#x, want 0x10", byte(a.ReasonCode))
	}
}

// SUBACK carries one code per filter: the granted QoS, or 0x80 (3.1.1) /
// 0x8F (v5) for an invalid filter [MQTT-3.9.3-1] [MQTT-3.9.3-2].
func TestSubackCodePerFilter_MQTT_3_9_3_1(t *testing.T) {
	_, addr := startServer(t, Config{})
	for _, tc := range []struct {
		v    packet.Version
		fail packet.ReasonCode
	}{{packet.V311, 0x80}, {packet.V5, packet.TopicFilterInvalid}} {
		c := dial(t, addr, tc.v)
		c.mustConnect("s", true)
		c.send(&packet.Subscribe{PacketID: 3, Subscriptions: []packet.Subscription{
			{Filter: "a/#", Options: packet.SubOptions{QoS: 2}},
			{Filter: "a/#/b", Options: packet.SubOptions{QoS: 1}},
			{Filter: "c", Options: packet.SubOptions{QoS: 1}},
		}})
		sa := c.recv().(*packet.Suback)
		if fmt.Sprint(sa.ReasonCodes) != fmt.Sprint([]packet.ReasonCode{2, tc.fail, 1}) {
			t.Fatalf("%v: SUBACK codes %v", tc.v, sa.ReasonCodes)
		}
		c.send(&packet.Unsubscribe{PacketID: 4, Filters: []string{"c", "zz"}})
		ua := c.recv().(*packet.Unsuback)
		if tc.v == packet.V5 && fmt.Sprint(ua.ReasonCodes) != fmt.Sprint([]packet.ReasonCode{0, packet.NoSubscriptionExisted}) {
			t.Fatalf("UNSUBACK codes %v", ua.ReasonCodes)
		}
		c.disconnect()
	}
}

// A subscriber that does not read cannot block a publisher: its QoS 0
// backlog is bounded, the excess dropped and counted, and other
// subscribers keep receiving.
func TestSlowConsumerDoesNotBlockPublisher(t *testing.T) {
	s, addr := startServer(t, Config{MaxQueued: 16, MaxQueuedBytes: 1 << 20})
	slow := dial(t, addr, packet.V311)
	slow.mustConnect("slow", true)
	slow.subscribe(1, "flood/#", 1)
	fast := dial(t, addr, packet.V311)
	fast.mustConnect("fast", true)
	fast.subscribe(1, "flood/#", 1)
	pub := dial(t, addr, packet.V311)
	pub.mustConnect("pub", true)
	payload := make([]byte, 16<<10)
	const n = 400 // ~6.5 MB: more than the slow consumer's socket buffers hold
	got := make(chan int, 1)
	go func() {
		count := 0
		defer func() { got <- count }()
		for {
			p, err := fast.read(waitFor)
			if err != nil {
				t.Errorf("fast subscriber: %v", err)
				return
			}
			if pp, ok := p.(*packet.Publish); ok {
				if pp.Topic == "flood/end" {
					fast.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: pp.PacketID})
					return
				}
				count++
			}
		}
	}()
	for range n {
		pub.send(&packet.Publish{Topic: "flood/data", Payload: payload})
	}
	pub.send(&packet.Publish{Topic: "flood/end", QoS: 1, PacketID: 1})
	pub.recvAck(packet.PUBACK)
	if count := <-got; count == 0 {
		t.Fatal("the fast subscriber received nothing")
	}
	eventually(t, "drops counted", func() bool { return s.Stats().DroppedQoS0 > 0 })
}

// [MQTT-4.4.0-1] with RetryInterval, an unacknowledged QoS 1 PUBLISH is
// sent again to a 3.1.1 client with DUP set [MQTT-3.3.1-1].
func TestRetryResendsWithDup_MQTT_3_3_1_1(t *testing.T) {
	_, addr := startServer(t, Config{RetryInterval: 100 * time.Millisecond})
	sub := dial(t, addr, packet.V311)
	sub.mustConnect("sub", true)
	sub.subscribe(1, "r", 1)
	pub := dial(t, addr, packet.V311)
	pub.mustConnect("pub", true)
	pub.send(&packet.Publish{Topic: "r", QoS: 1, PacketID: 1, Payload: []byte("x")})
	first := sub.recvPublish()
	again := sub.recvPublish()
	if !again.Dup || again.PacketID != first.PacketID || first.Dup {
		t.Fatalf("first %+v, resend %+v", first, again)
	}
	sub.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: first.PacketID})
	sub.expectNothing(300 * time.Millisecond)
}

// A client that publishes to its own subscription and reads only after
// writing everything does not deadlock with the server: the server keeps
// reading it while its own writes to the client are blocked.
func TestPublishingWithoutReadingDoesNotDeadlock(t *testing.T) {
	_, addr := startServer(t, Config{MaxQueued: 64, MaxQueuedBytes: 1 << 20})
	c := dial(t, addr, packet.V311)
	c.mustConnect("loop", true)
	c.subscribe(1, "loop", 1)
	payload := make([]byte, 16<<10)
	const n = 600 // ~10 MB each way, more than the socket buffers hold
	buf, _ := packet.Append(nil, &packet.Publish{Topic: "loop", Payload: payload}, packet.V311)
	c.nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
	for i := range n {
		if _, err := c.nc.Write(buf); err != nil {
			t.Fatalf("write %d: %v (the server stopped reading)", i, err)
		}
	}
	c.send(&packet.Pingreq{})
	for {
		p, err := c.read(20 * time.Second)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if p.Type() == packet.PINGRESP {
			break
		}
	}
	c.disconnect()
}
