package conformance

import (
	"fmt"
	"sort"
)

// Kind says why a statement has no test of its own.
type Kind string

// Kinds of Note.
const (
	// ClientOnly: an obligation of the client that the server cannot
	// observe or enforce, and that the client package does not take on.
	ClientOnly Kind = "client obligation"
	// Permission: the statement allows a choice (MAY) and Tern takes the
	// other branch, so there is nothing to check.
	Permission Kind = "permission not used"
	// Duplicate: the statement restates another one, whose tests cover it.
	Duplicate Kind = "duplicate"
	// NotApplicable: the statement is about a feature Tern does not have.
	NotApplicable Kind = "not applicable"
	// Gap: a known gap, not (fully) implemented or not testable yet.
	Gap Kind = "known gap"
)

// Note explains a statement that has no test.
type Note struct {
	Kind Kind
	Text string
	// Same is, for a Duplicate, the tag of the statement it restates.
	Same string
}

// Check returns the problems of the notes against the specs and sites:
// statements with neither a test nor a note, notes for unknown statements,
// notes for statements that have a test (stale; a Gap may stay), and
// duplicates of a statement that has no test itself.
func Check(notes map[string]Note, sites map[string][]Site, specs ...Spec) []string {
	known := map[string]bool{}
	var bad []string
	for _, s := range specs {
		for _, st := range s.Statements {
			known[st.Tag] = true
			n, explained := notes[st.Tag]
			switch tested := hasTest(sites[st.Tag]); {
			case !tested && !explained:
				bad = append(bad, st.Tag+": neither a test nor a note")
			case tested && explained && n.Kind != Gap:
				bad = append(bad, st.Tag+": has a test, the note is stale")
			}
		}
	}
	for tag, n := range notes {
		if !known[tag] {
			bad = append(bad, tag+": note for a statement the specifications do not have")
		}
		if n.Text == "" {
			bad = append(bad, tag+": note without text")
		}
		if n.Kind == Duplicate && (n.Same == "" || !hasTest(sites[n.Same])) {
			bad = append(bad, fmt.Sprintf("%s: duplicate of %q, which has no test", tag, n.Same))
		}
		if n.Kind != Duplicate && n.Same != "" {
			bad = append(bad, tag+": Same set on a note that is not a duplicate")
		}
	}
	sort.Strings(bad)
	return bad
}

func hasTest(ss []Site) bool {
	for _, x := range ss {
		if x.Test {
			return true
		}
	}
	return false
}
