// Package packet is the MQTT wire codec: every control packet of MQTT 3.1
// (protocol level 3, "MQIsdp"), 3.1.1 (level 4) and 5.0 (level 5), with
// every MQTT 5 property. It uses the standard library only.
//
// # Decoding
//
// ReadPacket reads one packet from a bufio.Reader; ReadFixedHeader and
// Decode are its two halves, DecodeBytes works on a byte slice. The size
// limit (maxSize, the server's Maximum Packet Size; 0 for the protocol's
// 268,435,455 + 5) is checked from the fixed header, before the body is
// read or allocated; ReadPacket then commits memory for a body over 1 MiB
// only as its bytes arrive. A decoded value takes at most about 8 times its
// body (a 3-byte SUBSCRIBE entry becomes a 24-byte Subscription). The level
// v passed in is the session's (from its CONNECT): any level but V5 decodes
// MQTT 3 packets. CONNECT carries its own level and ignores v. Empty byte
// strings (payload, password, correlation data ...) decode as nil.
//
// Decoding is strict: every Malformed Packet and Protocol Error the
// specifications define for a single packet is rejected (reserved flags,
// QoS 3, bad UTF-8 or U+0000, a length running past the body, trailing
// bytes, packet identifier 0, an empty SUBSCRIBE or UNSUBSCRIBE, a property
// the packet may not carry or repeated when it may not be, wildcards in a
// topic name ...). Left to the caller: rules that need session state
// (Topic Alias Maximum, Receive Maximum, Authentication Method continuity)
// or the direction of the packet (a Subscription Identifier in a client's
// PUBLISH [MQTT5-3.3.4-6], Session Expiry in a server's DISCONNECT
// [MQTT5-3.14.2-2]), topic filter syntax (answered per filter in SUBACK),
// the optional check of a payload marked UTF-8 by the Payload Format
// Indicator, and client identifier policy.
//
// Decisions where the specifications leave room:
//   - A variable byte integer must use the fewest bytes: MQTT 5 requires it
//     [MQTT5-1.5.5-1] and MQTT 3.1.1 defines only the minimal encoding, so
//     a non-minimal one is Malformed at every level.
//   - MQTT 3.1: the CONNACK acknowledge-flags byte is reserved and ignored
//     (Connack.SessionPresent is always false; encoding it is an error).
//     3.1 defines no SUBACK failure code, but 0x80 (added by 3.1.1) is
//     accepted and encoded at level 3 too: refusing a filter has no other
//     form, and a 3.1 client that does not know it sees an odd QoS rather
//     than a missing SUBACK. The 1 to 23 character client identifier limit
//     of 3.1 is server policy, not checked here. A password needs a user
//     name in 3.1 as in 3.1.1.
//   - A Topic Alias of 0 [MQTT5-3.3.2-8], a Response Topic with wildcards
//     [MQTT5-3.3.2-14], a byte property other than 0 or 1 where only those
//     are defined, and a reason code that the packet type does not define
//     are Protocol Errors.
//   - The DUP flag on a QoS 0 PUBLISH [MQTT-3.3.1-2] is Malformed.
//   - A wildcard in a PUBLISH or will topic, and an empty topic in 3.x or an
//     empty will topic, are TopicNameInvalid (0x90); an empty topic without
//     a Topic Alias in MQTT 5 is a Protocol Error.
//   - A one-byte AUTH (reason code without property length) is accepted;
//     AUTH is encoded with its property length, DISCONNECT without it when
//     there are no properties, acknowledgements in their shortest form.
//
// # Errors
//
// A protocol violation is an *Error whose Code is the MQTT 5 reason code a
// server sends back (MalformedPacket, ProtocolError, PacketTooLarge,
// UnsupportedProtocolVersion, TopicNameInvalid ...); errors.As gets it and
// errors.Is matches &Error{Code: c}. An MQTT 3 server closes the connection
// for all of them. Errors of the underlying reader are returned wrapped
// with %w: io.EOF when the stream ends before a packet, io.ErrUnexpectedEOF
// when it ends inside one (DecodeBytes uses the latter for a slice that
// holds part of a packet).
//
// For CONNECT, Decode (and ReadPacket, DecodeBytes) return the partially
// decoded *Connect with the error once the protocol name and level are
// read: ProtocolName and Version say how to answer. An unknown name or
// level gives Code UnsupportedProtocolVersion, for CONNACK 0x01 in 3.1.1
// [MQTT-3.1.2-2] or 0x84 in 5.0 [MQTT5-3.1.2-2].
//
// # Aliasing
//
// Packets from Decode, DecodeBytes and ReadPacket own their memory: Decode
// and DecodeBytes copy the body once and the packet's strings and byte
// slices point into that copy (ReadPacket's body buffer is already its
// own). Byte slices are capped, so appending to one never overwrites
// another field. Holding any field keeps the whole body alive.
//
// Publish.Unmarshal and Ack.Unmarshal are the zero-allocation path: Topic,
// Payload and the property strings and slices alias the body passed in (Topic
// through unsafe.String) and are valid only until that body is reused or
// changed. They reuse the capacity of Properties.User and
// Properties.SubscriptionIDs.
//
// # Properties
//
// Properties.Present tells which properties were carried; absent differs
// from zero. Decoding sets the bits of User Property and Subscription
// Identifier when there are any; encoding writes User and SubscriptionIDs
// when non-empty whatever those two bits say, and the other properties
// whose bit is set, in identifier order (User Properties keep their order
// and repeats). MQTT 3 packets must have empty Properties.
//
// # Encoding
//
// Append, Publish.Append and Ack.Append append a whole packet (fixed
// header included) to a buffer; Publish.Append and Ack.Append do not
// allocate when the buffer has room (Size tells how much). Packets are
// validated with the same rules as decoding, so whatever encodes decodes
// back to the same value; an invalid packet returns an *Error and the
// buffer unchanged. PacketID is not written (nor checked) at QoS 0
// [MQTT-2.3.1-5] [MQTT5-2.2.1-2]. Size returns the encoded size, and Fit
// drops the Reason String and User Properties that MQTT 5 lets a sender
// drop to respect the peer's Maximum Packet Size.
//
// All functions are safe for concurrent use on distinct values.
package packet
