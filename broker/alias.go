package broker

import (
	"strings"

	"github.com/tern-mq/tern/packet"
)

// Inbound topic aliases (MQTT 5 section 3.3.2.3.4). The server announces
// Config.TopicAliasMaximum in CONNACK; each connection keeps its own table
// (aliases are never carried from one connection to another
// [MQTT5-3.3.2-7]), allocated on the first alias the client sends.

// topicAliasMax is the Topic Alias Maximum announced to v5 clients.
func (s *Server) topicAliasMax() uint16 {
	return uint16(max(s.cfg.TopicAliasMaximum, 0))
}

// resolveAlias applies the Topic Alias of a v5 PUBLISH: a topic with an
// alias sets the mapping, an empty topic takes the mapped one. The alias
// is removed from p: it belongs to this connection.
func (c *conn) resolveAlias(p *packet.Publish) error {
	a := p.Properties.TopicAlias
	p.Properties.Clear(packet.PropTopicAlias)
	p.Properties.TopicAlias = 0
	// [MQTT5-3.2.2-17] [MQTT5-3.3.2-9] above the maximum announced:
	// DISCONNECT 0x94. The decoder already refuses alias 0 [MQTT5-3.3.2-8]
	// as a protocol error; checked again here.
	if a == 0 || a > c.srv.topicAliasMax() {
		return &packet.Error{Code: packet.TopicAliasInvalid, Reason: "Topic Alias 0 or above the Topic Alias Maximum"}
	}
	if p.Topic != "" {
		if c.aliases == nil {
			c.aliases = make([]string, c.srv.topicAliasMax()+1)
		}
		if c.aliases[a] != p.Topic {
			c.aliases[a] = strings.Clone(p.Topic) // p.Topic points into the read buffer
		}
		return nil
	}
	if c.aliases == nil || c.aliases[a] == "" {
		// An empty topic with an alias that has no mapping: a protocol error.
		return protocolError("Topic Alias %d has no topic", a)
	}
	p.Topic = c.aliases[a] // [MQTT5-3.3.2-12]
	return nil
}
