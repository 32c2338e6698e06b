package broker

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/packet"
)

// fileAuth loads a password file with alice:secret and an ACL file.
func fileAuth(t *testing.T, acl string, anonymous bool) (auth.Authenticator, auth.Authorizer) {
	t.Helper()
	dir := t.TempDir()
	h, err := auth.HashPassword([]byte("secret"), auth.SHA512PBKDF2)
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "passwd")
	if err := os.WriteFile(pw, []byte("alice:"+h+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	af := filepath.Join(dir, "acl")
	if err := os.WriteFile(af, []byte(acl), 0o600); err != nil {
		t.Fatal(err)
	}
	authn, authz, _, err := auth.Files{PasswordFile: pw, ACLFile: af, AllowAnonymous: anonymous}.Load()
	if err != nil {
		t.Fatal(err)
	}
	return authn, authz
}

func withLogin(user, pass string) connectOpt {
	return func(p *packet.Connect) {
		p.UsernameFlag, p.Username = true, user
		if pass != "" {
			p.PasswordFlag, p.Password = true, []byte(pass)
		}
	}
}

// [MQTT-3.2.2-5] [MQTT5-4.13.2-1] a refusing CONNACK, then the connection closes.
func TestAuthConnectRefused(t *testing.T) {
	authn, authz := fileAuth(t, "user alice\ntopic readwrite #\n", false)
	authn = authn.(*auth.RateLimit).Next // the rate limit is tested below
	s, addr := startServer(t, Config{Authenticator: authn, Authorizer: authz})
	cases := []struct {
		name string
		v    packet.Version
		opts []connectOpt
		want packet.ReasonCode
	}{
		{"v311 wrong password", packet.V311, []connectOpt{withLogin("alice", "wrong")}, packet.ConnRefusedBadUsernamePassword},
		{"v5 wrong password", packet.V5, []connectOpt{withLogin("alice", "wrong")}, packet.BadUsernameOrPassword},
		{"v311 unknown user", packet.V311, []connectOpt{withLogin("bob", "secret")}, packet.ConnRefusedBadUsernamePassword},
		{"v311 anonymous", packet.V311, nil, packet.ConnRefusedNotAuthorized311},
		{"v5 anonymous", packet.V5, nil, packet.NotAuthorized},
		{"v31 anonymous", packet.V31, nil, packet.ConnRefusedNotAuthorized311},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr, tc.v)
			ack := c.connect("c"+string(rune('a'+i)), true, tc.opts...)
			if ack.ReasonCode != tc.want {
				t.Fatalf("CONNACK %#x, want %#x", byte(ack.ReasonCode), byte(tc.want))
			}
			c.expectClosed()
		})
	}
	if got := s.Stats().ConnectRefused; got != int64(len(cases)) {
		t.Errorf("ConnectRefused = %d, want %d", got, len(cases))
	}
	c := dial(t, addr, packet.V311)
	c.mustConnect("ok", true, withLogin("alice", "secret"))
	c.disconnect()
}

// Repeated failures from one address meet the rate limit of auth.Files:
// Connection rate exceeded (0x9F), even with the right password.
func TestAuthRateLimited(t *testing.T) {
	authn, authz := fileAuth(t, "", false)
	_, addr := startServer(t, Config{Authenticator: authn, Authorizer: authz})
	refused := 0
	for i := 0; i < 10; i++ {
		c := dial(t, addr, packet.V5)
		ack := c.connect("r", true, withLogin("alice", "wrong"))
		c.expectClosed()
		if ack.ReasonCode == packet.ConnectionRateExceeded {
			break
		}
		refused++
	}
	if refused == 10 {
		t.Fatal("no 0x9F after 10 failed logins")
	}
	c := dial(t, addr, packet.V5)
	if ack := c.connect("r", true, withLogin("alice", "secret")); ack.ReasonCode != packet.ConnectionRateExceeded {
		t.Fatalf("CONNACK %#x while barred, want 0x9f", byte(ack.ReasonCode))
	}
}

type failingAuthn struct{}

func (failingAuthn) Authenticate(context.Context, auth.ConnInfo) (auth.Result, error) {
	return auth.Result{}, errors.New("backend down")
}

// An Authenticator error is Server unavailable: 0x88, 0x03 before MQTT 5.
func TestAuthConnectError(t *testing.T) {
	s, addr := startServer(t, Config{Authenticator: failingAuthn{}})
	for _, tc := range []struct {
		v    packet.Version
		want packet.ReasonCode
	}{{packet.V311, packet.ConnRefusedServerUnavailable}, {packet.V5, packet.ServerUnavailable}} {
		c := dial(t, addr, tc.v)
		if ack := c.connect("x", true); ack.ReasonCode != tc.want {
			t.Fatalf("v%d: CONNACK %#x, want %#x", tc.v, byte(ack.ReasonCode), byte(tc.want))
		}
		c.expectClosed()
	}
	if got := s.Stats().ConnectAuthErrors; got != 2 {
		t.Errorf("ConnectAuthErrors = %d, want 2", got)
	}
}

const testACL = `user alice
topic write in/#
topic read out/#
topic readwrite shared/#
`

