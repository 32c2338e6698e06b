package auth

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/tern-mq/tern/topic"
)

func mustACL(t *testing.T, text string) *ACL {
	t.Helper()
	a, err := ParseACL(strings.NewReader(text), "test.acl")
	if err != nil {
		t.Fatalf("ParseACL: %v", err)
	}
	return a
}

type aclCase struct {
	user, client string
	action       Action
	topic        string
	want         bool
}

func checkACL(t *testing.T, a *ACL, cases []aclCase) {
	t.Helper()
	for _, c := range cases {
		got := a.Allow(context.Background(), ClientInfo{ClientID: c.client, Username: c.user}, c.action, c.topic)
		if got != c.want {
			t.Errorf("user %q client %q %v %q: allowed %v, want %v", c.user, c.client, c.action, c.topic, got, c.want)
		}
	}
}

// The example file shipped with Mosquitto (aclfile.example) and the
// examples of the acl_file section of mosquitto.conf(5).
func TestACLMosquittoExamples(t *testing.T) {
	a := mustACL(t, `# This affects access control for clients with no username.
topic read $SYS/#

# This only affects clients with username "roger".
user roger
topic foo/bar

# This affects all clients.
pattern write $SYS/broker/connection/%c/state
pattern write sensor/%u/data
`)
	checkACL(t, a, []aclCase{
		// Anonymous clients: the topic lines before any user line.
		{"", "c1", Subscribe, "$SYS/#", true},
		{"", "c1", Subscribe, "$SYS/broker/uptime", true},
		{"", "c1", Receive, "$SYS/broker/uptime", true},
		{"", "c1", Publish, "$SYS/broker/uptime", false}, // read only
		{"", "c1", Subscribe, "#", false},                // "#" does not cover "$SYS/..." nor "$SYS/#" other names
		{"", "c1", Publish, "foo/bar", false},
		// roger: readwrite foo/bar, not the anonymous lines.
		{"roger", "c2", Publish, "foo/bar", true},
		{"roger", "c2", Subscribe, "foo/bar", true},
		{"roger", "c2", Subscribe, "foo/+", false},
		{"roger", "c2", Subscribe, "$SYS/#", false},
		{"roger", "c2", Publish, "foo/baz", false},
		// Patterns apply to everybody, roger included.
		{"roger", "bridge1", Publish, "$SYS/broker/connection/bridge1/state", true},
		{"", "bridge1", Publish, "$SYS/broker/connection/bridge1/state", true},
		{"", "bridge1", Publish, "$SYS/broker/connection/bridge2/state", false},
		{"roger", "bridge1", Subscribe, "$SYS/broker/connection/bridge1/state", false}, // write only
		{"alice", "x", Publish, "sensor/alice/data", true},
		{"alice", "x", Publish, "sensor/bob/data", false},
		{"", "x", Publish, "sensor//data", false}, // %u needs a user name
		// Another user has no section: only the patterns.
		{"bob", "c3", Publish, "foo/bar", false},
		{"bob", "c3", Subscribe, "$SYS/#", false},
	})
}

func TestACLDenyPrecedence(t *testing.T) {
	a := mustACL(t, `topic readwrite #
topic deny secret/#

user alice
topic readwrite home/#
topic deny home/alarm/code
topic read public/#

user bob
topic write dev/#

pattern readwrite users/%u/#
pattern deny users/%u/locked
pattern deny dev/shutdown
`)
	checkACL(t, a, []aclCase{
		{"", "a", Publish, "anything", true},
		{"", "a", Publish, "secret", false}, // "secret/#" matches "secret" too
		{"", "a", Publish, "secretary", true},
		{"", "a", Publish, "secret/x", false},
		{"", "a", Subscribe, "#", false},      // intersects the deny
		{"", "a", Subscribe, "other/#", true}, // covered, does not intersect
		{"", "a", Subscribe, "+/x", false},    // could receive secret/x
		{"", "a", Receive, "other/x", true},   // per-message read check
		{"", "a", Receive, "secret/x", false}, // denied per message
		{"alice", "a", Publish, "home/light", true},
		{"alice", "a", Publish, "home/alarm/code", false}, // deny listed after the grant still wins
		{"alice", "a", Subscribe, "home/#", false},        // would receive home/alarm/code
		{"alice", "a", Subscribe, "home/light/+", true},
		{"alice", "a", Publish, "public/x", false},
		{"alice", "a", Subscribe, "public/x", true},
		{"alice", "a", Publish, "anything", false}, // the anonymous lines do not apply
		{"alice", "a", Publish, "users/alice/x", true},
		{"alice", "a", Publish, "users/alice/locked", false}, // pattern deny before pattern grant
		{"alice", "a", Publish, "users/bob/x", false},
		// A grant in the user's own section wins over a pattern deny (Mosquitto 2.0 order).
		{"bob", "b", Publish, "dev/shutdown", true},
		{"carol", "c", Publish, "dev/shutdown", false},
	})
}

