package interop

import (
	"fmt"
	"slices"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

func u16(v uint16) *uint16 { return &v }

// TestPaho5SharedSubscriptions: members of $share/g/... get the group's
// messages in turn, each message once; a non-shared subscriber gets all;
// retained messages are not sent to a shared subscription.
func TestPaho5SharedSubscriptions(t *testing.T) {
	_, addr := startBroker(t)
	pub := connect5(t, addr, &paho.Connect{ClientID: "pub", CleanStart: true})
	pub.pub(t, &paho.Publish{Topic: "work/old", QoS: 1, Retain: true, Payload: []byte("retained")})
	var members []*client5
	for i := range 3 {
		c := connect5(t, addr, &paho.Connect{ClientID: fmt.Sprintf("worker%d", i), CleanStart: true})
		c.sub1(t, "$share/workers/work/+", 1)
		c.quiet(t) // no retained message on a shared subscription
		members = append(members, c)
	}
	all := connect5(t, addr, &paho.Connect{ClientID: "all", CleanStart: true})
	all.sub1(t, "work/+", 1)
	all.expect(t, "work/old", "retained", 1, true)

	const n = 12
	for i := range n {
		pub.pub(t, &paho.Publish{Topic: "work/job", QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}
	for range n {
		all.next(t)
	}
	var got []string
	for _, c := range members {
		for range n / len(members) { // round robin: an equal share each
			got = append(got, string(c.next(t).Payload))
		}
		c.quiet(t)
	}
	slices.Sort(got)
	if got = slices.Compact(got); len(got) != n {
		t.Fatalf("members got %d distinct messages, want %d", len(got), n)
	}
}

// TestPaho5TopicAliases: the broker announces a Topic Alias Maximum; a
// publisher defines aliases and then sends an empty topic name; the
// subscriber receives the full topic.
func TestPaho5TopicAliases(t *testing.T) {
	_, addr := startBroker(t)
	sub := connect5(t, addr, &paho.Connect{ClientID: "sub", CleanStart: true})
	sub.sub1(t, "alias/#", 1)
	pub := connect5(t, addr, &paho.Connect{ClientID: "pub", CleanStart: true})
	if m := pub.ack.Properties.TopicAliasMaximum; m == nil || *m == 0 {
		t.Fatalf("CONNACK Topic Alias Maximum %v, want > 0", m)
	}
	pub.pub(t, &paho.Publish{Topic: "alias/long/topic/name", QoS: 1, Payload: []byte("1"),
		Properties: &paho.PublishProperties{TopicAlias: u16(1)}})
	sub.expect(t, "alias/long/topic/name", "1", 1, false)
	pub.pub(t, &paho.Publish{QoS: 1, Payload: []byte("2"), Properties: &paho.PublishProperties{TopicAlias: u16(1)}})
	m := sub.expect(t, "alias/long/topic/name", "2", 1, false)
	if m.Properties != nil && m.Properties.TopicAlias != nil {
		t.Fatalf("alias %d forwarded", *m.Properties.TopicAlias)
	}
	pub.pub(t, &paho.Publish{QoS: 0, Payload: []byte("3"), Properties: &paho.PublishProperties{TopicAlias: u16(1)}})
	sub.expect(t, "alias/long/topic/name", "3", 0, false)
}

// TestPaho5SubscriptionOptions: No Local, Retain As Published and Retain
// Handling 2 through paho.golang.
func TestPaho5SubscriptionOptions(t *testing.T) {
	_, addr := startBroker(t)
	c := connect5(t, addr, &paho.Connect{ClientID: "opts", CleanStart: true})
	other := connect5(t, addr, &paho.Connect{ClientID: "other", CleanStart: true})
	other.pub(t, &paho.Publish{Topic: "so/r", QoS: 1, Retain: true, Payload: []byte("kept")})

	sa := c.sub(t, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "so/#", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
	}})
	if !slices.Equal(sa.Reasons, []byte{1}) {
		t.Fatalf("SUBACK %v", sa.Reasons)
	}
	c.pub(t, &paho.Publish{Topic: "so/mine", QoS: 1, Payload: []byte("mine")}) // No Local
	other.pub(t, &paho.Publish{Topic: "so/r", QoS: 1, Retain: true, Payload: []byte("again")})
	c.expect(t, "so/r", "again", 1, true) // Retain As Published; the retained one was not sent
	c.quiet(t)
}
