package broker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/packet"
)

// proxyV2 builds a version 2 header: cmd 0 (LOCAL) or 1 (PROXY), family
// byte fam, then addrs and tlvs.
func proxyV2(cmd, fam byte, addrs, tlvs []byte) []byte {
	b := append([]byte{}, proxyV2Sig...)
	b = append(b, 0x20|cmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(addrs)+len(tlvs)))
	return append(append(b, addrs...), tlvs...)
}

// v2Addrs encodes source and destination addresses and ports.
func v2Addrs(src, dst string, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	b := append(s.AsSlice(), d.AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, sport)
	return binary.BigEndian.AppendUint16(b, dport)
}

func TestParseProxyHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		src  string // "" for none (the connection's own address)
		err  bool
	}{
		{"v1 TCP4", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 56324 1883\r\n"), "203.0.113.7:56324", false},
		{"v1 TCP6", []byte("PROXY TCP6 2001:db8::7 2001:db8::1 1 65535\r\n"), "[2001:db8::7]:1", false},
		{"v1 UNKNOWN", []byte("PROXY UNKNOWN\r\n"), "", false},
		{"v1 UNKNOWN with addresses", []byte("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"), "", false},
		{"v1 TCP4 with an IPv6 address", []byte("PROXY TCP4 2001:db8::7 192.0.2.1 1 2\r\n"), "", true},
		{"v1 TCP6 with an IPv4 address", []byte("PROXY TCP6 192.0.2.7 2001:db8::1 1 2\r\n"), "", true},
		{"v1 port too large", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 65536 1883\r\n"), "", true},
		{"v1 port not a number", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 -1 1883\r\n"), "", true},
		{"v1 missing field", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 1883\r\n"), "", true},
		{"v1 extra field", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 1 2 3\r\n"), "", true},
		{"v1 double space", []byte("PROXY TCP4  203.0.113.7 192.0.2.1 1 2\r\n"), "", true},
		{"v1 LF alone", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 1 2\n"), "", true},
		{"v1 UDP4", []byte("PROXY UDP4 203.0.113.7 192.0.2.1 1 2\r\n"), "", true},
		{"v1 without CRLF in 107 bytes", append([]byte("PROXY UNKNOWN "), bytes.Repeat([]byte("x"), 100)...), "", true},
		{"v1 lower case", []byte("proxy TCP4 203.0.113.7 192.0.2.1 1 2\r\n"), "", true},
		{"MQTT CONNECT", []byte{0x10, 0x10, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 4, 't', 'e', 's', 't'}, "", true},
		{"v2 PROXY TCP4", proxyV2(1, 0x11, v2Addrs("203.0.113.7", "192.0.2.1", 56324, 1883), nil), "203.0.113.7:56324", false},
		{"v2 PROXY TCP6 with TLVs", proxyV2(1, 0x21, v2Addrs("2001:db8::7", "2001:db8::1", 4242, 8883), []byte{0x01, 0, 2, 'h', '2'}), "[2001:db8::7]:4242", false},
		{"v2 PROXY UDP4", proxyV2(1, 0x12, v2Addrs("203.0.113.7", "192.0.2.1", 1, 2), nil), "203.0.113.7:1", false},
		{"v2 LOCAL", proxyV2(0, 0x00, nil, nil), "", false},
		{"v2 LOCAL with addresses", proxyV2(0, 0x11, v2Addrs("203.0.113.7", "192.0.2.1", 1, 2), nil), "", false},
		{"v2 PROXY UNSPEC", proxyV2(1, 0x00, nil, []byte{1, 2, 3}), "", false},
		{"v2 PROXY UNIX", proxyV2(1, 0x31, make([]byte, 216), nil), "", false},
		{"v2 TCP4 addresses too short", proxyV2(1, 0x11, make([]byte, 11), nil), "", true},
		{"v2 TCP6 addresses too short", proxyV2(1, 0x21, v2Addrs("203.0.113.7", "192.0.2.1", 1, 2), nil), "", true},
		{"v2 version 1", append(append([]byte{}, proxyV2Sig...), 0x11, 0x11, 0, 0), "", true},
		{"v2 command 2", append(append([]byte{}, proxyV2Sig...), 0x22, 0x11, 0, 0), "", true},
		{"v2 family 4", append(append([]byte{}, proxyV2Sig...), 0x21, 0x41, 0, 0), "", true},
		{"v2 protocol 3", append(append([]byte{}, proxyV2Sig...), 0x21, 0x13, 0, 0), "", true},
		{"v2 bad signature", append([]byte("\r\n\r\n\x00\r\nQUIT\r"), 0x21, 0x11, 0, 0), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const rest = "\x10MQTT"
			in := append(append([]byte{}, tc.in...), rest...)
			h, n, more, err := parseProxyHeader(in)
			if tc.err {
				if err == nil {
					t.Fatalf("parsed %+v (n %d, more %d), want an error", h, n, more)
				}
				// Read from a connection: the same refusal.
				if _, err := readProxyHeader(bytes.NewReader(in)); err == nil || errors.Is(err, io.EOF) {
					t.Fatalf("readProxyHeader: %v, want a refusal", err)
				}
				return
			}
			if err != nil || more != 0 || n != len(tc.in) {
				t.Fatalf("n %d more %d err %v, want n %d", n, more, err, len(tc.in))
			}
			if got := addrString(h.src); got != tc.src {
				t.Fatalf("source %q, want %q", got, tc.src)
			}
			// Every proper prefix asks for more bytes, never past the header.
			for i := range len(tc.in) {
				_, n, more, err := parseProxyHeader(tc.in[:i])
				if err != nil || n != 0 || more <= 0 || i+more > len(tc.in) {
					t.Fatalf("prefix of %d bytes: n %d more %d err %v", i, n, more, err)
				}
			}
			// Read from a connection: the header and not a byte more.
			r := bytes.NewReader(in)
			h2, err := readProxyHeader(r)
			if err != nil || addrString(h2.src) != tc.src {
				t.Fatalf("readProxyHeader: %+v, %v", h2, err)
			}
			if left, _ := io.ReadAll(r); string(left) != rest {
				t.Fatalf("left unread %q, want %q", left, rest)
			}
		})
	}
}

func addrString(a *net.TCPAddr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// FuzzParseProxyHeader checks the parser on arbitrary input: no panic, a
// header is at most the input, needs no more bytes than it has, and reading
// it from a stream consumes exactly its length.
func FuzzParseProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.7 192.0.2.1 56324 1883\r\n"))
	f.Add([]byte("PROXY TCP6 2001:db8::7 2001:db8::1 1 65535\r\nxyz"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(proxyV2(1, 0x11, v2Addrs("203.0.113.7", "192.0.2.1", 56324, 1883), []byte{1, 0, 1, 'x'}))
	f.Add(proxyV2(1, 0x21, v2Addrs("2001:db8::7", "2001:db8::1", 1, 2), nil))
	f.Add(proxyV2(0, 0, nil, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, more, err := parseProxyHeader(b)
		switch {
		case err != nil:
			if n != 0 || more != 0 {
				t.Fatalf("error %v with n %d more %d", err, n, more)
			}
		case more > 0:
			if n != 0 {
				t.Fatalf("more %d with n %d", more, n)
			}
		default:
			if n <= 0 || n > len(b) {
				t.Fatalf("n %d of %d bytes", n, len(b))
			}
			// Both addresses of one family (4 or 16 bytes): a TCP6 header
			// may carry IPv4-mapped IPv6 addresses, which To4 would
			// take for IPv4.
			if h.src != nil && (h.dst == nil || len(h.src.IP) != len(h.dst.IP)) {
				t.Fatalf("source %v and destination %v of different families", h.src, h.dst)
			}
			r := bytes.NewReader(b)
			h2, err := readProxyHeader(r)
			if err != nil || r.Len() != len(b)-n || addrString(h2.src) != addrString(h.src) {
				t.Fatalf("readProxyHeader: %+v, %v, %d bytes left; parse: %+v, n %d", h2, err, r.Len(), h, n)
			}
		}
	})
}

// addrRecorder is an Authenticator that records the address of each
// CONNECT by client identifier.
type addrRecorder struct {
	mu    sync.Mutex
	addrs map[string]string
}

func (a *addrRecorder) Authenticate(_ context.Context, c auth.ConnInfo) (auth.Result, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.addrs == nil {
		a.addrs = map[string]string{}
	}
	a.addrs[c.ClientID] = c.RemoteAddr.String()
	return auth.Accepted, nil
}

func (a *addrRecorder) addr(id string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addrs[id]
}

func TestProxyProtocolListener(t *testing.T) {
	rec := &addrRecorder{}
	tcp := loopback(t)
	ln := ProxyProtocolListener(tcp, 200*time.Millisecond, testLogger())
	serveOn(t, Config{Authenticator: rec}, ln)
	addr := ln.Addr().String()

	for _, tc := range []struct {
		id, want string
		hdr      []byte
	}{
		{"v1", "203.0.113.7:56324", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 56324 1883\r\n")},
		{"v1-unknown", "", []byte("PROXY UNKNOWN\r\n")},
		{"v2", "[2001:db8::7]:4242", proxyV2(1, 0x21, v2Addrs("2001:db8::7", "2001:db8::1", 4242, 1883), []byte{0x04, 0, 0})},
		{"v2-local", "", proxyV2(0, 0, nil, nil)},
	} {
		c := dial(t, addr, packet.V5)
		// The header and CONNECT in one write: the broker reads no byte of
		// CONNECT as part of the header.
		b, _ := packet.Append(append([]byte{}, tc.hdr...), &packet.Connect{Version: packet.V5, CleanStart: true, ClientID: tc.id}, packet.V5)
		c.sendRaw(b)
		if ack, ok := c.recv().(*packet.Connack); !ok || ack.ReasonCode != packet.Success {
			t.Fatalf("%s: got %+v, want CONNACK 0", tc.id, ack)
		}
		want := tc.want
		if want == "" {
			want = c.nc.LocalAddr().String() // LOCAL, UNKNOWN: the connection's own address
		}
		if got := rec.addr(tc.id); got != want {
			t.Fatalf("%s: the broker saw %s, want %s", tc.id, got, want)
		}
		c.send(&packet.Pingreq{})
		if p := c.recv(); p.Type() != packet.PINGRESP {
			t.Fatalf("%s: got %s, want PINGRESP", tc.id, p.Type())
		}
	}

	// Without a header: closed without a CONNACK.
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{Version: packet.V311, CleanStart: true, ClientID: "direct"})
	if got := c.expectClosed(); len(got) != 0 {
		t.Fatalf("without a header: got %v, want closed", got)
	}
	// A header that does not come in time: closed.
	c = dial(t, addr, packet.V311)
	c.sendRaw([]byte("PROXY TCP4 203.0.113.7"))
	if got := c.expectClosed(); len(got) != 0 {
		t.Fatalf("partial header: got %v, want closed", got)
	}
	if rec.addr("direct") != "" {
		t.Fatal("a connection without a header was authenticated")
	}
	if n := proxyRefused.Load(); n < 2 {
		t.Fatalf("refused headers counted %d, want at least 2", n)
	}
}

// The PROXY protocol header comes before the TLS handshake.
func TestProxyProtocolUnderTLS(t *testing.T) {
	ca := newCA(t, "ca")
	cf, kf, _ := writeServerFiles(t, t.TempDir(), ca, "server", nil)
	certs, err := LoadCertificates(cf, kf, "")
	must(t, err)
	rec := &addrRecorder{}
	ln := tls.NewListener(ProxyProtocolListener(loopback(t), 0, testLogger()), certs.TLSConfig())
	serveOn(t, Config{Authenticator: rec}, ln)
	nc, err := net.Dial("tcp", ln.Addr().String())
	must(t, err)
	defer nc.Close()
	_, err = nc.Write([]byte("PROXY TCP4 198.51.100.9 192.0.2.1 1000 8883\r\n"))
	must(t, err)
	tc := tls.Client(nc, &tls.Config{RootCAs: ca.pool, ServerName: "127.0.0.1"})
	c := &tclient{t: t, nc: tc, v: packet.V311}
	c.br = bufio.NewReader(tc)
	c.mustConnect("tls", true)
	if got := rec.addr("tls"); got != "198.51.100.9:1000" {
		t.Fatalf("the broker saw %s", got)
	}
}

// Close ends the connections still awaiting their header.
func TestProxyProtocolListenerClose(t *testing.T) {
	tcp := loopback(t)
	ln := ProxyProtocolListener(tcp, time.Minute, testLogger())
	nc, err := net.Dial("tcp", tcp.Addr().String())
	must(t, err)
	defer nc.Close()
	pl := ln.(*proxyListener)
	eventually(t, "the header awaited", func() bool {
		pl.mu.Lock()
		defer pl.mu.Unlock()
		return len(pl.pending) == 1
	})
	must(t, ln.Close())
	nc.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := nc.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after Close: %v, want the connection closed", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
}

// Behind a WebSocket listener too: the header, then the HTTP upgrade.
func TestProxyProtocolUnderWebSocket(t *testing.T) {
	rec := &addrRecorder{}
	ln := WebSocketListener(ProxyProtocolListener(loopback(t), 0, testLogger()), nil, testLogger())
	serveOn(t, Config{Authenticator: rec}, ln)
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_, err = nc.Write(proxyV2(1, 0x11, v2Addrs("198.51.100.20", "192.0.2.1", 3000, 80), nil))
		}
		return nc, err
	}}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	wc, _, err := websocket.Dial(ctx, "ws://"+ln.Addr().String()+WebSocketPath,
		&websocket.DialOptions{Subprotocols: []string{"mqtt"}, HTTPClient: &http.Client{Transport: tr}})
	must(t, err)
	nc := websocket.NetConn(ctx, wc, websocket.MessageBinary)
	defer nc.Close()
	c := &tclient{t: t, nc: nc, br: bufio.NewReader(nc), v: packet.V5}
	c.mustConnect("ws", true)
	if got := rec.addr("ws"); got != "198.51.100.20:3000" {
		t.Fatalf("the broker saw %s", got)
	}
}
