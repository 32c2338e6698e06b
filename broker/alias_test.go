package broker

import (
	"testing"

	"github.com/tern-mq/tern/packet"
)

func withAlias(a uint16) func(*packet.Properties) {
	return func(p *packet.Properties) {
		p.TopicAlias = a
		p.Set(packet.PropTopicAlias)
	}
}

func aliasPublish(topic string, a uint16, payload string) *packet.Publish {
	p := &packet.Publish{Topic: topic, Payload: []byte(payload)}
	withAlias(a)(&p.Properties)
	return p
}

// [MQTT5-3.3.2-12]: the server accepts every alias from 1 to the Topic
// Alias Maximum it announced; an empty topic name takes the mapped one; a
// mapping can be changed; subscribers never see the alias; mappings do not
// outlive the connection [MQTT5-3.3.2-7].
func TestTopicAliasInbound_MQTT5_3_3_2_12(t *testing.T) {
	_, addr := startServer(t, Config{TopicAliasMaximum: 3})
	sub := dial(t, addr, packet.V5)
	sub.mustConnect("sub", true)
	sub.subscribe(1, "a/#", 0)
	pub := dial(t, addr, packet.V5)
	ack := pub.mustConnect("pub", true)
	if !ack.Properties.Has(packet.PropTopicAliasMaximum) || ack.Properties.TopicAliasMaximum != 3 {
		t.Fatalf("CONNACK Topic Alias Maximum %d, want 3", ack.Properties.TopicAliasMaximum)
	}
	expect := func(topic, payload string) {
		t.Helper()
		p := sub.recvPublish()
		if p.Topic != topic || string(p.Payload) != payload || p.Properties.Has(packet.PropTopicAlias) {
			t.Fatalf("got %q %q alias %d, want %q %q without alias", p.Topic, p.Payload, p.Properties.TopicAlias, topic, payload)
		}
	}
	pub.send(aliasPublish("a/one", 1, "1"))
	expect("a/one", "1")
	pub.send(aliasPublish("", 1, "2"))
	expect("a/one", "2")
	pub.send(aliasPublish("a/three", 3, "3"))
	expect("a/three", "3")
	pub.send(aliasPublish("a/other", 1, "4")) // remapped
	expect("a/other", "4")
	pub.send(aliasPublish("", 1, "5"))
	expect("a/other", "5")
	pub.send(aliasPublish("", 3, "6"))
	expect("a/three", "6")
	pub.disconnect()

	again := dial(t, addr, packet.V5)
	again.mustConnect("pub", true)
	again.send(aliasPublish("", 1, "7")) // the old connection's mapping is gone
	again.expectDisconnect(packet.ProtocolError)
}

// [MQTT5-3.3.2-8] [MQTT5-3.3.2-9]: alias 0 is a protocol error (0x82),
// above the maximum DISCONNECT 0x94; with a negative TopicAliasMaximum none is announced and
// any alias is refused [MQTT5-3.2.2-18].
func TestTopicAliasInvalid_MQTT5_3_3_2_9(t *testing.T) {
	_, addr := startServer(t, Config{TopicAliasMaximum: 2})
	for _, a := range []uint16{0, 3} {
		c := dial(t, addr, packet.V5)
		c.mustConnect("bad", true)
		// The encoder refuses alias 0: raw bytes for that case, which the
		// decoder reports as a protocol error (0x82).
		if a == 0 {
			c.sendRaw([]byte{0x30, 7, 0, 1, 'x', 3, 0x23, 0, 0})
			c.expectDisconnect(packet.ProtocolError)
			continue
		}
		c.send(aliasPublish("x", a, ""))
		c.expectDisconnect(packet.TopicAliasInvalid)
	}

	_, addr = startServer(t, Config{TopicAliasMaximum: -1})
	c := dial(t, addr, packet.V5)
	if ack := c.mustConnect("none", true); ack.Properties.Has(packet.PropTopicAliasMaximum) && ack.Properties.TopicAliasMaximum != 0 {
		t.Fatalf("Topic Alias Maximum %d announced", ack.Properties.TopicAliasMaximum)
	}
	c.send(aliasPublish("x", 1, ""))
	c.expectDisconnect(packet.TopicAliasInvalid)
}

// An empty topic with an alias that has no mapping is a protocol error
// (section 3.3.4): DISCONNECT 0x82.
func TestTopicAliasUnknown(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := dial(t, addr, packet.V5)
	c.mustConnect("unknown", true)
	c.send(aliasPublish("", 5, "x"))
	c.expectDisconnect(packet.ProtocolError)
}

// [MQTT5-3.3.2-11] [MQTT5-3.1.2-26] [MQTT5-3.1.2-27]: the server assigns
// outbound aliases up to the client's Topic Alias Maximum, replacing the
// oldest when full, and none to a client that announced none.
func TestTopicAliasOutbound_MQTT5_3_3_2_11(t *testing.T) {
	_, addr := startServer(t, Config{})
	sub := dial(t, addr, packet.V5)
	sub.mustConnect("alias-out", true, withProps(func(p *packet.Properties) {
		p.TopicAliasMaximum = 2
		p.Set(packet.PropTopicAliasMaximum)
	}))
	sub.subscribe(1, "#", 0)
	plain := dial(t, addr, packet.V5)
	plain.mustConnect("no-alias", true)
	plain.subscribe(1, "#", 0)
	pub := dial(t, addr, packet.V5)
	pub.mustConnect("pub", true)

	topics := []string{"out/aaaa", "out/aaaa", "out/bbbb", "out/cccc", "out/aaaa", "o/x", "out/aaaa"}
	emptyAt := map[int]bool{1: true, 6: true} // topics already mapped when sent
	table := map[uint16]string{}
	for i, topic := range topics {
		pub.send(&packet.Publish{Topic: topic, Payload: []byte{byte(i)}})
		p := sub.recvPublish()
		a := p.Properties.TopicAlias
		if p.Properties.Has(packet.PropTopicAlias) && (a == 0 || a > 2) {
			t.Fatalf("message %d: alias %d outside 1..2", i, a)
		}
		if p.Topic == "" {
			if !emptyAt[i] {
				t.Fatalf("message %d (%s): empty topic, alias %d", i, topic, a)
			}
			p.Topic = table[a]
		} else if emptyAt[i] {
			t.Fatalf("message %d (%s): full topic sent again", i, topic)
		}
		if p.Topic != topic {
			t.Fatalf("message %d: resolves to %q, want %q", i, p.Topic, topic)
		}
		if p.Properties.Has(packet.PropTopicAlias) && p.Topic != "" {
			table[a] = p.Topic
		}
		if q := plain.recvPublish(); q.Topic != topic || q.Properties.Has(packet.PropTopicAlias) {
			t.Fatalf("client without Topic Alias Maximum: %q alias %d", q.Topic, q.Properties.TopicAlias)
		}
	}
	if len(table) != 2 {
		t.Fatalf("aliases used: %v, want 2", table)
	}
}