func TestAuthPublishDenied(t *testing.T) {
	authn, authz := fileAuth(t, testACL, false)
	s, addr := startServer(t, Config{Authenticator: authn, Authorizer: authz})

	sub := dial(t, addr, packet.V5)
	sub.mustConnect("sub", true, withLogin("alice", "secret"))
	if sa := sub.subscribe(1, "shared/#", 1); sa.ReasonCodes[0] != 1 {
		t.Fatalf("SUBACK %v", sa.ReasonCodes)
	}

	v5 := dial(t, addr, packet.V5)
	v5.mustConnect("p5", true, withLogin("alice", "secret"))
	v5.send(&packet.Publish{Topic: "out/x", QoS: 1, PacketID: 7, Payload: []byte("no")})
	if a := v5.recvAck(packet.PUBACK); a.ReasonCode != packet.NotAuthorized {
		t.Fatalf("PUBACK %#x, want 0x87", byte(a.ReasonCode))
	}
	v5.send(&packet.Publish{Topic: "out/x", QoS: 2, PacketID: 8, Payload: []byte("no")})
	if a := v5.recvAck(packet.PUBREC); a.ReasonCode != packet.NotAuthorized {
		t.Fatalf("PUBREC %#x, want 0x87", byte(a.ReasonCode))
	}

	// [MQTT-3.3.5-2] 3.1.1: acknowledged as usual, and dropped.
	v3 := dial(t, addr, packet.V311)
	v3.mustConnect("p3", true, withLogin("alice", "secret"))
	v3.send(&packet.Publish{Topic: "out/x", QoS: 1, PacketID: 9, Payload: []byte("no")})
	if a := v3.recvAck(packet.PUBACK); a.PacketID != 9 {
		t.Fatalf("PUBACK %+v", a)
	}
	// An allowed message after the refused ones is the only one delivered.
	v3.send(&packet.Publish{Topic: "shared/ok", QoS: 1, PacketID: 10, Payload: []byte("yes")})
	v3.recvAck(packet.PUBACK)
	if p := sub.recvPublish(); p.Topic != "shared/ok" {
		t.Fatalf("delivered %q", p.Topic)
	}
	if got := s.Stats().PublishDenied; got != 3 {
		t.Errorf("PublishDenied = %d, want 3", got)
	}
}

func TestAuthSubscribeDenied(t *testing.T) {
	authn, authz := fileAuth(t, testACL, false)
	s, addr := startServer(t, Config{Authenticator: authn, Authorizer: authz})
	for _, tc := range []struct {
		v    packet.Version
		want packet.ReasonCode
	}{{packet.V311, packet.SubackFailure311}, {packet.V5, packet.NotAuthorized}} {
		c := dial(t, addr, tc.v)
		c.mustConnect("s", true, withLogin("alice", "secret"))
		c.send(&packet.Subscribe{PacketID: 3, Subscriptions: []packet.Subscription{
			{Filter: "in/#", Options: packet.SubOptions{QoS: 1}},
			{Filter: "out/a", Options: packet.SubOptions{QoS: 1}},
			{Filter: "#", Options: packet.SubOptions{QoS: 0}},
		}})
		sa, ok := c.recv().(*packet.Suback)
		if !ok {
			t.Fatal("want SUBACK")
		}
		want := []packet.ReasonCode{tc.want, 1, tc.want}
		for i := range want {
			if sa.ReasonCodes[i] != want[i] {
				t.Fatalf("v%d: SUBACK %v, want %v", tc.v, sa.ReasonCodes, want)
			}
		}
		c.disconnect()
	}
	if got := s.Stats().SubscribeDenied; got != 4 {
		t.Errorf("SubscribeDenied = %d, want 4", got)
	}
	// The server detaches a session just after closing its connection.
	eventually(t, "no subscription after clean disconnects", func() bool { return s.Stats().Subscriptions == 0 })
}

// A will on a topic the client may not publish to refuses the CONNECT.
func TestAuthWillDenied(t *testing.T) {
	authn, authz := fileAuth(t, testACL, false)
	_, addr := startServer(t, Config{Authenticator: authn, Authorizer: authz})
	c := dial(t, addr, packet.V5)
	ack := c.connect("w", true, withLogin("alice", "secret"), withWill("out/will", "x", 0, false))
	if ack.ReasonCode != packet.NotAuthorized {
		t.Fatalf("CONNACK %#x, want 0x87", byte(ack.ReasonCode))
	}
	c.expectClosed()
	c = dial(t, addr, packet.V5)
	c.mustConnect("w", true, withLogin("alice", "secret"), withWill("in/will", "x", 0, false))
}

// The first refusals of a connection are logged at info level, the others
// at debug level only.
func TestAuthDenialLogBounded(t *testing.T) {
	var logs syncLog
	authn, authz := fileAuth(t, testACL, false)
	_, addr := startServer(t, Config{Authenticator: authn, Authorizer: authz,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	c := dial(t, addr, packet.V311)
	c.mustConnect("noisy", true, withLogin("alice", "secret"))
	for i := range 3 * logDenials {
		c.send(&packet.Publish{Topic: "out/x", QoS: 1, PacketID: uint16(i + 1)})
		c.recvAck(packet.PUBACK)
	}
	if n := strings.Count(logs.String(), `msg="not authorized"`); n != logDenials {
		t.Fatalf("%d refusals logged at info level, want %d", n, logDenials)
	}
}

type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
