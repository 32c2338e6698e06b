package session

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
)

var (
	v5cfg  = Config{Version: packet.V5}
	v3cfg  = Config{Version: packet.V311}
	v5peer = Peer{Version: packet.V5}
	v3peer = Peer{Version: packet.V311}
)

// [MQTT-4.3.1-1] [MQTT5-4.3.1-1]: QoS 0 is sent with DUP 0 and no identifier, and is not tracked.
func TestMQTT_4_3_1_1_QoS0SendNoState(t *testing.T) {
	s := newConnected(v5cfg, v5peer)
	mustNil(t, s.Send(t0, dlv(msg("a", 0))))
	rd := drain(s)
	expect(t, rd.Packets, "PUBLISH(0,a,q0)")
	if len(rd.Persist) != 0 || s.Stats().InFlight != 0 {
		t.Fatalf("QoS 0 left state: %+v %+v", rd.Persist, s.Stats())
	}
}

// [MQTT-4.3.2-1] [MQTT5-4.3.2-1] [MQTT5-4.3.2-3]: QoS 1 gets a fresh identifier and stays unacknowledged until PUBACK.
func TestMQTT_4_3_2_1_QoS1Sender(t *testing.T) {
	s := newConnected(v5cfg, v5peer)
	m1, m2 := msg("a", 1), msg("b", 1)
	mustNil(t, s.Send(t0, dlv(m1)))
	mustNil(t, s.Send(t0, dlv(m2)))
	rd := drain(s)
	expect(t, rd.Packets, "PUBLISH(1,a,q1) PUBLISH(2,b,q1)")
	if s.Stats().InFlight != 2 {
		t.Fatalf("in flight %d", s.Stats().InFlight)
	}
	mustNil(t, s.Receive(t0, ack(packet.PUBACK, 2)))
	rd = drain(s)
	if len(rd.Done) != 1 || rd.Done[0].Delivery.Msg != m2 || rd.Done[0].PacketID != 2 {
		t.Fatalf("done %+v", rd.Done)
	}
	if len(rd.Persist) != 1 || rd.Persist[0].Kind != ChangeAcked || rd.Persist[0].PacketID != 2 {
		t.Fatalf("persist %+v", rd.Persist)
	}
	// Unknown PUBACK is counted and ignored.
	mustNil(t, s.Receive(t0, ack(packet.PUBACK, 2)))
	if st := s.Stats(); st.UnknownAcks != 1 || st.InFlight != 1 || st.Completed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// [MQTT5-4.3.3-4] [MQTT5-4.3.3-5] [MQTT-4.3.3-1]: QoS 2 sender: PUBLISH, PUBREC -> PUBREL, PUBCOMP ends the flow.
func TestMQTT5_4_3_3_4_QoS2Sender(t *testing.T) {
	s := newConnected(v5cfg, v5peer)
	m := msg("a", 2)
	mustNil(t, s.Send(t0, dlv(m)))
	expect(t, drain(s).Packets, "PUBLISH(1,a,q2)")
	mustNil(t, s.Receive(t0, ack(packet.PUBREC, 1)))
	rd := drain(s)
	expect(t, rd.Packets, "PUBREL(1)")
	if rd.Persist[0].Kind != ChangePubrec {
		t.Fatalf("persist %+v", rd.Persist)
	}
	// A duplicate PUBREC gets PUBREL again.
	mustNil(t, s.Receive(t0, ack(packet.PUBREC, 1)))
	expect(t, drain(s).Packets, "PUBREL(1)")
	mustNil(t, s.Receive(t0, ack(packet.PUBCOMP, 1)))
	rd = drain(s)
	if len(rd.Done) != 1 || rd.Done[0].Delivery.Msg != m || s.Stats().InFlight != 0 {
		t.Fatalf("done %+v stats %+v", rd.Done, s.Stats())
	}
}

// [MQTT5-4.4.0-2]: PUBREC or PUBACK with a reason >= 0x80 ends the flow; no PUBREL, no retransmission.
func TestMQTT5_4_4_0_2_ErrorReasonEndsFlow(t *testing.T) {
	s := newConnected(v5cfg, v5peer)
	mustNil(t, s.Send(t0, dlv(msg("a", 2))))
	mustNil(t, s.Send(t0, dlv(msg("b", 1))))
	drain(s)
	mustNil(t, s.Receive(t0, ackReason(packet.PUBREC, 1, packet.QuotaExceeded)))
	mustNil(t, s.Receive(t0, ackReason(packet.PUBACK, 2, packet.NotAuthorized)))
	rd := drain(s)
	expect(t, rd.Packets, "")
	if len(rd.Done) != 2 || rd.Done[0].Reason != packet.QuotaExceeded || rd.Done[1].Reason != packet.NotAuthorized {
		t.Fatalf("done %+v", rd.Done)
	}
	s.Disconnected(t0, 1)
	s.Connected(t0, 2, v5peer)
	expect(t, drain(s).Packets, "")
}

// [MQTT5-4.3.3-3]: PUBREC for an unknown identifier gets PUBREL 0x92 in MQTT 5, PUBREL in 3.1.1.
func TestMQTT5_4_3_3_3_UnknownPubrec(t *testing.T) {
	s := newConnected(v5cfg, v5peer)
	mustNil(t, s.Receive(t0, ack(packet.PUBREC, 7)))
	expect(t, drain(s).Packets, "PUBREL(7,0x92)")
	s3 := newConnected(v3cfg, v3peer)
	mustNil(t, s3.Receive(t0, ack(packet.PUBREC, 7)))
	expect(t, drain(s3).Packets, "PUBREL(7)")
	mustNil(t, s3.Receive(t0, ack(packet.PUBCOMP, 7)))
	if s3.Stats().UnknownAcks != 2 {
		t.Fatalf("unknown acks %d", s3.Stats().UnknownAcks)
	}
}

// [MQTT-2.3.1-1] [MQTT-2.3.1-2]: identifiers are non-zero, unused by other flows, and wrap after 65535.
func TestMQTT_2_3_1_2_IdentifierAllocation(t *testing.T) {
	s := newConnected(Config{Version: packet.V311, SendWindow: 3}, v3peer)
	s.nextID = 65534
	for _, tp := range []string{"a", "b", "c"} {
		mustNil(t, s.Send(t0, dlv(msg(tp, 1))))
	}
	expect(t, drain(s).Packets, "PUBLISH(65534,a,q1) PUBLISH(65535,b,q1) PUBLISH(1,c,q1)")
	// Complete b; the next allocation after 1 is 2; later ones skip 65534 which is still in use.
	mustNil(t, s.Receive(t0, ack(packet.PUBACK, 65535)))
	mustNil(t, s.Send(t0, dlv(msg("d", 1))))
	expect(t, drain(s).Packets, "PUBLISH(2,d,q1)")
	s.nextID = 65534
	mustNil(t, s.Receive(t0, ack(packet.PUBACK, 2)))
	mustNil(t, s.Send(t0, dlv(msg("e", 1))))
	expect(t, drain(s).Packets, "PUBLISH(65535,e,q1)")
}

// [MQTT5-3.3.4-9] [MQTT5-4.9.0-2]: no more than the peer's Receive Maximum QoS 1/2 in flight; QoS 0 is not counted
// but keeps FIFO order behind queued messages.
func TestMQTT5_3_3_4_9_ReceiveMaximumWindow(t *testing.T) {
	s := newConnected(v5cfg, Peer{Version: packet.V5, ReceiveMaximum: 2})
	for _, tp := range []string{"a", "b", "c"} {
		mustNil(t, s.Send(t0, dlv(msg(tp, 1))))
	}
	mustNil(t, s.Send(t0, dlv(msg("z", 0))))
	rd := drain(s)
	expect(t, rd.Packets, "PUBLISH(1,a,q1) PUBLISH(2,b,q1)")
	if st := s.Stats(); st.Queued != 2 || st.InFlight != 2 {
		t.Fatalf("stats %+v", st)
	}
	mustNil(t, s.Receive(t0, ack(packet.PUBACK, 1)))
	expect(t, drain(s).Packets, "PUBLISH(3,c,q1) PUBLISH(0,z,q0)")
}

// [MQTT-3.3.4-1]: SendWindow is the window for 3.1.1 peers, and caps an MQTT 5 peer's Receive Maximum.
func TestSendWindow(t *testing.T) {
	s := newConnected(Config{Version: packet.V311, SendWindow: 1}, v3peer)
	mustNil(t, s.Send(t0, dlv(msg("a", 2))))
	mustNil(t, s.Send(t0, dlv(msg("b", 1))))
	expect(t, drain(s).Packets, "PUBLISH(1,a,q2)")
	s5 := newConnected(Config{Version: packet.V5, SendWindow: 2}, Peer{Version: packet.V5, ReceiveMaximum: 10})
	if s5.Window() != 2 {
		t.Fatalf("window %d", s5.Window())
	}
	s5b := newConnected(Config{Version: packet.V5, SendWindow: 100}, Peer{Version: packet.V5, ReceiveMaximum: 10})
	if s5b.Window() != 10 {
		t.Fatalf("window %d", s5b.Window())
	}
}

// [MQTT-4.4.0-1] [MQTT5-4.4.0-1] [MQTT-4.6.0-1]: on reconnection unacknowledged PUBLISH are resent with DUP, their
// original identifiers and order, and PUBREL where PUBREC was received.
func TestMQTT_4_4_0_1_ResendOnReconnect(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		peer Peer
	}{{v3cfg, v3peer}, {v5cfg, v5peer}} {
		s := newConnected(c.cfg, c.peer)
		for _, m := range []*Message{msg("a", 1), msg("b", 2), msg("c", 2), msg("d", 1)} {
			mustNil(t, s.Send(t0, dlv(m)))
		}
		drain(s)
		mustNil(t, s.Receive(t0, ack(packet.PUBREC, 2)))
		mustNil(t, s.Receive(t0, ack(packet.PUBACK, 4)))
		drain(s)
		s.Disconnected(t0, 1)
		s.Connected(t0, 2, c.peer)
		rd := drain(s)
		if rd.Gen != 2 {
			t.Fatalf("gen %d", rd.Gen)
		}
		expect(t, rd.Packets, "PUBLISH(1,a,q1,dup) PUBREL(2) PUBLISH(3,c,q2,dup)")
		if st := s.Stats(); st.Resent != 3 {
			t.Fatalf("resent %d", st.Resent)
		}
	}
}

