package packet

// PropID is an MQTT 5 property identifier.
type PropID byte

// MQTT 5 property identifiers (section 2.2.2.2).
const (
	PropPayloadFormat        PropID = 0x01 // byte, PUBLISH and will
	PropMessageExpiry        PropID = 0x02 // four-byte integer, PUBLISH and will
	PropContentType          PropID = 0x03 // string, PUBLISH and will
	PropResponseTopic        PropID = 0x08 // string, PUBLISH and will
	PropCorrelationData      PropID = 0x09 // binary, PUBLISH and will
	PropSubscriptionID       PropID = 0x0B // variable byte integer, PUBLISH (repeatable) and SUBSCRIBE
	PropSessionExpiry        PropID = 0x11 // four-byte integer, CONNECT, CONNACK, DISCONNECT
	PropAssignedClientID     PropID = 0x12 // string, CONNACK
	PropServerKeepAlive      PropID = 0x13 // two-byte integer, CONNACK
	PropAuthMethod           PropID = 0x15 // string, CONNECT, CONNACK, AUTH
	PropAuthData             PropID = 0x16 // binary, CONNECT, CONNACK, AUTH
	PropRequestProblemInfo   PropID = 0x17 // byte, CONNECT
	PropWillDelay            PropID = 0x18 // four-byte integer, will
	PropRequestResponseInfo  PropID = 0x19 // byte, CONNECT
	PropResponseInfo         PropID = 0x1A // string, CONNACK
	PropServerReference      PropID = 0x1C // string, CONNACK, DISCONNECT
	PropReasonString         PropID = 0x1F // string, acks, CONNACK, DISCONNECT, AUTH
	PropReceiveMaximum       PropID = 0x21 // two-byte integer, CONNECT, CONNACK
	PropTopicAliasMaximum    PropID = 0x22 // two-byte integer, CONNECT, CONNACK
	PropTopicAlias           PropID = 0x23 // two-byte integer, PUBLISH
	PropMaximumQoS           PropID = 0x24 // byte, CONNACK
	PropRetainAvailable      PropID = 0x25 // byte, CONNACK
	PropUserProperty         PropID = 0x26 // string pair, every packet with properties (repeatable)
	PropMaximumPacketSize    PropID = 0x27 // four-byte integer, CONNECT, CONNACK
	PropWildcardSubAvailable PropID = 0x28 // byte, CONNACK
	PropSubIDAvailable       PropID = 0x29 // byte, CONNACK
	PropSharedSubAvailable   PropID = 0x2A // byte, CONNACK
)

// PropSet is a set of property identifiers: bit n is property n.
type PropSet uint64

// UserProperty is one name/value pair. Order and repeats are kept.
type UserProperty struct {
	Key   string
	Value string
}

// Properties holds every MQTT 5 property. Present tells which were carried
// ("absent" differs from "zero"); the codec writes exactly the properties in
// Present, and SubscriptionIDs and User when they are non-empty. A zero
// Properties has nothing to encode, so MQTT 3 code can ignore it.
type Properties struct {
	Present PropSet

	PayloadFormat        byte
	MessageExpiry        uint32
	ContentType          string
	ResponseTopic        string
	CorrelationData      []byte
	SubscriptionIDs      []uint32 // several in PUBLISH, at most one in SUBSCRIBE
	SessionExpiry        uint32
	AssignedClientID     string
	ServerKeepAlive      uint16
	AuthMethod           string
	AuthData             []byte
	RequestProblemInfo   byte
	WillDelay            uint32
	RequestResponseInfo  byte
	ResponseInfo         string
	ServerReference      string
	ReasonString         string
	ReceiveMaximum       uint16
	TopicAliasMaximum    uint16
	TopicAlias           uint16
	MaximumQoS           byte
	RetainAvailable      byte
	User                 []UserProperty
	MaximumPacketSize    uint32
	WildcardSubAvailable byte
	SubIDAvailable       byte
	SharedSubAvailable   byte
}

// Has reports whether property id was present.
func (p *Properties) Has(id PropID) bool { return p.Present&(1<<id) != 0 }

// Set marks property id present. The value is set through its field.
func (p *Properties) Set(id PropID) { p.Present |= 1 << id }

// Clear marks property id absent.
func (p *Properties) Clear(id PropID) { p.Present &^= 1 << id }

// Empty reports whether there is nothing to encode.
func (p *Properties) Empty() bool {
	return p.Present&^(1<<PropSubscriptionID|1<<PropUserProperty) == 0 &&
		len(p.SubscriptionIDs) == 0 && len(p.User) == 0
}
