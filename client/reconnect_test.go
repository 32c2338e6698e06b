package client_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/packet"
)

// stateLog records state changes.
type stateLog struct {
	mu  sync.Mutex
	all []client.StateChange
}

func (s *stateLog) record(c client.StateChange) {
	s.mu.Lock()
	s.all = append(s.all, c)
	s.mu.Unlock()
}

func (s *stateLog) snapshot() []client.StateChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]client.StateChange(nil), s.all...)
}

func (s *stateLog) has(to client.State, n int) bool {
	k := 0
	for _, c := range s.snapshot() {
		if c.To == to && c.From != to {
			k++
		}
	}
	return k >= n
}

// TestStatesAndResubscribe cuts the connection of a clean-start client:
// it goes connected → reconnecting → connected, restores its subscription
// on the new session and ends closed.
func TestStatesAndResubscribe(t *testing.T) {
	url := ternBroker(t, broker.Config{})
	proxy := newFaultProxy(t, url)
	var log stateLog
	ctx := testCtx(t)
	in := newInbox()
	c, err := client.New(client.Options{Servers: []string{proxy.url()}, CleanStart: true, OnState: log.record,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if c.State() != client.Disconnected {
		t.Fatalf("initial state %s", c.State())
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.AwaitConnection(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx, client.Subscription{Filter: "re/sub", QoS: 1, Handler: in.handle}); err != nil {
		t.Fatal(err)
	}
	proxy.close() // cuts every connection; new ones are refused
	eventually(t, "reconnecting", func() bool { return log.has(client.Reconnecting, 1) })
	// The client keeps dialling the first proxy's address: reopen it.
	reopen(t, proxy, url)
	eventually(t, "second connection", func() bool { return log.has(client.Connected, 2) })
	pub := dialConn(t, url, client.Options{})
	// The resubscription is asynchronous: publish until it arrives.
	eventually(t, "message after resubscription", func() bool {
		pub.Publish(ctx, client.Message{Topic: "re/sub", QoS: 1, Payload: []byte("x")})
		return in.count() > 0
	})
	if err := c.Disconnect(ctx, packet.Success); err != nil {
		t.Fatal(err)
	}
	states := log.snapshot()
	want := []client.State{client.Connecting, client.Connected, client.Reconnecting, client.Connected, client.Closed}
	var got []client.State
	for _, s := range states {
		if len(got) == 0 || got[len(got)-1] != s.To {
			got = append(got, s.To)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("states %v, want %v", got, want)
	}
	if c.State() != client.Closed {
		t.Fatalf("final state %s", c.State())
	}
}

// reopen listens again on p's address and forwards to target.
func reopen(t *testing.T, p *faultProxy, target string) {
	t.Helper()
	ln, err := net.Listen("tcp", p.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	np := &faultProxy{t: t, ln: ln, target: strings.TrimPrefix(target, "mqtt://")}
	np.wg.Add(1)
	go np.accept()
	t.Cleanup(np.close)
}

// TestServersInTurn gives a dead server first: the client moves on.
func TestServersInTurn(t *testing.T) {
	url := ternBroker(t, broker.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "mqtt://" + ln.Addr().String()
	ln.Close()
	var log stateLog
	startClient(t, client.Options{Servers: []string{dead, url}, OnState: log.record})
	var failed bool
	for _, s := range log.snapshot() {
		if s.Server == dead && s.Err != nil {
			failed = true
		}
	}
	if !failed {
		t.Fatalf("no failed attempt on the dead server: %+v", log.snapshot())
	}
}

// fakeServer accepts connections and runs script on each (numbered from 0).
func fakeServer(t *testing.T, script func(n int, nc net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				script(n, nc, bufio.NewReader(nc))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "mqtt://" + ln.Addr().String()
}

func readConnect(br *bufio.Reader) (*packet.Connect, error) {
	p, err := packet.ReadPacket(br, packet.V5, 0)
	if err != nil {
		return nil, err
	}
	c, ok := p.(*packet.Connect)
	if !ok {
		return nil, errors.New("not CONNECT")
	}
	return c, nil
}

func send(nc net.Conn, p packet.Packet, v packet.Version) {
	b, err := packet.Append(nil, p, v)
	if err != nil {
		panic(err)
	}
	nc.Write(b)
}

// TestServerReference: a CONNACK "use another server" with a Server
// Reference sends the client to that server (MQTT 5.0 section 4.11).
func TestServerReference(t *testing.T) {
	url := ternBroker(t, broker.Config{})
	ref := strings.TrimPrefix(url, "mqtt://")
	redirector := fakeServer(t, func(_ int, nc net.Conn, br *bufio.Reader) {
		if _, err := readConnect(br); err != nil {
			return
		}
		ca := &packet.Connack{ReasonCode: packet.UseAnotherServer}
		ca.Properties.ServerReference = ref
		ca.Properties.Set(packet.PropServerReference)
		send(nc, ca, packet.V5)
	})
	var log stateLog
	startClient(t, client.Options{Servers: []string{redirector}, OnState: log.record})
	eventually(t, "connected state", func() bool { return log.has(client.Connected, 1) })
	var refused, followed bool
	for _, s := range log.snapshot() {
		var re *client.ReasonError
		if errors.As(s.Err, &re) && re.Code == packet.UseAnotherServer {
			refused = true
		}
		if s.To == client.Connected && s.Server == url {
			followed = true
		}
	}
	if !refused || !followed {
		t.Fatalf("refused %v followed %v: %+v", refused, followed, log.snapshot())
	}
}

// TestMalformedFromServer: garbage from the server ends the connection
// with an error naming the problem, the client reconnects, nothing panics.
func TestMalformedFromServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		junk []byte
		want string
	}{
		{"reserved type", []byte{0x00, 0x00}, "malformed packet"},
		{"bad flags", []byte{0x31 | 0x06, 0x00}, "malformed packet"},
		{"truncated suback", []byte{0x90, 0x01, 0x00}, "malformed packet"},
		{"connack twice", []byte{0x20, 0x03, 0x00, 0x00, 0x00}, "protocol error"},
		{"bad utf-8 topic", []byte{0x30, 0x05, 0x00, 0x02, 0xff, 0xfe, 0x00}, "malformed packet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var disconnectCode atomic.Int32
			disconnectCode.Store(-1)
			srv := fakeServer(t, func(n int, nc net.Conn, br *bufio.Reader) {
				if _, err := readConnect(br); err != nil {
					return
				}
				send(nc, &packet.Connack{}, packet.V5)
				if n == 0 {
					nc.Write(tc.junk)
					// The client answers with DISCONNECT and a reason code.
					p, err := packet.ReadPacket(br, packet.V5, 0)
					if d, ok := p.(*packet.Disconnect); ok && err == nil {
						disconnectCode.Store(int32(d.ReasonCode))
					}
					return
				}
				packet.ReadPacket(br, packet.V5, 0) // until the client leaves
			})
			var log stateLog
			c := startClient(t, client.Options{Servers: []string{srv}, OnState: log.record})
			eventually(t, "reconnection", func() bool { return log.has(client.Connected, 2) })
			var found error
			for _, s := range log.snapshot() {
				if s.To == client.Reconnecting && s.Err != nil {
					found = s.Err
				}
			}
			if found == nil || !strings.Contains(found.Error(), tc.want) {
				t.Fatalf("connection error %v, want one naming %q", found, tc.want)
			}
			if code := disconnectCode.Load(); code < 0x80 {
				t.Fatalf("DISCONNECT reason code %#x", code)
			}
			_ = c
		})
	}
}

// TestKeepAliveTimeout: a server that never answers PINGREQ is left.
func TestKeepAliveTimeout(t *testing.T) {
	var pings atomic.Int32
	srv := fakeServer(t, func(_ int, nc net.Conn, br *bufio.Reader) {
		if _, err := readConnect(br); err != nil {
			return
		}
		send(nc, &packet.Connack{}, packet.V5)
		for {
			p, err := packet.ReadPacket(br, packet.V5, 0)
			if err != nil {
				return
			}
			if p.Type() == packet.PINGREQ {
				pings.Add(1)
			}
		}
	})
	ctx := testCtx(t)
	c, err := client.Dial(ctx, client.Options{Servers: []string{srv}, KeepAlive: time.Second, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("connection not ended")
	}
	if err := c.Err(); err == nil || !strings.Contains(err.Error(), "keep alive") {
		t.Fatalf("Err %v", err)
	}
	if pings.Load() == 0 {
		t.Fatal("no PINGREQ sent")
	}
}

// TestSlowHandler: a blocked handler does not hold back another
// subscription, and loses nothing once it resumes.
func TestSlowHandler(t *testing.T) {
	url := ternBroker(t, broker.Config{})
	ctx := testCtx(t)
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	slow, fast := newInbox(), newInbox()
	c := dialConn(t, url, client.Options{HandlerQueue: 4})
	if _, err := c.Subscribe(ctx,
		client.Subscription{Filter: "slow", QoS: 1, Handler: func(m *client.Message) { <-release; slow.handle(m) }},
		client.Subscription{Filter: "fast", QoS: 1, Handler: fast.handle}); err != nil {
		t.Fatal(err)
	}
	pub := dialConn(t, url, client.Options{})
	for i := range 20 {
		if err := pub.Publish(ctx, client.Message{Topic: "slow", QoS: 1, Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		if err := pub.Publish(ctx, client.Message{Topic: "fast", QoS: 1, Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	fast.wait(t, 20)
	if slow.count() != 0 {
		t.Fatal("the slow handler ran")
	}
	once.Do(func() { close(release) })
	msgs := slow.wait(t, 20)
	for i, m := range msgs {
		if m.Payload[0] != byte(i) {
			t.Fatalf("slow message %d is %d", i, m.Payload[0])
		}
	}
}

// TestManualAckAndReceiveMaximum: with ManualAck nothing is acknowledged
// before Ack, so an MQTT 5 server stops at our Receive Maximum.
func TestManualAckAndReceiveMaximum(t *testing.T) {
	url := ternBroker(t, broker.Config{})
	ctx := testCtx(t)
	in := newInbox()
	c := dialConn(t, url, client.Options{ManualAck: true, ReceiveMaximum: 2})
	if _, err := c.Subscribe(ctx, client.Subscription{Filter: "ma", QoS: 1, Handler: in.handle}); err != nil {
		t.Fatal(err)
	}
	pub := dialConn(t, url, client.Options{})
	for i := range 6 {
		if err := pub.Publish(ctx, client.Message{Topic: "ma", QoS: 1, Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	first := in.wait(t, 2)
	if len(first) != 2 {
		t.Fatalf("%d messages before any Ack, want 2 (Receive Maximum)", len(first))
	}
	acked := 0
	for acked < 6 {
		msgs := in.wait(t, acked+1)
		if len(msgs) > acked+2 {
			t.Fatalf("%d messages with %d acknowledged, Receive Maximum 2", len(msgs), acked)
		}
		msgs[acked].Ack()
		msgs[acked].Ack() // a second Ack does nothing
		acked++
	}
}

// TestServerMaximumPacketSize: a publication larger than the server's
// Maximum Packet Size is not sent; Publish reports it.
func TestServerMaximumPacketSize(t *testing.T) {
	url := ternBroker(t, broker.Config{MaxPacketSize: 512})
	ctx := testCtx(t)
	c := dialConn(t, url, client.Options{})
	if c.Connack().Properties.MaximumPacketSize != 512 {
		t.Fatalf("server maximum %d", c.Connack().Properties.MaximumPacketSize)
	}
	err := c.Publish(ctx, client.Message{Topic: "big", QoS: 1, Payload: make([]byte, 1000)})
	var de *client.DropError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("Publish: %v", err)
	}
	if err := c.Publish(ctx, client.Message{Topic: "small", QoS: 1, Payload: make([]byte, 100)}); err != nil {
		t.Fatal(err)
	}
}

// TestQueueOffline: with QueueOffline, Publish returns while the client
// is disconnected and the message goes out after the reconnection.
func TestQueueOffline(t *testing.T) {
	url := ternBroker(t, broker.Config{})
	ctx := testCtx(t)
	in := newInbox()
	sub := dialConn(t, url, client.Options{})
	if _, err := sub.Subscribe(ctx, client.Subscription{Filter: "q/#", QoS: 1, Handler: in.handle}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := client.New(client.Options{Servers: []string{"mqtt://" + addr}, QueueOffline: true,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx, packet.Success)
	for i := range 5 {
		if err := c.Publish(ctx, client.Message{Topic: "q/x", QoS: packet.QoS(i % 3), Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if c.Stats().Queued != 5 {
		t.Fatalf("queued %d", c.Stats().Queued)
	}
	np := &faultProxy{t: t, target: strings.TrimPrefix(url, "mqtt://")}
	if np.ln, err = net.Listen("tcp", addr); err != nil {
		t.Fatal(err)
	}
	np.wg.Add(1)
	go np.accept()
	t.Cleanup(np.close)
	msgs := in.wait(t, 5)
	for i, m := range msgs {
		if m.Payload[0] != byte(i) {
			t.Fatalf("message %d is %d", i, m.Payload[0])
		}
	}
}

func TestUnsubscribe(t *testing.T) {
	url := ternBroker(t, broker.Config{})
	ctx := testCtx(t)
	in, other := newInbox(), newInbox()
	c := dialConn(t, url, client.Options{OnMessage: other.handle})
	if _, err := c.Subscribe(ctx, client.Subscription{Filter: "u/1", QoS: 1, Handler: in.handle},
		client.Subscription{Filter: "u/2", QoS: 1, Handler: in.handle}); err != nil {
		t.Fatal(err)
	}
	codes, err := c.Unsubscribe(ctx, "u/1", "u/none")
	// 0x11 No subscription existed is not a failure.
	if err != nil || len(codes) != 2 || codes[0] != packet.Success || codes[1] != packet.NoSubscriptionExisted {
		t.Fatalf("Unsubscribe: %v %v", codes, err)
	}
	if err := c.Publish(ctx, client.Message{Topic: "u/1", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, client.Message{Topic: "u/2", QoS: 1, Payload: []byte("2")}); err != nil {
		t.Fatal(err)
	}
	if m := in.wait(t, 1)[0]; string(m.Payload) != "2" {
		t.Fatalf("got %q", m.Payload)
	}
	if in.count() != 1 || other.count() != 0 {
		t.Fatalf("messages after unsubscribe: %d %d", in.count(), other.count())
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []client.Options{
		{},
		{Servers: []string{"gopher://x"}},
		{Servers: []string{"mqtt://x"}, Version: 6},
		{Servers: []string{"mqtt://x"}, Will: &client.Message{Topic: "a/+"}},
	} {
		if _, err := client.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

// TestReceiveMaximumUnderLoad: with a small Receive Maximum and a fast
// stream, the server's new PUBLISH packets answering our PUBACKs are not
// counted against it: the connection survives.
func TestReceiveMaximumUnderLoad(t *testing.T) {
	const n = 3000
	// The subscriber's session may hold all n: with the default bound
	// (broker.DefaultMaxQueued, 1000) a subscriber slower than the
	// publisher, as on a loaded machine, has the excess dropped by design
	// (Stats.Dropped counted exactly the messages missing).
	url := ternBroker(t, broker.Config{MaxQueued: n})
	ctx := testCtx(t)
	in := newInbox()
	sub := dialConn(t, url, client.Options{ReceiveMaximum: 4})
	if _, err := sub.Subscribe(ctx, client.Subscription{Filter: "load", QoS: 2, Handler: in.handle}); err != nil {
		t.Fatal(err)
	}
	pub := dialConn(t, url, client.Options{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				if err := pub.Publish(ctx, client.Message{Topic: "load", QoS: packet.QoS(1 + i%2), Payload: []byte("x")}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	in.wait(t, n)
	select {
	case <-sub.Done():
		t.Fatalf("subscriber connection ended: %v", sub.Err())
	default:
	}
}

// TestKeepAliveWhileSending: a client that keeps sending QoS 0 still
// notices a server that never answers.
func TestKeepAliveWhileSending(t *testing.T) {
	srv := fakeServer(t, func(_ int, nc net.Conn, br *bufio.Reader) {
		if _, err := readConnect(br); err != nil {
			return
		}
		send(nc, &packet.Connack{}, packet.V5)
		for {
			if _, err := packet.ReadPacket(br, packet.V5, 0); err != nil {
				return
			}
		}
	})
	ctx := testCtx(t)
	c, err := client.Dial(ctx, client.Options{Servers: []string{srv}, KeepAlive: time.Second, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.Done():
			if err := c.Err(); err == nil || !strings.Contains(err.Error(), "keep alive") {
				t.Fatalf("Err %v", err)
			}
			return
		case <-ctx.Done():
			t.Fatal("connection not ended")
		case <-tick.C:
			c.Publish(ctx, client.Message{Topic: "busy", Payload: []byte("x")})
		}
	}
}

// TestHandlerPanic: a panicking handler is recovered; the next message
// is delivered and acknowledged.
func TestHandlerPanic(t *testing.T) {
	url := ternBroker(t, broker.Config{})
	ctx := testCtx(t)
	in := newInbox()
	c := dialConn(t, url, client.Options{})
	if _, err := c.Subscribe(ctx, client.Subscription{Filter: "boom", QoS: 1, Handler: func(m *client.Message) {
		if string(m.Payload) == "panic" {
			panic("handler failure")
		}
		in.handle(m)
	}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"panic", "fine"} {
		if err := c.Publish(ctx, client.Message{Topic: "boom", QoS: 1, Payload: []byte(p)}); err != nil {
			t.Fatal(err)
		}
	}
	if m := in.wait(t, 1)[0]; string(m.Payload) != "fine" {
		t.Fatalf("got %q", m.Payload)
	}
}
