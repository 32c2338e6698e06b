package interop

import (
	"fmt"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// msg is one message as a Paho 3.1.1 client received it.
type msg struct {
	topic    string
	payload  string
	qos      byte
	retained bool
}

// client311 is a connected paho.mqtt.golang client with its received
// messages (all subscriptions) on msgs.
type client311 struct {
	mqtt.Client
	msgs chan msg
	lost chan error // connection lost without Disconnect
	mu   sync.Mutex
	raw  net.Conn // the network connection, to break it on purpose
}

type opt311 func(*mqtt.ClientOptions)

func persistent(o *mqtt.ClientOptions) { o.SetCleanSession(false) }

func level(v uint) opt311 { return func(o *mqtt.ClientOptions) { o.SetProtocolVersion(v) } }

func will(topic, payload string, qos byte, retained bool) opt311 {
	return func(o *mqtt.ClientOptions) { o.SetWill(topic, payload, qos, retained) }
}

// connect311 connects a 3.1.1 client (no automatic reconnection) and
// disconnects it when the test ends, unless it was already closed.
func connect311(t *testing.T, addr, id string, opts ...opt311) (*client311, bool) {
	t.Helper()
	c := &client311{msgs: make(chan msg, 100), lost: make(chan error, 1)}
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetOrderMatters(true).SetConnectTimeout(wait).SetWriteTimeout(wait)
	o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
		c.msgs <- msg{topic: m.Topic(), payload: string(m.Payload()), qos: m.Qos(), retained: m.Retained()}
	})
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { c.lost <- err })
	o.SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
		nc, err := net.Dial("tcp", u.Host)
		c.mu.Lock()
		c.raw = nc
		c.mu.Unlock()
		return nc, err
	})
	for _, f := range opts {
		f(o)
	}
	c.Client = mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("%s: connect: %v", id, tok.Error())
	}
	t.Cleanup(func() {
		if c.IsConnectionOpen() {
			c.Disconnect(100)
		}
	})
	return c, tok.(*mqtt.ConnectToken).SessionPresent()
}

// breakConn closes the network connection under the client, as a crash or
// a network failure would, without DISCONNECT. (Paho takes a close on its
// own side for its own doing and does not report a lost connection.)
func (c *client311) breakConn(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	nc := c.raw
	c.mu.Unlock()
	if err := nc.Close(); err != nil {
		t.Fatal(err)
	}
}

func (c *client311) sub(t *testing.T, filter string, qos byte) {
	t.Helper()
	tok := c.Subscribe(filter, qos, nil)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe %q: %v", filter, tok.Error())
	}
	if got := tok.(*mqtt.SubscribeToken).Result()[filter]; got != qos {
		t.Fatalf("subscribe %q QoS %d: granted %d", filter, qos, got)
	}
}

func (c *client311) pub(t *testing.T, topic string, qos byte, retained bool, payload string) {
	t.Helper()
	tok := c.Publish(topic, qos, retained, payload)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish %q: %v", topic, tok.Error())
	}
}

// next returns the next message, failing after the deadline.
func (c *client311) next(t *testing.T) msg {
	t.Helper()
	return recv(t, c.msgs, "a message")
}

// expect checks that the next message is want.
func (c *client311) expect(t *testing.T, want msg) {
	t.Helper()
	if got := c.next(t); got != want {
		t.Fatalf("received %+v, want %+v", got, want)
	}
}

// barrier has from publish a marker to topic, which c subscribes to, and
// waits for it. Every message that from published before, and that
// matches c's subscriptions, has then arrived: they must be exactly want,
// in order. (The server forwards one client's publications in order;
// there is no such order between different publishers.)
func (c *client311) barrier(t *testing.T, from *client311, topic string, want ...msg) {
	t.Helper()
	from.pub(t, topic, 1, false, "marker")
	for {
		got := c.next(t)
		if got.topic == topic && got.payload == "marker" {
			break
		}
		if len(want) == 0 || got != want[0] {
			t.Fatalf("before the marker: received %+v, want %+v", got, want)
		}
		want = want[1:]
	}
	if len(want) > 0 {
		t.Fatalf("marker arrived before %+v", want)
	}
}

