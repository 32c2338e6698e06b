package broker

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/packet"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	pem  []byte
}

var serial int64

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a certificate for 127.0.0.1 (server) or a client, as PEM
// and as a tls.Certificate.
func (ca *testCA) issue(t *testing.T, cn string, client bool, mods ...func(*x509.Certificate)) (certPEM, keyPEM []byte, tc tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if client {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil
	}
	for _, m := range mods {
		m(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	tc, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM, tc
}

// writeServerFiles writes a server certificate signed by ca, and the CA
// file clientCA (nil: none). It returns the three paths.
func writeServerFiles(t *testing.T, dir string, ca *testCA, cn string, clientCA *testCA) (string, string, string) {
	t.Helper()
	c, k, _ := ca.issue(t, cn, false)
	cf, kf, caf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), ""
	must(t, os.WriteFile(cf, c, 0o600))
	must(t, os.WriteFile(kf, k, 0o600))
	if clientCA != nil {
		caf = filepath.Join(dir, "ca.pem")
		must(t, os.WriteFile(caf, clientCA.pem, 0o600))
	}
	return cf, kf, caf
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// serveOn runs a server on ln until the test ends.
func serveOn(t *testing.T, cfg Config, ln net.Listener) *Server {
	t.Helper()
	cfg.Logger = testLogger()
	s, err := New(cfg)
	must(t, err)
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
	return s
}

func loopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	return ln
}

// tlsClient dials addr with TLS and returns a raw MQTT test client.
func tlsClient(t *testing.T, addr string, cfg *tls.Config, v packet.Version) (*tclient, error) {
	t.Helper()
	nc, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { nc.Close() })
	c := &tclient{t: t, nc: nc, v: v}
	c.br = bufio.NewReader(nc)
	return c, nil
}

