package broker

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/store/memory"
)

// publishQoS1 publishes and waits for PUBACK, so the message is routed.
func publishQoS1(c *tclient, id uint16, topic, payload string) {
	c.t.Helper()
	c.send(&packet.Publish{Topic: topic, QoS: 1, PacketID: id, Payload: []byte(payload)})
	c.recvAck(packet.PUBACK)
}

// [MQTT5-4.8.2-1] [MQTT5-4.8.2-3]: a message matching a shared subscription
// goes to one member of the group, in turn, at the member's granted QoS;
// v5 and 3.1.1 members share one group; a non-shared subscriber of the
// same filter gets every message; Shared Subscription Available is
// announced as 1.
func TestSharedSubscriptionRoundRobin_MQTT5_4_8_2_1(t *testing.T) {
	s, addr := startServer(t, Config{})
	var members []*tclient
	for i, v := range []packet.Version{packet.V5, packet.V5, packet.V311} {
		c := dial(t, addr, v)
		ack := c.mustConnect(fmt.Sprintf("m%d", i), true)
		if v == packet.V5 && ack.Properties.SharedSubAvailable != 1 {
			t.Fatal("CONNACK does not announce Shared Subscription Available 1")
		}
		if sa := c.subscribe(1, "$share/g/s/+", 0); sa.ReasonCodes[0] != 0 {
			t.Fatalf("SUBACK %#x", byte(sa.ReasonCodes[0]))
		}
		members = append(members, c)
	}
	plain := dial(t, addr, packet.V5)
	plain.mustConnect("plain", true)
	plain.subscribe(1, "s/+", 1)
	pub := dial(t, addr, packet.V5)
	pub.mustConnect("pub", true)
	const n = 9
	for i := range n {
		publishQoS1(pub, uint16(i+1), "s/x", fmt.Sprint(i))
	}
	for range n {
		if p := plain.recvPublish(); p.QoS != 1 {
			t.Fatalf("non-shared subscriber: QoS %d", p.QoS)
		}
	}
	var all []string
	for i, c := range members {
		for range n / len(members) {
			p := c.recvPublish()
			if p.QoS != 0 { // [MQTT5-4.8.2-3] the member's granted QoS
				t.Fatalf("member %d: QoS %d, want 0", i, p.QoS)
			}
			all = append(all, string(p.Payload))
		}
		c.expectNothing(50 * time.Millisecond)
	}
	if got := s.Stats().Subscriptions; got != int64(len(members)+1) {
		t.Errorf("Stats().Subscriptions = %d, want %d", got, len(members)+1)
	}
	slices.Sort(all)
	if len(all) != n || slices.Compact(all) == nil || len(slices.Compact(all)) != n {
		t.Fatalf("members got %v, want each of the %d messages once", all, n)
	}
}

// [MQTT5-4.8.2-2]: an invalid share name or a missing filter is refused
// with 0x8F (v5) or 0x80 (3.1.1); other filters of the packet still count.
func TestSharedSubscriptionInvalid_MQTT5_4_8_2_2(t *testing.T) {
	_, addr := startServer(t, Config{})
	bad := []string{"$share/g", "$share//x", "$share/a+/x", "$share/a#/x", "$share/g/"}
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		c := dial(t, addr, v)
		c.mustConnect("bad", true)
		var subs []packet.Subscription
		for _, f := range bad {
			subs = append(subs, packet.Subscription{Filter: f})
		}
		subs = append(subs, packet.Subscription{Filter: "$share/ok/x"})
		c.send(&packet.Subscribe{PacketID: 7, Subscriptions: subs})
		sa := c.recv().(*packet.Suback)
		want := packet.TopicFilterInvalid
		if v != packet.V5 {
			want = packet.SubackFailure311
		}
		for i := range bad {
			if sa.ReasonCodes[i] != want {
				t.Errorf("%v %q: SUBACK %#x, want %#x", v, bad[i], byte(sa.ReasonCodes[i]), byte(want))
			}
		}
		if sa.ReasonCodes[len(bad)] != 0 {
			t.Errorf("%v valid shared filter: SUBACK %#x", v, byte(sa.ReasonCodes[len(bad)]))
		}
	}
}