// [MQTT-3.3.1-1] [MQTT5-3.3.1-3]: DUP is set only on a retransmission: a PUBLISH dropped unsent with its connection is
// sent later without DUP.
func TestMQTT5_3_3_1_3_NoDupWhenNeverSent(t *testing.T) {
	s := newConnected(v5cfg, v5peer)
	mustNil(t, s.Send(t0, dlv(msg("a", 1))))
	rd := s.Ready() // a is handed out
	mustNil(t, s.Send(t0, dlv(msg("b", 1))))
	mustNil(t, s.Send(t0, dlv(msg("q", 0))))
	s.Disconnected(t0, 1) // b and q never left
	expect(t, rd.Packets, "PUBLISH(1,a,q1)")
	s.Advance()
	if s.Stats().Dropped[DropDisconnected] != 1 {
		t.Fatalf("stats %+v", s.Stats())
	}
	s.Connected(t0, 2, v5peer)
	expect(t, drain(s).Packets, "PUBLISH(1,a,q1,dup) PUBLISH(2,b,q1)")
}

// Disconnected with a stale generation is ignored (session takeover).
func TestStaleDisconnectIgnored(t *testing.T) {
	s := newConnected(v5cfg, v5peer)
	s.Connected(t0, 2, v5peer) // takeover without Disconnected(1)
	s.Disconnected(t0, 1)
	if !s.IsConnected() {
		t.Fatal("stale Disconnected detached the new connection")
	}
	mustNil(t, s.Send(t0, dlv(msg("a", 0))))
	rd := drain(s)
	if rd.Gen != 2 || len(rd.Packets) != 1 {
		t.Fatalf("ready %+v", rd)
	}
}

