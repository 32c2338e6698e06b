package broker

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
)

// [MQTT-3.1.0-1] CONNECT must arrive within the connect timeout, else the
// connection is closed.
func TestConnectTimeoutCloses_MQTT_3_1_0_1(t *testing.T) {
	_, addr := startServer(t, Config{ConnectTimeout: 100 * time.Millisecond})
	start := time.Now() // before dialling: the server's clock starts after
	c := dial(t, addr, packet.V311)
	if got := c.expectClosed(); len(got) != 0 {
		t.Fatalf("got %v before close, want nothing", got)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("closed after %v, before the timeout", d)
	}
}

// [MQTT-3.1.0-1] a first packet other than CONNECT closes the connection.
func TestPacketBeforeConnectCloses_MQTT_3_1_0_1(t *testing.T) {
	_, addr := startServer(t, Config{})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		c := dial(t, addr, v)
		c.send(&packet.Pingreq{})
		if got := c.expectClosed(); len(got) != 0 {
			t.Fatalf("%v: got %v, want close without a reply", v, got)
		}
	}
}

// [MQTT-3.1.0-2] [MQTT5-3.1.0-2] a second CONNECT is a protocol violation.
func TestSecondConnectCloses_MQTT_3_1_0_2(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr, packet.V311)
	c.mustConnect("twice", true)
	c.send(&packet.Connect{Version: packet.V311, CleanStart: true, ClientID: "twice"})
	if got := c.expectClosed(); len(got) != 0 {
		t.Fatalf("got %v, want close", got)
	}
	c5 := dial(t, addr, packet.V5)
	c5.mustConnect("twice5", true)
	c5.send(&packet.Connect{Version: packet.V5, CleanStart: true, ClientID: "twice5"})
	c5.expectDisconnect(packet.ProtocolError)
}

// [MQTT-3.1.2-24] [MQTT5-3.1.2-22] no packet within one and a half times
// the keep alive closes the connection (v5: DISCONNECT 0x8D).
func TestKeepAliveTimeout_MQTT_3_1_2_24(t *testing.T) {
	_, addr := startServer(t, Config{})
	var wg sync.WaitGroup
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		c := dial(t, addr, v)
		start := time.Now() // before CONNECT: the server's clock starts after
		c.mustConnect("ka"+v.String(), true, withKeepAlive(1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := c.read(waitFor)
			d := time.Since(start)
			if d < 1500*time.Millisecond || d > 4*time.Second {
				t.Errorf("%v: closed after %v, want about 1.5s", v, d)
			}
			if v == packet.V5 {
				if dp, ok := p.(*packet.Disconnect); err != nil || !ok || dp.ReasonCode != packet.KeepAliveTimeout {
					t.Errorf("v5: got %v, %v; want DISCONNECT 0x8D", p, err)
				}
			} else if err == nil {
				t.Errorf("3.1.1: got %v, want close", p)
			}
		}()
	}
	// A client that keeps pinging stays connected.
	c := dial(t, addr, packet.V311)
	c.mustConnect("pinger", true, withKeepAlive(1))
	for range 3 {
		time.Sleep(700 * time.Millisecond) // the client's own pacing, not a wait for the server
		c.send(&packet.Pingreq{})
		if p := c.recv(); p.Type() != packet.PINGRESP {
			t.Fatalf("got %v, want PINGRESP", p)
		}
	}
	wg.Wait()
}

// Malformed packets and protocol violations close the connection, after a
// DISCONNECT with the reason code for MQTT 5 [MQTT5-4.13.1-1].
func TestMalformedPacketsDisconnect_MQTT5_4_13_1_1(t *testing.T) {
	cases := []struct {
		name string
		raw  []byte
		code packet.ReasonCode
	}{
		{"reserved type 0", []byte{0x00, 0x00}, packet.MalformedPacket},
		{"PUBLISH QoS 3", []byte{0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01}, packet.MalformedPacket},
		{"SUBSCRIBE reserved flags", []byte{0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00}, packet.MalformedPacket},
		{"remaining length of five bytes", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, packet.MalformedPacket},
		{"PUBLISH topic with wildcard", []byte{0x30, 0x04, 0x00, 0x01, '#', 0x00}, packet.TopicNameInvalid},
		{"truncated PUBLISH topic", []byte{0x30, 0x02, 0x00, 0x05}, packet.MalformedPacket},
		{"PINGREQ with a body", []byte{0xc0, 0x01, 0x00}, packet.MalformedPacket},
		{"CONNACK from a client", []byte{0x20, 0x03, 0x00, 0x00, 0x00}, packet.ProtocolError},
	}
	_, addr := startServer(t, Config{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr, packet.V5)
			c.mustConnect("bad5", true)
			c.sendRaw(tc.raw)
			c.expectDisconnect(tc.code)
			c3 := dial(t, addr, packet.V311)
			c3.mustConnect("bad3", true)
			c3.sendRaw(tc.raw)
			if got := c3.expectClosed(); len(got) != 0 {
				t.Fatalf("3.1.1: got %v, want close without a packet", got)
			}
		})
	}
}

