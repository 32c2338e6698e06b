package broker

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/store/memory"
)

// lastDisconnect reads until the server closes c and returns the
// DISCONNECT it sent last.
func lastDisconnect(t *testing.T, c *tclient) *packet.Disconnect {
	t.Helper()
	got := c.expectClosed()
	if len(got) == 0 {
		t.Fatal("closed without DISCONNECT")
	}
	d, ok := got[len(got)-1].(*packet.Disconnect)
	if !ok {
		t.Fatalf("got %+v, want DISCONNECT", got[len(got)-1])
	}
	return d
}

// Drain sends the MQTT 5 clients DISCONNECT 0x9C (Use another server) with
// the Server Reference [MQTT5-3.14.2-1] and closes the connection
// [MQTT5-3.14.4-2]; a 3.1.1 client is closed; a connection that sends
// CONNECT during the drain gets CONNACK 0x9C with the reference;
// persistent sessions stay, in the Store too; the listener is closed.
func TestDrainUseAnotherServer_MQTT5_3_14_2_1(t *testing.T) {
	st := memory.New()
	defer st.Close()
	s, addr := startServer(t, Config{Store: st})
	v5 := dial(t, addr, packet.V5)
	v5.mustConnect("five", false, withSessionExpiry(600))
	v5.subscribe(1, "d/#", 1)
	small := dial(t, addr, packet.V5) // the reference does not fit its Maximum Packet Size
	small.mustConnect("small", true, withProps(func(p *packet.Properties) {
		p.MaximumPacketSize = 100
		p.Set(packet.PropMaximumPacketSize)
	}))
	v3 := dial(t, addr, packet.V311)
	v3.mustConnect("three", false)
	v3.subscribe(1, "d/#", 1)
	pending := dial(t, addr, packet.V5) // connected, no CONNECT yet
	eventually(t, "four connections", func() bool { return s.Stats().Connections == 4 })

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	done := make(chan error, 1)
	ref := strings.Repeat("other", 20) + ".example:1883" // beyond 100 bytes
	go func() { done <- s.Drain(ctx, DrainOptions{ServerReference: ref}) }()

	d := lastDisconnect(t, v5)
	if d.ReasonCode != packet.UseAnotherServer || d.Properties.ServerReference != ref ||
		!d.Properties.Has(packet.PropServerReference) || d.Properties.ReasonString == "" {
		t.Fatalf("DISCONNECT %#x reference %q reason %q, want 0x9C with the reference and a reason",
			byte(d.ReasonCode), d.Properties.ServerReference, d.Properties.ReasonString)
	}
	if d.Properties.Has(packet.PropSessionExpiry) { // [MQTT5-3.14.2-2]
		t.Error("the server's DISCONNECT carries a Session Expiry Interval")
	}
	// [MQTT5-3.1.2-24] nothing beyond the client's Maximum Packet Size.
	if d := lastDisconnect(t, small); d.ReasonCode != packet.UseAnotherServer || d.Properties.Has(packet.PropServerReference) {
		t.Fatalf("small client: DISCONNECT %#x with reference %q", byte(d.ReasonCode), d.Properties.ServerReference)
	}
	if got := v3.expectClosed(); len(got) != 0 {
		t.Fatalf("3.1.1 client got %v before the close", got)
	}
	pending.send(&packet.Connect{Version: packet.V5, CleanStart: true, ClientID: "late"})
	ack, ok := pending.recv().(*packet.Connack)
	if !ok || ack.ReasonCode != packet.UseAnotherServer || ack.Properties.ServerReference != ref {
		t.Fatalf("CONNECT during the drain: %+v, want CONNACK 0x9C with the reference", ack)
	}
	pending.expectClosed()
	if err := <-done; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if st := s.Stats(); st.Connections != 0 || st.Sessions != 2 {
		t.Fatalf("after the drain: %d connections, %d sessions; want 0 and the 2 persistent ones", st.Connections, st.Sessions)
	}
	recs, err := st.LoadSessions(ctx)
	if err != nil || len(recs) != 2 {
		t.Fatalf("stored sessions %v %v, want five and three", recs, err)
	}
	if nc, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		nc.Close()
		t.Fatal("the listener still accepts")
	}
	if err := s.Drain(ctx, DrainOptions{}); err != nil {
		t.Fatalf("a second Drain: %v", err)
	}
}

// With Moved, the reason code is 0x9D (Server moved); Rate spaces the
// disconnections; a client that connects over 3.1.1 during the drain
// gets CONNACK 0x03 (Server unavailable).
func TestDrainServerMovedAtRate(t *testing.T) {
	t.Parallel()
	s, addr := startServer(t, Config{})
	var cs []*tclient
	for _, id := range []string{"a", "b", "c"} {
		c := dial(t, addr, packet.V5)
		c.mustConnect(id, true)
		cs = append(cs, c)
	}
	pending := dial(t, addr, packet.V311)
	eventually(t, "four connections", func() bool { return s.Stats().Connections == 4 })
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	const rate = 20 // clients per second: 50ms apart
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.Drain(ctx, DrainOptions{ServerReference: "new.example", Moved: true, Rate: rate}) }()
	for _, c := range cs {
		if d := lastDisconnect(t, c); d.ReasonCode != packet.ServerMoved || d.Properties.ServerReference != "new.example" {
			t.Fatalf("DISCONNECT %#x reference %q, want 0x9D new.example", byte(d.ReasonCode), d.Properties.ServerReference)
		}
	}
	if el := time.Since(start); el < 2*time.Second/rate {
		t.Errorf("3 clients drained in %v at %d per second", el, rate)
	}
	pending.send(&packet.Connect{Version: packet.V311, CleanStart: true, ClientID: "late"})
	if ack, ok := pending.recv().(*packet.Connack); !ok || ack.ReasonCode != packet.ConnRefusedServerUnavailable {
		t.Fatalf("3.1.1 CONNECT during the drain: %+v, want CONNACK 0x03", ack)
	}
	pending.expectClosed()
	if err := <-done; err != nil {
		t.Fatalf("Drain: %v", err)
	}
}

// Drain returns ctx's error when ctx ends with clients left, and
// ErrServerClosed after Shutdown.
func TestDrainContextAndShutdown(t *testing.T) {
	t.Parallel()
	s, addr := startServer(t, Config{})
	idle := dial(t, addr, packet.V5) // never sends CONNECT: not disconnected by the drain
	eventually(t, "a connection", func() bool { return s.Stats().Connections == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Drain(ctx, DrainOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain: %v, want the context's deadline", err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), waitFor)
	defer scancel()
	if err := s.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	idle.expectClosed()
	if err := s.Drain(sctx, DrainOptions{}); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Drain after Shutdown: %v, want ErrServerClosed", err)
	}
}