func TestTLSListenerAndReload(t *testing.T) {
	ca := newCA(t, "ca")
	dir := t.TempDir()
	cf, kf, _ := writeServerFiles(t, dir, ca, "first", nil)
	certs, err := LoadCertificates(cf, kf, "")
	must(t, err)
	ln := tls.NewListener(loopback(t), certs.TLSConfig())
	serveOn(t, Config{}, ln)
	addr := ln.Addr().String()

	// TLS 1.1 is refused.
	if _, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
	old, err := tlsClient(t, addr, &tls.Config{RootCAs: ca.pool}, packet.V311)
	must(t, err)
	old.mustConnect("old", true)
	if cn := old.nc.(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "first" {
		t.Fatalf("certificate %q", cn)
	}

	// A new certificate is used by new connections; the old one stays up.
	writeServerFiles(t, dir, ca, "second", nil)
	must(t, certs.Reload())
	c, err := tlsClient(t, addr, &tls.Config{RootCAs: ca.pool}, packet.V311)
	must(t, err)
	c.mustConnect("new", true)
	if cn := c.nc.(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "second" {
		t.Fatalf("after reload: certificate %q, want second", cn)
	}
	old.send(&packet.Pingreq{})
	if p := old.recv(); p.Type() != packet.PINGRESP {
		t.Fatalf("old connection: got %s", p.Type())
	}

	// A bad file keeps the loaded certificate.
	must(t, os.WriteFile(kf, []byte("garbage"), 0o600))
	if err := certs.Reload(); err == nil || !strings.Contains(err.Error(), kf) {
		t.Fatalf("Reload with a bad key: %v", err)
	}
	c, err = tlsClient(t, addr, &tls.Config{RootCAs: ca.pool}, packet.V5)
	must(t, err)
	c.mustConnect("after-bad", true)
}

func TestMutualTLS(t *testing.T) {
	ca, clients, other := newCA(t, "server-ca"), newCA(t, "client-ca"), newCA(t, "other-ca")
	cf, kf, caf := writeServerFiles(t, t.TempDir(), ca, "server", clients)
	certs, err := LoadCertificates(cf, kf, caf)
	must(t, err)
	authn, authz := fileAuth(t, "user alice\ntopic readwrite alice/#\n", false)
	ln := IdentityListener(tls.NewListener(loopback(t), certs.TLSConfig()))
	s := serveOn(t, Config{Authenticator: authn, Authorizer: authz}, ln)
	addr := ln.Addr().String()

	handshakeFails := func(name string, certs []tls.Certificate) {
		t.Helper()
		c, err := tlsClient(t, addr, &tls.Config{RootCAs: ca.pool, Certificates: certs}, packet.V5)
		if err != nil {
			return
		}
		// TLS 1.3: the client learns of the refusal on its first read.
		c.send(&packet.Connect{Version: packet.V5, CleanStart: true, ClientID: name})
		if p, err := c.read(waitFor); err == nil {
			t.Fatalf("%s: got %s, want the handshake refused", name, p.Type())
		}
	}
	handshakeFails("no-cert", nil)
	_, _, foreign := other.issue(t, "alice", true)
	handshakeFails("foreign", []tls.Certificate{foreign})

	_, _, good := clients.issue(t, "alice", true)
	c, err := tlsClient(t, addr, &tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{good}}, packet.V5)
	must(t, err)
	// The certificate's CN is the user name: no password needed, and the
	// ACL of alice applies.
	c.mustConnect("a1", true)
	sa := c.subscribe(1, "alice/x", 1)
	if sa.ReasonCodes[0] != 1 {
		t.Fatalf("SUBACK alice/x %v", sa.ReasonCodes)
	}
	if sa := c.subscribe(2, "bob/x", 1); sa.ReasonCodes[0] != packet.NotAuthorized {
		t.Fatalf("SUBACK bob/x %v, want 0x87", sa.ReasonCodes)
	}
	if s.Stats().Clients != 1 {
		t.Fatalf("clients %d", s.Stats().Clients)
	}
}

func TestWebSocketPaho(t *testing.T) {
	ln := WebSocketListener(loopback(t), nil, testLogger())
	s := serveOn(t, Config{}, ln)
	url := "ws://" + ln.Addr().String() + WebSocketPath
	pahoRoundTrip(t, mqtt.NewClientOptions().AddBroker(url))
	eventually(t, "the websocket clients gone", func() bool { return s.Stats().Clients == 0 })

	// Without the mqtt subprotocol the upgrade is closed.
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	wc, _, err := websocket.Dial(ctx, url, nil)
	must(t, err)
	defer wc.CloseNow()
	_, _, err = wc.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("read without subprotocol: %v, want close 1008", err)
	}
}

func TestSecureWebSocketPaho(t *testing.T) {
	ca := newCA(t, "ca")
	cf, kf, _ := writeServerFiles(t, t.TempDir(), ca, "wss", nil)
	certs, err := LoadCertificates(cf, kf, "")
	must(t, err)
	ln := WebSocketListener(loopback(t), certs.TLSConfig("http/1.1"), testLogger())
	serveOn(t, Config{}, ln)
	pahoRoundTrip(t, mqtt.NewClientOptions().AddBroker("wss://"+ln.Addr().String()+WebSocketPath).
		SetTLSConfig(&tls.Config{RootCAs: ca.pool}))
}

// pahoRoundTrip connects a paho.mqtt.golang client, subscribes, publishes
// at QoS 1 and checks the message comes back.
func pahoRoundTrip(t *testing.T, o *mqtt.ClientOptions) {
	t.Helper()
	got := make(chan string, 1)
	o.SetClientID("ws").SetAutoReconnect(false).SetConnectRetry(false)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	tok := c.Subscribe("ws/t", 1, func(_ mqtt.Client, m mqtt.Message) { got <- string(m.Payload()) })
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if tok := c.Publish("ws/t", 1, false, "over websocket"); !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	select {
	case m := <-got:
		if m != "over websocket" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(waitFor):
		t.Fatal("no message")
	}
}

