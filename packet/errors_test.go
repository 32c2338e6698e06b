package packet

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

// hx decodes space-separated hex; "'text'" inserts text bytes.
func hx(s string) []byte {
	var out []byte
	for _, f := range strings.Fields(s) {
		if len(f) >= 2 && f[0] == '\'' && f[len(f)-1] == '\'' {
			out = append(out, f[1:len(f)-1]...)
			continue
		}
		b, err := hex.DecodeString(f)
		if err != nil {
			panic(err)
		}
		out = append(out, b...)
	}
	return out
}

// pk builds a packet: the first byte, the remaining length and the body parts.
func pk(first byte, parts ...string) []byte {
	body := hx(strings.Join(parts, " "))
	return append(appendVBI([]byte{first}, len(body)), body...)
}

// props prefixes hex property bytes with their length.
func props(s string) string {
	b := hx(s)
	return hex.EncodeToString(appendVBI(nil, len(b))) + " " + s
}

const (
	connectHdr311 = "00 04 'MQTT' 04"
	connectHdr5   = "00 04 'MQTT' 05"
	topicA        = "00 01 'a'"
)

type decodeCase struct {
	name string
	tag  string // the normative statement, or the section, the case checks
	v    Version
	in   []byte
	code ReasonCode
}

var decodeErrorCases = []decodeCase{
	// fixed header
	{"reserved type 0", "[MQTT-2.2.2-1]", V311, hx("00 00"), MalformedPacket},
	{"PUBREL flags 0000", "[MQTT-3.6.1-1] [MQTT5-3.6.1-1]", V311, hx("60 02 00 01"), MalformedPacket},
	{"SUBSCRIBE flags 0000", "[MQTT-3.8.1-1] [MQTT5-3.8.1-1]", V311, pk(0x80, "00 01", topicA, "00"), MalformedPacket},
	{"UNSUBSCRIBE flags 0000", "[MQTT-3.10.1-1] [MQTT5-3.10.1-1]", V311, pk(0xA0, "00 01", topicA), MalformedPacket},
	{"PINGREQ flags 0001", "[MQTT-2.2.2-2]", V311, hx("C1 00"), MalformedPacket},
	{"CONNACK flags 0100", "[MQTT5-2.1.3-1]", V5, hx("24 03 00 00 00"), MalformedPacket},
	{"AUTH flags 0001", "[MQTT5-3.15.1-1]", V5, hx("F1 00"), MalformedPacket},
	{"PUBLISH QoS 3", "[MQTT-3.3.1-4] [MQTT5-3.3.1-4]", V311, pk(0x36, topicA, "00 01"), MalformedPacket},
	{"remaining length of five bytes", "§2.2.3", V311, hx("30 FF FF FF FF 7F"), MalformedPacket},
	{"remaining length not minimal", "[MQTT5-1.5.5-1]", V5, hx("C0 80 00"), MalformedPacket},
	{"remaining length not minimal 3.1.1", "[MQTT5-1.5.5-1]", V311, hx("D0 80 80 00"), MalformedPacket},

	// strings
	{"invalid UTF-8 in topic", "[MQTT-1.5.3-1]", V311, pk(0x30, "00 03 61 FF 62"), MalformedPacket},
	{"U+0000 in topic", "[MQTT-1.5.3-2]", V311, pk(0x30, "00 03 61 00 62"), MalformedPacket},
	{"U+0000 in client id", "[MQTT5-1.5.4-2]", V5, pk(0x10, connectHdr5, "00 00 3C 00", "00 02 61 00"), MalformedPacket},
	{"surrogate in topic", "[MQTT5-1.5.4-1]", V5, pk(0x30, "00 03 ED A0 80 00"), MalformedPacket},
	{"overlong NUL in topic", "[MQTT-1.5.3-1]", V311, pk(0x30, "00 02 C0 80"), MalformedPacket},
	{"invalid UTF-8 in user property", "[MQTT5-1.5.7-1]", V5, pk(0x30, topicA, props("26 00 01 FF 00 01 'v'")), MalformedPacket},
	{"invalid UTF-8 in filter", "[MQTT-3.8.3-1] [MQTT5-3.8.3-1]", V311, pk(0x82, "00 01 00 01 FE 00"), MalformedPacket},
	{"invalid UTF-8 in unsubscribe filter", "[MQTT-3.10.3-1]", V311, pk(0xA2, "00 01 00 01 FE"), MalformedPacket},

	// lengths
	{"topic length past the body", "§1.5.3", V311, pk(0x30, "00 05 61"), MalformedPacket},
	{"packet identifier cut", "[MQTT-2.3.1-1]", V311, pk(0x32, topicA, "00"), MalformedPacket},
	{"trailing byte after PUBACK 3.1.1", "§3.4.1", V311, hx("40 03 00 01 00"), MalformedPacket},
	{"trailing byte after UNSUBACK 3.1.1", "§3.11.1", V311, hx("B0 03 00 01 00"), MalformedPacket},
	{"PINGREQ with a body", "§3.12", V311, hx("C0 01 00"), MalformedPacket},
	{"PINGRESP with a body", "§3.13", V5, hx("D0 01 00"), MalformedPacket},
	{"DISCONNECT 3.1.1 with a body", "[MQTT-3.14.1-1]", V311, hx("E0 01 00"), MalformedPacket},
	{"property length past the body", "§2.2.2.1", V5, pk(0x30, topicA, "05 01 00"), MalformedPacket},
	{"property value past property length", "§2.2.2.1", V5, pk(0x30, topicA, "01 02 00 00 00 01"), MalformedPacket},
	{"CONNACK 5 without property length", "[MQTT5-2.2.2-1]", V5, hx("20 02 00 00"), MalformedPacket},
	{"PUBLISH 5 without property length", "[MQTT5-2.2.2-1]", V5, pk(0x30, topicA), MalformedPacket},
	{"trailing byte after CONNECT", "[MQTT-3.1.2-18]", V311, pk(0x10, connectHdr311, "00 00 3C", topicA, topicA), MalformedPacket},
	{"user name flag without user name", "[MQTT-3.1.2-19] [MQTT5-3.1.2-17]", V311, pk(0x10, connectHdr311, "80 00 3C", topicA), MalformedPacket},
	{"password flag without password", "[MQTT5-3.1.2-19]", V5, pk(0x10, connectHdr5, "40 00 3C 00", topicA), MalformedPacket},
	{"will flag without will topic", "[MQTT-3.1.2-9] [MQTT5-3.1.2-9]", V311, pk(0x10, connectHdr311, "04 00 3C", topicA), MalformedPacket},

	// packet identifiers
	{"PUBLISH QoS 1 with identifier 0", "[MQTT-2.3.1-1] [MQTT5-2.2.1-3]", V311, pk(0x32, topicA, "00 00"), ProtocolError},
	{"SUBSCRIBE with identifier 0", "[MQTT-2.3.1-1]", V311, pk(0x82, "00 00", topicA, "00"), ProtocolError},
	{"UNSUBSCRIBE with identifier 0", "[MQTT-2.3.1-1]", V311, pk(0xA2, "00 00", topicA), ProtocolError},
	{"PUBACK with identifier 0", "[MQTT-2.3.1-6] [MQTT5-2.2.1-5]", V5, hx("40 02 00 00"), ProtocolError},
	{"SUBACK with identifier 0", "[MQTT-2.3.1-7]", V311, hx("90 03 00 00 00"), ProtocolError},

	// SUBSCRIBE and UNSUBSCRIBE
	{"SUBSCRIBE without filters 3.1.1", "[MQTT-3.8.3-3]", V311, pk(0x82, "00 01"), ProtocolError},
	{"SUBSCRIBE without filters 5", "[MQTT5-3.8.3-2]", V5, pk(0x82, "00 01 00"), ProtocolError},
	{"UNSUBSCRIBE without filters 3.1.1", "[MQTT-3.10.3-2]", V311, pk(0xA2, "00 01"), ProtocolError},
	{"UNSUBSCRIBE without filters 5", "[MQTT5-3.10.3-2]", V5, pk(0xA2, "00 01 00"), ProtocolError},
	{"SUBSCRIBE without options byte", "§3.8.3", V311, pk(0x82, "00 01", topicA), MalformedPacket},
	{"SUBSCRIBE 3.1.1 reserved option bits", "[MQTT-3.8.3-4]", V311, pk(0x82, "00 01", topicA, "04"), MalformedPacket},
	{"SUBSCRIBE QoS 3", "[MQTT-3.8.3-4] [MQTT5-3.8.3-5]", V5, pk(0x82, "00 01 00", topicA, "03"), MalformedPacket},
	{"SUBSCRIBE 5 reserved option bits", "[MQTT5-3.8.3-5]", V5, pk(0x82, "00 01 00", topicA, "40"), MalformedPacket},
	{"SUBSCRIBE Retain Handling 3", "§3.8.3.1", V5, pk(0x82, "00 01 00", topicA, "30"), ProtocolError},
	{"No Local on a shared subscription", "[MQTT5-3.8.3-4]", V5, pk(0x82, "00 01 00", "00 0A '$share/g/a' 04"), ProtocolError},
	{"SUBACK 3.1.1 return code 3", "[MQTT-3.9.3-2]", V311, hx("90 03 00 01 03"), ProtocolError},
	{"SUBACK 3.1 return code 3", "MQTT 3.1 §3.9", V31, hx("90 03 00 01 03"), ProtocolError},
	{"SUBACK without codes", "[MQTT-3.8.4-5]", V311, hx("90 02 00 01"), ProtocolError},
	{"SUBACK 5 reason code 0x04", "[MQTT5-3.9.3-2]", V5, hx("90 04 00 01 00 04"), ProtocolError},
	{"UNSUBACK 5 without codes", "[MQTT5-3.11.3-1]", V5, hx("B0 03 00 01 00"), ProtocolError},
	{"UNSUBACK 5 reason code 0x01", "[MQTT5-3.11.3-2]", V5, hx("B0 04 00 01 00 01"), ProtocolError},

	// PUBLISH
	{"DUP on QoS 0", "[MQTT-3.3.1-2] [MQTT5-3.3.1-2]", V311, pk(0x38, topicA), MalformedPacket},
	{"+ in topic name", "[MQTT-3.3.2-2] [MQTT5-3.3.2-2]", V311, pk(0x30, "00 03 'a/+'"), TopicNameInvalid},
	{"# in topic name", "[MQTT-3.3.2-2] [MQTT5-3.3.2-2]", V5, pk(0x30, "00 03 'a/#' 00"), TopicNameInvalid},
	{"# after non-ASCII in topic name", "[MQTT-4.7.1-1] [MQTT5-4.7.0-1]", V311, pk(0x30, "00 03 C3 A9 23"), TopicNameInvalid},
	{"empty topic 3.1.1", "[MQTT-4.7.3-1]", V311, pk(0x30, "00 00"), TopicNameInvalid},
	{"empty topic 5 without alias", "§3.3.2.1 [MQTT5-4.7.3-1]", V5, pk(0x30, "00 00 00"), ProtocolError},
	{"Topic Alias 0", "[MQTT5-3.3.2-8]", V5, pk(0x30, topicA, props("23 00 00")), ProtocolError},
	{"Response Topic with wildcard", "[MQTT5-3.3.2-14]", V5, pk(0x30, topicA, props("08 00 01 '#'")), ProtocolError},
	{"Payload Format Indicator 2", "§3.3.2.3.2", V5, pk(0x30, topicA, props("01 02")), ProtocolError},

	// properties
	{"property not allowed in PUBLISH", "§2.2.2.2", V5, pk(0x30, topicA, props("11 00 00 00 01")), MalformedPacket},
	{"Reason String in CONNECT", "§2.2.2.2", V5, pk(0x10, connectHdr5, "02 00 3C", props("1F 00 00"), topicA), MalformedPacket},
	{"Will Delay in CONNECT properties", "§2.2.2.2", V5, pk(0x10, connectHdr5, "02 00 3C", props("18 00 00 00 01"), topicA), MalformedPacket},
	{"Session Expiry in will properties", "§2.2.2.2", V5, pk(0x10, connectHdr5, "06 00 3C 00", topicA, props("11 00 00 00 01"), topicA, "00 00"), MalformedPacket},
	{"Topic Alias in PUBACK", "§2.2.2.2", V5, pk(0x40, "00 01 00", props("23 00 01")), MalformedPacket},
	{"Subscription Identifier in UNSUBSCRIBE", "§2.2.2.2", V5, pk(0xA2, "00 01", props("0B 01"), topicA), MalformedPacket},
	{"Payload Format Indicator twice", "§3.3.2.3.2", V5, pk(0x30, topicA, props("01 00 01 00")), ProtocolError},
	{"Session Expiry twice in DISCONNECT", "§3.14.2.2.2", V5, pk(0xE0, "00", props("11 00 00 00 01 11 00 00 00 01")), ProtocolError},
	{"Subscription Identifier twice in SUBSCRIBE", "§3.8.2.1.2", V5, pk(0x82, "00 01", props("0B 01 0B 02"), topicA, "00"), ProtocolError},
	{"Subscription Identifier 0", "§3.3.2.3.8", V5, pk(0x30, topicA, props("0B 00")), ProtocolError},
	{"Subscription Identifier of five bytes", "§1.5.5", V5, pk(0x30, topicA, props("0B 80 80 80 80 01")), MalformedPacket},
	{"unknown property 0x05", "§2.2.2.2", V5, pk(0x30, topicA, props("05 00")), MalformedPacket},
	{"Receive Maximum 0", "§3.1.2.11.3", V5, pk(0x10, connectHdr5, "02 00 3C", props("21 00 00"), topicA), ProtocolError},
	{"Maximum Packet Size 0", "§3.1.2.11.4", V5, pk(0x10, connectHdr5, "02 00 3C", props("27 00 00 00 00"), topicA), ProtocolError},
	{"Request Problem Information 2", "§3.1.2.11.7", V5, pk(0x10, connectHdr5, "02 00 3C", props("17 02"), topicA), ProtocolError},
	{"Authentication Data without Method", "§3.1.2.11.10", V5, pk(0x10, connectHdr5, "02 00 3C", props("16 00 01 00"), topicA), ProtocolError},
	{"Maximum QoS 2 in CONNACK", "§3.2.2.3.4", V5, pk(0x20, "00 00", props("24 02")), ProtocolError},

	// CONNECT
	{"CONNECT reserved flag", "[MQTT-3.1.2-3] [MQTT5-3.1.2-3]", V311, pk(0x10, connectHdr311, "03 00 3C", topicA), MalformedPacket},
	{"will QoS without will flag", "[MQTT-3.1.2-13] [MQTT5-3.1.2-11]", V311, pk(0x10, connectHdr311, "0A 00 3C", topicA), MalformedPacket},
	{"will retain without will flag", "[MQTT-3.1.2-15] [MQTT5-3.1.2-13]", V5, pk(0x10, connectHdr5, "22 00 3C 00", topicA), MalformedPacket},
	{"will QoS 3", "[MQTT-3.1.2-14] [MQTT5-3.1.2-12]", V311, pk(0x10, connectHdr311, "1E 00 3C", topicA, topicA, "00 00"), MalformedPacket},
	{"password without user name 3.1.1", "[MQTT-3.1.2-22]", V311, pk(0x10, connectHdr311, "42 00 3C", topicA, "00 01 'p'"), MalformedPacket},
	{"password without user name 3.1", "[MQTT-3.1.2-22]", V31, pk(0x10, "00 06 'MQIsdp' 03 42 00 3C", topicA, "00 01 'p'"), MalformedPacket},
	{"will topic with wildcard", "[MQTT-4.7.1-1] [MQTT5-4.7.0-1]", V311, pk(0x10, connectHdr311, "06 00 3C", topicA, "00 01 '+' 00 00"), TopicNameInvalid},
	{"empty will topic", "[MQTT-4.7.3-1] [MQTT5-4.7.3-1]", V311, pk(0x10, connectHdr311, "06 00 3C", topicA, "00 00 00 00"), TopicNameInvalid},
	{"protocol name MQTX", "[MQTT-3.1.2-1] [MQTT5-3.1.2-1]", V311, pk(0x10, "00 04 'MQTX' 04 02 00 3C", topicA), UnsupportedProtocolVersion},
	{"protocol level 6", "[MQTT-3.1.2-2] [MQTT5-3.1.2-2]", V311, pk(0x10, "00 04 'MQTT' 06 02 00 3C", topicA), UnsupportedProtocolVersion},
	{"MQIsdp with level 4", "[MQTT-3.1.2-2]", V311, pk(0x10, "00 06 'MQIsdp' 04 02 00 3C", topicA), UnsupportedProtocolVersion},
	{"MQTT with level 3", "[MQTT-3.1.2-2]", V311, pk(0x10, "00 04 'MQTT' 03 02 00 3C", topicA), UnsupportedProtocolVersion},

	// CONNACK
	{"CONNACK 5 reserved flag bits", "[MQTT5-3.2.2-1]", V5, pk(0x20, "02 00 00"), MalformedPacket},
	{"CONNACK 3.1.1 reserved flag bits", "§3.2.2.1", V311, pk(0x20, "80 00"), MalformedPacket},
	{"CONNACK session present with refusal", "[MQTT-3.2.2-4] [MQTT5-3.2.2-6]", V311, pk(0x20, "01 05"), ProtocolError},
	{"CONNACK 3.1.1 return code 6", "§3.2.2.3", V311, pk(0x20, "00 06"), MalformedPacket},
	{"CONNACK 5 reason code 0x01", "[MQTT5-3.2.2-8]", V5, pk(0x20, "00 01 00"), ProtocolError},

	// acknowledgements, DISCONNECT, AUTH
	{"PUBACK reason code 0x01", "[MQTT5-3.4.2-1]", V5, hx("40 03 00 01 01"), ProtocolError},
	{"PUBREC reason code 0x92", "[MQTT5-3.5.2-1]", V5, hx("50 03 00 01 92"), ProtocolError},
	{"PUBREL reason code 0x10", "[MQTT5-3.6.2-1]", V5, hx("62 03 00 01 10"), ProtocolError},
	{"PUBCOMP reason code 0x80", "[MQTT5-3.7.2-1]", V5, hx("70 03 00 01 80"), ProtocolError},
	{"PUBACK 3.1.1 with reason code", "§3.4.1", V311, hx("40 03 00 01 10"), MalformedPacket},
	{"DISCONNECT reason code 0x01", "[MQTT5-3.14.2-1]", V5, hx("E0 01 01"), ProtocolError},
	{"AUTH reason code 0x01", "[MQTT5-3.15.2-1]", V5, hx("F0 01 01"), ProtocolError},
	{"AUTH in 3.1.1", "§2.2.1", V311, hx("F0 00"), ProtocolError},
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range decodeErrorCases {
		t.Run(c.name, func(t *testing.T) {
			p, _, err := DecodeBytes(c.in, c.v, 0)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("%s: DecodeBytes(%x) = %#v, %v; want *Error %v", c.tag, c.in, p, err, c.code)
			}
			if pe.Code != c.code {
				t.Fatalf("%s: DecodeBytes(%x): %v; want code %v", c.tag, c.in, err, c.code)
			}
			if !strings.HasPrefix(err.Error(), c.code.String()+": ") {
				t.Fatalf("error text %q", err.Error())
			}
			// The same through ReadPacket.
			_, err2 := ReadPacket(bufio.NewReader(bytes.NewReader(c.in)), c.v, 0)
			if !errors.Is(err2, &Error{Code: c.code}) {
				t.Fatalf("%s: ReadPacket: %v; want code %v", c.tag, err2, c.code)
			}
		})
	}
}

