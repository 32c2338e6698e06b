package broker

import (
	"log/slog"
	"time"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/store"
)

// Config configures a Server. The zero value is usable: every zero field
// takes the default given in its comment.
type Config struct {
	// Logger receives one line per connect and disconnect (info), drops and
	// protocol details (debug), and recovered panics (error).
	// Default: slog.Default().
	Logger *slog.Logger

	// ConnectTimeout bounds the time between accepting a connection and
	// receiving its CONNECT packet. Default: 10s.
	ConnectTimeout time.Duration

	// MaxPacketSize is the largest packet the server accepts, in bytes
	// (announced to v5 clients as Maximum Packet Size). Default: 1 MiB;
	// at most 268,435,460 (the protocol's limit).
	MaxPacketSize int

	// ReceiveMaximum is the number of QoS 1 and 2 publications a client may
	// have unacknowledged towards the server (announced to v5 clients).
	// Default: 1024; at most 65,535.
	ReceiveMaximum int

	// SendWindow is the number of QoS 1 and 2 publications the server keeps
	// in flight towards a client; for an MQTT 5 client the window is the
	// smaller of SendWindow and the client's Receive Maximum
	// [MQTT5-3.3.4-9]. Default: 32.
	SendWindow int

	// MaxQueued and MaxQueuedBytes bound each session's queue of messages
	// waiting for the send window or for the client to reconnect; messages
	// beyond them are dropped and counted. Defaults: 1000 messages, 16 MiB.
	MaxQueued      int
	MaxQueuedBytes int

	// QueueQoS0 keeps QoS 0 messages in the queue of a disconnected
	// persistent session (the specification allows either). Default: false.
	QueueQoS0 bool

	// RetryInterval is the time after which an unacknowledged QoS 1 or 2
	// publication (or PUBREL) is sent again, with DUP set, to a 3.1 or
	// 3.1.1 client still connected; the interval then doubles up to
	// RetryMax (0: no cap). MQTT 5 forbids retransmission except on
	// reconnect. Default: 0, retransmit on reconnect only.
	RetryInterval time.Duration
	RetryMax      time.Duration

	// MaxSessionExpiry caps the Session Expiry Interval a v5 client asks
	// for, and the lifetime of a 3.1/3.1.1 persistent session once
	// disconnected. Default: 0, no cap.
	MaxSessionExpiry time.Duration

	// PersistentClientExpiration is the lifetime of a disconnected 3.1 or
	// 3.1.1 persistent session (clean session 0), Mosquitto's
	// persistent_client_expiration: once it passes without a reconnection,
	// the session, its subscriptions and its queued and in-flight messages
	// are removed, from the Store too. Whole seconds, rounded up; sessions
	// restored from the Store take the value in force at start. Default:
	// 0, never (as those versions specify), unless MaxSessionExpiry is set.
	PersistentClientExpiration time.Duration

	// TopicAliasMaximum is the Topic Alias Maximum announced to v5
	// clients: the aliases each connection may define towards the server.
	// Default: 10; negative: none (a PUBLISH with an alias is refused).
	TopicAliasMaximum int

	// MaximumQoS is the highest QoS accepted in PUBLISH and granted in
	// SUBACK, announced to v5 clients as Maximum QoS when below 2; a
	// PUBLISH above it is DISCONNECT 0x9B, a will above it CONNACK 0x9B.
	// Default (0, or 2 and above): 2; 1: QoS 1; negative: QoS 0 only.
	MaximumQoS int

	// RetainUnavailable turns retained messages off (Retain Available 0):
	// a PUBLISH with RETAIN 1 is DISCONNECT 0x9A, a will with RETAIN 1
	// CONNACK 0x9A.
	RetainUnavailable bool

	// WildcardSubscriptionsUnavailable refuses filters with '+' or '#'
	// (SUBACK 0xA2; 0x80 for 3.1.1), SubscriptionIDsUnavailable refuses
	// subscription identifiers (DISCONNECT 0xA1), and
	// SharedSubscriptionsUnavailable refuses $share/ filters (SUBACK 0x9E;
	// 0x80 for 3.1.1); each is announced in CONNACK.
	WildcardSubscriptionsUnavailable bool
	SubscriptionIDsUnavailable       bool
	SharedSubscriptionsUnavailable   bool

	// ServerKeepAlive, when set, replaces the keep alive of v5 clients
	// (announced as Server Keep Alive; whole seconds). Default: 0, the
	// client's own.
	ServerKeepAlive time.Duration

	// ResponseInformation is returned to v5 clients that ask for it
	// (Request Response Information 1), typically a topic prefix for
	// responses. Default: none.
	ResponseInformation string

	// ServerReference, when set, refuses every CONNECT and names another
	// server: CONNACK 0x9C (Use another server), or 0x9D (Server moved)
	// with ServerMoved, with the Server Reference property; 3.1/3.1.1
	// clients get 0x03 (Server unavailable).
	ServerReference string
	ServerMoved     bool

	// EnhancedAuth are the MQTT 5 enhanced authentication methods
	// (section 4.12), e.g. NewSCRAMSHA256. A client using one is
	// authenticated by it instead of Authenticator; a CONNECT naming
	// another method gets CONNACK 0x8C. Re-authentication (AUTH 0x19)
	// uses the same method. Default: none.
	EnhancedAuth []EnhancedAuth

	// SharePolicy chooses the member of a shared subscription group
	// ($share/{group}/{filter}) that receives a message, among the
	// connected members: ShareRoundRobin (the default), ShareRandom,
	// ShareHashTopic or ShareHashClient (the publisher's client
	// identifier). The hashes keep a topic's or a publisher's messages on
	// one member, in order, while the group's membership is unchanged.
	SharePolicy string

	// Store persists sessions, their in-flight state and retained
	// messages. Default: nil, meaning an in-memory store used for retained
	// messages only: sessions live in memory and no persistence calls are
	// made.
	Store store.Store

	// Authenticator decides whether a client may connect (asked once per
	// CONNECT), and Authorizer what it may publish and subscribe to.
	// Default: nil, every client and action allowed (auth.AllowAll).
	Authenticator auth.Authenticator
	Authorizer    auth.Authorizer

	// SysInterval is the period of the $SYS/broker/... topics (Mosquitto's
	// names), published retained at QoS 0 when their value changed;
	// DefaultSysInterval (10s) is tern serve's. Default: 0 (or negative),
	// no $SYS topics.
	SysInterval time.Duration
	// DisableParking keeps a goroutine blocked in Read for every
	// connection. By default, on Linux, a plain TCP connection that has no
	// bytes to read is parked on an epoll instance and has no goroutine
	// until it becomes readable, which keeps an idle connection's memory
	// small; TLS, WebSocket and wrapped connections are never parked.
	DisableParking bool
	// MaxConnections bounds the open network connections; a connection
	// beyond it is closed at once. Default: 0, no bound.
	MaxConnections int
	// MaxConnectionsPerListener bounds the open connections of each
	// listener (each Serve); beyond, as MaxConnections. Default: 0, no
	// bound.
	MaxConnectionsPerListener int
	// MaxClientIDLength bounds the client identifier, in bytes: a longer
	// one is refused with CONNACK 0x85 (0x02 before MQTT 5). Default: 0, no
	// bound (a 3.1 identifier has at most 23 characters anyway).
	MaxClientIDLength int
	// PublishRate limits each connection's PUBLISH packets per second, with
	// bursts of PublishBurst (a token bucket); a client beyond it is
	// disconnected (MQTT 5: DISCONNECT 0x96 Message rate too high).
	// Default: 0, no limit; PublishBurst defaults to max(1, PublishRate).
	PublishRate  float64
	PublishBurst int

	// ConnectionRate limits the new connections per second from one client
	// address (an IPv4 address, an IPv6 /64), with bursts of
	// ConnectionBurst (a token bucket per address; 65,536 addresses
	// remembered at most): a connection beyond it is closed before its
	// CONNECT is read, logged and counted. Default: 0, no limit;
	// ConnectionBurst defaults to max(1, ConnectionRate).
	ConnectionRate  float64
	ConnectionBurst int
	// BanThreshold violations within BanWindow ban for BanDuration: a
	// violation is a failed login, a connection beyond ConnectionRate, a
	// client identifier too long (counted against the address), or a
	// disconnection for a broken limit (publish rate, quotas; counted
	// against the address and the client identifier). A banned address's
	// connections are closed at accept; a banned client identifier's
	// CONNECT is refused with CONNACK 0x8A Banned (0x05 before MQTT 5).
	// Default: no bans (BanThreshold or BanDuration 0); BanWindow 1m.
	BanThreshold int
	BanWindow    time.Duration
	BanDuration  time.Duration

	// MaxSubscriptions bounds the subscriptions of a client: a new filter
	// beyond gets SUBACK 0x97 Quota exceeded (0x80 before MQTT 5).
	// MaxTopicLength (bytes) and MaxTopicLevels bound topic names and
	// filters: a PUBLISH beyond is DISCONNECT 0x90 Topic Name invalid
	// (closed before MQTT 5), a filter beyond SUBACK 0x8F (0x80).
	// Default: 0, no bound.
	MaxSubscriptions int
	MaxTopicLength   int
	MaxTopicLevels   int
	// SlowConsumerTimeout disconnects a connected client whose message
	// queue overflows (messages dropped for MaxQueued or MaxQueuedBytes, or
	// its QoS 0 backlog at its bound) for that long, checked every quarter
	// of it: DISCONNECT 0x97 Quota exceeded (closed before MQTT 5); its
	// session stays. Default: 0, never.
	SlowConsumerTimeout time.Duration

	// Version is the server version published in $SYS/broker/version.
	Version string
}

