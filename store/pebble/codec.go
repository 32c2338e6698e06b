package pebble

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
)

// Key prefixes of the on-disk layout (see docs/storage.md). Client keys carry
// the client identifier length-prefixed, so one client's keys form a range
// that no other client's keys fall in.
const (
	prefixVersion  = 0x00 // "\x00v": format version
	prefixBody     = 'b'  // b + be64(message ID): message body
	prefixFlight   = 'f'  // f + client + be16(packet ID): outbound flow
	prefixInbound  = 'i'  // i + client + be16(packet ID): inbound QoS 2 awaiting PUBREL
	prefixMeta     = 'm'  // m + client: next packet identifier
	prefixQueue    = 'q'  // q + client + be64(seq): queued delivery
	prefixRetained = 'r'  // r + topic: retained message
	prefixSession  = 's'  // s + client: session record
)

// formatVersion is the version of the on-disk layout this code reads and
// writes. Opening a store of another version fails.
const formatVersion = 1

var versionKey = []byte{prefixVersion, 'v'}

var errCorrupt = errors.New("corrupt value")

func clientKey(dst []byte, prefix byte, clientID string) []byte {
	dst = append(dst, prefix)
	dst = binary.AppendUvarint(dst, uint64(len(clientID)))
	return append(dst, clientID...)
}

func bodyKey(dst []byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, prefixBody), id)
}

func queueKey(dst []byte, clientID string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(clientKey(dst, prefixQueue, clientID), seq)
}

func flightKey(dst []byte, clientID string, id uint16) []byte {
	return binary.BigEndian.AppendUint16(clientKey(dst, prefixFlight, clientID), id)
}

func inboundKey(dst []byte, clientID string, id uint16) []byte {
	return binary.BigEndian.AppendUint16(clientKey(dst, prefixInbound, clientID), id)
}

// parseClientKey splits a client key (without its prefix byte) into the
// client identifier and the rest.
func parseClientKey(k []byte) (string, []byte, error) {
	n, w := binary.Uvarint(k)
	if w <= 0 || uint64(len(k)-w) < n {
		return "", nil, errCorrupt
	}
	return string(k[w : w+int(n)]), k[w+int(n):], nil
}

// encoder helpers: every value is a sequence of uvarints, length-prefixed
// byte strings and single bytes.

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, 0)
	}
	return binary.AppendVarint(append(dst, 1), t.UnixNano())
}

// decoder reads what the append functions wrote; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = errCorrupt, nil }

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bool() bool { return d.byte() != 0 }

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if uint64(len(d.b)) < n {
		d.fail()
		return nil
	}
	if n == 0 {
		return nil
	}
	b := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return b
}

func (d *decoder) string() string {
	n := d.uvarint()
	if uint64(len(d.b)) < n {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) u32() uint32 {
	v := d.uvarint()
	if v > 0xFFFFFFFF {
		d.fail()
	}
	return uint32(v)
}

func (d *decoder) u16() uint16 {
	v := d.uvarint()
	if v > 0xFFFF {
		d.fail()
	}
	return uint16(v)
}

func (d *decoder) time() time.Time {
	if !d.bool() {
		return time.Time{}
	}
	return time.Unix(0, d.varint())
}

// done returns the decoding error, or an error if bytes are left over.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	return d.err
}

func appendProps(dst []byte, p *packet.Properties) []byte {
	if p == nil {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	dst = binary.AppendUvarint(dst, uint64(p.Present))
	dst = append(dst, p.PayloadFormat, p.RequestProblemInfo, p.RequestResponseInfo, p.MaximumQoS,
		p.RetainAvailable, p.WildcardSubAvailable, p.SubIDAvailable, p.SharedSubAvailable)
	for _, v := range [...]uint32{p.MessageExpiry, p.SessionExpiry, p.WillDelay, p.MaximumPacketSize,
		uint32(p.ServerKeepAlive), uint32(p.ReceiveMaximum), uint32(p.TopicAliasMaximum), uint32(p.TopicAlias)} {
		dst = binary.AppendUvarint(dst, uint64(v))
	}
	for _, s := range [...]string{p.ContentType, p.ResponseTopic, p.AssignedClientID, p.AuthMethod,
		p.ResponseInfo, p.ServerReference, p.ReasonString} {
		dst = appendString(dst, s)
	}
	dst = appendBytes(dst, p.CorrelationData)
	dst = appendBytes(dst, p.AuthData)
	dst = appendSubIDs(dst, p.SubscriptionIDs)
	dst = binary.AppendUvarint(dst, uint64(len(p.User)))
	for _, u := range p.User {
		dst = appendString(appendString(dst, u.Key), u.Value)
	}
	return dst
}

func (d *decoder) props() *packet.Properties {
	if !d.bool() {
		return nil
	}
	p := &packet.Properties{Present: packet.PropSet(d.uvarint())}
	for _, b := range [...]*byte{&p.PayloadFormat, &p.RequestProblemInfo, &p.RequestResponseInfo, &p.MaximumQoS,
		&p.RetainAvailable, &p.WildcardSubAvailable, &p.SubIDAvailable, &p.SharedSubAvailable} {
		*b = d.byte()
	}
	for _, v := range [...]*uint32{&p.MessageExpiry, &p.SessionExpiry, &p.WillDelay, &p.MaximumPacketSize} {
		*v = d.u32()
	}
	for _, v := range [...]*uint16{&p.ServerKeepAlive, &p.ReceiveMaximum, &p.TopicAliasMaximum, &p.TopicAlias} {
		*v = d.u16()
	}
	for _, s := range [...]*string{&p.ContentType, &p.ResponseTopic, &p.AssignedClientID, &p.AuthMethod,
		&p.ResponseInfo, &p.ServerReference, &p.ReasonString} {
		*s = d.string()
	}
	p.CorrelationData = d.bytes()
	p.AuthData = d.bytes()
	p.SubscriptionIDs = d.subIDs()
	if n := d.uvarint(); n > 0 && n <= uint64(len(d.b)) {
		p.User = make([]packet.UserProperty, n)
		for i := range p.User {
			p.User[i] = packet.UserProperty{Key: d.string(), Value: d.string()}
		}
	} else if n > 0 {
		d.fail()
	}
	return p
}

func appendSubIDs(dst []byte, ids []uint32) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ids)))
	for _, id := range ids {
		dst = binary.AppendUvarint(dst, uint64(id))
	}
	return dst
}