// A packet larger than MaxPacketSize is refused before its body is read
// [MQTT5-3.2.2-15]: DISCONNECT 0x95.
func TestPacketTooLargeDisconnects_MQTT5_3_2_2_15(t *testing.T) {
	_, addr := startServer(t, Config{MaxPacketSize: 64})
	c := dial(t, addr, packet.V5)
	ack := c.mustConnect("big", true)
	if ack.Properties.MaximumPacketSize != 64 {
		t.Fatalf("CONNACK Maximum Packet Size %d, want 64", ack.Properties.MaximumPacketSize)
	}
	c.send(&packet.Publish{Topic: "t", Payload: make([]byte, 100)})
	c.expectDisconnect(packet.PacketTooLarge)
}

// [MQTT-3.1.2-2] an unsupported protocol level gets CONNACK 0x01, and
// [MQTT5-3.1.2-2] 0x84 in the v5 format for a level above 5.
func TestUnsupportedProtocolLevel_MQTT_3_1_2_2(t *testing.T) {
	_, addr := startServer(t, Config{})
	// "MQTT" level 2.
	c := dial(t, addr, packet.V311)
	c.sendRaw([]byte{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x02, 0x02, 0x00, 0x3c, 0x00, 0x00})
	got := c.expectClosed()
	if len(got) != 1 || got[0].(*packet.Connack).ReasonCode != packet.ConnRefusedProtocolVersion311 {
		t.Fatalf("level 2: got %v, want CONNACK 0x01", got)
	}
	// "MQTT" level 6, with a v5-shaped body.
	c5 := dial(t, addr, packet.V5)
	c5.sendRaw([]byte{0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x3c, 0x00, 0x00, 0x00})
	got = c5.expectClosed()
	if len(got) != 1 || got[0].(*packet.Connack).ReasonCode != packet.UnsupportedProtocolVersion {
		t.Fatalf("level 6: got %v, want CONNACK 0x84", got)
	}
}

// Client identifier rules: [MQTT-3.1.3-8] empty with Clean Session 0 is
// rejected; [MQTT-3.1.3-6] empty with Clean Session 1 gets one assigned;
// [MQTT5-3.2.2-16] v5 reports it; 3.1 allows 1 to 23 characters.
func TestClientIdentifierRules_MQTT_3_1_3_8(t *testing.T) {
	s, addr := startServer(t, Config{})
	c := dial(t, addr, packet.V311)
	if ack := c.connect("", false); ack.ReasonCode != packet.ConnRefusedIdentifierRejected {
		t.Fatalf("3.1.1 empty id, clean 0: CONNACK %#x, want 0x02", byte(ack.ReasonCode))
	}
	c.expectClosed()

	c = dial(t, addr, packet.V311)
	c.mustConnect("", true) // [MQTT-3.1.3-6]
	c.disconnect()

	c = dial(t, addr, packet.V31)
	if ack := c.connect(strings.Repeat("x", 24), true); ack.ReasonCode != packet.ConnRefusedIdentifierRejected {
		t.Fatalf("3.1 id of 24 characters: CONNACK %#x, want 0x02", byte(ack.ReasonCode))
	}
	c.expectClosed()
	c = dial(t, addr, packet.V31)
	c.mustConnect(strings.Repeat("x", 23), true)
	c.disconnect()

	c = dial(t, addr, packet.V5)
	ack := c.mustConnect("", false, withProps(func(p *packet.Properties) {
		p.SessionExpiry = 60
		p.Set(packet.PropSessionExpiry)
	}))
	id := ack.Properties.AssignedClientID
	if !ack.Properties.Has(packet.PropAssignedClientID) || id == "" {
		t.Fatalf("v5 empty id: CONNACK %+v without Assigned Client Identifier", ack.Properties)
	}
	c.disconnect()
	// The assigned identifier names a persistent session.
	c = dial(t, addr, packet.V5)
	if ack := c.mustConnect(id, false); !ack.SessionPresent {
		t.Fatal("reconnecting with the assigned identifier: session not present")
	}
	c.disconnect()
	_ = s
}

// [MQTT-3.2.2-1] [MQTT-3.2.2-2] [MQTT-3.2.2-3] Session Present.
func TestSessionPresent_MQTT_3_2_2_1(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr, packet.V311)
	if ack := c.mustConnect("sp", false); ack.SessionPresent { // [MQTT-3.2.2-3]
		t.Fatal("first connect: session present")
	}
	c.disconnect()
	c = dial(t, addr, packet.V311)
	if ack := c.mustConnect("sp", false); !ack.SessionPresent { // [MQTT-3.2.2-2]
		t.Fatal("second connect with clean session 0: session not present")
	}
	c.disconnect()
	c = dial(t, addr, packet.V311)
	if ack := c.mustConnect("sp", true); ack.SessionPresent { // [MQTT-3.2.2-1]
		t.Fatal("clean session 1: session present")
	}
	c.disconnect()
	c = dial(t, addr, packet.V311)
	if ack := c.mustConnect("sp", false); ack.SessionPresent {
		t.Fatal("after clean session 1 ended: session present")
	}
	c.disconnect()
}

