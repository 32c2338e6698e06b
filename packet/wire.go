package packet

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
	"unsafe"
)

// MaxRemaining is the largest Remaining Length the protocol can express
// (four bytes of variable byte integer).
const MaxRemaining = 268_435_455

const maxStr = 65_535 // two-byte length prefix

var (
	errShort      = &Error{Code: MalformedPacket, Reason: "field runs past the end of the packet"}
	errTrailing   = &Error{Code: MalformedPacket, Reason: "trailing bytes after the packet"}
	errVBILong    = &Error{Code: MalformedPacket, Reason: "variable byte integer exceeds four bytes"}
	errVBIOver    = &Error{Code: MalformedPacket, Reason: "variable byte integer not encoded in the minimum number of bytes"}
	errBadUTF8    = &Error{Code: MalformedPacket, Reason: "string is not well-formed UTF-8 or contains U+0000"}
	errPacketID0  = &Error{Code: ProtocolError, Reason: "packet identifier 0"}
	errWildName   = &Error{Code: TopicNameInvalid, Reason: "topic name contains a wildcard"}
	errEmptyTopic = &Error{Code: TopicNameInvalid, Reason: "empty topic name"}
)

// reader walks a packet body. Strings and byte slices it returns alias b.
type reader struct {
	b []byte
	i int
}

func (r *reader) left() int { return len(r.b) - r.i }

func (r *reader) u8() (byte, error) {
	if r.i >= len(r.b) {
		return 0, errShort
	}
	c := r.b[r.i]
	r.i++
	return c, nil
}

func (r *reader) u16() (uint16, error) {
	if len(r.b)-r.i < 2 {
		return 0, errShort
	}
	v := uint16(r.b[r.i])<<8 | uint16(r.b[r.i+1])
	r.i += 2
	return v, nil
}

func (r *reader) u32() (uint32, error) {
	if len(r.b)-r.i < 4 {
		return 0, errShort
	}
	b := r.b[r.i : r.i+4]
	r.i += 4
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), nil
}

func (r *reader) vbi() (int, error) {
	v, n, err := getVBI(r.b[r.i:])
	r.i += n
	return v, err
}

// bin reads a two-byte length prefixed byte string. The result's capacity is
// its length, so appending to it never overwrites the following fields; an
// empty one is nil.
func (r *reader) bin() ([]byte, error) {
	if len(r.b)-r.i < 2 {
		return nil, errShort
	}
	n := int(r.b[r.i])<<8 | int(r.b[r.i+1])
	if len(r.b)-r.i-2 < n {
		return nil, errShort
	}
	s := r.i + 2
	r.i = s + n
	if n == 0 {
		return nil, nil
	}
	return r.b[s:r.i:r.i], nil
}

// str reads a UTF-8 string [MQTT-1.5.3-1] [MQTT-1.5.3-2] [MQTT5-1.5.4-1] [MQTT5-1.5.4-2].
func (r *reader) str() (string, error) {
	b, err := r.bin()
	if err != nil {
		return "", err
	}
	if !validUTF8(b) {
		return "", errBadUTF8
	}
	return alias(b), nil
}

// alias returns b as a string without copying. b must not change while the
// string is in use.
func alias(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// zeroByte is non-zero when a byte of x is zero.
func zeroByte(x uint64) uint64 { return (x - lsb) &^ x & msb }

// plainPrefix returns the length of the prefix of b, in whole 8-byte words,
// holding only ASCII bytes other than U+0000 (and, with wild, other than
// '+' and '#').
func plainPrefix(b []byte, wild bool) int {
	i := 0
	for ; len(b)-i >= 8; i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		bad := w&msb | zeroByte(w)
		if wild {
			bad |= zeroByte(w^(lsb*'+')) | zeroByte(w^(lsb*'#'))
		}
		if bad != 0 {
			break
		}
	}
	return i
}

// validUTF8 reports whether b is well-formed UTF-8 (no surrogates, no
// overlong forms) without U+0000 [MQTT-1.5.3-1] [MQTT-1.5.3-2]
// [MQTT5-1.5.4-1] [MQTT5-1.5.4-2]. A BOM (EF BB BF) is kept as is
// [MQTT-1.5.3-3] [MQTT5-1.5.4-3].
func validUTF8(b []byte) bool {
	b = b[plainPrefix(b, false):]
	for i, c := range b {
		if c == 0 {
			return false
		}
		if c >= utf8.RuneSelf {
			return bytes.IndexByte(b[i:], 0) < 0 && utf8.Valid(b[i:])
		}
	}
	return true
}

