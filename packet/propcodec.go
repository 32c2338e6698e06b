package packet

import (
	"math/bits"
	"strconv"
)

// willCtx is the property context of the CONNECT Will Properties; packet
// contexts are their Type.
const willCtx Type = 0

type propKind byte

const (
	kByte propKind = iota + 1
	kU16
	kU32
	kVBI
	kStr
	kBin
	kPair
)

type propInfo struct {
	kind    propKind
	allowed uint16 // bit t: allowed in packet type t (bit 0: will properties)
	name    string
}

func in(ts ...Type) (m uint16) {
	for _, t := range ts {
		m |= 1 << t
	}
	return m
}

// propTable is Table 2.2.2.2 of MQTT 5: type and the packets each property
// may appear in.
var propTable = [...]propInfo{
	PropPayloadFormat:        {kByte, in(PUBLISH, willCtx), "Payload Format Indicator"},
	PropMessageExpiry:        {kU32, in(PUBLISH, willCtx), "Message Expiry Interval"},
	PropContentType:          {kStr, in(PUBLISH, willCtx), "Content Type"},
	PropResponseTopic:        {kStr, in(PUBLISH, willCtx), "Response Topic"},
	PropCorrelationData:      {kBin, in(PUBLISH, willCtx), "Correlation Data"},
	PropSubscriptionID:       {kVBI, in(PUBLISH, SUBSCRIBE), "Subscription Identifier"},
	PropSessionExpiry:        {kU32, in(CONNECT, CONNACK, DISCONNECT), "Session Expiry Interval"},
	PropAssignedClientID:     {kStr, in(CONNACK), "Assigned Client Identifier"},
	PropServerKeepAlive:      {kU16, in(CONNACK), "Server Keep Alive"},
	PropAuthMethod:           {kStr, in(CONNECT, CONNACK, AUTH), "Authentication Method"},
	PropAuthData:             {kBin, in(CONNECT, CONNACK, AUTH), "Authentication Data"},
	PropRequestProblemInfo:   {kByte, in(CONNECT), "Request Problem Information"},
	PropWillDelay:            {kU32, in(willCtx), "Will Delay Interval"},
	PropRequestResponseInfo:  {kByte, in(CONNECT), "Request Response Information"},
	PropResponseInfo:         {kStr, in(CONNACK), "Response Information"},
	PropServerReference:      {kStr, in(CONNACK, DISCONNECT), "Server Reference"},
	PropReasonString:         {kStr, in(CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH), "Reason String"},
	PropReceiveMaximum:       {kU16, in(CONNECT, CONNACK), "Receive Maximum"},
	PropTopicAliasMaximum:    {kU16, in(CONNECT, CONNACK), "Topic Alias Maximum"},
	PropTopicAlias:           {kU16, in(PUBLISH), "Topic Alias"},
	PropMaximumQoS:           {kByte, in(CONNACK), "Maximum QoS"},
	PropRetainAvailable:      {kByte, in(CONNACK), "Retain Available"},
	PropUserProperty:         {kPair, in(CONNECT, CONNACK, PUBLISH, willCtx, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH), "User Property"},
	PropMaximumPacketSize:    {kU32, in(CONNECT, CONNACK), "Maximum Packet Size"},
	PropWildcardSubAvailable: {kByte, in(CONNACK), "Wildcard Subscription Available"},
	PropSubIDAvailable:       {kByte, in(CONNACK), "Subscription Identifier Available"},
	PropSharedSubAvailable:   {kByte, in(CONNACK), "Shared Subscription Available"},
}

func (id PropID) String() string {
	if int(id) < len(propTable) && propTable[id].kind != 0 {
		return propTable[id].name
	}
	return "property 0x" + strconv.FormatUint(uint64(id), 16)
}

func ctxName(ctx Type) string {
	if ctx == willCtx {
		return "will properties"
	}
	return ctx.String()
}

// boolProps lists the byte properties whose only values are 0 and 1.
const boolProps = 1<<PropPayloadFormat | 1<<PropRequestProblemInfo | 1<<PropRequestResponseInfo |
	1<<PropMaximumQoS | 1<<PropRetainAvailable | 1<<PropWildcardSubAvailable |
	1<<PropSubIDAvailable | 1<<PropSharedSubAvailable