// Watch reloads the certificate when its files change, without SIGHUP.
func TestCertificatesWatch(t *testing.T) {
	ca := newCA(t, "ca")
	dir := t.TempDir()
	cf, kf, _ := writeServerFiles(t, dir, ca, "first", nil)
	certs, err := LoadCertificates(cf, kf, "")
	must(t, err)
	stop := certs.Watch(5*time.Millisecond, testLogger())
	defer stop()
	ln := tls.NewListener(loopback(t), certs.TLSConfig())
	serveOn(t, Config{}, ln)
	cn := func() string {
		c, err := tlsClient(t, ln.Addr().String(), &tls.Config{RootCAs: ca.pool}, packet.V311)
		must(t, err)
		defer c.nc.Close()
		c.mustConnect("w", true)
		return c.nc.(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := cn(); got != "first" {
		t.Fatalf("certificate %q", got)
	}
	writeServerFiles(t, dir, ca, "second", nil)
	eventually(t, "the new certificate served", func() bool { return cn() == "second" })
	// A broken key file keeps the certificate in force.
	must(t, os.WriteFile(kf, []byte("garbage"), 0o600))
	if got := cn(); got != "second" {
		t.Fatalf("after a broken key: certificate %q", got)
	}
}

// IdentityListenerFrom takes the user name from a Subject Alternative Name.
func TestMutualTLSIdentityFromSAN(t *testing.T) {
	ca, clients := newCA(t, "server-ca"), newCA(t, "client-ca")
	cf, kf, caf := writeServerFiles(t, t.TempDir(), ca, "server", clients)
	certs, err := LoadCertificates(cf, kf, caf)
	must(t, err)
	if _, err := IdentityListenerFrom(nil, "serial"); err == nil {
		t.Fatal("an unknown identity accepted")
	}
	for _, tc := range []struct {
		from Identity
		mod  func(*x509.Certificate)
	}{
		{IdentityDNSName, func(c *x509.Certificate) { c.DNSNames = []string{"alice", "other"} }},
		{IdentityEmail, func(c *x509.Certificate) { c.EmailAddresses = []string{"alice"} }},
		{IdentityURI, func(c *x509.Certificate) { c.URIs = []*url.URL{{Scheme: "spiffe", Host: "alice"}} }},
	} {
		rec := &usernames{}
		ln, err := IdentityListenerFrom(tls.NewListener(loopback(t), certs.TLSConfig()), tc.from)
		must(t, err)
		serveOn(t, Config{Authorizer: rec}, ln)
		_, _, good := clients.issue(t, "cn-not-used", true, tc.mod)
		c, err := tlsClient(t, ln.Addr().String(), &tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{good}}, packet.V5)
		must(t, err)
		c.mustConnect("san", true)
		c.subscribe(1, "x", 0)
		want := "alice"
		if tc.from == IdentityURI {
			want = "spiffe://alice"
		}
		if got := rec.last(); got != want {
			t.Fatalf("%s: user name %q, want %q", tc.from, got, want)
		}
		// A certificate without the field: Not authorized.
		_, _, bare := clients.issue(t, "alice", true)
		c, err = tlsClient(t, ln.Addr().String(), &tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{bare}}, packet.V5)
		must(t, err)
		if ack := c.connect("bare", true); ack.ReasonCode != packet.NotAuthorized {
			t.Fatalf("%s without the field: CONNACK %#x, want 0x87", tc.from, byte(ack.ReasonCode))
		}
	}
}

// usernames is an Authorizer that allows everything and records the last
// user name asked about.
type usernames struct {
	mu   sync.Mutex
	name string
}

func (u *usernames) Allow(_ context.Context, c auth.ClientInfo, _ auth.Action, _ string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.name = c.Username
	return true
}

func (u *usernames) last() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.name
}
