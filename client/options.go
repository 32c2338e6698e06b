package client

import (
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/store"
)

// Options configure a Client (New) or a single connection (Connect, Dial).
// The zero value of every field takes the default in its comment.
type Options struct {
	// Servers are tried in turn: mqtt://host:port or tcp://host:port
	// (plain TCP, port 1883 by default), mqtts:// or ssl:// or tls://
	// (TLS, port 8883 by default), ws://host:port/path and wss://
	// (MQTT over WebSocket, subprotocol "mqtt", path /mqtt by default).
	// Required by New and Dial.
	Servers []string

	// ClientID is the client identifier. Empty: an MQTT 5 server assigns
	// one; for 3.1 and 3.1.1 the client makes up a random "tern-" one. The
	// client keeps it for its reconnections.
	ClientID string
	// Version is the protocol level: packet.V5 (default), packet.V311 or
	// packet.V31.
	Version packet.Version
	// CleanStart asks for a new session on every connection ("Clean
	// Session" in 3.1.1). The client still resends what it has in flight
	// and restores its subscriptions after a reconnection.
	CleanStart bool
	// SessionExpiry is the MQTT 5 Session Expiry Interval: how long the
	// server keeps the session after the connection ends (0: not at all).
	// A value over 4294967295 seconds means never.
	SessionExpiry time.Duration
	// KeepAlive is the keep-alive interval sent in CONNECT. Default 60s;
	// negative disables it (0 on the wire). An MQTT 5 Server Keep Alive
	// overrides it.
	KeepAlive time.Duration

	Username string
	Password []byte

	// Will is published by the server when the connection ends
	// abnormally. Will.Properties may hold the MQTT 5 will properties
	// (Will Delay Interval included).
	Will *Message

	// Auth runs MQTT 5 enhanced authentication (SCRAM, Kerberos, a
	// challenge-response of your own) during the connection: its method
	// and initial data go in CONNECT, and it answers each AUTH challenge
	// until CONNACK. Re-authentication is not supported.
	Auth Authenticator

	// ConnectProperties are extra MQTT 5 CONNECT properties (User
	// Properties, Request Response Information, Authentication Method...).
	// Session Expiry, Receive Maximum, Maximum Packet Size and Topic Alias
	// Maximum are taken from the fields of Options instead.
	ConnectProperties *packet.Properties

	// ReceiveMaximum is the number of QoS 1 and 2 messages the server may
	// have unacknowledged towards this client (MQTT 5). Default 256.
	ReceiveMaximum uint16
	// MaxPacketSize is the largest packet the client accepts (announced
	// to MQTT 5 servers). Default 0: the protocol's limit.
	MaxPacketSize uint32
	// TopicAliasMaximum is the number of topic aliases the server may use
	// towards the client (MQTT 5). Default 0: none.
	TopicAliasMaximum uint16

	// TopicAliases lets the client replace repeated topics by MQTT 5
	// topic aliases, up to the server's Topic Alias Maximum, on each
	// connection. Default off.
	TopicAliases bool

	// SendWindow caps the QoS 1 and 2 publications in flight towards the
	// server (further limited by the server's Receive Maximum). Default 64.
	SendWindow uint16
	// MaxQueued bounds the publications waiting for the window or for the
	// connection. Default 1000; beyond it the oldest are dropped.
	MaxQueued int
	// QueueOffline lets Publish return as soon as the message is queued
	// (with Store: stored) while the client is disconnected; the message
	// goes out after the reconnection. Off: Publish waits for a connection
	// (or its context).
	QueueOffline bool

	// HandlerQueue is the number of received messages each subscription's
	// handler may have waiting. Default 256. See the package
	// documentation for the policy when it is full.
	HandlerQueue int
	// ManualAck withholds the acknowledgement of each received QoS 1 or 2
	// message until the handler calls Message.Ack.
	ManualAck bool
	// OnMessage handles received messages that match no subscription of
	// this client (a persistent session's earlier subscriptions, for
	// instance). Nil: they are acknowledged and discarded.
	OnMessage func(*Message)

	// OnState is called on every connection state change, from one
	// goroutine, in order, never with a lock held.
	OnState func(StateChange)

	// ConnectTimeout bounds dialing plus the CONNECT/CONNACK exchange.
	// Default 10s.
	ConnectTimeout time.Duration
	// WriteTimeout bounds one write to the network. Default 30s.
	WriteTimeout time.Duration
	// Backoff bounds the reconnection delay: it starts at MinBackoff
	// (default 100ms), doubles after each failed attempt up to MaxBackoff
	// (default 30s), and a random jitter of up to half the delay is taken
	// off. A connection that lasted over MaxBackoff resets it.
	MinBackoff, MaxBackoff time.Duration

	// TLSConfig is used for mqtts:// servers (nil: system roots, server
	// name from the URL). See TLSFiles to build one from files.
	TLSConfig *tls.Config
	// Dialer, when set, opens the network connection instead of the
	// built-in TCP and TLS dialers.
	Dialer func(ctx context.Context, u *url.URL) (net.Conn, error)

	// Store, when set, keeps the client's message state (publications
	// queued and in flight, QoS 2 identifiers awaiting PUBREL) under
	// ClientID, which is then required: every change is applied to it
	// before the packets it concerns are written, and New restores what it
	// holds, so a restarted process resends what the previous one had not
	// completed. Any store.Store backend works: store/pebble on disk,
	// store/memory. The client does not close it. Default: memory only.
	Store store.Store

	// Logger receives connection events (debug and info). Default: none.
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultKeepAlive      = 60 * time.Second
	DefaultReceiveMaximum = 256
	DefaultSendWindow     = 64
	DefaultHandlerQueue   = 256
	DefaultConnectTimeout = 10 * time.Second
	DefaultWriteTimeout   = 30 * time.Second
	DefaultMinBackoff     = 100 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
)

