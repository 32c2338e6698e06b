package packet

import (
	"slices"
	"strconv"
)

// encoder is implemented by every packet type but Publish and Ack, which
// have their own Append.
type encoder interface {
	Packet
	check(v Version) error
	bodyLen(v Version) int
	appendBody(dst []byte, v Version) []byte
}

var errNilPacket = &Error{Code: ImplementationSpecificError, Reason: "nil or unknown packet"}

func asEncoder(p Packet) encoder {
	switch x := p.(type) {
	case *Connect:
		if x != nil {
			return x
		}
	case *Connack:
		if x != nil {
			return x
		}
	case *Subscribe:
		if x != nil {
			return x
		}
	case *Suback:
		if x != nil {
			return x
		}
	case *Unsubscribe:
		if x != nil {
			return x
		}
	case *Unsuback:
		if x != nil {
			return x
		}
	case *Pingreq:
		if x != nil {
			return x
		}
	case *Pingresp:
		if x != nil {
			return x
		}
	case *Disconnect:
		if x != nil {
			return x
		}
	case *Auth:
		if x != nil {
			return x
		}
	}
	return nil
}

// Append appends the encoded packet, fixed header included, to dst. v is
// the session's protocol level; a CONNECT is encoded at its own Version
// when set. An invalid packet (QoS 3, packet identifier 0 where one is
// needed, a property the packet may not carry, a string that is not UTF-8
// or is too long ...) returns an *Error and dst unchanged.
func Append(dst []byte, p Packet, v Version) ([]byte, error) {
	switch x := p.(type) {
	case *Publish:
		if x != nil {
			return x.Append(dst, v)
		}
	case *Ack:
		if x != nil {
			return x.Append(dst, v)
		}
	}
	e := asEncoder(p)
	if e == nil {
		return dst, errNilPacket
	}
	if err := e.check(v); err != nil {
		return dst, err
	}
	n := e.bodyLen(v)
	if n > MaxRemaining {
		return dst, errTooLarge
	}
	dst = slices.Grow(dst, 1+vbiLen(n)+n)
	var f byte
	if t := e.Type(); t == SUBSCRIBE || t == UNSUBSCRIBE {
		f = 0x02
	}
	dst = append(dst, byte(e.Type())<<4|f)
	dst = appendVBI(dst, n)
	return e.appendBody(dst, v), nil
}

// Size returns the number of bytes Append adds for p at level v (for a
// valid p; 0 for a nil or unknown packet).
func Size(p Packet, v Version) int {
	var n int
	switch x := p.(type) {
	case *Publish:
		if x == nil {
			return 0
		}
		n = x.bodyLen(v, propsLen(&x.Properties))
	case *Ack:
		if x == nil {
			return 0
		}
		n, _ = x.bodyLen(v, propsLen(&x.Properties))
	default:
		e := asEncoder(p)
		if e == nil {
			return 0
		}
		n = e.bodyLen(v)
	}
	return 1 + vbiLen(n) + n
}

func badString(what string) error {
	return malformed(what + " is not a UTF-8 string of at most 65535 bytes without U+0000")
}

// CONNECT

func (c *Connect) level(v Version) Version {
	if c.Version != 0 {
		return c.Version
	}
	return v
}

func protocolName(v Version) string {
	if v == V31 {
		return "MQIsdp"
	}
	return "MQTT"
}

func (c *Connect) check(v Version) error {
	v = c.level(v)
	if v != V31 && v != V311 && v != V5 {
		return invalid(UnsupportedProtocolVersion, "protocol level "+strconv.Itoa(int(v)))
	}
	if c.ProtocolName != "" && c.ProtocolName != protocolName(v) {
		return invalid(UnsupportedProtocolVersion, "protocol name "+strconv.Quote(c.ProtocolName)+" for level "+v.String())
	}
	if c.WillQoS > 2 {
		return malformed("will QoS 3")
	}
	if !c.WillFlag {
		if c.WillQoS != 0 || c.WillRetain || c.WillTopic != "" || len(c.WillPayload) > 0 ||
			c.WillProperties.encodable() != 0 {
			return malformed("will fields set without the will flag")
		}
	} else {
		if err := checkWillTopic(c.WillTopic); err != nil {
			return err
		}
		if len(c.WillPayload) > maxStr {
			return malformed("will payload longer than 65535 bytes")
		}
		if err := checkProps(&c.WillProperties, willCtx, v); err != nil {
			return err
		}
	}
	if !c.UsernameFlag && c.Username != "" {
		return malformed("user name set without the user name flag")
	}
	if !c.PasswordFlag && len(c.Password) > 0 {
		return malformed("password set without the password flag")
	}
	if c.PasswordFlag && !c.UsernameFlag && v != V5 { // [MQTT-3.1.2-22]
		return malformed("password flag without user name flag")
	}
	if !validString(c.ClientID) {
		return badString("client identifier")
	}
	if !validString(c.Username) {
		return badString("user name")
	}
	if len(c.Password) > maxStr {
		return malformed("password longer than 65535 bytes")
	}
	return checkProps(&c.Properties, CONNECT, v)
}

