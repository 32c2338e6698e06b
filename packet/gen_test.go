package packet

import (
	"pgregory.net/rapid"
)

// Generators of valid packets for the property tests.

var versions = []Version{V31, V311, V5}

var strRunes = []rune{'a', 'b', 'z', 'A', '0', '9', '/', '$', ' ', '-', '_', 'é', 'ß', '世', '界', '😀', '\uFEFF', '\u007f'}

func genString(maxLen int) *rapid.Generator[string] {
	return rapid.StringOfN(rapid.RuneFrom(strRunes), 0, maxLen, -1)
}

func genTopicName() *rapid.Generator[string] {
	return rapid.StringOfN(rapid.RuneFrom(strRunes), 1, 30, -1)
}

func genFilter() *rapid.Generator[string] {
	return rapid.StringOfN(rapid.RuneFrom(append([]rune{'+', '#'}, strRunes...)), 1, 30, -1)
}

// genBytes draws byte strings; empty ones are nil, as the decoder returns them.
func genBytes(maxLen int) *rapid.Generator[[]byte] {
	return rapid.Map(rapid.SliceOfN(rapid.Byte(), 0, maxLen), func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		return b
	})
}

func genQoS() *rapid.Generator[QoS] {
	return rapid.Map(rapid.IntRange(0, 2), func(i int) QoS { return QoS(i) })
}

func genCode(set *codeSet) *rapid.Generator[ReasonCode] {
	var codes []ReasonCode
	for c := 0; c < 256; c++ {
		if set.has(ReasonCode(c)) {
			codes = append(codes, ReasonCode(c))
		}
	}
	return rapid.SampledFrom(codes)
}

// genProps draws valid properties for context ctx at level v (empty below 5).
func genProps(t *rapid.T, label string, ctx Type, v Version) Properties {
	var p Properties
	if v != V5 {
		return p
	}
	for id := PropID(0); int(id) < len(propTable); id++ {
		info := propTable[id]
		if info.kind == 0 || info.allowed&(1<<ctx) == 0 {
			continue
		}
		if !rapid.Bool().Draw(t, label+"has"+info.name) {
			continue
		}
		name := label + info.name
		switch id {
		case PropUserProperty:
			n := rapid.IntRange(1, 3).Draw(t, name+"n")
			for i := 0; i < n; i++ {
				p.User = append(p.User, UserProperty{genString(10).Draw(t, name+"k"), genString(10).Draw(t, name+"v")})
			}
		case PropSubscriptionID:
			n := 1
			if ctx == PUBLISH {
				n = rapid.IntRange(1, 3).Draw(t, name+"n")
			}
			for i := 0; i < n; i++ {
				p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(rapid.IntRange(1, MaxRemaining).Draw(t, name)))
			}
		case PropAuthData:
			p.AuthData = genBytes(20).Draw(t, name)
			p.AuthMethod = genString(10).Draw(t, name+"method")
			p.Set(PropAuthMethod)
		case PropCorrelationData:
			p.CorrelationData = genBytes(20).Draw(t, name)
		case PropResponseTopic:
			p.ResponseTopic = genTopicName().Draw(t, name)
		case PropTopicAlias:
			p.TopicAlias = uint16(rapid.IntRange(1, 65535).Draw(t, name))
		case PropReceiveMaximum:
			p.ReceiveMaximum = uint16(rapid.IntRange(1, 65535).Draw(t, name))
		case PropMaximumPacketSize:
			p.MaximumPacketSize = rapid.Uint32Min(1).Draw(t, name)
		default:
			switch info.kind {
			case kByte:
				b := rapid.Byte().Draw(t, name)
				if boolProps&(1<<id) != 0 {
					b &= 1
				}
				switch id {
				case PropPayloadFormat:
					p.PayloadFormat = b
				case PropRequestProblemInfo:
					p.RequestProblemInfo = b
				case PropRequestResponseInfo:
					p.RequestResponseInfo = b
				case PropMaximumQoS:
					p.MaximumQoS = b
				case PropRetainAvailable:
					p.RetainAvailable = b
				case PropWildcardSubAvailable:
					p.WildcardSubAvailable = b
				case PropSubIDAvailable:
					p.SubIDAvailable = b
				case PropSharedSubAvailable:
					p.SharedSubAvailable = b
				}
			case kU16:
				u := rapid.Uint16().Draw(t, name)
				switch id {
				case PropServerKeepAlive:
					p.ServerKeepAlive = u
				case PropTopicAliasMaximum:
					p.TopicAliasMaximum = u
				}
			case kU32:
				u := rapid.Uint32().Draw(t, name)
				switch id {
				case PropMessageExpiry:
					p.MessageExpiry = u
				case PropSessionExpiry:
					p.SessionExpiry = u
				case PropWillDelay:
					p.WillDelay = u
				}
			case kStr:
				s := genString(15).Draw(t, name)
				switch id {
				case PropContentType:
					p.ContentType = s
				case PropAssignedClientID:
					p.AssignedClientID = s
				case PropAuthMethod:
					p.AuthMethod = s
				case PropResponseInfo:
					p.ResponseInfo = s
				case PropServerReference:
					p.ServerReference = s
				case PropReasonString:
					p.ReasonString = s
				}
			}
		}
		p.Set(id)
	}
	return p
}

