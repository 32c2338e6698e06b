package packet

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// FixedHeader is the first part of every packet: the type, the four flag
// bits and the Remaining Length (the size of the body that follows).
type FixedHeader struct {
	Type      Type
	Flags     byte
	Remaining int
}

// Size is the size of the fixed header on the wire.
func (fh FixedHeader) Size() int { return 1 + vbiLen(fh.Remaining) }

var errTypeReserved = &Error{Code: MalformedPacket, Reason: "reserved packet type 0"}

func checkFirstByte(c byte) (Type, byte, error) {
	t, f := Type(c>>4), c&0x0f
	if t == 0 {
		return t, f, errTypeReserved
	}
	if !fixedFlagsOK(t, f) {
		return t, f, &Error{Code: MalformedPacket, Reason: "invalid fixed header flags 0x" +
			strconv.FormatUint(uint64(f), 16) + " for " + t.String()}
	}
	return t, f, nil
}

func checkSize(rem, hdr, maxSize int) error {
	if maxSize > 0 && rem+hdr > maxSize {
		return &Error{Code: PacketTooLarge, Reason: "packet of " + strconv.Itoa(rem+hdr) +
			" bytes exceeds the maximum packet size " + strconv.Itoa(maxSize)}
	}
	return nil
}

// ReadFixedHeader reads a fixed header. It rejects the reserved type 0,
// flags Table 2.2 does not allow for the type [MQTT-2.2.2-1]
// [MQTT-2.2.2-2] [MQTT5-2.1.3-1], a Remaining Length longer than four bytes
// or not minimally encoded [MQTT5-1.5.5-1] (MalformedPacket), and a packet
// larger than maxSize bytes in total (PacketTooLarge), before the body is
// read. maxSize 0 means no limit besides the protocol's. An error of r is
// returned wrapped: io.EOF before the first byte, io.ErrUnexpectedEOF after.
func ReadFixedHeader(r io.ByteReader, maxSize int) (FixedHeader, error) {
	c, err := r.ReadByte()
	if err != nil {
		return FixedHeader{}, fmt.Errorf("packet: reading fixed header: %w", err)
	}
	t, f, perr := checkFirstByte(c)
	if perr != nil {
		return FixedHeader{Type: t, Flags: f}, perr
	}
	rem, n := 0, 0
	for shift := 0; ; shift += 7 {
		if n == 4 {
			return FixedHeader{Type: t, Flags: f}, &Error{Code: MalformedPacket, Reason: "remaining length exceeds four bytes"}
		}
		c, err = r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return FixedHeader{Type: t, Flags: f}, fmt.Errorf("packet: reading remaining length: %w", err)
		}
		n++
		rem |= int(c&0x7f) << shift
		if c < 0x80 {
			if c == 0 && n > 1 {
				return FixedHeader{Type: t, Flags: f}, errVBIOver
			}
			break
		}
	}
	fh := FixedHeader{Type: t, Flags: f, Remaining: rem}
	return fh, checkSize(rem, 1+n, maxSize)
}

// ReadPacket reads and decodes one packet from r: ReadFixedHeader, the
// body, Decode. The packet owns the body buffer (its strings and slices point
// into it), which has exactly Remaining bytes. Bodies over 1 MiB are read in
// growing steps, so memory is only committed as the bytes arrive. See
// Decode for v and errors.
func ReadPacket(r *bufio.Reader, v Version, maxSize int) (Packet, error) {
	fh, err := ReadFixedHeader(r, maxSize)
	if err != nil {
		return nil, err
	}
	body, err := readBody(r, fh.Remaining)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("packet: reading %s body: %w", fh.Type, err)
	}
	return decodeOwned(fh, body, v)
}

const bodyStep = 1 << 20

func readBody(r io.Reader, n int) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if n <= bodyStep {
		body := make([]byte, n)
		_, err := io.ReadFull(r, body)
		return body, err
	}
	body := make([]byte, 0, bodyStep)
	for {
		m, err := io.ReadFull(r, body[len(body):cap(body)])
		body = body[:len(body)+m]
		if err != nil {
			return nil, err
		}
		if len(body) == n {
			return body, nil
		}
		next := make([]byte, len(body), min(2*cap(body), n))
		copy(next, body)
		body = next
	}
}

