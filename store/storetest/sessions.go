package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
)

// sampleRecord returns a record using every field.
func sampleRecord(id string) store.SessionRecord {
	props := &packet.Properties{ContentType: "text/plain", MessageExpiry: 60,
		CorrelationData: []byte{1, 2}, User: []packet.UserProperty{{Key: "k", Value: "v"}}}
	props.Set(packet.PropContentType)
	props.Set(packet.PropMessageExpiry)
	props.Set(packet.PropCorrelationData)
	return store.SessionRecord{
		ClientID:       id,
		Version:        packet.V5,
		ExpiryInterval: 3600,
		DisconnectedAt: time.Date(2026, 11, 25, 13, 0, 0, 123456789, time.UTC),
		Subscriptions: []store.Subscription{
			{Filter: "a/+/c", Options: packet.SubOptions{QoS: packet.QoS1, NoLocal: true}, SubID: 7},
			{Filter: "$share/g/x/#", Options: packet.SubOptions{QoS: packet.QoS2, RetainAsPublished: true, RetainHandling: 2}},
		},
		Will: &store.Will{Topic: "will/" + id, Payload: []byte("gone"), QoS: packet.QoS1, Retain: true,
			Properties: props, Delay: 30},
	}
}

// normRecord makes records comparable with reflect.DeepEqual: times compare
// by instant, and nil and empty slices are the same.
func normRecord(r store.SessionRecord) store.SessionRecord {
	r = r.Clone()
	if r.DisconnectedAt.IsZero() {
		r.DisconnectedAt = time.Time{}
	} else {
		r.DisconnectedAt = r.DisconnectedAt.UTC().Round(0)
	}
	if len(r.Subscriptions) == 0 {
		r.Subscriptions = nil
	}
	if w := r.Will; w != nil {
		if len(w.Payload) == 0 {
			w.Payload = nil
		}
		w.Properties = normProps(w.Properties)
	}
	return r
}

func normProps(p *packet.Properties) *packet.Properties {
	if p == nil {
		return nil
	}
	c := *p
	if len(c.CorrelationData) == 0 {
		c.CorrelationData = nil
	}
	if len(c.AuthData) == 0 {
		c.AuthData = nil
	}
	if len(c.SubscriptionIDs) == 0 {
		c.SubscriptionIDs = nil
	}
	if len(c.User) == 0 {
		c.User = nil
	}
	return &c
}

func sortedRecords(rs []store.SessionRecord) []store.SessionRecord {
	out := make([]store.SessionRecord, len(rs))
	for i, r := range rs {
		out[i] = normRecord(r)
	}
	slices.SortFunc(out, func(a, b store.SessionRecord) int { return cmp.Compare(a.ClientID, b.ClientID) })
	return out
}

func checkRecords(t tb, st store.Store, want []store.SessionRecord) {
	t.Helper()
	got, err := st.LoadSessions(bg)
	if err != nil {
		t.Fatalf("LoadSessions: %v", err)
	}
	if g, w := sortedRecords(got), sortedRecords(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("LoadSessions:\n got %+v\nwant %+v", g, w)
	}
}

// testSessions: insert, upsert, delete and load of session records
// ([MQTT-3.1.2-4], [MQTT5-3.1.2-23]: the state of a persistent session is kept).
func (o opener) testSessions(t *testing.T) {
	st := o.store(t)
	checkRecords(t, st, nil)

	a, b := sampleRecord("a"), sampleRecord("b")
	b.Will = nil
	b.DisconnectedAt = time.Time{} // connected
	b.Version = packet.V311
	b.ExpiryInterval = store.NeverExpire
	must(t, st.SaveSession(bg, a))
	must(t, st.SaveSession(bg, b))
	checkRecords(t, st, []store.SessionRecord{a, b})

	// Upsert replaces the whole record.
	a2 := a.Clone()
	a2.Subscriptions = a2.Subscriptions[:1]
	a2.Will = nil
	a2.DisconnectedAt = time.Time{}
	must(t, st.SaveSession(bg, a2))
	checkRecords(t, st, []store.SessionRecord{a2, b})

	must(t, st.DeleteSession(bg, "a"))
	checkRecords(t, st, []store.SessionRecord{b})
	must(t, st.DeleteSession(bg, "a")) // unknown: not an error
	must(t, st.DeleteSession(bg, "nobody"))
	checkRecords(t, st, []store.SessionRecord{b})

	stats, err := st.Stats(bg)
	must(t, err)
	if stats.Sessions != 1 {
		t.Fatalf("Stats.Sessions = %d, want 1", stats.Sessions)
	}
}

