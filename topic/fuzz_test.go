package topic

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// refValid checks the rules common to names and filters with the standard library only.
func refValid(s string) bool {
	return s != "" && len(s) <= MaxLen && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

func refValidFilter(s string) bool {
	if !refValid(s) {
		return false
	}
	levels := strings.Split(s, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return false
		}
		if strings.Contains(l, "+") && l != "+" {
			return false
		}
	}
	return true
}

func addSeeds(f *testing.F) {
	for _, c := range matchCases {
		f.Add(c.filter, c.name)
	}
	f.Add("a/\x00", "a/\xff")
	f.Add("$share/g/#", "$share/g/a")
	f.Add("sport/tennis#", "sport+")
	f.Add("#/", "//")
}

func FuzzValidName(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, _, name string) {
		err := ValidName(name)
		want := refValid(name) && !strings.ContainsAny(name, "+#")
		if (err == nil) != want {
			t.Fatalf("ValidName(%q) = %v, want valid=%v", name, err, want)
		}
	})
}

func FuzzValidFilter(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, filter, _ string) {
		err := ValidFilter(filter)
		if want := refValidFilter(filter); (err == nil) != want {
			t.Fatalf("ValidFilter(%q) = %v, want valid=%v", filter, err, want)
		}
		group, inner, ok, err := ParseShared(filter)
		if ok != strings.HasPrefix(filter, "$share/") {
			t.Fatalf("ParseShared(%q) ok=%v", filter, ok)
		}
		if ok && err == nil {
			if filter != "$share/"+group+"/"+inner || group == "" || strings.ContainsAny(group, "/+#") || ValidFilter(inner) != nil {
				t.Fatalf("ParseShared(%q) accepted group %q inner %q", filter, group, inner)
			}
		}
	})
}

// FuzzMatch checks Match and a one-entry Trie against the reference matcher whenever filter and
// name are valid, and that neither panics otherwise.
func FuzzMatch(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, filter, name string) {
		got := Match(filter, name)
		tr := NewTrie[int, int]()
		tr.Subscribe(filter, 1, 2)
		inTrie := false
		tr.Match(name, func(f string, k, v int) {
			if f != filter || k != 1 || v != 2 || inTrie {
				t.Fatalf("Trie.Match(%q) reported (%q, %d, %d) for filter %q", name, f, k, v, filter)
			}
			inTrie = true
		})
		if !tr.Unsubscribe(filter, 1) || tr.Len() != 0 || !tr.root.empty() {
			t.Fatalf("Unsubscribe(%q) did not empty the trie", filter)
		}
		if ValidFilter(filter) != nil || ValidName(name) != nil {
			return
		}
		if want := refMatch(filter, name); got != want || inTrie != want {
			t.Fatalf("Match(%q, %q) = %v, Trie.Match = %v, reference says %v", filter, name, got, inTrie, want)
		}
	})
}
