package client

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestBackoffProperties: every delay lies in [cur/2, cur] for the current
// step, steps double from min up to max, and reset starts over.
func TestBackoffProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		lo := time.Duration(rapid.Int64Range(1, int64(time.Second)).Draw(t, "min"))
		hi := lo + time.Duration(rapid.Int64Range(0, int64(time.Minute)).Draw(t, "extra"))
		b := backoff{min: lo, max: hi}
		step := lo
		for i := range rapid.IntRange(1, 40).Draw(t, "n") {
			if rapid.Bool().Draw(t, "reset") {
				b.reset()
				step = lo
			}
			d := b.next()
			if d < step-step/2 || d > step {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", i, d, step-step/2, step)
			}
			if d > hi {
				t.Fatalf("delay %v above max %v", d, hi)
			}
			step = min(2*step, hi)
		}
	})
}

func TestParseURL(t *testing.T) {
	for in, want := range map[string]string{
		"localhost":              "mqtt://localhost:1883",
		"mqtt://h":               "mqtt://h:1883",
		"tcp://h:1":              "tcp://h:1",
		"mqtts://h":              "mqtts://h:8883",
		"ssl://[::1]":            "ssl://[::1]:8883",
		"mqtt://u:p@h:2":         "mqtt://u:p@h:2",
		"tls://broker.example:9": "tls://broker.example:9",
		"ws://h":                 "ws://h:80/mqtt",
		"wss://h:9/x":            "wss://h:9/x",
	} {
		u, err := ParseURL(in)
		if err != nil || u.String() != want {
			t.Errorf("ParseURL(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	for _, bad := range []string{"http://h", "mqtt://", "mqtt://:1"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		}
	}
}

func TestReferenceURL(t *testing.T) {
	for _, c := range [][3]string{
		{"mqtt://a:1", "b:2", "mqtt://b:2"},
		{"mqtts://a:1", "b:2 c:3", "mqtts://b:2"},
		{"mqtt://a:1", "mqtt://x:9", "mqtt://x:9"},
		{"mqtt://a:1", "  ", ""},
	} {
		if got := referenceURL(c[0], c[1]); got != c[2] {
			t.Errorf("referenceURL(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}
