package session

import (
	"bytes"
	"slices"
	"strings"
	"time"

	"github.com/tern-mq/tern/packet"
)

// Receive handles a PUBLISH, PUBACK, PUBREC, PUBREL or PUBCOMP from the
// peer. A PUBLISH is copied into a new Message and accepted (see
// ReceivePublish). An error is a *packet.Error for a protocol violation:
// its Code is the MQTT 5 reason code to disconnect with (a 3.1/3.1.1
// connection is just closed).
func (s *Session) Receive(now time.Time, p packet.Packet) error {
	switch p := p.(type) {
	case *packet.Publish:
		return s.ReceivePublish(now, p, nil, packet.Success)
	case *packet.Ack:
		return s.receiveAck(now, p)
	case nil:
		return &packet.Error{Code: packet.ProtocolError, Reason: "nil packet"}
	}
	return &packet.Error{Code: packet.ProtocolError, Reason: "unexpected " + p.Type().String() + " packet"}
}

// ReceivePublish handles an inbound PUBLISH. m is the application message
// built from p by the caller, owning its bytes (nil: the session copies p
// with NewMessage). reason is the caller's verdict, for the PUBACK or
// PUBREC of MQTT 5:
//   - Success, or another code below 0x80 such as NoMatchingSubscribers:
//     the message is accepted and delivered, acknowledged with reason;
//   - 0x80 or above (NotAuthorized, QuotaExceeded, ...): it is refused,
//     not delivered, acknowledged with reason; a refused QoS 2 identifier
//     does not await PUBREL [MQTT5-4.3.3-9].
//
// For 3.1/3.1.1 a refused message is acknowledged positively and not
// delivered [MQTT-3.3.5-2]. A QoS 2 PUBLISH whose identifier awaits PUBREL
// is acknowledged again and not delivered again [MQTT5-4.3.3-10]
// (m is then not used).
func (s *Session) ReceivePublish(now time.Time, p *packet.Publish, m *Message, reason packet.ReasonCode) error {
	if !s.connected {
		return &packet.Error{Code: packet.ProtocolError, Reason: "PUBLISH while disconnected"}
	}
	refused := reason.IsError()
	if !s.v5() {
		reason = packet.Success // no reason codes before MQTT 5
	}
	s.stats.Received++
	switch p.QoS {
	case packet.QoS0:
		if !refused {
			s.deliver = append(s.deliver, s.message(now, p, m))
		}
		return nil
	case packet.QoS1, packet.QoS2:
	default:
		return &packet.Error{Code: packet.MalformedPacket, Reason: "PUBLISH with QoS 3"} // [MQTT-3.3.1-4]
	}
	if p.PacketID == 0 {
		return &packet.Error{Code: packet.ProtocolError, Reason: "PUBLISH with QoS > 0 and packet identifier 0"} // [MQTT-2.3.1-1]
	}
	if p.QoS == packet.QoS2 && s.in.has(p.PacketID) {
		// [MQTT-4.3.3-2] [MQTT5-4.3.3-10]
		s.stats.Duplicates++
		s.packets = append(s.packets, Outbound{Kind: packet.PUBREC, PacketID: p.PacketID})
		return nil
	}
	// A DUP PUBLISH is already in the peer's count of unacknowledged
	// messages; a QoS 1 one is not counted again (QoS 2 duplicates of an
	// identifier awaiting PUBREL were answered above).
	count := !(p.Dup && p.QoS == packet.QoS1)
	if count {
		if err := s.checkReceiveMaximum(p.QoS); err != nil {
			return err
		}
	}
	kind := packet.PUBACK
	if p.QoS == packet.QoS2 {
		kind = packet.PUBREC
	}
	if !refused {
		m = s.message(now, p, m)
		if p.QoS == packet.QoS2 {
			s.in.put(p.PacketID, 0)
		}
		s.changes = append(s.changes, Change{Kind: ChangeInbound, PacketID: p.PacketID,
			Delivery: Delivery{Msg: m, QoS: p.QoS, Retain: p.Retain}})
		s.deliver = append(s.deliver, m)
	}
	if kind == packet.PUBACK && s.v5() && count {
		s.inUnacked++
	}
	// [MQTT-4.3.2-2] [MQTT5-4.3.2-4] [MQTT-4.3.3-2] [MQTT5-4.3.3-8] [MQTT-4.6.0-2] [MQTT-4.6.0-3]
	s.packets = append(s.packets, Outbound{Kind: kind, PacketID: p.PacketID, Reason: reason})
	return nil
}

// checkReceiveMaximum refuses an inbound QoS 1/2 PUBLISH beyond our Receive
// Maximum: in MQTT 5 every unacknowledged one counts; for 3.1/3.1.1 only
// QoS 2 identifiers awaiting PUBREL (a bound on memory).
func (s *Session) checkReceiveMaximum(q packet.QoS) error {
	n := s.in.n
	if s.v5() {
		n += s.inUnacked
	} else if q == packet.QoS1 {
		return nil
	}
	if n >= s.recvMax {
		return &packet.Error{Code: packet.ReceiveMaximumExceeded, Reason: "more unacknowledged QoS 1/2 PUBLISH than Receive Maximum"}
	}
	return nil
}

