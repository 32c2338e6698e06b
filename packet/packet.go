package packet

// Type is an MQTT control packet type, the high nibble of the first byte.
type Type byte

// Control packet types.
const (
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
	AUTH        Type = 15 // MQTT 5 only
)

var typeNames = [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
	"PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "INVALID"
}

// Version is the protocol level carried in CONNECT.
type Version byte

// Protocol levels.
const (
	V31  Version = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 Version = 4 // MQTT 3.1.1, protocol name "MQTT"
	V5   Version = 5 // MQTT 5.0, protocol name "MQTT"
)

func (v Version) String() string {
	switch v {
	case V31:
		return "3.1"
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	}
	return "unknown"
}

// QoS is a quality-of-service level, 0, 1 or 2.
type QoS byte

// Quality-of-service levels.
const (
	QoS0 QoS = 0 // at most once
	QoS1 QoS = 1 // at least once
	QoS2 QoS = 2 // exactly once
)

// Packet is any MQTT control packet. Every packet type in this package
// implements it with a pointer receiver.
type Packet interface {
	Type() Type
}

// Connect is the CONNECT packet.
type Connect struct {
	// ProtocolName is "MQTT" for 3.1.1 and 5.0 and "MQIsdp" for 3.1.
	// Encoders derive it from Version when empty.
	ProtocolName string
	Version      Version
	CleanStart   bool // "Clean Session" in 3.1 and 3.1.1
	KeepAlive    uint16
	Properties   Properties // MQTT 5 only
	ClientID     string

	WillFlag       bool
	WillQoS        QoS
	WillRetain     bool
	WillProperties Properties // MQTT 5 only
	WillTopic      string
	WillPayload    []byte

	UsernameFlag bool
	Username     string
	PasswordFlag bool
	Password     []byte
}

// Connack is the CONNACK packet.
type Connack struct {
	SessionPresent bool
	// ReasonCode is the v5 reason code, or the 3.1/3.1.1 return code
	// (0 accepted, 1..5 refused) carried as a ReasonCode value.
	ReasonCode ReasonCode
	Properties Properties // MQTT 5 only
}

// Publish is the PUBLISH packet.
//
// When decoded with Unmarshal, Topic and Payload alias the input buffer.
type Publish struct {
	Dup        bool
	QoS        QoS
	Retain     bool
	Topic      string
	PacketID   uint16 // present only for QoS 1 and 2
	Properties Properties
	Payload    []byte
}

// Ack is PUBACK, PUBREC, PUBREL or PUBCOMP: a packet identifier, and in
// MQTT 5 a reason code and properties.
type Ack struct {
	PacketType Type // PUBACK, PUBREC, PUBREL or PUBCOMP
	PacketID   uint16
	ReasonCode ReasonCode // MQTT 5 only; 0 (Success) otherwise
	Properties Properties // MQTT 5 only: Reason String, User Properties
}

// SubOptions are the options of one subscription in SUBSCRIBE.
type SubOptions struct {
	QoS               QoS
	NoLocal           bool // MQTT 5
	RetainAsPublished bool // MQTT 5
	RetainHandling    byte // MQTT 5: 0, 1 or 2
}

// Subscription is one topic filter of a SUBSCRIBE packet.
type Subscription struct {
	Filter  string
	Options SubOptions
}

// Subscribe is the SUBSCRIBE packet.
type Subscribe struct {
	PacketID      uint16
	Properties    Properties // Subscription Identifier, User Properties
	Subscriptions []Subscription
}

// Suback is the SUBACK packet.
type Suback struct {
	PacketID   uint16
	Properties Properties
	// ReasonCodes holds one code per filter: the granted QoS (0, 1, 2) or a
	// failure (0x80 in 3.1.1; a v5 reason code >= 0x80).
	ReasonCodes []ReasonCode
}

// Unsubscribe is the UNSUBSCRIBE packet.
type Unsubscribe struct {
	PacketID   uint16
	Properties Properties // User Properties
	Filters    []string
}

// Unsuback is the UNSUBACK packet. ReasonCodes are present in MQTT 5 only.
type Unsuback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []ReasonCode
}

// Pingreq is the PINGREQ packet.
type Pingreq struct{}

// Pingresp is the PINGRESP packet.
type Pingresp struct{}

// Disconnect is the DISCONNECT packet. ReasonCode and Properties are MQTT 5 only.
type Disconnect struct {
	ReasonCode ReasonCode
	Properties Properties
}

// Auth is the MQTT 5 AUTH packet.
type Auth struct {
	ReasonCode ReasonCode
	Properties Properties
}

func (*Connect) Type() Type     { return CONNECT }
func (*Connack) Type() Type     { return CONNACK }
func (*Publish) Type() Type     { return PUBLISH }
func (a *Ack) Type() Type       { return a.PacketType }
func (*Subscribe) Type() Type   { return SUBSCRIBE }
func (*Suback) Type() Type      { return SUBACK }
func (*Unsubscribe) Type() Type { return UNSUBSCRIBE }
func (*Unsuback) Type() Type    { return UNSUBACK }
func (*Pingreq) Type() Type     { return PINGREQ }
func (*Pingresp) Type() Type    { return PINGRESP }
func (*Disconnect) Type() Type  { return DISCONNECT }
func (*Auth) Type() Type        { return AUTH }
