package client_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/packet"
)

// Normative statements that bind the client, checked against a scripted
// server that records what the client sends.

// scriptServer accepts connections on a loopback port.
type scriptServer struct {
	t  *testing.T
	ln net.Listener
}

func newScriptServer(t *testing.T) *scriptServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &scriptServer{t: t, ln: ln}
}

func (f *scriptServer) url() string { return "mqtt://" + f.ln.Addr().String() }

// peer is the server side of one client connection.
type peer struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
	v  packet.Version
}

// accept takes the next connection, checks its first packet is CONNECT
// [MQTT-3.1.0-1] [MQTT5-3.1.0-1] and answers ca (nil: no answer).
func (f *scriptServer) accept(ca *packet.Connack) (*peer, *packet.Connect) {
	f.t.Helper()
	f.ln.(*net.TCPListener).SetDeadline(time.Now().Add(waitFor))
	nc, err := f.ln.Accept()
	if err != nil {
		f.t.Fatalf("accept: %v", err)
	}
	f.t.Cleanup(func() { nc.Close() })
	p := &peer{t: f.t, nc: nc, br: bufio.NewReader(nc)}
	nc.SetReadDeadline(time.Now().Add(waitFor))
	first, err := packet.ReadPacket(p.br, 0, 0)
	if err != nil {
		f.t.Fatalf("reading the first packet: %v", err)
	}
	c, ok := first.(*packet.Connect)
	if !ok {
		f.t.Fatalf("first packet %s, want CONNECT", first.Type())
	}
	p.v = c.Version
	if ca != nil {
		p.send(ca)
	}
	return p, c
}

func (p *peer) send(pk packet.Packet) {
	p.t.Helper()
	b, err := packet.Append(nil, pk, p.v)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

func (p *peer) read(d time.Duration) (packet.Packet, error) {
	p.nc.SetReadDeadline(time.Now().Add(d))
	return packet.ReadPacket(p.br, p.v, 0)
}

func (p *peer) recv() packet.Packet {
	p.t.Helper()
	pk, err := p.read(waitFor)
	if err != nil {
		p.t.Fatalf("read: %v", err)
	}
	return pk
}

// recvSkipPing reads the next packet that is not PINGREQ.
func (p *peer) recvSkipPing() packet.Packet {
	p.t.Helper()
	for {
		if pk := p.recv(); pk.Type() != packet.PINGREQ {
			return pk
		}
	}
}

// closed waits for the client to close the connection and returns what it
// sent before.
func (p *peer) closed() []packet.Packet {
	p.t.Helper()
	var got []packet.Packet
	for {
		pk, err := p.read(waitFor)
		if err == nil {
			got = append(got, pk)
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			p.t.Fatalf("the client kept the connection open (sent %v)", got)
		}
		return got
	}
}

// dialFake connects a Conn to f, which answers ca, in the background.
func dialFake(t *testing.T, f *scriptServer, o client.Options, ca *packet.Connack) (*client.Conn, *peer, *packet.Connect) {
	t.Helper()
	o.Servers = []string{f.url()}
	o.Logger = testLogger()
	type res struct {
		c   *client.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := client.Dial(testCtx(t), o)
		ch <- res{c, err}
	}()
	p, cp := f.accept(ca)
	r := <-ch
	if r.err != nil {
		t.Fatalf("Dial: %v", r.err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		r.c.Disconnect(ctx, packet.Success)
	})
	return r.c, p, cp
}

// [MQTT-3.1.2-23] [MQTT5-3.1.2-20] an idle client sends PINGREQ within its
// keep alive; [MQTT5-3.1.2-21] it uses the Server Keep Alive instead of its
// own.
func TestClientKeepAlive_MQTT5_3_1_2_21(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    client.Options
		ca   *packet.Connack
	}{
		{"3.1.1 keep alive 1s", client.Options{Version: packet.V311, KeepAlive: time.Second}, &packet.Connack{}},
		{"5.0 server keep alive 1s", client.Options{Version: packet.V5, KeepAlive: time.Hour}, func() *packet.Connack {
			ca := &packet.Connack{}
			ca.Properties.ServerKeepAlive = 1
			ca.Properties.Set(packet.PropServerKeepAlive)
			return ca
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, p, _ := dialFake(t, newScriptServer(t), tc.o, tc.ca)
			start := time.Now()
			for range 2 {
				pk, err := p.read(1500 * time.Millisecond)
				if err != nil || pk.Type() != packet.PINGREQ {
					t.Fatalf("after %v: %v %v, want PINGREQ within the keep alive", time.Since(start), pk, err)
				}
				p.send(&packet.Pingresp{})
			}
		})
	}
}

