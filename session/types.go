package session

import (
	"strconv"
	"time"

	"github.com/tern-mq/tern/packet"
)

// Role tells which side of the connection the session is.
type Role uint8

// Roles.
const (
	Server Role = iota // the broker's session for one client
	Client             // a client's session with its broker
)

func (r Role) String() string {
	if r == Client {
		return "client"
	}
	return "server"
}

// Defaults applied by New for zero Config fields.
const (
	DefaultSendWindow = 256
	DefaultMaxQueued  = 1000
)

// Retry configures timed resends for MQTT 3.1 and 3.1.1 connections.
type Retry struct {
	Initial time.Duration // first resend after this long; zero disables
	Max     time.Duration // the interval doubles up to Max; zero: no cap
}

// Config configures a Session.
type Config struct {
	Role Role
	// Version is the protocol level assumed until Connected gives the
	// peer's.
	Version packet.Version
	// ReceiveMaximum bounds the inbound QoS 1 and 2 PUBLISH packets from
	// the peer that may be unacknowledged at once (our Receive Maximum;
	// 0 means 65535). In MQTT 5 exceeding it is an error with reason
	// 0x93; for 3.1/3.1.1 peers, which cannot know it, it only bounds the
	// QoS 2 identifiers awaiting PUBREL.
	ReceiveMaximum uint16
	// SendWindow caps the outbound QoS 1 and 2 flows in flight. The
	// window is min(peer's Receive Maximum, SendWindow) for MQTT 5 peers
	// (an absent Receive Maximum is 65535) and SendWindow for 3.1/3.1.1.
	// 0 means DefaultSendWindow.
	SendWindow uint16
	// MaxQueued bounds the deliveries queued behind the window
	// (0 means DefaultMaxQueued).
	MaxQueued int
	// MaxQueuedBytes bounds the payload bytes queued (0: no bound).
	MaxQueuedBytes int
	// QueueQoS0 keeps QoS 0 deliveries queued while the peer is offline;
	// by default they are dropped (DropQoS0Offline).
	QueueQoS0 bool
	// Retry enables timed resends of unacknowledged PUBLISH and PUBREL
	// while connected, for 3.1 and 3.1.1 only; never in MQTT 5
	// [MQTT5-4.4.0-1].
	Retry Retry
}

// Peer describes the connection given to Connected.
type Peer struct {
	Version packet.Version // protocol level of the connection; 0: Config.Version
	// ReceiveMaximum is the peer's Receive Maximum (MQTT 5; 0: absent,
	// meaning 65535).
	ReceiveMaximum uint16
	// MaximumPacketSize is the largest packet the peer accepts (0: no
	// limit).
	MaximumPacketSize uint32
}

// Message is an application message. It is immutable once handed to Send
// and shared by pointer between every session it is fanned out to.
type Message struct {
	// ID is an opaque store identifier (0: not stored), so persistence
	// can reference the body without copying it.
	ID      uint64
	Topic   string
	Payload []byte
	QoS     packet.QoS
	Retain  bool
	// Properties are the MQTT 5 properties as published (nil if none).
	// Read-only; SubscriptionIDs here are ignored on output.
	Properties *packet.Properties
	// Expires is when the Message Expiry Interval runs out (zero: never).
	// A queued delivery past it is dropped [MQTT5-3.3.2-5]; a PUBLISH
	// carries the remaining interval [MQTT5-3.3.2-6].
	Expires time.Time
}

// Delivery is one message for this session's peer, with the parts that
// depend on the destination.
type Delivery struct {
	Msg    *Message
	QoS    packet.QoS // effective QoS (min of published and granted)
	Retain bool
	SubIDs []uint32 // MQTT 5 subscription identifiers; read-only, may be shared
}

// Outbound is one packet to write. It holds no encoded bytes: the
// connection writer fills a reused packet struct with Publish or Ack and
// encodes it, without allocating.
type Outbound struct {
	Kind     packet.Type // PUBLISH, PUBACK, PUBREC, PUBREL or PUBCOMP
	PacketID uint16      // 0 for a QoS 0 PUBLISH
	Reason   packet.ReasonCode
	Dup      bool
	// Expiry is the remaining Message Expiry Interval in seconds, valid
	// when Delivery.Msg.Expires is set.
	Expiry   uint32
	Delivery Delivery // PUBLISH only
}

