package session

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// drain takes the pending Ready, copies it and advances.
func drain(s *Session) Ready {
	if !s.HasReady() {
		return Ready{Gen: s.gen}
	}
	rd := s.Ready()
	c := Ready{Gen: rd.Gen, Persist: slices.Clone(rd.Persist), Packets: slices.Clone(rd.Packets),
		Deliver: slices.Clone(rd.Deliver), Done: slices.Clone(rd.Done)}
	s.Advance()
	return c
}

func msg(topic string, qos packet.QoS) *Message {
	return &Message{Topic: topic, Payload: []byte("payload " + topic), QoS: qos}
}

func dlv(m *Message) Delivery { return Delivery{Msg: m, QoS: m.QoS} }

func ack(kind packet.Type, id uint16) *packet.Ack { return &packet.Ack{PacketType: kind, PacketID: id} }

func ackReason(kind packet.Type, id uint16, r packet.ReasonCode) *packet.Ack {
	return &packet.Ack{PacketType: kind, PacketID: id, ReasonCode: r}
}

func pub(id uint16, qos packet.QoS, topic string) *packet.Publish {
	return &packet.Publish{QoS: qos, PacketID: id, Topic: topic, Payload: []byte(topic)}
}

// show renders packets compactly: "PUBLISH(1,t,dup)" "PUBACK(3)" ...
func show(ps []Outbound) string {
	var b strings.Builder
	for i, o := range ps {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch o.Kind {
		case packet.PUBLISH:
			fmt.Fprintf(&b, "PUBLISH(%d,%s,q%d", o.PacketID, o.Delivery.Msg.Topic, o.Delivery.QoS)
			if o.Dup {
				b.WriteString(",dup")
			}
			b.WriteByte(')')
		default:
			fmt.Fprintf(&b, "%s(%d", o.Kind, o.PacketID)
			if o.Reason != 0 {
				fmt.Fprintf(&b, ",0x%02x", byte(o.Reason))
			}
			b.WriteByte(')')
		}
	}
	return b.String()
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func expect(t *testing.T, got []Outbound, want string) {
	t.Helper()
	if s := show(got); s != want {
		t.Fatalf("packets:\n got  %s\n want %s", s, want)
	}
}

func newConnected(cfg Config, peer Peer) *Session {
	s := New(cfg)
	s.Connected(t0, 1, peer)
	return s
}

func stateString(st State) string {
	var b strings.Builder
	fmt.Fprintf(&b, "next=%d inflight=[", st.NextID)
	for _, e := range st.Inflight {
		fmt.Fprintf(&b, " %d:%v:%d:%s", e.PacketID, e.Stage, e.Seq, e.Delivery.Msg.Topic)
	}
	b.WriteString(" ] queue=[")
	for _, e := range st.Queue {
		fmt.Fprintf(&b, " %d:%s", e.Seq, e.Delivery.Msg.Topic)
	}
	fmt.Fprintf(&b, " ] in=%v", st.InboundQoS2)
	return b.String()
}
