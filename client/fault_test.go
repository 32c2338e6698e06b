package client_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/packet"
)

// dir is the direction of a packet through the proxy.
type dir int

const (
	toServer dir = iota
	toClient
)

// cutRule says to cut the connection at the every-th packet of type typ
// going in direction d: before forwarding it (drop) or just after.
type cutRule struct {
	d     dir
	typ   packet.Type
	every int
	after bool
}

// maxCuts bounds the cuts of one proxy: a server resends its whole window
// on each reconnection, so an unbounded every-n rule could cut forever.
const maxCuts = 6

// faultProxy forwards MQTT connections to a server, packet by packet, and
// cuts them at the points its rules choose.
type faultProxy struct {
	t      testing.TB
	ln     net.Listener
	target string
	rules  []cutRule
	counts [2][16]atomic.Int64
	bytes  [2]atomic.Int64
	cuts   atomic.Int64
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	off    atomic.Bool // rules suspended

	// The server's outgoing QoS 2 flows, by packet identifier, across
	// connections (the session outlives them).
	version  atomic.Int32      // protocol level of the last CONNECT
	fmu      sync.Mutex        // guards the maps below
	last     map[uint16]string // payload of the last PUBLISH sent
	released map[uint16]string // payload of the flow the client got a PUBREL for
	resent   map[string]int    // payload -> PUBLISH resends after a PUBREL
}

func newFaultProxy(t testing.TB, target string, rules ...cutRule) *faultProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{t: t, ln: ln, target: strings.TrimPrefix(target, "mqtt://"), rules: rules,
		last: map[uint16]string{}, released: map[uint16]string{}, resent: map[string]int{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *faultProxy) url() string { return "mqtt://" + p.ln.Addr().String() }

func (p *faultProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *faultProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		cc, err := p.ln.Accept()
		if err != nil {
			return
		}
		sc, err := net.Dial("tcp", p.target)
		if err != nil {
			cc.Close()
			continue
		}
		p.track(cc)
		p.track(sc)
		cut := func() { cc.Close(); sc.Close() }
		p.wg.Add(2)
		go p.pipe(cc, sc, toServer, cut)
		go p.pipe(sc, cc, toClient, cut)
	}
}

// pipe copies whole packets from src to dst, applying the rules.
func (p *faultProxy) pipe(src, dst net.Conn, d dir, cut func()) {
	defer p.wg.Done()
	defer cut()
	br := bufio.NewReader(src)
	for {
		raw, typ, err := readRaw(br)
		if err != nil {
			return
		}
		n := p.counts[d][typ].Add(1)
		if os.Getenv("TERN_PROXY_TRACE") != "" {
			fmt.Fprintf(os.Stderr, "proxy %p dir %d %s % x\n", cut, d, typ, raw[:min(len(raw), 12)])
		}
		p.bytes[d].Add(int64(len(raw)))
		action := 0 // 0 forward, 1 drop and cut, 2 forward and cut
		if !p.off.Load() && p.cuts.Load() < maxCuts {
			for _, r := range p.rules {
				if r.d == d && r.typ == typ && n%int64(r.every) == 0 {
					action = 1
					if r.after {
						action = 2
					}
				}
			}
		}
		if action == 1 {
			p.cuts.Add(1)
			return
		}
		if _, err := dst.Write(raw); err != nil {
			return
		}
		p.observe(d, typ, raw)
		if action == 2 {
			p.cuts.Add(1)
			return
		}
	}
}

// observe follows the server's outgoing QoS 2 flows in the packets
// forwarded: a PUBLISH the server sends again for a flow whose PUBREL the
// client got breaks [MQTT-4.3.3-1] [MQTT5-4.3.3-6]; the client, which has
// released the identifier, must take it for a new message [MQTT5-4.3.3-12],
// so the message is delivered twice through no fault of the client's.
func (p *faultProxy) observe(d dir, typ packet.Type, raw []byte) {
	switch {
	case d == toServer && typ == packet.CONNECT:
		if pk, _, err := packet.DecodeBytes(raw, 0, 0); err == nil {
			p.version.Store(int32(pk.(*packet.Connect).Version))
		}
	case d == toClient && (typ == packet.PUBLISH || typ == packet.PUBREL):
		pk, _, err := packet.DecodeBytes(raw, packet.Version(p.version.Load()), 0)
		if err != nil {
			p.t.Errorf("proxy: decoding %s from the server: %v", typ, err)
			return
		}
		p.fmu.Lock()
		defer p.fmu.Unlock()
		switch pk := pk.(type) {
		case *packet.Publish:
			if pk.QoS != 2 {
				return
			}
			if rel, ok := p.released[pk.PacketID]; ok && rel == string(pk.Payload) {
				p.resent[rel]++
			}
			p.last[pk.PacketID] = string(pk.Payload)
		case *packet.Ack: // PUBREL
			if m, ok := p.last[pk.PacketID]; ok {
				p.released[pk.PacketID] = m
			}
		}
	}
}

