package session

import "github.com/tern-mq/tern/packet"

func varintLen(n int64) int64 {
	switch {
	case n < 128:
		return 1
	case n < 16384:
		return 2
	case n < 2097152:
		return 3
	}
	return 4
}

// publishSize is the encoded size of the PUBLISH for d under version v:
// fixed header, topic, packet identifier, properties and payload.
func publishSize(v packet.Version, d *Delivery) int64 {
	m := d.Msg
	rem := 2 + int64(len(m.Topic)) + int64(len(m.Payload))
	if d.QoS > 0 {
		rem += 2
	}
	if v >= packet.V5 {
		pl := propsSize(m.Properties, d.SubIDs, !m.Expires.IsZero())
		rem += varintLen(pl) + pl
	}
	return 1 + varintLen(rem) + rem
}

func propsSize(p *packet.Properties, subIDs []uint32, expiry bool) int64 {
	var n int64
	if p != nil {
		if p.Has(packet.PropPayloadFormat) {
			n += 2
		}
		if p.Has(packet.PropMessageExpiry) {
			expiry = true
		}
		if p.Has(packet.PropContentType) {
			n += 3 + int64(len(p.ContentType))
		}
		if p.Has(packet.PropResponseTopic) {
			n += 3 + int64(len(p.ResponseTopic))
		}
		if p.Has(packet.PropCorrelationData) {
			n += 3 + int64(len(p.CorrelationData))
		}
		for _, u := range p.User {
			n += 5 + int64(len(u.Key)) + int64(len(u.Value))
		}
	}
	if expiry {
		n += 5
	}
	for _, id := range subIDs {
		n += 1 + varintLen(int64(id))
	}
	return n
}
