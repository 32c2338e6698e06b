package topic

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

type entry struct {
	filter string
	k      int
}

// collect returns the (filter, subscriber) pairs reported by tr.Match(name) with their values,
// failing if a pair is reported twice.
func collect(t interface{ Fatalf(string, ...any) }, tr *Trie[int, int], name string) map[entry]int {
	got := map[entry]int{}
	tr.Match(name, func(filter string, k, v int) {
		e := entry{filter, k}
		if _, dup := got[e]; dup {
			t.Fatalf("Match(%q) reported %v twice", name, e)
		}
		got[e] = v
	})
	return got
}

func TestTrieSpecExamples(t *testing.T) {
	tr := NewTrie[int, int]()
	filters := map[string]bool{}
	for _, c := range matchCases {
		filters[c.filter] = true
	}
	for _, f := range slices.Sorted(maps.Keys(filters)) {
		if tr.Subscribe(f, 1, len(f)) {
			t.Fatalf("Subscribe(%q) reported a replacement on first subscription", f)
		}
	}
	if tr.Len() != len(filters) {
		t.Fatalf("Len = %d, want %d", tr.Len(), len(filters))
	}
	for _, c := range matchCases {
		got := collect(t, tr, c.name)
		v, ok := got[entry{c.filter, 1}]
		if ok != c.want {
			t.Errorf("%s Trie.Match(%q) reports filter %q: %v, want %v", c.tag, c.name, c.filter, ok, c.want)
		}
		if ok && v != len(c.filter) {
			t.Errorf("Trie.Match(%q) gave value %d for %q, want %d", c.name, v, c.filter, len(c.filter))
		}
		for e := range got {
			if !Match(e.filter, c.name) {
				t.Errorf("Trie.Match(%q) reported non-matching filter %q", c.name, e.filter)
			}
		}
	}
}

func TestTrieOverlappingFilters(t *testing.T) {
	tr := NewTrie[string, byte]()
	tr.Subscribe("a/+", "c1", 1)
	tr.Subscribe("a/#", "c1", 2)
	tr.Subscribe("a/b", "c1", 0)
	tr.Subscribe("a/b", "c2", 1)
	if !tr.Subscribe("a/b", "c2", 2) { // [MQTT-3.8.4-3] [MQTT5-3.8.4-3]
		t.Fatal("second Subscribe of the same (filter, subscriber) did not report a replacement")
	}
	got := map[string]byte{}
	tr.Match("a/b", func(f string, k string, v byte) { got[f+" "+k] = v })
	want := map[string]byte{"a/+ c1": 1, "a/# c1": 2, "a/b c1": 0, "a/b c2": 2}
	if !maps.Equal(got, want) {
		t.Fatalf("Match(a/b) = %v, want %v", got, want)
	}
	if tr.Len() != 4 {
		t.Fatalf("Len = %d, want 4", tr.Len())
	}
}

func TestTriePrunes(t *testing.T) {
	tr := NewTrie[int, struct{}]()
	filters := []string{"a/b/c", "a/b/#", "a/+/c", "#", "+", "/", "a//", "$SYS/x"}
	for i, f := range filters {
		tr.Subscribe(f, i, struct{}{})
	}
	if tr.Unsubscribe("a/b/c", 99) || tr.Unsubscribe("a/b/c/d", 0) || tr.Unsubscribe("x", 0) {
		t.Fatal("Unsubscribe of an absent entry reported removal")
	}
	for i, f := range filters {
		if !tr.Unsubscribe(f, i) {
			t.Fatalf("Unsubscribe(%q) found nothing", f)
		}
		if tr.Unsubscribe(f, i) {
			t.Fatalf("second Unsubscribe(%q) reported removal", f)
		}
	}
	if tr.Len() != 0 {
		t.Fatalf("Len = %d after removing everything", tr.Len())
	}
	r := &tr.root
	if !r.empty() {
		t.Fatalf("root not pruned: %d children, %d entries", r.nchild, r.entries.n)
	}
}

func TestTrieMatchAllocs(t *testing.T) {
	tr := NewTrie[int, int]()
	for i := range 1000 {
		tr.Subscribe(fmt.Sprintf("devices/%d/status", i), i, i)
	}
	tr.Subscribe("devices/+/status", -1, 0)
	tr.Subscribe("devices/#", -2, 0)
	tr.Subscribe("#", -3, 0)
	n := 0
	fn := func(string, int, int) { n++ }
	allocs := testing.AllocsPerRun(1000, func() { tr.Match("devices/500/status", fn) })
	if allocs != 0 {
		t.Fatalf("Trie.Match allocates %v times per call", allocs)
	}
	if n != 4*1001 { // AllocsPerRun runs once more to warm up
		t.Fatalf("fn called %d times, want %d", n, 4*1001)
	}
}

// trieModel is the state-machine test's model: the set of entries.
type trieModel map[entry]int