// testSessionsModel: random saves and deletes against a map.
func (o opener) testSessionsModel(t *testing.T) {
	o.check(t, func(g *gen, st store.Store) {
		model := map[string]store.SessionRecord{}
		ids := []string{"c1", "c2", "c3", "client/é", " "}
		for range g.intRange(1, 30) {
			id := pick(g, ids)
			if g.intRange(0, 3) == 0 {
				must(g, st.DeleteSession(bg, id))
				delete(model, id)
				continue
			}
			rec := genRecord(g, id)
			must(g, st.SaveSession(bg, rec))
			model[id] = rec
		}
		checkRecords(g, st, slices.Collect(mapValues(model)))
		stats, err := st.Stats(bg)
		must(g, err)
		if stats.Sessions != len(model) {
			g.Fatalf("Stats.Sessions = %d, want %d", stats.Sessions, len(model))
		}
	})
}

func mapValues[K comparable, V any](m map[K]V) func(func(V) bool) {
	return func(yield func(V) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// genRecord draws a random record for client id.
func genRecord(g *gen, id string) store.SessionRecord {
	r := store.SessionRecord{
		ClientID:       id,
		Version:        pick(g, []packet.Version{packet.V31, packet.V311, packet.V5}),
		ExpiryInterval: pick(g, []uint32{0, 1, 3600, store.NeverExpire}),
	}
	if g.bool() {
		r.DisconnectedAt = time.Unix(g.int64Range(0, 1<<40), g.int64Range(0, 999999999))
	}
	for i := range g.intRange(0, 4) {
		r.Subscriptions = append(r.Subscriptions, store.Subscription{
			Filter: fmt.Sprintf("f/%d/%s", i, pick(g, []string{"+", "#", "x"})),
			Options: packet.SubOptions{
				QoS:               packet.QoS(g.intRange(0, 2)),
				NoLocal:           g.bool(),
				RetainAsPublished: g.bool(),
				RetainHandling:    byte(g.intRange(0, 2)),
			},
			SubID: uint32(g.int64Range(0, 268435455)),
		})
	}
	if g.bool() {
		w := &store.Will{Topic: "w/" + id, Payload: g.bytes(0, 8),
			QoS: packet.QoS(g.intRange(0, 2)), Retain: g.bool(),
			Delay: g.r.Uint32()}
		if g.bool() {
			w.Properties = &packet.Properties{ResponseTopic: "r", User: []packet.UserProperty{{Key: "a", Value: "b"}}}
			w.Properties.Set(packet.PropResponseTopic)
		}
		r.Will = w
	}
	return r
}

// testRecordCopied: the store keeps no reference to what it was given or
// what it returned.
func (o opener) testRecordCopied(t *testing.T) {
	st := o.store(t)
	rec := sampleRecord("a")
	want := rec.Clone()
	must(t, st.SaveSession(bg, rec))
	rec.Subscriptions[0].Filter = "changed"
	rec.Will.Payload[0] = 'X'
	rec.Will.Properties.User[0].Key = "changed"
	rec.Will.Topic = "changed"
	checkRecords(t, st, []store.SessionRecord{want})

	got, err := st.LoadSessions(bg)
	must(t, err)
	got[0].Subscriptions[0].Filter = "changed"
	got[0].Will.Payload[0] = 'Y'
	got[0].Will.Properties.CorrelationData[0] = 9
	checkRecords(t, st, []store.SessionRecord{want})
}

// testInvalid: input breaking the contract is refused with ErrInvalid.
func (o opener) testInvalid(t *testing.T) {
	st := o.store(t)
	expectInvalid := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", what, err)
		}
	}
	expectInvalid("SaveSession with empty client identifier", st.SaveSession(bg, store.SessionRecord{}))
	expectInvalid("SetRetained(nil)", st.SetRetained(bg, nil))
	for _, name := range []string{"", "a/+", "a/#", "#", "a\x00b"} {
		expectInvalid(fmt.Sprintf("SetRetained(%q)", name), st.SetRetained(bg, msg(1, name, "x")))
	}
	for _, filter := range []string{"", "a/#/b", "a+", "#/", "a\x00"} {
		expectInvalid(fmt.Sprintf("MatchRetained(%q)", filter),
			st.MatchRetained(bg, filter, func(*session.Message) bool { return true }))
	}
	checkRecords(t, st, nil)
}
