package packet

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestEncodeErrors(t *testing.T) {
	long := strings.Repeat("a", 65536)
	withProp := func(id PropID) Properties { var p Properties; p.Set(id); return p }
	userProps := Properties{User: []UserProperty{{"k", "v"}}}
	cases := []struct {
		name, tag string
		p         Packet
		v         Version
		code      ReasonCode
	}{
		{"PUBLISH QoS 3", "[MQTT-3.3.1-4]", &Publish{QoS: 3, Topic: "a", PacketID: 1}, V311, MalformedPacket},
		{"PUBLISH QoS 1 id 0", "[MQTT-2.3.1-1] [MQTT5-2.2.1-3]", &Publish{QoS: 1, Topic: "a"}, V5, ProtocolError},
		{"PUBLISH DUP at QoS 0", "[MQTT-3.3.1-2]", &Publish{Dup: true, Topic: "a"}, V311, MalformedPacket},
		{"PUBLISH wildcard topic", "[MQTT-3.3.2-2]", &Publish{Topic: "a/+"}, V311, TopicNameInvalid},
		{"PUBLISH empty topic 3.1.1", "[MQTT-4.7.3-1]", &Publish{}, V311, TopicNameInvalid},
		{"PUBLISH empty topic without alias", "§3.3.2.1", &Publish{}, V5, ProtocolError},
		{"PUBLISH topic too long", "[MQTT-4.7.3-3] [MQTT5-4.7.3-3]", &Publish{Topic: long}, V311, MalformedPacket},
		{"PUBLISH topic with U+0000", "[MQTT-4.7.3-2]", &Publish{Topic: "a\x00"}, V311, MalformedPacket},
		{"PUBLISH properties in 3.1.1", "§2.2.2", &Publish{Topic: "a", Properties: userProps}, V311, ProtocolError},
		{"PUBLISH Session Expiry", "§2.2.2.2", &Publish{Topic: "a", Properties: withProp(PropSessionExpiry)}, V5, ProtocolError},
		{"PUBLISH Topic Alias 0", "[MQTT5-3.3.2-8]", &Publish{Topic: "a", Properties: withProp(PropTopicAlias)}, V5, ProtocolError},
		{"PUBLISH unknown property bit", "§2.2.2.2", &Publish{Topic: "a", Properties: Properties{Present: 1 << 5}}, V5, MalformedPacket},
		{"PUBLISH Subscription Identifier 0", "§3.3.2.3.8", &Publish{Topic: "a", Properties: Properties{SubscriptionIDs: []uint32{0}}}, V5, ProtocolError},
		{"PUBLISH Response Topic with wildcard", "[MQTT5-3.3.2-14]", &Publish{Topic: "a", Properties: Properties{Present: 1 << PropResponseTopic, ResponseTopic: "#"}}, V5, ProtocolError},
		{"PUBLISH Content Type too long", "[MQTT5-3.3.2-19]", &Publish{Topic: "a", Properties: Properties{Present: 1 << PropContentType, ContentType: long}}, V5, MalformedPacket},
		{"PUBLISH invalid user property", "[MQTT5-1.5.7-1]", &Publish{Topic: "a", Properties: Properties{User: []UserProperty{{"\xff", ""}}}}, V5, MalformedPacket},
		{"PUBACK id 0", "[MQTT-2.3.1-6]", &Ack{PacketType: PUBACK}, V311, ProtocolError},
		{"PUBACK reason code in 3.1.1", "§3.4", &Ack{PacketType: PUBACK, PacketID: 1, ReasonCode: UnspecifiedError}, V311, ProtocolError},
		{"PUBREL invalid reason code", "[MQTT5-3.6.2-1]", &Ack{PacketType: PUBREL, PacketID: 1, ReasonCode: UnspecifiedError}, V5, ProtocolError},
		{"Ack of type SUBACK", "§3.4", &Ack{PacketType: SUBACK, PacketID: 1}, V5, MalformedPacket},
		{"PUBACK Topic Alias", "§2.2.2.2", &Ack{PacketType: PUBACK, PacketID: 1, Properties: withProp(PropTopicAlias)}, V5, ProtocolError},
		{"CONNECT level 6", "[MQTT-3.1.2-2]", &Connect{Version: 6}, V5, UnsupportedProtocolVersion},
		{"CONNECT wrong name", "[MQTT-3.1.2-1]", &Connect{Version: V311, ProtocolName: "MQIsdp"}, V5, UnsupportedProtocolVersion},
		{"CONNECT will QoS without will", "[MQTT-3.1.2-13]", &Connect{Version: V311, WillQoS: 1}, V311, MalformedPacket},
		{"CONNECT will topic without will", "[MQTT-3.1.2-11]", &Connect{Version: V311, WillTopic: "a"}, V311, MalformedPacket},
		{"CONNECT will QoS 3", "[MQTT-3.1.2-14]", &Connect{Version: V311, WillFlag: true, WillTopic: "a", WillQoS: 3}, V311, MalformedPacket},
		{"CONNECT will wildcard topic", "[MQTT-4.7.1-1]", &Connect{Version: V311, WillFlag: true, WillTopic: "#"}, V311, TopicNameInvalid},
		{"CONNECT password without user name", "[MQTT-3.1.2-22]", &Connect{Version: V311, PasswordFlag: true}, V311, MalformedPacket},
		{"CONNECT user name without flag", "[MQTT-3.1.2-18]", &Connect{Version: V311, Username: "u"}, V311, MalformedPacket},
		{"CONNECT client id too long", "[MQTT-3.1.3-4]", &Connect{Version: V311, ClientID: long}, V311, MalformedPacket},
		{"CONNECT will properties in 3.1.1", "§2.2.2", &Connect{Version: V311, WillFlag: true, WillTopic: "a", WillProperties: userProps}, V311, ProtocolError},
		{"CONNECT Will Delay in CONNECT properties", "§2.2.2.2", &Connect{Version: V5, Properties: withProp(PropWillDelay)}, V5, ProtocolError},
		{"CONNECT Receive Maximum 0", "§3.1.2.11.3", &Connect{Version: V5, Properties: withProp(PropReceiveMaximum)}, V5, ProtocolError},
		{"CONNECT Authentication Data without Method", "§3.1.2.11.10", &Connect{Version: V5, Properties: Properties{Present: 1 << PropAuthData, AuthData: []byte{1}}}, V5, ProtocolError},
		{"CONNACK session present in 3.1", "MQTT 3.1 §3.2", &Connack{SessionPresent: true}, V31, ProtocolError},
		{"CONNACK session present with refusal", "[MQTT-3.2.2-4] [MQTT5-3.2.2-6]", &Connack{SessionPresent: true, ReasonCode: NotAuthorized}, V5, ProtocolError},
		{"CONNACK 3.1.1 return code 6", "§3.2.2.3", &Connack{ReasonCode: 6}, V311, MalformedPacket},
		{"CONNACK 5 reason code 0x01", "[MQTT5-3.2.2-8]", &Connack{ReasonCode: 1}, V5, ProtocolError},
		{"SUBSCRIBE id 0", "[MQTT-2.3.1-1]", &Subscribe{Subscriptions: []Subscription{{Filter: "a"}}}, V311, ProtocolError},
		{"SUBSCRIBE empty", "[MQTT-3.8.3-3]", &Subscribe{PacketID: 1}, V311, ProtocolError},
		{"SUBSCRIBE QoS 3", "[MQTT-3.8.3-4]", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", Options: SubOptions{QoS: 3}}}}, V311, MalformedPacket},
		{"SUBSCRIBE No Local in 3.1.1", "[MQTT-3.8.3-4]", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", Options: SubOptions{NoLocal: true}}}}, V311, ProtocolError},
		{"SUBSCRIBE Retain Handling 3", "§3.8.3.1", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", Options: SubOptions{RetainHandling: 3}}}}, V5, ProtocolError},
		{"SUBSCRIBE No Local shared", "[MQTT5-3.8.3-4]", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "$share/g/a", Options: SubOptions{NoLocal: true}}}}, V5, ProtocolError},
		{"SUBSCRIBE two Subscription Identifiers", "§3.8.2.1.2", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a"}}, Properties: Properties{SubscriptionIDs: []uint32{1, 2}}}, V5, ProtocolError},
		{"SUBSCRIBE bad filter", "[MQTT-3.8.3-1]", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "\xff"}}}, V311, MalformedPacket},
		{"SUBACK 0x81 in 3.1", "MQTT 3.1 §3.9", &Suback{PacketID: 1, ReasonCodes: []ReasonCode{0x81}}, V31, ProtocolError},
		{"SUBACK empty", "[MQTT-3.8.4-5]", &Suback{PacketID: 1}, V311, ProtocolError},
		{"SUBACK 5 code 0x11", "[MQTT5-3.9.3-2]", &Suback{PacketID: 1, ReasonCodes: []ReasonCode{0x11}}, V5, ProtocolError},
		{"UNSUBSCRIBE empty", "[MQTT-3.10.3-2]", &Unsubscribe{PacketID: 1}, V311, ProtocolError},
		{"UNSUBSCRIBE id 0", "[MQTT-2.3.1-1]", &Unsubscribe{Filters: []string{"a"}}, V5, ProtocolError},
		{"UNSUBACK codes in 3.1.1", "§3.11", &Unsuback{PacketID: 1, ReasonCodes: []ReasonCode{0}}, V311, ProtocolError},
		{"UNSUBACK 5 without codes", "[MQTT5-3.11.3-1]", &Unsuback{PacketID: 1}, V5, ProtocolError},
		{"DISCONNECT reason in 3.1.1", "§3.14", &Disconnect{ReasonCode: ServerBusy}, V311, ProtocolError},
		{"DISCONNECT code 0x01", "[MQTT5-3.14.2-1]", &Disconnect{ReasonCode: 1}, V5, ProtocolError},
		{"AUTH in 3.1.1", "§2.2.1", &Auth{}, V311, ProtocolError},
		{"AUTH code 0x80", "[MQTT5-3.15.2-1]", &Auth{ReasonCode: 0x80}, V5, ProtocolError},
		{"nil packet", "", nil, V5, ImplementationSpecificError},
		{"nil *Publish", "", (*Publish)(nil), V5, ImplementationSpecificError},
		{"nil *Connack", "", (*Connack)(nil), V5, ImplementationSpecificError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := []byte("prefix")
			out, err := Append(dst, c.p, c.v)
			if !isCode(err, c.code) {
				t.Fatalf("%s: Append(%#v) error %v; want code %v", c.tag, c.p, err, c.code)
			}
			if string(out) != "prefix" || len(out) != len(dst) {
				t.Fatalf("%s: dst changed to %q", c.tag, out)
			}
		})
	}
}