// [MQTT-3.1.3-7] a client without a client identifier does not ask for a
// persistent session with an empty one: an MQTT 3.1.1 client makes one up.
func TestClientEmptyIDPersistent_MQTT_3_1_3_7(t *testing.T) {
	_, _, cp := dialFake(t, newScriptServer(t), client.Options{Version: packet.V311, CleanStart: false}, &packet.Connack{})
	if cp.ClientID == "" && !cp.CleanStart {
		t.Fatalf("CONNECT with an empty client identifier and Clean Session 0")
	}
}

// [MQTT5-3.2.2-4] a client without session state that gets Session
// Present 1 closes the connection.
func TestClientUnexpectedSessionPresent_MQTT5_3_2_2_4(t *testing.T) {
	f := newScriptServer(t)
	errc := make(chan error, 1)
	go func() {
		_, err := client.Dial(testCtx(t), client.Options{Servers: []string{f.url()}, ClientID: "x", CleanStart: true, Logger: testLogger()})
		errc <- err
	}()
	p, _ := f.accept(&packet.Connack{SessionPresent: true})
	if err := <-errc; err == nil {
		t.Fatal("Dial accepted Session Present 1 after Clean Start")
	}
	p.closed()
}

// [MQTT5-3.2.2-5] a client whose server answers Session Present 0 discards
// its session state: a QoS 2 identifier awaiting PUBREL is forgotten, so a
// new message with that identifier is delivered.
func TestClientDiscardsSessionState_MQTT5_3_2_2_5(t *testing.T) {
	f := newScriptServer(t)
	box := newInbox()
	o := client.Options{Servers: []string{f.url()}, ClientID: "keep", SessionExpiry: time.Hour, OnMessage: box.handle,
		Logger: testLogger(), MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}
	c, err := client.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		c.Disconnect(ctx, packet.Success)
	})
	p, _ := f.accept(&packet.Connack{})
	p.send(&packet.Publish{QoS: 2, PacketID: 5, Topic: "t", Payload: []byte("first")})
	if a, ok := p.recvSkipPing().(*packet.Ack); !ok || a.PacketType != packet.PUBREC || a.PacketID != 5 {
		t.Fatalf("got %+v, want PUBREC 5", a)
	}
	box.wait(t, 1)
	p.nc.Close() // before PUBREL: identifier 5 awaits it
	p, _ = f.accept(&packet.Connack{SessionPresent: false})
	p.send(&packet.Publish{QoS: 2, PacketID: 5, Topic: "t", Payload: []byte("second")})
	if a, ok := p.recvSkipPing().(*packet.Ack); !ok || a.PacketType != packet.PUBREC || a.PacketID != 5 {
		t.Fatalf("got %+v, want PUBREC 5", a)
	}
	if got := box.wait(t, 2); string(got[1].Payload) != "second" {
		t.Fatalf("got %q", got[1].Payload)
	}
}