// DecodeBytes decodes the packet at the start of b and returns it with the
// number of bytes it took. The packet does not alias b. When b holds only
// part of a packet, the error wraps io.ErrUnexpectedEOF (a stream reader
// should wait for more bytes); a header announcing more than maxSize bytes
// fails with PacketTooLarge without waiting for the body.
func DecodeBytes(b []byte, v Version, maxSize int) (Packet, int, error) {
	if len(b) == 0 {
		return nil, 0, fmt.Errorf("packet: empty input: %w", io.ErrUnexpectedEOF)
	}
	t, f, err := checkFirstByte(b[0])
	if err != nil {
		return nil, 0, err
	}
	rem, n, err := getVBI(b[1:])
	if err != nil {
		if err == errShort {
			return nil, 0, fmt.Errorf("packet: incomplete remaining length: %w", io.ErrUnexpectedEOF)
		}
		return nil, 0, err
	}
	hdr := 1 + n
	if err := checkSize(rem, hdr, maxSize); err != nil {
		return nil, 0, err
	}
	if len(b)-hdr < rem {
		return nil, 0, fmt.Errorf("packet: incomplete %s: %w", t, io.ErrUnexpectedEOF)
	}
	p, err := Decode(FixedHeader{Type: t, Flags: f, Remaining: rem}, b[hdr:hdr+rem], v)
	if err != nil {
		return p, 0, err
	}
	return p, hdr + rem, nil
}

// Decode decodes one packet body (len(body) must be fh.Remaining). v is
// the session's protocol level; it is ignored for CONNECT, which carries its
// own. Any v other than V5 decodes MQTT 3 packets. The packet does not alias
// body.
//
// For CONNECT, once the protocol name and level have been read, Decode
// returns the partially decoded *Connect together with any error, so that a
// server can answer in the client's version: with an *Error of Code
// UnsupportedProtocolVersion (unknown name or level [MQTT-3.1.2-2]
// [MQTT5-3.1.2-1] [MQTT5-3.1.2-2]) the *Connect holds ProtocolName and
// Version as received.
func Decode(fh FixedHeader, body []byte, v Version) (Packet, error) {
	if len(body) != fh.Remaining {
		return nil, malformed("body length differs from the remaining length")
	}
	if len(body) > 0 {
		body = append([]byte(nil), body...)
	}
	return decodeOwned(fh, body, v)
}

// decodeOwned decodes a body the caller gives up: the packet aliases it.
func decodeOwned(fh FixedHeader, body []byte, v Version) (Packet, error) {
	if fh.Type == 0 || fh.Type > AUTH || fh.Flags > 0x0f {
		return nil, malformed("invalid fixed header")
	}
	if _, _, err := checkFirstByte(byte(fh.Type)<<4 | fh.Flags); err != nil {
		return nil, err
	}
	switch fh.Type {
	case CONNECT:
		c := new(Connect)
		if err := c.decode(body); err != nil {
			if c.Version == 0 && c.ProtocolName == "" {
				return nil, err
			}
			return c, err
		}
		return c, nil
	case PUBLISH:
		p := new(Publish)
		if err := p.Unmarshal(fh.Flags, body, v); err != nil {
			return nil, err
		}
		p.Properties.compact()
		return p, nil
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		a := new(Ack)
		if err := a.Unmarshal(fh.Type, fh.Flags, body, v); err != nil {
			return nil, err
		}
		a.Properties.compact()
		return a, nil
	case PINGREQ, PINGRESP:
		if len(body) != 0 {
			return nil, malformed(fh.Type.String() + " with a body")
		}
		if fh.Type == PINGREQ {
			return &Pingreq{}, nil
		}
		return &Pingresp{}, nil
	case AUTH:
		if v != V5 {
			return nil, protoErr("AUTH before MQTT 5")
		}
	}
	r := reader{b: body}
	var p Packet
	var err error
	switch fh.Type {
	case CONNACK:
		x := new(Connack)
		p, err = x, x.decode(&r, v)
	case SUBSCRIBE:
		x := new(Subscribe)
		p, err = x, x.decode(&r, v)
	case SUBACK:
		x := new(Suback)
		p, err = x, x.decode(&r, v)
	case UNSUBSCRIBE:
		x := new(Unsubscribe)
		p, err = x, x.decode(&r, v)
	case UNSUBACK:
		x := new(Unsuback)
		p, err = x, x.decode(&r, v)
	case DISCONNECT:
		x := new(Disconnect)
		p, err = x, x.decode(&r, v)
	default: // AUTH
		x := new(Auth)
		p, err = x, x.decode(&r, v)
	}
	if err != nil {
		return nil, err
	}
	if r.left() != 0 {
		return nil, errTrailing
	}
	return p, nil
}

