package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/internal/brokertest"
	"github.com/tern-mq/tern/packet"
)

// cliBroker runs an in-process broker and returns its port.
func cliBroker(t *testing.T) string {
	t.Helper()
	_, addr := brokertest.Start(t, broker.Config{})
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// runAsync runs a tern command in the background.
func runAsync(args ...string) (*syncBuffer, <-chan error) {
	cmd := newRootCmd()
	out := &syncBuffer{}
	cmd.SetOut(out)
	cmd.SetErr(out)
	cmd.SetArgs(args)
	done := make(chan error, 1)
	go func() { done <- cmd.Execute() }()
	return out, done
}

func TestPubSubRetained(t *testing.T) {
	port := cliBroker(t)
	if out, err := runTern(t, "pub", "-h", "127.0.0.1", "-p", port, "-t", "cli/r", "-m", "hello", "-r", "-q", "1"); err != nil {
		t.Fatalf("pub: %v\n%s", err, out)
	}
	out, err := runTern(t, "sub", "-h", "127.0.0.1", "-p", port, "-t", "cli/#", "-C", "1", "-v", "-W", "10")
	if err != nil {
		t.Fatalf("sub: %v\n%s", err, out)
	}
	if out != "cli/r hello\n" {
		t.Fatalf("sub printed %q", out)
	}
	// -R skips the retained message: nothing else comes, so -W ends it.
	out, err = runTern(t, "sub", "-h", "127.0.0.1", "-p", port, "-t", "cli/#", "-C", "1", "-R", "-W", "1")
	if exitCode(err) != exitTimeout {
		t.Fatalf("sub -R -W 1: exit %d (%v), output %q", exitCode(err), err, out)
	}
}

func TestPubSubLiveJSONAndProperties(t *testing.T) {
	port := cliBroker(t)
	out, done := runAsync("sub", "-h", "127.0.0.1", "-p", port, "-V", "5", "-t", "live/x", "-q", "1", "-C", "3", "--json", "-W", "10")
	// Publish until the subscriber has had its three messages.
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("sub: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 3 {
				t.Fatalf("sub printed %d lines:\n%s", len(lines), out)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
				t.Fatal(err)
			}
			props, _ := m["properties"].(map[string]any)
			if m["topic"] != "live/x" || m["payload"] != "p" || props == nil || props["content-type"] != "text/plain" {
				t.Fatalf("JSON line %s", lines[0])
			}
			up, _ := props["user-property"].([]any)
			if len(up) != 1 {
				t.Fatalf("user properties %v", props["user-property"])
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("sub did not finish")
		}
		if o, err := runTern(t, "pub", "-h", "127.0.0.1", "-p", port, "-V", "5", "-t", "live/x", "-m", "p", "-q", "1",
			"-D", "publish", "user-property", "k", "v", "-D", "publish", "content-type", "text/plain"); err != nil {
			t.Fatalf("pub: %v\n%s", err, o)
		}
	}
}

