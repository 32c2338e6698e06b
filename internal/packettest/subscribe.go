package packettest

import "github.com/tern-mq/tern/packet"

func subscribeCases() []Case {
	return []Case{
		{
			Name:     "SUBSCRIBE 3.1/3.1.1 one filter",
			Versions: v34,
			Raw: b(
				0x82, 8, // SUBSCRIBE, flags 0010 [MQTT-3.8.1-1]; remaining length 8
				0, 1, // packet identifier 1
				0, 3, "a/b", // topic filter
				0x01, // requested QoS 1
			),
			Packet: &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
				{Filter: "a/b", Options: packet.SubOptions{QoS: packet.QoS1}}}},
		},
		{
			Name:     "SUBSCRIBE 3.1/3.1.1 three filters with wildcards",
			Versions: v34,
			Raw: b(
				0x82, 21, // SUBSCRIBE, remaining length 21
				0, 10, // packet identifier 10
				0, 3, "a/+", // topic filter
				0x00,      // requested QoS 0
				0, 1, "#", // topic filter
				0x01,           // requested QoS 1
				0, 6, "$SYS/#", // topic filter
				0x02, // requested QoS 2
			),
			Packet: &packet.Subscribe{PacketID: 10, Subscriptions: []packet.Subscription{
				{Filter: "a/+"},
				{Filter: "#", Options: packet.SubOptions{QoS: packet.QoS1}},
				{Filter: "$SYS/#", Options: packet.SubOptions{QoS: packet.QoS2}},
			}},
		},
		{
			Name:     "SUBSCRIBE 5.0 subscription options bits",
			Versions: v5,
			Spec:     "5.0 figure 3-23 subscription options byte",
			Raw: b(
				0x82, 28, // SUBSCRIBE, remaining length 28
				0, 2, // packet identifier 2
				0,         // property length 0
				0, 1, "a", // topic filter
				0x2E,      // options: retain handling 2 (0x20), retain as published 0x08, no local 0x04, QoS 2
				0, 1, "b", // topic filter
				0x11,      // options: retain handling 1 (0x10), QoS 1
				0, 1, "c", // topic filter
				0x00,                // options: all zero
				0, 10, "$share/g/d", // topic filter (shared subscription)
				0x09, // options: retain as published 0x08, QoS 1
			),
			Packet: &packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{
				{Filter: "a", Options: packet.SubOptions{QoS: packet.QoS2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2}},
				{Filter: "b", Options: packet.SubOptions{QoS: packet.QoS1, RetainHandling: 1}},
				{Filter: "c"},
				{Filter: "$share/g/d", Options: packet.SubOptions{QoS: packet.QoS1, RetainAsPublished: true}},
			}},
		},
		{
			Name:     "SUBSCRIBE 5.0 subscription identifier and user property",
			Versions: v5,
			Raw: b(
				0x82, 19, // SUBSCRIBE, remaining length 19
				0, 3, // packet identifier 3
				10,               // property length 10
				0x0B, 0x80, 0x01, // Subscription Identifier 128
				0x26, 0, 1, "k", 0, 1, "v", // User Property k=v
				0, 3, "x/#", // topic filter
				0x01, // options: QoS 1
			),
			Packet: &packet.Subscribe{PacketID: 3,
				Properties:    packet.Properties{SubscriptionIDs: []uint32{128}, User: []packet.UserProperty{{Key: "k", Value: "v"}}},
				Subscriptions: []packet.Subscription{{Filter: "x/#", Options: packet.SubOptions{QoS: packet.QoS1}}}},
		},
		{
			Name:     "SUBACK 3.1/3.1.1 one granted QoS",
			Versions: v34,
			Raw: b(
				0x90, 3, // SUBACK, remaining length 3
				0, 1, // packet identifier 1
				0x01, // granted QoS 1
			),
			Packet: &packet.Suback{PacketID: 1, ReasonCodes: []packet.ReasonCode{packet.GrantedQoS1}},
		},
		{
			Name:     "SUBACK 3.1.1 granted QoS 0, 1, 2 and failure",
			Versions: v4,
			Spec:     "3.1.1 section 3.9.3",
			Raw: b(
				0x90, 6, // SUBACK, remaining length 6
				0, 10, // packet identifier 10
				0x00, 0x01, 0x02, // granted QoS 0, 1, 2
				0x80, // failure
			),
			Packet: &packet.Suback{PacketID: 10, ReasonCodes: []packet.ReasonCode{0, 1, 2, packet.SubackFailure311}},
		},
		{
			Name:     "SUBACK 5.0 granted and refused",
			Versions: v5,
			Raw: b(
				0x90, 7, // SUBACK, remaining length 7
				0, 2, // packet identifier 2
				0,          // property length 0
				0x02, 0x01, // Granted QoS 2, Granted QoS 1
				0x00, // Granted QoS 0
				0x87, // Not authorized
			),
			Packet: &packet.Suback{PacketID: 2, ReasonCodes: []packet.ReasonCode{
				packet.GrantedQoS2, packet.GrantedQoS1, packet.Success, packet.NotAuthorized}},
		},
		{
			Name:     "SUBACK 5.0 quota exceeded with reason string",
			Versions: v5,
			Raw: b(
				0x90, 12, // SUBACK, remaining length 12
				0, 3, // packet identifier 3
				8,                   // property length 8
				0x1F, 0, 5, "quota", // Reason String
				0x97, // Quota exceeded
			),
			Packet: &packet.Suback{PacketID: 3, ReasonCodes: []packet.ReasonCode{packet.QuotaExceeded},
				Properties: func() packet.Properties {
					p := props(packet.PropReasonString)
					p.ReasonString = "quota"
					return p
				}()},
		},
		{
			Name:     "UNSUBSCRIBE 3.1/3.1.1 two filters",
			Versions: v34,
			Raw: b(
				0xA2, 10, // UNSUBSCRIBE, flags 0010 [MQTT-3.10.1-1]; remaining length 10
				0, 4, // packet identifier 4
				0, 3, "a/b", // topic filter
				0, 1, "#", // topic filter
			),
			Packet: &packet.Unsubscribe{PacketID: 4, Filters: []string{"a/b", "#"}},
		},
		{
			Name:     "UNSUBSCRIBE 5.0 with a user property",
			Versions: v5,
			Raw: b(
				0xA2, 15, // UNSUBSCRIBE, remaining length 15
				0, 5, // packet identifier 5
				7,                          // property length 7
				0x26, 0, 1, "k", 0, 1, "v", // User Property k=v
				0, 3, "a/b", // topic filter
			),
			Packet: &packet.Unsubscribe{PacketID: 5, Filters: []string{"a/b"},
				Properties: packet.Properties{User: []packet.UserProperty{{Key: "k", Value: "v"}}}},
		},
		{
			Name:     "UNSUBACK 3.1/3.1.1: no reason codes",
			Versions: v34,
			Raw: b(
				0xB0, 2, // UNSUBACK, remaining length 2
				0, 4, // packet identifier 4
			),
			Packet: &packet.Unsuback{PacketID: 4},
		},
		{
			Name:     "UNSUBACK 5.0 reason codes",
			Versions: v5,
			Raw: b(
				0xB0, 5, // UNSUBACK, remaining length 5
				0, 5, // packet identifier 5
				0,    // property length 0
				0x00, // Success
				0x11, // No subscription existed
			),
			Packet: &packet.Unsuback{PacketID: 5, ReasonCodes: []packet.ReasonCode{packet.Success, packet.NoSubscriptionExisted}},
		},
		{
			Name:     "UNSUBACK 5.0 with a reason string",
			Versions: v5,
			Raw: b(
				0xB0, 8, // UNSUBACK, remaining length 8
				0, 6, // packet identifier 6
				4,               // property length 4
				0x1F, 0, 1, "r", // Reason String
				0x87, // Not authorized
			),
			Packet: &packet.Unsuback{PacketID: 6, ReasonCodes: []packet.ReasonCode{packet.NotAuthorized},
				Properties: func() packet.Properties {
					p := props(packet.PropReasonString)
					p.ReasonString = "r"
					return p
				}()},
		},
	}
}