// [MQTT-4.3.2-2] [MQTT5-4.3.2-4]: inbound QoS 1 is delivered and acknowledged with PUBACK, acks in arrival order [MQTT-4.6.0-2].
func TestMQTT_4_3_2_2_QoS1Receiver(t *testing.T) {
	s := newConnected(v5cfg, v5peer)
	mustNil(t, s.Receive(t0, pub(5, 1, "x")))
	mustNil(t, s.Receive(t0, pub(3, 1, "y")))
	rd := drain(s)
	expect(t, rd.Packets, "PUBACK(5) PUBACK(3)")
	if len(rd.Deliver) != 2 || rd.Deliver[0].Topic != "x" || rd.Deliver[1].Topic != "y" {
		t.Fatalf("deliver %+v", rd.Deliver)
	}
	// [MQTT5-4.3.2-5]: after PUBACK the same identifier is a new message.
	mustNil(t, s.Receive(t0, pub(5, 1, "x2")))
	if rd := drain(s); len(rd.Deliver) != 1 {
		t.Fatalf("deliver %+v", rd.Deliver)
	}
}

// [MQTT5-4.3.3-8] [MQTT5-4.3.3-10] [MQTT5-4.3.3-11] [MQTT5-4.3.3-12]: inbound QoS 2 is delivered once; a repeated PUBLISH
// before PUBREL gets PUBREC again without a second delivery; PUBREL gets PUBCOMP; afterwards the id is new.
func TestMQTT5_4_3_3_10_QoS2ExactlyOnce(t *testing.T) {
	s := newConnected(v5cfg, v5peer)
	mustNil(t, s.Receive(t0, pub(9, 2, "x")))
	rd := drain(s)
	expect(t, rd.Packets, "PUBREC(9)")
	if len(rd.Deliver) != 1 || len(rd.Persist) != 1 || rd.Persist[0].Kind != ChangeInbound {
		t.Fatalf("ready %+v", rd)
	}
	dup := pub(9, 2, "x")
	dup.Dup = true
	mustNil(t, s.Receive(t0, dup))
	rd = drain(s)
	expect(t, rd.Packets, "PUBREC(9)")
	if len(rd.Deliver) != 0 || s.Stats().Duplicates != 1 {
		t.Fatalf("redelivered: %+v", rd)
	}
	mustNil(t, s.Receive(t0, ack(packet.PUBREL, 9)))
	rd = drain(s)
	expect(t, rd.Packets, "PUBCOMP(9)")
	mustNil(t, s.Receive(t0, pub(9, 2, "x")))
	if rd := drain(s); len(rd.Deliver) != 1 {
		t.Fatalf("new message after PUBCOMP not delivered")
	}
}

