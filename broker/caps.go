package broker

import (
	"fmt"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/topic"
)

// The server's optional capabilities (Config) and how they are announced
// in CONNACK and enforced on CONNECT, PUBLISH and SUBSCRIBE.

// maxQoS is the highest QoS the server accepts and grants.
func (s *Server) maxQoS() packet.QoS {
	switch q := s.cfg.MaximumQoS; {
	case q < 0:
		return 0
	case q == 1:
		return 1
	}
	return 2
}

// redirect refuses every CONNECT when Config.ServerReference is set or
// during a Drain (with its reference): v5
// clients get CONNACK 0x9C (Use another server) or, with ServerMoved, 0x9D
// with the Server Reference; 3.1/3.1.1 clients get 0x03 (Server
// unavailable).
func (s *Server) redirect(c *conn, p *packet.Connect) error {
	ref, moved := s.cfg.ServerReference, s.cfg.ServerMoved
	if d := s.draining(); d != nil {
		ref, moved = d.ServerReference, d.Moved
	} else if ref == "" {
		return nil
	}
	ack := &packet.Connack{ReasonCode: packet.ConnRefusedServerUnavailable}
	if p.Version == packet.V5 {
		ack.ReasonCode = packet.UseAnotherServer
		if moved {
			ack.ReasonCode = packet.ServerMoved
		}
		if ref != "" {
			ack.Properties.ServerReference = ref
			ack.Properties.Set(packet.PropServerReference)
		}
	}
	c.writeDirect(ack, p.Version)
	return fmt.Errorf("CONNECT redirected to %q", ref)
}

// checkWill checks the will against the capabilities: the CONNACK reason
// code (v5, 3.1.1) when it exceeds them.
func (s *Server) checkWill(p *packet.Connect) (code5, code311 packet.ReasonCode, why string) {
	if !p.WillFlag {
		return 0, 0, ""
	}
	if p.WillQoS > s.maxQoS() { // [MQTT5-3.2.2-12]
		return packet.QoSNotSupported, packet.ConnRefusedServerUnavailable, fmt.Sprintf("will QoS %d above the maximum %d", p.WillQoS, s.maxQoS())
	}
	if p.WillRetain && s.cfg.RetainUnavailable { // [MQTT5-3.2.2-13]
		return packet.RetainNotSupported, packet.ConnRefusedServerUnavailable, "will retain without retained messages"
	}
	if why := s.topicOverLimits(p.WillTopic); why != "" {
		s.stats.limits.topics.Add(1)
		return packet.TopicNameInvalid, packet.ConnRefusedNotAuthorized311, "will topic " + why
	}
	return 0, 0, ""
}

// keepAlive is the keep alive the server uses for p: Config.ServerKeepAlive
// for a v5 client when set (announced in CONNACK), else the client's
// [MQTT5-3.2.2-22].
func (s *Server) keepAlive(p *packet.Connect) uint16 {
	if ka := s.cfg.ServerKeepAlive; ka > 0 && p.Version == packet.V5 {
		return uint16(min(ka/time.Second, 65535))
	}
	return p.KeepAlive
}

// connackCaps adds the capabilities to a v5 CONNACK; req is the CONNECT's
// properties.
func (s *Server) connackCaps(pr *packet.Properties, req *packet.Properties) {
	if q := s.maxQoS(); q < 2 {
		pr.MaximumQoS = byte(q)
		pr.Set(packet.PropMaximumQoS)
	}
	if s.cfg.RetainUnavailable {
		pr.RetainAvailable = 0
		pr.Set(packet.PropRetainAvailable)
	}
	if s.cfg.WildcardSubscriptionsUnavailable {
		pr.WildcardSubAvailable = 0
		pr.Set(packet.PropWildcardSubAvailable)
	}
	if s.cfg.SubscriptionIDsUnavailable {
		pr.SubIDAvailable = 0
		pr.Set(packet.PropSubIDAvailable)
	}
	// Shared Subscription Available: 1 is the default meaning of its
	// absence, announced anyway for clients that look for it.
	pr.SharedSubAvailable = 1
	if s.cfg.SharedSubscriptionsUnavailable {
		pr.SharedSubAvailable = 0
	}
	pr.Set(packet.PropSharedSubAvailable)
	if ka := s.cfg.ServerKeepAlive; ka > 0 { // [MQTT5-3.2.2-21]
		pr.ServerKeepAlive = uint16(min(ka/time.Second, 65535))
		pr.Set(packet.PropServerKeepAlive)
	}
	// [MQTT5-3.1.2-28] Response Information only when requested.
	if req.RequestResponseInfo == 1 && s.cfg.ResponseInformation != "" {
		pr.ResponseInfo = s.cfg.ResponseInformation
		pr.Set(packet.PropResponseInfo)
	}
}

