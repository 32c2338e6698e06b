package packettest

import "github.com/tern-mq/tern/packet"

// Reason codes the bad cases expect, named as the 5.0 specification's
// section 4.13 defines them: a packet that cannot be parsed is malformed; one
// that parses but carries data the protocol forbids is a protocol error.
const (
	malformedPacket = packet.MalformedPacket // 0x81
	protocolError   = packet.ProtocolError   // 0x82
)

func badCases() []BadCase {
	return []BadCase{
		// Fixed header.
		{
			Name: "reserved packet type 0", Versions: v345, Code: malformedPacket,
			Spec: "3.1.1 table 2.1, 5.0 table 2-1 (type 0 is reserved)",
			Raw: b(
				0x00, 0, // type 0, remaining length 0
			),
		},
		{
			Name: "PUBREL with flags 0000", Versions: v45, Code: malformedPacket,
			Spec: "[MQTT-3.6.1-1] [MQTT-2.2.2-2] [MQTT5-3.6.1-1]",
			Raw: b(
				0x60, 2, // PUBREL with flags 0000 instead of 0010
				0, 1, // packet identifier
			),
		},
		{
			Name: "SUBSCRIBE with flags 0000", Versions: v45, Code: malformedPacket,
			Spec: "[MQTT-3.8.1-1] [MQTT-2.2.2-2] [MQTT5-3.8.1-1]",
			Raw: b(
				0x80, 8, // SUBSCRIBE with flags 0000 instead of 0010
				0, 1, // packet identifier
				0, 3, "a/b", // topic filter
				0x00, // QoS 0
			),
		},
		{
			Name: "UNSUBSCRIBE with flags 0000", Versions: v45, Code: malformedPacket,
			Spec: "[MQTT-3.10.1-1] [MQTT-2.2.2-2] [MQTT5-3.10.1-1]",
			Raw: b(
				0xA0, 5, // UNSUBSCRIBE with flags 0000 instead of 0010
				0, 1, // packet identifier
				0, 1, "a", // topic filter
			),
		},
		{
			Name: "PUBACK with flags 0001", Versions: v45, Code: malformedPacket,
			Spec: "[MQTT-2.2.2-2] [MQTT5-2.1.3-1]",
			Raw: b(
				0x41, 2, // PUBACK with a reserved flag set
				0, 1, // packet identifier
			),
		},
		{
			Name: "CONNECT with flags 0001 in the fixed header", Versions: v45, Code: malformedPacket,
			Spec: "[MQTT-2.2.2-2] [MQTT5-2.1.3-1]",
			Raw: b(
				0x11, 12, // CONNECT with a reserved flag set
				0, 4, "MQTT", 4, 0x02, 0, 0, 0, 0, // rest of a valid 3.1.1 CONNECT
			),
		},
		{
			Name: "PINGREQ with flags 1000", Versions: v45, Code: malformedPacket,
			Spec: "[MQTT-2.2.2-2] [MQTT5-2.1.3-1]",
			Raw:  b(0xC8, 0), // PINGREQ with a reserved flag set, remaining length 0
		},
		{
			Name: "DISCONNECT with flags 0010", Versions: v45, Code: malformedPacket,
			Spec: "[MQTT-3.14.1-1] [MQTT5-3.14.1-1]",
			Raw:  b(0xE2, 0), // DISCONNECT with a reserved flag set, remaining length 0
		},
		{
			Name: "AUTH with flags 0001", Versions: v5, Code: malformedPacket,
			Spec: "[MQTT5-3.15.1-1]",
			Raw:  b(0xF1, 0), // AUTH with a reserved flag set, remaining length 0
		},
		{
			Name: "AUTH before MQTT 5 (type 15 is reserved in 3.1.1)", Versions: v34, Code: protocolError,
			Spec: "3.1.1 table 2.1",
			Raw:  b(0xF0, 0), // AUTH, remaining length 0
		},
		{
			Name: "PUBLISH QoS 3", Versions: v45, Code: malformedPacket,
			Spec: "[MQTT-3.3.1-4] [MQTT5-3.3.1-4]",
			Raw: b(
				0x36, 5, // PUBLISH, flags: QoS bits 11
				0, 1, "a", // topic name
				0, 1, // packet identifier
			),
		},
		{
			Name: "remaining length of five bytes", Versions: v345, Code: malformedPacket,
			Spec: "3.1.1 section 2.2.3, 5.0 section 1.5.5 (at most four bytes)",
			Raw: b(
				0x30,                         // PUBLISH QoS 0
				0xFF, 0xFF, 0xFF, 0xFF, 0x01, // five-byte remaining length
			),
		},
		{
			Name: "remaining length not in the minimum number of bytes", Versions: v345, Code: malformedPacket,
			Spec: "[MQTT5-1.5.5-1]",
			Raw: b(
				0xC0,       // PINGREQ
				0x80, 0x00, // remaining length 0 written in two bytes
			),
		},
		{
			Name: "packet larger than the maximum packet size", Versions: v345, Code: packet.PacketTooLarge, MaxSize: 11,
			Spec: "[MQTT5-3.2.2-15] [MQTT5-3.1.2-24], 5.0 section 3.2.2.3.6",
			Raw: b(
				0x30, 10, // PUBLISH QoS 0, remaining length 10: 12 bytes in all
				0, 3, "a/b", // topic name
				"hello", // payload
			),
		},

		// Strings.
		{
			Name: "topic name not well-formed UTF-8", Versions: v345, Code: malformedPacket,
			Spec: "[MQTT-1.5.3-1] [MQTT5-1.5.4-1]",
			Raw: b(
				0x30, 5, // PUBLISH QoS 0, remaining length 5
				0, 3, "a", 0xC3, 0x28, // topic name: 0xC3 starts a two-byte sequence that 0x28 does not continue
			),
		},
		{
			Name: "topic name with an encoded surrogate U+D800", Versions: v45, Code: malformedPacket,
			Spec: "[MQTT-1.5.3-1] [MQTT5-1.5.4-1]",
			Raw: b(
				0x30, 5, // PUBLISH QoS 0, remaining length 5
				0, 3, 0xED, 0xA0, 0x80, // topic name: U+D800 in UTF-8 form
			),
		},
		{
			Name: "topic name with U+0000", Versions: v345, Code: malformedPacket,
			Spec: "[MQTT-1.5.3-2] [MQTT-4.7.3-2] [MQTT5-1.5.4-2]",
			Raw: b(
				0x30, 6, // PUBLISH QoS 0, remaining length 6
				0, 3, "a", 0x00, "b", // topic name with a null character
				"x", // payload
			),
		},
		{
			Name: "client identifier with U+0000", Versions: v4, Code: malformedPacket,
			Spec: "[MQTT-1.5.3-2]",
			Raw: b(
				0x10, 14, // CONNECT, remaining length 14
				0, 4, "MQTT", 4, 0x02, 0, 0, // protocol name, level 4, clean session, keep alive 0
				0, 2, "a", 0x00, // client identifier with a null character
			),
		},
		{
			Name: "string length runs past the end of the packet", Versions: v345, Code: malformedPacket,
			Spec: "3.1.1 section 1.5.3, 5.0 section 1.5.4",
			Raw: b(
				0x30, 3, // PUBLISH QoS 0, remaining length 3
				0, 5, "a", // topic name claims 5 bytes, 1 follows
			),
		},

		// PUBLISH.
		{
			Name: "PUBLISH topic name with +", Versions: v345, Code: packet.TopicNameInvalid,
			Spec: "[MQTT-3.3.2-2] [MQTT5-3.3.2-2]",
			Raw: b(
				0x30, 6, // PUBLISH QoS 0, remaining length 6
				0, 3, "a/+", // topic name with a single-level wildcard
				"x", // payload
			),
		},
		{
			Name: "PUBLISH topic name with #", Versions: v345, Code: packet.TopicNameInvalid,
			Spec: "[MQTT-3.3.2-2] [MQTT5-3.3.2-2]",
			Raw: b(
				0x30, 4, // PUBLISH QoS 0, remaining length 4
				0, 1, "#", // topic name: multi-level wildcard
				"x", // payload
			),
		},
		{
			Name: "PUBLISH QoS 1 with packet identifier 0", Versions: v345, Code: protocolError,
			Spec: "[MQTT-2.3.1-1] [MQTT5-2.2.1-3]",
			Raw: b(
				0x32, 5, // PUBLISH QoS 1, remaining length 5
				0, 1, "a", // topic name
				0, 0, // packet identifier 0
			),
		},
		{
			Name: "PUBLISH 5.0 empty topic name without a topic alias", Versions: v5, Code: protocolError,
			Spec: "5.0 section 3.3.2.3.4 (a Protocol Error)",
			Raw: b(
				0x30, 4, // PUBLISH QoS 0, remaining length 4
				0, 0, // topic name: empty
				0,   // property length 0
				"x", // payload
			),
		},

		// SUBSCRIBE and UNSUBSCRIBE.
		{
			Name: "SUBSCRIBE with packet identifier 0", Versions: v345, Code: protocolError,
			Spec: "[MQTT-2.3.1-1] [MQTT5-2.2.1-3]",
			Raw: b(
				0x82, 6, // SUBSCRIBE, remaining length 6
				0, 0, // packet identifier 0
				0, 1, "a", // topic filter
				0x00, // QoS 0
			),
		},
		{
			Name: "SUBSCRIBE 3.1.1 without a topic filter", Versions: v34, Code: protocolError,
			Spec: "[MQTT-3.8.3-3]",
			Raw: b(
				0x82, 2, // SUBSCRIBE, remaining length 2
				0, 1, // packet identifier; no payload
			),
		},
		{
			Name: "SUBSCRIBE 5.0 without a topic filter", Versions: v5, Code: protocolError,
			Spec: "[MQTT5-3.8.3-2]",
			Raw: b(
				0x82, 3, // SUBSCRIBE, remaining length 3
				0, 1, // packet identifier
				0, // property length 0; no payload
			),
		},
		{
			Name: "SUBSCRIBE 3.1.1 requested QoS 3", Versions: v4, Code: malformedPacket,
			Spec: "[MQTT-3.8.3-4]",
			Raw: b(
				0x82, 6, // SUBSCRIBE, remaining length 6
				0, 1, // packet identifier
				0, 1, "a", // topic filter
				0x03, // requested QoS 3
			),
		},
		{
			Name: "SUBSCRIBE 3.1.1 reserved bits of the requested QoS byte", Versions: v4, Code: malformedPacket,
			Spec: "[MQTT-3.8.3-4]",
			Raw: b(
				0x82, 6, // SUBSCRIBE, remaining length 6
				0, 1, // packet identifier
				0, 1, "a", // topic filter
				0x04, // reserved bit 2 set (a 5.0 No Local bit)
			),
		},
		{
			Name: "SUBSCRIBE 5.0 reserved bits of the subscription options", Versions: v5, Code: malformedPacket,
			Spec: "[MQTT5-3.8.3-5]",
			Raw: b(
				0x82, 7, // SUBSCRIBE, remaining length 7
				0, 1, // packet identifier
				0,         // property length 0
				0, 1, "a", // topic filter
				0xC1, // options: reserved bits 7 and 6 set, QoS 1
			),
		},
		{
			Name: "SUBSCRIBE 5.0 retain handling 3", Versions: v5, Code: protocolError,
			Spec: "5.0 section 3.8.3.1 (a Protocol Error)",
			Raw: b(
				0x82, 7, // SUBSCRIBE, remaining length 7
				0, 1, // packet identifier
				0,         // property length 0
				0, 1, "a", // topic filter
				0x30, // options: retain handling 3
			),
		},
		{
			Name: "SUBSCRIBE 5.0 subscription identifier 0", Versions: v5, Code: protocolError,
			Spec: "5.0 section 3.8.2.1.2 (a Protocol Error)",
			Raw: b(
				0x82, 9, // SUBSCRIBE, remaining length 9
				0, 1, // packet identifier
				2,       // property length 2
				0x0B, 0, // Subscription Identifier 0
				0, 1, "a", // topic filter
				0x00, // options
			),
		},
		{
			Name: "UNSUBSCRIBE with packet identifier 0", Versions: v345, Code: protocolError,
			Spec: "[MQTT-2.3.1-1] [MQTT5-2.2.1-3]",
			Raw: b(
				0xA2, 5, // UNSUBSCRIBE, remaining length 5
				0, 0, // packet identifier 0
				0, 1, "a", // topic filter
			),
		},
		{
			Name: "UNSUBSCRIBE 3.1.1 without a topic filter", Versions: v34, Code: protocolError,
			Spec: "[MQTT-3.10.3-2]",
			Raw: b(
				0xA2, 2, // UNSUBSCRIBE, remaining length 2
				0, 1, // packet identifier; no payload
			),
		},
		{
			Name: "UNSUBSCRIBE 5.0 without a topic filter", Versions: v5, Code: protocolError,
			Spec: "[MQTT5-3.10.3-2]",
			Raw: b(
				0xA2, 3, // UNSUBSCRIBE, remaining length 3
				0, 1, // packet identifier
				0, // property length 0; no payload
			),
		},

		// Properties.
		{
			Name: "PUBLISH 5.0 Payload Format Indicator twice", Versions: v5, Code: protocolError,
			Spec: "5.0 section 3.3.2.3.2 (included more than once: a Protocol Error)",
			Raw: b(
				0x30, 9, // PUBLISH QoS 0, remaining length 9
				0, 1, "a", // topic name
				4,       // property length 4
				0x01, 0, // Payload Format Indicator 0
				0x01, 1, // Payload Format Indicator again
				"x", // payload
			),
		},
		{
			Name: "CONNECT 5.0 Session Expiry Interval twice", Versions: v5, Code: protocolError,
			Spec: "5.0 section 3.1.2.11.2 (included more than once: a Protocol Error)",
			Raw: b(
				0x10, 23, // CONNECT, remaining length 23
				0, 4, "MQTT", 5, 0x02, 0, 0, // protocol name, level 5, clean start, keep alive 0
				10,               // property length 10
				0x11, 0, 0, 0, 1, // Session Expiry Interval 1
				0x11, 0, 0, 0, 2, // Session Expiry Interval again
				0, 0, // client identifier: empty
			),
		},
		{
			Name: "unknown property identifier 0x7F", Versions: v5, Code: malformedPacket,
			Spec: "5.0 section 2.2.2.2",
			Raw: b(
				0xE0, 4, // DISCONNECT, remaining length 4
				0x00,    // reason code
				2,       // property length 2
				0x7F, 0, // no such property
			),
		},
		{
			Name: "property length runs past the end of the packet", Versions: v5, Code: malformedPacket,
			Spec: "5.0 section 2.2.2.1",
			Raw: b(
				0x40, 4, // PUBACK, remaining length 4
				0, 1, // packet identifier
				0x00, // reason code
				9,    // property length 9, nothing follows
			),
		},

		// CONNECT.
		{
			Name: "CONNECT reserved flag set", Versions: v45, Code: malformedPacket,
			Spec: "[MQTT-3.1.2-3] [MQTT5-3.1.2-3]",
			Raw: b(
				0x10, 12, // CONNECT, remaining length 12
				0, 4, "MQTT", 4, // protocol name, level 4
				0x03, // flags: clean session 0x02, reserved bit 0 set
				0, 0, // keep alive 0
				0, 0, // client identifier: empty
			),
		},
		{
			Name: "CONNECT will QoS 3", Versions: v4, Code: malformedPacket,
			Spec: "[MQTT-3.1.2-14]",
			Raw: b(
				0x10, 18, // CONNECT, remaining length 18
				0, 4, "MQTT", 4, // protocol name, level 4
				0x1E, // flags: will QoS 3 (0x18), will 0x04, clean 0x02
				0, 0, // keep alive 0
				0, 0, // client identifier: empty
				0, 1, "w", // will topic
				0, 1, "m", // will message
			),
		},
		{
			Name: "CONNECT will QoS without will flag", Versions: v4, Code: malformedPacket,
			Spec: "[MQTT-3.1.2-13]",
			Raw: b(
				0x10, 12, // CONNECT, remaining length 12
				0, 4, "MQTT", 4, // protocol name, level 4
				0x0A, // flags: will QoS 1 (0x08), clean 0x02, will flag 0
				0, 0, // keep alive 0
				0, 0, // client identifier: empty
			),
		},
		{
			Name: "CONNECT will retain without will flag", Versions: v5, Code: malformedPacket,
			Spec: "[MQTT5-3.1.2-13]",
			Raw: b(
				0x10, 13, // CONNECT, remaining length 13
				0, 4, "MQTT", 5, // protocol name, level 5
				0x22, // flags: will retain 0x20, clean start 0x02, will flag 0
				0, 0, // keep alive 0
				0,    // property length 0
				0, 0, // client identifier: empty
			),
		},
		{
			Name: "CONNECT 3.1.1 password without user name", Versions: v4, Code: malformedPacket,
			Spec: "[MQTT-3.1.2-22]",
			Raw: b(
				0x10, 15, // CONNECT, remaining length 15
				0, 4, "MQTT", 4, // protocol name, level 4
				0x42, // flags: password 0x40, clean 0x02, user name 0
				0, 0, // keep alive 0
				0, 0, // client identifier: empty
				0, 1, "p", // password
			),
		},
		{
			Name: "CONNECT protocol name MQTX", Versions: v4, Code: packet.UnsupportedProtocolVersion,
			Spec: "[MQTT-3.1.2-1] [MQTT5-3.1.2-1]",
			Raw: b(
				0x10, 12, // CONNECT, remaining length 12
				0, 4, "MQTX", 4, // unknown protocol name, level 4
				0x02, 0, 0, // flags: clean; keep alive 0
				0, 0, // client identifier: empty
			),
		},
		{
			Name: "CONNECT protocol name MQIsdp with level 4", Versions: v4, Code: packet.UnsupportedProtocolVersion,
			Spec: "[MQTT-3.1.2-1] (MQIsdp is the name of level 3 only)",
			Raw: b(
				0x10, 14, // CONNECT, remaining length 14
				0, 6, "MQIsdp", 4, // 3.1 protocol name with level 4
				0x02, 0, 0, // flags: clean; keep alive 0
				0, 0, // client identifier: empty
			),
		},
		{
			Name: "CONNECT unsupported protocol level 6", Versions: v4, Code: packet.UnsupportedProtocolVersion,
			Spec: "[MQTT-3.1.2-2] [MQTT5-3.1.2-2]",
			Raw: b(
				0x10, 12, // CONNECT, remaining length 12
				0, 4, "MQTT", 6, // protocol name, level 6
				0x02, 0, 0, // flags: clean; keep alive 0
				0, 0, // client identifier: empty
			),
		},
		{
			Name: "CONNECT 3.1.1 trailing byte after the payload", Versions: v4, Code: malformedPacket,
			Spec: "3.1.1 section 3.1.3",
			Raw: b(
				0x10, 13, // CONNECT, remaining length 13
				0, 4, "MQTT", 4, 0x02, 0, 0, // protocol name, level 4, clean, keep alive 0
				0, 0, // client identifier: empty
				0xAA, // a byte no flag accounts for
			),
		},

		// Other packets.
		{
			Name: "PINGREQ with a body", Versions: v345, Code: malformedPacket,
			Spec: "3.1.1 section 3.12, 5.0 section 3.12 (no variable header, no payload)",
			Raw:  b(0xC0, 1, 0x00), // PINGREQ, remaining length 1, one byte
		},
		{
			Name: "CONNACK 3.1.1 with three bytes", Versions: v4, Code: malformedPacket,
			Spec: "3.1.1 section 3.2.1 (remaining length 2)",
			Raw:  b(0x20, 3, 0, 0, 0), // CONNACK, remaining length 3
		},
		{
			Name: "PUBACK 3.1.1 with one byte", Versions: v4, Code: malformedPacket,
			Spec: "3.1.1 section 3.4.1 (remaining length 2)",
			Raw:  b(0x40, 1, 0), // PUBACK, remaining length 1
		},

		// Properties not valid for the packet type.
		{
			Name: "PUBLISH 5.0 with Session Expiry Interval, not a PUBLISH property", Versions: v5, Code: malformedPacket,
			Spec: "5.0 section 2.2.2.2 (an identifier not valid for the packet type: a Malformed Packet)",
			Raw: b(
				0x30, 9, // PUBLISH QoS 0, remaining length 9
				0, 1, "a", // topic name
				5,                // property length 5
				0x11, 0, 0, 0, 1, // Session Expiry Interval
			),
		},
		{
			Name: "CONNECT 5.0 will properties with Session Expiry Interval, not a will property", Versions: v5, Code: malformedPacket,
			Spec: "5.0 section 2.2.2.2 (an identifier not valid for the packet type: a Malformed Packet)",
			Raw: b(
				0x10, 24, // CONNECT, remaining length 24
				0, 4, "MQTT", 5, 0x06, 0, 0, // protocol name, level 5, flags: will 0x04, clean start 0x02; keep alive 0
				0,    // property length 0
				0, 0, // client identifier: empty
				5,                // will property length 5
				0x11, 0, 0, 0, 1, // Session Expiry Interval
				0, 1, "w", // will topic
				0, 0, // will payload: empty
			),
		},
	}
}
