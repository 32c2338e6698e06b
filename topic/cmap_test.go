package topic

import (
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// contents reads m as a reader does, checking that no key is seen twice.
func contents(t *rapid.T, m *cmap[int, int]) map[int]int {
	got := map[int]int{}
	s := m.set.Load()
	if s == nil {
		return got
	}
	add := func(k, v int) {
		if _, dup := got[k]; dup {
			t.Fatalf("key %d twice", k)
		}
		got[k] = v
	}
	if s.big == nil {
		if len(s.small) > smallMap {
			t.Fatalf("small set of %d pairs, more than %d", len(s.small), smallMap)
		}
		for _, p := range s.small {
			add(p.k, p.v)
		}
	} else {
		s.big.Range(func(k, v any) bool { add(k.(int), v.(int)); return true })
	}
	return got
}

// TestCmapStateMachine drives a cmap across the small/big boundary both ways against a map.
func TestCmapStateMachine(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var m cmap[int, int]
		model := map[int]int{}
		genK := rapid.IntRange(0, 3*smallMap)
		t.Repeat(map[string]func(*rapid.T){
			"put": func(t *rapid.T) {
				k, v := genK.Draw(t, "k"), rapid.Int().Draw(t, "v")
				_, had := model[k]
				if got := m.put(k, v); got != had {
					t.Fatalf("put(%d) replaced=%v, model says %v", k, got, had)
				}
				model[k] = v
			},
			"del": func(t *rapid.T) {
				k := genK.Draw(t, "k")
				if len(model) > 0 && rapid.Bool().Draw(t, "existing") {
					k = rapid.SampledFrom(slices.Sorted(maps.Keys(model))).Draw(t, "existing key")
				}
				_, had := model[k]
				if got := m.del(k); got != had {
					t.Fatalf("del(%d) removed=%v, model says %v", k, got, had)
				}
				delete(model, k)
			},
			"load": func(t *rapid.T) {
				k := genK.Draw(t, "k")
				want, had := model[k]
				if got, ok := m.load(k); ok != had || got != want {
					t.Fatalf("load(%d) = %d, %v; model says %d, %v", k, got, ok, want, had)
				}
			},
			"": func(t *rapid.T) {
				if got := contents(t, &m); !maps.Equal(got, model) || m.n != len(model) {
					t.Fatalf("contents %v (n=%d), model %v", got, m.n, model)
				}
				if s := m.set.Load(); len(model) == 0 && s != nil {
					t.Fatal("empty map keeps a set")
				} else if s != nil && (len(model) > smallMap && s.big == nil || len(model) <= smallMap/2 && s.big != nil) {
					t.Fatalf("%d pairs held in the wrong representation (big=%v)", len(model), s.big != nil)
				}
			},
		})
	})
}