func TestPubLinesFromStdin(t *testing.T) {
	port := cliBroker(t)
	c, err := client.Dial(context.Background(), client.Options{Servers: []string{"127.0.0.1:" + port}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(context.Background(), packet.Success)
	var mu sync.Mutex
	var got []string
	if _, err := c.Subscribe(context.Background(), client.Subscription{Filter: "lines", QoS: 1, Handler: func(m *client.Message) {
		mu.Lock()
		got = append(got, string(m.Payload))
		mu.Unlock()
	}}); err != nil {
		t.Fatal(err)
	}
	cmd := newRootCmd()
	cmd.SetIn(strings.NewReader("one\ntwo\nthree\n"))
	cmd.SetOut(io.Discard)
	cmd.SetArgs([]string{"pub", "-p", port, "-h", "127.0.0.1", "-t", "lines", "-l", "-q", "2"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		s := strings.Join(got, ",")
		mu.Unlock()
		if n == 3 {
			if s != "one,two,three" {
				t.Fatalf("got %s", s)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d messages", n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestClientExitCodes(t *testing.T) {
	port := cliBroker(t)
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bad qos", []string{"pub", "-p", port, "-t", "a", "-m", "x", "-q", "3"}, exitUsage, "-q 3"},
		{"no topic", []string{"pub", "-p", port, "-m", "x"}, exitUsage, "topic"},
		{"two sources", []string{"pub", "-p", port, "-t", "a", "-m", "x", "-n"}, exitUsage, "exactly one"},
		{"bad version", []string{"pub", "-p", port, "-t", "a", "-m", "x", "-V", "4.5"}, exitUsage, "-V"},
		{"-D without v5", []string{"pub", "-p", port, "-t", "a", "-m", "x", "-D", "publish", "content-type", "x"}, exitUsage, "MQTT 5"},
		{"bad -D", []string{"pub", "-p", port, "-V", "5", "-t", "a", "-m", "x", "-D", "publish", "no-such", "x"}, exitUsage, "no-such"},
		{"refused", []string{"pub", "-h", "127.0.0.1", "-p", port, "-V", "31", "-i", "an-identifier-much-too-long-for-3.1", "-t", "a", "-m", "x"},
			exitRefused, "identifier rejected"},
		{"sub timeout", []string{"sub", "-h", "127.0.0.1", "-p", port, "-t", "nothing/here", "-C", "1", "-W", "1"}, exitTimeout, "timed out"},
		{"rr timeout", []string{"rr", "-h", "127.0.0.1", "-p", port, "-t", "nobody", "-e", "resp", "-m", "x", "-W", "1"}, exitTimeout, "no response"},
		{"rr needs v5", []string{"rr", "-p", port, "-V", "311", "-t", "a", "-e", "b", "-m", "x"}, exitUsage, "MQTT 5"},
		{"unreachable", []string{"pub", "-h", "127.0.0.1", "-p", "1", "-t", "a", "-m", "x"}, exitError, "refused"},
		{"unknown flag", []string{"pub", "--no-such-flag", "-t", "a", "-m", "x"}, exitUsage, "no-such-flag"},
		{"sub bad filter", []string{"sub", "-p", port, "-t", "a/#/b"}, exitUsage, "#"},
		{"scram without v5", []string{"pub", "-p", port, "--auth-method", "SCRAM-SHA-256", "-u", "u", "-t", "a", "-m", "x"}, exitUsage, "MQTT 5"},
		{"unknown auth method", []string{"pub", "-p", port, "-V", "5", "--auth-method", "KERBEROS", "-u", "u", "-t", "a", "-m", "x"}, exitUsage, "KERBEROS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// run is what main runs: its result is the process exit code.
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit code %d (%s), want %d", code, stderr.String(), tc.code)
			}
			if msg := stderr.String(); !strings.HasPrefix(msg, "tern: ") || !strings.Contains(msg, tc.msg) {
				t.Fatalf("stderr %q does not mention %q", msg, tc.msg)
			}
		})
	}
}

func TestRR(t *testing.T) {
	port := cliBroker(t)
	ctx := context.Background()
	responder, err := client.Dial(ctx, client.Options{Servers: []string{"127.0.0.1:" + port}})
	if err != nil {
		t.Fatal(err)
	}
	defer responder.Disconnect(ctx, packet.Success)
	if _, err := responder.Subscribe(ctx, client.Subscription{Filter: "rr/req", QoS: 1, Handler: func(m *client.Message) {
		client.Respond(ctx, responder, m, append([]byte("re: "), m.Payload...))
	}}); err != nil {
		t.Fatal(err)
	}
	out, err := runTern(t, "rr", "-h", "127.0.0.1", "-p", port, "-t", "rr/req", "-e", "rr/resp", "-m", "ping", "-q", "1")
	if err != nil {
		t.Fatalf("rr: %v\n%s", err, out)
	}
	if out != "re: ping\n" {
		t.Fatalf("rr printed %q", out)
	}
}

func TestHostFlagIsNotHelp(t *testing.T) {
	out, err := runTern(t, "pub", "--help")
	if err != nil || !strings.Contains(out, "-h, --host") {
		t.Fatalf("pub --help: %v\n%s", err, out)
	}
	if _, err := runTern(t, "pub", "-h"); err == nil {
		t.Fatal("-h without a host accepted")
	}
}

// TestSubPersistentSession: -c keeps the session, so messages published
// while the subscriber is away arrive when it comes back; -L carries the
// server and the topic.
func TestSubPersistentSession(t *testing.T) {
	port := cliBroker(t)
	url := "mqtt://127.0.0.1:" + port + "/persist/t"
	for _, v := range []string{"311", "5"} {
		t.Run(v, func(t *testing.T) {
			id := "cli-persist-" + v
			if out, err := runTern(t, "sub", "-L", url, "-V", v, "-c", "-i", id, "-q", "1", "-E"); err != nil {
				t.Fatalf("sub -E: %v\n%s", err, out)
			}
			if out, err := runTern(t, "pub", "-L", url, "-V", v, "-m", "while away", "-q", "1"); err != nil {
				t.Fatalf("pub: %v\n%s", err, out)
			}
			out, err := runTern(t, "sub", "-L", url, "-V", v, "-c", "-i", id, "-q", "1", "-C", "1", "-W", "10")
			if err != nil || out != "while away\n" {
				t.Fatalf("sub: %v %q", err, out)
			}
		})
	}
}

func TestParseProps(t *testing.T) {
	p, err := parseProps([]string{"publish", "publish", "connect"},
		[]string{"user-property", "a", "b", "content-type", "x/y", "session-expiry-interval", "30"})
	if err != nil {
		t.Fatal(err)
	}
	pub := p.get("publish")
	if len(pub.User) != 1 || pub.User[0].Value != "b" || pub.ContentType != "x/y" || p.get("connect").SessionExpiry != 30 {
		t.Fatalf("props %+v %+v", pub, p.get("connect"))
	}
	for _, bad := range [][]string{{"user-property", "a"}, {"message-expiry-interval", "x"}, {}} {
		if _, err := parseProps([]string{"publish"}, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := parseProps(nil, []string{"stray"}); err == nil {
		t.Error("stray argument accepted")
	}
}