// TestDecodeValidEdgeCases: inputs close to the error cases that are valid.
func TestDecodeValidEdgeCases(t *testing.T) {
	cases := []struct {
		name, tag string
		v         Version
		in        []byte
		check     func(Packet) bool
	}{
		{"empty topic with Topic Alias", "[MQTT5-3.3.2-12]", V5, pk(0x30, "00 00", props("23 00 07")),
			func(p Packet) bool { x := p.(*Publish); return x.Topic == "" && x.Properties.TopicAlias == 7 }},
		{"repeated User Property keeps order", "[MQTT5-3.3.2-18]", V5,
			pk(0x30, topicA, props("26 00 01 'k' 00 01 '2' 26 00 01 'k' 00 01 '1'")),
			func(p Packet) bool {
				u := p.(*Publish).Properties.User
				return len(u) == 2 && u[0].Value == "2" && u[1].Value == "1"
			}},
		{"repeated Subscription Identifier in PUBLISH", "[MQTT5-3.3.4-4]", V5, pk(0x30, topicA, props("0B 05 0B 80 01")),
			func(p Packet) bool {
				ids := p.(*Publish).Properties.SubscriptionIDs
				return len(ids) == 2 && ids[1] == 128
			}},
		{"password without user name in 5", "§3.1.2.9", V5, pk(0x10, connectHdr5, "42 00 3C 00", topicA, "00 01 'p'"),
			func(p Packet) bool {
				c := p.(*Connect)
				return c.PasswordFlag && !c.UsernameFlag && string(c.Password) == "p"
			}},
		{"BOM kept in topic", "[MQTT-1.5.3-3] [MQTT5-1.5.4-3]", V311, pk(0x30, "00 04 EF BB BF 'a'"),
			func(p Packet) bool { return p.(*Publish).Topic == "\uFEFFa" }},
		{"3.1 CONNACK ignores the reserved byte", "MQTT 3.1 §3.2", V31, pk(0x20, "01 00"),
			func(p Packet) bool { return !p.(*Connack).SessionPresent }},
		{"SUBACK 3.1 failure code 0x80 accepted", "MQTT 3.1 §3.9 (see doc.go)", V31, hx("90 03 00 01 80"),
			func(p Packet) bool { return p.(*Suback).ReasonCodes[0] == SubackFailure311 }},
		{"PUBACK 5 short form", "[MQTT5-3.4.2-1]", V5, hx("40 02 00 09"),
			func(p Packet) bool { a := p.(*Ack); return a.PacketID == 9 && a.ReasonCode == Success }},
		{"PUBREC 5 reason code without properties", "[MQTT5-3.5.2-1]", V5, hx("50 03 00 09 10"),
			func(p Packet) bool { return p.(*Ack).ReasonCode == NoMatchingSubscribers }},
		{"DISCONNECT 5 empty", "[MQTT5-3.14.2-1]", V5, hx("E0 00"),
			func(p Packet) bool { return p.(*Disconnect).ReasonCode == Success }},
		{"AUTH 5 reason code only", "[MQTT5-3.15.2-1]", V5, hx("F0 01 18"),
			func(p Packet) bool { return p.(*Auth).ReasonCode == ContinueAuthentication }},
		{"filter syntax is left to the server", "[MQTT5-3.8.4-7]", V5, pk(0x82, "00 01 00", "00 03 'a#b'", "00"),
			func(p Packet) bool { return p.(*Subscribe).Subscriptions[0].Filter == "a#b" }},
		{"remaining length 127 in one byte", "[MQTT5-1.5.5-1]", V311, pk(0x30, "00 7D", strings.Repeat("61 ", 125)),
			func(p Packet) bool { return len(p.(*Publish).Topic) == 125 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, n, err := DecodeBytes(c.in, c.v, 0)
			if err != nil || n != len(c.in) || !c.check(p) {
				t.Fatalf("%s: DecodeBytes(%x) = %#v, %d, %v", c.tag, c.in, p, n, err)
			}
		})
	}
}