// genPacket draws a valid packet of any type for level v.
func genPacket(t *rapid.T, v Version) Packet {
	types := []Type{CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK,
		UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT}
	if v == V5 {
		types = append(types, AUTH)
	}
	typ := rapid.SampledFrom(types).Draw(t, "type")
	switch typ {
	case CONNECT:
		c := &Connect{Version: v, ProtocolName: protocolName(v)}
		c.CleanStart = rapid.Bool().Draw(t, "clean")
		c.KeepAlive = rapid.Uint16().Draw(t, "keepalive")
		c.Properties = genProps(t, "connect", CONNECT, v)
		c.ClientID = genString(23).Draw(t, "clientid")
		if c.WillFlag = rapid.Bool().Draw(t, "will"); c.WillFlag {
			c.WillQoS = genQoS().Draw(t, "willqos")
			c.WillRetain = rapid.Bool().Draw(t, "willretain")
			c.WillProperties = genProps(t, "will", willCtx, v)
			c.WillTopic = genTopicName().Draw(t, "willtopic")
			c.WillPayload = genBytes(40).Draw(t, "willpayload")
		}
		if c.UsernameFlag = rapid.Bool().Draw(t, "userflag"); c.UsernameFlag {
			c.Username = genString(12).Draw(t, "user")
		}
		if c.PasswordFlag = rapid.Bool().Draw(t, "passflag"); c.PasswordFlag {
			if v != V5 && !c.UsernameFlag {
				c.UsernameFlag = true
			}
			c.Password = genBytes(12).Draw(t, "password")
		}
		return c
	case CONNACK:
		c := &Connack{}
		if v == V5 {
			c.ReasonCode = genCode(&connackCodes).Draw(t, "code")
		} else {
			c.ReasonCode = ReasonCode(rapid.IntRange(0, 5).Draw(t, "code"))
		}
		c.SessionPresent = v != V31 && c.ReasonCode == 0 && rapid.Bool().Draw(t, "sp")
		c.Properties = genProps(t, "connack", CONNACK, v)
		return c
	case PUBLISH:
		return genPublish(t, v)
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		a := &Ack{PacketType: typ, PacketID: rapid.Uint16Min(1).Draw(t, "id")}
		if v == V5 {
			a.ReasonCode = genCode(ackCodes(typ)).Draw(t, "code")
			a.Properties = genProps(t, "ack", typ, v)
		}
		return a
	case SUBSCRIBE:
		s := &Subscribe{PacketID: rapid.Uint16Min(1).Draw(t, "id"), Properties: genProps(t, "sub", SUBSCRIBE, v)}
		n := rapid.IntRange(1, 4).Draw(t, "n")
		for i := 0; i < n; i++ {
			sub := Subscription{Filter: genFilter().Draw(t, "filter"), Options: SubOptions{QoS: genQoS().Draw(t, "qos")}}
			if v == V5 {
				sub.Options.NoLocal = rapid.Bool().Draw(t, "nolocal")
				sub.Options.RetainAsPublished = rapid.Bool().Draw(t, "rap")
				sub.Options.RetainHandling = byte(rapid.IntRange(0, 2).Draw(t, "rh"))
				if rapid.Bool().Draw(t, "shared") {
					sub.Filter = "$share/g/" + sub.Filter
					sub.Options.NoLocal = false
				}
			}
			s.Subscriptions = append(s.Subscriptions, sub)
		}
		return s
	case SUBACK:
		s := &Suback{PacketID: rapid.Uint16Min(1).Draw(t, "id"), Properties: genProps(t, "suback", SUBACK, v)}
		var g *rapid.Generator[ReasonCode]
		switch v {
		case V5:
			g = genCode(&subackCodes)
		default:
			g = rapid.SampledFrom([]ReasonCode{0, 1, 2, 0x80})
		}
		s.ReasonCodes = rapid.SliceOfN(g, 1, 5).Draw(t, "codes")
		return s
	case UNSUBSCRIBE:
		return &Unsubscribe{PacketID: rapid.Uint16Min(1).Draw(t, "id"), Properties: genProps(t, "unsub", UNSUBSCRIBE, v),
			Filters: rapid.SliceOfN(genFilter(), 1, 4).Draw(t, "filters")}
	case UNSUBACK:
		u := &Unsuback{PacketID: rapid.Uint16Min(1).Draw(t, "id"), Properties: genProps(t, "unsuback", UNSUBACK, v)}
		if v == V5 {
			u.ReasonCodes = rapid.SliceOfN(genCode(&unsubackCodes), 1, 5).Draw(t, "codes")
		}
		return u
	case PINGREQ:
		return &Pingreq{}
	case PINGRESP:
		return &Pingresp{}
	case DISCONNECT:
		d := &Disconnect{}
		if v == V5 {
			d.ReasonCode = genCode(&disconnectCodes).Draw(t, "code")
			d.Properties = genProps(t, "disconnect", DISCONNECT, v)
		}
		return d
	default:
		return &Auth{ReasonCode: genCode(&authCodes).Draw(t, "code"), Properties: genProps(t, "auth", AUTH, v)}
	}
}

func genPublish(t *rapid.T, v Version) *Publish {
	p := &Publish{QoS: genQoS().Draw(t, "qos"), Retain: rapid.Bool().Draw(t, "retain")}
	if p.QoS > 0 {
		p.PacketID = rapid.Uint16Min(1).Draw(t, "id")
		p.Dup = rapid.Bool().Draw(t, "dup")
	}
	p.Properties = genProps(t, "publish", PUBLISH, v)
	if v == V5 && p.Properties.Has(PropTopicAlias) && rapid.Bool().Draw(t, "emptytopic") {
		p.Topic = ""
	} else {
		p.Topic = genTopicName().Draw(t, "topic")
	}
	p.Payload = genBytes(100).Draw(t, "payload")
	return p
}
