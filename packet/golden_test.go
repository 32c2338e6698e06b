package packet_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/tern-mq/tern/internal/packettest"
	"github.com/tern-mq/tern/packet"
)

// The golden vectors live in internal/packettest so that the broker's tests
// can send the same bytes over a connection.

func TestGoldenDecode(t *testing.T) {
	for _, c := range packettest.Valid() {
		for _, v := range c.Versions {
			t.Run(fmt.Sprintf("%s/v%d", c.Name, v), func(t *testing.T) {
				raw := bytes.Clone(c.Raw)
				got, n, err := packet.DecodeBytes(raw, v, 0)
				if err != nil {
					t.Fatalf("DecodeBytes(% x): %v", c.Raw, err)
				}
				if n != len(c.Raw) {
					t.Errorf("consumed %d bytes of %d", n, len(c.Raw))
				}
				if !packettest.Equal(got, c.Packet) {
					t.Fatalf("decoded\n%+v\nwant\n%+v", packettest.Normalize(got), packettest.Normalize(c.Packet))
				}
				// The decoded packet must not alias the input buffer.
				for i := range raw {
					raw[i] = 0xEE
				}
				if !packettest.Equal(got, c.Packet) {
					t.Errorf("decoded packet changed with its input buffer: %+v", got)
				}
			})
		}
	}
}

// A packet followed by more bytes decodes the same and stops at its end.
func TestGoldenDecodeStopsAtPacketEnd(t *testing.T) {
	next := []byte{0xC0, 0x00} // a PINGREQ that follows in the stream
	for _, c := range packettest.Valid() {
		v := c.Versions[0]
		got, n, err := packet.DecodeBytes(append(bytes.Clone(c.Raw), next...), v, 0)
		if err != nil || n != len(c.Raw) || !packettest.Equal(got, c.Packet) {
			t.Errorf("%s: with a following packet: n=%d (want %d), err=%v", c.Name, n, len(c.Raw), err)
		}
	}
}

// Every proper prefix of a valid packet is incomplete: io.ErrUnexpectedEOF,
// never a packet and never a protocol error.
func TestGoldenDecodePrefixes(t *testing.T) {
	for _, c := range packettest.Valid() {
		v := c.Versions[0]
		for i := 0; i < len(c.Raw); i++ {
			p, n, err := packet.DecodeBytes(c.Raw[:i:i], v, 0)
			if !errors.Is(err, io.ErrUnexpectedEOF) || n != 0 || p != nil {
				t.Errorf("%s: prefix of %d bytes: got %v, %d, %v; want io.ErrUnexpectedEOF", c.Name, i, p, n, err)
				break
			}
		}
	}
}

func TestGoldenEncode(t *testing.T) {
	for _, c := range packettest.Valid() {
		if c.NonCanonical {
			continue
		}
		for _, v := range c.Versions {
			t.Run(fmt.Sprintf("%s/v%d", c.Name, v), func(t *testing.T) {
				if got := packet.Size(c.Packet, v); got != len(c.Raw) {
					t.Errorf("Size = %d, want %d", got, len(c.Raw))
				}
				got, err := packet.Append(nil, c.Packet, v)
				if err != nil {
					t.Fatalf("Append: %v", err)
				}
				if !bytes.Equal(got, c.Raw) {
					t.Fatalf("Append\n got % x\nwant % x", got, c.Raw)
				}
				// Append keeps what dst already holds.
				prefix := []byte("prefix")
				got, err = packet.Append(prefix, c.Packet, v)
				if err != nil || !bytes.Equal(got, append([]byte("prefix"), c.Raw...)) {
					t.Errorf("Append after a prefix: % x, %v", got, err)
				}
			})
		}
	}
}

// Non-canonical vectors re-encode to a form that decodes to the same packet.
func TestGoldenNonCanonicalReencode(t *testing.T) {
	for _, c := range packettest.Valid() {
		if !c.NonCanonical {
			continue
		}
		for _, v := range c.Versions {
			enc, err := packet.Append(nil, c.Packet, v)
			if err != nil {
				t.Errorf("%s: Append: %v", c.Name, err)
				continue
			}
			got, _, err := packet.DecodeBytes(enc, v, 0)
			if err != nil || !packettest.Equal(got, c.Packet) {
				t.Errorf("%s: re-encoded % x decodes to %+v, %v", c.Name, enc, got, err)
			}
		}
	}
}

