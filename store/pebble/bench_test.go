package pebble_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/memory"
	"github.com/tern-mq/tern/store/pebble"
)

// BenchmarkApply measures the QoS 1 change sequence of one message as the
// broker persists it: one Apply with the publisher's accepted inbound
// message and the subscriber's flight (before PUBACK to the publisher and
// PUBLISH to the subscriber), one Apply with the subscriber's
// acknowledgement. An op is one such message; callers run concurrently, each
// with its own publisher and subscriber.
func BenchmarkApply(b *testing.B) {
	for _, callers := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("memory/callers=%d", callers), func(b *testing.B) {
			st := memory.New()
			defer st.Close()
			benchApply(b, st, callers)
		})
		for _, d := range []pebble.Durability{pebble.Sync, pebble.Interval} {
			b.Run(fmt.Sprintf("%v/callers=%d", d, callers), func(b *testing.B) {
				st := open(b, b.TempDir(), d)
				defer st.Close()
				w0 := st.WriteStats()
				benchApply(b, st, callers)
				w := st.WriteStats()
				syncs, commits := w.Syncs-w0.Syncs, w.Commits-w0.Commits
				if syncs > 0 {
					b.ReportMetric(float64(syncs)/b.Elapsed().Seconds(), "fsyncs/s")
					b.ReportMetric(float64(commits)/float64(syncs), "applies/fsync")
				}
			})
		}
	}
}

func benchApply(b *testing.B, st store.Store, callers int) {
	payload := make([]byte, 64)
	var wg sync.WaitGroup
	per := b.N/callers + 1
	b.ResetTimer()
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pub, sub := fmt.Sprintf("pub%d", c), fmt.Sprintf("sub%d", c)
			changes := make([]session.Change, 1)
			in := make([]session.Change, 1)
			for i := range per {
				m := &session.Message{ID: uint64(c)<<32 | uint64(i+1), Topic: "bench/t", Payload: payload, QoS: packet.QoS1}
				d := session.Delivery{Msg: m, QoS: packet.QoS1}
				pid := uint16(i%65535 + 1)
				in[0] = session.Change{Kind: session.ChangeInbound, PacketID: pid, Delivery: d}
				changes[0] = session.Change{Kind: session.ChangeInflight, Seq: uint64(i + 1), PacketID: pid, Delivery: d}
				if err := st.Apply(bg, store.Update{ClientID: pub, Changes: in}, store.Update{ClientID: sub, Changes: changes}); err != nil {
					b.Error(err)
					return
				}
				changes[0] = session.Change{Kind: session.ChangeAcked, PacketID: pid}
				if err := st.Apply(bg, store.Update{ClientID: sub, Changes: changes}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(per*callers)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkOpen measures recovery: opening a store holding 100 sessions
// with 1,000 queued messages each (100,000 deliveries of 100,000 bodies of
// 100 bytes), written in Interval mode.
func BenchmarkOpen(b *testing.B) {
	const sessions, perSession = 100, 1000
	dir := b.TempDir()
	st := open(b, dir, pebble.Interval)
	payload := make([]byte, 100)
	for c := range sessions {
		id := fmt.Sprintf("s%d", c)
		if err := st.SaveSession(bg, store.SessionRecord{ClientID: id, Version: packet.V5, ExpiryInterval: store.NeverExpire}); err != nil {
			b.Fatal(err)
		}
		changes := make([]session.Change, perSession)
		for i := range changes {
			m := &session.Message{ID: uint64(c*perSession + i + 1), Topic: "bench/open", Payload: payload, QoS: packet.QoS1}
			changes[i] = session.Change{Kind: session.ChangeQueued, Seq: uint64(i + 1), Delivery: session.Delivery{Msg: m, QoS: packet.QoS1}}
		}
		if err := st.Apply(bg, store.Update{ClientID: id, Changes: changes}); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		st := open(b, dir, pebble.Sync)
		b.StopTimer()
		stats, err := st.Stats(bg)
		if err != nil || stats.Messages != sessions*perSession {
			b.Fatalf("after Open: %+v, %v", stats, err)
		}
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(sessions*perSession)*float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