// quiet checks that no message arrives for a short while: for what no
// event can tell has not happened (a will routed after its connection's
// end was counted).
func (c *client311) quiet(t *testing.T) {
	t.Helper()
	select {
	case m := <-c.msgs:
		t.Fatalf("unexpected message %+v", m)
	case <-time.After(quietPeriod):
	}
}

// TestPaho311QoS publishes at each QoS to subscriptions of each QoS: the
// delivery QoS is the minimum of the two [MQTT-3.8.4-6].
func TestPaho311QoS(t *testing.T) {
	for _, v := range []uint{3, 4} {
		t.Run(fmt.Sprintf("level%d", v), func(t *testing.T) {
			_, addr := startBroker(t)
			sub, _ := connect311(t, addr, "sub", level(v))
			pub, _ := connect311(t, addr, "pub", level(v))
			for s := byte(0); s <= 2; s++ {
				sub.sub(t, fmt.Sprintf("q/%d", s), s)
			}
			for p := byte(0); p <= 2; p++ {
				for s := byte(0); s <= 2; s++ {
					topic := fmt.Sprintf("q/%d", s)
					payload := fmt.Sprintf("pub QoS %d to sub QoS %d", p, s)
					pub.pub(t, topic, p, false, payload)
					sub.expect(t, msg{topic: topic, payload: payload, qos: min(p, s)})
				}
			}
		})
	}
}

// TestPaho311Retained sets, replaces and clears a retained message
// [MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-10] [MQTT-3.3.1-11].
func TestPaho311Retained(t *testing.T) {
	_, addr := startBroker(t)
	pub, _ := connect311(t, addr, "pub")
	// The server may acknowledge a publication before it routes it; pub
	// waits for its own copies to know the retained message is stored.
	pub.sub(t, "r/t", 1)
	pub.pub(t, "r/t", 1, true, "v1")
	pub.expect(t, msg{topic: "r/t", payload: "v1", qos: 1})
	pub.pub(t, "r/t", 1, true, "v2") // replaces v1
	pub.expect(t, msg{topic: "r/t", payload: "v2", qos: 1})

	s1, _ := connect311(t, addr, "s1")
	s1.sub(t, "r/#", 1)
	s1.expect(t, msg{topic: "r/t", payload: "v2", qos: 1, retained: true})
	s1.barrier(t, s1, "r/marker") // and not v1

	// A live message to an existing subscriber has RETAIN 0 [MQTT-3.3.1-9].
	pub.pub(t, "r/t", 1, true, "v3")
	s1.expect(t, msg{topic: "r/t", payload: "v3", qos: 1})

	pub.pub(t, "r/t", 0, true, "") // clears it
	s1.expect(t, msg{topic: "r/t", payload: "", qos: 0})
	s2, _ := connect311(t, addr, "s2")
	s2.sub(t, "r/#", 1)
	s2.barrier(t, s2, "r/marker") // nothing retained is sent
}

// TestPaho311Will checks that the will is published when the connection
// breaks [MQTT-3.1.2-8] and not after DISCONNECT [MQTT-3.14.4-3].
func TestPaho311Will(t *testing.T) {
	srv, addr := startBroker(t)
	sub, _ := connect311(t, addr, "sub")
	sub.sub(t, "will/#", 1)

	w, _ := connect311(t, addr, "w", will("will/w", "gone", 1, false))
	w.breakConn(t)
	sub.expect(t, msg{topic: "will/w", payload: "gone", qos: 1})

	eventually(t, "only sub connected", func() bool { return srv.Stats().Clients == 1 })
	d, _ := connect311(t, addr, "d", will("will/d", "gone", 1, false))
	d.Disconnect(100)
	eventually(t, "d to be gone", func() bool { return srv.Stats().Clients == 1 })
	sub.barrier(t, sub, "will/marker")
	sub.quiet(t) // and no will from d
}