// compact drops empty non-nil slices left by decodeProps so that decoded
// values compare equal to freshly built ones.
func (p *Properties) compact() {
	if len(p.User) == 0 {
		p.User = nil
	}
	if len(p.SubscriptionIDs) == 0 {
		p.SubscriptionIDs = nil
	}
}

func (c *Connect) decode(body []byte) error {
	r := reader{b: body}
	name, err := r.str()
	if err != nil {
		return err
	}
	level, err := r.u8()
	if err != nil {
		return err
	}
	c.ProtocolName, c.Version = name, Version(level)
	switch {
	case name == "MQTT" && (c.Version == V311 || c.Version == V5):
	case name == "MQIsdp" && c.Version == V31:
	default:
		return &Error{Code: UnsupportedProtocolVersion, Reason: "unsupported protocol " +
			strconv.Quote(name) + " level " + strconv.Itoa(int(level))}
	}
	flags, err := r.u8()
	if err != nil {
		return err
	}
	if flags&0x01 != 0 { // [MQTT-3.1.2-3] [MQTT5-3.1.2-3]
		return malformed("CONNECT reserved flag is set")
	}
	c.CleanStart = flags&0x02 != 0
	c.WillFlag = flags&0x04 != 0
	c.WillQoS = QoS(flags >> 3 & 0x03)
	c.WillRetain = flags&0x20 != 0
	c.PasswordFlag = flags&0x40 != 0
	c.UsernameFlag = flags&0x80 != 0
	if c.WillQoS == 3 { // [MQTT-3.1.2-14] [MQTT5-3.1.2-12]
		return malformed("will QoS 3")
	}
	if !c.WillFlag && (c.WillQoS != 0 || c.WillRetain) { // [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15] [MQTT5-3.1.2-11] [MQTT5-3.1.2-13]
		return malformed("will QoS or will retain set without the will flag")
	}
	if c.PasswordFlag && !c.UsernameFlag && c.Version != V5 { // [MQTT-3.1.2-22]
		return malformed("password flag without user name flag")
	}
	if c.KeepAlive, err = r.u16(); err != nil {
		return err
	}
	if c.Version == V5 {
		if err := decodeProps(&r, &c.Properties, CONNECT); err != nil {
			return err
		}
		c.Properties.compact()
	}
	// [MQTT-3.1.3-1] [MQTT5-3.1.3-1] payload order; [MQTT-3.1.3-3] [MQTT5-3.1.3-3] client id first
	if c.ClientID, err = r.str(); err != nil { // [MQTT-3.1.3-4] [MQTT5-3.1.3-4]
		return err
	}
	if c.WillFlag { // [MQTT-3.1.2-9] [MQTT5-3.1.2-9]
		if c.Version == V5 {
			if err := decodeProps(&r, &c.WillProperties, willCtx); err != nil {
				return err
			}
			c.WillProperties.compact()
		}
		if c.WillTopic, err = r.str(); err != nil { // [MQTT-3.1.3-10] [MQTT5-3.1.3-11]
			return err
		}
		if err := checkWillTopic(c.WillTopic); err != nil {
			return err
		}
		if c.WillPayload, err = r.bin(); err != nil {
			return err
		}
	}
	if c.UsernameFlag { // [MQTT-3.1.2-19] [MQTT5-3.1.2-17]
		if c.Username, err = r.str(); err != nil { // [MQTT-3.1.3-11] [MQTT5-3.1.3-12]
			return err
		}
	}
	if c.PasswordFlag { // [MQTT-3.1.2-21] [MQTT5-3.1.2-19]
		if c.Password, err = r.bin(); err != nil {
			return err
		}
	}
	if r.left() != 0 { // [MQTT-3.1.2-18] [MQTT-3.1.2-20] [MQTT5-3.1.2-16] [MQTT5-3.1.2-18]
		return errTrailing
	}
	return nil
}

