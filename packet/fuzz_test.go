package packet

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

// Fuzz targets: no input panics or hangs, every error is an *Error or an
// io error, and every packet that decodes re-encodes (to Size bytes) and
// decodes back to the same value.

func seeds(f *testing.F, v Version, add func(b []byte)) {
	for _, c := range decodeErrorCases {
		if c.v == v {
			add(c.in)
		}
	}
	for _, p := range []Packet{benchConnect(), benchSubscribe(), benchPublish(v, 16),
		&Ack{PacketType: PUBREL, PacketID: 3}, &Suback{PacketID: 1, ReasonCodes: []ReasonCode{0, 1, 2}},
		&Unsubscribe{PacketID: 2, Filters: []string{"a/#", "b"}}, &Unsuback{PacketID: 2, ReasonCodes: []ReasonCode{0}},
		&Connack{SessionPresent: true}, &Disconnect{ReasonCode: ServerBusy}, &Auth{ReasonCode: ContinueAuthentication},
		&Pingreq{}, &Pingresp{}, &Connect{Version: V31, ClientID: "c"}, &Connect{Version: V311, ClientID: "c", UsernameFlag: true, Username: "u"}} {
		if b, err := Append(nil, p, v); err == nil {
			add(b)
		}
	}
	// Generated packets carry every property the packet allows.
	gen := rapid.Custom(func(t *rapid.T) Packet { return genPacket(t, v) })
	for i := range 40 {
		if b, err := Append(nil, gen.Example(i), v); err == nil {
			add(b)
		}
	}
}

func checkErr(t *testing.T, err error) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		t.Fatalf("error of unexpected kind: %T %v", err, err)
	}
}

// checkReencode encodes p at v, checks Size, decodes it again and compares.
func checkReencode(t *testing.T, p Packet, v Version) {
	t.Helper()
	enc, err := Append(nil, p, v)
	if err != nil {
		t.Fatalf("decoded %#v does not encode: %v", p, err)
	}
	if n := Size(p, v); n != len(enc) {
		t.Fatalf("Size %d, encoded %d", n, len(enc))
	}
	q, n, err := DecodeBytes(enc, v, 0)
	if err != nil || n != len(enc) {
		t.Fatalf("re-encoded %x does not decode: %v", enc, err)
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("re-decoded differs:\n got %#v\nwant %#v", q, p)
	}
}

func fuzzDecodeBytes(f *testing.F, v Version) {
	seeds(f, v, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, b []byte) {
		p, n, err := DecodeBytes(b, v, 0)
		if err != nil {
			checkErr(t, err)
			if n != 0 {
				t.Fatalf("consumed %d bytes on error", n)
			}
			if c, ok := p.(*Connect); p != nil && (!ok || c == nil) {
				t.Fatalf("packet %#v returned with error", p)
			}
			return
		}
		if n < 2 || n > len(b) {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		checkReencode(t, p, v)
	})
}

func FuzzDecodeBytesV31(f *testing.F)  { fuzzDecodeBytes(f, V31) }
func FuzzDecodeBytesV311(f *testing.F) { fuzzDecodeBytes(f, V311) }
func FuzzDecodeBytesV5(f *testing.F)   { fuzzDecodeBytes(f, V5) }

// FuzzReadPacket reads a stream of packets under a size limit.
func FuzzReadPacket(f *testing.F) {
	for _, v := range versions {
		seeds(f, v, func(b []byte) { f.Add(append(b, b...), byte(v), uint16(0)) })
	}
	f.Add(hx("30 FF FF FF 7F 00"), byte(V5), uint16(100))
	f.Fuzz(func(t *testing.T, b []byte, level byte, max uint16) {
		v := Version(level%3 + 3)
		br := bytes.NewReader(b)
		r := bufio.NewReader(br)
		for i := 0; ; i++ {
			before := br.Len() + r.Buffered()
			p, err := ReadPacket(r, v, int(max))
			if err != nil {
				checkErr(t, err)
				return
			}
			if used := before - br.Len() - r.Buffered(); max > 0 && used > int(max) {
				t.Fatalf("packet of %d bytes passed maxSize %d", used, max)
			}
			checkReencode(t, p, v)
			if i > len(b) {
				t.Fatalf("more packets than bytes")
			}
		}
	})
}

// FuzzPublishUnmarshal decodes into a reused value.
func FuzzPublishUnmarshal(f *testing.F) {
	for _, v := range []Version{V311, V5} {
		seeds(f, v, func(b []byte) {
			if len(b) > 2 && Type(b[0]>>4) == PUBLISH {
				_, n, _ := getVBI(b[1:])
				f.Add(b[0]&0x0f, b[1+n:], v == V5)
			}
		})
	}
	var p Publish // reused across inputs, as on the hot path
	f.Fuzz(func(t *testing.T, flags byte, body []byte, v5 bool) {
		v := V311
		if v5 {
			v = V5
		}
		err := p.Unmarshal(flags, body, v)
		d, derr := Decode(FixedHeader{Type: PUBLISH, Flags: flags, Remaining: len(body)}, body, v)
		if (err == nil) != (derr == nil) && flags <= 0x0f {
			t.Fatalf("Unmarshal %v, Decode %v", err, derr)
		}
		if err != nil {
			checkErr(t, err)
			return
		}
		q := p
		q.Properties.compact()
		if !reflect.DeepEqual(&q, d) {
			t.Fatalf("Unmarshal %#v\nDecode %#v", &q, d)
		}
		enc, err := p.Append(nil, v)
		if err != nil {
			t.Fatalf("does not encode: %v", err)
		}
		if len(enc) != Size(&p, v) {
			t.Fatalf("Size %d, encoded %d", Size(&p, v), len(enc))
		}
		checkReencode(t, d, v)
	})
}

// FuzzAckUnmarshal decodes acknowledgements into a reused value.
func FuzzAckUnmarshal(f *testing.F) {
	f.Add(byte(PUBACK), byte(0), hx("00 01"), true)
	f.Add(byte(PUBREL), byte(2), hx("00 01 92"), true)
	f.Add(byte(PUBREC), byte(0), hx("00 01 80 04 1F 00 01 'x'"), true)
	f.Add(byte(PUBCOMP), byte(0), hx("00 01"), false)
	var a Ack
	f.Fuzz(func(t *testing.T, typ, flags byte, body []byte, v5 bool) {
		v := V311
		if v5 {
			v = V5
		}
		if err := a.Unmarshal(Type(typ), flags, body, v); err != nil {
			checkErr(t, err)
			return
		}
		q := a
		q.Properties.compact()
		checkReencode(t, &q, v)
	})
}
