package store

import (
	"errors"
	"time"

	"github.com/tern-mq/tern/packet"
)

// NeverExpire is the session expiry interval of a session that never expires
// (MQTT 5.0 0xFFFFFFFF; a 3.1 or 3.1.1 session with Clean Session 0).
const NeverExpire uint32 = 0xFFFFFFFF

// Errors returned by backends, wrapped with %w together with the operation and
// the client or topic concerned. Test them with errors.Is.
var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("store: closed")
	// ErrInvalid is returned for input that breaks the contract (empty client
	// identifier, invalid topic name or filter, a change that does not fit).
	ErrInvalid = errors.New("store: invalid input")
)

// SessionRecord is what survives a restart of a persistent session besides its
// message state: the identity, the protocol version, the expiry and the
// subscriptions. The session state of a session with Clean Session 0, or with a
// session expiry interval above 0, outlives the network connection
// ([MQTT-3.1.2-4], [MQTT-3.1.2-5], [MQTT5-3.1.2-23]); its message state is
// saved with Apply.
type SessionRecord struct {
	ClientID string
	Version  packet.Version
	// ExpiryInterval is the session expiry interval in seconds; NeverExpire
	// means never. A record with interval 0 need not be stored at all: such a
	// session ends with its network connection.
	ExpiryInterval uint32
	// DisconnectedAt is when the network connection closed; zero while the
	// client is connected. The broker deletes the session once
	// DisconnectedAt+ExpiryInterval has passed, also after a restart.
	DisconnectedAt time.Time
	// Subscriptions in the order the client made them; a filter appears once.
	Subscriptions []Subscription
	// Will is the will message still pending, or nil. Kept so that a v5 will
	// whose delay has not elapsed is still published after a restart.
	Will *Will
}

// Subscription is one subscription of a session.
type Subscription struct {
	// Filter is the topic filter as subscribed, including a
	// "$share/{ShareName}/" prefix for a shared subscription.
	Filter  string
	Options packet.SubOptions
	// SubID is the v5 subscription identifier, 0 when none.
	SubID uint32
}

// Will is a will message with its v5 delay.
type Will struct {
	Topic   string
	Payload []byte
	QoS     packet.QoS
	Retain  bool
	// Properties are the v5 will properties (nil when none): Message Expiry,
	// Content Type, Response Topic and the rest as carried in CONNECT.
	Properties *packet.Properties
	// Delay is the v5 will delay interval in seconds, counted from the
	// record's DisconnectedAt.
	Delay uint32
}

// Clone returns a deep copy of r: slices, the will and its properties are not
// shared with r. Backends that keep records in memory store and return clones.
func (r SessionRecord) Clone() SessionRecord {
	c := r
	if r.Subscriptions != nil {
		c.Subscriptions = append([]Subscription(nil), r.Subscriptions...)
	}
	if r.Will != nil {
		w := *r.Will
		w.Payload = cloneBytes(r.Will.Payload)
		w.Properties = cloneProperties(r.Will.Properties)
		c.Will = &w
	}
	return c
}

// cloneProperties returns a deep copy of p (nil for nil).
func cloneProperties(p *packet.Properties) *packet.Properties {
	if p == nil {
		return nil
	}
	c := *p
	c.CorrelationData = cloneBytes(p.CorrelationData)
	c.AuthData = cloneBytes(p.AuthData)
	if p.SubscriptionIDs != nil {
		c.SubscriptionIDs = append([]uint32(nil), p.SubscriptionIDs...)
	}
	if p.User != nil {
		c.User = append([]packet.UserProperty(nil), p.User...)
	}
	return &c
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