// The exactly-once state survives reconnection: a resent QoS 2 PUBLISH after reconnect is not delivered again.
func TestMQTT_4_3_3_2_QoS2DuplicateAcrossReconnect(t *testing.T) {
	s := newConnected(v3cfg, v3peer)
	mustNil(t, s.Receive(t0, pub(4, 2, "x")))
	drain(s)
	s.Disconnected(t0, 1)
	s.Connected(t0, 2, v3peer)
	mustNil(t, s.Receive(t0, pub(4, 2, "x")))
	rd := drain(s)
	expect(t, rd.Packets, "PUBREC(4)")
	if len(rd.Deliver) != 0 {
		t.Fatal("delivered twice")
	}
}

// [MQTT5-4.3.3-11]: PUBREL for an unknown identifier gets PUBCOMP 0x92 in MQTT 5 and plain PUBCOMP in 3.1.1.
func TestMQTT5_4_3_3_11_UnknownPubrel(t *testing.T) {
	s := newConnected(v5cfg, v5peer)
	mustNil(t, s.Receive(t0, ack(packet.PUBREL, 3)))
	expect(t, drain(s).Packets, "PUBCOMP(3,0x92)")
	s3 := newConnected(v3cfg, v3peer)
	mustNil(t, s3.Receive(t0, ack(packet.PUBREL, 3)))
	expect(t, drain(s3).Packets, "PUBCOMP(3)")
}