func TestUnsupportedVersionReturnsConnect(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		name string
		v    Version
	}{
		{pk(0x10, "00 04 'MQTT' 06 02 00 3C", topicA), "MQTT", 6},
		{pk(0x10, "00 04 'MQTT' 05 02 00 3C 05 18 00 00 00 01", topicA), "MQTT", 5}, // will delay: not for CONNECT
		{pk(0x10, "00 06 'MQIsdp' 05 02 00 3C", topicA), "MQIsdp", 5},
	} {
		p, _, err := DecodeBytes(c.in, 0, 0)
		cp, ok := p.(*Connect)
		if err == nil || !ok || cp.ProtocolName != c.name || cp.Version != c.v {
			t.Fatalf("[MQTT-3.1.2-2] DecodeBytes(%x) = %#v, %v; want the partial CONNECT", c.in, p, err)
		}
	}
	// Before the level is read there is no CONNECT to return.
	if p, _, err := DecodeBytes(pk(0x10, "00 04 'MQ'"), 0, 0); p != nil || err == nil {
		t.Fatalf("truncated protocol name: %v, %v", p, err)
	}
}

func TestSizeLimitAndIncompleteInput(t *testing.T) {
	// A header announcing 200 bytes fails against maxSize 100 before the body.
	hdr := []byte{0x30, 0xC8, 0x01}
	if _, _, err := DecodeBytes(hdr, V311, 100); !isCode(err, PacketTooLarge) {
		t.Fatalf("DecodeBytes: %v; want PacketTooLarge", err)
	}
	if _, err := ReadFixedHeader(bufio.NewReader(bytes.NewReader(hdr)), 100); !isCode(err, PacketTooLarge) {
		t.Fatalf("ReadFixedHeader: %v; want PacketTooLarge", err)
	}
	if _, err := ReadPacket(bufio.NewReader(bytes.NewReader(hdr)), V311, 203); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ReadPacket on a cut body: %v; want io.ErrUnexpectedEOF", err)
	}
	if fh, err := ReadFixedHeader(bufio.NewReader(bytes.NewReader(hdr)), 203); err != nil || fh.Remaining != 200 || fh.Size() != 3 {
		t.Fatalf("ReadFixedHeader at the limit: %+v, %v", fh, err)
	}
	// Maximum remaining length, and one more.
	if fh, err := ReadFixedHeader(bytes.NewReader(hx("30 FF FF FF 7F")), 0); err != nil || fh.Remaining != MaxRemaining {
		t.Fatalf("max remaining length: %+v, %v", fh, err)
	}
	for _, in := range [][]byte{nil, hx("30"), hx("30 80"), hx("30 05 00 01")} {
		if _, _, err := DecodeBytes(in, V311, 0); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("DecodeBytes(%x): %v; want io.ErrUnexpectedEOF", in, err)
		}
	}
	if _, err := ReadPacket(bufio.NewReader(bytes.NewReader(nil)), V311, 0); !errors.Is(err, io.EOF) {
		t.Fatalf("ReadPacket at end of stream: %v; want io.EOF", err)
	}
	if _, err := ReadPacket(bufio.NewReader(bytes.NewReader(hx("30 80"))), V311, 0); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ReadPacket inside the header: %v; want io.ErrUnexpectedEOF", err)
	}
	if _, err := Decode(FixedHeader{Type: PUBLISH, Remaining: 5}, hx("00 01 61"), V311); !isCode(err, MalformedPacket) {
		t.Fatalf("Decode with a short body: %v", err)
	}
	if _, err := Decode(FixedHeader{Type: 16, Remaining: 0}, nil, V311); !isCode(err, MalformedPacket) {
		t.Fatalf("Decode of type 16: %v", err)
	}
}

