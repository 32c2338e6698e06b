package packet

import (
	"bufio"
	"bytes"
	"testing"
)

func benchPublish(v Version, payload int) *Publish {
	p := &Publish{QoS: 1, PacketID: 42, Topic: "sensors/building-7/floor-3/temperature", Payload: bytes.Repeat([]byte{'x'}, payload)}
	if v == V5 {
		p.Properties = Properties{
			Present:       1<<PropPayloadFormat | 1<<PropMessageExpiry | 1<<PropContentType | 1<<PropTopicAlias,
			PayloadFormat: 1, MessageExpiry: 3600, ContentType: "application/json", TopicAlias: 3,
			User: []UserProperty{{"trace", "abc123"}}, SubscriptionIDs: []uint32{7},
		}
	}
	return p
}

var benchCases = []struct {
	name    string
	v       Version
	payload int
}{
	{"v311/64B", V311, 64}, {"v311/4KiB", V311, 4096}, {"v5props/64B", V5, 64}, {"v5props/4KiB", V5, 4096},
}

func BenchmarkPublishUnmarshal(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			enc, err := benchPublish(c.v, c.payload).Append(nil, c.v)
			if err != nil {
				b.Fatal(err)
			}
			_, n, _ := getVBI(enc[1:])
			body, flags := enc[1+n:], enc[0]&0x0f
			var p Publish
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Unmarshal(flags, body, c.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPublishAppend(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			p := benchPublish(c.v, c.payload)
			buf := make([]byte, 0, Size(p, c.v))
			b.SetBytes(int64(Size(p, c.v)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = p.Append(buf[:0], c.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAck(b *testing.B) {
	for _, v := range []Version{V311, V5} {
		a := &Ack{PacketType: PUBACK, PacketID: 42}
		if v == V5 {
			a.ReasonCode = NoMatchingSubscribers
		}
		b.Run("Append/"+v.String(), func(b *testing.B) {
			buf := make([]byte, 0, 16)
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = a.Append(buf[:0], v)
			}
		})
		enc, _ := a.Append(nil, v)
		b.Run("Unmarshal/"+v.String(), func(b *testing.B) {
			var x Ack
			b.ReportAllocs()
			for b.Loop() {
				if err := x.Unmarshal(PUBACK, 0, enc[2:], v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchConnect() *Connect {
	return &Connect{Version: V5, CleanStart: true, KeepAlive: 60, ClientID: "client-0123456789",
		Properties: Properties{Present: 1<<PropSessionExpiry | 1<<PropReceiveMaximum, SessionExpiry: 3600, ReceiveMaximum: 100},
		WillFlag:   true, WillQoS: 1, WillTopic: "clients/client-0123456789/status", WillPayload: []byte("offline"),
		UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte("secret")}
}

func benchSubscribe() *Subscribe {
	return &Subscribe{PacketID: 7, Properties: Properties{SubscriptionIDs: []uint32{12}},
		Subscriptions: []Subscription{{Filter: "sensors/+/temperature", Options: SubOptions{QoS: 1}},
			{Filter: "alerts/#", Options: SubOptions{QoS: 2, NoLocal: true}}, {Filter: "$share/g/jobs", Options: SubOptions{QoS: 1}}}}
}

// BenchmarkPacket: CONNECT, SUBSCRIBE and PUBLISH through the allocating
// entry points, and Append.
func BenchmarkPacket(b *testing.B) {
	for _, c := range []struct {
		name string
		p    Packet
	}{{"CONNECT", benchConnect()}, {"SUBSCRIBE", benchSubscribe()}, {"PUBLISH-v5-64B", benchPublish(V5, 64)}} {
		enc, err := Append(nil, c.p, V5)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("DecodeBytes/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := DecodeBytes(enc, V5, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("ReadPacket/"+c.name, func(b *testing.B) {
			rd := bytes.NewReader(enc)
			br := bufio.NewReader(rd)
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(enc)
				br.Reset(rd)
				if _, err := ReadPacket(br, V5, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("Append/"+c.name, func(b *testing.B) {
			buf := make([]byte, 0, 256)
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = Append(buf[:0], c.p, V5)
			}
		})
	}
}

// TestHotPathAllocs: PUBLISH and acknowledgements encode and decode
// without allocating.
func TestHotPathAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	for _, c := range benchCases {
		p := benchPublish(c.v, c.payload)
		buf := make([]byte, 0, Size(p, c.v))
		enc, _ := p.Append(nil, c.v)
		_, n, _ := getVBI(enc[1:])
		var q Publish
		if err := q.Unmarshal(enc[0]&0x0f, enc[1+n:], c.v); err != nil { // warm the reused slices
			t.Fatal(err)
		}
		if a := testing.AllocsPerRun(100, func() { buf, _ = p.Append(buf[:0], c.v) }); a != 0 {
			t.Errorf("%s: Publish.Append %v allocs", c.name, a)
		}
		if a := testing.AllocsPerRun(100, func() { _ = q.Unmarshal(enc[0]&0x0f, enc[1+n:], c.v) }); a != 0 {
			t.Errorf("%s: Publish.Unmarshal %v allocs", c.name, a)
		}
	}
	ack := &Ack{PacketType: PUBREC, PacketID: 1, ReasonCode: UnspecifiedError,
		Properties: Properties{Present: 1 << PropReasonString, ReasonString: "no", User: []UserProperty{{"k", "v"}}}}
	buf := make([]byte, 0, 64)
	enc, _ := ack.Append(nil, V5)
	var x Ack
	_ = x.Unmarshal(PUBREC, 0, enc[2:], V5)
	if a := testing.AllocsPerRun(100, func() { buf, _ = ack.Append(buf[:0], V5) }); a != 0 {
		t.Errorf("Ack.Append %v allocs", a)
	}
	if a := testing.AllocsPerRun(100, func() { _ = x.Unmarshal(PUBREC, 0, enc[2:], V5) }); a != 0 {
		t.Errorf("Ack.Unmarshal %v allocs", a)
	}
}