// Refusal: MQTT 5 acks carry the caller's reason and refused messages are not delivered; 0x10 is still delivered;
// [MQTT-3.3.5-2] 3.1.1 acks positively without delivering.
func TestMQTT_3_3_5_2_Refusal(t *testing.T) {
	s := newConnected(v5cfg, v5peer)
	mustNil(t, s.ReceivePublish(t0, pub(1, 1, "a"), nil, packet.NotAuthorized))
	mustNil(t, s.ReceivePublish(t0, pub(2, 2, "b"), nil, packet.NotAuthorized))
	mustNil(t, s.ReceivePublish(t0, pub(3, 1, "c"), nil, packet.NoMatchingSubscribers))
	rd := drain(s)
	expect(t, rd.Packets, "PUBACK(1,0x87) PUBREC(2,0x87) PUBACK(3,0x10)")
	if len(rd.Deliver) != 1 || rd.Deliver[0].Topic != "c" {
		t.Fatalf("deliver %+v", rd.Deliver)
	}
	// [MQTT5-4.3.3-9]: after a refusing PUBREC the identifier is a new message.
	mustNil(t, s.Receive(t0, pub(2, 2, "b")))
	if rd := drain(s); len(rd.Deliver) != 1 {
		t.Fatal("identifier still awaited PUBREL after refusal")
	}
	s3 := newConnected(v3cfg, v3peer)
	mustNil(t, s3.ReceivePublish(t0, pub(1, 1, "a"), nil, packet.NotAuthorized))
	rd = drain(s3)
	expect(t, rd.Packets, "PUBACK(1)")
	if len(rd.Deliver) != 0 {
		t.Fatal("refused message delivered")
	}
}

// Inbound beyond our Receive Maximum is an error with reason 0x93 in MQTT 5.
func TestInboundReceiveMaximumExceeded(t *testing.T) {
	s := newConnected(Config{Version: packet.V5, ReceiveMaximum: 2}, v5peer)
	mustNil(t, s.Receive(t0, pub(1, 2, "a")))
	mustNil(t, s.Receive(t0, pub(2, 1, "b")))
	var e *packet.Error
	if err := s.Receive(t0, pub(3, 1, "c")); !errors.As(err, &e) || e.Code != packet.ReceiveMaximumExceeded {
		t.Fatalf("got %v", err)
	}
	drain(s) // PUBACK(2) sent: one slot free again
	mustNil(t, s.Receive(t0, pub(3, 1, "c")))
}

// Malformed input is an error, never a panic.
func TestBadInbound(t *testing.T) {
	s := newConnected(v5cfg, v5peer)
	for _, p := range []packet.Packet{pub(0, 1, "a"), pub(1, 3, "a"), ack(packet.PUBACK, 0), &packet.Pingreq{}, nil} {
		if err := s.Receive(t0, p); err == nil {
			t.Errorf("%T %+v accepted", p, p)
		}
	}
	if err := s.Send(t0, Delivery{}); err == nil {
		t.Error("nil message accepted")
	}
	s.Disconnected(t0, 1)
	if err := s.Receive(t0, pub(1, 1, "a")); err == nil {
		t.Error("PUBLISH while disconnected accepted")
	}
}

// Offline queue: QoS 0 dropped while offline by default, queued with QueueQoS0; queued messages go out on connect.
func TestOfflineQueue(t *testing.T) {
	s := New(v3cfg)
	mustNil(t, s.Send(t0, dlv(msg("z", 0))))
	mustNil(t, s.Send(t0, dlv(msg("a", 1))))
	rd := drain(s)
	if len(rd.Done) != 1 || rd.Done[0].Drop != DropQoS0Offline || len(rd.Persist) != 1 || rd.Persist[0].Kind != ChangeQueued {
		t.Fatalf("ready %+v", rd)
	}
	s.Connected(t0, 1, v3peer)
	rd = drain(s)
	expect(t, rd.Packets, "PUBLISH(1,a,q1)")
	if rd.Persist[0].Kind != ChangeInflight || rd.Persist[0].Seq != 2 {
		t.Fatalf("persist %+v", rd.Persist)
	}

	q := New(Config{Version: packet.V311, QueueQoS0: true})
	mustNil(t, q.Send(t0, dlv(msg("z", 0))))
	q.Connected(t0, 1, v3peer)
	expect(t, drain(q).Packets, "PUBLISH(0,z,q0)")
}

