package topic

import (
	"fmt"
	"testing"
)

var benchMatch = []struct{ filter, name string }{
	{"sport/tennis/player1", "sport/tennis/player1"},
	{"sport/tennis/+", "sport/tennis/player1"},
	{"sport/#", "sport/tennis/player1/ranking"},
	{"+/+/status", "devices/12345/status"},
	{"devices/12345/status", "devices/12346/status"},
	{"#", "$SYS/broker/uptime"},
}

func BenchmarkMatch(b *testing.B) {
	for _, c := range benchMatch {
		b.Run(c.filter, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Match(c.filter, c.name)
			}
		})
	}
}

func BenchmarkValidName(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = ValidName("devices/12345/status/temperature")
	}
}

// benchTrie holds n subscriptions "devices/{i}/status", one subscriber each, plus a few wildcard
// subscriptions that match every device status.
func benchTrie(n int) *Trie[int, byte] {
	tr := NewTrie[int, byte]()
	for i := range n {
		tr.Subscribe(fmt.Sprintf("devices/%d/status", i), i, 1)
	}
	tr.Subscribe("devices/+/status", -1, 1)
	tr.Subscribe("devices/#", -2, 1)
	tr.Subscribe("#", -3, 1)
	tr.Subscribe("+/+/alarm", -4, 1)
	return tr
}

// BenchmarkTrieMatch publishes to one device: one exact match and three wildcard matches.
func BenchmarkTrieMatch(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		tr := benchTrie(n)
		name := fmt.Sprintf("devices/%d/status", n/2)
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			hits := 0
			fn := func(string, int, byte) { hits++ }
			for b.Loop() {
				tr.Match(name, fn)
			}
			if hits != 4*b.N {
				b.Fatalf("%d matches for %d publishes, want 4 each", hits, b.N)
			}
		})
		b.Run(fmt.Sprintf("subs=%d/parallel", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				hits, calls := 0, 0
				fn := func(string, int, byte) { hits++ }
				for ; pb.Next(); calls++ {
					tr.Match(name, fn)
				}
				if hits != 4*calls {
					b.Errorf("%d matches for %d publishes, want 4 each", hits, calls)
				}
			})
		})
	}
}

// BenchmarkTrieSubscribe measures Subscribe plus Unsubscribe of one device filter in a trie
// of 100k subscriptions (so the trie does not grow over the run).
func BenchmarkTrieSubscribe(b *testing.B) {
	const n = 100_000
	tr := benchTrie(n)
	filters := make([]string, 1024)
	for i := range filters {
		filters[i] = fmt.Sprintf("devices/new-%d/status", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f := filters[i%len(filters)]
		tr.Subscribe(f, i, 1)
		tr.Unsubscribe(f, i)
		i++
	}
}

// BenchmarkTrieSubscribeExisting replaces an existing entry's options: no node is created.
func BenchmarkTrieSubscribeExisting(b *testing.B) {
	tr := benchTrie(100_000)
	b.ReportAllocs()
	for b.Loop() {
		tr.Subscribe("devices/5000/status", 5000, 2)
	}
}

// BenchmarkTrieMatchFanout publishes to a filter shared by 1,000 subscribers (a sync.Map).
func BenchmarkTrieMatchFanout(b *testing.B) {
	tr := NewTrie[int, byte]()
	for i := range 1000 {
		tr.Subscribe("broadcast/all", i, 1)
	}
	b.ReportAllocs()
	hits := 0
	fn := func(string, int, byte) { hits++ }
	for b.Loop() {
		tr.Match("broadcast/all", fn)
	}
	if hits != 1000*b.N {
		b.Fatalf("%d matches for %d publishes, want 1000 each", hits, b.N)
	}
}
