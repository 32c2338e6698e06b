package broker

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tern-mq/tern/packet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const waitFor = 5 * time.Second

// testLogger logs at debug level when TERN_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("TERN_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startServer runs a server on a loopback listener until the test ends.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// tclient is a raw MQTT test client: it writes encoded packets and reads
// and decodes replies.
type tclient struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
	v  packet.Version
}

func dial(t testing.TB, addr string, v packet.Version) *tclient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &tclient{t: t, nc: nc, br: bufio.NewReader(nc), v: v}
}

func (c *tclient) send(p packet.Packet) {
	c.t.Helper()
	b, err := packet.Append(nil, p, c.v)
	if err != nil {
		c.t.Fatalf("encoding %s: %v", p.Type(), err)
	}
	c.sendRaw(b)
}

func (c *tclient) sendRaw(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(waitFor))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next packet or the error.
func (c *tclient) read(d time.Duration) (packet.Packet, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	return packet.ReadPacket(c.br, c.v, 0)
}

func (c *tclient) recv() packet.Packet {
	c.t.Helper()
	p, err := c.read(waitFor)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

// recvPublish reads the next packet and checks it is a PUBLISH.
func (c *tclient) recvPublish() *packet.Publish {
	c.t.Helper()
	p := c.recv()
	pub, ok := p.(*packet.Publish)
	if !ok {
		c.t.Fatalf("got %s %+v, want PUBLISH", p.Type(), p)
	}
	return pub
}

func (c *tclient) recvAck(t packet.Type) *packet.Ack {
	c.t.Helper()
	p := c.recv()
	a, ok := p.(*packet.Ack)
	if !ok || a.PacketType != t {
		c.t.Fatalf("got %s %+v, want %s", p.Type(), p, t)
	}
	return a
}

// expectNothing checks that no packet arrives within d.
func (c *tclient) expectNothing(d time.Duration) {
	c.t.Helper()
	p, err := c.read(d)
	if err == nil {
		c.t.Fatalf("got %s %+v, want nothing", p.Type(), p)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("read: %v, want a timeout", err)
	}
	c.br = bufio.NewReader(c.nc) // a timed-out read may leave partial state
}

// expectClosed reads until the server closes the connection and returns
// the packets received before, failing if it stays open.
func (c *tclient) expectClosed() []packet.Packet {
	c.t.Helper()
	var got []packet.Packet
	for {
		p, err := c.read(waitFor)
		if err == nil {
			got = append(got, p)
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("connection still open after %v (got %v)", waitFor, got)
		}
		return got
	}
}

// expectDisconnect checks the server sends DISCONNECT with code (MQTT 5)
// and closes the connection.
func (c *tclient) expectDisconnect(code packet.ReasonCode) {
	c.t.Helper()
	got := c.expectClosed()
	if len(got) == 0 {
		c.t.Fatalf("closed without DISCONNECT, want reason %#x", byte(code))
	}
	d, ok := got[len(got)-1].(*packet.Disconnect)
	if !ok || d.ReasonCode != code {
		c.t.Fatalf("got %+v, want DISCONNECT %#x", got[len(got)-1], byte(code))
	}
}

type connectOpt func(*packet.Connect)

func (c *tclient) connect(id string, clean bool, opts ...connectOpt) *packet.Connack {
	c.t.Helper()
	p := &packet.Connect{Version: c.v, CleanStart: clean, ClientID: id, KeepAlive: 60}
	for _, o := range opts {
		o(p)
	}
	c.send(p)
	r := c.recv()
	ack, ok := r.(*packet.Connack)
	if !ok {
		c.t.Fatalf("got %s, want CONNACK", r.Type())
	}
	return ack
}

// mustConnect connects and checks the CONNACK accepts.
func (c *tclient) mustConnect(id string, clean bool, opts ...connectOpt) *packet.Connack {
	c.t.Helper()
	ack := c.connect(id, clean, opts...)
	if ack.ReasonCode != 0 {
		c.t.Fatalf("CONNACK %#x, want accepted", byte(ack.ReasonCode))
	}
	return ack
}

func (c *tclient) subscribe(id uint16, filter string, qos packet.QoS) *packet.Suback {
	c.t.Helper()
	c.send(&packet.Subscribe{PacketID: id, Subscriptions: []packet.Subscription{{Filter: filter, Options: packet.SubOptions{QoS: qos}}}})
	p := c.recv()
	sa, ok := p.(*packet.Suback)
	if !ok || sa.PacketID != id {
		c.t.Fatalf("got %s %+v, want SUBACK %d", p.Type(), p, id)
	}
	return sa
}

func (c *tclient) disconnect() {
	c.t.Helper()
	c.send(&packet.Disconnect{})
	c.expectClosed()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func withWill(topic string, payload string, qos packet.QoS, retain bool) connectOpt {
	return func(p *packet.Connect) {
		p.WillFlag, p.WillTopic, p.WillPayload, p.WillQoS, p.WillRetain = true, topic, []byte(payload), qos, retain
	}
}

func withKeepAlive(secs uint16) connectOpt { return func(p *packet.Connect) { p.KeepAlive = secs } }

func withProps(f func(*packet.Properties)) connectOpt {
	return func(p *packet.Connect) { f(&p.Properties) }
}