func (c *Connect) bodyLen(v Version) int {
	v = c.level(v)
	n := 2 + len(protocolName(v)) + 1 + 1 + 2 + 2 + len(c.ClientID)
	if v == V5 {
		n += propsSize(&c.Properties)
	}
	if c.WillFlag {
		if v == V5 {
			n += propsSize(&c.WillProperties)
		}
		n += 4 + len(c.WillTopic) + len(c.WillPayload)
	}
	if c.UsernameFlag {
		n += 2 + len(c.Username)
	}
	if c.PasswordFlag {
		n += 2 + len(c.Password)
	}
	return n
}

func (c *Connect) appendBody(dst []byte, v Version) []byte {
	v = c.level(v)
	dst = appendStr(dst, protocolName(v))
	var f byte
	if c.CleanStart {
		f |= 0x02
	}
	if c.WillFlag {
		f |= 0x04 | byte(c.WillQoS)<<3
		if c.WillRetain {
			f |= 0x20
		}
	}
	if c.PasswordFlag {
		f |= 0x40
	}
	if c.UsernameFlag {
		f |= 0x80
	}
	dst = append(dst, byte(v), f)
	dst = appendU16(dst, c.KeepAlive)
	if v == V5 {
		dst = appendProps(dst, &c.Properties, propsLen(&c.Properties))
	}
	dst = appendStr(dst, c.ClientID)
	if c.WillFlag {
		if v == V5 {
			dst = appendProps(dst, &c.WillProperties, propsLen(&c.WillProperties))
		}
		dst = appendStr(dst, c.WillTopic)
		dst = appendBin(dst, c.WillPayload)
	}
	if c.UsernameFlag {
		dst = appendStr(dst, c.Username)
	}
	if c.PasswordFlag {
		dst = appendBin(dst, c.Password)
	}
	return dst
}

// CONNACK

func (c *Connack) check(v Version) error {
	if v == V5 {
		if !connackCodes.has(c.ReasonCode) { // [MQTT5-3.2.2-8]
			return protoErr("invalid CONNACK reason code " + c.ReasonCode.String())
		}
	} else if c.ReasonCode > 5 {
		return malformed("reserved CONNACK return code " + strconv.Itoa(int(c.ReasonCode)))
	}
	if c.SessionPresent {
		if v == V31 {
			return protoErr("no session present flag in MQTT 3.1")
		}
		if c.ReasonCode != 0 { // [MQTT-3.2.2-4] [MQTT5-3.2.2-6]
			return protoErr("session present with a non-zero return code")
		}
	}
	return checkProps(&c.Properties, CONNACK, v)
}

func (c *Connack) bodyLen(v Version) int {
	if v == V5 {
		return 2 + propsSize(&c.Properties)
	}
	return 2
}

func (c *Connack) appendBody(dst []byte, v Version) []byte {
	var f byte
	if c.SessionPresent {
		f = 1
	}
	dst = append(dst, f, byte(c.ReasonCode))
	if v == V5 {
		dst = appendProps(dst, &c.Properties, propsLen(&c.Properties))
	}
	return dst
}

// SUBSCRIBE

