package topic

import (
	"errors"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// refMatch is the reference matcher: split both on '/' and compare level by level.
func refMatch(filter, name string) bool {
	if strings.HasPrefix(name, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	f, n := strings.Split(filter, "/"), strings.Split(name, "/")
	for i, fl := range f {
		if fl == "#" {
			return true
		}
		if i >= len(n) || (fl != "+" && fl != n[i]) {
			return false
		}
	}
	return len(f) == len(n)
}

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
		tag  string
	}{
		{"sport/tennis/player1", true, ""},
		{"/", true, ""},
		{"/finance", true, ""},
		{"a//b", true, ""},
		{"$SYS/broker/uptime", true, ""},
		{"zürich/ℌ/🎾", true, ""},
		{" ", true, ""},
		{"\ufeff", true, "[MQTT-1.5.3-3] [MQTT5-1.5.4-3]"},
		{"", false, "[MQTT-4.7.3-1] [MQTT5-4.7.3-1]"},
		{"sport/+", false, "[MQTT-4.7.1-1] [MQTT5-4.7.0-1]"},
		{"sport/#", false, "[MQTT-4.7.1-1] [MQTT5-4.7.0-1]"},
		{"a+b", false, "[MQTT-4.7.1-1] [MQTT5-4.7.0-1]"},
		{"a\x00b", false, "[MQTT-4.7.3-2] [MQTT5-4.7.3-2]"},
		{"a\xffb", false, "[MQTT-1.5.3-1] [MQTT5-1.5.4-1]"},
		{"\xed\xa0\x80", false, "[MQTT-1.5.3-1] [MQTT5-1.5.4-1] surrogate"},
		{"\xc0\x80", false, "[MQTT-1.5.3-1] [MQTT5-1.5.4-1] overlong null"},
		{strings.Repeat("a", MaxLen), true, "[MQTT-4.7.3-3] [MQTT5-4.7.3-3]"},
		{strings.Repeat("a", MaxLen+1), false, "[MQTT-4.7.3-3] [MQTT5-4.7.3-3]"},
	}
	for _, tt := range tests {
		err := ValidName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("%s ValidName(%.20q) = %v, want ok=%v", tt.tag, tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidName(%.20q) error %v does not wrap ErrInvalidName", tt.name, err)
		}
	}
}

