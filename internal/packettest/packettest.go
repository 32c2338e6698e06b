package packettest

import (
	"fmt"
	"reflect"

	"github.com/tern-mq/tern/packet"
)

// Case is one valid packet: its bytes on the wire and its decoded value.
type Case struct {
	Name string
	// Versions lists the protocol levels at which Raw decodes to Packet
	// (passed as the session version to the decoder; CONNECT carries its own).
	Versions []packet.Version
	// Raw is the whole packet, fixed header included.
	Raw []byte
	// Packet is the decoded value.
	Packet packet.Packet
	// NonCanonical marks bytes that decode to Packet but that an encoder
	// writes in another (shorter) form: only decoding is checked.
	NonCanonical bool
	// Spec names the specification's example or statements the case shows.
	Spec string
}

// BadCase is one packet that a receiver must reject.
type BadCase struct {
	Name     string
	Versions []packet.Version
	Raw      []byte
	// MaxSize is the maximum packet size to decode with; 0 means no limit.
	MaxSize int
	// Code is the reason code of the *packet.Error the decoder returns
	// (a 5.0 server sends it in DISCONNECT or CONNACK; a 3.1/3.1.1 server
	// just closes the connection, or answers CONNACK 0x01 for 0x84).
	Code packet.ReasonCode
	// Spec names the statement broken.
	Spec string
}

// RemainingLength is one row of the Remaining Length table of the
// specifications (3.1.1 table 2.4, 5.0 table 1.3 for Variable Byte Integer).
type RemainingLength struct {
	Value   int
	Encoded []byte
}

var (
	v3   = []packet.Version{packet.V31}
	v4   = []packet.Version{packet.V311}
	v5   = []packet.Version{packet.V5}
	v34  = []packet.Version{packet.V31, packet.V311}
	v345 = []packet.Version{packet.V31, packet.V311, packet.V5}
	v45  = []packet.Version{packet.V311, packet.V5}
)

// Valid returns every valid golden packet, fresh on each call.
func Valid() []Case {
	var cs []Case
	cs = append(cs, connectCases()...)
	cs = append(cs, connackCases()...)
	cs = append(cs, publishCases()...)
	cs = append(cs, ackCases()...)
	cs = append(cs, subscribeCases()...)
	cs = append(cs, otherCases()...)
	return cs
}

// Malformed returns every invalid golden packet, fresh on each call.
func Malformed() []BadCase { return badCases() }

// RemainingLengths returns the specification's Remaining Length examples:
// the smallest and largest values of one, two, three and four bytes.
func RemainingLengths() []RemainingLength {
	return []RemainingLength{
		{0, b(0x00)},
		{127, b(0x7F)},
		{128, b(0x80, 0x01)},
		{16383, b(0xFF, 0x7F)},
		{16384, b(0x80, 0x80, 0x01)},
		{2097151, b(0xFF, 0xFF, 0x7F)},
		{2097152, b(0x80, 0x80, 0x80, 0x01)},
		{268435455, b(0xFF, 0xFF, 0xFF, 0x7F)},
	}
}

// b concatenates its arguments into bytes: an int is one byte, a string
// is its bytes as they are (no length prefix: the vectors spell those out).
func b(parts ...any) []byte {
	var out []byte
	for _, p := range parts {
		switch v := p.(type) {
		case int:
			if v < 0 || v > 0xFF {
				panic(fmt.Sprintf("packettest: byte value %d out of range", v))
			}
			out = append(out, byte(v))
		case string:
			out = append(out, v...)
		default:
			panic(fmt.Sprintf("packettest: cannot write %T", p))
		}
	}
	return out
}

// props builds a Properties with the given identifiers marked present;
// the caller sets the values.
func props(ids ...packet.PropID) packet.Properties {
	var p packet.Properties
	for _, id := range ids {
		p.Set(id)
	}
	return p
}

// Normalize returns a copy of p in the form Equal compares: empty slices
// become nil, and the Present bits of the two repeatable properties (User
// Property, Subscription Identifier) follow their slices, since the slices
// alone say whether they were carried.
func Normalize(p packet.Packet) packet.Packet {
	switch v := p.(type) {
	case *packet.Connect:
		c := *v
		normProps(&c.Properties)
		normProps(&c.WillProperties)
		c.WillPayload = nilIfEmpty(c.WillPayload)
		c.Password = nilIfEmpty(c.Password)
		return &c
	case *packet.Connack:
		c := *v
		normProps(&c.Properties)
		return &c
	case *packet.Publish:
		c := *v
		normProps(&c.Properties)
		c.Payload = nilIfEmpty(c.Payload)
		return &c
	case *packet.Ack:
		c := *v
		normProps(&c.Properties)
		return &c
	case *packet.Subscribe:
		c := *v
		normProps(&c.Properties)
		if len(c.Subscriptions) == 0 {
			c.Subscriptions = nil
		}
		return &c
	case *packet.Suback:
		c := *v
		normProps(&c.Properties)
		if len(c.ReasonCodes) == 0 {
			c.ReasonCodes = nil
		}
		return &c
	case *packet.Unsubscribe:
		c := *v
		normProps(&c.Properties)
		if len(c.Filters) == 0 {
			c.Filters = nil
		}
		return &c
	case *packet.Unsuback:
		c := *v
		normProps(&c.Properties)
		if len(c.ReasonCodes) == 0 {
			c.ReasonCodes = nil
		}
		return &c
	case *packet.Disconnect:
		c := *v
		normProps(&c.Properties)
		return &c
	case *packet.Auth:
		c := *v
		normProps(&c.Properties)
		return &c
	}
	return p
}

// Equal reports whether two packets are the same once normalized.
func Equal(a, b packet.Packet) bool {
	return reflect.DeepEqual(Normalize(a), Normalize(b))
}

func normProps(p *packet.Properties) {
	p.Clear(packet.PropUserProperty)
	p.Clear(packet.PropSubscriptionID)
	if len(p.User) == 0 {
		p.User = nil
	}
	if len(p.SubscriptionIDs) == 0 {
		p.SubscriptionIDs = nil
	}
	p.CorrelationData = nilIfEmpty(p.CorrelationData)
	p.AuthData = nilIfEmpty(p.AuthData)
}

func nilIfEmpty(s []byte) []byte {
	if len(s) == 0 {
		return nil
	}
	return s
}