// [MQTT5-3.8.3-4]: No Local on a shared subscription is a protocol error.
func TestSharedSubscriptionNoLocal_MQTT5_3_8_3_4(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr, packet.V5)
	c.mustConnect("nl", true)
	// The encoder refuses this packet: raw bytes. Packet identifier 1, no
	// properties, filter "$share/g/x", options No Local (bit 2).
	f := "$share/g/x"
	b := []byte{0x82, byte(2 + 1 + 2 + len(f) + 1), 0, 1, 0, 0, byte(len(f))}
	c.sendRaw(append(append(b, f...), 0x04))
	c.expectDisconnect(packet.ProtocolError)
}

// Section 4.8.2: retained messages are not sent for a shared subscription.
func TestSharedSubscriptionNoRetained(t *testing.T) {
	_, addr := startServer(t, Config{})
	pub := dial(t, addr, packet.V5)
	pub.mustConnect("pub", true)
	pub.send(&packet.Publish{Topic: "r/x", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("kept")})
	pub.recvAck(packet.PUBACK)
	c := dial(t, addr, packet.V5)
	c.mustConnect("s", true)
	c.subscribe(1, "$share/g/r/#", 1)
	c.expectNothing(100 * time.Millisecond)
	c.subscribe(2, "r/#", 1) // the same topic without $share: sent
	if p := c.recvPublish(); string(p.Payload) != "kept" {
		t.Fatalf("got %+v", p)
	}
}

// When a member's session ends, the QoS 1 and 2 messages the group gave it
// and it did not receive go to the remaining members (queued ones, QoS 1 in
// flight); a QoS 2 message already sent to it goes to no other member
// [MQTT5-4.8.2-5].
func TestSharedSubscriptionHandover_MQTT5_4_8_2_5(t *testing.T) {
	for _, qos := range []packet.QoS{1, 2} {
		t.Run(fmt.Sprintf("QoS%d", qos), func(t *testing.T) {
			_, addr := startServer(t, Config{})
			a := dial(t, addr, packet.V5)
			a.mustConnect("a", true, withProps(func(p *packet.Properties) {
				p.ReceiveMaximum = 1 // one in flight, the rest queued
				p.Set(packet.PropReceiveMaximum)
			}))
			a.subscribe(1, "$share/g/h", qos)
			pub := dial(t, addr, packet.V5)
			pub.mustConnect("pub", true)
			const n = 4
			for i := range n {
				pub.send(&packet.Publish{Topic: "h", QoS: qos, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
				if qos == 1 {
					pub.recvAck(packet.PUBACK)
				} else {
					pub.recvAck(packet.PUBREC)
					pub.send(&packet.Ack{PacketType: packet.PUBREL, PacketID: uint16(i + 1)})
					pub.recvAck(packet.PUBCOMP)
				}
			}
			if p := a.recvPublish(); string(p.Payload) != "0" {
				t.Fatalf("a got %q, want 0", p.Payload)
			}
			b := dial(t, addr, packet.V5)
			b.mustConnect("b", true)
			b.subscribe(1, "$share/g/h", qos)
			a.nc.Close() // Session Expiry 0: a's session ends, unacknowledged

			want := []string{"0", "1", "2", "3"}
			if qos == 2 {
				want = want[1:] // "0" was sent to a at QoS 2
			}
			var got []string
			for rels := 0; len(got) < len(want) || (qos == 2 && rels < len(want)); {
				switch p := b.recv().(type) {
				case *packet.Publish:
					got = append(got, string(p.Payload))
					if qos == 1 {
						b.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: p.PacketID})
					} else {
						b.send(&packet.Ack{PacketType: packet.PUBREC, PacketID: p.PacketID})
					}
				case *packet.Ack:
					rels++
					b.send(&packet.Ack{PacketType: packet.PUBCOMP, PacketID: p.PacketID})
				}
			}
			b.expectNothing(100 * time.Millisecond)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("b got %v, want %v", got, want)
			}
		})
	}
}