// Queued QoS 0 deliveries are dropped on disconnection unless QueueQoS0.
func TestDisconnectDropsQueuedQoS0(t *testing.T) {
	s := newConnected(Config{Version: packet.V311, SendWindow: 1}, v3peer)
	for _, m := range []*Message{msg("a", 1), msg("b", 1), msg("z", 0), msg("c", 1)} {
		mustNil(t, s.Send(t0, dlv(m)))
	}
	drain(s)
	s.Disconnected(t0, 1)
	if st := s.Stats(); st.Queued != 2 || st.Dropped[DropQoS0Offline] != 1 {
		t.Fatalf("stats %+v", st)
	}
	s.Connected(t0, 2, v3peer)
	expect(t, drain(s).Packets, "PUBLISH(1,a,q1,dup)")
	mustNil(t, s.Receive(t0, ack(packet.PUBACK, 1)))
	expect(t, drain(s).Packets, "PUBLISH(2,b,q1)")
}

// Queue overflow: the oldest QoS 0 first, then the oldest; byte bound too.
func TestQueueOverflowPolicy(t *testing.T) {
	s := New(Config{Version: packet.V311, MaxQueued: 3, QueueQoS0: true})
	for _, m := range []*Message{msg("a", 1), msg("z0", 0), msg("b", 1), msg("c", 1), msg("y0", 0), msg("d", 2)} {
		mustNil(t, s.Send(t0, dlv(m)))
	}
	// c evicts z0 (oldest QoS 0); y0 finds no QoS 0 queued and is dropped; d evicts a (oldest).
	rd := drain(s)
	var dropped []string
	for _, c := range rd.Done {
		if c.Drop != DropQueueFull {
			t.Fatalf("drop %v", c.Drop)
		}
		dropped = append(dropped, c.Delivery.Msg.Topic)
	}
	if got := len(dropped); got != 3 || dropped[0] != "z0" || dropped[1] != "y0" || dropped[2] != "a" {
		t.Fatalf("dropped %v", dropped)
	}
	s.Connected(t0, 1, v3peer)
	expect(t, drain(s).Packets, "PUBLISH(1,b,q1) PUBLISH(2,c,q1) PUBLISH(3,d,q2)")

	b := New(Config{Version: packet.V311, MaxQueuedBytes: 20})
	big := &Message{Topic: "big", Payload: make([]byte, 21), QoS: 1}
	mustNil(t, b.Send(t0, dlv(big)))
	mustNil(t, b.Send(t0, Delivery{Msg: &Message{Topic: "m", Payload: make([]byte, 15)}, QoS: 1}))
	mustNil(t, b.Send(t0, Delivery{Msg: &Message{Topic: "n", Payload: make([]byte, 15)}, QoS: 1}))
	st := b.Stats()
	if st.Dropped[DropQueueFull] != 2 || st.Queued != 1 || st.QueuedBytes != 15 {
		t.Fatalf("stats %+v", st)
	}
}

// [MQTT5-3.1.2-24] [MQTT5-3.1.2-25]: a PUBLISH larger than the peer's Maximum Packet Size is not sent, and the session
// behaves as if it was delivered (dropped and counted).
func TestMQTT5_3_1_2_24_MaximumPacketSize(t *testing.T) {
	s := newConnected(v5cfg, Peer{Version: packet.V5, MaximumPacketSize: 64})
	small := &Message{Topic: "t", Payload: make([]byte, 10), QoS: 1}
	large := &Message{Topic: "t", Payload: make([]byte, 100), QoS: 1}
	mustNil(t, s.Send(t0, dlv(large)))
	mustNil(t, s.Send(t0, dlv(small)))
	rd := drain(s)
	expect(t, rd.Packets, "PUBLISH(1,t,q1)")
	if len(rd.Done) != 1 || rd.Done[0].Drop != DropTooLarge || s.Stats().Dropped[DropTooLarge] != 1 {
		t.Fatalf("done %+v", rd.Done)
	}
	// Sizes are exact for a plain PUBLISH: 1 + 1 + (2+1 topic + 2 id + 1 props + 10) = 18.
	if n := s.publishSize(&Delivery{Msg: small, QoS: 1}); n != 18 {
		t.Fatalf("size %d", n)
	}
}

