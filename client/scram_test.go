package client_test

import (
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/packet"
)

// scramBroker runs a broker whose SCRAM-SHA-256 method knows users (user
// name to password) with iterations; wrap, if set, wraps the method.
func scramBroker(t *testing.T, users map[string]string, iterations int, wrap func(broker.EnhancedAuth) broker.EnhancedAuth) string {
	t.Helper()
	creds := make(map[string]broker.SCRAMCredentials, len(users))
	for u, pw := range users {
		c, err := broker.NewSCRAMCredentials(pw, []byte("salt of "+u), iterations)
		if err != nil {
			t.Fatal(err)
		}
		creds[u] = c
	}
	m := broker.NewSCRAMSHA256(func(u string) (broker.SCRAMCredentials, bool) {
		c, ok := creds[u]
		return c, ok
	})
	if wrap != nil {
		m = wrap(m)
	}
	return ternBroker(t, broker.Config{EnhancedAuth: []broker.EnhancedAuth{m}})
}

// The built-in SCRAM-SHA-256 against the broker's: the exchange succeeds
// (the server's signature verified), also for a user name with ',' and '='
// and again over the same Authenticator, and the connection works.
func TestSCRAMSHA256AgainstBroker(t *testing.T) {
	users := map[string]string{"ann": "s3cret", "dept=ops,bob": "p,w=d"}
	url := scramBroker(t, users, 4096, nil)
	for u, pw := range users {
		a := client.SCRAMSHA256(u, pw)
		for range 2 {
			c := dialConn(t, url, client.Options{Version: packet.V5, CleanStart: true, Auth: a})
			if _, err := c.Subscribe(testCtx(t), client.Subscription{Filter: "scram/" + u, QoS: 1}); err != nil {
				t.Fatalf("%s: Subscribe after SCRAM: %v", u, err)
			}
			if err := c.Disconnect(testCtx(t), packet.Success); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A wrong password or an unknown user is CONNACK 0x87, named in words.
func TestSCRAMSHA256Refused(t *testing.T) {
	url := scramBroker(t, map[string]string{"ann": "s3cret"}, 4096, nil)
	for _, a := range []client.Authenticator{client.SCRAMSHA256("ann", "guess"), client.SCRAMSHA256("nobody", "s3cret")} {
		_, err := client.Dial(testCtx(t), client.Options{Servers: []string{url}, Version: packet.V5, Auth: a, Logger: testLogger()})
		var re *client.ReasonError
		if !errors.As(err, &re) || re.Code != packet.NotAuthorized {
			t.Fatalf("Dial: %v, want CONNACK 0x87", err)
		}
		if !strings.Contains(err.Error(), "not authorized (0x87)") {
			t.Errorf("error %q does not name the reason in words", err)
		}
	}
}

// A user name SCRAM cannot carry fails the connection attempt, before
// anything is sent.
func TestSCRAMSHA256BadName(t *testing.T) {
	for _, name := range []string{"", "a\x00b", "\xff"} {
		nc, peer := net.Pipe() // nothing reads: a write would block
		_, err := client.Connect(testCtx(t), nc, client.Options{Version: packet.V5, Auth: client.SCRAMSHA256(name, "pw"), Logger: testLogger()})
		peer.Close()
		if err == nil || !strings.Contains(err.Error(), "user name") {
			t.Errorf("name %q: Dial: %v, want an error about the user name", name, err)
		}
	}
}

// tamper changes the server-final message of the SCRAM exchanges after
// the first skip ones.
type tamper struct {
	broker.EnhancedAuth
	final  func([]byte) []byte
	skip   int32
	starts *atomic.Int32
}

func (m tamper) Start(id string) broker.AuthExchange {
	x := m.EnhancedAuth.Start(id)
	if m.starts != nil && m.starts.Add(1) <= m.skip {
		return x
	}
	return tamperExchange{x, m.final}
}

type tamperExchange struct {
	broker.AuthExchange
	final func([]byte) []byte
}

func (x tamperExchange) Next(in []byte) ([]byte, bool, string, error) {
	out, done, user, err := x.AuthExchange.Next(in)
	if done {
		out = x.final(out)
	}
	return out, done, user, err
}

// A server whose signature is wrong, or that sends a server error or
// rubbish instead of it, or asks for too few iterations, fails the
// connection with an error that says so.
func TestSCRAMSHA256RejectsServer(t *testing.T) {
	users := map[string]string{"ann": "s3cret"}
	for _, tc := range []struct {
		name  string
		final func([]byte) []byte
		iter  int
		want  string
	}{
		{"signature", flipSignature, 4096, "wrong server signature"},
		{"error", func([]byte) []byte { return []byte("e=other-error") }, 4096, `the server says "other-error"`},
		{"rubbish", func([]byte) []byte { return []byte("v") }, 4096, "malformed attribute"},
		{"iterations", nil, 1024, "iterations"},
	} {
		var wrap func(broker.EnhancedAuth) broker.EnhancedAuth
		if tc.final != nil {
			wrap = func(m broker.EnhancedAuth) broker.EnhancedAuth { return tamper{EnhancedAuth: m, final: tc.final} }
		}
		url := scramBroker(t, users, tc.iter, wrap)
		_, err := client.Dial(testCtx(t), client.Options{Servers: []string{url}, Version: packet.V5, Auth: client.SCRAMSHA256("ann", "s3cret"), Logger: testLogger()})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Dial: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// flipSignature changes one bit of the signature of a server-final
// message "v=...".
func flipSignature(b []byte) []byte {
	sig, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(string(b), "v="))
	if err != nil {
		return nil
	}
	sig[0] ^= 1
	return []byte("v=" + base64.StdEncoding.EncodeToString(sig))
}