func TestValidFilter(t *testing.T) {
	tests := []struct {
		filter string
		ok     bool
		tag    string
	}{
		{"sport/tennis/player1/#", true, "[MQTT-4.7.1-2] [MQTT5-4.7.1-1]"},
		{"sport/#", true, "[MQTT-4.7.1-2] [MQTT5-4.7.1-1]"},
		{"#", true, "[MQTT-4.7.1-2] [MQTT5-4.7.1-1]"},
		{"/#", true, "[MQTT-4.7.1-2] [MQTT5-4.7.1-1]"},
		{"sport/tennis#", false, "[MQTT-4.7.1-2] [MQTT5-4.7.1-1]"},
		{"sport/tennis/#/ranking", false, "[MQTT-4.7.1-2] [MQTT5-4.7.1-1]"},
		{"#/", false, "[MQTT-4.7.1-2] [MQTT5-4.7.1-1]"},
		{"##", false, "[MQTT-4.7.1-2] [MQTT5-4.7.1-1]"},
		{"+", true, "[MQTT-4.7.1-3] [MQTT5-4.7.1-2]"},
		{"+/tennis/#", true, "[MQTT-4.7.1-3] [MQTT5-4.7.1-2]"},
		{"sport/+/player1", true, "[MQTT-4.7.1-3] [MQTT5-4.7.1-2]"},
		{"/+", true, "[MQTT-4.7.1-3] [MQTT5-4.7.1-2]"},
		{"+/+", true, "[MQTT-4.7.1-3] [MQTT5-4.7.1-2]"},
		{"+/", true, "[MQTT-4.7.1-3] [MQTT5-4.7.1-2]"},
		{"sport+", false, "[MQTT-4.7.1-3] [MQTT5-4.7.1-2]"},
		{"+sport", false, "[MQTT-4.7.1-3] [MQTT5-4.7.1-2]"},
		{"a/++/b", false, "[MQTT-4.7.1-3] [MQTT5-4.7.1-2]"},
		{"+#", false, "[MQTT-4.7.1-3] [MQTT5-4.7.1-2]"},
		{"a//b", true, "empty levels"},
		{"/", true, "empty levels"},
		{"", false, "[MQTT-4.7.3-1] [MQTT5-4.7.3-1]"},
		{"a/\x00", false, "[MQTT-4.7.3-2] [MQTT5-4.7.3-2]"},
		{"a/\xff", false, "[MQTT-1.5.3-1] [MQTT5-1.5.4-1]"},
		{"$share/g/a/#", true, "ordinary filter syntax"},
		{strings.Repeat("a", MaxLen-2) + "/#", true, "[MQTT-4.7.3-3] [MQTT5-4.7.3-3]"},
		{strings.Repeat("a", MaxLen-1) + "/#", false, "[MQTT-4.7.3-3] [MQTT5-4.7.3-3]"},
	}
	for _, tt := range tests {
		err := ValidFilter(tt.filter)
		if (err == nil) != tt.ok {
			t.Errorf("%s ValidFilter(%.30q) = %v, want ok=%v", tt.tag, tt.filter, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidFilter) {
			t.Errorf("ValidFilter(%.20q) error %v does not wrap ErrInvalidFilter", tt.filter, err)
		}
	}
}

// matchCases are the examples of MQTT 3.1.1 and 5.0 section 4.7, plus edge cases.
var matchCases = []struct {
	filter, name string
	want         bool
	tag          string
}{
	// 4.7.1.2 multi-level wildcard
	{"sport/tennis/player1/#", "sport/tennis/player1", true, "[MQTT-4.7.1-2] [MQTT5-4.7.1-1] 4.7.1.2"},
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true, "4.7.1.2"},
	{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true, "4.7.1.2"},
	{"sport/tennis/player1/#", "sport/tennis/player2", false, "4.7.1.2"},
	{"sport/tennis/player1/#", "sport/tennis", false, "4.7.1.2"},
	{"sport/#", "sport", true, "4.7.1.2 parent level"},
	{"sport/#", "sport/", true, "4.7.1.2"},
	{"sport/#", "sports", false, "4.7.1.2"},
	{"#", "sport/tennis/player1", true, "4.7.1.2"},
	{"#", "/", true, "4.7.1.2"},
	{"/#", "/finance", true, ""},
	{"/#", "finance", false, ""},
	// 4.7.1.3 single-level wildcard
	{"sport/tennis/+", "sport/tennis/player1", true, "[MQTT-4.7.1-3] [MQTT5-4.7.1-2] 4.7.1.3"},
	{"sport/tennis/+", "sport/tennis/player2", true, "4.7.1.3"},
	{"sport/tennis/+", "sport/tennis/player1/ranking", false, "4.7.1.3"},
	{"sport/+", "sport", false, "4.7.1.3"},
	{"sport/+", "sport/", true, "4.7.1.3"},
	{"+", "sport", true, "4.7.1.3"},
	{"+", "/finance", false, "4.7.1.3"},
	{"+/+", "/finance", true, "4.7.1.3"},
	{"/+", "/finance", true, "4.7.1.3"},
	{"+/tennis/#", "sport/tennis/player1", true, "4.7.1.3"},
	{"+/tennis/#", "sport/tennis", true, "4.7.1.3"},
	{"sport/+/player1", "sport/tennis/player1", true, "4.7.1.3"},
	{"sport/+/player1", "sport//player1", true, "empty level"},
	{"a/+/+", "a/b", false, ""},
	{"a/+/#", "a/b", true, ""},
	// 4.7.2 topics beginning with $
	{"#", "$SYS/broker/uptime", false, "[MQTT-4.7.2-1] [MQTT5-4.7.2-1] 4.7.2"},
	{"+/monitor/Clients", "$SYS/monitor/Clients", false, "[MQTT-4.7.2-1] [MQTT5-4.7.2-1] 4.7.2"},
	{"$SYS/#", "$SYS/monitor/Clients", true, "4.7.2"},
	{"$SYS/monitor/+", "$SYS/monitor/Clients", true, "4.7.2"},
	{"+", "$SYS", false, "[MQTT-4.7.2-1] [MQTT5-4.7.2-1]"},
	{"$SYS/#", "$SYS", true, "4.7.2"},
	{"a/+", "a/$x", true, "'$' rule only at the first level"},
	{"a/#", "a/$x", true, "'$' rule only at the first level"},
	// 4.7.3 no normalization, case sensitive
	{"ACCOUNTS", "Accounts", false, "[MQTT-4.7.3-4] [MQTT5-4.7.3-4] 4.7.3"},
	{"Accounts payable", "Accounts payable", true, "4.7.3"},
	{"/finance", "finance", false, "4.7.3"},
	{"finance", "finance/", false, ""},
	{"a//b", "a//b", true, ""},
	{"a//b", "a/b", false, ""},
	{"é", "e\u0301", false, "[MQTT-4.7.3-4] [MQTT5-4.7.3-4]"},
}