func (o Options) withDefaults() (Options, error) {
	if o.Version == 0 {
		o.Version = packet.V5
	}
	switch o.Version {
	case packet.V31, packet.V311, packet.V5:
	default:
		return o, fmt.Errorf("client: unsupported protocol level %d", o.Version)
	}
	if o.Store != nil && o.ClientID == "" {
		return o, errors.New("client: a Store needs a ClientID")
	}
	if o.ClientID == "" && o.Version != packet.V5 {
		// Only MQTT 5 servers assign identifiers to persistent sessions.
		var b [6]byte
		crand.Read(b[:])
		o.ClientID = "tern-" + hex.EncodeToString(b[:])
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = DefaultKeepAlive
	}
	if o.KeepAlive > 65535*time.Second {
		o.KeepAlive = 65535 * time.Second
	}
	if o.ReceiveMaximum == 0 {
		o.ReceiveMaximum = DefaultReceiveMaximum
	}
	if o.SendWindow == 0 {
		o.SendWindow = DefaultSendWindow
	}
	if o.HandlerQueue <= 0 {
		o.HandlerQueue = DefaultHandlerQueue
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.Logger == nil {
		o.Logger = slog.New(discard{})
	}
	if o.Will != nil {
		if err := checkTopic(o.Will.Topic); err != nil {
			return o, fmt.Errorf("client: will: %w", err)
		}
	}
	for _, s := range o.Servers {
		if _, err := ParseURL(s); err != nil {
			return o, err
		}
	}
	return o, nil
}

// discard is a slog.Handler that drops everything.
type discard struct{}

func (discard) Enabled(context.Context, slog.Level) bool  { return false }
func (discard) Handle(context.Context, slog.Record) error { return nil }
func (d discard) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discard) WithGroup(string) slog.Handler           { return d }

// ParseURL parses a server URL. A bare host:port is read as mqtt://.
// Supported schemes: mqtt, tcp (plain), mqtts, ssl, tls (TLS).
func ParseURL(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "mqtt://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("client: server URL %q: %w", s, err)
	}
	switch u.Scheme {
	case "mqtt", "tcp", "mqtts", "ssl", "tls", "ws", "wss":
	default:
		return nil, fmt.Errorf("client: server URL %q: unknown scheme %q (want mqtt, tcp, mqtts, ssl, tls, ws or wss)", s, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("client: server URL %q: no host", s)
	}
	if u.Port() == "" {
		port := "1883"
		switch u.Scheme {
		case "mqtts", "ssl", "tls":
			port = "8883"
		case "ws":
			port = "80"
		case "wss":
			port = "443"
		}
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	if (u.Scheme == "ws" || u.Scheme == "wss") && u.Path == "" {
		u.Path = "/mqtt"
	}
	return u, nil
}

func isTLS(u *url.URL) bool {
	return u.Scheme == "mqtts" || u.Scheme == "ssl" || u.Scheme == "tls" || u.Scheme == "wss"
}

// dial opens a network connection to u.
func (o *Options) dial(ctx context.Context, u *url.URL) (net.Conn, error) {
	if o.Dialer != nil {
		return o.Dialer(ctx, u)
	}
	if u.Scheme == "ws" || u.Scheme == "wss" {
		return dialWebSocket(ctx, u, o.TLSConfig)
	}
	if isTLS(u) {
		cfg := o.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		d := tls.Dialer{Config: cfg}
		return d.DialContext(ctx, "tcp", u.Host)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", u.Host)
}

// TLSFiles builds a TLS configuration from PEM files: caFile (empty: the
// system roots), an optional client certificate and key, and the server
// name to verify (empty: the host of the URL).
func TLSFiles(caFile, certFile, keyFile, serverName string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: serverName, InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("client: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client: CA file %s: no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, errors.New("client: a client certificate needs both the certificate and the key file")
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// backoff is the reconnection delay policy.
type backoff struct {
	min, max, cur time.Duration
}

// next returns the delay before the next attempt: cur minus up to half of
// it at random, then doubles cur up to max.
func (b *backoff) next() time.Duration {
	if b.cur < b.min {
		b.cur = b.min
	}
	d := b.cur
	if half := int64(d / 2); half > 0 {
		d -= time.Duration(rand.Int64N(half + 1))
	}
	b.cur = min(2*b.cur, b.max)
	return d
}

func (b *backoff) reset() { b.cur = b.min }

// Authenticator is one MQTT 5 enhanced authentication method, driven by
// the connection handshake (Options.Auth). It is used by one connection
// attempt at a time.
type Authenticator interface {
	// Method is the Authentication Method, e.g. "SCRAM-SHA-256".
	Method() string
	// Initial returns the Authentication Data for CONNECT (nil: none).
	// It is called at the start of every connection attempt.
	Initial() ([]byte, error)
	// Challenge answers the data of an AUTH "continue authentication"
	// from the server with the data of the client's AUTH.
	Challenge(data []byte) ([]byte, error)
	// Success checks the Authentication Data of the accepting CONNACK
	// (a server's proof, in SCRAM); an error abandons the connection.
	Success(data []byte) error
}
