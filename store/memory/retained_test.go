package memory

import (
	"slices"
	"strings"
	"testing"

	"github.com/tern-mq/tern/topic"
	"pgregory.net/rapid"
)

var (
	// few levels, so that filters match often
	smallLevels = []string{"a", "b", "$s", "", "c"}
	// more siblings than indexAbove, so that nodes switch to a map
	manyLevels = []string{"a", "b", "$s", "", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}
)

func genName(levels []string) *rapid.Generator[string] {
	level := rapid.SampledFrom(levels)
	return rapid.Custom(func(t *rapid.T) string {
		return strings.Join(rapid.SliceOfN(level, 1, 3).Draw(t, "levels"), "/")
	})
}

func genFilter(levels []string) *rapid.Generator[string] {
	level := rapid.SampledFrom(append([]string{"+"}, levels...))
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
	t.Run("FewSiblings", func(t *testing.T) { testTreeModel(t, smallLevels, 60) })
	t.Run("ManySiblings", func(t *testing.T) { testTreeModel(t, manyLevels, 200) })
}

func testTreeModel(t *testing.T, levels []string, maxOps int) {
	rapid.Check(t, func(t *rapid.T) {
		var tr tree[string]
		model := map[string]*string{}
		for i := range rapid.IntRange(1, maxOps).Draw(t, "ops") {
			name := genName(levels).Draw(t, "name")
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
			if got := tr.get(name); got != model[name] {
				t.Fatalf("get %q = %v, want %v", name, got, model[name])
			}
		}
		for range 10 {
			filter := genFilter(levels).Draw(t, "filter")
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
		if len(tr.root.kids) != 0 || tr.root.index != nil {
			t.Fatalf("nodes left after removing every message: %d", len(tr.root.kids))
		}
	})
}

// TestTreeRemoveIf: removeIf removes only the message it is given.
func TestTreeRemoveIf(t *testing.T) {
	var tr tree[string]
	a, b := "a", "b"
	tr.set("x/y", &a)
	if tr.removeIf("x/y", &b) || tr.get("x/y") != &a {
		t.Fatal("removeIf removed a message it was not given")
	}
	if tr.removeIf("x/z", &a) || tr.removeIf("x", &a) {
		t.Fatal("removeIf reported removing an absent topic")
	}
	if !tr.removeIf("x/y", &a) || tr.get("x/y") != nil || tr.len() != 0 || len(tr.root.kids) != 0 {
		t.Fatalf("removeIf did not remove and prune: len %d, %d nodes", tr.len(), len(tr.root.kids))
	}
}