func checkWillTopic(s string) error {
	if s == "" {
		return errEmptyTopic
	}
	return checkTopicNameString(s)
}

func (c *Connack) decode(r *reader, v Version) error {
	flags, err := r.u8()
	if err != nil {
		return err
	}
	code, err := r.u8()
	if err != nil {
		return err
	}
	c.ReasonCode = ReasonCode(code)
	switch {
	case v == V31:
		// MQTT 3.1 has no Session Present flag: the byte is reserved and ignored.
	case flags&^1 != 0: // [MQTT5-3.2.2-1]
		return malformed("CONNACK reserved flag bits are set")
	default:
		c.SessionPresent = flags&1 != 0
	}
	if c.SessionPresent && code != 0 { // [MQTT-3.2.2-4] [MQTT5-3.2.2-6]
		return protoErr("CONNACK with session present and a non-zero return code")
	}
	if v != V5 {
		if code > 5 {
			return malformed("reserved CONNACK return code " + strconv.Itoa(int(code)))
		}
		return nil
	}
	if !connackCodes.has(c.ReasonCode) { // [MQTT5-3.2.2-8]
		return protoErr("invalid CONNACK reason code")
	}
	if err := decodeProps(r, &c.Properties, CONNACK); err != nil {
		return err
	}
	c.Properties.compact()
	return nil
}

func decodeV5Props(r *reader, p *Properties, t Type, v Version) error {
	if v != V5 {
		return nil
	}
	if err := decodeProps(r, p, t); err != nil {
		return err
	}
	p.compact()
	return nil
}

func readID(r *reader) (uint16, error) {
	id, err := r.u16()
	if err == nil && id == 0 { // [MQTT-2.3.1-1] [MQTT5-2.2.1-3]
		err = errPacketID0
	}
	return id, err
}

func (s *Subscribe) decode(r *reader, v Version) error {
	var err error
	if s.PacketID, err = readID(r); err != nil {
		return err
	}
	if err := decodeV5Props(r, &s.Properties, SUBSCRIBE, v); err != nil {
		return err
	}
	if r.left() == 0 { // [MQTT-3.8.3-3] [MQTT5-3.8.3-2]
		return protoErr("SUBSCRIBE without topic filters")
	}
	s.Subscriptions = make([]Subscription, 0, countEntries(r.b[r.i:], 1))
	for r.left() > 0 {
		f, err := r.str() // [MQTT-3.8.3-1] [MQTT5-3.8.3-1]
		if err != nil {
			return err
		}
		o, err := r.u8()
		if err != nil {
			return err
		}
		var opt SubOptions
		if opt, err = decodeSubOptions(o, v); err != nil {
			return err
		}
		if opt.NoLocal && isShared(f) { // [MQTT5-3.8.3-4]
			return protoErr("No Local on a shared subscription")
		}
		s.Subscriptions = append(s.Subscriptions, Subscription{Filter: f, Options: opt})
	}
	return nil
}

// countEntries counts the length-prefixed strings, each followed by extra
// bytes, in b, to size the slice they decode into.
func countEntries(b []byte, extra int) int {
	n := 0
	for len(b) >= 2 {
		l := 2 + (int(b[0])<<8 | int(b[1])) + extra
		if l > len(b) {
			l = len(b)
		}
		b = b[l:]
		n++
	}
	return n
}

func isShared(filter string) bool { return strings.HasPrefix(filter, "$share/") }

func decodeSubOptions(o byte, v Version) (SubOptions, error) {
	opt := SubOptions{QoS: QoS(o & 0x03)}
	if opt.QoS == 3 {
		return opt, malformed("subscription QoS 3") // [MQTT-3.8.3-4] [MQTT5-3.8.3-5]
	}
	if v != V5 {
		if o&^0x03 != 0 { // [MQTT-3.8.3-4]
			return opt, malformed("subscription reserved bits are set")
		}
		return opt, nil
	}
	if o&0xC0 != 0 { // [MQTT5-3.8.3-5]
		return opt, malformed("subscription options reserved bits are set")
	}
	opt.NoLocal = o&0x04 != 0
	opt.RetainAsPublished = o&0x08 != 0
	opt.RetainHandling = o >> 4 & 0x03
	if opt.RetainHandling == 3 {
		return opt, protoErr("Retain Handling 3")
	}
	return opt, nil
}

