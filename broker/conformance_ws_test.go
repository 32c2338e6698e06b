package broker

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"testing"

	"github.com/coder/websocket"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/tern-mq/tern/packet"
)

// Transports and MQTT over WebSocket (chapters 4.2, 6 and 7).

// wsDial opens a WebSocket to the broker offering the subprotocols given.
func wsDial(t *testing.T, addr string, protos ...string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	wc, _, err := websocket.Dial(ctx, "ws://"+addr+WebSocketPath, &websocket.DialOptions{Subprotocols: protos})
	must(t, err)
	t.Cleanup(func() { wc.CloseNow() })
	return wc
}

func encode(t *testing.T, v packet.Version, ps ...packet.Packet) []byte {
	t.Helper()
	var b []byte
	for _, p := range ps {
		var err error
		if b, err = packet.Append(b, p, v); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// wsRead reads the next message, which must be a binary one.
func wsRead(t *testing.T, wc *websocket.Conn) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	typ, b, err := wc.Read(ctx)
	if err != nil {
		t.Fatalf("websocket read: %v", err)
	}
	if typ != websocket.MessageBinary { // [MQTT-6.0.0-1] [MQTT5-6.0.0-1]
		t.Fatalf("a %v message from the server, want binary", typ)
	}
	return b
}

func wsWrite(t *testing.T, wc *websocket.Conn, typ websocket.MessageType, b []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	must(t, wc.Write(ctx, typ, b))
}

// [MQTT-6.0.0-4] [MQTT5-6.0.0-4] the server selects the "mqtt" subprotocol;
// [MQTT-6.0.0-2] [MQTT5-6.0.0-2] packets need not align with frames: a
// CONNECT split over two frames, SUBSCRIBE and PUBLISH in one frame;
// [MQTT-6.0.0-1] [MQTT5-6.0.0-1] the server sends binary frames and closes
// the connection on a text frame.
func TestWebSocketFraming_MQTT_6_0_0_2(t *testing.T) {
	ln := WebSocketListener(loopback(t), nil, testLogger())
	s := serveOn(t, Config{}, ln)
	for _, v := range bothVersions {
		wc := wsDial(t, ln.Addr().String(), "mqtt")
		if wc.Subprotocol() != "mqtt" {
			t.Fatalf("subprotocol %q, want mqtt", wc.Subprotocol())
		}
		connect := encode(t, v, &packet.Connect{Version: v, CleanStart: true, ClientID: "ws-" + v.String(), KeepAlive: 60})
		wsWrite(t, wc, websocket.MessageBinary, connect[:5])
		wsWrite(t, wc, websocket.MessageBinary, connect[5:])
		var in []byte
		read := func() packet.Packet {
			for {
				if len(in) > 0 {
					p, n, err := packet.DecodeBytes(in, v, 0)
					if err == nil {
						in = in[n:]
						return p
					}
				}
				in = append(in, wsRead(t, wc)...)
			}
		}
		if ca, ok := read().(*packet.Connack); !ok || ca.ReasonCode != 0 {
			t.Fatalf("got %+v, want CONNACK 0", ca)
		}
		wsWrite(t, wc, websocket.MessageBinary, encode(t, v,
			&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "ws/t"}}},
			&packet.Publish{Topic: "ws/t", Payload: []byte("framed")},
			&packet.Pingreq{}))
		got := map[packet.Type]int{}
		for range 3 { // the PUBLISH to itself is not ordered with PINGRESP
			got[read().Type()]++
		}
		if got[packet.SUBACK] != 1 || got[packet.PUBLISH] != 1 || got[packet.PINGRESP] != 1 {
			t.Fatalf("got %v, want SUBACK, PUBLISH and PINGRESP", got)
		}
		wsWrite(t, wc, websocket.MessageText, encode(t, v, &packet.Pingreq{}))
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		if _, _, err := wc.Read(ctx); err == nil {
			t.Fatal("the connection is still open after a text frame")
		}
		cancel()
	}
	eventually(t, "the websocket clients gone", func() bool { return s.Stats().Clients == 0 })
}

// [MQTT-7.1.1-1] [MQTT5-4.2.0-1] the server runs MQTT over ordered,
// lossless byte streams: TCP, TLS and WebSocket carry a long run of
// messages whole and in order.
func TestTransports_MQTT_7_1_1_1(t *testing.T) {
	ca := newCA(t, "ca")
	cf, kf, _ := writeServerFiles(t, t.TempDir(), ca, "127.0.0.1", nil)
	certs, err := LoadCertificates(cf, kf, "")
	must(t, err)
	tcp := loopback(t)
	servers := map[string]*Server{"tcp": serveOn(t, Config{}, tcp)}
	tl := tls.NewListener(loopback(t), certs.TLSConfig())
	servers["tls"] = serveOn(t, Config{}, tl)
	ws := WebSocketListener(loopback(t), nil, testLogger())
	servers["websocket"] = serveOn(t, Config{}, ws)
	dialers := map[string]func() net.Conn{
		"tcp": func() net.Conn {
			nc, err := net.Dial("tcp", tcp.Addr().String())
			must(t, err)
			return nc
		},
		"tls": func() net.Conn {
			nc, err := tls.Dial("tcp", tl.Addr().String(), &tls.Config{RootCAs: ca.pool, ServerName: "127.0.0.1"})
			must(t, err)
			return nc
		},
		"websocket": func() net.Conn {
			return websocket.NetConn(context.Background(), wsDial(t, ws.Addr().String(), "mqtt"), websocket.MessageBinary)
		},
	}
	for name, d := range dialers {
		open := func(id string) *tclient {
			nc := d()
			t.Cleanup(func() { nc.Close() })
			c := &tclient{t: t, nc: nc, br: bufio.NewReader(nc), v: packet.V5}
			c.mustConnect(name+"-"+id, true)
			return c
		}
		c, p := open("sub"), open("pub")
		c.subscribe(1, "stream", 0)
		const n = 200
		for i := range n {
			p.send(&packet.Publish{Topic: "stream", Payload: []byte(fmt.Sprintf("%d-%0100d", i, i))})
		}
		for i := range n {
			if p := c.recvPublish(); string(p.Payload) != fmt.Sprintf("%d-%0100d", i, i) {
				t.Fatalf("%s: message %d is %.10q; server stats %+v", name, i, p.Payload, servers[name].Stats())
			}
		}
		p.disconnect()
		c.disconnect()
	}
}

// [MQTT-7.0.0-2] the broker needs no extension to the specification:
// paho.mqtt.golang, a client that knows none of Tern, works with it with
// its defaults.
func TestNoExtensionsRequired_MQTT_7_0_0_2(t *testing.T) {
	_, addr := startServer(t, Config{})
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr)
	o.SetProtocolVersion(4)
	pahoRoundTrip(t, o)
}