// resentAfterRelease returns, by payload, the QoS 2 PUBLISH packets the
// server sent again after the client had its PUBREL (see observe).
func (p *faultProxy) resentAfterRelease() map[string]int {
	p.fmu.Lock()
	defer p.fmu.Unlock()
	return maps.Clone(p.resent)
}

// readRaw reads one packet's bytes.
func readRaw(br *bufio.Reader) ([]byte, packet.Type, error) {
	b0, err := br.ReadByte()
	if err != nil {
		return nil, 0, err
	}
	raw := []byte{b0}
	rem, shift := 0, 0
	for {
		c, err := br.ReadByte()
		if err != nil {
			return nil, 0, err
		}
		raw = append(raw, c)
		rem |= int(c&0x7f) << shift
		shift += 7
		if c < 0x80 {
			break
		}
	}
	body := make([]byte, rem)
	if _, err := io.ReadFull(br, body); err != nil {
		return nil, 0, err
	}
	return append(raw, body...), packet.Type(b0 >> 4), nil
}

// TestFaultsPublisher cuts the publisher's connection at points of the
// QoS 1 and 2 flows: every Publish still completes, every message
// arrives, QoS 2 ones exactly once.
func TestFaultsPublisher(t *testing.T) {
	testFaultsPublisher(t, func(t *testing.T) string { return ternBroker(t, broker.Config{}) })
}