// TestEncodeBytes checks a few exact encodings against the specification's
// layouts (golden_test.go holds the annotated vectors).
func TestEncodeBytes(t *testing.T) {
	cases := []struct {
		name string
		p    Packet
		v    Version
		want []byte
	}{
		{"PUBACK 5 short form", &Ack{PacketType: PUBACK, PacketID: 7}, V5, hx("40 02 00 07")},
		{"PUBREC 5 reason only", &Ack{PacketType: PUBREC, PacketID: 7, ReasonCode: NoMatchingSubscribers}, V5, hx("50 03 00 07 10")},
		{"PUBREL flags", &Ack{PacketType: PUBREL, PacketID: 7}, V311, hx("62 02 00 07")},
		{"DISCONNECT 5 normal", &Disconnect{}, V5, hx("E0 00")},
		{"DISCONNECT 5 reason", &Disconnect{ReasonCode: ServerBusy}, V5, hx("E0 01 89")},
		{"AUTH 5 reason", &Auth{ReasonCode: ReAuthenticate}, V5, hx("F0 02 19 00")},
		{"AUTH 5 success", &Auth{}, V5, hx("F0 00")},
		{"PUBLISH QoS 0 ignores PacketID", &Publish{Topic: "a", PacketID: 9, Payload: []byte("x")}, V311, hx("30 04 00 01 61 78")},
		{"CONNECT 3.1 name", &Connect{Version: V31, ClientID: "c", CleanStart: true}, V311, pk(0x10, "00 06 'MQIsdp' 03 02 00 00 00 01 'c'")},
		{"CONNECT takes v when Version is 0", &Connect{ClientID: "c"}, V5, pk(0x10, connectHdr5, "00 00 00 00 00 01 'c'")},
		{"SUBSCRIBE options", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", Options: SubOptions{QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2}}}}, V5, pk(0x82, "00 01 00", topicA, "2E")},
		{"CONNACK 5 empty properties", &Connack{SessionPresent: true}, V5, hx("20 03 01 00 00")},
		{"UNSUBACK 3.1.1", &Unsuback{PacketID: 3}, V311, hx("B0 02 00 03")},
		{"PINGREQ", &Pingreq{}, V311, hx("C0 00")},
		{"property order and repeats", &Publish{Topic: "a", Properties: Properties{Present: 1<<PropTopicAlias | 1<<PropPayloadFormat,
			TopicAlias: 2, PayloadFormat: 1, SubscriptionIDs: []uint32{1, 300}, User: []UserProperty{{"b", "1"}, {"a", "2"}}}}, V5,
			pk(0x30, topicA, props("01 01 0B 01 0B AC 02 23 00 02 26 00 01 'b' 00 01 '1' 26 00 01 'a' 00 01 '2'"))},
	}
	for _, c := range cases {
		got, err := Append(nil, c.p, c.v)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("%s: Append = %x, %v; want %x", c.name, got, err, c.want)
		}
	}
}

