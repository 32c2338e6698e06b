package storetest

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
)

// Bench runs the store benchmarks against the backend open returns: the
// Apply calls of QoS 1 deliveries (one session, a fan-out, sessions in
// parallel) and retained messages among 100,000 topics.
func Bench(b *testing.B, open func(b *testing.B) store.Store) {
	b.Run("ApplyQoS1", func(b *testing.B) { benchApplyQoS1(b, open) })
	b.Run("ApplyQoS1Parallel", func(b *testing.B) { benchApplyParallel(b, open) })
	b.Run("ApplyFanOut10", func(b *testing.B) { benchFanOut(b, open, 10) })
	b.Run("SetRetained100k", func(b *testing.B) { benchSetRetained(b, open) })
	for _, f := range []string{"site/42/dev/7/temp", "site/42/+/+/temp", "site/42/#", "+/+/dev/7/temp", "#"} {
		b.Run("MatchRetained100k/"+f, func(b *testing.B) { benchMatchRetained(b, open, f) })
	}
}

func openBench(b *testing.B, open func(b *testing.B) store.Store) store.Store {
	st := open(b)
	b.Cleanup(func() { closeStore(b, st) })
	return st
}

// qos1Flow fills changes with what a connected session persists for one QoS
// 1 delivery: in flight at once, then acknowledged (two Ready cycles).
func qos1Flow(changes *[2][1]session.Change, m *session.Message, seq uint64, id uint16) {
	d := session.Delivery{Msg: m, QoS: packet.QoS1}
	changes[0][0] = session.Change{Kind: session.ChangeInflight, Seq: seq, PacketID: id, Delivery: d}
	changes[1][0] = session.Change{Kind: session.ChangeAcked, PacketID: id}
}

func nextPacketID(i int) uint16 { return uint16(i%65535) + 1 }

// benchApplyQoS1: one session, one message per op, two Apply calls.
func benchApplyQoS1(b *testing.B, open func(b *testing.B) store.Store) {
	st := openBench(b, open)
	msgs := benchMessages(1024)
	var changes [2][1]session.Change
	// Reused update slices: a variadic argument built at each call would
	// be allocated, as it escapes through the interface.
	sent := []store.Update{{ClientID: "bench", Changes: changes[0][:]}}
	acked := []store.Update{{ClientID: "bench", Changes: changes[1][:]}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		qos1Flow(&changes, msgs[i%len(msgs)], uint64(i+1), nextPacketID(i))
		must(b, st.Apply(bg, sent...))
		must(b, st.Apply(bg, acked...))
		i++
	}
}

// benchApplyParallel: the same, one session per goroutine.
func benchApplyParallel(b *testing.B, open func(b *testing.B) store.Store) {
	st := openBench(b, open)
	msgs := benchMessages(1024)
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprintf("bench-%d", n.Add(1))
		var changes [2][1]session.Change
		sent := []store.Update{{ClientID: id, Changes: changes[0][:]}}
		acked := []store.Update{{ClientID: id, Changes: changes[1][:]}}
		i := 0
		for pb.Next() {
			qos1Flow(&changes, msgs[i%len(msgs)], uint64(i+1), nextPacketID(i))
			if err := st.Apply(bg, sent...); err != nil {
				b.Error(err)
				return
			}
			if err := st.Apply(bg, acked...); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// benchFanOut: one message queued to n offline sessions in one call, then
// removed from each (delivered as it reached the head of their queues).
func benchFanOut(b *testing.B, open func(b *testing.B) store.Store, n int) {
	st := openBench(b, open)
	msgs := benchMessages(1024)
	queued := make([]store.Update, n)
	removed := make([]store.Update, n)
	for j := range n {
		id := fmt.Sprintf("sub-%d", j)
		queued[j] = store.Update{ClientID: id, Changes: make([]session.Change, 1)}
		removed[j] = store.Update{ClientID: id, Changes: make([]session.Change, 1)}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m := msgs[i%len(msgs)]
		for j := range n {
			queued[j].Changes[0] = session.Change{Kind: session.ChangeQueued, Seq: uint64(i + 1),
				Delivery: session.Delivery{Msg: m, QoS: packet.QoS1}}
			removed[j].Changes[0] = session.Change{Kind: session.ChangeRemoved, Seq: uint64(i + 1)}
		}
		must(b, st.Apply(bg, queued...))
		must(b, st.Apply(bg, removed...))
		i++
	}
}

func benchMessages(n int) []*session.Message {
	msgs := make([]*session.Message, n)
	for i := range msgs {
		msgs[i] = &session.Message{ID: uint64(i + 1), Topic: fmt.Sprintf("bench/%d", i), Payload: make([]byte, 64), QoS: packet.QoS1}
	}
	return msgs
}

// retainedTopics100k returns 100,000 topic names "site/S/dev/D/temp" with
// 100 sites of 1,000 devices.
func retainedTopics100k() []string {
	names := make([]string, 0, 100_000)
	for s := range 100 {
		for d := range 1000 {
			names = append(names, fmt.Sprintf("site/%d/dev/%d/temp", s, d))
		}
	}
	return names
}

func fillRetained(b *testing.B, st store.Store, names []string) []*session.Message {
	msgs := make([]*session.Message, len(names))
	for i, n := range names {
		msgs[i] = &session.Message{ID: uint64(i + 1), Topic: n, Payload: []byte("21.5"), QoS: packet.QoS1, Retain: true}
		must(b, st.SetRetained(bg, msgs[i]))
	}
	return msgs
}

// benchSetRetained: replacing retained messages among 100,000 topics.
func benchSetRetained(b *testing.B, open func(b *testing.B) store.Store) {
	st := openBench(b, open)
	msgs := fillRetained(b, st, retainedTopics100k())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		must(b, st.SetRetained(bg, msgs[(i*7919)%len(msgs)]))
		i++
	}
}

// benchMatchRetained: one subscription's retained messages among 100,000
// topics; reports the matches per op.
func benchMatchRetained(b *testing.B, open func(b *testing.B) store.Store, filter string) {
	st := openBench(b, open)
	fillRetained(b, st, retainedTopics100k())
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n = 0
		must(b, st.MatchRetained(bg, filter, func(*session.Message) bool { n++; return true }))
	}
	b.ReportMetric(float64(n), "matches/op")
}
