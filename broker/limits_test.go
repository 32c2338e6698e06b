package broker

import (
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
)

func TestMaxConnections(t *testing.T) {
	s, addr := startServer(t, Config{MaxConnections: 2, SysInterval: -1})
	a := dial(t, addr, packet.V311)
	a.mustConnect("a", true)
	b := dial(t, addr, packet.V5)
	b.mustConnect("b", true)
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{Version: packet.V311, CleanStart: true, ClientID: "c"})
	if got := c.expectClosed(); len(got) != 0 {
		t.Fatalf("third connection got %v, want closed", got)
	}
	if n := s.stats.limits.connections.Load(); n != 1 {
		t.Fatalf("refused connections %d, want 1", n)
	}
	a.disconnect()
	eventually(t, "a slot free", func() bool { return s.Stats().Connections == 1 })
	d := dial(t, addr, packet.V311)
	d.mustConnect("d", true)
}

func TestMaxClientIDLength(t *testing.T) {
	_, addr := startServer(t, Config{MaxClientIDLength: 5, SysInterval: -1})
	for _, tc := range []struct {
		v    packet.Version
		want packet.ReasonCode
	}{{packet.V311, packet.ConnRefusedIdentifierRejected}, {packet.V5, packet.ClientIdentifierNotValid}} {
		c := dial(t, addr, tc.v)
		if ack := c.connect("abcdef", true); ack.ReasonCode != tc.want {
			t.Fatalf("v%d: CONNACK %#x, want %#x", tc.v, byte(ack.ReasonCode), byte(tc.want))
		}
		c.expectClosed()
		c = dial(t, addr, tc.v)
		c.mustConnect("abcde", true)
	}
}

// A client publishing faster than PublishRate beyond its burst is
// disconnected: DISCONNECT 0x96 in MQTT 5, closed before.
func TestPublishRate(t *testing.T) {
	s, addr := startServer(t, Config{PublishRate: 1, PublishBurst: 3, SysInterval: -1})
	c := dial(t, addr, packet.V5)
	c.mustConnect("fast", true)
	for range 3 { // the burst passes
		c.send(&packet.Publish{Topic: "t", Payload: []byte("x")})
	}
	c.expectNothing(20 * time.Millisecond)
	c.send(&packet.Publish{Topic: "t", Payload: []byte("x")}) // the fourth within a second
	c.expectDisconnect(packet.MessageRateTooHigh)
	v3 := dial(t, addr, packet.V311)
	v3.mustConnect("fast3", true)
	for range 4 {
		v3.send(&packet.Publish{Topic: "t", Payload: []byte("x")})
	}
	if got := v3.expectClosed(); len(got) != 0 {
		t.Fatalf("v3.1.1: got %v, want closed", got)
	}
	if n := s.stats.limits.rate.Load(); n != 2 {
		t.Fatalf("rate refusals %d, want 2", n)
	}
}

// MaxConnectionsPerListener bounds each listener on its own.
func TestMaxConnectionsPerListener(t *testing.T) {
	ln1, ln2 := loopback(t), loopback(t)
	s := serveOn(t, Config{MaxConnectionsPerListener: 1, SysInterval: -1}, ln1)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln2) }()
	t.Cleanup(func() { ln2.Close(); <-done })
	a := dial(t, ln1.Addr().String(), packet.V5)
	a.mustConnect("a", true)
	b := dial(t, ln2.Addr().String(), packet.V5)
	b.mustConnect("b", true)
	c := dial(t, ln1.Addr().String(), packet.V5)
	c.send(&packet.Connect{Version: packet.V5, CleanStart: true, ClientID: "c"})
	if got := c.expectClosed(); len(got) != 0 {
		t.Fatalf("second connection of a listener: got %v, want closed", got)
	}
	if n := s.stats.limits.listenerConns.Load(); n != 1 {
		t.Fatalf("refusals %d, want 1", n)
	}
	a.disconnect()
	eventually(t, "the slot freed", func() bool { return s.Stats().Connections == 1 })
	dial(t, ln1.Addr().String(), packet.V311).mustConnect("d", true)
}

// SetLimits changes the limits of a running server; open connections stay
// and are subject to the new limits.
func TestSetLimits(t *testing.T) {
	s, addr := startServer(t, Config{SysInterval: -1})
	old := dial(t, addr, packet.V5)
	old.mustConnect("old", true)
	if err := s.SetLimits(Limits{MaxClientIDLength: -1}); err == nil {
		t.Fatal("a negative limit accepted")
	}
	must(t, s.SetLimits(Limits{PublishRate: 0.01, PublishBurst: 1, MaxClientIDLength: 3, ConnectionRate: 0.01, ConnectionBurst: 1}))
	if l := s.Limits(); l.PublishRate != 0.01 || l.BanWindow != DefaultBanWindow {
		t.Fatalf("limits in force: %+v", l)
	}
	if ack := dial(t, addr, packet.V5).connect("long", true); ack.ReasonCode != packet.ClientIdentifierNotValid {
		t.Fatalf("CONNACK %#x, want 0x85", byte(ack.ReasonCode))
	}
	c := dial(t, addr, packet.V5) // the second connection from 127.0.0.1 within the burst of 1
	c.send(&packet.Connect{Version: packet.V5, CleanStart: true, ClientID: "abc"})
	if got := c.expectClosed(); len(got) != 0 {
		t.Fatalf("beyond the connection rate: got %v", got)
	}
	old.send(&packet.Publish{Topic: "t", Payload: []byte("1")})
	old.send(&packet.Publish{Topic: "t", Payload: []byte("2")})
	old.expectDisconnect(packet.MessageRateTooHigh)
	must(t, s.SetLimits(Limits{}))
	dial(t, addr, packet.V5).mustConnect("longer", true)
}