// [MQTT-3.1.4-2] [MQTT5-3.1.4-3] a CONNECT with a client identifier in use
// closes the existing connection (v5: DISCONNECT 0x8E) and takes the
// session over.
func TestTakeoverClosesExistingConnection_MQTT_3_1_4_2(t *testing.T) {
	s, addr := startServer(t, Config{})
	old := dial(t, addr, packet.V5)
	old.mustConnect("dup", false, withProps(func(p *packet.Properties) {
		p.SessionExpiry = 60
		p.Set(packet.PropSessionExpiry)
	}))
	old.subscribe(1, "t", 1)
	nu := dial(t, addr, packet.V5)
	if ack := nu.mustConnect("dup", false); !ack.SessionPresent {
		t.Fatal("takeover: session not present")
	}
	old.expectDisconnect(packet.SessionTakenOver)
	// The subscription moved with the session.
	pub := dial(t, addr, packet.V5)
	pub.mustConnect("pub", true)
	pub.send(&packet.Publish{Topic: "t", Payload: []byte("x")})
	if p := nu.recvPublish(); string(p.Payload) != "x" {
		t.Fatalf("got %+v", p)
	}
	eventually(t, "one client", func() bool { return s.Stats().Clients == 2 })
}

// Many CONNECTs with the same client identifier at once: exactly one
// connection survives and owns the session.
func TestConcurrentTakeover_MQTT_3_1_4_2(t *testing.T) {
	s, addr := startServer(t, Config{})
	const n = 8
	cs := make([]*tclient, n)
	for i := range cs {
		cs[i] = dial(t, addr, packet.V311)
	}
	// Every connection accepted first: a connection the server has not
	// accepted yet is not counted, so "one connection left" below could
	// hold before the CONNECTs still unread take the session over.
	eventually(t, "all connections accepted", func() bool { return s.Stats().Connections == n })
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := packet.Append(nil, &packet.Connect{Version: packet.V311, ClientID: "race", KeepAlive: 60}, packet.V311)
			c.nc.Write(b)
		}()
	}
	wg.Wait()
	eventually(t, "one connection left", func() bool {
		st := s.Stats()
		return st.Clients == 1 && st.Connections == 1 && st.Sessions == 1
	})
	// The survivor works.
	open := 0
	for _, c := range cs {
		c.send(&packet.Pingreq{})
		for {
			p, err := c.read(waitFor)
			if err != nil {
				break
			}
			if p.Type() == packet.PINGRESP {
				open++
				break
			}
		}
	}
	if open != 1 {
		t.Fatalf("%d connections answer, want 1", open)
	}
}

// A panic in a connection's code closes that connection only; the server
// goes on.
func TestPanicInHandlerRecovered(t *testing.T) {
	s, addr := startServer(t, Config{})
	hook := func(t packet.Type) {
		if t == packet.UNSUBSCRIBE {
			panic("injected")
		}
	}
	s.testHook.Store(&hook)
	c := dial(t, addr, packet.V5)
	c.mustConnect("boom", true)
	c.send(&packet.Unsubscribe{PacketID: 1, Filters: []string{"x"}})
	c.expectDisconnect(packet.ImplementationSpecificError)
	if got := s.Stats().PanicsRecovered; got != 1 {
		t.Fatalf("PanicsRecovered = %d, want 1", got)
	}
	c = dial(t, addr, packet.V311)
	c.mustConnect("fine", true)
	c.send(&packet.Pingreq{})
	if p := c.recv(); p.Type() != packet.PINGRESP {
		t.Fatalf("got %v", p)
	}
	c.disconnect()
}

// A panic in a writer goroutine is recovered too: the connection closes and
// the panic is counted.
func TestPanicInWriterRecovered(t *testing.T) {
	s, addr := startServer(t, Config{})
	sub := dial(t, addr, packet.V311)
	sub.mustConnect("sub", true)
	sub.subscribe(1, "w", 0)
	hook := func(id string) {
		if id == "sub" {
			panic("injected in writer")
		}
	}
	s.testWriteHook.Store(&hook)
	pub := dial(t, addr, packet.V311)
	pub.mustConnect("pub", true)
	pub.send(&packet.Publish{Topic: "w", Payload: []byte("x")})
	sub.expectClosed()
	eventually(t, "panic counted", func() bool { return s.Stats().PanicsRecovered == 1 })
	pub.send(&packet.Pingreq{})
	if p := pub.recv(); p.Type() != packet.PINGRESP {
		t.Fatalf("publisher: got %v", p)
	}
	pub.disconnect()
}
