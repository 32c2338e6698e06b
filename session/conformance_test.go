package session

import (
	"slices"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
)

// Normative statements of the delivery protocols, on the session machine
// in both roles.

// [MQTT-2.3.1-3] a client resends an unacknowledged PUBLISH with the same
// packet identifier (and DUP set).
func TestClientResendKeepsID_MQTT_2_3_1_3(t *testing.T) {
	s := newConnected(Config{Role: Client, Version: packet.V311}, v3peer)
	mustNil(t, s.Send(t0, dlv(msg("a", 1))))
	mustNil(t, s.Send(t0, dlv(msg("b", 2))))
	expect(t, drain(s).Packets, "PUBLISH(1,a,q1) PUBLISH(2,b,q2)")
	s.Disconnected(t0, 1)
	s.Connected(t0, 2, v3peer)
	expect(t, drain(s).Packets, "PUBLISH(1,a,q1,dup) PUBLISH(2,b,q2,dup)")
	mustNil(t, s.Receive(t0, ack(packet.PUBREC, 2)))
	expect(t, drain(s).Packets, "PUBREL(2)")
	s.Disconnected(t0, 2)
	s.Connected(t0, 3, v3peer)
	expect(t, drain(s).Packets, "PUBLISH(1,a,q1,dup) PUBREL(2)")
}

// [MQTT5-4.3.3-1] [MQTT5-2.2.1-4] a new QoS 2 (or 1) PUBLISH gets an unused
// identifier: never 0, and never that of a flow still open, also after
// the identifiers wrap around.
func TestUnusedPacketIDAfterWrap_MQTT5_4_3_3_1(t *testing.T) {
	s := newConnected(v5cfg, v5peer)
	mustNil(t, s.Send(t0, dlv(msg("held", 2))))
	expect(t, drain(s).Packets, "PUBLISH(1,held,q2)")
	mustNil(t, s.Receive(t0, ack(packet.PUBREC, 1)))
	expect(t, drain(s).Packets, "PUBREL(1)") // flow 1 stays open, awaiting PUBCOMP
	st := s.State()
	st.NextID = 65533 // close to the wrap
	s, err := Restore(v5cfg, st)
	mustNil(t, err)
	s.Connected(t0, 2, v5peer)
	expect(t, drain(s).Packets, "PUBREL(1)")
	m := msg("churn", 2)
	var ids []uint16
	for i := range 6 {
		mustNil(t, s.Send(t0, dlv(m)))
		rd := drain(s)
		if len(rd.Packets) != 1 || rd.Packets[0].Kind != packet.PUBLISH {
			t.Fatalf("message %d: %s", i, show(rd.Packets))
		}
		id := rd.Packets[0].PacketID
		ids = append(ids, id)
		if id == 0 || id == 1 {
			t.Fatalf("message %d got identifier %d", i, id)
		}
		mustNil(t, s.Receive(t0, ack(packet.PUBREC, id)))
		mustNil(t, s.Receive(t0, ack(packet.PUBCOMP, id)))
		drain(s)
	}
	if !slices.Equal(ids, []uint16{65533, 65534, 65535, 2, 3, 4}) {
		t.Fatalf("identifiers %v", ids)
	}
}

// [MQTT5-4.3.3-7] once a QoS 2 PUBLISH was sent its message expiry no
// longer applies: it is resent, and its PUBREL too, after the interval ran
// out.
func TestNoExpiryOnceSent_MQTT5_4_3_3_7(t *testing.T) {
	s := newConnected(v5cfg, v5peer)
	a := &Message{Topic: "a", QoS: 2, Expires: t0.Add(time.Second)}
	b := &Message{Topic: "b", QoS: 2, Expires: t0.Add(time.Second)}
	mustNil(t, s.Send(t0, dlv(a)))
	mustNil(t, s.Send(t0, dlv(b)))
	expect(t, drain(s).Packets, "PUBLISH(1,a,q2) PUBLISH(2,b,q2)")
	mustNil(t, s.Receive(t0, ack(packet.PUBREC, 2)))
	expect(t, drain(s).Packets, "PUBREL(2)")
	later := t0.Add(time.Hour)
	s.Disconnected(later, 1)
	s.Connected(later, 2, v5peer)
	rd := drain(s)
	expect(t, rd.Packets, "PUBLISH(1,a,q2,dup) PUBREL(2)")
	if st := s.Stats(); st.DroppedTotal() != 0 {
		t.Fatalf("dropped: %+v", st)
	}
}