func (s *Subscribe) check(v Version) error {
	if s.PacketID == 0 { // [MQTT-2.3.1-1] [MQTT5-2.2.1-3]
		return errPacketID0
	}
	if len(s.Subscriptions) == 0 { // [MQTT-3.8.3-3] [MQTT5-3.8.3-2]
		return protoErr("SUBSCRIBE without topic filters")
	}
	for i := range s.Subscriptions {
		sub := &s.Subscriptions[i]
		if !validString(sub.Filter) {
			return badString("topic filter")
		}
		o := sub.Options
		if o.QoS > 2 {
			return malformed("subscription QoS 3")
		}
		if v != V5 {
			if o.NoLocal || o.RetainAsPublished || o.RetainHandling != 0 {
				return protoErr("MQTT 5 subscription options in an MQTT " + v.String() + " SUBSCRIBE")
			}
			continue
		}
		if o.RetainHandling > 2 {
			return protoErr("Retain Handling 3")
		}
		if o.NoLocal && isShared(sub.Filter) { // [MQTT5-3.8.3-4]
			return protoErr("No Local on a shared subscription")
		}
	}
	return checkProps(&s.Properties, SUBSCRIBE, v)
}

func (s *Subscribe) bodyLen(v Version) int {
	n := 2
	if v == V5 {
		n += propsSize(&s.Properties)
	}
	for i := range s.Subscriptions {
		n += 3 + len(s.Subscriptions[i].Filter)
	}
	return n
}

func (o SubOptions) byte() byte {
	b := byte(o.QoS) | o.RetainHandling<<4
	if o.NoLocal {
		b |= 0x04
	}
	if o.RetainAsPublished {
		b |= 0x08
	}
	return b
}

func (s *Subscribe) appendBody(dst []byte, v Version) []byte {
	dst = appendU16(dst, s.PacketID)
	if v == V5 {
		dst = appendProps(dst, &s.Properties, propsLen(&s.Properties))
	}
	for i := range s.Subscriptions {
		dst = appendStr(dst, s.Subscriptions[i].Filter)
		dst = append(dst, s.Subscriptions[i].Options.byte())
	}
	return dst
}

// SUBACK

func (s *Suback) check(v Version) error {
	if s.PacketID == 0 { // [MQTT-2.3.1-7] [MQTT5-2.2.1-6]
		return errPacketID0
	}
	if len(s.ReasonCodes) == 0 { // [MQTT-3.8.4-5] [MQTT5-3.8.4-6]
		return protoErr("SUBACK without return codes")
	}
	for _, c := range s.ReasonCodes {
		if !validSubackCode(c, v) { // [MQTT-3.9.3-2] [MQTT5-3.9.3-2]
			return protoErr("invalid SUBACK return code 0x" + strconv.FormatUint(uint64(c), 16) + " for MQTT " + v.String())
		}
	}
	return checkProps(&s.Properties, SUBACK, v)
}

func (s *Suback) bodyLen(v Version) int {
	n := 2 + len(s.ReasonCodes)
	if v == V5 {
		n += propsSize(&s.Properties)
	}
	return n
}

func (s *Suback) appendBody(dst []byte, v Version) []byte {
	dst = appendU16(dst, s.PacketID)
	if v == V5 {
		dst = appendProps(dst, &s.Properties, propsLen(&s.Properties))
	}
	for _, c := range s.ReasonCodes {
		dst = append(dst, byte(c))
	}
	return dst
}

// UNSUBSCRIBE

func (u *Unsubscribe) check(v Version) error {
	if u.PacketID == 0 { // [MQTT-2.3.1-1] [MQTT5-2.2.1-3]
		return errPacketID0
	}
	if len(u.Filters) == 0 { // [MQTT-3.10.3-2] [MQTT5-3.10.3-2]
		return protoErr("UNSUBSCRIBE without topic filters")
	}
	for _, f := range u.Filters {
		if !validString(f) {
			return badString("topic filter")
		}
	}
	return checkProps(&u.Properties, UNSUBSCRIBE, v)
}

func (u *Unsubscribe) bodyLen(v Version) int {
	n := 2
	if v == V5 {
		n += propsSize(&u.Properties)
	}
	for _, f := range u.Filters {
		n += 2 + len(f)
	}
	return n
}

func (u *Unsubscribe) appendBody(dst []byte, v Version) []byte {
	dst = appendU16(dst, u.PacketID)
	if v == V5 {
		dst = appendProps(dst, &u.Properties, propsLen(&u.Properties))
	}
	for _, f := range u.Filters {
		dst = appendStr(dst, f)
	}
	return dst
}

// UNSUBACK