func TestTrieStateMachine(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tr := NewTrie[int, int]()
		model := trieModel{}
		genK := rapid.IntRange(0, smallMap+2) // more subscribers per filter than a small set holds
		t.Repeat(map[string]func(*rapid.T){
			"subscribe": func(t *rapid.T) {
				f, k, v := genFilter.Draw(t, "filter"), genK.Draw(t, "k"), rapid.Int().Draw(t, "v")
				_, had := model[entry{f, k}]
				if got := tr.Subscribe(f, k, v); got != had {
					t.Fatalf("Subscribe(%q, %d) replaced=%v, model says %v", f, k, got, had)
				}
				model[entry{f, k}] = v
			},
			"unsubscribe": func(t *rapid.T) {
				var f string
				var k int
				if len(model) > 0 && rapid.Bool().Draw(t, "existing") {
					e := rapid.SampledFrom(slices.SortedFunc(maps.Keys(model), cmpEntry)).Draw(t, "entry")
					f, k = e.filter, e.k
				} else {
					f, k = genFilter.Draw(t, "filter"), genK.Draw(t, "k")
				}
				_, had := model[entry{f, k}]
				if got := tr.Unsubscribe(f, k); got != had {
					t.Fatalf("Unsubscribe(%q, %d) removed=%v, model says %v", f, k, got, had)
				}
				delete(model, entry{f, k})
			},
			"match": func(t *rapid.T) {
				name := genName.Draw(t, "name")
				got := collect(t, tr, name)
				want := map[entry]int{}
				for e, v := range model {
					if refMatch(e.filter, name) {
						want[e] = v
					}
				}
				if !maps.Equal(got, want) {
					t.Fatalf("Match(%q) = %v, model says %v", name, got, want)
				}
			},
			"": func(t *rapid.T) {
				if tr.Len() != len(model) {
					t.Fatalf("Len = %d, model has %d", tr.Len(), len(model))
				}
				if len(model) == 0 && !tr.root.empty() {
					t.Fatal("empty trie left nodes behind")
				}
			},
		})
	})
}

func cmpEntry(a, b entry) int {
	if a.filter != b.filter {
		if a.filter < b.filter {
			return -1
		}
		return 1
	}
	return a.k - b.k
}

// TestTrieConcurrent subscribes and unsubscribes from several goroutines while others match,
// then checks that every entry that should remain is present and nothing else is.
func TestTrieConcurrent(t *testing.T) {
	const (
		writers = 8 // with 2 stable entries, up to 10 per filter: both sides of smallMap
		rounds  = 200
	)
	tr := NewTrie[int, int]()
	filters := []string{"a/b/c", "a/+/c", "a/#", "#", "+/b/+", "a/b", "a", "$SYS/#", "a/b/c/d", "/", "+"}
	names := []string{"a/b/c", "a/b", "a", "$SYS/x", "a/b/c/d", "/", "x"}
	// Entries that stay for the whole test: a Match must always see them.
	const stable = 1000 // keys stable and stable+1
	for _, f := range filters {
		tr.Subscribe(f, stable, 0)
		tr.Subscribe(f, stable+1, 0)
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := range 4 {
		readers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := names[(i+r)%len(names)]
				want := 0
				for _, f := range filters {
					if Match(f, name) {
						want += 2
					}
				}
				seen := 0
				tr.Match(name, func(f string, k, _ int) {
					if !Match(f, name) {
						t.Errorf("Match(%q) reported non-matching %q", name, f)
					}
					if k >= stable {
						seen++
					}
				})
				if seen != want {
					t.Errorf("Match(%q) saw %d stable entries, want %d", name, seen, want)
					return
				}
				if n := tr.Len(); n < 2*len(filters) {
					t.Errorf("Len = %d while %d stable entries exist", n, 2*len(filters))
					return
				}
			}
		})
	}
	var writersWG sync.WaitGroup
	for w := range writers {
		writersWG.Go(func() {
			for i := range rounds {
				for j, f := range filters {
					k := w*100 + j%3
					tr.Subscribe(f, k, i)
					if i%2 == 0 || j%2 == 0 {
						if !tr.Unsubscribe(f, k) {
							t.Errorf("writer %d lost its entry (%q, %d)", w, f, k)
						}
					}
				}
			}
		})
	}
	writersWG.Wait()
	close(stop)
	readers.Wait()
	// Writers' last round (odd) leaves the odd-indexed filters subscribed.
	want := map[entry]int{}
	for _, f := range filters {
		want[entry{f, stable}] = 0
		want[entry{f, stable + 1}] = 0
	}
	for w := range writers {
		for j, f := range filters {
			if j%2 == 1 {
				want[entry{f, w*100 + j%3}] = rounds - 1
			}
		}
	}
	got := map[entry]int{}
	for _, n := range names {
		maps.Copy(got, collect(t, tr, n))
	}
	// Every filter matches at least one of names, so the union covers all entries.
	if !maps.Equal(got, want) {
		t.Fatalf("after concurrent updates: %v\nwant %v", got, want)
	}
	if tr.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", tr.Len(), len(want))
	}
}