func (s *Suback) decode(r *reader, v Version) error {
	var err error
	if s.PacketID, err = readID(r); err != nil {
		return err
	}
	if err := decodeV5Props(r, &s.Properties, SUBACK, v); err != nil {
		return err
	}
	if r.left() == 0 { // [MQTT-3.8.4-5] [MQTT5-3.8.4-6]
		return protoErr("SUBACK without return codes")
	}
	s.ReasonCodes = make([]ReasonCode, r.left())
	for i, c := range r.b[r.i:] {
		if !validSubackCode(ReasonCode(c), v) { // [MQTT-3.9.3-2] [MQTT5-3.9.3-2]
			return protoErr("invalid SUBACK return code")
		}
		s.ReasonCodes[i] = ReasonCode(c)
	}
	r.i = len(r.b)
	return nil
}

// validSubackCode: granted QoS 0..2 or the failure 0x80 [MQTT-3.9.3-2],
// also at level 3 although MQTT 3.1 defines no failure code: a 3.1 server
// has no other way to refuse one filter of a SUBACK.
func validSubackCode(c ReasonCode, v Version) bool {
	if v == V5 {
		return subackCodes.has(c)
	}
	return c <= 2 || c == SubackFailure311
}

func (u *Unsubscribe) decode(r *reader, v Version) error {
	var err error
	if u.PacketID, err = readID(r); err != nil {
		return err
	}
	if err := decodeV5Props(r, &u.Properties, UNSUBSCRIBE, v); err != nil {
		return err
	}
	if r.left() == 0 { // [MQTT-3.10.3-2] [MQTT5-3.10.3-2]
		return protoErr("UNSUBSCRIBE without topic filters")
	}
	u.Filters = make([]string, 0, countEntries(r.b[r.i:], 0))
	for r.left() > 0 {
		f, err := r.str() // [MQTT-3.10.3-1] [MQTT5-3.10.3-1]
		if err != nil {
			return err
		}
		u.Filters = append(u.Filters, f)
	}
	return nil
}

func (u *Unsuback) decode(r *reader, v Version) error {
	var err error
	if u.PacketID, err = readID(r); err != nil {
		return err
	}
	if v != V5 {
		return nil
	}
	if err := decodeV5Props(r, &u.Properties, UNSUBACK, v); err != nil {
		return err
	}
	if r.left() == 0 { // [MQTT5-3.11.3-1]
		return protoErr("UNSUBACK without reason codes")
	}
	u.ReasonCodes = make([]ReasonCode, r.left())
	for i, c := range r.b[r.i:] {
		if !unsubackCodes.has(ReasonCode(c)) { // [MQTT5-3.11.3-2]
			return protoErr("invalid UNSUBACK reason code")
		}
		u.ReasonCodes[i] = ReasonCode(c)
	}
	r.i = len(r.b)
	return nil
}

// decodeReasonProps reads the optional reason code and properties of
// DISCONNECT and AUTH: absent means Success and no properties.
func decodeReasonProps(r *reader, code *ReasonCode, p *Properties, t Type, set *codeSet) error {
	if r.left() == 0 {
		return nil
	}
	c, _ := r.u8()
	if !set.has(ReasonCode(c)) { // [MQTT5-3.14.2-1] [MQTT5-3.15.2-1]
		return protoErr("invalid " + t.String() + " reason code")
	}
	*code = ReasonCode(c)
	if r.left() == 0 {
		return nil
	}
	return decodeV5Props(r, p, t, V5)
}

func (d *Disconnect) decode(r *reader, v Version) error {
	if v != V5 {
		return nil // body must be empty: the caller rejects trailing bytes [MQTT-3.14.1-1]
	}
	return decodeReasonProps(r, &d.ReasonCode, &d.Properties, DISCONNECT, &disconnectCodes)
}

func (a *Auth) decode(r *reader, v Version) error {
	return decodeReasonProps(r, &a.ReasonCode, &a.Properties, AUTH, &authCodes)
}