// decodeProps reads a property length and the properties into p, resetting
// p first but keeping the capacity of p.User and p.SubscriptionIDs.
// Strings and slices alias r.b.
func decodeProps(r *reader, p *Properties, ctx Type) error {
	n, err := r.vbi()
	if err != nil {
		return err
	}
	if n > r.left() {
		return errShort
	}
	user, ids := p.User[:0], p.SubscriptionIDs[:0]
	*p = Properties{}
	if n == 0 {
		p.User, p.SubscriptionIDs = user, ids
		return nil
	}
	pr := reader{b: r.b[:r.i+n], i: r.i}
	r.i += n
	var seen PropSet
	for pr.left() > 0 {
		id := PropID(pr.b[pr.i])
		pr.i++
		if int(id) >= len(propTable) || propTable[id].kind == 0 {
			return malformed("unknown property identifier 0x" + strconv.FormatUint(uint64(id), 16))
		}
		info := &propTable[id]
		if info.allowed&(1<<ctx) == 0 {
			// An identifier not valid for the packet type makes a Malformed
			// Packet (MQTT 5.0 section 2.2.2.2).
			return malformed(info.name + " not allowed in " + ctxName(ctx))
		}
		if seen&(1<<id) != 0 && id != PropUserProperty && !(id == PropSubscriptionID && ctx == PUBLISH) {
			return protoErr(info.name + " included more than once")
		}
		seen |= 1 << id
		switch id {
		case PropPayloadFormat:
			p.PayloadFormat, err = pr.flag(id)
		case PropMessageExpiry:
			p.MessageExpiry, err = pr.u32()
		case PropContentType:
			p.ContentType, err = pr.str()
		case PropResponseTopic:
			if p.ResponseTopic, err = pr.str(); err == nil && (p.ResponseTopic == "" || checkTopicNameString(p.ResponseTopic) != nil) {
				err = protoErr("Response Topic is not a valid topic name") // [MQTT5-3.3.2-14]
			}
		case PropCorrelationData:
			p.CorrelationData, err = pr.bin()
		case PropSubscriptionID:
			var v int
			if v, err = pr.vbi(); err == nil && v == 0 {
				err = protoErr("Subscription Identifier is 0")
			}
			ids = append(ids, uint32(v))
		case PropSessionExpiry:
			p.SessionExpiry, err = pr.u32()
		case PropAssignedClientID:
			p.AssignedClientID, err = pr.str()
		case PropServerKeepAlive:
			p.ServerKeepAlive, err = pr.u16()
		case PropAuthMethod:
			p.AuthMethod, err = pr.str()
		case PropAuthData:
			p.AuthData, err = pr.bin()
		case PropRequestProblemInfo:
			p.RequestProblemInfo, err = pr.flag(id)
		case PropWillDelay:
			p.WillDelay, err = pr.u32()
		case PropRequestResponseInfo:
			p.RequestResponseInfo, err = pr.flag(id)
		case PropResponseInfo:
			p.ResponseInfo, err = pr.str()
		case PropServerReference:
			p.ServerReference, err = pr.str()
		case PropReasonString:
			p.ReasonString, err = pr.str()
		case PropReceiveMaximum:
			p.ReceiveMaximum, err = pr.nonZero16(id)
		case PropTopicAliasMaximum:
			p.TopicAliasMaximum, err = pr.u16()
		case PropTopicAlias:
			p.TopicAlias, err = pr.nonZero16(id) // [MQTT5-3.3.2-8]
		case PropMaximumQoS:
			p.MaximumQoS, err = pr.flag(id)
		case PropRetainAvailable:
			p.RetainAvailable, err = pr.flag(id)
		case PropUserProperty:
			var k, v string
			if k, err = pr.str(); err == nil {
				v, err = pr.str()
			}
			user = append(user, UserProperty{Key: k, Value: v})
		case PropMaximumPacketSize:
			if p.MaximumPacketSize, err = pr.u32(); err == nil && p.MaximumPacketSize == 0 {
				err = protoErr("Maximum Packet Size is 0")
			}
		case PropWildcardSubAvailable:
			p.WildcardSubAvailable, err = pr.flag(id)
		case PropSubIDAvailable:
			p.SubIDAvailable, err = pr.flag(id)
		case PropSharedSubAvailable:
			p.SharedSubAvailable, err = pr.flag(id)
		}
		if err != nil {
			return err
		}
	}
	if seen&(1<<PropAuthData) != 0 && seen&(1<<PropAuthMethod) == 0 {
		return protoErr("Authentication Data without Authentication Method")
	}
	p.Present = seen
	p.User, p.SubscriptionIDs = user, ids
	return nil
}

