//go:build linux

package broker

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
)

// parkedConns counts the server's parked connections.
func parkedConns(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if c.pk != nil && c.pk.state.Load() == stParked {
			n++
		}
	}
	return n
}

// parkedBuffered returns the bytes buffered by the parked connection of
// client id, or -1 if it is not parked.
func parkedBuffered(s *Server, id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.attached.Load() && c.cl.id == id && c.pk.state.Load() == stParked {
			return int(c.pk.held.Load())
		}
	}
	return -1
}

// Idle connections are parked without a goroutine, and still answer
// PINGREQ and receive deliveries; afterwards they park again.
func TestParkedConnectionsHaveNoGoroutine(t *testing.T) {
	s, addr := startServer(t, Config{})
	base := runtime.NumGoroutine()
	const n = 200
	clients := make([]*tclient, n)
	for i := range clients {
		v := packet.V311
		if i%2 == 1 {
			v = packet.V5
		}
		clients[i] = dial(t, addr, v)
		clients[i].mustConnect(fmt.Sprintf("idle-%d", i), true)
	}
	sub, pub := clients[0], clients[1]
	sub.subscribe(1, "park/#", 1)
	idle := func() {
		t.Helper()
		eventually(t, "every connection parked", func() bool { return parkedConns(s) == n })
		// The poller's goroutine only (writers end once they flushed).
		eventually(t, "no goroutine per connection", func() bool { return runtime.NumGoroutine() <= base+3 })
	}
	idle()
	for i, c := range clients {
		c.send(&packet.Pingreq{})
		if p := c.recv(); p.Type() != packet.PINGRESP {
			t.Fatalf("client %d: got %v, want PINGRESP", i, p)
		}
	}
	idle()
	pub.send(&packet.Publish{Topic: "park/a", QoS: 1, PacketID: 7, Payload: []byte("to a parked subscriber")})
	pub.recvAck(packet.PUBACK)
	if p := sub.recvPublish(); string(p.Payload) != "to a parked subscriber" {
		t.Fatalf("got %q", p.Payload)
	}
	idle()
	if got := s.Stats().Clients; got != n {
		t.Fatalf("%d clients, want %d", got, n)
	}
}

// With DisableParking every connection keeps its reader goroutine.
func TestDisableParkingKeepsGoroutines(t *testing.T) {
	s, addr := startServer(t, Config{DisableParking: true})
	base := runtime.NumGoroutine()
	const n = 20
	for i := range n {
		dial(t, addr, packet.V311).mustConnect(fmt.Sprintf("busy-%d", i), true)
	}
	// Parked, they would add one goroutine (the poller).
	if got := runtime.NumGoroutine(); got < base+n/2 {
		t.Fatalf("%d goroutines with %d connections, want at least %d", got, n, base+n/2)
	}
	if got := parkedConns(s); got != 0 {
		t.Fatalf("%d parked connections, want 0", got)
	}
}

// [MQTT-3.1.2-24] [MQTT5-3.1.2-22] the keep alive of a parked connection:
// one and a half times the interval after the last packet, the
// connection is closed (v5: DISCONNECT 0x8D); a packet restarts it.
func TestParkedKeepAliveTimeout_MQTT5_3_1_2_22(t *testing.T) {
	s, addr := startServer(t, Config{})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		c := dial(t, addr, v)
		c.mustConnect("ka-parked-"+v.String(), true, withKeepAlive(1))
		eventually(t, "parked", func() bool { return parkedConns(s) == 1 })
		c.send(&packet.Pingreq{})
		c.recv()
		start := time.Now() // after the PINGREQ was handled
		got := c.expectClosed()
		if d := time.Since(start); d < 1400*time.Millisecond || d > 4*time.Second {
			t.Errorf("%v: closed %v after the last packet, want about 1.5s", v, d)
		}
		if v == packet.V5 {
			if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != packet.KeepAliveTimeout {
				t.Errorf("v5: got %v, want DISCONNECT 0x8D", got)
			}
		} else if len(got) != 0 {
			t.Errorf("3.1.1: got %v, want close", got)
		}
		eventually(t, "connection ended", func() bool { return s.Stats().Connections == 0 })
	}
}

