package broker

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/topic"
)

// The broker's routing against a model: random subscribes and
// unsubscribes by three clients and publishes by a fourth; after each
// publish every client has
// received exactly one copy per matching client, at the minimum of the
// published QoS and the highest matching subscription's QoS
// [MQTT-3.3.5-1] [MQTT-3.8.4-6], in publish order.
func TestRoutingMatchesModel_MQTT_3_3_5_1(t *testing.T) {
	filters := []string{"#", "a/#", "a/+", "+/b", "a/b", "b/#", "+/+", "a"}
	topics := []string{"a", "a/b", "a/c", "b/b", "b"}
	rapid.Check(t, func(rt *rapid.T) {
		_, addr := startServer(t, Config{})
		const n = 3
		cs := make([]*tclient, n)
		subs := make([]map[string]packet.QoS, n) // the model
		for i := range cs {
			cs[i] = dial(t, addr, packet.V311)
			cs[i].mustConnect(fmt.Sprint("m", i), true)
			cs[i].subscribe(1, "sync", 1)
			subs[i] = map[string]packet.QoS{}
		}
		pub := dial(t, addr, packet.V311)
		pub.mustConnect("publisher", true)
		var pid uint16
		next := func() uint16 { pid++; return pid }
		for step := range rapid.IntRange(1, 25).Draw(rt, "steps") {
			i := rapid.IntRange(0, n-1).Draw(rt, "client")
			c := cs[i]
			switch rapid.IntRange(0, 2).Draw(rt, "op") {
			case 0:
				f := rapid.SampledFrom(filters).Draw(rt, "filter")
				q := packet.QoS(rapid.IntRange(0, 2).Draw(rt, "subqos"))
				c.subscribe(next(), f, q)
				subs[i][f] = q
			case 1:
				f := rapid.SampledFrom(filters).Draw(rt, "filter")
				c.send(&packet.Unsubscribe{PacketID: next(), Filters: []string{f}})
				if p := c.recv(); p.Type() != packet.UNSUBACK {
					rt.Fatalf("got %v, want UNSUBACK", p)
				}
				delete(subs[i], f)
			case 2:
				tp := rapid.SampledFrom(topics).Draw(rt, "topic")
				q := packet.QoS(rapid.IntRange(0, 2).Draw(rt, "pubqos"))
				payload := []byte(fmt.Sprint(step))
				p := &packet.Publish{Topic: tp, QoS: q, Payload: payload}
				if q > 0 {
					p.PacketID = next()
				}
				pub.send(p)
				switch q {
				case 1:
					pub.recvAck(packet.PUBACK)
				case 2:
					pub.recvAck(packet.PUBREC)
					pub.send(&packet.Ack{PacketType: packet.PUBREL, PacketID: p.PacketID})
					pub.recvAck(packet.PUBCOMP)
				}
				pub.send(&packet.Publish{Topic: "sync", QoS: 1, PacketID: next()})
				pub.recvAck(packet.PUBACK)
				for j, r := range cs {
					want := -1
					for f, sq := range subs[j] {
						if topic.Match(f, tp) {
							want = max(want, int(min(sq, q)))
						}
					}
					var got []*packet.Publish
					synced, rel := false, 0
					for !synced || rel > 0 {
						switch m := r.recv().(type) {
						case *packet.Publish:
							switch m.QoS {
							case 1:
								r.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: m.PacketID})
							case 2:
								r.send(&packet.Ack{PacketType: packet.PUBREC, PacketID: m.PacketID})
								rel++
							}
							if m.Topic == "sync" {
								synced = true
							} else {
								got = append(got, m)
							}
						case *packet.Ack:
							if m.PacketType != packet.PUBREL {
								rt.Fatalf("got %+v", m)
							}
							r.send(&packet.Ack{PacketType: packet.PUBCOMP, PacketID: m.PacketID})
							rel--
						default:
							rt.Fatalf("got %+v", m)
						}
					}
					switch {
					case want < 0 && len(got) != 0:
						rt.Fatalf("client %d got %d copies of %s, subscribed to %v", j, len(got), tp, subs[j])
					case want >= 0 && len(got) != 1:
						rt.Fatalf("client %d got %d copies of %s, want 1 (subscriptions %v)", j, len(got), tp, subs[j])
					case want >= 0 && (int(got[0].QoS) != want || got[0].Topic != tp || !slices.Equal(got[0].Payload, payload)):
						rt.Fatalf("client %d got %+v, want QoS %d of %s", j, got[0], want, tp)
					}
				}
			}
		}
		for _, c := range cs {
			c.disconnect()
		}
		pub.disconnect()
	})
}

// Nothing a client sends crashes the server or leaks: random bytes after
// CONNECT end at most that connection, and the server keeps serving.
func TestRandomInputIsHandled(t *testing.T) {
	s, addr := startServer(t, Config{MaxPacketSize: 4096})
	rapid.Check(t, func(rt *rapid.T) {
		v := rapid.SampledFrom([]packet.Version{packet.V31, packet.V311, packet.V5}).Draw(rt, "version")
		c := dial(t, addr, v)
		c.mustConnect("", true, func(p *packet.Connect) {
			if v == packet.V31 {
				p.ClientID = "fuzz"
			}
		})
		var raw []byte
		for range rapid.IntRange(1, 8).Draw(rt, "packets") {
			typ := byte(rapid.IntRange(0, 15).Draw(rt, "type"))
			flags := byte(rapid.IntRange(0, 15).Draw(rt, "flags"))
			body := rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(rt, "body")
			raw = append(raw, typ<<4|flags, byte(len(body)))
			raw = append(raw, body...)
		}
		c.nc.Write(raw)
		c.nc.Close()
		ok := dial(t, addr, packet.V311)
		ok.mustConnect("probe", true)
		ok.send(&packet.Pingreq{})
		if p := ok.recv(); p.Type() != packet.PINGRESP {
			rt.Fatalf("got %v", p)
		}
		ok.disconnect()
	})
	if n := s.Stats().PanicsRecovered; n != 0 {
		t.Fatalf("%d panics recovered", n)
	}
	eventually(t, "connections closed", func() bool { return s.Stats().Connections == 0 })
}
