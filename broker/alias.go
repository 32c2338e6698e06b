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

// Outbound topic aliases. When a v5 client announces a Topic Alias
// Maximum in CONNECT, the server assigns aliases to the topics it sends on
// that connection: the first PUBLISH of a topic carries the topic and a
// new alias, later ones an empty topic and the alias. The table has
// min(client's maximum, Config.TopicAliasMaximum) entries [MQTT5-3.3.2-11]
// [MQTT5-3.1.2-26] (none when either is 0 [MQTT5-3.1.2-27]); when it is
// full the alias assigned longest ago is given to the new topic (first in,
// first out). Topics shorter than minAliasTopic are sent in full: the
// alias property would not save bytes. Packets are encoded in the order
// they are written, under the client's lock, so a mapping is always
// defined on the wire before it is used.
type outAliases struct {
	max uint16
	t   *aliasTable // made when the first alias is assigned
}

// aliasTable is the state of a connection's outbound topic aliases.
type aliasTable struct {
	byTopic map[string]uint16
	topics  []string // by alias
	next    uint16   // the alias to assign or replace next, 1..max

	pendTopic string // the mapping of the PUBLISH being encoded
	pendAlias uint16
}

const minAliasTopic = 4

// prepare sets the alias of p (cl.mu held). A new mapping takes effect
// with commit, once p is encoded.
func (o *outAliases) prepare(p *packet.Publish) {
	t := o.t
	if t != nil {
		t.pendAlias = 0
	}
	if o.max == 0 || len(p.Topic) < minAliasTopic {
		return
	}
	if t == nil {
		t = &aliasTable{next: 1, byTopic: make(map[string]uint16, o.max), topics: make([]string, o.max+1)}
		o.t = t
	}
	if a, ok := t.byTopic[p.Topic]; ok {
		p.Topic = ""
		p.Properties.TopicAlias = a
		p.Properties.Set(packet.PropTopicAlias)
		return
	}
	t.pendTopic, t.pendAlias = p.Topic, t.next
	p.Properties.TopicAlias = t.next
	p.Properties.Set(packet.PropTopicAlias)
}

// commit records the mapping prepare set, after the PUBLISH was encoded.
func (o *outAliases) commit() {
	t := o.t
	if t == nil || t.pendAlias == 0 {
		return
	}
	a := t.pendAlias
	if old := t.topics[a]; old != "" {
		delete(t.byTopic, old)
	}
	t.topics[a] = t.pendTopic // the message's topic: immutable, not copied
	t.byTopic[t.pendTopic] = a
	t.next = t.next%o.max + 1
	t.pendTopic, t.pendAlias = "", 0
}