// [MQTT5-3.2.2-17] the client's topic aliases stay within the server's
// Topic Alias Maximum.
func TestClientAliasWithinServerMax_MQTT5_3_2_2_17(t *testing.T) {
	ca := &packet.Connack{}
	ca.Properties.TopicAliasMaximum = 2
	ca.Properties.Set(packet.PropTopicAliasMaximum)
	c, p, _ := dialFake(t, newScriptServer(t), client.Options{TopicAliases: true}, ca)
	topics := []string{"a", "b", "c", "d", "a", "b", "c", "d"}
	go func() {
		for _, tp := range topics {
			c.Publish(testCtx(t), client.Message{Topic: tp, Payload: []byte(tp)})
		}
	}()
	aliases := map[uint16]string{}
	reused := 0
	for range topics {
		pub, ok := p.recvSkipPing().(*packet.Publish)
		if !ok {
			t.Fatal("want PUBLISH")
		}
		a := pub.Properties.TopicAlias
		if a > 2 {
			t.Fatalf("alias %d beyond the server's maximum 2", a)
		}
		if pub.Topic == "" {
			reused++
			pub.Topic = aliases[a]
		} else if a != 0 {
			aliases[a] = pub.Topic
		}
		if pub.Topic != string(pub.Payload) {
			t.Fatalf("topic %q for %q (alias %d)", pub.Topic, pub.Payload, a)
		}
	}
	if reused != 2 {
		t.Fatalf("%d PUBLISH by alias alone, want 2 (a and b)", reused)
	}
}

// [MQTT5-3.3.2-10] the client accepts every Topic Alias from 1 to the
// maximum it announced.
func TestClientAcceptsAliases_MQTT5_3_3_2_10(t *testing.T) {
	box := newInbox()
	_, p, cp := dialFake(t, newScriptServer(t), client.Options{TopicAliasMaximum: 3, OnMessage: box.handle}, &packet.Connack{})
	if cp.Properties.TopicAliasMaximum != 3 {
		t.Fatalf("Topic Alias Maximum %d in CONNECT", cp.Properties.TopicAliasMaximum)
	}
	alias := func(topic string, a uint16, payload string) *packet.Publish {
		pub := &packet.Publish{Topic: topic, Payload: []byte(payload)}
		pub.Properties.TopicAlias = a
		pub.Properties.Set(packet.PropTopicAlias)
		return pub
	}
	for a := uint16(1); a <= 3; a++ {
		tp := string(rune('a' + a))
		p.send(alias(tp, a, tp))
		p.send(alias("", a, tp))
	}
	got := box.wait(t, 6)
	for _, m := range got {
		if m.Topic != string(m.Payload) {
			t.Fatalf("topic %q for %q", m.Topic, m.Payload)
		}
	}
	p.send(&packet.Pingreq{}) // still connected
	if _, err := p.read(100 * time.Millisecond); err != nil {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("the client closed the connection: %v", err)
		}
	}
}

// [MQTT5-3.3.4-8] with its send quota used up the client still sends
// packets other than PUBLISH (here SUBSCRIBE) at once.
func TestClientQuotaDoesNotDelayOthers_MQTT5_3_3_4_8(t *testing.T) {
	ca := &packet.Connack{}
	ca.Properties.ReceiveMaximum = 1
	ca.Properties.Set(packet.PropReceiveMaximum)
	c, p, _ := dialFake(t, newScriptServer(t), client.Options{}, ca)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, tp := range []string{"q/1", "q/2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Publish(ctx, client.Message{Topic: tp, QoS: 1})
		}()
	}
	first := p.recvSkipPing().(*packet.Publish)
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.Subscribe(ctx, client.Subscription{Filter: "s"})
	}()
	sub, ok := p.recvSkipPing().(*packet.Subscribe)
	if !ok {
		t.Fatal("the SUBSCRIBE waited for the send quota")
	}
	p.send(&packet.Suback{PacketID: sub.PacketID, ReasonCodes: []packet.ReasonCode{0}})
	p.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: first.PacketID})
	second := p.recvSkipPing().(*packet.Publish)
	if second.Topic == first.Topic {
		t.Fatalf("the same PUBLISH twice")
	}
	p.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: second.PacketID})
}

