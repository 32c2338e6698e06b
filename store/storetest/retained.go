package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/topic"
)

// msg returns a retained QoS 1 message.
func msg(id uint64, name, payload string) *session.Message {
	return &session.Message{ID: id, Topic: name, Payload: []byte(payload), QoS: packet.QoS1, Retain: true}
}

// matchAll returns the messages MatchRetained reports for filter, sorted by
// topic.
func matchAll(t tb, st store.Store, filter string) []*session.Message {
	t.Helper()
	var out []*session.Message
	err := st.MatchRetained(bg, filter, func(m *session.Message) bool {
		out = append(out, m)
		return true
	})
	if err != nil {
		t.Fatalf("MatchRetained(%q): %v", filter, err)
	}
	slices.SortFunc(out, func(a, b *session.Message) int { return strings.Compare(a.Topic, b.Topic) })
	return out
}

// sameMessage compares what a subscriber would receive.
func sameMessage(a, b *session.Message) bool {
	return a.ID == b.ID && a.Topic == b.Topic && bytes.Equal(a.Payload, b.Payload) && a.QoS == b.QoS &&
		a.Retain == b.Retain && a.Expires.Equal(b.Expires) &&
		reflect.DeepEqual(normProps(a.Properties), normProps(b.Properties))
}

func describe(ms []*session.Message) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "[%d %q %q] ", m.ID, m.Topic, m.Payload)
	}
	return b.String()
}

func checkMatch(t tb, st store.Store, filter string, want []*session.Message) {
	t.Helper()
	got := matchAll(t, st, filter)
	want = slices.Clone(want)
	slices.SortFunc(want, func(a, b *session.Message) int { return strings.Compare(a.Topic, b.Topic) })
	if len(got) != len(want) {
		t.Fatalf("MatchRetained(%q):\n got %s\nwant %s", filter, describe(got), describe(want))
	}
	for i := range got {
		if !sameMessage(got[i], want[i]) {
			t.Fatalf("MatchRetained(%q):\n got %s\nwant %s", filter, describe(got), describe(want))
		}
	}
}

func checkRetainedCount(t tb, st store.Store, want int) {
	t.Helper()
	stats, err := st.Stats(bg)
	must(t, err)
	if stats.Retained != want {
		t.Fatalf("Stats.Retained = %d, want %d", stats.Retained, want)
	}
}

// testRetained: set, replace and clear ([MQTT-3.3.1-5], [MQTT-3.3.1-7],
// [MQTT-3.3.1-10], [MQTT-3.3.1-11], [MQTT5-3.3.1-5], [MQTT5-3.3.1-6],
// [MQTT5-3.3.1-7]).
func (o opener) testRetained(t *testing.T) {
	st := o.store(t)
	checkMatch(t, st, "#", nil)

	m1 := msg(1, "a/b", "one")
	m1.Properties = &packet.Properties{ContentType: "text/plain", User: []packet.UserProperty{{Key: "k", Value: "v"}}}
	m1.Properties.Set(packet.PropContentType)
	must(t, st.SetRetained(bg, m1))
	checkMatch(t, st, "a/b", []*session.Message{m1})
	checkRetainedCount(t, st, 1)

	// A new retained message replaces the previous one, whatever its QoS.
	m2 := msg(2, "a/b", "two")
	m2.QoS = packet.QoS0
	must(t, st.SetRetained(bg, m2))
	checkMatch(t, st, "a/b", []*session.Message{m2})
	checkMatch(t, st, "#", []*session.Message{m2})
	checkRetainedCount(t, st, 1)

	m3 := msg(3, "a/b/c", "three")
	must(t, st.SetRetained(bg, m3))
	checkMatch(t, st, "a/#", []*session.Message{m2, m3})

	// An empty payload clears the topic and is not stored itself.
	must(t, st.SetRetained(bg, msg(4, "a/b", "")))
	checkMatch(t, st, "#", []*session.Message{m3})
	checkRetainedCount(t, st, 1)
	must(t, st.SetRetained(bg, msg(5, "a/b", ""))) // clearing nothing is fine
	must(t, st.SetRetained(bg, msg(6, "a/b/c", "")))
	checkMatch(t, st, "#", nil)
	checkRetainedCount(t, st, 0)

	// Retained messages are not part of any session [MQTT-3.1.2-7].
	must(t, st.SetRetained(bg, m1))
	must(t, st.SaveSession(bg, sampleRecord("a")))
	must(t, st.DeleteSession(bg, "a"))
	checkMatch(t, st, "a/b", []*session.Message{m1})
}

// retainedTopics exercises '$', empty levels and prefixes.
var retainedTopics = []string{
	"a", "a/b", "a/b/c", "a/c", "a//c", "a/", "/a", "/", "b", "b/a/c",
	"$SYS", "$SYS/uptime", "$SYS/a/b", "$x/a", "a/$x", "sport/tennis/player1", "sport",
}

