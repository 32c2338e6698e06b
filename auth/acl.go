package auth

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"

	"github.com/tern-mq/tern/topic"
)

// access is a set of Mosquitto ACL rights; 0 is "deny".
type access uint8

const (
	accessRead  access = 1
	accessWrite access = 2
	accessDeny  access = 0
)

type aclEntry struct {
	access  access
	filter  string
	pattern bool // contains %u or %c (pattern lines only)
	hasU    bool
	hasC    bool
}

// aclList holds the entries of one list with the denials first, as
// Mosquitto 2 orders them.
type aclList struct {
	deny, grant []aclEntry
}

func (l *aclList) add(e aclEntry) {
	if e.access == accessDeny {
		l.deny = append(l.deny, e)
	} else {
		l.grant = append(l.grant, e)
	}
}

type aclRules struct {
	anonymous aclList // topic lines before any user line
	users     map[string]*aclList
	patterns  aclList
}

// ACL is an Authorizer reading Mosquitto's acl_file format. See the package
// documentation for the rules. Safe for concurrent use; Reload swaps the
// rules atomically.
type ACL struct {
	path  string
	rules atomic.Pointer[aclRules]
	gen   atomic.Uint64
}

// Generation implements Versioned: it changes with every successful
// Reload.
func (a *ACL) Generation() uint64 { return a.gen.Load() }

