package packet

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Normative statements about the encoding of single packets.

func mustAppend(t *testing.T, p Packet, v Version) []byte {
	t.Helper()
	b, err := Append(nil, p, v)
	if err != nil {
		t.Fatalf("Append(%s): %v", p.Type(), err)
	}
	return b
}

func str16(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }

// [MQTT-3.1.3-1] [MQTT-3.1.3-3] [MQTT5-3.1.3-1] [MQTT5-3.1.3-3] the CONNECT
// payload is Client Identifier, (Will Properties), Will Topic, Will
// Payload, User Name, Password, in that order, the identifier first and
// always present.
func TestConnectPayloadOrder_MQTT_3_1_3_1(t *testing.T) {
	for _, v := range []Version{V311, V5} {
		c := &Connect{Version: v, ClientID: "cid", KeepAlive: 30, WillFlag: true, WillTopic: "wt", WillPayload: []byte("wp"),
			UsernameFlag: true, Username: "un", PasswordFlag: true, Password: []byte("pw")}
		b := mustAppend(t, c, v)
		var want []byte
		want = append(want, str16("cid")...)
		if v == V5 {
			want = append(want, 0) // empty will properties
		}
		for _, s := range []string{"wt", "wp", "un", "pw"} {
			want = append(want, str16(s)...)
		}
		if !bytes.HasSuffix(b, want) {
			t.Fatalf("v%s: CONNECT % x does not end with the payload % x", v, b, want)
		}
		got, _, err := DecodeBytes(b, v, 0)
		if err != nil {
			t.Fatal(err)
		}
		if d := got.(*Connect); d.ClientID != "cid" || d.WillTopic != "wt" || string(d.WillPayload) != "wp" || d.Username != "un" || string(d.Password) != "pw" {
			t.Fatalf("decoded %+v", d)
		}
		// Without the payload, the client identifier is missing: Malformed.
		empty := mustAppend(t, &Connect{Version: v, ClientID: ""}, v)
		empty = empty[:len(empty)-2]
		empty[1] -= 2
		if _, _, err := DecodeBytes(empty, v, 0); !errors.Is(err, &Error{Code: MalformedPacket}) {
			t.Fatalf("v%s: CONNECT without client identifier: %v", v, err)
		}
	}
}

// connectFlags returns CONNECT b with its flag byte changed by set and
// clear (b from Append: a one-byte remaining length).
func connectFlags(b []byte, set, clear byte) []byte {
	out := bytes.Clone(b)
	i := 2 + 6 + 1 // fixed header, protocol name, level
	out[i] = out[i]&^clear | set
	return out
}

