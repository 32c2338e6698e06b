package client

import (
	"errors"
	"fmt"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/topic"
)

// Message is an application message, published or received.
type Message struct {
	Topic   string
	Payload []byte
	QoS     packet.QoS
	Retain  bool
	// Properties are the MQTT 5 PUBLISH (or will) properties: Payload
	// Format, Message Expiry, Content Type, Response Topic, Correlation
	// Data, User Properties, and on received messages the Subscription
	// Identifiers. Nil when there are none. Read-only once published or
	// received.
	Properties *packet.Properties

	ack *inbound // received QoS 1/2: the acknowledgement to release
}

// Ack releases the acknowledgement of a received QoS 1 or 2 message when
// Options.ManualAck is set: PUBACK or PUBREC goes to the server. It does
// nothing otherwise, and after the connection the message came on has
// ended (the server then sends a QoS 1 message again; a QoS 2 one is
// acknowledged by the session without being delivered twice).
func (m *Message) Ack() {
	if m.ack != nil && m.ack.acked.CompareAndSwap(false, true) {
		m.ack.release()
	}
}

// UserProperty returns the value of the first User Property named key.
func (m *Message) UserProperty(key string) (string, bool) {
	if m.Properties == nil {
		return "", false
	}
	for _, u := range m.Properties.User {
		if u.Key == key {
			return u.Value, true
		}
	}
	return "", false
}

// Handler handles received messages. Each subscription's handler runs on
// its own goroutine, one message at a time, in the order received.
type Handler func(*Message)

// Subscription is one topic filter to subscribe to, with its options and
// handler.
type Subscription struct {
	Filter string
	QoS    packet.QoS
	// MQTT 5 options.
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte // 0 send retained, 1 only for a new subscription, 2 never
	// Handler receives the messages matching Filter. Nil: they go to
	// Options.OnMessage, once even when several such filters match.
	Handler Handler
}

// Errors.
var (
	// ErrClosed is returned by calls on a client that was disconnected.
	ErrClosed = errors.New("client: closed")
	// ErrConnectionLost ends calls waiting on a single connection (Conn)
	// that ended.
	ErrConnectionLost = errors.New("client: connection lost")
	// ErrNotConnected is returned by Publish of a Conn after its end.
	ErrNotConnected = errors.New("client: not connected")
)

// ReasonError is a failure reported by the server with a reason code:
// a refused CONNECT, a PUBACK, PUBREC, SUBACK or UNSUBACK with a failure
// code, or a DISCONNECT from the server. Error() names the code in words.
type ReasonError struct {
	Op     string // "connect", "publish", "subscribe a/b", "disconnect" ...
	Code   packet.ReasonCode
	V3     bool   // a 3.1/3.1.1 CONNACK return code (Code has its 3.1.1 meaning)
	Reason string // the server's Reason String, if any
}

func (e *ReasonError) Error() string {
	name := e.Code.String()
	if e.V3 {
		name = packet.ConnackString311(e.Code)
	}
	s := fmt.Sprintf("%s: %s (0x%02x)", e.Op, name, byte(e.Code))
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// DropError reports a publication the client dropped without sending it.
type DropError struct {
	Reason string // "queue full", "too large", "expired" ...
}

func (e *DropError) Error() string { return "client: publication dropped: " + e.Reason }

func checkTopic(name string) error {
	if err := topic.ValidName(name); err != nil {
		return err
	}
	return nil
}
