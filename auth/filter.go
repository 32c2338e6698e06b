package auth

import "strings"

// nextLevel returns the first level of s and the rest after its '/', with
// more false when s had a single level.
func nextLevel(s string) (level, rest string, more bool) {
	level, rest, more = strings.Cut(s, "/")
	return
}

// covers reports whether every topic name matched by the filter sub is also
// matched by the filter acl (under topic.Match, '$' rule included). Both are
// valid filters.
func covers(acl, sub string) bool {
	first := true
	for {
		a, arest, amore := nextLevel(acl)
		s, srest, smore := nextLevel(sub)
		if first && (a == "+" || a == "#") && strings.HasPrefix(s, "$") {
			return false // a wildcard never matches a level starting with '$' first
		}
		wasFirst := first
		first = false
		switch {
		case a == "#":
			return true
		case s == "#" && wasFirst && a == "+" && arest == "#" && amore:
			return true // "+/#" matches every name "#" matches: a name has a first level
		case s == "#":
			return false // sub spans levels that no single acl level covers
		case a == "+":
			// one level, whatever sub's (a literal or '+')
		case s == "+" || a != s:
			return false
		}
		switch {
		case !amore && !smore:
			return true
		case !smore:
			return arest == "#" // "a/#" matches "a"
		case !amore:
			return false
		}
		acl, sub = arest, srest
	}
}

// intersects reports whether some topic name is matched by both filters
// (under topic.Match, '$' rule included). Both are valid filters.
func intersects(f, g string) bool {
	first := true
	for {
		a, arest, amore := nextLevel(f)
		b, brest, bmore := nextLevel(g)
		if first {
			wa, wb := a == "+" || a == "#", b == "+" || b == "#"
			if wa && strings.HasPrefix(b, "$") || wb && strings.HasPrefix(a, "$") {
				return false
			}
			first = false
		}
		switch {
		case a == "#" || b == "#":
			return true
		case a == "+" || b == "+" || a == b:
		default:
			return false
		}
		switch {
		case !amore && !bmore:
			return true
		case !amore:
			return brest == "#"
		case !bmore:
			return arest == "#"
		}
		f, g = arest, brest
	}
}