// LoadACLFile reads the ACL file at path. A line that is not a comment,
// blank, "user NAME", "topic [ACCESS] FILTER" or "pattern [ACCESS] FILTER"
// stops the load with an error naming the file, the line and what was
// expected.
func LoadACLFile(path string) (*ACL, error) {
	a := &ACL{path: path}
	if err := a.Reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload reads the file again; on error the rules loaded before stay.
func (a *ACL) Reload() error {
	f, err := os.Open(a.path)
	if err != nil {
		return fmt.Errorf("acl file: %w", err)
	}
	defer f.Close()
	r, err := parseACL(f, a.path)
	if err != nil {
		return err
	}
	a.rules.Store(r)
	a.gen.Add(1)
	return nil
}

// ParseACL reads an ACL file from r; name is used in errors.
func ParseACL(r io.Reader, name string) (*ACL, error) {
	rules, err := parseACL(r, name)
	if err != nil {
		return nil, err
	}
	a := &ACL{path: name}
	a.rules.Store(rules)
	return a, nil
}

func isBlank(r rune) bool { return r == ' ' || r == '\t' }

func parseACL(r io.Reader, name string) (*aclRules, error) {
	rules := &aclRules{users: make(map[string]*aclList)}
	list := &rules.anonymous
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRightFunc(sc.Text(), func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' || r == '\v' || r == '\f' })
		rest := strings.TrimLeftFunc(line, isBlank)
		if rest == "" || rest[0] == '#' {
			continue
		}
		keyword, rest := cutBlank(rest)
		switch keyword {
		case "user":
			if rest == "" {
				return nil, fmt.Errorf("%s:%d: want \"user NAME\", found no user name", name, n)
			}
			l := rules.users[rest]
			if l == nil {
				l = &aclList{}
				rules.users[rest] = l
			}
			list = l
		case "topic", "pattern":
			if rest == "" {
				return nil, fmt.Errorf("%s:%d: want \"%s [read|write|readwrite|deny] FILTER\", found no topic filter", name, n, keyword)
			}
			word, filter := cutBlank(rest)
			acc := accessRead | accessWrite
			if filter == "" {
				filter = word // "topic FILTER": read and write
			} else {
				switch word {
				case "read":
					acc = accessRead
				case "write":
					acc = accessWrite
				case "readwrite":
					acc = accessRead | accessWrite
				case "deny":
					acc = accessDeny
				default:
					return nil, fmt.Errorf("%s:%d: access %q: want read, write, readwrite or deny", name, n, word)
				}
			}
			if err := topic.ValidFilter(filter); err != nil {
				return nil, fmt.Errorf("%s:%d: %s %q: %w", name, n, keyword, filter, err)
			}
			e := aclEntry{access: acc, filter: filter}
			if keyword == "pattern" {
				e.hasU = strings.Contains(filter, "%u")
				e.hasC = strings.Contains(filter, "%c")
				e.pattern = e.hasU || e.hasC
				rules.patterns.add(e)
			} else {
				list.add(e)
			}
		default:
			return nil, fmt.Errorf("%s:%d: line starts with %q: want topic, pattern, user or a '#' comment", name, n, keyword)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, n+1, err)
	}
	return rules, nil
}

// cutBlank splits s at its first run of blanks; rest has no leading blanks.
func cutBlank(s string) (word, rest string) {
	i := strings.IndexFunc(s, isBlank)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeftFunc(s[i:], isBlank)
}

// Allow applies the rules: the client's own list (its user section, or the
// lines before any user section for a client without a user name), then
// the patterns; in each, a matching deny refuses, a matching grant of the
// right kind allows; when nothing matches the action is refused.
func (a *ACL) Allow(_ context.Context, c ClientInfo, action Action, t string) bool {
	rules := a.rules.Load()
	var want access
	switch action {
	case Publish:
		want = accessWrite
	case Subscribe, Receive:
		want = accessRead
	default:
		return false
	}
	if action == Subscribe {
		if _, inner, ok, err := topic.ParseShared(t); err != nil {
			return false
		} else if ok {
			t = inner
		}
	}
	list := &rules.anonymous
	if c.Username != "" {
		list = rules.users[c.Username]
	}
	if list != nil {
		if d, ok := list.decide(action, want, t, nil); ok {
			return d
		}
	}
	if d, ok := rules.patterns.decide(action, want, t, &c); ok {
		return d
	}
	return false
}

// decide returns the decision of the list and whether it made one. c is
// the client for pattern substitution, nil for topic lists.
func (l *aclList) decide(action Action, want access, t string, c *ClientInfo) (allow, decided bool) {
	for i := range l.deny {
		if l.deny[i].applies(action, t, c) {
			return false, true
		}
	}
	for i := range l.grant {
		if e := &l.grant[i]; e.access&want != 0 && e.applies(action, t, c) {
			return true, true
		}
	}
	return false, false
}

// applies reports whether the entry matches: for Publish and Receive the
// topic name; for Subscribe, a grant must cover the requested filter (every
// name it can match) and a deny need only intersect it (some name both
// match).
func (e *aclEntry) applies(action Action, t string, c *ClientInfo) bool {
	if action != Subscribe {
		if !e.pattern {
			return topic.Match(e.filter, t)
		}
		return c != nil && e.usable(c) && matchPattern(e.filter, t, c)
	}
	f, ok := e.expand(c)
	if !ok {
		return false
	}
	if e.access == accessDeny {
		return intersects(f, t)
	}
	return covers(f, t)
}

// usable reports whether the values the pattern substitutes are safe.
func (e *aclEntry) usable(c *ClientInfo) bool {
	return (!e.hasU || safeValue(c.Username)) && (!e.hasC || safeValue(c.ClientID))
}

// matchPattern is topic.Match(filter with %u and %c substituted, name)
// without building the substituted filter, so a publish allocates nothing.
// It relies on the values holding no '/', '+' or '#' (usable): then the
// substituted filter has the levels and wildcards of the pattern.
func matchPattern(pattern, name string, c *ClientInfo) bool {
	if len(name) > 0 && name[0] == '$' && len(pattern) > 0 && (pattern[0] == '+' || pattern[0] == '#') {
		return false // [MQTT-4.7.2-1] [MQTT5-4.7.2-1]
	}
	for {
		pl, prest, pmore := strings.Cut(pattern, "/")
		if pl == "#" {
			return true
		}
		nl, nrest, nmore := strings.Cut(name, "/")
		if pl != "+" && !levelEqual(pl, nl, c) {
			return false
		}
		switch {
		case !pmore && !nmore:
			return true
		case !nmore:
			return prest == "#" // "a/#" matches "a"
		case !pmore:
			return false
		}
		pattern, name = prest, nrest
	}
}

// levelEqual reports whether the pattern level, substituted as expand does,
// equals the name level.
func levelEqual(pat, level string, c *ClientInfo) bool {
	for len(pat) > 0 {
		if pat[0] == '%' && len(pat) > 1 {
			switch pat[1] {
			case 'u', 'c':
				v := c.Username
				if pat[1] == 'c' {
					v = c.ClientID
				}
				if !strings.HasPrefix(level, v) {
					return false
				}
				level, pat = level[len(v):], pat[2:]
			default: // "%x" stays as it is
				if !strings.HasPrefix(level, pat[:2]) {
					return false
				}
				level, pat = level[2:], pat[2:]
			}
			continue
		}
		if len(level) == 0 || level[0] != pat[0] {
			return false
		}
		level, pat = level[1:], pat[1:]
	}
	return len(level) == 0
}

// expand substitutes the client's user name for %u and client identifier for
// %c in a pattern entry. It reports false when the entry cannot apply: the
// value is empty, or contains '+', '#' or '/', which would let a client widen
// or move the pattern by its choice of name.
func (e *aclEntry) expand(c *ClientInfo) (string, bool) {
	if !e.pattern || c == nil {
		return e.filter, true
	}
	if !e.usable(c) {
		return "", false
	}
	var b strings.Builder
	f := e.filter
	for {
		i := strings.IndexByte(f, '%')
		if i < 0 || i == len(f)-1 {
			b.WriteString(f)
			break
		}
		b.WriteString(f[:i])
		switch f[i+1] {
		case 'u':
			b.WriteString(c.Username)
		case 'c':
			b.WriteString(c.ClientID)
		default:
			b.WriteString(f[i : i+2])
		}
		f = f[i+2:]
	}
	return b.String(), true
}

func safeValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '+' || c == '#' || c == '/' {
			return false
		}
	}
	return v != ""
}