// problemInfo reports whether a Reason String may be sent to the client
// of p: not to a v5 client that set Request Problem Information 0
// [MQTT5-3.1.2-29], never to 3.1/3.1.1 clients.
func problemInfo(p *packet.Connect) bool {
	return p.Version == packet.V5 && !(p.Properties.Has(packet.PropRequestProblemInfo) && p.Properties.RequestProblemInfo == 0)
}

// withReason adds why as the Reason String of a v5 CONNACK or DISCONNECT
// when the client allows it and the packet still fits its Maximum Packet
// Size [MQTT5-3.2.2-19].
func withReason(pr *packet.Properties, p packet.Packet, allowed bool, why string, maxOut int) {
	if !allowed || why == "" {
		return
	}
	pr.ReasonString = why
	pr.Set(packet.PropReasonString)
	if !packet.Fit(p, packet.V5, maxOut) {
		pr.ReasonString = ""
		pr.Clear(packet.PropReasonString)
	}
}

// checkPublish enforces Maximum QoS [MQTT5-3.2.2-11] (DISCONNECT 0x9B)
// and Retain Available [MQTT5-3.2.2-14] (0x9A) on a PUBLISH.
func (s *Server) checkPublish(p *packet.Publish) error {
	if p.QoS > s.maxQoS() {
		return &packet.Error{Code: packet.QoSNotSupported, Reason: fmt.Sprintf("QoS %d above the Maximum QoS %d", p.QoS, s.maxQoS())}
	}
	if p.Retain && s.cfg.RetainUnavailable {
		return &packet.Error{Code: packet.RetainNotSupported, Reason: "retained messages are not available"}
	}
	if l := s.limits(); (l.MaxTopicLength > 0 || l.MaxTopicLevels > 0) && p.Topic != "" {
		return s.checkTopicLimits(p.Topic)
	}
	return nil
}

// checkSubscribe enforces Subscription Identifier Available on a
// SUBSCRIBE: DISCONNECT 0xA1.
func (s *Server) checkSubscribe(c *conn, p *packet.Subscribe) error {
	if c.version == packet.V5 && s.cfg.SubscriptionIDsUnavailable && len(p.Properties.SubscriptionIDs) > 0 {
		return &packet.Error{Code: packet.SubscriptionIdentifiersNotSupported, Reason: "subscription identifiers are not available"}
	}
	return nil
}

// subscribeCaps checks one filter against the capabilities and downgrades
// its requested QoS to the Maximum QoS [MQTT5-3.2.2-10]; ok is false with
// the SUBACK code when the filter is refused.
func (s *Server) subscribeCaps(c *conn, f string, o *packet.SubOptions) (code packet.ReasonCode, ok bool) {
	o.QoS = min(o.QoS, s.maxQoS())
	v5 := c.version == packet.V5
	refuse := func(c5 packet.ReasonCode) (packet.ReasonCode, bool) {
		if v5 {
			return c5, false
		}
		return packet.SubackFailure311, false
	}
	full := f
	if isShared(f) {
		if s.cfg.SharedSubscriptionsUnavailable {
			return refuse(packet.SharedSubscriptionsNotSupported)
		}
		_, inner, _, err := topic.ParseShared(f)
		if err != nil {
			return 0, true // refused with 0x8F by subscribeShared
		}
		f = inner
	}
	if s.cfg.WildcardSubscriptionsUnavailable && topic.ValidFilter(f) == nil && containsWildcard(f) {
		return refuse(packet.WildcardSubscriptionsNotSupported)
	}
	return s.subscriptionQuota(c, full, f)
}

func containsWildcard(f string) bool {
	for i := 0; i < len(f); i++ {
		if f[i] == '+' || f[i] == '#' {
			return true
		}
	}
	return false
}