// [MQTT5-4.3.3-13] the receiver of a QoS 2 message completes the exchange
// even when the message expired in between.
func TestQoS2ReceiverIgnoresExpiry_MQTT5_4_3_3_13(t *testing.T) {
	for _, role := range []Role{Server, Client} {
		s := newConnected(Config{Role: role, Version: packet.V5}, v5peer)
		p := pub(4, 2, "e")
		p.Properties.MessageExpiry = 1
		p.Properties.Set(packet.PropMessageExpiry)
		mustNil(t, s.ReceivePublish(t0, p, nil, 0))
		expect(t, drain(s).Packets, "PUBREC(4)")
		mustNil(t, s.Receive(t0.Add(time.Minute), ack(packet.PUBREL, 4)))
		expect(t, drain(s).Packets, "PUBCOMP(4)")
	}
}

// [MQTT5-4.9.0-1] the initial send quota is non-zero and at most the
// peer's Receive Maximum.
func TestInitialSendQuota_MQTT5_4_9_0_1(t *testing.T) {
	for _, tc := range []struct {
		peerMax, window uint16
		want            int
	}{{1, 8, 1}, {3, 8, 3}, {100, 8, 8}, {0, 8, 8}} {
		s := newConnected(Config{Version: packet.V5, SendWindow: tc.window}, Peer{Version: packet.V5, ReceiveMaximum: tc.peerMax})
		for range 10 {
			mustNil(t, s.Send(t0, dlv(msg("q", 1))))
		}
		if n := len(drain(s).Packets); n != tc.want {
			t.Errorf("Receive Maximum %d, window %d: %d PUBLISH sent, want %d", tc.peerMax, tc.window, n, tc.want)
		}
	}
}

// [MQTT5-4.6.0-2] [MQTT5-4.6.0-3] [MQTT-4.6.0-3] a client acknowledges
// QoS 1 and QoS 2 PUBLISH packets in the order they arrived;
// [MQTT5-4.6.0-4] [MQTT-4.6.0-4] it sends PUBREL in the order the PUBRECs
// arrived.
func TestClientAckOrder_MQTT5_4_6_0_3(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		peer := Peer{Version: v}
		s := newConnected(Config{Role: Client, Version: v}, peer)
		for _, id := range []uint16{9, 3, 7} {
			mustNil(t, s.ReceivePublish(t0, pub(id, 1, "one"), nil, 0))
		}
		for _, id := range []uint16{5, 2, 8} {
			mustNil(t, s.ReceivePublish(t0, pub(id, 2, "two"), nil, 0))
		}
		expect(t, drain(s).Packets, "PUBACK(9) PUBACK(3) PUBACK(7) PUBREC(5) PUBREC(2) PUBREC(8)")
		for _, tp := range []string{"a", "b", "c"} {
			mustNil(t, s.Send(t0, dlv(msg(tp, 2))))
		}
		expect(t, drain(s).Packets, "PUBLISH(1,a,q2) PUBLISH(2,b,q2) PUBLISH(3,c,q2)")
		for _, id := range []uint16{3, 1, 2} {
			mustNil(t, s.Receive(t0, ack(packet.PUBREC, id)))
		}
		expect(t, drain(s).Packets, "PUBREL(3) PUBREL(1) PUBREL(2)")
	}
}