// flag reads a byte property whose only values are 0 and 1.
func (r *reader) flag(id PropID) (byte, error) {
	v, err := r.u8()
	if err == nil && v > 1 {
		err = protoErr(propTable[id].name + " is not 0 or 1")
	}
	return v, err
}

// nonZero16 reads a two-byte property for which 0 is a Protocol Error.
func (r *reader) nonZero16(id PropID) (uint16, error) {
	v, err := r.u16()
	if err == nil && v == 0 {
		err = protoErr(propTable[id].name + " is 0")
	}
	return v, err
}

// encodable returns the identifiers to encode: the Present bits, with the
// User Property and Subscription Identifier bits taken from the slices.
func (p *Properties) encodable() PropSet {
	s := p.Present &^ (1<<PropSubscriptionID | 1<<PropUserProperty)
	if len(p.User) > 0 {
		s |= 1 << PropUserProperty
	}
	if len(p.SubscriptionIDs) > 0 {
		s |= 1 << PropSubscriptionID
	}
	return s
}

// propsLen is the length of the encoded properties, without the length
// prefix.
func propsLen(p *Properties) int {
	set := p.encodable()
	n := 0
	for set != 0 {
		id := PropID(bits.TrailingZeros64(uint64(set)))
		set &^= 1 << id
		if int(id) >= len(propTable) {
			continue
		}
		switch propTable[id].kind {
		case kByte:
			n += 2
		case kU16:
			n += 3
		case kU32:
			n += 5
		case kVBI:
			for _, v := range p.SubscriptionIDs {
				n += 1 + vbiLen(int(v))
			}
		case kStr:
			n += 3 + len(p.str(id))
		case kBin:
			n += 3 + len(p.bin(id))
		case kPair:
			for _, u := range p.User {
				n += 5 + len(u.Key) + len(u.Value)
			}
		}
	}
	return n
}

// propsSize is the encoded size including the length prefix.
func propsSize(p *Properties) int {
	n := propsLen(p)
	return vbiLen(n) + n
}

func (p *Properties) str(id PropID) string {
	switch id {
	case PropContentType:
		return p.ContentType
	case PropResponseTopic:
		return p.ResponseTopic
	case PropAssignedClientID:
		return p.AssignedClientID
	case PropAuthMethod:
		return p.AuthMethod
	case PropResponseInfo:
		return p.ResponseInfo
	case PropServerReference:
		return p.ServerReference
	case PropReasonString:
		return p.ReasonString
	}
	return ""
}

func (p *Properties) bin(id PropID) []byte {
	if id == PropCorrelationData {
		return p.CorrelationData
	}
	return p.AuthData
}

func (p *Properties) byteVal(id PropID) byte {
	switch id {
	case PropPayloadFormat:
		return p.PayloadFormat
	case PropRequestProblemInfo:
		return p.RequestProblemInfo
	case PropRequestResponseInfo:
		return p.RequestResponseInfo
	case PropMaximumQoS:
		return p.MaximumQoS
	case PropRetainAvailable:
		return p.RetainAvailable
	case PropWildcardSubAvailable:
		return p.WildcardSubAvailable
	case PropSubIDAvailable:
		return p.SubIDAvailable
	case PropSharedSubAvailable:
		return p.SharedSubAvailable
	}
	return 0
}

func (p *Properties) u16Val(id PropID) uint16 {
	switch id {
	case PropServerKeepAlive:
		return p.ServerKeepAlive
	case PropReceiveMaximum:
		return p.ReceiveMaximum
	case PropTopicAliasMaximum:
		return p.TopicAliasMaximum
	case PropTopicAlias:
		return p.TopicAlias
	}
	return 0
}

func (p *Properties) u32Val(id PropID) uint32 {
	switch id {
	case PropMessageExpiry:
		return p.MessageExpiry
	case PropSessionExpiry:
		return p.SessionExpiry
	case PropWillDelay:
		return p.WillDelay
	case PropMaximumPacketSize:
		return p.MaximumPacketSize
	}
	return 0
}

