package packettest

import "github.com/tern-mq/tern/packet"

func publishCases() []Case {
	return []Case{
		{
			Name:     "PUBLISH 3.1/3.1.1 QoS 0",
			Versions: v34,
			Raw: b(
				0x30, 10, // PUBLISH, flags: DUP 0, QoS 0, RETAIN 0; remaining length 10
				0, 3, "a/b", // topic name
				"hello", // payload (no packet identifier at QoS 0)
			),
			Packet: &packet.Publish{Topic: "a/b", Payload: []byte("hello")},
		},
		{
			Name:     "PUBLISH 3.1/3.1.1 QoS 0 retained, empty payload (clears the retained message)",
			Versions: v34,
			Spec:     "[MQTT-3.3.1-10]",
			Raw: b(
				0x31, 5, // PUBLISH, flags: RETAIN; remaining length 5
				0, 3, "a/b", // topic name; payload empty
			),
			Packet: &packet.Publish{Retain: true, Topic: "a/b"},
		},
		{
			Name:     "PUBLISH 3.1/3.1.1 QoS 1",
			Versions: v34,
			Raw: b(
				0x32, 9, // PUBLISH, flags: QoS 1; remaining length 9
				0, 3, "a/b", // topic name
				0, 10, // packet identifier 10
				"hi", // payload
			),
			Packet: &packet.Publish{QoS: packet.QoS1, Topic: "a/b", PacketID: 10, Payload: []byte("hi")},
		},
		{
			Name:     "PUBLISH 3.1/3.1.1 QoS 1 retained",
			Versions: v34,
			Raw: b(
				0x33, 8, // PUBLISH, flags: QoS 1, RETAIN; remaining length 8
				0, 3, "r/1", // topic name
				0xFF, 0xFF, // packet identifier 65535
				"v", // payload
			),
			Packet: &packet.Publish{QoS: packet.QoS1, Retain: true, Topic: "r/1", PacketID: 65535, Payload: []byte("v")},
		},
		{
			Name:     "PUBLISH 3.1/3.1.1 QoS 2, DUP, RETAIN",
			Versions: v34,
			Raw: b(
				0x3D, 6, // PUBLISH, flags: DUP 0x08, QoS 2 (0x04), RETAIN 0x01; remaining length 6
				0, 1, "t", // topic name
				0x12, 0x34, // packet identifier 4660
				"x", // payload
			),
			Packet: &packet.Publish{Dup: true, QoS: packet.QoS2, Retain: true, Topic: "t", PacketID: 0x1234, Payload: []byte("x")},
		},
		{
			Name:     "PUBLISH 3.1.1 QoS 2 DUP",
			Versions: v4,
			Raw: b(
				0x3C, 7, // PUBLISH, flags: DUP, QoS 2; remaining length 7
				0, 3, "q/2", // topic name
				0, 1, // packet identifier 1
				// empty payload
			),
			Packet: &packet.Publish{Dup: true, QoS: packet.QoS2, Topic: "q/2", PacketID: 1},
		},
		{
			Name:     "PUBLISH 3.1.1 topic with a BOM and a two-byte character, kept as they are",
			Versions: v4,
			Spec:     "[MQTT-1.5.3-3]",
			Raw: b(
				0x30, 8, // PUBLISH QoS 0, remaining length 8
				0, 5, 0xEF, 0xBB, 0xBF, 0xC3, 0xA9, // topic name U+FEFF U+00E9
				"!", // payload
			),
			Packet: &packet.Publish{Topic: "\uFEFF\u00E9", Payload: []byte("!")},
		},
		{
			Name:     "PUBLISH 5.0 QoS 0, no properties",
			Versions: v5,
			Raw: b(
				0x30, 11, // PUBLISH QoS 0, remaining length 11
				0, 3, "a/b", // topic name
				0,       // property length 0
				"hello", // payload
			),
			Packet: &packet.Publish{Topic: "a/b", Payload: []byte("hello")},
		},
		{
			Name:     "PUBLISH 5.0 QoS 1 with every PUBLISH property, two subscription identifiers, repeated user properties",
			Versions: v5,
			Spec:     "[MQTT5-3.3.2-17] [MQTT5-3.3.2-18] [MQTT5-3.3.4-3]",
			Raw: b(
				0x32, 64, // PUBLISH, flags: QoS 1; remaining length 64
				0, 3, "a/b", // topic name
				0, 1, // packet identifier 1
				54,      // property length 54
				0x01, 1, // Payload Format Indicator 1
				0x02, 0, 0, 0x0E, 0x10, // Message Expiry Interval 3600
				0x03, 0, 4, "json", // Content Type
				0x08, 0, 5, "reply", // Response Topic
				0x09, 0, 3, 1, 2, 3, // Correlation Data
				0x0B, 1, // Subscription Identifier 1
				0x0B, 0xFF, 0xFF, 0xFF, 0x7F, // Subscription Identifier 268435455 (four-byte maximum)
				0x23, 0, 7, // Topic Alias 7
				0x26, 0, 1, "k", 0, 2, "v1", // User Property k=v1
				0x26, 0, 1, "k", 0, 2, "v2", // User Property k=v2 (same name, order kept)
				"{}", // payload
			),
			Packet: &packet.Publish{QoS: packet.QoS1, Topic: "a/b", PacketID: 1, Payload: []byte("{}"),
				Properties: func() packet.Properties {
					p := props(packet.PropPayloadFormat, packet.PropMessageExpiry, packet.PropContentType,
						packet.PropResponseTopic, packet.PropCorrelationData, packet.PropTopicAlias)
					p.PayloadFormat = 1
					p.MessageExpiry = 3600
					p.ContentType = "json"
					p.ResponseTopic = "reply"
					p.CorrelationData = []byte{1, 2, 3}
					p.SubscriptionIDs = []uint32{1, 268435455}
					p.TopicAlias = 7
					p.User = []packet.UserProperty{{Key: "k", Value: "v1"}, {Key: "k", Value: "v2"}}
					return p
				}()},
		},
		{
			Name:     "PUBLISH 5.0 QoS 2, DUP, RETAIN, empty topic with a topic alias",
			Versions: v5,
			Spec:     "5.0 section 3.3.2.3.4",
			Raw: b(
				0x3D, 9, // PUBLISH, flags: DUP, QoS 2, RETAIN; remaining length 9
				0, 0, // topic name: empty
				0, 2, // packet identifier 2
				3,          // property length 3
				0x23, 0, 1, // Topic Alias 1
				"z", // payload
			),
			Packet: &packet.Publish{Dup: true, QoS: packet.QoS2, Retain: true, PacketID: 2, Payload: []byte("z"),
				Properties: func() packet.Properties {
					p := props(packet.PropTopicAlias)
					p.TopicAlias = 1
					return p
				}()},
		},
		{
			Name:     "PUBLISH 5.0 QoS 1 subscription identifier of two bytes, empty payload",
			Versions: v5,
			Raw: b(
				0x32, 11, // PUBLISH, flags: QoS 1; remaining length 11
				0, 3, "s/1", // topic name
				0, 3, // packet identifier 3
				3,                // property length 3
				0x0B, 0x80, 0x01, // Subscription Identifier 128
			),
			Packet: &packet.Publish{QoS: packet.QoS1, Topic: "s/1", PacketID: 3,
				Properties: packet.Properties{SubscriptionIDs: []uint32{128}}},
		},
	}
}