func TestACLPatternValues(t *testing.T) {
	a := mustACL(t, `pattern readwrite clients/%c/#
pattern read users/%u/in
pattern write a/%u%c/b
pattern read free/#
`)
	checkACL(t, a, []aclCase{
		{"", "dev1", Publish, "clients/dev1/x", true},
		{"", "dev1", Subscribe, "clients/dev1/#", true},
		{"", "dev1", Subscribe, "clients/+/#", false},
		{"u", "dev1", Publish, "clients/dev2/x", false},
		// A value with a wildcard or '/' would widen or move the pattern.
		{"", "+", Publish, "clients/x/y", false},
		{"", "#", Publish, "clients/x/y", false},
		{"", "a/b", Publish, "clients/a/b/c", false},
		{"x/y", "c", Subscribe, "users/x/y/in", false},
		{"+", "c", Subscribe, "users/+/in", false},
		{"#", "c", Subscribe, "users/#", false},
		// ... but only the patterns that use it: the others still apply.
		{"+", "#", Subscribe, "free/x", true},
		// Substitution anywhere in a level, in one pass.
		{"u", "c", Publish, "a/uc/b", true},
		{"%c", "c", Publish, "a/%cc/b", true},
		{"%c", "c", Publish, "a/cc/b", false},
		// An empty client identifier matches nothing.
		{"u", "", Publish, "clients//x", false},
	})
}

func TestACLSharedSubscription(t *testing.T) {
	a := mustACL(t, "topic read jobs/#\ntopic deny jobs/secret\n")
	checkACL(t, a, []aclCase{
		{"", "c", Subscribe, "$share/g/jobs/+/x", true},
		{"", "c", Subscribe, "$share/g/jobs/#", false},
		{"", "c", Subscribe, "$share/g/other", false},
		{"", "c", Subscribe, "$share/bad+/jobs/x", false},
	})
}

func TestACLParsing(t *testing.T) {
	a := mustACL(t, "  # indented comment\n\t\n"+
		"topic a/b\r\n"+ // CRLF, no access: readwrite
		"topic\tread   c d/e  \n"+ // tabs, runs of blanks, a space in the filter
		"topic read\n"+ // one word: it is the filter
		"user  spaced name \n"+
		"topic write x\n"+
		"user spaced name\n"+ // the same section again
		"topic read y\n")
	checkACL(t, a, []aclCase{
		{"", "c", Publish, "a/b", true},
		{"", "c", Subscribe, "a/b", true},
		{"", "c", Subscribe, "c d/e", true},
		{"", "c", Publish, "c d/e", false},
		{"", "c", Publish, "read", true},
		{"spaced name", "c", Publish, "x", true},
		{"spaced name", "c", Subscribe, "y", true},
		{"spaced name", "c", Publish, "y", false},
	})
}

func TestACLErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"topic read a\nfoo bar\n", "test.acl:2: line starts with \"foo\": want topic, pattern, user"},
		{"topic\n", "test.acl:1: want \"topic [read|write|readwrite|deny] FILTER\", found no topic filter"},
		{"\n\npattern   \n", "test.acl:3: want \"pattern [read|write|readwrite|deny] FILTER\""},
		{"topic rw a\n", "test.acl:1: access \"rw\": want read, write, readwrite or deny"},
		{"user\n", "test.acl:1: want \"user NAME\", found no user name"},
		{"user   \n", "test.acl:1: want \"user NAME\""},
		{"topic read a/#/b\n", "test.acl:1: topic \"a/#/b\": invalid topic filter"},
		{"pattern read a+/%u\n", "test.acl:1: pattern \"a+/%u\": invalid topic filter"},
		{"Topic read a\n", "line starts with \"Topic\""},
	} {
		_, err := ParseACL(strings.NewReader(tc.text), "test.acl")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseACL(%q) = %v, want an error containing %q", tc.text, err, tc.want)
		}
	}
}

func TestACLReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acl")
	if err := os.WriteFile(path, []byte("topic read a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := LoadACLFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if !a.Allow(ctx, ClientInfo{ClientID: "c"}, Subscribe, "a") || a.Allow(ctx, ClientInfo{ClientID: "c"}, Subscribe, "b") {
		t.Fatal("first rules not applied")
	}
	gen := a.Generation()
	if err := os.WriteFile(path, []byte("topic read b\nbad line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), path+":2:") {
		t.Fatalf("Reload of a bad file: %v", err)
	}
	if !a.Allow(ctx, ClientInfo{ClientID: "c"}, Subscribe, "a") {
		t.Fatal("a failed reload dropped the loaded rules")
	}
	if a.Generation() != gen {
		t.Fatal("a failed reload changed the generation")
	}
	if err := os.WriteFile(path, []byte("topic read b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if a.Allow(ctx, ClientInfo{ClientID: "c"}, Subscribe, "a") || !a.Allow(ctx, ClientInfo{ClientID: "c"}, Subscribe, "b") {
		t.Fatal("reloaded rules not applied")
	}
	if a.Generation() == gen || AllOf([]Authorizer{a, AllowAll{}}).Generation() != a.Generation() {
		t.Fatalf("generation %d after a reload, from %d", a.Generation(), gen)
	}
	if _, err := LoadACLFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing file loaded")
	}
}

func TestCoversIntersectsExamples(t *testing.T) {
	for _, tc := range []struct {
		acl, sub          string
		covers, intersect bool
	}{
		{"#", "a/b", true, true},
		{"#", "#", true, true},
		{"#", "$SYS/#", false, false},
		{"$SYS/#", "$SYS/a/+", true, true},
		{"$SYS/#", "#", false, false},
		{"+/#", "$SYS/x", false, false},
		{"a/#", "a", true, true},
		{"a/#", "a/+/b", true, true},
		{"a/+", "a/#", false, true},
		{"a/+", "a/+", true, true},
		{"a/+", "a/b", true, true},
		{"a/b", "a/+", false, true},
		{"a/b", "a/c", false, false},
		{"a", "a/#", false, true},
		{"a/+/c", "a/b/+", false, true},
		{"a//b", "a/+/b", false, true},
		{"a/", "a/+", false, true},
		{"+", "/", false, false},
	} {
		if got := covers(tc.acl, tc.sub); got != tc.covers {
			t.Errorf("covers(%q, %q) = %v, want %v", tc.acl, tc.sub, got, tc.covers)
		}
		if got := intersects(tc.acl, tc.sub); got != tc.intersect {
			t.Errorf("intersects(%q, %q) = %v, want %v", tc.acl, tc.sub, got, tc.intersect)
		}
		if got := intersects(tc.sub, tc.acl); got != tc.intersect {
			t.Errorf("intersects(%q, %q) = %v, want %v", tc.sub, tc.acl, got, tc.intersect)
		}
	}
}

// Small alphabets so that random filters and names often meet.
var (
	genLevel      = rapid.SampledFrom([]string{"a", "b", "", "$s"})
	genFilterLvl  = rapid.SampledFrom([]string{"a", "b", "", "$s", "+", "+", "#"})
	genLevelCount = rapid.IntRange(1, 4)
)

func genName(t *rapid.T, label string) string {
	n := genLevelCount.Draw(t, label+" levels")
	parts := make([]string, n)
	for i := range parts {
		parts[i] = genLevel.Draw(t, label)
	}
	return strings.Join(parts, "/")
}

func genFilter(t *rapid.T, label string) string {
	n := genLevelCount.Draw(t, label+" levels")
	parts := make([]string, 0, n)
	for i := 0; i < n; i++ {
		l := genFilterLvl.Draw(t, label)
		parts = append(parts, l)
		if l == "#" {
			break
		}
	}
	return strings.Join(parts, "/")
}

// allNames lists every name of up to 5 levels over the alphabet, to decide
// coverage and intersection by brute force.
func allNames() []string {
	var out []string
	var rec func(prefix string, depth int)
	rec = func(prefix string, depth int) {
		for _, l := range []string{"a", "b", "", "$s", "z"} {
			n := l
			if depth > 0 {
				n = prefix + "/" + l
			}
			out = append(out, n)
			if depth < 4 {
				rec(n, depth+1)
			}
		}
	}
	rec("", 0)
	return out
}

// covers and intersects agree with topic.Match over every name of the
// alphabet: covers(f, g) iff each name g matches f matches; intersects(f,
// g) iff some name matches both.
func TestCoversIntersectsProperty(t *testing.T) {
	names := allNames()
	rapid.Check(t, func(t *rapid.T) {
		f, g := genFilter(t, "f"), genFilter(t, "g")
		if topic.ValidFilter(f) != nil || topic.ValidFilter(g) != nil {
			t.Skip("invalid filter")
		}
		cov, inter := true, false
		for _, n := range names {
			mf, mg := topic.Match(f, n), topic.Match(g, n)
			if mg && !mf {
				cov = false
			}
			if mf && mg {
				inter = true
			}
		}
		if got := covers(f, g); got != cov {
			t.Fatalf("covers(%q, %q) = %v, brute force says %v", f, g, got, cov)
		}
		if got := intersects(f, g); got != inter {
			t.Fatalf("intersects(%q, %q) = %v, brute force says %v", f, g, got, inter)
		}
	})
}

// A random ACL of topic lines for anonymous clients agrees with a direct
// reading of the rules: a matching deny refuses, otherwise a matching grant
// of the right kind allows; and Subscribe to a name (no wildcard) agrees
// with Receive of it.
func TestACLModelProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		type line struct {
			acc    string
			filter string
		}
		n := rapid.IntRange(0, 6).Draw(t, "lines")
		var lines []line
		var text strings.Builder
		for i := 0; i < n; i++ {
			l := line{rapid.SampledFrom([]string{"read", "write", "readwrite", "deny"}).Draw(t, "access"), genFilter(t, "acl")}
			if topic.ValidFilter(l.filter) != nil {
				continue
			}
			lines = append(lines, l)
			text.WriteString("topic " + l.acc + " " + l.filter + "\n")
		}
		a, err := ParseACL(strings.NewReader(text.String()), "model")
		if err != nil {
			t.Fatalf("ParseACL: %v", err)
		}
		name := genName(t, "name")
		for _, action := range []Action{Publish, Receive} {
			denied, granted := false, false
			for _, l := range lines {
				if !topic.Match(l.filter, name) {
					continue
				}
				switch {
				case l.acc == "deny":
					denied = true
				case l.acc == "readwrite", l.acc == "write" && action == Publish, l.acc == "read" && action == Receive:
					granted = true
				}
			}
			want := granted && !denied
			if got := a.Allow(context.Background(), ClientInfo{ClientID: "c"}, action, name); got != want {
				t.Fatalf("%v %q with\n%s: got %v, want %v", action, name, text.String(), got, want)
			}
		}
		recv := a.Allow(context.Background(), ClientInfo{ClientID: "c"}, Receive, name)
		if sub := a.Allow(context.Background(), ClientInfo{ClientID: "c"}, Subscribe, name); sub != recv {
			t.Fatalf("Subscribe %q = %v but Receive = %v with\n%s", name, sub, recv, text.String())
		}
	})
}