func (u *Unsuback) check(v Version) error {
	if u.PacketID == 0 { // [MQTT-2.3.1-7] [MQTT5-2.2.1-6]
		return errPacketID0
	}
	if v != V5 {
		if len(u.ReasonCodes) > 0 {
			return protoErr("reason codes in an MQTT " + v.String() + " UNSUBACK")
		}
		return checkProps(&u.Properties, UNSUBACK, v)
	}
	if len(u.ReasonCodes) == 0 { // [MQTT5-3.11.3-1]
		return protoErr("UNSUBACK without reason codes")
	}
	for _, c := range u.ReasonCodes {
		if !unsubackCodes.has(c) { // [MQTT5-3.11.3-2]
			return protoErr("invalid UNSUBACK reason code " + c.String())
		}
	}
	return checkProps(&u.Properties, UNSUBACK, v)
}

func (u *Unsuback) bodyLen(v Version) int {
	if v != V5 {
		return 2
	}
	return 2 + propsSize(&u.Properties) + len(u.ReasonCodes)
}

func (u *Unsuback) appendBody(dst []byte, v Version) []byte {
	dst = appendU16(dst, u.PacketID)
	if v != V5 {
		return dst
	}
	dst = appendProps(dst, &u.Properties, propsLen(&u.Properties))
	for _, c := range u.ReasonCodes {
		dst = append(dst, byte(c))
	}
	return dst
}

// PINGREQ, PINGRESP

func (*Pingreq) check(Version) error                      { return nil }
func (*Pingreq) bodyLen(Version) int                      { return 0 }
func (*Pingreq) appendBody(dst []byte, _ Version) []byte  { return dst }
func (*Pingresp) check(Version) error                     { return nil }
func (*Pingresp) bodyLen(Version) int                     { return 0 }
func (*Pingresp) appendBody(dst []byte, _ Version) []byte { return dst }

// DISCONNECT and AUTH: the reason code and properties are omitted when
// they are Success and empty (sections 3.14.2.1 and 3.15.2.1).

func checkReasonProps(code ReasonCode, p *Properties, t Type, set *codeSet, v Version) error {
	if v != V5 {
		if code != Success || p.encodable() != 0 {
			return protoErr("reason code or properties in an MQTT " + v.String() + " " + t.String())
		}
		return nil
	}
	if !set.has(code) { // [MQTT5-3.14.2-1] [MQTT5-3.15.2-1]
		return protoErr("invalid " + t.String() + " reason code " + code.String())
	}
	return checkProps(p, t, v)
}

func reasonPropsLen(code ReasonCode, p *Properties, v Version) int {
	if v != V5 || (code == Success && p.encodable() == 0) {
		return 0
	}
	return 1 + propsSize(p)
}

func appendReasonProps(dst []byte, code ReasonCode, p *Properties, v Version) []byte {
	if v != V5 || (code == Success && p.encodable() == 0) {
		return dst
	}
	dst = append(dst, byte(code))
	return appendProps(dst, p, propsLen(p))
}

// DISCONNECT may also omit the property length alone (section 3.14.2.2.1);
// AUTH defines no such form, so it keeps it.

func (d *Disconnect) bodyLen(v Version) int {
	if v == V5 && d.ReasonCode != Success && d.Properties.encodable() == 0 {
		return 1
	}
	return reasonPropsLen(d.ReasonCode, &d.Properties, v)
}

func (d *Disconnect) appendBody(dst []byte, v Version) []byte {
	if v == V5 && d.ReasonCode != Success && d.Properties.encodable() == 0 {
		return append(dst, byte(d.ReasonCode))
	}
	return appendReasonProps(dst, d.ReasonCode, &d.Properties, v)
}

func (d *Disconnect) check(v Version) error {
	return checkReasonProps(d.ReasonCode, &d.Properties, DISCONNECT, &disconnectCodes, v)
}

func (a *Auth) check(v Version) error {
	if v != V5 {
		return protoErr("AUTH in MQTT " + v.String())
	}
	return checkReasonProps(a.ReasonCode, &a.Properties, AUTH, &authCodes, v)
}
func (a *Auth) bodyLen(v Version) int { return reasonPropsLen(a.ReasonCode, &a.Properties, v) }
func (a *Auth) appendBody(dst []byte, v Version) []byte {
	return appendReasonProps(dst, a.ReasonCode, &a.Properties, v)
}