// A parked connection taken over by a new one with its client identifier
// is closed (v5: DISCONNECT 0x8E) and ends; one whose client closes the
// socket ends too.
func TestParkedTakeoverAndClose(t *testing.T) {
	s, addr := startServer(t, Config{})
	base := runtime.NumGoroutine()
	old := dial(t, addr, packet.V5)
	old.mustConnect("taken", false, withProps(func(p *packet.Properties) {
		p.SessionExpiry = 60
		p.Set(packet.PropSessionExpiry)
	}))
	eventually(t, "parked", func() bool { return parkedConns(s) == 1 })
	nu := dial(t, addr, packet.V5)
	if ack := nu.mustConnect("taken", false); !ack.SessionPresent {
		t.Fatal("session not present after takeover")
	}
	old.expectDisconnect(packet.SessionTakenOver)
	eventually(t, "the new connection parked alone", func() bool {
		return parkedConns(s) == 1 && s.Stats().Connections == 1
	})
	nu.nc.Close()
	eventually(t, "connection ended", func() bool {
		return s.Stats().Connections == 0 && s.Stats().Clients == 0
	})
	eventually(t, "goroutines back", func() bool { return runtime.NumGoroutine() <= base+1 })
}

// A packet sent in pieces, with the connection parked between them, is
// read whole: the bytes received before parking are kept. Small packets
// (read into the read buffer) and large ones (read into a body buffer).
func TestPacketSplitAcrossParking(t *testing.T) {
	s, addr := startServer(t, Config{})
	s.busyGap = 0 // park at once, never linger
	sub := dial(t, addr, packet.V311)
	sub.mustConnect("split-sub", true)
	sub.subscribe(1, "split/#", 0)
	c := dial(t, addr, packet.V311)
	c.mustConnect("split", true)
	for _, size := range []int{10, 300, 20 << 10} {
		b, err := packet.Append(nil, &packet.Publish{Topic: "split/t", Payload: make([]byte, size)}, packet.V311)
		if err != nil {
			t.Fatal(err)
		}
		for _, cut := range []int{1, 2, 3, len(b) / 2, len(b) - 1} {
			eventually(t, "parked", func() bool { return parkedConns(s) == 2 })
			c.sendRaw(b[:cut])
			if hdr := len(b) - size - len("split/t") - 2; len(b) <= readBufSize || cut < hdr {
				// Parked again, with the bytes of the incomplete packet
				// (a larger body is read by a goroutine).
				eventually(t, "parked with a partial packet", func() bool { return parkedBuffered(s, "split") == cut })
			}
			c.sendRaw(b[cut:])
			if p := sub.recvPublish(); len(p.Payload) != size {
				t.Fatalf("size %d cut %d: got %d bytes", size, cut, len(p.Payload))
			}
		}
	}
	c.send(&packet.Pingreq{})
	if p := c.recv(); p.Type() != packet.PINGRESP {
		t.Fatalf("got %v, want PINGRESP", p)
	}
}

// A connection that gets packets in quick succession waits for the next
// ones in the runtime's poller for lingerTime before it parks; an idle one
// parks at once.
func TestBusyConnectionLingers(t *testing.T) {
	s, addr := startServer(t, Config{})
	s.lingerTime = 400 * time.Millisecond
	s.busyGap = time.Minute // every wake after the first park is busy
	c := dial(t, addr, packet.V5)
	c.mustConnect("busy", true)
	eventually(t, "parked after CONNECT", func() bool { return parkedConns(s) == 1 })
	c.send(&packet.Pingreq{})
	c.recv()
	start := time.Now()
	eventually(t, "parked after lingering", func() bool { return parkedConns(s) == 1 })
	if d := time.Since(start); d < s.lingerTime/2 {
		t.Fatalf("parked %v after the packet, want about %v", d, s.lingerTime)
	}
	// Packets while it lingers are read at once.
	c.send(&packet.Pingreq{})
	c.recv()
	c.send(&packet.Pingreq{})
	if p := c.recv(); p.Type() != packet.PINGRESP {
		t.Fatalf("got %v, want PINGRESP", p)
	}
}
