package session

import (
	"testing"

	"github.com/tern-mq/tern/packet"
)

// Each cycle returns one step of a steady-state workload; the benchmarks
// loop it and TestSteadyStateAllocs checks it does not allocate.

// encodeStub stands for the connection writer: it fills reused packet structs.
func encodeStub(rd *Ready, p *packet.Publish, a *packet.Ack) {
	for i := range rd.Packets {
		o := &rd.Packets[i]
		if o.Kind == packet.PUBLISH {
			o.Publish(p)
		} else {
			o.Ack(a)
		}
	}
}

// cycleQoS0: Send(QoS 0) + Ready + Advance.
func cycleQoS0() func() {
	s := newConnected(v5cfg, v5peer)
	d := dlv(&Message{Topic: "a/b", Payload: make([]byte, 64)})
	var p packet.Publish
	var a packet.Ack
	return func() {
		_ = s.Send(t0, d)
		rd := s.Ready()
		encodeStub(&rd, &p, &a)
		s.Advance()
	}
}

// cycleQoS1: Send -> Ready -> Advance -> Receive(PUBACK) -> Ready -> Advance.
func cycleQoS1() func() {
	s := newConnected(v5cfg, v5peer)
	d := dlv(&Message{Topic: "a/b", Payload: make([]byte, 64), QoS: 1})
	var p packet.Publish
	var a packet.Ack
	puback := &packet.Ack{PacketType: packet.PUBACK}
	return func() {
		_ = s.Send(t0, d)
		rd := s.Ready()
		encodeStub(&rd, &p, &a)
		puback.PacketID = rd.Packets[0].PacketID
		s.Advance()
		_ = s.Receive(t0, puback)
		s.Ready()
		s.Advance()
	}
}

// cycleSized is cycleQoS1 to a peer with a Maximum Packet Size, for a
// message with properties and subscription identifiers: every delivery is
// sized.
func cycleSized() func() {
	s := newConnected(v5cfg, Peer{Version: packet.V5, MaximumPacketSize: 1 << 20})
	props := &packet.Properties{ContentType: "text/plain", User: []packet.UserProperty{{Key: "k", Value: "v"}}}
	props.Set(packet.PropContentType)
	d := Delivery{Msg: &Message{Topic: "a/b", Payload: make([]byte, 64), QoS: 1, Properties: props}, QoS: 1, SubIDs: []uint32{7}}
	puback := &packet.Ack{PacketType: packet.PUBACK}
	return func() {
		_ = s.Send(t0, d)
		rd := s.Ready()
		puback.PacketID = rd.Packets[0].PacketID
		s.Advance()
		_ = s.Receive(t0, puback)
		s.Ready()
		s.Advance()
	}
}

// cycleQoS2: PUBLISH, PUBREC, PUBREL, PUBCOMP.
func cycleQoS2() func() {
	s := newConnected(v5cfg, v5peer)
	d := dlv(&Message{Topic: "a/b", Payload: make([]byte, 64), QoS: 2})
	rec := &packet.Ack{PacketType: packet.PUBREC}
	comp := &packet.Ack{PacketType: packet.PUBCOMP}
	return func() {
		_ = s.Send(t0, d)
		rd := s.Ready()
		rec.PacketID = rd.Packets[0].PacketID
		comp.PacketID = rec.PacketID
		s.Advance()
		_ = s.Receive(t0, rec)
		s.Ready()
		s.Advance()
		_ = s.Receive(t0, comp)
		s.Ready()
		s.Advance()
	}
}

// cycleWindow keeps a full window of 100 in flight with a queue behind
// it: every PUBACK admits the queue head.
func cycleWindow() func() {
	s := newConnected(Config{Version: packet.V5, SendWindow: 100}, v5peer)
	d := dlv(&Message{Topic: "a/b", Payload: make([]byte, 64), QoS: 1})
	for range 150 {
		_ = s.Send(t0, d)
	}
	var ids [128]uint16 // ring of identifiers in flight, oldest first
	head, n := 0, 0
	for _, o := range s.Ready().Packets {
		ids[n] = o.PacketID
		n++
	}
	s.Advance()
	puback := &packet.Ack{PacketType: packet.PUBACK}
	return func() {
		puback.PacketID = ids[head%len(ids)]
		head++
		n--
		_ = s.Receive(t0, puback)
		_ = s.Send(t0, d)
		for _, o := range s.Ready().Packets {
			ids[(head+n)%len(ids)] = o.PacketID
			n++
		}
		s.Advance()
	}
}

// cycleInbound is the receiving side: PUBLISH in, PUBACK out.
func cycleInbound() func() {
	s := newConnected(v5cfg, v5peer)
	p := &packet.Publish{QoS: 1, PacketID: 1, Topic: "a/b", Payload: make([]byte, 64)}
	m := &Message{Topic: "a/b", Payload: p.Payload, QoS: 1}
	return func() {
		_ = s.ReceivePublish(t0, p, m, packet.Success)
		s.Ready()
		s.Advance()
	}
}

func bench(b *testing.B, cycle func() func()) {
	step := cycle()
	b.ReportAllocs()
	for b.Loop() {
		step()
	}
}

func BenchmarkSendQoS0(b *testing.B)    { bench(b, cycleQoS0) }
func BenchmarkQoS1Cycle(b *testing.B)   { bench(b, cycleQoS1) }
func BenchmarkQoS2Cycle(b *testing.B)   { bench(b, cycleQoS2) }
func BenchmarkQoS1Sized(b *testing.B)   { bench(b, cycleSized) }
func BenchmarkQoS1Window(b *testing.B)  { bench(b, cycleWindow) }
func BenchmarkInboundQoS1(b *testing.B) { bench(b, cycleInbound) }

func TestSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	for name, cycle := range map[string]func() func(){"qos0": cycleQoS0, "qos1": cycleQoS1,
		"qos2": cycleQoS2, "sized": cycleSized, "window": cycleWindow, "inbound": cycleInbound} {
		step := cycle()
		for range 1000 { // reach the working sizes
			step()
		}
		if a := testing.AllocsPerRun(2000, step); a != 0 {
			t.Errorf("%s: %v allocs per cycle, want 0", name, a)
		}
	}
}