// TestPaho311PersistentSession queues QoS 1 and 2 messages for a
// disconnected persistent session and delivers them on reconnection
// [MQTT-3.1.2-4] [MQTT-3.1.2-5] [MQTT-3.2.2-2].
func TestPaho311PersistentSession(t *testing.T) {
	srv, addr := startBroker(t)
	s, present := connect311(t, addr, "keeper", persistent)
	if present {
		t.Fatal("new session: session present 1")
	}
	s.sub(t, "p/#", 2)
	s.Disconnect(100)
	eventually(t, "the session to go offline", func() bool { return srv.Stats().Clients == 0 })

	pub, _ := connect311(t, addr, "pub")
	pub.pub(t, "p/1", 1, false, "one")
	pub.pub(t, "p/2", 2, false, "two")
	pub.pub(t, "p/1", 1, false, "three")

	s2, present := connect311(t, addr, "keeper", persistent)
	if !present {
		t.Fatal("reconnection: session present 0")
	}
	s2.expect(t, msg{topic: "p/1", payload: "one", qos: 1})
	s2.expect(t, msg{topic: "p/2", payload: "two", qos: 2})
	s2.expect(t, msg{topic: "p/1", payload: "three", qos: 1})
	s2.Disconnect(100)

	// A clean session discards it [MQTT-3.1.2-6].
	s3, present := connect311(t, addr, "keeper")
	if present {
		t.Fatal("clean session: session present 1")
	}
	pub.pub(t, "p/1", 1, false, "after clean")
	s3.sub(t, "p/marker", 1)
	s3.barrier(t, pub, "p/marker")
}

// TestPaho311Takeover connects a second client with the same identifier:
// the server closes the first connection [MQTT-3.1.4-2].
func TestPaho311Takeover(t *testing.T) {
	_, addr := startBroker(t)
	first, _ := connect311(t, addr, "same")
	second, _ := connect311(t, addr, "same")
	recv(t, first.lost, "the first connection to be closed")
	second.sub(t, "t/x", 1)
	second.pub(t, "t/x", 1, false, "still here")
	second.expect(t, msg{topic: "t/x", payload: "still here", qos: 1})
}

// TestPaho311Wildcards checks + and # and that a filter starting with a
// wildcard does not match a topic starting with $ [MQTT-4.7.2-1].
func TestPaho311Wildcards(t *testing.T) {
	_, addr := startBroker(t)
	plus, _ := connect311(t, addr, "plus")
	plus.sub(t, "w/+/x", 1)
	plus.sub(t, "w/plus-marker", 1)
	hash, _ := connect311(t, addr, "hash")
	hash.sub(t, "#", 1)
	sys, _ := connect311(t, addr, "sys")
	sys.sub(t, "$SYS/+", 1) // $SYS/# would also receive the broker's own $SYS topics
	sys.sub(t, "w/sys-marker", 1)
	pub, _ := connect311(t, addr, "pub")

	pub.pub(t, "w/a/x", 1, false, "1")
	pub.pub(t, "w/b", 1, false, "2")
	pub.pub(t, "w/a/x/y", 1, false, "3")
	pub.pub(t, "$SYS/interop", 1, false, "4")
	pub.pub(t, "w//x", 1, false, "5")

	plus.barrier(t, pub, "w/plus-marker",
		msg{topic: "w/a/x", payload: "1", qos: 1},
		msg{topic: "w//x", payload: "5", qos: 1})
	hash.expect(t, msg{topic: "w/a/x", payload: "1", qos: 1})
	hash.expect(t, msg{topic: "w/b", payload: "2", qos: 1})
	hash.expect(t, msg{topic: "w/a/x/y", payload: "3", qos: 1})
	hash.expect(t, msg{topic: "w//x", payload: "5", qos: 1}) // not $SYS/interop
	sys.barrier(t, pub, "w/sys-marker", msg{topic: "$SYS/interop", payload: "4", qos: 1})
}