func testFaultsPublisher(t *testing.T, newBroker func(*testing.T) string) {
	cases := []struct {
		name  string
		qos   packet.QoS
		rules []cutRule
	}{
		{"qos1-publish-lost", 1, []cutRule{{d: toServer, typ: packet.PUBLISH, every: 7}}},
		{"qos1-puback-lost", 1, []cutRule{{d: toClient, typ: packet.PUBACK, every: 5}}},
		{"qos1-after-publish", 1, []cutRule{{d: toServer, typ: packet.PUBLISH, every: 6, after: true}}},
		{"qos2-publish-lost", 2, []cutRule{{d: toServer, typ: packet.PUBLISH, every: 7}}},
		{"qos2-pubrec-lost", 2, []cutRule{{d: toClient, typ: packet.PUBREC, every: 5}}},
		{"qos2-pubrel-lost", 2, []cutRule{{d: toServer, typ: packet.PUBREL, every: 4}}},
		{"qos2-pubcomp-lost", 2, []cutRule{{d: toClient, typ: packet.PUBCOMP, every: 6}}},
		{"qos2-after-pubrel", 2, []cutRule{{d: toServer, typ: packet.PUBREL, every: 5, after: true}}},
	}
	for _, v := range versions {
		for _, tc := range cases {
			t.Run(v.String()+"/"+tc.name, func(t *testing.T) {
				url := newBroker(t)
				proxy := newFaultProxy(t, url, tc.rules...)
				ctx := testCtx(t)
				in := newInbox()
				sub := dialConn(t, url, client.Options{Version: v})
				if _, err := sub.Subscribe(ctx, client.Subscription{Filter: "f/#", QoS: 2, Handler: in.handle}); err != nil {
					t.Fatal(err)
				}
				pub := startClient(t, client.Options{Servers: []string{proxy.url()}, Version: v,
					ClientID: "faulty-pub", SessionExpiry: 3600e9})
				const n = 60
				var wg sync.WaitGroup
				errs := make(chan error, n)
				for w := range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := w; i < n; i += 4 {
							if err := pub.Publish(ctx, client.Message{Topic: fmt.Sprintf("f/%d", w), QoS: tc.qos, Payload: fmt.Appendf(nil, "%d", i)}); err != nil {
								errs <- fmt.Errorf("publish %d: %w", i, err)
								return
							}
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
				if proxy.cuts.Load() == 0 {
					t.Fatal("the proxy never cut the connection")
				}
				msgs := in.waitUnique(t, n)
				checkDelivered(t, msgs, n, tc.qos == 2, nil)
			})
		}
	}
}

// checkDelivered checks every payload 0..n-1 arrived, once if exact, and
// in order per topic. A payload in resent (the server's resends of a
// released QoS 2 flow) may arrive once more per resend, out of order.
func checkDelivered(t *testing.T, msgs []*client.Message, n int, exact bool, resent map[string]int) {
	t.Helper()
	seen := make(map[string]int)
	last := make(map[string]int)
	for _, m := range msgs {
		seen[string(m.Payload)]++
		var i int
		fmt.Sscan(string(m.Payload), &i)
		if c := seen[string(m.Payload)]; c > 1 && c <= 1+resent[string(m.Payload)] {
			t.Logf("message %s delivered again: the server resent its PUBLISH after PUBREL", m.Payload)
			continue
		}
		if exact {
			if prev, ok := last[m.Topic]; ok && i <= prev {
				t.Errorf("topic %s: %d after %d", m.Topic, i, prev)
			}
		}
		last[m.Topic] = i
	}
	for i := range n {
		c := seen[fmt.Sprint(i)]
		if c == 0 {
			t.Errorf("message %d lost", i)
		}
		if exact && c > 1+resent[fmt.Sprint(i)] {
			t.Errorf("message %d delivered %d times", i, c)
		}
	}
}

// TestFaultsSubscriber cuts the subscriber's connection at points of the
// inbound QoS 1 and 2 flows: nothing is lost, QoS 2 arrives exactly once.
func TestFaultsSubscriber(t *testing.T) {
	testFaultsSubscriber(t, func(t *testing.T) string { return ternBroker(t, broker.Config{}) }, false)
}

// testFaultsSubscriber runs the subscriber cases. With resendsReleased,
// the broker is known to send the PUBLISH of a QoS 2 flow again after its
// PUBREL (a protocol violation the proxy sees): the copies those resends
// cause are allowed, and no other; without it such a resend fails the test.
func testFaultsSubscriber(t *testing.T, newBroker func(*testing.T) string, resendsReleased bool) {
	cases := []struct {
		name  string
		qos   packet.QoS
		rules []cutRule
	}{
		{"qos1-publish-lost", 1, []cutRule{{d: toClient, typ: packet.PUBLISH, every: 7}}},
		{"qos1-puback-lost", 1, []cutRule{{d: toServer, typ: packet.PUBACK, every: 5}}},
		{"qos2-publish-lost", 2, []cutRule{{d: toClient, typ: packet.PUBLISH, every: 7}}},
		{"qos2-pubrec-lost", 2, []cutRule{{d: toServer, typ: packet.PUBREC, every: 5}}},
		{"qos2-pubrel-lost", 2, []cutRule{{d: toClient, typ: packet.PUBREL, every: 4}}},
		{"qos2-pubcomp-lost", 2, []cutRule{{d: toServer, typ: packet.PUBCOMP, every: 6}}},
	}
	for _, v := range versions {
		for _, tc := range cases {
			t.Run(v.String()+"/"+tc.name, func(t *testing.T) {
				url := newBroker(t)
				proxy := newFaultProxy(t, url, tc.rules...)
				ctx := testCtx(t)
				in := newInbox()
				sub := startClient(t, client.Options{Servers: []string{proxy.url()}, Version: v,
					ClientID: "faulty-sub", SessionExpiry: 3600e9, OnMessage: in.handle})
				if _, err := sub.Subscribe(ctx, client.Subscription{Filter: "g/#", QoS: tc.qos, Handler: in.handle}); err != nil {
					t.Fatal(err)
				}
				pub := dialConn(t, url, client.Options{Version: v})
				const n = 60
				for i := range n {
					if err := pub.Publish(ctx, client.Message{Topic: "g/x", QoS: tc.qos, Payload: fmt.Appendf(nil, "%d", i)}); err != nil {
						t.Fatal(err)
					}
				}
				msgs := in.waitUnique(t, n)
				if proxy.cuts.Load() == 0 {
					t.Fatal("the proxy never cut the connection")
				}
				// Let outstanding flows finish, then check no extra copy came.
				proxy.off.Store(true)
				eventually(t, "flows to settle", func() bool { return sub.Stats().InFlight == 0 })
				resent := proxy.resentAfterRelease()
				if len(resent) > 0 && !resendsReleased {
					t.Errorf("the server sent PUBLISH again after PUBREL for payloads %v [MQTT-4.3.3-1] [MQTT5-4.3.3-6]", resent)
				}
				if !resendsReleased {
					resent = nil
				}
				checkDelivered(t, in.wait(t, len(msgs)), n, tc.qos == 2, resent)
			})
		}
	}
}

var _ = context.Background