// [MQTT5-3.3.2-5] [MQTT5-3.3.2-6]: an expired queued message is dropped; the PUBLISH carries the remaining interval.
func TestMQTT5_3_3_2_5_MessageExpiry(t *testing.T) {
	s := New(v5cfg)
	short := &Message{Topic: "s", QoS: 1, Expires: t0.Add(5 * time.Second)}
	long := &Message{Topic: "l", QoS: 1, Expires: t0.Add(100 * time.Second)}
	mustNil(t, s.Send(t0, dlv(short)))
	mustNil(t, s.Send(t0, dlv(long)))
	drain(s)
	s.Connected(t0.Add(10*time.Second), 1, v5peer)
	rd := drain(s)
	expect(t, rd.Packets, "PUBLISH(1,l,q1)")
	var p packet.Publish
	rd.Packets[0].Publish(&p)
	if !p.Properties.Has(packet.PropMessageExpiry) || p.Properties.MessageExpiry != 90 {
		t.Fatalf("expiry %+v", p.Properties)
	}
	if s.Stats().Dropped[DropExpired] != 1 {
		t.Fatalf("stats %+v", s.Stats())
	}
}

// Outbound.Publish and Ack fill reused packet structs.
func TestOutboundFill(t *testing.T) {
	props := &packet.Properties{ContentType: "text/plain", SubscriptionIDs: []uint32{99}, TopicAlias: 4}
	props.Set(packet.PropContentType)
	props.Set(packet.PropTopicAlias)
	m := &Message{Topic: "a/b", Payload: []byte("x"), QoS: 2, Properties: props}
	o := Outbound{Kind: packet.PUBLISH, PacketID: 7, Dup: true, Delivery: Delivery{Msg: m, QoS: 1, Retain: true, SubIDs: []uint32{3, 4}}}
	var p packet.Publish
	o.Publish(&p)
	if p.Topic != "a/b" || p.PacketID != 7 || !p.Dup || p.QoS != 1 || !p.Retain || p.Properties.ContentType != "text/plain" ||
		len(p.Properties.SubscriptionIDs) != 2 || p.Properties.SubscriptionIDs[0] != 3 ||
		p.Properties.Has(packet.PropTopicAlias) || p.Properties.TopicAlias != 0 {
		t.Fatalf("publish %+v", p)
	}
	var a packet.Ack
	(&Outbound{Kind: packet.PUBREC, PacketID: 9, Reason: packet.QuotaExceeded}).Ack(&a)
	if a.Type() != packet.PUBREC || a.PacketID != 9 || a.ReasonCode != packet.QuotaExceeded {
		t.Fatalf("ack %+v", a)
	}
}

// [MQTT5-3.3.4-6]: subscription identifiers from a client PUBLISH are not kept by the server; the message owns its bytes.
func TestMQTT5_3_3_4_6_InboundCopy(t *testing.T) {
	s := newConnected(v5cfg, v5peer)
	p := pub(1, 1, "t")
	p.Properties.SubscriptionIDs = []uint32{5}
	p.Properties.Set(packet.PropMessageExpiry)
	p.Properties.MessageExpiry = 30
	p.Properties.Set(packet.PropTopicAlias)
	p.Properties.TopicAlias = 2
	mustNil(t, s.Receive(t0, p))
	rd := drain(s)
	m := rd.Deliver[0]
	p.Payload[0] = 'X'
	if m.Payload[0] != 't' || len(m.Properties.SubscriptionIDs) != 0 || !m.Expires.Equal(t0.Add(30*time.Second)) ||
		m.Properties.Has(packet.PropTopicAlias) {
		t.Fatalf("message %+v", m)
	}
}

// Ready is stable while outstanding; inputs meanwhile go to the next Ready.
func TestReadyOutstanding(t *testing.T) {
	s := newConnected(v5cfg, v5peer)
	mustNil(t, s.Send(t0, dlv(msg("a", 1))))
	rd := s.Ready()
	if s.HasReady() {
		t.Fatal("HasReady while outstanding")
	}
	mustNil(t, s.Send(t0, dlv(msg("b", 1))))
	expect(t, rd.Packets, "PUBLISH(1,a,q1)")
	expect(t, s.Ready().Packets, "PUBLISH(1,a,q1)")
	s.Advance()
	expect(t, drain(s).Packets, "PUBLISH(2,b,q1)")
}

