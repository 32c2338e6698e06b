package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Certificates holds a server certificate and, for mutual TLS, the pool of
// CAs that sign client certificates, read from PEM files. TLSConfig gives a
// configuration that always uses the latest loaded files, so Reload
// replaces them for new handshakes without touching open connections.
type Certificates struct {
	certFile, keyFile, caFile string

	cert atomic.Pointer[tls.Certificate]
	cas  atomic.Pointer[x509.CertPool]
}

// LoadCertificates reads a certificate and key (PEM) and, when caFile is
// not empty, the CA certificates that client certificates must chain to.
func LoadCertificates(certFile, keyFile, caFile string) (*Certificates, error) {
	c := &Certificates{certFile: certFile, keyFile: keyFile, caFile: caFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again. On error the previous ones stay in use.
func (c *Certificates) Reload() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s, key %s: %w", c.certFile, c.keyFile, err)
	}
	var pool *x509.CertPool
	if c.caFile != "" {
		b, err := os.ReadFile(c.caFile)
		if err != nil {
			return fmt.Errorf("client CA file: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return fmt.Errorf("client CA file %s: no PEM certificate", c.caFile)
		}
	}
	c.cert.Store(&cert)
	if pool != nil {
		c.cas.Store(pool)
	}
	return nil
}

// Watch reloads the files when they change: every interval it compares
// their modification times and sizes with those of the last look, and
// after a change calls Reload (a failed load, say of a file half
// written, keeps the previous certificate and is tried again at the next
// change or the next look). Each reload is logged. It returns at once;
// stop ends the watch.
func (c *Certificates) Watch(interval time.Duration, log *slog.Logger) (stop func()) {
	if log == nil {
		log = slog.Default()
	}
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(interval)
		defer t.Stop()
		last, failed := c.stamp(), false
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			now := c.stamp()
			if now == last && !failed {
				continue
			}
			last = now
			if err := c.Reload(); err != nil {
				if !failed {
					log.Error("TLS files changed but do not load: the previous certificate stays", "err", err)
				}
				failed = true
				continue
			}
			failed = false
			log.Info("TLS files changed: certificate reloaded", "cert", c.certFile)
		}
	}()
	return func() {
		close(done)
		<-ended
	}
}

// stamp identifies the current version of the files: their modification
// times and sizes.
func (c *Certificates) stamp() string {
	var b strings.Builder
	for _, f := range []string{c.certFile, c.keyFile, c.caFile} {
		if f == "" {
			continue
		}
		if fi, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%d:%d;", fi.ModTime().UnixNano(), fi.Size())
		} else {
			b.WriteString("missing;")
		}
	}
	return b.String()
}

// TLSConfig returns a server configuration: TLS 1.2 at least, the current
// certificate, and with a client CA file a verified client certificate
// required (mutual TLS). nextProtos are the ALPN protocols (nil for MQTT
// over TLS).
func (c *Certificates) TLSConfig(nextProtos ...string) *tls.Config {
	base := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: nextProtos,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cert.Load(), nil
		},
	}
	if c.caFile == "" {
		return base
	}
	cfg := base.Clone()
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cc := base.Clone()
		cc.ClientAuth = tls.RequireAndVerifyClientCert
		cc.ClientCAs = c.cas.Load()
		return cc, nil
	}
	return cfg
}

// IdentityListener wraps a TLS listener (mutual TLS) whose clients are
// authenticated by their certificate: the Common Name of the verified
// client certificate becomes the client's user name for the Authorizer,
// and the Authenticator is not asked (Mosquitto's use_identity_as_username).
// A connection without a verified certificate is refused with Not
// authorized.
func IdentityListener(ln net.Listener) net.Listener { return identityListener{ln, IdentityCommonName} }

// Identity names the field of a client certificate that IdentityListenerFrom
// takes as the user name.
type Identity string

// Identities of a client certificate.
const (
	IdentityCommonName Identity = "cn"        // the subject's Common Name
	IdentityDNSName    Identity = "san-dns"   // the first DNS name of the Subject Alternative Names
	IdentityEmail      Identity = "san-email" // the first email address of the SANs
	IdentityURI        Identity = "san-uri"   // the first URI of the SANs (SPIFFE IDs, say)
)