// ackCases covers PUBACK, PUBREC, PUBREL and PUBCOMP. PUBREL is the only
// one of the four with fixed header flags 0010 [MQTT-3.6.1-1].
func ackCases() []Case {
	type kind struct {
		name  string
		typ   packet.Type
		first int
	}
	kinds := []kind{
		{"PUBACK", packet.PUBACK, 0x40},
		{"PUBREC", packet.PUBREC, 0x50},
		{"PUBREL", packet.PUBREL, 0x62},
		{"PUBCOMP", packet.PUBCOMP, 0x70},
	}
	var cs []Case
	for i, k := range kinds {
		id := 1 + i
		cs = append(cs,
			Case{
				Name:     k.name + " 3.1/3.1.1",
				Versions: v34,
				Raw: b(
					k.first, 2, // fixed header, remaining length 2
					0, id, // packet identifier
				),
				Packet: &packet.Ack{PacketType: k.typ, PacketID: uint16(id)},
			},
			Case{
				Name:     k.name + " 5.0 short form: remaining length 2 means Success, no properties",
				Versions: v5,
				Spec:     "5.0 section 3.4.2.1",
				Raw: b(
					k.first, 2, // fixed header, remaining length 2
					0x01, id, // packet identifier
				),
				Packet: &packet.Ack{PacketType: k.typ, PacketID: uint16(0x100 + id)},
			},
			Case{
				Name:         k.name + " 5.0 Success with an empty property list (not the shortest form)",
				Versions:     v5,
				NonCanonical: true,
				Raw: b(
					k.first, 4, // fixed header, remaining length 4
					0x02, id, // packet identifier
					0x00, // reason code: Success
					0,    // property length 0
				),
				Packet: &packet.Ack{PacketType: k.typ, PacketID: uint16(0x200 + id)},
			},
			Case{
				Name:         k.name + " 5.0 Success, reason code only (not the shortest form)",
				Versions:     v5,
				NonCanonical: true,
				Raw: b(
					k.first, 3, // fixed header, remaining length 3
					0x03, id, // packet identifier
					0x00, // reason code: Success; no property length
				),
				Packet: &packet.Ack{PacketType: k.typ, PacketID: uint16(0x300 + id)},
			},
		)
	}
	// Remaining length 3: a reason code and no property length.
	cs = append(cs,
		Case{
			Name:     "PUBACK 5.0 reason code only: No matching subscribers",
			Versions: v5,
			Raw: b(
				0x40, 3, // PUBACK, remaining length 3
				0, 5, // packet identifier 5
				0x10, // reason code: No matching subscribers
			),
			Packet: &packet.Ack{PacketType: packet.PUBACK, PacketID: 5, ReasonCode: packet.NoMatchingSubscribers},
		},
		Case{
			Name:     "PUBREC 5.0 reason code only: Packet Identifier in use",
			Versions: v5,
			Raw: b(
				0x50, 3, // PUBREC, remaining length 3
				0, 6, // packet identifier 6
				0x91, // reason code: Packet Identifier in use
			),
			Packet: &packet.Ack{PacketType: packet.PUBREC, PacketID: 6, ReasonCode: packet.PacketIdentifierInUse},
		},
		Case{
			Name:     "PUBREL 5.0 reason code only: Packet Identifier not found",
			Versions: v5,
			Raw: b(
				0x62, 3, // PUBREL, remaining length 3
				0, 7, // packet identifier 7
				0x92, // reason code: Packet Identifier not found
			),
			Packet: &packet.Ack{PacketType: packet.PUBREL, PacketID: 7, ReasonCode: packet.PacketIdentifierNotFound},
		},
		Case{
			Name:     "PUBCOMP 5.0 reason code only: Packet Identifier not found",
			Versions: v5,
			Raw: b(
				0x70, 3, // PUBCOMP, remaining length 3
				0, 8, // packet identifier 8
				0x92, // reason code: Packet Identifier not found
			),
			Packet: &packet.Ack{PacketType: packet.PUBCOMP, PacketID: 8, ReasonCode: packet.PacketIdentifierNotFound},
		},
		Case{
			Name:     "PUBACK 5.0 Not authorized with reason string and user property",
			Versions: v5,
			Raw: b(
				0x40, 16, // PUBACK, remaining length 16
				0, 9, // packet identifier 9
				0x87,             // reason code: Not authorized
				12,               // property length 12
				0x1F, 0, 2, "no", // Reason String
				0x26, 0, 1, "a", 0, 1, "b", // User Property a=b
			),
			Packet: &packet.Ack{PacketType: packet.PUBACK, PacketID: 9, ReasonCode: packet.NotAuthorized,
				Properties: func() packet.Properties {
					p := props(packet.PropReasonString)
					p.ReasonString = "no"
					p.User = []packet.UserProperty{{Key: "a", Value: "b"}}
					return p
				}()},
		},
		Case{
			Name:     "PUBREC 5.0 Success with a reason string",
			Versions: v5,
			Raw: b(
				0x50, 10, // PUBREC, remaining length 10
				0, 11, // packet identifier 11
				0x00,              // reason code: Success (written because properties follow)
				6,                 // property length 6
				0x1F, 0, 3, "why", // Reason String
			),
			Packet: &packet.Ack{PacketType: packet.PUBREC, PacketID: 11,
				Properties: func() packet.Properties {
					p := props(packet.PropReasonString)
					p.ReasonString = "why"
					return p
				}()},
		},
		Case{
			Name:     "PUBREL 5.0 Packet Identifier not found with a user property",
			Versions: v5,
			Raw: b(
				0x62, 11, // PUBREL, remaining length 11
				0, 12, // packet identifier 12
				0x92,                       // reason code: Packet Identifier not found
				7,                          // property length 7
				0x26, 0, 1, "k", 0, 1, "v", // User Property k=v
			),
			Packet: &packet.Ack{PacketType: packet.PUBREL, PacketID: 12, ReasonCode: packet.PacketIdentifierNotFound,
				Properties: packet.Properties{User: []packet.UserProperty{{Key: "k", Value: "v"}}}},
		},
		Case{
			Name:     "PUBCOMP 5.0 Success with a user property",
			Versions: v5,
			Raw: b(
				0x70, 11, // PUBCOMP, remaining length 11
				0, 13, // packet identifier 13
				0x00,                       // reason code: Success
				7,                          // property length 7
				0x26, 0, 1, "k", 0, 1, "v", // User Property k=v
			),
			Packet: &packet.Ack{PacketType: packet.PUBCOMP, PacketID: 13,
				Properties: packet.Properties{User: []packet.UserProperty{{Key: "k", Value: "v"}}}},
		},
	)
	return cs
}
