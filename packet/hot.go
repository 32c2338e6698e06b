package packet

import "slices"

// The hot path: PUBLISH and its acknowledgements decode into reused values
// and encode into reused buffers without allocating.

var (
	errQoS3      = &Error{Code: MalformedPacket, Reason: "QoS 3"}
	errDupQoS0   = &Error{Code: MalformedPacket, Reason: "DUP flag set on a QoS 0 PUBLISH"}
	errNoAlias   = &Error{Code: ProtocolError, Reason: "empty topic name without a Topic Alias"}
	errNotAck    = &Error{Code: MalformedPacket, Reason: "not a PUBACK, PUBREC, PUBREL or PUBCOMP"}
	errAckFlags  = &Error{Code: MalformedPacket, Reason: "invalid fixed header flags for an acknowledgement"}
	errAckCode   = &Error{Code: ProtocolError, Reason: "invalid reason code for this acknowledgement"}
	errAckV3     = &Error{Code: ProtocolError, Reason: "reason code or properties in an MQTT 3 acknowledgement"}
	errTooLarge  = &Error{Code: PacketTooLarge, Reason: "remaining length exceeds 268435455 bytes"}
	errPubFlags  = &Error{Code: MalformedPacket, Reason: "invalid PUBLISH flags"}
	errPubIDQoS0 = &Error{Code: ProtocolError, Reason: "packet identifier 0 on a QoS 1 or 2 PUBLISH"}
)

// resetKeep zeroes p but keeps the capacity of its User and
// SubscriptionIDs slices.
func (p *Properties) resetKeep() {
	user, ids := p.User[:0], p.SubscriptionIDs[:0]
	*p = Properties{User: user, SubscriptionIDs: ids}
}

// Unmarshal decodes a PUBLISH body into p, given the fixed header flags and
// the session's protocol level v. It does not allocate (unless the
// properties hold more User Properties or Subscription Identifiers than p's
// slices have room for): Topic, Payload and the property strings and slices
// alias body and are valid until body is reused. On error p holds partial
// data.
func (p *Publish) Unmarshal(flags byte, body []byte, v Version) error {
	if flags > 0x0f {
		return errPubFlags
	}
	p.Dup = flags&0x08 != 0
	p.QoS = QoS(flags >> 1 & 0x03)
	p.Retain = flags&0x01 != 0
	if p.QoS == 3 { // [MQTT-3.3.1-4] [MQTT5-3.3.1-4]
		return errQoS3
	}
	if p.Dup && p.QoS == 0 { // [MQTT-3.3.1-2] [MQTT5-3.3.1-2]
		return errDupQoS0
	}
	r := reader{b: body}
	tb, err := r.bin() // [MQTT-3.3.2-1] [MQTT5-3.3.2-1]
	if err != nil {
		return err
	}
	if err := checkTopicName(tb); err != nil {
		return err
	}
	p.Topic = alias(tb)
	p.PacketID = 0
	if p.QoS > 0 {
		if p.PacketID, err = r.u16(); err != nil {
			return err
		}
		if p.PacketID == 0 { // [MQTT-2.3.1-1] [MQTT5-2.2.1-3]
			return errPubIDQoS0
		}
	}
	if v == V5 {
		if err := decodeProps(&r, &p.Properties, PUBLISH); err != nil {
			return err
		}
	} else {
		p.Properties.resetKeep()
	}
	if len(tb) == 0 {
		if v != V5 { // [MQTT-4.7.3-1]
			return errEmptyTopic
		}
		if !p.Properties.Has(PropTopicAlias) {
			return errNoAlias
		}
	}
	p.Payload = nil
	if r.i < len(body) {
		p.Payload = body[r.i:len(body):len(body)]
	}
	return nil
}

func (p *Publish) flags() byte {
	f := byte(p.QoS) << 1
	if p.Dup {
		f |= 0x08
	}
	if p.Retain {
		f |= 0x01
	}
	return f
}

func (p *Publish) check(v Version) error {
	if p.QoS > 2 { // [MQTT-3.3.1-4] [MQTT5-3.3.1-4]
		return errQoS3
	}
	if p.Dup && p.QoS == 0 { // [MQTT-3.3.1-2] [MQTT5-3.3.1-2]
		return errDupQoS0
	}
	if p.QoS > 0 && p.PacketID == 0 { // [MQTT-2.3.1-1] [MQTT5-2.2.1-3] [MQTT5-2.2.1-4]
		return errPubIDQoS0
	}
	if err := checkTopicNameString(p.Topic); err != nil {
		return err
	}
	if p.Topic == "" {
		if v != V5 {
			return errEmptyTopic
		}
		if !p.Properties.Has(PropTopicAlias) {
			return errNoAlias
		}
	}
	return nil
}

