package memory

import (
	"slices"
	"strings"
	"testing"

	"github.com/tern-mq/tern/topic"
	"pgregory.net/rapid"
)

// genName draws topic names over a small alphabet so that filters match often.
func genName() *rapid.Generator[string] {
	level := rapid.SampledFrom([]string{"a", "b", "$s", "", "c"})
	return rapid.Custom(func(t *rapid.T) string {
		return strings.Join(rapid.SliceOfN(level, 1, 4).Draw(t, "levels"), "/")
	})
}

func genFilter() *rapid.Generator[string] {
	level := rapid.SampledFrom([]string{"a", "b", "$s", "", "+"})
	return rapid.Custom(func(t *rapid.T) string {
		ls := rapid.SliceOfN(level, 1, 4).Draw(t, "levels")
		if rapid.Bool().Draw(t, "hash") {
			ls = append(ls, "#")
		}
		return strings.Join(ls, "/")
	})
}

// TestTreeModel checks the tree against a map of names and topic.Match.
func TestTreeModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var tr tree[string]
		model := map[string]*string{}
		for i := range rapid.IntRange(1, 60).Draw(t, "ops") {
			name := genName().Draw(t, "name")
			if rapid.IntRange(0, 3).Draw(t, "op") == 0 {
				old := tr.set(name, nil)
				if old != model[name] {
					t.Fatalf("remove %q returned %v, want %v", name, old, model[name])
				}
				delete(model, name)
			} else {
				v := name + "#" + string(rune('0'+i%10))
				old := tr.set(name, &v)
				if old != model[name] {
					t.Fatalf("set %q returned %v, want %v", name, old, model[name])
				}
				model[name] = &v
			}
			if tr.len() != len(model) {
				t.Fatalf("len %d, want %d", tr.len(), len(model))
			}
		}
		for range 10 {
			filter := genFilter().Draw(t, "filter")
			var want []string
			for name, v := range model {
				if topic.Match(filter, name) {
					want = append(want, *v)
				}
			}
			var got []string
			for _, v := range tr.match(filter, nil) {
				got = append(got, *v)
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("match %q: got %q, want %q", filter, got, want)
			}
		}
		for name := range model {
			tr.set(name, nil)
		}
		if len(tr.root.children) != 0 {
			t.Fatalf("nodes left after removing every message: %d", len(tr.root.children))
		}
	})
}
