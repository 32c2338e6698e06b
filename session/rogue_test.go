package session

import (
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
	"pgregory.net/rapid"
)

// A peer that sends anything (acknowledgements of any kind for any
// identifier, PUBLISH with any QoS, identifier and DUP flag) never makes the
// session panic, reuse an identifier, exceed the window or lose a delivery.
func TestRapidRoguePeer(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := rapid.SampledFrom([]packet.Version{packet.V311, packet.V5}).Draw(t, "version")
		cfg := Config{Version: v, SendWindow: uint16(rapid.IntRange(1, 3).Draw(t, "window")), MaxQueued: 3,
			ReceiveMaximum: 2, Retry: Retry{Initial: time.Second}}
		s := New(cfg)
		now := t0
		gen := uint64(0)
		var sends []*Message
		ended := map[*Message]int{}
		drainAll := func() {
			for s.HasReady() {
				rd := s.Ready()
				for _, c := range rd.Done {
					ended[c.Delivery.Msg]++
				}
				for _, o := range rd.Packets {
					if o.Kind == packet.PUBLISH && o.PacketID == 0 {
						ended[o.Delivery.Msg]++
					}
				}
				s.Advance()
			}
		}
		for range rapid.IntRange(1, 200).Draw(t, "steps") {
			switch rapid.IntRange(0, 6).Draw(t, "op") {
			case 0:
				q := packet.QoS(rapid.IntRange(0, 2).Draw(t, "qos"))
				m := &Message{Topic: "t", QoS: q}
				sends = append(sends, m)
				if err := s.Send(now, Delivery{Msg: m, QoS: q}); err != nil {
					t.Fatal(err)
				}
			case 1:
				gen++
				s.Connected(now, gen, Peer{Version: v, ReceiveMaximum: uint16(rapid.IntRange(0, 3).Draw(t, "rm"))})
			case 2:
				s.Disconnected(now, gen-uint64(rapid.IntRange(0, 1).Draw(t, "stale")))
			case 3:
				kind := packet.Type(rapid.IntRange(int(packet.PUBACK), int(packet.PUBCOMP)).Draw(t, "kind"))
				a := &packet.Ack{PacketType: kind, PacketID: uint16(rapid.IntRange(0, 5).Draw(t, "id")),
					ReasonCode: packet.ReasonCode(rapid.SampledFrom([]byte{0, 0x10, 0x80, 0x92}).Draw(t, "reason"))}
				_ = s.Receive(now, a)
			case 4:
				p := &packet.Publish{QoS: packet.QoS(rapid.IntRange(0, 3).Draw(t, "pqos")), Dup: rapid.Bool().Draw(t, "dup"),
					PacketID: uint16(rapid.IntRange(0, 5).Draw(t, "pid")), Topic: "in"}
				_ = s.Receive(now, p)
			case 5:
				now = now.Add(time.Duration(rapid.IntRange(0, 5).Draw(t, "s")) * time.Second)
				s.Tick(now)
			case 6:
				drainAll()
			}
			st := s.State()
			ids := map[uint16]bool{}
			for _, e := range st.Inflight {
				if e.PacketID == 0 || ids[e.PacketID] {
					t.Fatalf("identifier %d zero or repeated", e.PacketID)
				}
				ids[e.PacketID] = true
			}
			if s.IsConnected() && s.deferred == 0 && s.quota > s.window && v == packet.V5 {
				t.Fatalf("%d unacknowledged, window %d", s.quota, s.window)
			}
			if s.Stats().InboundPending > int(cfg.ReceiveMaximum) {
				t.Fatalf("%d inbound identifiers pending, receive maximum %d", s.Stats().InboundPending, cfg.ReceiveMaximum)
			}
		}
		drainAll()
		pending := map[*Message]int{}
		st := s.State()
		for _, e := range st.Inflight {
			pending[e.Delivery.Msg]++
		}
		for _, e := range st.Queue {
			pending[e.Delivery.Msg]++
		}
		for i, m := range sends {
			if pending[m]+ended[m] != 1 {
				t.Fatalf("send %d (QoS %d): pending %d, ended %d", i, m.QoS, pending[m], ended[m])
			}
		}
	})
}