// IdentityListenerFrom is IdentityListener with the user name taken from
// the field from of the verified client certificate; a certificate
// without that field is refused with Not authorized. An unknown Identity
// is an error.
func IdentityListenerFrom(ln net.Listener, from Identity) (net.Listener, error) {
	switch from {
	case IdentityCommonName, IdentityDNSName, IdentityEmail, IdentityURI:
		return identityListener{ln, from}, nil
	}
	return nil, fmt.Errorf("broker: unknown certificate identity %q (want cn, san-dns, san-email or san-uri)", from)
}

type identityListener struct {
	net.Listener
	from Identity
}

func (l identityListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := nc.(*tls.Conn)
	if !ok {
		nc.Close()
		return nil, errors.New("broker: IdentityListener needs a TLS listener")
	}
	return &identityConn{tc, l.from}, nil
}

type identityConn struct {
	*tls.Conn
	from Identity
}

// certUsername returns the identity of the verified client certificate.
func (c *identityConn) certUsername() (string, bool) {
	cs := c.ConnectionState()
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", false
	}
	cert := cs.VerifiedChains[0][0]
	var name string
	switch c.from {
	case IdentityDNSName:
		if len(cert.DNSNames) > 0 {
			name = cert.DNSNames[0]
		}
	case IdentityEmail:
		if len(cert.EmailAddresses) > 0 {
			name = cert.EmailAddresses[0]
		}
	case IdentityURI:
		if len(cert.URIs) > 0 {
			name = cert.URIs[0].String()
		}
	default:
		name = cert.Subject.CommonName
	}
	return name, name != ""
}

// WebSocketPath is the HTTP path of MQTT over WebSocket.
const WebSocketPath = "/mqtt"

// WebSocketListener serves MQTT over WebSocket on ln: HTTP (HTTPS with
// tlsCfg not nil) upgrade requests to WebSocketPath with the subprotocol
// "mqtt" become connections returned by Accept, carrying MQTT packets in
// binary messages. Requests from any origin are accepted (MQTT clients
// authenticate with CONNECT). Close stops the HTTP server; connections
// already accepted are the broker's to close.
func WebSocketListener(ln net.Listener, tlsCfg *tls.Config, log *slog.Logger) net.Listener {
	if log == nil {
		log = slog.Default()
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	w := &wsListener{ln: ln, conns: make(chan net.Conn), closed: make(chan struct{}), log: log}
	mux := http.NewServeMux()
	mux.HandleFunc(WebSocketPath, w.upgrade)
	w.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	w.done = make(chan error, 1)
	go func() { w.done <- w.srv.Serve(ln) }()
	return w
}

type wsListener struct {
	ln     net.Listener
	srv    *http.Server
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
	done   chan error
	log    *slog.Logger
}

func (w *wsListener) upgrade(rw http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(rw, r, &websocket.AcceptOptions{
		Subprotocols:       []string{"mqtt"},
		InsecureSkipVerify: true, // any Origin
	})
	if err != nil {
		w.log.Debug("websocket upgrade", "remote", r.RemoteAddr, "err", err)
		return
	}
	if c.Subprotocol() != "mqtt" {
		c.Close(websocket.StatusPolicyViolation, `subprotocol "mqtt" required`)
		w.log.Debug("websocket without the mqtt subprotocol", "remote", r.RemoteAddr)
		return
	}
	c.SetReadLimit(-1) // the broker bounds packets itself
	nc := websocket.NetConn(context.Background(), c, websocket.MessageBinary)
	select {
	case w.conns <- nc:
	case <-w.closed:
		nc.Close()
	}
}

func (w *wsListener) Accept() (net.Conn, error) {
	select {
	case nc := <-w.conns:
		return nc, nil
	case <-w.closed:
		return nil, net.ErrClosed
	}
}

func (w *wsListener) Close() error {
	var err error
	w.once.Do(func() {
		close(w.closed)
		err = w.srv.Close()
		<-w.done
	})
	return err
}

func (w *wsListener) Addr() net.Addr { return w.ln.Addr() }