// A member with a persistent session that is offline gets nothing while
// another member is connected; with none connected, messages wait in an
// offline member's session.
func TestSharedSubscriptionPrefersConnected(t *testing.T) {
	for _, policy := range []string{ShareRoundRobin, ShareRandom, ShareHashTopic, ShareHashClient} {
		t.Run(policy, func(t *testing.T) {
			s, addr := startServer(t, Config{SharePolicy: policy})
			off := dial(t, addr, packet.V311)
			off.mustConnect("off", false)
			off.subscribe(1, "$share/g/p/+", 1)
			off.disconnect()
			// The server detaches the session just after closing the socket.
			eventually(t, "the member offline", func() bool { return s.Stats().Connections == 0 })
			on := dial(t, addr, packet.V5)
			on.mustConnect("on", true)
			on.subscribe(1, "$share/g/p/+", 1)
			pub := dial(t, addr, packet.V5)
			pub.mustConnect("pub", true)
			for i := range 4 {
				publishQoS1(pub, uint16(i+1), fmt.Sprintf("p/%d", i), "x")
			}
			for range 4 {
				p := on.recvPublish()
				on.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: p.PacketID})
			}
			on.disconnect() // the group now has only the offline member
			// Wait for the detach, or p/9 may still go to the member leaving.
			eventually(t, "the second member gone", func() bool { return s.Stats().Connections == 1 })
			publishQoS1(pub, 9, "p/9", "late")
			back := dial(t, addr, packet.V311)
			if ack := back.mustConnect("off", false); !ack.SessionPresent {
				t.Fatal("session not present")
			}
			if p := back.recvPublish(); p.Topic != "p/9" {
				t.Fatalf("offline member got %q, want only p/9", p.Topic)
			}
		})
	}
}

// With a Store, a persistent member's shared subscription survives a
// restart: the group's messages published while it is offline wait in its
// session.
func TestSharedSubscriptionSurvivesRestart(t *testing.T) {
	st := memory.New()
	defer st.Close()
	addr, stop := runOn(t, Config{Store: st})
	m := dial(t, addr, packet.V5)
	m.mustConnect("member", false, withSessionExpiry(300))
	m.subscribe(1, "$share/g/d/+", 1)
	m.disconnect()
	stop()

	addr, stop = runOn(t, Config{Store: st})
	defer stop()
	pub := dial(t, addr, packet.V5)
	pub.mustConnect("pub", true)
	pub.send(&packet.Publish{Topic: "d/1", QoS: 1, PacketID: 1, Payload: []byte("kept")})
	if a := pub.recvAck(packet.PUBACK); a.ReasonCode != packet.Success {
		t.Fatalf("PUBACK %#x: the restored shared subscription does not match", byte(a.ReasonCode))
	}
	back := dial(t, addr, packet.V5)
	if ack := back.mustConnect("member", false, withSessionExpiry(300)); !ack.SessionPresent {
		t.Fatal("session not present")
	}
	if p := back.recvPublish(); string(p.Payload) != "kept" {
		t.Fatalf("got %q", p.Payload)
	}
}

func TestSharePolicyUnknown(t *testing.T) {
	if _, err := New(Config{SharePolicy: "fastest", Logger: testLogger()}); err == nil {
		t.Fatal("New accepted an unknown SharePolicy")
	}
}

// ShareHashTopic and ShareHashClient keep a topic's, or a publisher's,
// messages on one member.
func TestSharePolicyHash(t *testing.T) {
	for _, policy := range []string{ShareHashTopic, ShareHashClient} {
		t.Run(policy, func(t *testing.T) {
			_, addr := startServer(t, Config{SharePolicy: policy})
			var members []*tclient
			for i := range 3 {
				c := dial(t, addr, packet.V5)
				c.mustConnect(fmt.Sprintf("h%d", i), true)
				c.subscribe(1, "$share/g/h/#", 0)
				members = append(members, c)
			}
			pub := dial(t, addr, packet.V5)
			pub.mustConnect("pub", true)
			const n = 6
			for i := range n {
				topic := "h/one"
				if policy == ShareHashClient {
					topic = fmt.Sprintf("h/%d", i) // varying topics, one publisher
				}
				publishQoS1(pub, uint16(i+1), topic, "x")
			}
			counts := make([]int, len(members))
			total := 0
			for i, c := range members {
				for {
					if _, err := c.read(100 * time.Millisecond); err != nil {
						break
					}
					counts[i]++
					total++
				}
			}
			if total != n || !slices.Contains(counts, n) {
				t.Fatalf("deliveries per member %v, want all %d to one", counts, n)
			}
		})
	}
}
