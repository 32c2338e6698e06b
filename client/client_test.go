package client_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/packet"
)

var versions = []packet.Version{packet.V311, packet.V5}

// TestPublishSubscribeQoS publishes with every QoS on both protocol
// levels and checks the subscriber gets every message once, in order.
func TestPublishSubscribeQoS(t *testing.T) {
	testPublishSubscribeQoS(t, ternBroker(t, broker.Config{}))
}

func testPublishSubscribeQoS(t *testing.T, url string) {
	for _, v := range versions {
		for q := packet.QoS0; q <= packet.QoS2; q++ {
			t.Run(fmt.Sprintf("v%s/qos%d", v, q), func(t *testing.T) {
				runPubSub(t, url, v, q, 200)
			})
		}
	}
}

func runPubSub(t *testing.T, url string, v packet.Version, q packet.QoS, n int) {
	ctx := testCtx(t)
	sub := dialConn(t, url, client.Options{Version: v})
	pub := dialConn(t, url, client.Options{Version: v})
	in := newInbox()
	topic := fmt.Sprintf("t/%s/%d", v, q)
	codes, err := sub.Subscribe(ctx, client.Subscription{Filter: topic, QoS: q, Handler: in.handle})
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 1 || codes[0] != packet.ReasonCode(q) {
		t.Fatalf("granted %v, want QoS %d", codes, q)
	}
	for i := range n {
		if err := pub.Publish(ctx, client.Message{Topic: topic, QoS: q, Payload: fmt.Appendf(nil, "%d", i)}); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	msgs := in.wait(t, n)
	if len(msgs) != n {
		t.Fatalf("got %d messages, want %d", len(msgs), n)
	}
	for i, m := range msgs {
		if want := fmt.Sprintf("%d", i); string(m.Payload) != want || m.Topic != topic || m.QoS != q {
			t.Fatalf("message %d: %q %s QoS %d, want %q", i, m.Payload, m.Topic, m.QoS, want)
		}
	}
}

func TestRetained(t *testing.T) { testRetained(t, ternBroker(t, broker.Config{})) }

func testRetained(t *testing.T, url string) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			ctx := testCtx(t)
			c := dialConn(t, url, client.Options{Version: v})
			topic := "retained/" + v.String()
			if err := c.Publish(ctx, client.Message{Topic: topic, Payload: []byte("keep"), QoS: 1, Retain: true}); err != nil {
				t.Fatal(err)
			}
			in := newInbox()
			if _, err := c.Subscribe(ctx, client.Subscription{Filter: "retained/#", QoS: 1, Handler: in.handle}); err != nil {
				t.Fatal(err)
			}
			m := in.wait(t, 1)[0]
			if !m.Retain || string(m.Payload) != "keep" || m.Topic != topic {
				t.Fatalf("retained message %+v", m)
			}
			// Clear it.
			if err := c.Publish(ctx, client.Message{Topic: topic, QoS: 1, Retain: true}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWill checks the will is published when the connection ends without
// DISCONNECT, and not after a normal Disconnect.
func TestWill(t *testing.T) { testWill(t, ternBroker(t, broker.Config{})) }

func testWill(t *testing.T, url string) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			ctx := testCtx(t)
			watcher := dialConn(t, url, client.Options{Version: v})
			in := newInbox()
			if _, err := watcher.Subscribe(ctx, client.Subscription{Filter: "will/" + v.String(), QoS: 1, Handler: in.handle}); err != nil {
				t.Fatal(err)
			}
			will := &client.Message{Topic: "will/" + v.String(), Payload: []byte("gone"), QoS: 1}
			// A normal disconnection: no will.
			polite := dialConn(t, url, client.Options{Version: v, Will: will})
			if err := polite.Disconnect(ctx, packet.Success); err != nil {
				t.Fatal(err)
			}
			// An abrupt one (the Client's context ends): the will.
			o := client.Options{Version: v, Will: will, Servers: []string{url}, Logger: testLogger()}
			c, err := client.New(o)
			if err != nil {
				t.Fatal(err)
			}
			cctx, cancel := contextWithCancel(t)
			if err := c.Start(cctx); err != nil {
				t.Fatal(err)
			}
			if err := c.AwaitConnection(ctx); err != nil {
				t.Fatal(err)
			}
			cancel()
			<-c.Done()
			if c.State() != client.Closed {
				t.Fatalf("state %s after the context ended", c.State())
			}
			msgs := in.wait(t, 1)
			if len(msgs) != 1 || string(msgs[0].Payload) != "gone" {
				t.Fatalf("will messages %d", len(msgs))
			}
		})
	}
}

// TestPersistentSession checks messages published while a persistent
// subscriber is offline are delivered after it reconnects.
func TestPersistentSession(t *testing.T) { testPersistentSession(t, ternBroker(t, broker.Config{})) }