// Publish fills dst with the PUBLISH o describes. Properties are copied
// shallowly from the message (slices are shared, read-only), with the
// delivery's subscription identifiers and the remaining expiry, without a
// Topic Alias. An encoder for 3.1/3.1.1 ignores them.
func (o *Outbound) Publish(dst *packet.Publish) {
	d := &o.Delivery
	dst.Dup = o.Dup
	dst.QoS = d.QoS
	dst.Retain = d.Retain
	dst.Topic = d.Msg.Topic
	dst.PacketID = o.PacketID
	dst.Payload = d.Msg.Payload
	if d.Msg.Properties != nil {
		dst.Properties = *d.Msg.Properties
	} else {
		dst.Properties = packet.Properties{}
	}
	dst.Properties.SubscriptionIDs = d.SubIDs
	if len(d.SubIDs) > 0 {
		dst.Properties.Set(packet.PropSubscriptionID)
	} else {
		dst.Properties.Clear(packet.PropSubscriptionID)
	}
	if !d.Msg.Expires.IsZero() {
		dst.Properties.MessageExpiry = o.Expiry
		dst.Properties.Set(packet.PropMessageExpiry)
	}
	// Topic aliases belong to a connection: never forwarded.
	dst.Properties.TopicAlias = 0
	dst.Properties.Clear(packet.PropTopicAlias)
}

// Ack fills dst with the PUBACK, PUBREC, PUBREL or PUBCOMP o describes.
// Properties are reset (the reason code alone is produced).
func (o *Outbound) Ack(dst *packet.Ack) {
	dst.PacketType = o.Kind
	dst.PacketID = o.PacketID
	dst.ReasonCode = o.Reason
	dst.Properties = packet.Properties{}
}

// Ready is the output of the session since the last Advance.
type Ready struct {
	// Gen is the connection generation Packets are for.
	Gen uint64
	// Persist are the state changes to store before sending.
	Persist []Change
	// Packets are to be written on connection Gen, in order.
	Packets []Outbound
	// Deliver are the inbound application messages accepted from the
	// peer, to route or hand to the application after Packets are sent.
	Deliver []*Message
	// Done reports outbound deliveries that ended other than by being
	// written as a QoS 0 PUBLISH: QoS 1/2 flows completed or refused by
	// the peer, and deliveries of any QoS that were dropped.
	Done []Completion
}

// Completion is the end of one outbound delivery.
type Completion struct {
	Delivery Delivery
	PacketID uint16            // 0 if it never went in flight
	Reason   packet.ReasonCode // the peer's reason code (PUBACK, PUBREC or PUBCOMP)
	Drop     DropReason        // non-zero when the session dropped it undelivered
}

// DropReason tells why a delivery was dropped.
type DropReason uint8

// Drop reasons.
const (
	DropNone         DropReason = iota
	DropQueueFull               // the queue was over MaxQueued or MaxQueuedBytes
	DropQoS0Offline             // QoS 0 while the peer was offline and QueueQoS0 is off
	DropTooLarge                // larger than the peer's Maximum Packet Size [MQTT5-3.1.2-25]
	DropExpired                 // Message Expiry Interval passed while queued [MQTT5-3.3.2-5]
	DropDisconnected            // QoS 0 PUBLISH pending when the connection ended
	NumDropReasons
)

var dropNames = [...]string{"none", "queue full", "QoS 0 offline", "too large", "expired", "disconnected"}

func (r DropReason) String() string {
	if int(r) < len(dropNames) {
		return dropNames[r]
	}
	return "drop reason " + strconv.Itoa(int(r))
}

// Stats are the session's gauges and counters.
type Stats struct {
	Queued         int // deliveries queued behind the window
	QueuedBytes    int // their payload bytes
	InFlight       int // outbound QoS 1/2 flows unacknowledged
	InboundPending int // inbound QoS 2 identifiers awaiting PUBREL

	Sent        uint64 // PUBLISH packets produced, first sends
	Resent      uint64 // PUBLISH and PUBREL packets produced again (reconnect or retry)
	Completed   uint64 // outbound QoS 1/2 flows ended by the peer
	Received    uint64 // inbound PUBLISH packets
	Duplicates  uint64 // inbound QoS 2 PUBLISH for an identifier awaiting PUBREL
	UnknownAcks uint64 // PUBACK, PUBREC, PUBREL or PUBCOMP with no matching flow
	Dropped     [NumDropReasons]uint64
}

// DroppedTotal sums Dropped.
func (s *Stats) DroppedTotal() uint64 {
	var n uint64
	for _, v := range s.Dropped {
		n += v
	}
	return n
}
