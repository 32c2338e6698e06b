package packettest

import "github.com/tern-mq/tern/packet"

func connectCases() []Case {
	return []Case{
		{
			Name:     "CONNECT 3.1 minimal, clean session",
			Versions: v3,
			Raw: b(
				0x10, 17, // CONNECT, remaining length 17
				0, 6, "MQIsdp", // protocol name
				3,     // protocol level 3
				0x02,  // connect flags: clean session
				0, 60, // keep alive 60 s
				0, 3, "c31", // client identifier
			),
			Packet: &packet.Connect{ProtocolName: "MQIsdp", Version: packet.V31, CleanStart: true, KeepAlive: 60, ClientID: "c31"},
		},
		{
			Name:     "CONNECT 3.1 will, user name, password",
			Versions: v3,
			Raw: b(
				0x10, 30, // CONNECT, remaining length 30
				0, 6, "MQIsdp", // protocol name
				3,     // protocol level 3
				0xC6,  // flags: user name 0x80, password 0x40, will QoS 0, will 0x04, clean 0x02
				0, 30, // keep alive 30 s
				0, 3, "c31", // client identifier
				0, 1, "w", // will topic
				0, 2, "hi", // will message
				0, 1, "u", // user name
				0, 1, "p", // password
			),
			Packet: &packet.Connect{ProtocolName: "MQIsdp", Version: packet.V31, CleanStart: true, KeepAlive: 30, ClientID: "c31",
				WillFlag: true, WillTopic: "w", WillPayload: []byte("hi"),
				UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p")},
		},
		{
			Name:     "CONNECT 3.1.1 minimal, persistent session",
			Versions: v4,
			Raw: b(
				0x10, 15, // CONNECT, remaining length 15
				0, 4, "MQTT", // protocol name
				4,     // protocol level 4
				0x00,  // connect flags: none (clean session 0)
				0, 60, // keep alive 60 s
				0, 3, "zen", // client identifier
			),
			Packet: &packet.Connect{ProtocolName: "MQTT", Version: packet.V311, KeepAlive: 60, ClientID: "zen"},
		},
		{
			Name:     "CONNECT 3.1.1 empty client identifier",
			Versions: v4,
			Spec:     "[MQTT-3.1.3-6]",
			Raw: b(
				0x10, 12, // CONNECT, remaining length 12
				0, 4, "MQTT", // protocol name
				4,    // protocol level 4
				0x02, // connect flags: clean session
				0, 0, // keep alive 0: off
				0, 0, // client identifier: empty
			),
			Packet: &packet.Connect{ProtocolName: "MQTT", Version: packet.V311, CleanStart: true},
		},
		{
			Name:     "CONNECT 3.1.1 specification example: will QoS 1, user name, password, keep alive 10",
			Versions: v4,
			Spec:     "3.1.1 figure 3.6, variable header example",
			Raw: b(
				0x10, 35, // CONNECT, remaining length 35
				0, 4, "MQTT", // protocol name
				4,     // protocol level 4
				0xCE,  // flags: user name 0x80, password 0x40, will retain 0, will QoS 1 (0x08), will 0x04, clean 0x02
				0, 10, // keep alive 10 s
				0, 1, "c", // client identifier
				0, 3, "w/t", // will topic
				0, 3, "bye", // will message
				0, 4, "user", // user name
				0, 4, "pass", // password
			),
			Packet: &packet.Connect{ProtocolName: "MQTT", Version: packet.V311, CleanStart: true, KeepAlive: 10, ClientID: "c",
				WillFlag: true, WillQoS: packet.QoS1, WillTopic: "w/t", WillPayload: []byte("bye"),
				UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte("pass")},
		},
		{
			Name:     "CONNECT 3.1.1 retained QoS 2 will with empty message",
			Versions: v4,
			Raw: b(
				0x10, 20, // CONNECT, remaining length 20
				0, 4, "MQTT", // protocol name
				4,    // protocol level 4
				0x36, // flags: will retain 0x20, will QoS 2 (0x10), will 0x04, clean 0x02
				0, 0, // keep alive 0
				0, 3, "id1", // client identifier
				0, 1, "t", // will topic
				0, 0, // will message: empty
			),
			Packet: &packet.Connect{ProtocolName: "MQTT", Version: packet.V311, CleanStart: true, ClientID: "id1",
				WillFlag: true, WillQoS: packet.QoS2, WillRetain: true, WillTopic: "t"},
		},
		{
			Name:     "CONNECT 3.1.1 user name without password",
			Versions: v4,
			Raw: b(
				0x10, 20, // CONNECT, remaining length 20
				0, 4, "MQTT", // protocol name
				4,     // protocol level 4
				0x82,  // flags: user name 0x80, clean 0x02
				0, 60, // keep alive 60 s
				0, 1, "u", // client identifier
				0, 5, "alice", // user name
			),
			Packet: &packet.Connect{ProtocolName: "MQTT", Version: packet.V311, CleanStart: true, KeepAlive: 60, ClientID: "u",
				UsernameFlag: true, Username: "alice"},
		},
		{
			Name:     "CONNECT 5.0 minimal",
			Versions: v5,
			Raw: b(
				0x10, 16, // CONNECT, remaining length 16
				0, 4, "MQTT", // protocol name
				5,     // protocol level 5
				0x02,  // flags: clean start
				0, 60, // keep alive 60 s
				0,           // property length 0
				0, 3, "zen", // client identifier
			),
			Packet: &packet.Connect{ProtocolName: "MQTT", Version: packet.V5, CleanStart: true, KeepAlive: 60, ClientID: "zen"},
		},
		{
			Name:     "CONNECT 5.0 specification example: session expiry 10, will, user name, password",
			Versions: v5,
			Spec:     "5.0 figure 3-7, variable header example",
			Raw: b(
				0x10, 42, // CONNECT, remaining length 42
				0, 4, "MQTT", // protocol name
				5,     // protocol level 5
				0xCE,  // flags: user name 0x80, password 0x40, will retain 0, will QoS 1 (0x08), will 0x04, clean start 0x02
				0, 10, // keep alive 10 s
				5,                 // property length 5
				0x11, 0, 0, 0, 10, // Session Expiry Interval 10 s
				0, 1, "c", // client identifier
				0,           // will property length 0
				0, 3, "w/t", // will topic
				0, 3, "bye", // will payload
				0, 4, "user", // user name
				0, 4, "pass", // password
			),
			Packet: &packet.Connect{ProtocolName: "MQTT", Version: packet.V5, CleanStart: true, KeepAlive: 10,
				Properties: func() packet.Properties {
					p := props(packet.PropSessionExpiry)
					p.SessionExpiry = 10
					return p
				}(),
				ClientID: "c",
				WillFlag: true, WillQoS: packet.QoS1, WillTopic: "w/t", WillPayload: []byte("bye"),
				UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte("pass")},
		},
		{
			Name:     "CONNECT 5.0 every CONNECT property and every will property",
			Versions: v5,
			Raw: b(
				0x10, 0x85, 0x01, // CONNECT, remaining length 133 (two bytes)
				0, 4, "MQTT", // protocol name
				5,     // protocol level 5
				0xEE,  // flags: user name 0x80, password 0x40, will retain 0x20, will QoS 1 (0x08), will 0x04, clean start 0x02
				0, 30, // keep alive 30 s
				48,                     // property length 48
				0x11, 0, 0, 0x0E, 0x10, // Session Expiry Interval 3600
				0x15, 0, 5, "PLAIN", // Authentication Method
				0x16, 0, 3, 1, 2, 3, // Authentication Data
				0x17, 0, // Request Problem Information 0
				0x19, 1, // Request Response Information 1
				0x21, 0, 20, // Receive Maximum 20
				0x22, 0, 10, // Topic Alias Maximum 10
				0x26, 0, 1, "a", 0, 1, "1", // User Property a=1
				0x26, 0, 1, "a", 0, 1, "2", // User Property a=2 (same name again, order kept)
				0x27, 0, 0, 0x10, 0, // Maximum Packet Size 4096
				0, 4, "full", // client identifier
				45,      // will property length 45
				0x01, 1, // Payload Format Indicator 1 (UTF-8)
				0x02, 0, 0, 0, 60, // Message Expiry Interval 60
				0x03, 0, 10, "text/plain", // Content Type
				0x08, 0, 5, "reply", // Response Topic
				0x09, 0, 2, 0xAB, 0xCD, // Correlation Data
				0x18, 0, 0, 0, 5, // Will Delay Interval 5
				0x26, 0, 1, "k", 0, 1, "v", // User Property k=v
				0, 4, "will", // will topic
				0, 4, "gone", // will payload
				0, 4, "user", // user name
				0, 2, 0x00, 0xFF, // password: binary, not UTF-8
			),
			Packet: &packet.Connect{ProtocolName: "MQTT", Version: packet.V5, CleanStart: true, KeepAlive: 30,
				Properties: func() packet.Properties {
					p := props(packet.PropSessionExpiry, packet.PropAuthMethod, packet.PropAuthData, packet.PropRequestProblemInfo,
						packet.PropRequestResponseInfo, packet.PropReceiveMaximum, packet.PropTopicAliasMaximum, packet.PropMaximumPacketSize)
					p.SessionExpiry = 3600
					p.AuthMethod = "PLAIN"
					p.AuthData = []byte{1, 2, 3}
					p.RequestProblemInfo = 0
					p.RequestResponseInfo = 1
					p.ReceiveMaximum = 20
					p.TopicAliasMaximum = 10
					p.User = []packet.UserProperty{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}}
					p.MaximumPacketSize = 4096
					return p
				}(),
				ClientID: "full",
				WillFlag: true, WillQoS: packet.QoS1, WillRetain: true,
				WillProperties: func() packet.Properties {
					p := props(packet.PropPayloadFormat, packet.PropMessageExpiry, packet.PropContentType, packet.PropResponseTopic,
						packet.PropCorrelationData, packet.PropWillDelay)
					p.PayloadFormat = 1
					p.MessageExpiry = 60
					p.ContentType = "text/plain"
					p.ResponseTopic = "reply"
					p.CorrelationData = []byte{0xAB, 0xCD}
					p.WillDelay = 5
					p.User = []packet.UserProperty{{Key: "k", Value: "v"}}
					return p
				}(),
				WillTopic: "will", WillPayload: []byte("gone"),
				UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte{0x00, 0xFF}},
		},
		{
			Name:     "CONNECT 5.0 properties out of identifier order",
			Versions: v5,
			// An encoder writes properties in identifier order; any order
			// is valid on the wire.
			NonCanonical: true,
			Raw: b(
				0x10, 24, // CONNECT, remaining length 24
				0, 4, "MQTT", // protocol name
				5,    // protocol level 5
				0x00, // flags: none
				0, 0, // keep alive 0
				8,          // property length 8
				0x21, 0, 5, // Receive Maximum 5
				0x11, 0, 0, 0, 0, // Session Expiry Interval 0 (present, zero)
				0, 3, "ooo", // client identifier
			),
			Packet: &packet.Connect{ProtocolName: "MQTT", Version: packet.V5, ClientID: "ooo",
				Properties: func() packet.Properties {
					p := props(packet.PropReceiveMaximum, packet.PropSessionExpiry)
					p.ReceiveMaximum = 5
					return p
				}()},
		},
		{
			Name:     "CONNECT 5.0 password without user name",
			Versions: v5,
			Spec:     "5.0 section 3.1.2.9 allows a password without a user name",
			Raw: b(
				0x10, 19, // CONNECT, remaining length 19
				0, 4, "MQTT", // protocol name
				5,     // protocol level 5
				0x42,  // flags: password 0x40, clean start 0x02
				0, 60, // keep alive 60 s
				0,         // property length 0
				0, 1, "p", // client identifier
				0, 3, "pwd", // password
			),
			Packet: &packet.Connect{ProtocolName: "MQTT", Version: packet.V5, CleanStart: true, KeepAlive: 60, ClientID: "p",
				PasswordFlag: true, Password: []byte("pwd")},
		},
	}
}