// appendProps appends the property length n (from propsLen) and the
// properties in identifier order.
func appendProps(dst []byte, p *Properties, n int) []byte {
	dst = appendVBI(dst, n)
	set := p.encodable()
	for set != 0 {
		id := PropID(bits.TrailingZeros64(uint64(set)))
		set &^= 1 << id
		if int(id) >= len(propTable) {
			continue
		}
		switch propTable[id].kind {
		case kByte:
			dst = append(dst, byte(id), p.byteVal(id))
		case kU16:
			dst = appendU16(append(dst, byte(id)), p.u16Val(id))
		case kU32:
			dst = appendU32(append(dst, byte(id)), p.u32Val(id))
		case kVBI:
			for _, v := range p.SubscriptionIDs {
				dst = appendVBI(append(dst, byte(id)), int(v))
			}
		case kStr:
			dst = appendStr(append(dst, byte(id)), p.str(id))
		case kBin:
			dst = appendBin(append(dst, byte(id)), p.bin(id))
		case kPair:
			for _, u := range p.User {
				dst = appendStr(append(dst, byte(id)), u.Key)
				dst = appendStr(dst, u.Value)
			}
		}
	}
	return dst
}

// checkProps validates p for encoding in context ctx at level v: the same
// rules decodeProps enforces, so that what is encoded decodes back.
func checkProps(p *Properties, ctx Type, v Version) error {
	_, err := checkPropsLen(p, ctx, v)
	return err
}

// checkPropsLen is checkProps returning propsLen(p) as well.
func checkPropsLen(p *Properties, ctx Type, v Version) (int, error) {
	set := p.encodable()
	if v != V5 {
		if set != 0 {
			return 0, protoErr("properties in an MQTT " + v.String() + " " + ctxName(ctx))
		}
		return 0, nil
	}
	n := 0
	for s := set; s != 0; {
		id := PropID(bits.TrailingZeros64(uint64(s)))
		s &^= 1 << id
		if int(id) >= len(propTable) || propTable[id].kind == 0 {
			return 0, malformed("unknown property identifier " + strconv.Itoa(int(id)))
		}
		info := &propTable[id]
		if info.allowed&(1<<ctx) == 0 {
			return 0, protoErr(info.name + " not allowed in " + ctxName(ctx))
		}
		switch info.kind {
		case kByte:
			if boolProps&(1<<id) != 0 && p.byteVal(id) > 1 {
				return 0, protoErr(info.name + " is not 0 or 1")
			}
			n += 2
		case kU16:
			if p.u16Val(id) == 0 && (id == PropReceiveMaximum || id == PropTopicAlias) {
				return 0, protoErr(info.name + " is 0")
			}
			n += 3
		case kU32:
			if id == PropMaximumPacketSize && p.MaximumPacketSize == 0 {
				return 0, protoErr("Maximum Packet Size is 0")
			}
			n += 5
		case kVBI:
			if len(p.SubscriptionIDs) > 1 && ctx != PUBLISH {
				return 0, protoErr("Subscription Identifier included more than once")
			}
			for _, v := range p.SubscriptionIDs {
				if v == 0 || v > MaxRemaining {
					return 0, protoErr("Subscription Identifier out of range")
				}
				n += 1 + vbiLen(int(v))
			}
		case kStr:
			s := p.str(id)
			if !validString(s) {
				return 0, malformed(info.name + " is not a valid UTF-8 string")
			}
			if id == PropResponseTopic && (s == "" || checkTopicNameString(s) != nil) {
				return 0, protoErr("Response Topic is not a valid topic name")
			}
			n += 3 + len(s)
		case kBin:
			b := p.bin(id)
			if len(b) > maxStr {
				return 0, malformed(info.name + " longer than 65535 bytes")
			}
			n += 3 + len(b)
		case kPair:
			for _, u := range p.User {
				if !validString(u.Key) || !validString(u.Value) {
					return 0, malformed("User Property is not a valid UTF-8 string pair")
				}
				n += 5 + len(u.Key) + len(u.Value)
			}
		}
	}
	if set&(1<<PropAuthData) != 0 && set&(1<<PropAuthMethod) == 0 {
		return 0, protoErr("Authentication Data without Authentication Method")
	}
	return n, nil
}