// [MQTT-3.1.2-20] [MQTT-3.1.2-21] [MQTT5-3.1.2-16] [MQTT5-3.1.2-18] a
// password (user name) is present exactly when its flag is set.
func TestConnectPasswordFlag_MQTT_3_1_2_21(t *testing.T) {
	const userFlag, passFlag = 0x80, 0x40
	for _, v := range []Version{V311, V5} {
		withPass := mustAppend(t, &Connect{Version: v, ClientID: "c", UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p")}, v)
		withUser := mustAppend(t, &Connect{Version: v, ClientID: "c", UsernameFlag: true, Username: "u"}, v)
		for name, b := range map[string][]byte{
			"password without its flag [MQTT-3.1.2-20]":        connectFlags(withPass, 0, passFlag),
			"password flag without a password [MQTT-3.1.2-21]": connectFlags(withUser, passFlag, 0),
			"user name without its flag [MQTT5-3.1.2-16]":      connectFlags(withUser, 0, userFlag),
		} {
			if _, _, err := DecodeBytes(b, v, 0); err == nil {
				t.Errorf("v%s: %s decoded", v, name)
			}
		}
		for _, b := range [][]byte{withPass, withUser} {
			if _, _, err := DecodeBytes(b, v, 0); err != nil {
				t.Errorf("v%s: a consistent CONNECT: %v", v, err)
			}
		}
	}
}

// corrupt replaces the string "XXXX" in b by ill-formed UTF-8.
func corrupt(t *testing.T, b []byte) []byte {
	t.Helper()
	i := bytes.Index(b, []byte("XXXX"))
	if i < 0 {
		t.Fatalf("no marker in % x", b)
	}
	out := bytes.Clone(b)
	copy(out[i:], []byte{0xC0, 0xAF, 0xED, 0xA0}) // overlong '/', then a surrogate half
	return out
}

// [MQTT-3.1.3-10] [MQTT-3.1.3-11] [MQTT5-3.1.3-4] [MQTT5-3.1.3-11]
// [MQTT5-3.1.3-12] [MQTT-3.3.2-1] [MQTT5-3.3.2-1] [MQTT5-3.3.2-13]
// [MQTT5-3.10.3-1] client identifiers, will topics, user names, topic names,
// response topics and topic filters must be well-formed UTF-8.
func TestStringsMustBeUTF8_MQTT5_3_3_2_13(t *testing.T) {
	resp := Properties{ResponseTopic: "r/XXXX"}
	resp.Set(PropResponseTopic)
	cases := []struct {
		name string
		v    Version
		p    Packet
	}{
		{"client identifier", V5, &Connect{Version: V5, ClientID: "XXXX"}},
		{"will topic", V311, &Connect{Version: V311, ClientID: "c", WillFlag: true, WillTopic: "w/XXXX"}},
		{"will topic", V5, &Connect{Version: V5, ClientID: "c", WillFlag: true, WillTopic: "w/XXXX"}},
		{"user name", V311, &Connect{Version: V311, ClientID: "c", UsernameFlag: true, Username: "XXXX"}},
		{"user name", V5, &Connect{Version: V5, ClientID: "c", UsernameFlag: true, Username: "XXXX"}},
		{"topic name", V311, &Publish{QoS: 1, PacketID: 1, Topic: "t/XXXX", Payload: []byte("p")}},
		{"topic name", V5, &Publish{Topic: "t/XXXX"}},
		{"response topic", V5, &Publish{Topic: "t", Properties: resp}},
		{"unsubscribe filter", V5, &Unsubscribe{PacketID: 1, Filters: []string{"a", "f/XXXX"}}},
	}
	for _, c := range cases {
		b := mustAppend(t, c.p, c.v)
		if _, _, err := DecodeBytes(b, c.v, 0); err != nil {
			t.Fatalf("%s v%s: well-formed packet: %v", c.name, c.v, err)
		}
		if _, _, err := DecodeBytes(corrupt(t, b), c.v, 0); !errors.Is(err, &Error{Code: MalformedPacket}) {
			t.Errorf("%s v%s: ill-formed UTF-8 gave %v, want Malformed Packet", c.name, c.v, err)
		}
	}
}

// [MQTT-2.3.1-5] [MQTT5-2.2.1-2] a QoS 0 PUBLISH carries no packet
// identifier: none is written, and the bytes after the topic are payload.
func TestQoS0HasNoPacketID_MQTT_2_3_1_5(t *testing.T) {
	for _, v := range []Version{V311, V5} {
		b := mustAppend(t, &Publish{Topic: "t", PacketID: 0x0102, Payload: []byte("p")}, v)
		want := []byte{0x30, 4, 0, 1, 't', 'p'}
		if v == V5 {
			want = []byte{0x30, 5, 0, 1, 't', 0, 'p'}
		}
		if !bytes.Equal(b, want) {
			t.Fatalf("v%s: % x, want % x", v, b, want)
		}
		p, _, err := DecodeBytes([]byte{0x30, 6, 0, 1, 't', 1, 2, 'p'}, V311, 0)
		if err != nil {
			t.Fatal(err)
		}
		if pub := p.(*Publish); pub.PacketID != 0 || string(pub.Payload) != "\x01\x02p" {
			t.Fatalf("decoded %+v", pub)
		}
	}
}

// [MQTT5-3.5.2-2] [MQTT5-3.5.2-3] [MQTT5-3.6.2-2] [MQTT5-3.6.2-3]
// [MQTT5-3.7.2-2] [MQTT5-3.7.2-3] [MQTT5-3.9.2-1] [MQTT5-3.9.2-2]
// [MQTT5-3.11.2-1] [MQTT5-3.11.2-2] [MQTT5-3.14.2-4] [MQTT5-3.15.2-2]
// [MQTT5-3.15.2-3] Fit removes the Reason String, then the User Properties,
// of PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT and AUTH rather
// than exceed the receiver's Maximum Packet Size.
func TestFitDropsOptionalProperties_MQTT5_3_9_2_1(t *testing.T) {
	props := func() Properties {
		p := Properties{ReasonString: strings.Repeat("r", 30), User: []UserProperty{{Key: "k", Value: strings.Repeat("v", 30)}}}
		p.Set(PropReasonString)
		return p
	}
	packets := map[string]func() Packet{
		"PUBREC": func() Packet {
			return &Ack{PacketType: PUBREC, PacketID: 1, ReasonCode: UnspecifiedError, Properties: props()}
		},
		"PUBREL": func() Packet {
			return &Ack{PacketType: PUBREL, PacketID: 1, ReasonCode: PacketIdentifierNotFound, Properties: props()}
		},
		"PUBCOMP": func() Packet {
			return &Ack{PacketType: PUBCOMP, PacketID: 1, ReasonCode: PacketIdentifierNotFound, Properties: props()}
		},
		"SUBACK":     func() Packet { return &Suback{PacketID: 1, ReasonCodes: []ReasonCode{1}, Properties: props()} },
		"UNSUBACK":   func() Packet { return &Unsuback{PacketID: 1, ReasonCodes: []ReasonCode{0}, Properties: props()} },
		"DISCONNECT": func() Packet { return &Disconnect{ReasonCode: ServerBusy, Properties: props()} },
		"AUTH": func() Packet {
			p := props()
			p.AuthMethod = "m"
			p.Set(PropAuthMethod)
			return &Auth{ReasonCode: ContinueAuthentication, Properties: p}
		},
	}
	for name, mk := range packets {
		full := Size(mk(), V5)
		reasonLen := 3 + 30
		// Room for all but the Reason String: only it goes.
		p := mk()
		if !Fit(p, V5, full-1) || Size(p, V5) != full-reasonLen {
			t.Fatalf("%s: Fit to %d gave %d bytes", name, full-1, Size(p, V5))
		}
		if len(propsOf(p).User) != 1 {
			t.Fatalf("%s: user properties dropped with room for them", name)
		}
		// Room for neither: both go, and the rest is kept.
		p = mk()
		max := full - reasonLen - 1
		if !Fit(p, V5, max) || Size(p, V5) > max || len(propsOf(p).User) != 0 || propsOf(p).Has(PropReasonString) {
			t.Fatalf("%s: Fit to %d gave %d bytes, %+v", name, max, Size(p, V5), propsOf(p))
		}
		if a, ok := p.(*Auth); ok && a.Properties.AuthMethod != "m" {
			t.Fatalf("AUTH lost its method")
		}
		if b := mustAppend(t, p, V5); len(b) > max {
			t.Fatalf("%s: %d bytes encoded", name, len(b))
		}
	}
}