// testRetainedMatch: wildcards and the '$' rule ([MQTT-4.7.1-2],
// [MQTT-4.7.1-3], [MQTT-4.7.2-1], [MQTT5-4.7.1-1], [MQTT5-4.7.1-2],
// [MQTT5-4.7.2-1]), checked against topic.Match.
func (o opener) testRetainedMatch(t *testing.T) {
	st := o.store(t)
	var all []*session.Message
	for i, name := range retainedTopics {
		m := msg(uint64(i+1), name, "p"+name)
		all = append(all, m)
		must(t, st.SetRetained(bg, m))
	}
	filters := []string{
		"#", "+", "+/+", "+/#", "a/#", "a/+", "a/+/c", "+/b", "/#", "/+", "+/", "a//c", "a/+/+",
		"$SYS/#", "$SYS/+", "$SYS", "+/uptime", "$x/#", "a/$x", "+/$x", "sport/#", "sport/+",
		"sport/tennis/+", "nothing", "nothing/#", "a/b/c/#", "#/", "",
	}
	for _, f := range filters {
		if topic.ValidFilter(f) != nil {
			continue
		}
		var want []*session.Message
		for _, m := range all {
			if topic.Match(f, m.Topic) {
				want = append(want, m)
			}
		}
		checkMatch(t, st, f, want)
	}
	// The specification's examples: "sport/#" matches "sport" too, and
	// wildcards at the first level do not match "$SYS" topics.
	if got := matchAll(t, st, "sport/#"); len(got) != 2 {
		t.Errorf(`"sport/#" matched %s, want "sport" and "sport/tennis/player1"`, describe(got))
	}
	for _, m := range matchAll(t, st, "#") {
		if strings.HasPrefix(m.Topic, "$") {
			t.Errorf(`"#" matched %q [MQTT-4.7.2-1]`, m.Topic)
		}
	}
}

// testRetainedModel: random sets and clears against a map, matched with
// random filters.
func (o opener) testRetainedModel(t *testing.T) {
	levels := []string{"a", "b", "$s", "", "c"}
	o.check(t, func(g *gen, st store.Store) {
		model := map[string]*session.Message{}
		name := func() string {
			n := strings.Join(g.levels(levels, 1, 4), "/")
			if n == "" {
				return "a" // a topic name has at least one character [MQTT-4.7.3-1]
			}
			return n
		}
		for i := range g.intRange(1, 50) {
			n := name()
			payload := ""
			if g.intRange(0, 3) > 0 {
				payload = fmt.Sprint(i)
			}
			m := msg(uint64(i+1), n, payload)
			must(g, st.SetRetained(bg, m))
			if payload == "" {
				delete(model, n)
			} else {
				model[n] = m
			}
		}
		checkRetainedCount(g, st, len(model))
		filterLevels := append([]string{"+"}, levels...)
		for range 8 {
			ls := g.levels(filterLevels, 1, 4)
			if g.bool() {
				ls = append(ls, "#")
			}
			f := strings.Join(ls, "/")
			if f == "" {
				f = "a"
			}
			var want []*session.Message
			for n, m := range model {
				if topic.Match(f, n) {
					want = append(want, m)
				}
			}
			checkMatch(g, st, f, want)
		}
	})
}

// testRetainedStop: fn returning false stops the walk.
func (o opener) testRetainedStop(t *testing.T) {
	st := o.store(t)
	for i := range 10 {
		must(t, st.SetRetained(bg, msg(uint64(i+1), fmt.Sprintf("s/%d", i), "x")))
	}
	calls := 0
	must(t, st.MatchRetained(bg, "s/+", func(*session.Message) bool { calls++; return calls < 3 }))
	if calls != 3 {
		t.Fatalf("fn called %d times after returning false on the third call, want 3", calls)
	}
}

// testRetainedExpiry: a retained message past its Message Expiry Interval is
// not reported [MQTT5-3.3.2-5].
func (o opener) testRetainedExpiry(t *testing.T) {
	st := o.store(t)
	live, dead := msg(1, "e/live", "x"), msg(2, "e/dead", "x")
	live.Expires = time.Now().Add(time.Hour)
	dead.Expires = time.Now().Add(-time.Second)
	must(t, st.SetRetained(bg, live))
	must(t, st.SetRetained(bg, dead))
	checkMatch(t, st, "e/#", []*session.Message{live})
}

// testRetainedReentrant: fn may call the store, also to change retained
// messages, without deadlocking.
func (o opener) testRetainedReentrant(t *testing.T) {
	st := o.store(t)
	for i := range 5 {
		must(t, st.SetRetained(bg, msg(uint64(i+1), fmt.Sprintf("r/%d", i), "x")))
	}
	n := 0
	must(t, st.MatchRetained(bg, "r/#", func(m *session.Message) bool {
		n++
		must(t, st.SetRetained(bg, msg(100, m.Topic, ""))) // clear what was just reported
		must(t, st.MatchRetained(bg, "#", func(*session.Message) bool { return true }))
		return true
	}))
	if n != 5 {
		t.Fatalf("reported %d messages, want 5", n)
	}
	checkMatch(t, st, "#", nil)
}