// TestDecodeDoesNotAlias: changing the input after Decode leaves the packet.
func TestDecodeDoesNotAlias(t *testing.T) {
	in := pk(0x32, "00 03 'a/b' 00 07", "'payload'")
	p, _, err := DecodeBytes(in, V311, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'x'
	}
	pub := p.(*Publish)
	if pub.Topic != "a/b" || string(pub.Payload) != "payload" {
		t.Fatalf("decoded packet changed with its input: %q %q", pub.Topic, pub.Payload)
	}
	// Byte slices are capped: appending does not overwrite the next field.
	c, _, err := DecodeBytes(pk(0x10, connectHdr311, "C6 00 3C", topicA, topicA, "00 01 'w' 00 01 'u' 00 01 'p'"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	cp := c.(*Connect)
	_ = append(cp.WillPayload, 'X', 'X', 'X')
	if cp.Username != "u" || string(cp.Password) != "p" {
		t.Fatalf("append to WillPayload overwrote %q %q", cp.Username, cp.Password)
	}
}

// TestReadPacketLargeBody: a body over the step size is read whole, and a
// stream that stops early costs memory only for what arrived.
func TestReadPacketLargeBody(t *testing.T) {
	p := &Publish{Topic: "big", Payload: bytes.Repeat([]byte{7}, 3*bodyStep+5)}
	enc, err := p.Append(nil, V311)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadPacket(bufio.NewReader(bytes.NewReader(enc)), V311, 0)
	if err != nil || !bytes.Equal(got.(*Publish).Payload, p.Payload) || cap(got.(*Publish).Payload) != len(p.Payload) {
		t.Fatalf("large body: %v", err)
	}
	short := hx("30 FF FF FF 7F 00 01 'a'")
	var ms1, ms2 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	if _, err := ReadPacket(bufio.NewReader(bytes.NewReader(short)), V311, 0); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut body: %v", err)
	}
	runtime.ReadMemStats(&ms2)
	if d := ms2.TotalAlloc - ms1.TotalAlloc; d > 2*bodyStep {
		t.Fatalf("a 268 MB header with 3 bytes of body allocated %d bytes", d)
	}
}

// TestDecodedSizeBound: the worst case of decoded size per body byte, many
// minimal SUBSCRIBE entries, stays within the bound doc.go states.
func TestDecodedSizeBound(t *testing.T) {
	body := append(hx("00 01"), bytes.Repeat(hx("00 00 00"), 100_000)...)
	in := append(appendVBI([]byte{0x82}, len(body)), body...)
	var ms1, ms2 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	p, err := ReadPacket(bufio.NewReader(bytes.NewReader(in)), V311, 0)
	runtime.ReadMemStats(&ms2)
	if err != nil || len(p.(*Subscribe).Subscriptions) != 100_000 {
		t.Fatalf("ReadPacket: %v", err)
	}
	if d := ms2.TotalAlloc - ms1.TotalAlloc; d > uint64(10*len(in)) {
		t.Fatalf("a %d-byte SUBSCRIBE took %d bytes", len(in), d)
	}
}