func TestFit(t *testing.T) {
	base := func() *Ack {
		return &Ack{PacketType: PUBACK, PacketID: 1, ReasonCode: UnspecifiedError, Properties: Properties{
			Present: 1 << PropReasonString, ReasonString: strings.Repeat("r", 20),
			User: []UserProperty{{"k", strings.Repeat("v", 20)}}}}
	}
	full := Size(base(), V5) // 4 + 1 + 23 + 26 + 1 = 55
	cases := []struct {
		name      string
		max       int
		fits      bool
		reason    bool // reason string kept
		user      bool // user properties kept
		wantSize  int
		unchanged bool
	}{
		{"already fits [MQTT5-3.4.2-2]", full, true, true, true, full, true},
		{"no limit", 0, true, true, true, full, true},
		{"drop reason string [MQTT5-3.4.2-2]", full - 1, true, false, true, full - 23, false},
		{"drop both [MQTT5-3.4.2-3]", full - 23 - 1, true, false, false, 5, false},
		{"cannot fit", 4, false, true, true, full, true},
	}
	for _, c := range cases {
		a := base()
		fits := Fit(a, V5, c.max)
		if fits != c.fits || a.Properties.Has(PropReasonString) != c.reason || (len(a.Properties.User) > 0) != c.user || Size(a, V5) != c.wantSize {
			t.Errorf("%s: Fit = %v, reason %v, user %v, size %d", c.name, fits, a.Properties.Has(PropReasonString), len(a.Properties.User) > 0, Size(a, V5))
		}
		if c.unchanged && !reflect.DeepEqual(a, base()) {
			t.Errorf("%s: packet changed", c.name)
		}
		if fits {
			if b, err := a.Append(nil, V5); err != nil || len(b) > c.max && c.max > 0 {
				t.Errorf("%s: %d bytes, %v", c.name, len(b), err)
			}
		}
	}
	// PUBLISH is never trimmed [MQTT5-3.1.2-25].
	p := &Publish{Topic: "a", Payload: make([]byte, 100), Properties: Properties{User: []UserProperty{{"k", "v"}}}}
	if Fit(p, V5, 50) || len(p.Properties.User) != 1 {
		t.Errorf("Fit trimmed a PUBLISH")
	}
	// CONNACK [MQTT5-3.2.2-19] [MQTT5-3.2.2-20], DISCONNECT [MQTT5-3.14.2-3]
	for _, pk := range []Packet{
		&Connack{Properties: Properties{Present: 1 << PropReasonString, ReasonString: "long reason string"}},
		&Disconnect{ReasonCode: ServerBusy, Properties: Properties{Present: 1 << PropReasonString, ReasonString: "long reason string"}},
		&Suback{PacketID: 1, ReasonCodes: []ReasonCode{0}, Properties: Properties{User: []UserProperty{{"k", "long value"}}}},
	} {
		if !Fit(pk, V5, 6) || Size(pk, V5) > 6 {
			t.Errorf("Fit(%T) did not trim to 6 bytes: %d", pk, Size(pk, V5))
		}
	}
	// MQTT 3 packets have nothing to trim.
	if Fit(&Suback{PacketID: 1, ReasonCodes: []ReasonCode{0, 1}}, V311, 4) {
		t.Errorf("Fit of a 6-byte SUBACK into 4 bytes")
	}
}