// TestTrieMatchReentrant changes the trie from fn, as a broker removing a session would.
func TestTrieMatchReentrant(t *testing.T) {
	tr := NewTrie[int, int]()
	for k := range 20 { // more than smallMap subscribers of one filter, and a few of another
		tr.Subscribe("a/b", k, 0)
		if k < 3 {
			tr.Subscribe("a/+", k, 0)
		}
	}
	seen := map[entry]bool{}
	tr.Match("a/b", func(f string, k, _ int) {
		seen[entry{f, k}] = true
		if !tr.Unsubscribe(f, k) {
			t.Errorf("Unsubscribe(%q, %d) from fn found nothing", f, k)
		}
		tr.Subscribe("x/"+f, k, 1)
	})
	if len(seen) != 23 {
		t.Fatalf("Match reported %d entries, want 23", len(seen))
	}
	if got := collect(t, tr, "a/b"); len(got) != 0 {
		t.Fatalf("entries left after unsubscribing them all: %v", got)
	}
	if got := collect(t, tr, "x/a/b"); len(got) != 23 { // 20 of "x/a/b" and 3 of "x/a/+"
		t.Fatalf("x/a/b has %d entries, want 23", len(got))
	}
	if tr.Len() != 23 {
		t.Fatalf("Len = %d, want 23", tr.Len())
	}
}

// TestTriePruneRace makes goroutines share filters along one path so that nodes are unlinked
// and created again while others subscribe below them: a Subscribe must never land in an
// unlinked node, and each goroutine must always find its own entry.
func TestTriePruneRace(t *testing.T) {
	tr := NewTrie[int, struct{}]()
	filters := []string{"q", "q/r", "q/r/s", "q/+/s", "q/#", "q/r/s/t"}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				f := filters[(g+i)%len(filters)]
				if tr.Subscribe(f, g, struct{}{}) {
					t.Errorf("goroutine %d: stale entry for %q", g, f)
					return
				}
				found := false
				tr.Match(strings.ReplaceAll(strings.TrimSuffix(f, "/#"), "+", "r"), func(mf string, k int, _ struct{}) { found = found || (mf == f && k == g) })
				if !found {
					t.Errorf("goroutine %d: Match(%q) after Subscribe missed the entry", g, f)
					return
				}
				if !tr.Unsubscribe(f, g) {
					t.Errorf("goroutine %d: lost entry for %q", g, f)
					return
				}
			}
		})
	}
	wg.Wait()
	if tr.Len() != 0 || !tr.root.empty() {
		t.Fatalf("after the race: Len %d, root has %d children", tr.Len(), tr.root.nchild)
	}
}

// TestTrieUnsubscribeExact checks that filters are compared literally, wildcards included.
func TestTrieUnsubscribeExact(t *testing.T) {
	tr := NewTrie[int, int]()
	for _, f := range []string{"a/+", "a/b", "a/#", "a", "+/b"} {
		tr.Subscribe(f, 1, 0)
	}
	for _, f := range []string{"a/c", "a/b/#", "a/", "+/+", "#", "+", "A/b"} {
		if tr.Unsubscribe(f, 1) { // [MQTT-3.10.4-1] [MQTT5-3.10.4-1]
			t.Errorf("Unsubscribe(%q) removed an entry of another filter", f)
		}
	}
	if !tr.Unsubscribe("a/+", 1) || tr.Len() != 4 {
		t.Fatalf("Unsubscribe(a/+) failed; Len = %d", tr.Len())
	}
	got := collect(t, tr, "a/b") // [MQTT-3.10.4-2] [MQTT5-3.10.4-2]
	want := map[entry]int{{"a/b", 1}: 0, {"a/#", 1}: 0, {"+/b", 1}: 0}
	if !maps.Equal(got, want) {
		t.Fatalf("Match(a/b) after Unsubscribe(a/+) = %v, want %v", got, want)
	}
}

// TestTrieConcurrentWideLevel churns siblings of a stable filter so that their parent's child
// set moves between its small and large forms while readers look the stable filter up.
func TestTrieConcurrentWideLevel(t *testing.T) {
	const churn = 3 * smallMap
	tr := NewTrie[int, int]()
	tr.Subscribe("w/s", -1, 0)
	var readers, writers sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := 0
				tr.Match("w/s", func(string, int, int) { n++ })
				if n != 1 {
					t.Errorf("Match(w/s) saw %d entries, want 1", n)
					return
				}
			}
		})
	}
	for w := range 2 {
		writers.Go(func() {
			for i := range 3000 {
				f := fmt.Sprintf("w/c%d", (i*7+w)%churn)
				tr.Subscribe(f, w, i)
				if i%5 < 3 { // unsubscribe most, keep some for a while, so the level grows and shrinks
					tr.Unsubscribe(f, w)
				}
				if i%200 == 199 {
					for c := range churn {
						tr.Unsubscribe(fmt.Sprintf("w/c%d", c), w)
					}
				}
			}
		})
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	for w := range 2 {
		for c := range churn {
			tr.Unsubscribe(fmt.Sprintf("w/c%d", c), w)
		}
	}
	if tr.Len() != 1 || tr.root.nchild != 1 {
		t.Fatalf("Len = %d, root children %d; want only w/s left", tr.Len(), tr.root.nchild)
	}
	if w := tr.root.exact("w"); w == nil || w.nchild != 1 || w.children.set.Load().big != nil {
		t.Fatalf("level w not shrunk back to one child")
	}
}