func (s *Session) message(now time.Time, p *packet.Publish, m *Message) *Message {
	if m != nil {
		return m
	}
	m = NewMessage(now, p)
	if s.cfg.Role == Server && m.Properties != nil {
		// A client sends no subscription identifiers [MQTT5-3.3.4-6].
		m.Properties.SubscriptionIDs = nil
		m.Properties.Clear(packet.PropSubscriptionID)
	}
	return m
}

// NewMessage copies p into a new Message that owns its bytes. A Message
// Expiry Interval sets Expires relative to now.
func NewMessage(now time.Time, p *packet.Publish) *Message {
	m := &Message{Topic: strings.Clone(p.Topic), Payload: bytes.Clone(p.Payload), QoS: p.QoS, Retain: p.Retain}
	if p.Properties.Present != 0 || !p.Properties.Empty() {
		pr := clonePublishProperties(&p.Properties)
		m.Properties = &pr
		if pr.Has(packet.PropMessageExpiry) {
			m.Expires = now.Add(time.Duration(pr.MessageExpiry) * time.Second)
		}
	}
	return m
}

// clonePublishProperties deep-copies the properties a PUBLISH may carry.
func clonePublishProperties(p *packet.Properties) packet.Properties {
	c := packet.Properties{
		Present:         p.Present,
		PayloadFormat:   p.PayloadFormat,
		MessageExpiry:   p.MessageExpiry,
		ContentType:     strings.Clone(p.ContentType),
		ResponseTopic:   strings.Clone(p.ResponseTopic),
		CorrelationData: bytes.Clone(p.CorrelationData),
		SubscriptionIDs: slices.Clone(p.SubscriptionIDs),
	}
	c.Clear(packet.PropTopicAlias) // an alias belongs to the connection
	if len(p.User) > 0 {
		c.User = make([]packet.UserProperty, len(p.User))
		for i, u := range p.User {
			c.User[i] = packet.UserProperty{Key: strings.Clone(u.Key), Value: strings.Clone(u.Value)}
		}
	}
	return c
}

func (s *Session) receiveAck(now time.Time, a *packet.Ack) error {
	if !s.connected {
		return &packet.Error{Code: packet.ProtocolError, Reason: a.PacketType.String() + " while disconnected"}
	}
	id := a.PacketID
	if id == 0 {
		return &packet.Error{Code: packet.ProtocolError, Reason: a.PacketType.String() + " with packet identifier 0"}
	}
	i, ok := s.fl.lookup(id)
	var stage Stage
	if ok {
		stage = s.fl.slots[i].stage
	}
	switch a.PacketType {
	case packet.PUBACK:
		if stage != AwaitPuback {
			s.stats.UnknownAcks++
			return nil
		}
		s.endFlight(i, a.ReasonCode, DropNone) // [MQTT-4.3.2-1] [MQTT5-4.3.2-3] [MQTT5-4.4.0-2]
		s.resume(now)
	case packet.PUBREC:
		switch {
		case stage == AwaitPubrec && s.v5() && a.ReasonCode.IsError():
			s.endFlight(i, a.ReasonCode, DropNone) // [MQTT5-4.4.0-2]
			s.resume(now)
		case stage == AwaitPubrec:
			// [MQTT-4.3.3-1] [MQTT5-4.3.3-4] [MQTT5-4.3.3-6] [MQTT-4.6.0-4]
			s.fl.slots[i].stage = AwaitPubcomp
			s.changes = append(s.changes, Change{Kind: ChangePubrec, PacketID: id})
			s.pubrel(now, i, false, s.cfg.Retry.Initial)
		case stage == AwaitPubcomp:
			s.pubrel(now, i, true, s.fl.slots[i].interval) // our PUBREL was lost or crossed
		case !ok:
			s.stats.UnknownAcks++
			o := Outbound{Kind: packet.PUBREL, PacketID: id}
			if s.v5() {
				o.Reason = packet.PacketIdentifierNotFound
			}
			s.packets = append(s.packets, o)
		default:
			s.stats.UnknownAcks++ // PUBREC for a QoS 1 flow
		}
	case packet.PUBCOMP:
		if stage != AwaitPubcomp {
			s.stats.UnknownAcks++
			return nil
		}
		s.endFlight(i, a.ReasonCode, DropNone) // [MQTT5-4.3.3-5]
		s.resume(now)
	case packet.PUBREL:
		o := Outbound{Kind: packet.PUBCOMP, PacketID: id}
		if s.in.del(id) {
			s.changes = append(s.changes, Change{Kind: ChangeReleased, PacketID: id})
			if s.v5() {
				s.inUnacked++ // counted until the PUBCOMP is out
			}
		} else {
			s.stats.UnknownAcks++
			if s.v5() {
				o.Reason = packet.PacketIdentifierNotFound
			}
		}
		s.packets = append(s.packets, o) // [MQTT-4.3.3-2] [MQTT5-4.3.3-11]
	default:
		return &packet.Error{Code: packet.ProtocolError, Reason: "unexpected " + a.PacketType.String() + " packet"}
	}
	return nil
}
