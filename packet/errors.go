package packet

// Error is a protocol violation found while decoding or encoding a packet.
// Code is the MQTT 5 reason code that describes it (MalformedPacket,
// ProtocolError, PacketTooLarge, UnsupportedProtocolVersion,
// TopicNameInvalid ...); a 3.1/3.1.1 server closes the connection for any of
// them, a 5.0 server sends it in DISCONNECT (or CONNACK) first.
type Error struct {
	Code   ReasonCode
	Reason string
}

func (e *Error) Error() string { return e.Code.String() + ": " + e.Reason }

// Is makes errors.Is match an *Error target with the same Code, and the same
// Reason when the target's Reason is not empty:
//
//	errors.Is(err, &packet.Error{Code: packet.MalformedPacket})
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && t.Code == e.Code && (t.Reason == "" || t.Reason == e.Reason)
}

func malformed(reason string) error { return &Error{Code: MalformedPacket, Reason: reason} }
func protoErr(reason string) error  { return &Error{Code: ProtocolError, Reason: reason} }

// invalid reports a packet that cannot be encoded.
func invalid(code ReasonCode, reason string) error { return &Error{Code: code, Reason: reason} }