func connackCases() []Case {
	cs := []Case{
		{
			Name:     "CONNACK 3.1.1 accepted, session present",
			Versions: v4,
			Spec:     "[MQTT-3.2.2-2]",
			Raw: b(
				0x20, 2, // CONNACK, remaining length 2
				0x01, // acknowledge flags: session present
				0x00, // return code 0: accepted
			),
			Packet: &packet.Connack{SessionPresent: true, ReasonCode: packet.ConnAccepted311},
		},
		{
			Name:     "CONNACK 5.0 success, no properties",
			Versions: v5,
			Raw: b(
				0x20, 3, // CONNACK, remaining length 3
				0x00, // acknowledge flags: no session present
				0x00, // reason code: Success
				0,    // property length 0
			),
			Packet: &packet.Connack{ReasonCode: packet.Success},
		},
		{
			Name:     "CONNACK 5.0 not authorized with reason string",
			Versions: v5,
			Raw: b(
				0x20, 12, // CONNACK, remaining length 12
				0x00,                 // acknowledge flags
				0x87,                 // reason code: Not authorized
				9,                    // property length 9
				0x1F, 0, 6, "denied", // Reason String
			),
			Packet: &packet.Connack{ReasonCode: packet.NotAuthorized, Properties: func() packet.Properties {
				p := props(packet.PropReasonString)
				p.ReasonString = "denied"
				return p
			}()},
		},
		{
			Name:     "CONNACK 5.0 unsupported protocol version",
			Versions: v5,
			Raw: b(
				0x20, 3, // CONNACK, remaining length 3
				0x00, // acknowledge flags
				0x84, // reason code: Unsupported Protocol Version
				0,    // property length 0
			),
			Packet: &packet.Connack{ReasonCode: packet.UnsupportedProtocolVersion},
		},
		{
			Name:     "CONNACK 5.0 session present, every CONNACK property",
			Versions: v5,
			Raw: b(
				0x20, 78, // CONNACK, remaining length 78
				0x01,               // acknowledge flags: session present
				0x00,               // reason code: Success
				75,                 // property length 75
				0x11, 0, 0, 0, 120, // Session Expiry Interval 120
				0x12, 0, 4, "auto", // Assigned Client Identifier
				0x13, 0, 30, // Server Keep Alive 30
				0x15, 0, 5, "PLAIN", // Authentication Method
				0x16, 0, 1, 9, // Authentication Data
				0x1A, 0, 4, "resp", // Response Information
				0x1C, 0, 5, "other", // Server Reference
				0x1F, 0, 2, "ok", // Reason String
				0x21, 0x01, 0x00, // Receive Maximum 256
				0x22, 0, 5, // Topic Alias Maximum 5
				0x24, 1, // Maximum QoS 1
				0x25, 0, // Retain Available 0
				0x26, 0, 1, "x", 0, 1, "y", // User Property x=y
				0x27, 0, 1, 0, 0, // Maximum Packet Size 65536
				0x28, 0, // Wildcard Subscription Available 0
				0x29, 1, // Subscription Identifiers Available 1
				0x2A, 0, // Shared Subscription Available 0
			),
			Packet: &packet.Connack{SessionPresent: true, ReasonCode: packet.Success, Properties: func() packet.Properties {
				p := props(packet.PropSessionExpiry, packet.PropAssignedClientID, packet.PropServerKeepAlive, packet.PropAuthMethod,
					packet.PropAuthData, packet.PropResponseInfo, packet.PropServerReference, packet.PropReasonString,
					packet.PropReceiveMaximum, packet.PropTopicAliasMaximum, packet.PropMaximumQoS, packet.PropRetainAvailable,
					packet.PropMaximumPacketSize, packet.PropWildcardSubAvailable, packet.PropSubIDAvailable, packet.PropSharedSubAvailable)
				p.SessionExpiry = 120
				p.AssignedClientID = "auto"
				p.ServerKeepAlive = 30
				p.AuthMethod = "PLAIN"
				p.AuthData = []byte{9}
				p.ResponseInfo = "resp"
				p.ServerReference = "other"
				p.ReasonString = "ok"
				p.ReceiveMaximum = 256
				p.TopicAliasMaximum = 5
				p.MaximumQoS = 1
				p.RetainAvailable = 0
				p.User = []packet.UserProperty{{Key: "x", Value: "y"}}
				p.MaximumPacketSize = 65536
				p.WildcardSubAvailable = 0
				p.SubIDAvailable = 1
				p.SharedSubAvailable = 0
				return p
			}()},
		},
	}
	// The 3.1 and 3.1.1 return codes 0 to 5, session present 0.
	names := []string{"accepted", "unacceptable protocol version", "identifier rejected",
		"server unavailable", "bad user name or password", "not authorized"}
	for code, name := range names {
		cs = append(cs, Case{
			Name:     "CONNACK 3.1/3.1.1 return code " + string(rune('0'+code)) + ": " + name,
			Versions: v34,
			Spec:     "3.1.1 table 3.1",
			Raw: b(
				0x20, 2, // CONNACK, remaining length 2
				0x00, // acknowledge flags: none
				code, // return code
			),
			Packet: &packet.Connack{ReasonCode: packet.ReasonCode(code)},
		})
	}
	return cs
}