// otherCases covers PINGREQ, PINGRESP, DISCONNECT and AUTH.
func otherCases() []Case {
	return []Case{
		{
			Name:     "PINGREQ",
			Versions: v345,
			Raw: b(
				0xC0, 0, // PINGREQ, remaining length 0
			),
			Packet: &packet.Pingreq{},
		},
		{
			Name:     "PINGRESP",
			Versions: v345,
			Raw: b(
				0xD0, 0, // PINGRESP, remaining length 0
			),
			Packet: &packet.Pingresp{},
		},
		{
			Name:     "DISCONNECT 3.1/3.1.1; 5.0 short form (Normal disconnection, no properties)",
			Versions: v345,
			Spec:     "5.0 section 3.14.2.1",
			Raw: b(
				0xE0, 0, // DISCONNECT, remaining length 0
			),
			Packet: &packet.Disconnect{},
		},
		{
			Name:     "DISCONNECT 5.0 reason code only: Disconnect with Will Message",
			Versions: v5,
			Spec:     "5.0 section 3.14.2.2.1 (no property length: 0)",
			Raw: b(
				0xE0, 1, // DISCONNECT, remaining length 1
				0x04, // reason code: Disconnect with Will Message; no property length
			),
			Packet: &packet.Disconnect{ReasonCode: packet.DisconnectWithWill},
		},
		{
			Name:         "DISCONNECT 5.0 Normal disconnection with an empty property list (not the shortest form)",
			Versions:     v5,
			NonCanonical: true,
			Raw: b(
				0xE0, 2, // DISCONNECT, remaining length 2
				0x00, // reason code: Normal disconnection
				0,    // property length 0
			),
			Packet: &packet.Disconnect{},
		},
		{
			Name:     "DISCONNECT 5.0 Normal disconnection with session expiry",
			Versions: v5,
			Raw: b(
				0xE0, 7, // DISCONNECT, remaining length 7
				0x00,             // reason code: Normal disconnection
				5,                // property length 5
				0x11, 0, 0, 0, 0, // Session Expiry Interval 0
			),
			Packet: &packet.Disconnect{Properties: props(packet.PropSessionExpiry)},
		},
		{
			Name:     "DISCONNECT 5.0 Use another server with server reference, reason string, user property",
			Versions: v5,
			Raw: b(
				0xE0, 24, // DISCONNECT, remaining length 24
				0x9C,                // reason code: Use another server
				22,                  // property length 22
				0x1C, 0, 5, "other", // Server Reference
				0x1F, 0, 4, "move", // Reason String
				0x26, 0, 1, "k", 0, 1, "v", // User Property k=v
			),
			Packet: &packet.Disconnect{ReasonCode: packet.UseAnotherServer, Properties: func() packet.Properties {
				p := props(packet.PropServerReference, packet.PropReasonString)
				p.ServerReference = "other"
				p.ReasonString = "move"
				p.User = []packet.UserProperty{{Key: "k", Value: "v"}}
				return p
			}()},
		},
		{
			Name:     "AUTH 5.0 short form: Success, no properties",
			Versions: v5,
			Spec:     "5.0 section 3.15.2.1",
			Raw: b(
				0xF0, 0, // AUTH, remaining length 0
			),
			Packet: &packet.Auth{},
		},
		{
			Name:     "AUTH 5.0 Continue authentication with method, data, reason string, user property",
			Versions: v5,
			Raw: b(
				0xF0, 28, // AUTH, remaining length 28
				0x18,                // reason code: Continue authentication
				26,                  // property length 26
				0x15, 0, 5, "SCRAM", // Authentication Method
				0x16, 0, 4, 1, 2, 3, 4, // Authentication Data
				0x1F, 0, 1, "c", // Reason String
				0x26, 0, 1, "k", 0, 1, "v", // User Property k=v
			),
			Packet: &packet.Auth{ReasonCode: packet.ContinueAuthentication, Properties: func() packet.Properties {
				p := props(packet.PropAuthMethod, packet.PropAuthData, packet.PropReasonString)
				p.AuthMethod = "SCRAM"
				p.AuthData = []byte{1, 2, 3, 4}
				p.ReasonString = "c"
				p.User = []packet.UserProperty{{Key: "k", Value: "v"}}
				return p
			}()},
		},
		{
			Name:     "AUTH 5.0 Re-authenticate",
			Versions: v5,
			Raw: b(
				0xF0, 10, // AUTH, remaining length 10
				0x19,                // reason code: Re-authenticate
				8,                   // property length 8
				0x15, 0, 5, "PLAIN", // Authentication Method
			),
			Packet: &packet.Auth{ReasonCode: packet.ReAuthenticate, Properties: func() packet.Properties {
				p := props(packet.PropAuthMethod)
				p.AuthMethod = "PLAIN"
				return p
			}()},
		},
	}
}