func testPersistentSession(t *testing.T, url string) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			ctx := testCtx(t)
			id := "persist-" + v.String()
			o := client.Options{Version: v, ClientID: id, SessionExpiry: 3600e9}
			first := dialConn(t, url, o)
			if _, err := first.Subscribe(ctx, client.Subscription{Filter: "p/" + v.String(), QoS: 2}); err != nil {
				t.Fatal(err)
			}
			if err := first.Disconnect(ctx, packet.Success); err != nil {
				t.Fatal(err)
			}
			pub := dialConn(t, url, client.Options{Version: v})
			for i := range 10 {
				q := packet.QoS(1 + i%2)
				if err := pub.Publish(ctx, client.Message{Topic: "p/" + v.String(), QoS: q, Payload: []byte{byte(i)}}); err != nil {
					t.Fatal(err)
				}
			}
			in := newInbox()
			o.OnMessage = in.handle
			second := dialConn(t, url, o)
			if !second.Connack().SessionPresent {
				t.Fatal("session not present")
			}
			msgs := in.wait(t, 10)
			for i, m := range msgs {
				if !bytes.Equal(m.Payload, []byte{byte(i)}) {
					t.Fatalf("message %d payload %v", i, m.Payload)
				}
			}
		})
	}
}

func TestV5Properties(t *testing.T) { testV5Properties(t, ternBroker(t, broker.Config{})) }

func testV5Properties(t *testing.T, url string) {
	ctx := testCtx(t)
	c := dialConn(t, url, client.Options{})
	in := newInbox()
	if _, err := c.SubscribeProps(ctx, &packet.Properties{SubscriptionIDs: []uint32{7}},
		client.Subscription{Filter: "props/+", QoS: 1, Handler: in.handle}); err != nil {
		t.Fatal(err)
	}
	p := &packet.Properties{ContentType: "text/plain", ResponseTopic: "r/t", CorrelationData: []byte{1, 2},
		PayloadFormat: 1, MessageExpiry: 60, User: []packet.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}}}
	p.Set(packet.PropContentType)
	p.Set(packet.PropResponseTopic)
	p.Set(packet.PropCorrelationData)
	p.Set(packet.PropPayloadFormat)
	p.Set(packet.PropMessageExpiry)
	if err := c.Publish(ctx, client.Message{Topic: "props/a", QoS: 1, Payload: []byte("x"), Properties: p}); err != nil {
		t.Fatal(err)
	}
	m := in.wait(t, 1)[0]
	got := m.Properties
	if got == nil || got.ContentType != "text/plain" || got.ResponseTopic != "r/t" || !bytes.Equal(got.CorrelationData, []byte{1, 2}) ||
		got.PayloadFormat != 1 || !got.Has(packet.PropMessageExpiry) || got.MessageExpiry == 0 || got.MessageExpiry > 60 ||
		len(got.User) != 2 || got.User[1].Value != "w" || len(got.SubscriptionIDs) != 1 || got.SubscriptionIDs[0] != 7 {
		t.Fatalf("properties %+v", got)
	}
	if v, ok := m.UserProperty("k"); !ok || v != "v" {
		t.Fatalf("UserProperty k = %q %v", v, ok)
	}
}

func TestRequestResponse(t *testing.T) { testRequestResponse(t, ternBroker(t, broker.Config{})) }

func testRequestResponse(t *testing.T, url string) {
	ctx := testCtx(t)
	responder := dialConn(t, url, client.Options{})
	if _, err := responder.Subscribe(ctx, client.Subscription{Filter: "svc/echo", QoS: 1, Handler: func(m *client.Message) {
		client.Respond(ctx, responder, m, append([]byte("echo "), m.Payload...))
	}}); err != nil {
		t.Fatal(err)
	}
	c := dialConn(t, url, client.Options{})
	for i := range 5 {
		resp, err := c.Request(ctx, "svc/echo", fmt.Appendf(nil, "%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("echo %d", i); string(resp.Payload) != want {
			t.Fatalf("response %q, want %q", resp.Payload, want)
		}
	}
	c3 := dialConn(t, url, client.Options{Version: packet.V311})
	if _, err := c3.Request(ctx, "svc/echo", nil); err == nil {
		t.Fatal("request over 3.1.1 accepted")
	}
}

func TestSubscribeRefused(t *testing.T) {
	url := ternBroker(t, broker.Config{})
	ctx := testCtx(t)
	c := dialConn(t, url, client.Options{})
	_, err := c.Subscribe(ctx, client.Subscription{Filter: "a/#/b"})
	if err == nil {
		t.Fatal("invalid filter accepted")
	}
	// A shared subscription with an invalid share name is refused by the server.
	_, err = c.Subscribe(ctx, client.Subscription{Filter: "$share/g+/x"})
	var re *client.ReasonError
	if err == nil || (!errors.As(err, &re) && err.Error() == "") {
		t.Fatalf("refused filter: %v", err)
	}
}

func TestConnectRefusedNamesReason(t *testing.T) {
	url := ternBroker(t, broker.Config{})
	ctx := testCtx(t)
	// MQTT 3.1 allows at most 23 characters: "identifier rejected".
	_, err := client.Dial(ctx, client.Options{Servers: []string{url}, Version: packet.V31, ClientID: "a-client-identifier-too-long-for-3.1"})
	var re *client.ReasonError
	if !errors.As(err, &re) || re.Code != packet.ConnRefusedIdentifierRejected {
		t.Fatalf("Dial: %v", err)
	}
	if got := err.Error(); !bytes.Contains([]byte(got), []byte("identifier rejected")) {
		t.Fatalf("error %q does not name the reason", got)
	}
}