func validString(s string) bool {
	return len(s) <= maxStr && validUTF8(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// checkTopicName validates a topic name: UTF-8 without U+0000 and without
// wildcards [MQTT-3.3.2-2] [MQTT5-3.3.2-2] [MQTT-4.7.1-1] [MQTT5-4.7.0-1].
// Emptiness is checked by the caller (MQTT 5 allows it with a Topic Alias).
func checkTopicName(b []byte) error {
	b = b[plainPrefix(b, true):]
	for i, c := range b {
		switch {
		case c == '+' || c == '#':
			return errWildName
		case c == 0:
			return errBadUTF8
		case c >= utf8.RuneSelf:
			if !validUTF8(b[i:]) {
				return errBadUTF8
			}
			if bytes.IndexByte(b[i:], '+') >= 0 || bytes.IndexByte(b[i:], '#') >= 0 {
				return errWildName
			}
			return nil
		}
	}
	return nil
}

func checkTopicNameString(s string) error {
	if len(s) > maxStr {
		return invalid(MalformedPacket, "topic name longer than 65535 bytes")
	}
	return checkTopicName(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// getVBI decodes a variable byte integer at the start of b. It rejects more
// than four bytes and non-minimal encodings: MQTT 5 requires the minimum
// number of bytes [MQTT5-1.5.5-1], and MQTT 3.1.1 section 2.2.3 defines the
// encoding by an algorithm that only produces minimal forms, so both levels
// get the same check.
func getVBI(b []byte) (v, n int, err error) {
	for shift := 0; n < 4; shift += 7 {
		if n >= len(b) {
			return 0, n, errShort
		}
		c := b[n]
		n++
		v |= int(c&0x7f) << shift
		if c < 0x80 {
			if c == 0 && n > 1 {
				return 0, n, errVBIOver
			}
			return v, n, nil
		}
	}
	return 0, n, errVBILong
}

func vbiLen(v int) int {
	switch {
	case v < 1<<7:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<21:
		return 3
	}
	return 4
}

func appendVBI(dst []byte, v int) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

func appendU16(dst []byte, v uint16) []byte { return append(dst, byte(v>>8), byte(v)) }

func appendU32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func appendStr(dst []byte, s string) []byte {
	dst = append(dst, byte(len(s)>>8), byte(len(s)))
	return append(dst, s...)
}

func appendBin(dst []byte, b []byte) []byte {
	dst = append(dst, byte(len(b)>>8), byte(len(b)))
	return append(dst, b...)
}

// fixedFlagsOK checks the fixed header flags of Table 2.2 [MQTT-2.2.2-1]
// [MQTT-2.2.2-2] [MQTT5-2.1.3-1]: PUBREL, SUBSCRIBE and UNSUBSCRIBE carry
// 0010 [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1] [MQTT5-3.6.1-1]
// [MQTT5-3.8.1-1] [MQTT5-3.10.1-1], PUBLISH any flags but QoS 3
// [MQTT-3.3.1-4] [MQTT5-3.3.1-4], the others 0000 [MQTT5-3.15.1-1].
func fixedFlagsOK(t Type, f byte) bool {
	switch t {
	case PUBLISH:
		return f&0x06 != 0x06
	case PUBREL, SUBSCRIBE, UNSUBSCRIBE:
		return f == 0x02
	}
	return f == 0
}

// reason code sets per packet (MQTT 5 sections 3.2.2.2, 3.4.2.1, 3.5.2.1,
// 3.6.2.1, 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1, 3.15.2.1).
type codeSet [4]uint64

func (s *codeSet) has(c ReasonCode) bool { return s[c>>6]&(1<<(c&63)) != 0 }

func mkSet(codes ...byte) (s codeSet) {
	for _, c := range codes {
		s[c>>6] |= 1 << (c & 63)
	}
	return s
}

var (
	connackCodes = mkSet(0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C,
		0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F)
	pubackCodes     = mkSet(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99) // PUBACK, PUBREC
	pubrelCodes     = mkSet(0x00, 0x92)                                           // PUBREL, PUBCOMP
	subackCodes     = mkSet(0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2)
	unsubackCodes   = mkSet(0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91)
	disconnectCodes = mkSet(0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F,
		0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2)
	authCodes = mkSet(0x00, 0x18, 0x19)
)

func ackCodes(t Type) *codeSet {
	if t == PUBACK || t == PUBREC {
		return &pubackCodes
	}
	return &pubrelCodes
}