// No subscription is allowed through which a denied name could be received.
func TestACLSubscribeNeverLeaksProperty(t *testing.T) {
	names := allNames()
	rapid.Check(t, func(t *rapid.T) {
		var text strings.Builder
		for i, n := 0, rapid.IntRange(1, 5).Draw(t, "lines"); i < n; i++ {
			f := genFilter(t, "acl")
			if topic.ValidFilter(f) != nil {
				continue
			}
			text.WriteString("topic " + rapid.SampledFrom([]string{"read", "write", "deny"}).Draw(t, "access") + " " + f + "\n")
		}
		a, err := ParseACL(strings.NewReader(text.String()), "model")
		if err != nil {
			t.Fatal(err)
		}
		sub := genFilter(t, "sub")
		if topic.ValidFilter(sub) != nil {
			t.Skip("invalid filter")
		}
		ctx := context.Background()
		c := ClientInfo{ClientID: "c"}
		if !a.Allow(ctx, c, Subscribe, sub) {
			return
		}
		for _, n := range names {
			if topic.Match(sub, n) && !a.Allow(ctx, c, Receive, n) {
				t.Fatalf("subscription %q allowed but %q is not readable with\n%s", sub, n, text.String())
			}
		}
	})
}

func BenchmarkACLPublish(b *testing.B) {
	a, err := ParseACL(strings.NewReader(`topic read $SYS/#
user alice
topic readwrite home/#
topic deny home/alarm/code
pattern readwrite users/%u/#
`), "bench")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	c := ClientInfo{ClientID: "c1", Username: "alice"}
	b.ReportAllocs()
	for b.Loop() {
		a.Allow(ctx, c, Publish, "home/kitchen/light")
	}
}