// [MQTT-3.14.4-1] [MQTT-3.14.4-2] [MQTT5-3.14.4-1] [MQTT5-3.14.4-2] after
// DISCONNECT the client sends nothing more and closes the connection.
func TestClientClosesAfterDisconnect_MQTT5_3_14_4_2(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		c, p, _ := dialFake(t, newScriptServer(t), client.Options{Version: v}, &packet.Connack{})
		go c.Disconnect(context.Background(), packet.Success)
		got := p.closed()
		if len(got) == 0 || got[len(got)-1].Type() != packet.DISCONNECT {
			t.Fatalf("v%s: sent %v, want DISCONNECT last", v, got)
		}
		<-c.Done()
	}
}

// [MQTT-4.5.0-2] [MQTT5-4.5.0-2] the client acknowledges every QoS 1 and 2
// PUBLISH, also one it has no handler or subscription for.
func TestClientAcksEveryPublish_MQTT_4_5_0_2(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		_, p, _ := dialFake(t, newScriptServer(t), client.Options{Version: v}, &packet.Connack{})
		p.send(&packet.Publish{QoS: 1, PacketID: 7, Topic: "never/subscribed", Payload: []byte("x")})
		p.send(&packet.Publish{QoS: 2, PacketID: 8, Topic: "never/subscribed", Payload: []byte("y")})
		for _, want := range []struct {
			kind packet.Type
			id   uint16
		}{{packet.PUBACK, 7}, {packet.PUBREC, 8}} {
			if a, ok := p.recvSkipPing().(*packet.Ack); !ok || a.PacketType != want.kind || a.PacketID != want.id {
				t.Fatalf("v%s: got %+v, want %s %d", v, a, want.kind, want.id)
			}
		}
		p.send(&packet.Ack{PacketType: packet.PUBREL, PacketID: 8})
		if a, ok := p.recvSkipPing().(*packet.Ack); !ok || a.PacketType != packet.PUBCOMP || a.PacketID != 8 {
			t.Fatalf("v%s: got %+v, want PUBCOMP 8", v, a)
		}
	}
}

// [MQTT-6.0.0-3] [MQTT5-6.0.0-3] the client offers the "mqtt" WebSocket
// subprotocol; [MQTT-7.1.2-1] it runs over TCP and WebSocket streams alike.
func TestClientWebSocketSubprotocol_MQTT_6_0_0_3(t *testing.T) {
	offered := make(chan string, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		offered <- r.Header.Get("Sec-WebSocket-Protocol")
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer hs.Close()
	_, err := client.Dial(testCtx(t), client.Options{Servers: []string{"ws://" + strings.TrimPrefix(hs.URL, "http://") + "/mqtt"}, Logger: testLogger()})
	if err == nil {
		t.Fatal("Dial succeeded against a refusing server")
	}
	if got := <-offered; !strings.Contains(got, "mqtt") {
		t.Fatalf("subprotocols offered %q, want mqtt", got)
	}
	for _, url := range []string{ternBroker(t, broker.Config{}), wsBroker(t, nil)} {
		box := newInbox()
		c := dialConn(t, url, client.Options{OnMessage: box.handle})
		if _, err := c.Subscribe(testCtx(t), client.Subscription{Filter: "s", QoS: 1}); err != nil {
			t.Fatal(err)
		}
		const n = 50
		for i := range n {
			if err := c.Publish(testCtx(t), client.Message{Topic: "s", QoS: 1, Payload: []byte{byte(i)}}); err != nil {
				t.Fatal(err)
			}
		}
		for i, m := range box.wait(t, n) {
			if m.Payload[0] != byte(i) {
				t.Fatalf("%s: message %d is %d", url, i, m.Payload[0])
			}
		}
	}
}