func TestMatchSpecExamples(t *testing.T) {
	for _, tt := range matchCases {
		if got := Match(tt.filter, tt.name); got != tt.want {
			t.Errorf("%s Match(%q, %q) = %v, want %v", tt.tag, tt.filter, tt.name, got, tt.want)
		}
		if ref := refMatch(tt.filter, tt.name); ref != tt.want {
			t.Errorf("reference matcher disagrees on (%q, %q): %v", tt.filter, tt.name, ref)
		}
	}
}

func TestMatchAllocs(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		for _, tt := range matchCases {
			Match(tt.filter, tt.name)
		}
	})
	if n != 0 {
		t.Fatalf("Match allocates %v times per run", n)
	}
	n = testing.AllocsPerRun(100, func() {
		_ = ValidName("sport/tennis/player1/ümlaut")
		_ = ValidFilter("sport/+/player1/#")
	})
	if n != 0 {
		t.Fatalf("validating valid input allocates %v times per run", n)
	}
}

func TestParseShared(t *testing.T) {
	tests := []struct {
		filter, group, inner string
		ok, err              bool
		tag                  string
	}{
		{"$share/g1/sport/#", "g1", "sport/#", true, false, "[MQTT5-4.8.2-1]"},
		{"$share/g/+", "g", "+", true, false, ""},
		{"$share/g//", "g", "/", true, false, ""},
		{"$share/g/$SYS/#", "g", "$SYS/#", true, false, ""},
		{"sport/#", "", "", false, false, "non-shared"},
		{"$share", "", "", false, false, "non-shared"},
		{"$SHARE/g/a", "", "", false, false, "case sensitive"},
		{"$sharex/g/a", "", "", false, false, "non-shared"},
		{"$share/", "", "", true, true, "[MQTT5-4.8.2-1] empty ShareName"},
		{"$share//a", "", "", true, true, "[MQTT5-4.8.2-1] empty ShareName"},
		{"$share/g", "", "", true, true, "[MQTT5-4.8.2-2] no '/' after ShareName"},
		{"$share/g/", "", "", true, true, "[MQTT5-4.8.2-2] no filter"},
		{"$share/g+/a", "", "", true, true, "[MQTT5-4.8.2-2] '+' in ShareName"},
		{"$share/#/a", "", "", true, true, "[MQTT5-4.8.2-2] '#' in ShareName"},
		{"$share/g\x00/a", "", "", true, true, "[MQTT-4.7.3-2] [MQTT5-4.7.3-2]"},
		{"$share/g/a#", "", "", true, true, "invalid inner filter"},
	}
	for _, tt := range tests {
		group, inner, ok, err := ParseShared(tt.filter)
		if group != tt.group || inner != tt.inner || ok != tt.ok || (err != nil) != tt.err {
			t.Errorf("%s ParseShared(%q) = %q, %q, %v, %v; want %q, %q, %v, err=%v",
				tt.tag, tt.filter, group, inner, ok, err, tt.group, tt.inner, tt.ok, tt.err)
		}
		if err != nil && !errors.Is(err, ErrInvalidFilter) {
			t.Errorf("ParseShared(%q) error %v does not wrap ErrInvalidFilter", tt.filter, err)
		}
	}
}

// Generators over a small alphabet so that filters and names collide often, with '$' and
// empty levels.
var (
	genNameLevel = rapid.SampledFrom([]string{"", "a", "b", "ab", "$", "$SYS", "a$", "é", "c", "d", "e"})
	genName      = rapid.Custom(func(t *rapid.T) string {
		return nonEmpty(strings.Join(rapid.SliceOfN(genNameLevel, 1, 5).Draw(t, "levels"), "/"))
	})
	genFilter = rapid.Custom(func(t *rapid.T) string {
		levels := rapid.SliceOfN(rapid.OneOf(genNameLevel, rapid.Just("+")), 1, 5).Draw(t, "levels")
		if rapid.IntRange(0, 3).Draw(t, "hash") == 0 {
			levels = append(levels, "#")
		}
		if len(levels) > 1 && rapid.IntRange(0, 4).Draw(t, "onlyhash") == 0 {
			levels = levels[len(levels)-1:]
		}
		return nonEmpty(strings.Join(levels, "/"))
	})
)

// nonEmpty replaces the one invalid outcome of joining levels, "" [MQTT-4.7.3-1] [MQTT5-4.7.3-1],
// with two empty levels.
func nonEmpty(s string) string {
	if s == "" {
		return "/"
	}
	return s
}

func TestMatchProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		filter, name := genFilter.Draw(t, "filter"), genName.Draw(t, "name")
		if err := ValidFilter(filter); err != nil {
			t.Fatalf("generated invalid filter: %v", err)
		}
		if err := ValidName(name); err != nil {
			t.Fatalf("generated invalid name: %v", err)
		}
		if got, want := Match(filter, name), refMatch(filter, name); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", filter, name, got, want)
		}
	})
}