// Defaults of Config.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultMaxPacketSize  = 1 << 20
	DefaultReceiveMaximum = 1024
	DefaultSendWindow     = 32
	DefaultMaxQueued      = 1000
	DefaultMaxQueuedBytes = 16 << 20

	DefaultTopicAliasMaximum = 10
	DefaultBanWindow         = time.Minute

	maxPacketSizeLimit = 268435455 + 5
)

func (c *Config) withDefaults() Config {
	d := *c
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.ConnectTimeout <= 0 {
		d.ConnectTimeout = DefaultConnectTimeout
	}
	if d.MaxPacketSize <= 0 {
		d.MaxPacketSize = DefaultMaxPacketSize
	}
	d.MaxPacketSize = min(d.MaxPacketSize, maxPacketSizeLimit)
	if d.ReceiveMaximum <= 0 {
		d.ReceiveMaximum = DefaultReceiveMaximum
	}
	d.ReceiveMaximum = min(d.ReceiveMaximum, 65535)
	if d.SendWindow <= 0 {
		d.SendWindow = DefaultSendWindow
	}
	d.SendWindow = min(d.SendWindow, 65535)
	if d.TopicAliasMaximum == 0 {
		d.TopicAliasMaximum = DefaultTopicAliasMaximum
	}
	d.TopicAliasMaximum = min(d.TopicAliasMaximum, 65535)
	if d.MaxQueued <= 0 {
		d.MaxQueued = DefaultMaxQueued
	}
	if d.ConnectionBurst <= 0 {
		d.ConnectionBurst = max(1, int(d.ConnectionRate))
	}
	if d.BanWindow <= 0 {
		d.BanWindow = DefaultBanWindow
	}
	if d.PublishBurst <= 0 {
		d.PublishBurst = max(1, int(d.PublishRate))
	}
	if d.Authenticator == nil {
		d.Authenticator = auth.AllowAll{}
	}
	if d.Authorizer == nil {
		d.Authorizer = auth.AllowAll{}
	}
	if d.MaxQueuedBytes <= 0 {
		d.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	return d
}