func (d *decoder) subIDs() []uint32 {
	n := d.uvarint()
	if n == 0 {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	ids := make([]uint32, n)
	for i := range ids {
		ids[i] = d.u32()
	}
	return ids
}

// appendMessage encodes a message body.
func appendMessage(dst []byte, m *session.Message) []byte {
	dst = binary.AppendUvarint(dst, m.ID)
	dst = appendString(dst, m.Topic)
	dst = appendBytes(dst, m.Payload)
	dst = append(dst, byte(m.QoS))
	dst = appendBool(dst, m.Retain)
	dst = appendTime(dst, m.Expires)
	return appendProps(dst, m.Properties)
}

func (d *decoder) message() *session.Message {
	m := &session.Message{ID: d.uvarint(), Topic: d.string(), Payload: d.bytes(), QoS: packet.QoS(d.byte()), Retain: d.bool()}
	m.Expires = d.time()
	m.Properties = d.props()
	return m
}

// appendDelivery encodes a delivery: the per-destination fields and a
// reference to the body by message ID, or the body itself for ID 0 (a
// message that is not shared).
func appendDelivery(dst []byte, dl *session.Delivery) []byte {
	dst = append(dst, byte(dl.QoS))
	dst = appendBool(dst, dl.Retain)
	dst = appendSubIDs(dst, dl.SubIDs)
	dst = binary.AppendUvarint(dst, dl.Msg.ID)
	if dl.Msg.ID == 0 {
		dst = appendMessage(dst, dl.Msg)
	}
	return dst
}

// delivery decodes a delivery; bodies resolves a message ID.
func (d *decoder) delivery(bodies map[uint64]*session.Message) (session.Delivery, uint64) {
	dl := session.Delivery{QoS: packet.QoS(d.byte()), Retain: d.bool(), SubIDs: d.subIDs()}
	id := d.uvarint()
	if id == 0 {
		dl.Msg = d.message()
	} else {
		dl.Msg = bodies[id]
	}
	return dl, id
}

// appendRecord encodes a session record (without its client identifier,
// which is in the key).
func appendRecord(dst []byte, r *store.SessionRecord) []byte {
	dst = append(dst, byte(r.Version))
	dst = binary.AppendUvarint(dst, uint64(r.ExpiryInterval))
	dst = appendTime(dst, r.DisconnectedAt)
	dst = binary.AppendUvarint(dst, uint64(len(r.Subscriptions)))
	for _, s := range r.Subscriptions {
		dst = appendString(dst, s.Filter)
		dst = append(dst, byte(s.Options.QoS), s.Options.RetainHandling)
		dst = appendBool(dst, s.Options.NoLocal)
		dst = appendBool(dst, s.Options.RetainAsPublished)
		dst = binary.AppendUvarint(dst, uint64(s.SubID))
	}
	if r.Will == nil {
		return append(dst, 0)
	}
	w := r.Will
	dst = append(dst, 1)
	dst = appendString(dst, w.Topic)
	dst = appendBytes(dst, w.Payload)
	dst = append(dst, byte(w.QoS))
	dst = appendBool(dst, w.Retain)
	dst = appendProps(dst, w.Properties)
	return binary.AppendUvarint(dst, uint64(w.Delay))
}

func decodeRecord(clientID string, b []byte) (store.SessionRecord, error) {
	d := decoder{b: b}
	r := store.SessionRecord{ClientID: clientID, Version: packet.Version(d.byte()), ExpiryInterval: d.u32()}
	r.DisconnectedAt = d.time()
	if n := d.uvarint(); n > 0 && n <= uint64(len(d.b)) {
		r.Subscriptions = make([]store.Subscription, n)
		for i := range r.Subscriptions {
			s := &r.Subscriptions[i]
			s.Filter = d.string()
			s.Options.QoS = packet.QoS(d.byte())
			s.Options.RetainHandling = d.byte()
			s.Options.NoLocal = d.bool()
			s.Options.RetainAsPublished = d.bool()
			s.SubID = d.u32()
		}
	} else if n > 0 {
		d.fail()
	}
	if d.bool() {
		w := &store.Will{Topic: d.string(), Payload: d.bytes(), QoS: packet.QoS(d.byte()), Retain: d.bool()}
		w.Properties = d.props()
		w.Delay = d.u32()
		r.Will = w
	}
	return r, d.done()
}