// matchPattern agrees with topic.Match on the substituted filter.
func TestMatchPatternProperty(t *testing.T) {
	genPatLevel := rapid.SampledFrom([]string{"a", "", "+", "%u", "%c", "x%uy", "%c%u", "%%u", "%", "%x", "$s", "#"})
	genValue := rapid.SampledFrom([]string{"a", "u", "c", "x", "%u", "%", "$s", "ab"})
	genNameLevel := rapid.SampledFrom([]string{"a", "", "u", "c", "xay", "xuy", "ca", "%%u", "%", "%x", "$s", "ab", "%u", "au"})
	rapid.Check(t, func(t *rapid.T) {
		var parts []string
		for i, n := 0, rapid.IntRange(1, 4).Draw(t, "levels"); i < n; i++ {
			l := genPatLevel.Draw(t, "pattern level")
			parts = append(parts, l)
			if l == "#" {
				break
			}
		}
		pattern := strings.Join(parts, "/")
		if topic.ValidFilter(pattern) != nil {
			t.Skip("invalid pattern")
		}
		parts = parts[:0]
		for i, n := 0, rapid.IntRange(1, 5).Draw(t, "name levels"); i < n; i++ {
			parts = append(parts, genNameLevel.Draw(t, "name level"))
		}
		name := strings.Join(parts, "/")
		c := &ClientInfo{Username: genValue.Draw(t, "user"), ClientID: genValue.Draw(t, "client")}
		e := aclEntry{filter: pattern, hasU: strings.Contains(pattern, "%u"), hasC: strings.Contains(pattern, "%c")}
		e.pattern = e.hasU || e.hasC
		f, ok := e.expand(c)
		if !ok {
			t.Skip("unusable values")
		}
		if got, want := matchPattern(pattern, name, c), topic.Match(f, name); got != want {
			t.Fatalf("matchPattern(%q, %q, %+v) = %v, topic.Match(%q, %q) = %v", pattern, name, *c, got, f, name, want)
		}
	})
}

func BenchmarkACLPublishPattern(b *testing.B) {
	a, err := ParseACL(strings.NewReader("pattern deny users/%u/locked\npattern readwrite users/%u/%c/#\n"), "bench")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	c := ClientInfo{ClientID: "dev42", Username: "alice"}
	b.ReportAllocs()
	for b.Loop() {
		if !a.Allow(ctx, c, Publish, "users/alice/dev42/temp") {
			b.Fatal("refused")
		}
	}
}

// Any input either loads or is refused with an error naming file and line;
// a loaded ACL answers any question without panicking.
func FuzzParseACL(f *testing.F) {
	f.Add("topic read $SYS/#\nuser roger\ntopic foo/bar\npattern write $SYS/broker/connection/%c/state\n", "roger", "c", "foo/bar")
	f.Add("topic deny a/#\npattern readwrite %u/%c/#\n", "u", "c", "u/c/x")
	f.Add("user \ntopic\n", "", "", "#")
	f.Fuzz(func(t *testing.T, text, user, client, tp string) {
		a, err := ParseACL(strings.NewReader(text), "fuzz.acl")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.acl:") {
				t.Fatalf("error without file and line: %v", err)
			}
			return
		}
		ctx := context.Background()
		c := ClientInfo{ClientID: client, Username: user}
		for _, action := range []Action{Publish, Subscribe, Receive} {
			a.Allow(ctx, c, action, tp)
		}
		if topic.ValidFilter(tp) == nil && a.Allow(ctx, c, Subscribe, tp) && topic.ValidName(tp) == nil &&
			!a.Allow(ctx, c, Receive, tp) {
			t.Fatalf("subscribe to name %q allowed but receiving it is not", tp)
		}
	})
}