func TestGoldenMalformed(t *testing.T) {
	for _, c := range packettest.Malformed() {
		for _, v := range c.Versions {
			t.Run(fmt.Sprintf("%s/v%d", c.Name, v), func(t *testing.T) {
				_, n, err := packet.DecodeBytes(c.Raw, v, c.MaxSize)
				var perr *packet.Error
				if !errors.As(err, &perr) {
					t.Fatalf("DecodeBytes(% x) = %d, %v; want *packet.Error with code 0x%02x %s (%s)",
						c.Raw, n, err, byte(c.Code), c.Code, c.Spec)
				}
				if perr.Code != c.Code {
					t.Fatalf("code 0x%02x (%s: %s), want 0x%02x %s (%s)",
						byte(perr.Code), perr.Code, perr.Reason, byte(c.Code), c.Code, c.Spec)
				}
				if perr.Reason == "" {
					t.Errorf("error without a reason")
				}
			})
		}
	}
}

// TestGoldenRemainingLength checks the Remaining Length examples of the
// specifications (3.1.1 table 2.4, 5.0 section 1.5.5) on real packets: a
// PINGREQ for 0, a QoS 0 PUBLISH to topic "a" with a payload of the rest.
func TestGoldenRemainingLength(t *testing.T) {
	for _, r := range packettest.RemainingLengths() {
		t.Run(fmt.Sprint(r.Value), func(t *testing.T) {
			var want packet.Packet = &packet.Pingreq{}
			raw := []byte{0xC0}
			raw = append(raw, r.Encoded...)
			if r.Value > 0 {
				pub := &packet.Publish{Topic: "a", Payload: make([]byte, r.Value-3)}
				want = pub
				if r.Value == packet.MaxRemaining {
					// 256 MiB: check the arithmetic and the header only.
					if got := packet.Size(pub, packet.V311); got != 1+len(r.Encoded)+r.Value {
						t.Errorf("Size = %d, want %d", got, 1+len(r.Encoded)+r.Value)
					}
					hdr := append([]byte{0x30}, r.Encoded...)
					hdr = append(hdr, 0, 1, 'a')
					if _, _, err := packet.DecodeBytes(hdr, packet.V311, 0); !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Errorf("header of a %d-byte body: %v, want io.ErrUnexpectedEOF", r.Value, err)
					}
					if _, _, err := packet.DecodeBytes(hdr, packet.V311, 1<<20); !errors.Is(err, &packet.Error{Code: packet.PacketTooLarge}) {
						t.Errorf("header of a %d-byte body with a 1 MiB limit: %v, want PacketTooLarge", r.Value, err)
					}
					return
				}
				for i := range pub.Payload {
					pub.Payload[i] = byte(i)
				}
				raw[0] = 0x30
				raw = append(raw, 0, 1, 'a')
				raw = append(raw, pub.Payload...)
			}
			got, err := packet.Append(nil, want, packet.V311)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:1+len(r.Encoded)], raw[:1+len(r.Encoded)]) || !bytes.Equal(got, raw) {
				t.Fatalf("encoded header % x, want % x", got[:min(len(got), 5)], raw[:1+len(r.Encoded)])
			}
			dec, n, err := packet.DecodeBytes(raw, packet.V311, len(raw))
			if err != nil || n != len(raw) || !packettest.Equal(dec, want) {
				t.Fatalf("decode: n=%d err=%v", n, err)
			}
			// One byte under the size limit: too large, before the body is needed.
			if _, _, err := packet.DecodeBytes(raw[:1+len(r.Encoded)], packet.V311, len(raw)-1); !errors.Is(err, &packet.Error{Code: packet.PacketTooLarge}) {
				t.Errorf("with limit %d: %v, want PacketTooLarge", len(raw)-1, err)
			}
		})
	}
	// One more than the largest Remaining Length cannot be encoded.
	big := &packet.Publish{Topic: "a", Payload: make([]byte, packet.MaxRemaining-2)}
	if out, err := packet.Append(nil, big, packet.V311); !errors.As(err, new(*packet.Error)) || len(out) != 0 {
		t.Errorf("Append of a %d-byte body: %d bytes, %v; want an *Error", packet.MaxRemaining+1, len(out), err)
	}
}
