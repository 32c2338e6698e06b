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

// TestRoundTrip: every valid packet of every level encodes to Size bytes and
// decodes back to the same value through DecodeBytes, ReadPacket and, for
// PUBLISH and acks, Unmarshal.
func TestRoundTrip(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				p := genPacket(t, v)
				b, err := Append(nil, p, v)
				if err != nil {
					t.Fatalf("Append(%#v): %v", p, err)
				}
				if n := Size(p, v); n != len(b) {
					t.Fatalf("Size = %d, encoded %d bytes", n, len(b))
				}
				prefix := []byte{0xAA}
				b2, err := Append(prefix, p, v)
				if err != nil || !bytes.Equal(b2[1:], b) || b2[0] != 0xAA {
					t.Fatalf("Append to a non-empty buffer: %x, %v", b2, err)
				}
				got, n, err := DecodeBytes(append(b, 0x01, 0x02), v, 0)
				if err != nil {
					t.Fatalf("DecodeBytes(%x): %v", b, err)
				}
				if n != len(b) {
					t.Fatalf("DecodeBytes consumed %d of %d", n, len(b))
				}
				if !reflect.DeepEqual(got, p) {
					t.Fatalf("DecodeBytes:\n got %#v\nwant %#v", got, p)
				}
				cut := rapid.IntRange(0, len(b)-1).Draw(t, "cut")
				if _, _, err := DecodeBytes(b[:cut], v, 0); !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("DecodeBytes of a %d-byte prefix: %v; want io.ErrUnexpectedEOF", cut, err)
				}
				got, err = ReadPacket(bufio.NewReader(bytes.NewReader(b)), v, len(b))
				if err != nil || !reflect.DeepEqual(got, p) {
					t.Fatalf("ReadPacket: %#v, %v", got, err)
				}
				if _, err := ReadPacket(bufio.NewReader(bytes.NewReader(b)), v, len(b)-1); !isCode(err, PacketTooLarge) {
					t.Fatalf("ReadPacket with maxSize one byte short: %v", err)
				}
				_, vn, _ := getVBI(b[1:])
				hdr := 1 + vn
				switch x := p.(type) {
				case *Publish:
					q := Publish{Properties: Properties{User: make([]UserProperty, 0, 4)}}
					if err := q.Unmarshal(b[0]&0x0f, b[hdr:], v); err != nil {
						t.Fatalf("Unmarshal: %v", err)
					}
					q.Properties.compact()
					if !reflect.DeepEqual(&q, x) {
						t.Fatalf("Unmarshal:\n got %#v\nwant %#v", &q, x)
					}
				case *Ack:
					var q Ack
					if err := q.Unmarshal(Type(b[0]>>4), b[0]&0x0f, b[hdr:], v); err != nil {
						t.Fatalf("Unmarshal: %v", err)
					}
					q.Properties.compact()
					if !reflect.DeepEqual(&q, x) {
						t.Fatalf("Unmarshal:\n got %#v\nwant %#v", &q, x)
					}
				}
			})
		})
	}
}

func isCode(err error, c ReasonCode) bool {
	e, ok := err.(*Error)
	return ok && e.Code == c
}

// TestFitProperty: Fit returns true only when the packet then fits and
// still encodes; when it returns false the packet is unchanged; it only
// ever removes the Reason String and User Properties.
func TestFitProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := rapid.SampledFrom(versions).Draw(t, "v")
		p := genPacket(t, v)
		enc, err := Append(nil, p, v)
		if err != nil {
			t.Fatal(err)
		}
		orig, _, _ := DecodeBytes(enc, v, 0) // a deep copy
		max := rapid.IntRange(1, len(enc)+1).Draw(t, "max")
		fits := Fit(p, v, max)
		if !fits {
			if !reflect.DeepEqual(p, orig) {
				t.Fatalf("Fit returned false and changed the packet")
			}
			if len(enc) <= max {
				t.Fatalf("Fit returned false for a packet of %d <= %d bytes", len(enc), max)
			}
			return
		}
		b, err := Append(nil, p, v)
		if err != nil || len(b) > max {
			t.Fatalf("after Fit: %d bytes > %d, %v", len(b), max, err)
		}
		if len(enc) <= max && !reflect.DeepEqual(p, orig) {
			t.Fatalf("Fit changed a packet that fitted")
		}
		// Only the Reason String and User Properties may have gone.
		got, _, _ := DecodeBytes(b, v, 0)
		for _, x := range []Packet{got, orig} {
			if pp := propsOf(x); pp != nil {
				pp.Clear(PropReasonString)
				pp.ReasonString = ""
				pp.Clear(PropUserProperty)
				pp.User = nil
			}
		}
		if !reflect.DeepEqual(got, orig) {
			t.Fatalf("Fit removed more than the Reason String and User Properties:\n got %#v\nwant %#v", got, orig)
		}
		if _, ok := p.(*Publish); ok && len(enc) > max {
			t.Fatalf("Fit made a PUBLISH fit")
		}
	})
}

func propsOf(p Packet) *Properties {
	switch x := p.(type) {
	case *Connack:
		return &x.Properties
	case *Ack:
		return &x.Properties
	case *Suback:
		return &x.Properties
	case *Unsuback:
		return &x.Properties
	case *Disconnect:
		return &x.Properties
	case *Auth:
		return &x.Properties
	}
	return nil
}