// [MQTT5-3.3.4-9] [MQTT5-4.4.0-1]: reconnecting with a smaller Receive Maximum, the PUBLISH resends beyond it wait, in
// order, for earlier flows to end; PUBREL resends do not use the quota; new messages queue behind the resends.
func TestMQTT5_3_3_4_9_ResendWithinNewReceiveMaximum(t *testing.T) {
	s := newConnected(v5cfg, v5peer)
	for _, m := range []*Message{msg("a", 1), msg("b", 2), msg("c", 1), msg("d", 2)} {
		mustNil(t, s.Send(t0, dlv(m)))
	}
	drain(s)
	mustNil(t, s.Receive(t0, ack(packet.PUBREC, 2)))
	drain(s)
	s.Disconnected(t0, 1)
	s.Connected(t0, 2, Peer{Version: packet.V5, ReceiveMaximum: 1})
	mustNil(t, s.Send(t0, dlv(msg("e", 1))))
	expect(t, drain(s).Packets, "PUBLISH(1,a,q1,dup) PUBREL(2)")
	mustNil(t, s.Receive(t0, ack(packet.PUBCOMP, 2)))
	expect(t, drain(s).Packets, "")
	mustNil(t, s.Receive(t0, ack(packet.PUBACK, 1)))
	expect(t, drain(s).Packets, "PUBLISH(3,c,q1,dup)")
	mustNil(t, s.Receive(t0, ack(packet.PUBACK, 3)))
	expect(t, drain(s).Packets, "PUBLISH(4,d,q2,dup)")
	mustNil(t, s.Receive(t0, ack(packet.PUBREC, 4)))
	expect(t, drain(s).Packets, "PUBREL(4)")
	mustNil(t, s.Receive(t0, ack(packet.PUBCOMP, 4)))
	expect(t, drain(s).Packets, "PUBLISH(5,e,q1)")
}

// Buffers grown by a burst are released once drained.
func TestReleaseBuffers(t *testing.T) {
	s := New(Config{Version: packet.V5, MaxQueued: 5000, SendWindow: 1000})
	for i := range 3000 {
		mustNil(t, s.Send(t0, dlv(msg(fmt.Sprint(i), 1))))
	}
	s.Connected(t0, 1, v5peer)
	var ids []uint16
	for _, o := range drain(s).Packets {
		ids = append(ids, o.PacketID)
	}
	for len(ids) > 0 {
		mustNil(t, s.Receive(t0, ack(packet.PUBACK, ids[0])))
		ids = ids[1:]
		for _, o := range drain(s).Packets {
			ids = append(ids, o.PacketID)
		}
	}
	if st := s.Stats(); st.Completed != 3000 || st.InFlight != 0 || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
	if cap(s.packets) > keepReady || cap(s.changes) > keepReady || len(s.q.buf) > keepSlots || len(s.fl.slots) > keepSlots {
		t.Fatalf("buffers kept: packets %d changes %d queue %d slots %d", cap(s.packets), cap(s.changes), len(s.q.buf), len(s.fl.slots))
	}
	mustNil(t, s.Send(t0, dlv(msg("again", 2))))
	expect(t, drain(s).Packets, "PUBLISH(3001,again,q2)")
}

// A flight restored unsent whose message expired is deleted, not sent: onward
// delivery never started [MQTT5-3.3.2-5].
func TestMQTT5_3_3_2_5_ExpiredUnsentFlight(t *testing.T) {
	expired := &Message{Topic: "old", QoS: 1, Expires: t0.Add(5 * time.Second)}
	sent := &Message{Topic: "sent", QoS: 1, Expires: t0.Add(5 * time.Second)}
	fresh := &Message{Topic: "new", QoS: 1}
	s, err := Restore(v5cfg, State{NextID: 4, NextSeq: 4, Inflight: []InflightEntry{
		{PacketID: 1, Stage: AwaitPuback, Seq: 1, Delivery: dlv(expired)},
		{PacketID: 2, Stage: AwaitPuback, Seq: 2, Sent: true, Delivery: dlv(sent)},
		{PacketID: 3, Stage: AwaitPuback, Seq: 3, Delivery: dlv(fresh)},
	}})
	mustNil(t, err)
	s.Connected(t0.Add(10*time.Second), 1, v5peer)
	rd := drain(s)
	expect(t, rd.Packets, "PUBLISH(2,sent,q1,dup) PUBLISH(3,new,q1)")
	if s.Stats().Dropped[DropExpired] != 1 {
		t.Fatalf("stats %+v", s.Stats())
	}
}