// bodyLen returns the Remaining Length for properties of length pl.
func (p *Publish) bodyLen(v Version, pl int) int {
	n := 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		n += 2
	}
	if v == V5 {
		n += vbiLen(pl) + pl
	}
	return n
}

// Append appends the encoded PUBLISH to dst. It does not allocate when dst
// has the capacity (see Size). PacketID is not encoded at QoS 0
// [MQTT-2.3.1-5] [MQTT5-2.2.1-2]. An invalid packet returns an *Error and
// dst unchanged.
func (p *Publish) Append(dst []byte, v Version) ([]byte, error) {
	if err := p.check(v); err != nil {
		return dst, err
	}
	pl, err := checkPropsLen(&p.Properties, PUBLISH, v)
	if err != nil {
		return dst, err
	}
	n := p.bodyLen(v, pl)
	if n > MaxRemaining {
		return dst, errTooLarge
	}
	dst = slices.Grow(dst, 1+vbiLen(n)+n)
	dst = append(dst, byte(PUBLISH)<<4|p.flags())
	dst = appendVBI(dst, n)
	dst = appendStr(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendU16(dst, p.PacketID)
	}
	if v == V5 {
		dst = appendProps(dst, &p.Properties, pl)
	}
	return append(dst, p.Payload...), nil
}

// Unmarshal decodes a PUBACK, PUBREC, PUBREL or PUBCOMP body of type t into
// a without allocating (as Publish.Unmarshal: property strings alias body).
// In MQTT 5 a missing reason code means Success and missing properties
// none (sections 3.4.2.1 to 3.7.2.1).
func (a *Ack) Unmarshal(t Type, flags byte, body []byte, v Version) error {
	if t < PUBACK || t > PUBCOMP {
		return errNotAck
	}
	if !fixedFlagsOK(t, flags) { // [MQTT-3.6.1-1] [MQTT5-3.6.1-1]
		return errAckFlags
	}
	a.PacketType = t
	a.ReasonCode = Success
	r := reader{b: body}
	var err error
	if a.PacketID, err = readID(&r); err != nil {
		return err
	}
	a.Properties.resetKeep()
	if v == V5 && r.left() > 0 {
		c := ReasonCode(r.b[r.i])
		r.i++
		// [MQTT5-3.4.2-1] [MQTT5-3.5.2-1] [MQTT5-3.6.2-1] [MQTT5-3.7.2-1]
		if !ackCodes(t).has(c) {
			return errAckCode
		}
		a.ReasonCode = c
		if r.left() > 0 {
			if err := decodeProps(&r, &a.Properties, t); err != nil {
				return err
			}
		}
	}
	if r.left() != 0 {
		return errTrailing
	}
	return nil
}

func (a *Ack) check(v Version) error {
	if a.PacketType < PUBACK || a.PacketType > PUBCOMP {
		return errNotAck
	}
	if a.PacketID == 0 { // [MQTT-2.3.1-6] [MQTT5-2.2.1-5]
		return errPacketID0
	}
	if v != V5 {
		if a.ReasonCode != Success || a.Properties.encodable() != 0 {
			return errAckV3
		}
		return nil
	}
	if !ackCodes(a.PacketType).has(a.ReasonCode) {
		return errAckCode
	}
	return nil
}

// bodyLen returns the Remaining Length for properties of length pl, and
// whether the property length is written (not in the short forms).
func (a *Ack) bodyLen(v Version, pl int) (int, bool) {
	if v != V5 {
		return 2, false
	}
	if a.Properties.encodable() == 0 {
		if a.ReasonCode == Success {
			return 2, false
		}
		return 3, false
	}
	return 3 + vbiLen(pl) + pl, true
}

// Append appends the encoded acknowledgement to dst without allocating when
// dst has the capacity. In MQTT 5 it uses the shortest form: no reason code
// for Success without properties, no property length without properties.
func (a *Ack) Append(dst []byte, v Version) ([]byte, error) {
	if err := a.check(v); err != nil {
		return dst, err
	}
	pl, err := checkPropsLen(&a.Properties, a.PacketType, v)
	if err != nil {
		return dst, err
	}
	n, withProps := a.bodyLen(v, pl)
	dst = slices.Grow(dst, 1+vbiLen(n)+n)
	var f byte
	if a.PacketType == PUBREL {
		f = 0x02
	}
	dst = append(dst, byte(a.PacketType)<<4|f)
	dst = appendVBI(dst, n)
	dst = appendU16(dst, a.PacketID)
	if n > 2 {
		dst = append(dst, byte(a.ReasonCode))
	}
	if withProps {
		dst = appendProps(dst, &a.Properties, pl)
	}
	return dst, nil
}
