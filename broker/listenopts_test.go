package broker

import (
	"context"
	"errors"

	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/store/memory"
)

// serveListeners runs one server on a loopback listener per options and
// returns their addresses; the server stops when the test ends (before
// the cleanups registered earlier).
func serveListeners(t *testing.T, cfg Config, opts ...ListenerOptions) (*Server, []string) {
	t.Helper()
	cfg.Logger = testLogger()
	cfg.SysInterval = -1
	s, err := New(cfg)
	must(t, err)
	done := make(chan error, len(opts))
	addrs := make([]string, len(opts))
	for i, o := range opts {
		ln := loopback(t)
		addrs[i] = ln.Addr().String()
		go func() { done <- s.ServeWith(ln, o) }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		for range opts {
			if err := <-done; !errors.Is(err, ErrServerClosed) {
				t.Errorf("ServeWith: %v", err)
			}
		}
	})
	return s, addrs
}

// onePassword accepts user "bob" with password "pw" and nobody else.
type onePassword struct{}

func (onePassword) Authenticate(_ context.Context, c auth.ConnInfo) (auth.Result, error) {
	if c.HasUsername && c.Username == "bob" && string(c.Password) == "pw" {
		return auth.Accepted, nil
	}
	return auth.Denied(packet.NotAuthorized, "bad user name or password"), nil
}

// noSecrets refuses every action on topics under "secret/".
type noSecrets struct{}

func (noSecrets) Allow(_ context.Context, _ auth.ClientInfo, _ auth.Action, t string) bool {
	return !strings.HasPrefix(t, "secret/")
}

// Two listeners of one server: one lets anonymous clients in with the
// server's settings, the other asks for a password and has its own rules.
func TestListenerOwnAuth(t *testing.T) {
	_, addrs := serveListeners(t, Config{},
		ListenerOptions{},
		ListenerOptions{Name: "secure", Authenticator: onePassword{}, Authorizer: noSecrets{}})
	open, secure := addrs[0], addrs[1]

	anon := dial(t, open, packet.V311)
	anon.mustConnect("anon", true)
	if sa := anon.subscribe(1, "secret/#", 0); sa.ReasonCodes[0] != 0 {
		t.Fatalf("open listener: SUBACK %#x, want granted", byte(sa.ReasonCodes[0]))
	}

	refused := dial(t, secure, packet.V5)
	if ack := refused.connect("anon2", true); ack.ReasonCode != packet.NotAuthorized {
		t.Fatalf("secure listener, anonymous: CONNACK %#x, want 0x87", byte(ack.ReasonCode))
	}
	wrong := dial(t, secure, packet.V311)
	if ack := wrong.connect("eve", true, withLogin("bob", "guess")); ack.ReasonCode == 0 {
		t.Fatal("secure listener: wrong password accepted")
	}
	bob := dial(t, secure, packet.V311)
	bob.mustConnect("bob", true, withLogin("bob", "pw"))
	if sa := bob.subscribe(1, "secret/#", 0); sa.ReasonCodes[0] != packet.SubackFailure311 {
		t.Fatalf("secure listener: SUBACK %#x, want 0x80 (its Authorizer)", byte(sa.ReasonCodes[0]))
	}
	if sa := bob.subscribe(2, "news/#", 0); sa.ReasonCodes[0] != 0 {
		t.Fatalf("secure listener: SUBACK %#x, want granted", byte(sa.ReasonCodes[0]))
	}
	// Its publisher may not publish to secret/ either; the open one may.
	bob.send(&packet.Publish{Topic: "secret/1", Payload: []byte("no")})
	anon.expectNothing(50 * time.Millisecond)
	pub := dial(t, open, packet.V311)
	pub.mustConnect("pub", true)
	pub.send(&packet.Publish{Topic: "secret/2", Payload: []byte("yes")})
	if p := anon.recvPublish(); string(p.Payload) != "yes" {
		t.Fatalf("got %q, want yes", p.Payload)
	}
}

func TestServeWithBadDurability(t *testing.T) {
	s, err := New(Config{Logger: testLogger(), SysInterval: -1})
	must(t, err)
	defer s.Shutdown(context.Background())
	if err := s.ServeWith(loopback(t), ListenerOptions{Durability: "often"}); err == nil {
		t.Fatal("unknown durability accepted")
	}
}

// A listener in memory mode acknowledges a QoS 1 PUBLISH while the store's
// sync is still pending; one in sync mode waits for the sync.
func TestListenerDurabilityMemory(t *testing.T) {
	st := newPipeStore()
	t.Cleanup(func() { st.Close() })
	_, addrs := serveListeners(t, Config{Store: st},
		ListenerOptions{Durability: DurabilitySync},
		ListenerOptions{Durability: DurabilityMemory})
	t.Cleanup(st.completeAll) // before the server stops
	syncAddr, memAddr := addrs[0], addrs[1]

	sub := dial(t, syncAddr, packet.V311)
	sub.mustConnect("sub", true)
	sub.subscribe(1, "p", 1)

	fast := dial(t, memAddr, packet.V311)
	fast.mustConnect("fast", true)
	base := st.ordered()
	fast.send(&packet.Publish{Topic: "p", QoS: 1, PacketID: 1, Payload: []byte("m")})
	st.await(t, base+1) // ordered, not durable
	fast.recvAck(packet.PUBACK)
	if p := sub.recvPublish(); string(p.Payload) != "m" {
		t.Fatalf("got %q, want m", p.Payload)
	}
	sub.send(&packet.Ack{PacketType: packet.PUBACK, PacketID: 1}) // its own commit may wait: nothing to see

	slow := dial(t, syncAddr, packet.V311)
	slow.mustConnect("slow", true)
	n := st.ordered()
	slow.send(&packet.Publish{Topic: "p", QoS: 1, PacketID: 1, Payload: []byte("s")})
	c := st.await(t, n+1)
	slow.expectNothing(100 * time.Millisecond)
	c.done <- nil
	slow.recvAck(packet.PUBACK)
}

// aclFile writes rules to a file and loads them.
func aclFile(t *testing.T, rules string) *auth.ACL {
	t.Helper()
	path := filepath.Join(t.TempDir(), "acl")
	must(t, os.WriteFile(path, []byte(rules), 0o600))
	acl, err := auth.LoadACLFile(path)
	must(t, err)
	return acl
}

// userRules is an Authorizer whose rules never change (not auth.Versioned):
// alice may read everything, others everything but secret/.
type userRules struct{}

func (userRules) Allow(_ context.Context, c auth.ClientInfo, _ auth.Action, t string) bool {
	return c.Username == "alice" || !strings.HasPrefix(t, "secret/")
}

const aliceBobACL = "user alice\ntopic readwrite secret/#\ntopic readwrite pub/#\nuser bob\ntopic readwrite pub/#\n"

// A persistent session resumed (or taken over) by another user keeps its
// subscriptions, but they are authorized again for the new user before
// they deliver: bob does not receive what alice's subscription allowed.
func TestResumedSessionAuthorizedAgain(t *testing.T) {
	for _, tc := range []struct {
		name     string
		authz    auth.Authorizer
		takeover bool
	}{
		{"acl-file", aclFile(t, aliceBobACL), false},
		{"acl-file-takeover", aclFile(t, aliceBobACL), true},
		{"fixed-rules", userRules{}, false},
		{"fixed-rules-takeover", userRules{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := startServer(t, Config{Authorizer: tc.authz, SysInterval: -1})
			alice := dial(t, addr, packet.V311)
			alice.mustConnect("dev", false, withLogin("alice", ""))
			alice.subscribe(1, "secret/#", 0)
			alice.subscribe(2, "pub/#", 0)
			pub := dial(t, addr, packet.V311)
			pub.mustConnect("pub", true, withLogin("alice", ""))
			pub.send(&packet.Publish{Topic: "secret/0", Payload: []byte("0")})
			if p := alice.recvPublish(); p.Topic != "secret/0" {
				t.Fatalf("alice got %s", p.Topic)
			}
			if !tc.takeover {
				alice.disconnect()
			}
			bob := dial(t, addr, packet.V311)
			if ack := bob.mustConnect("dev", false, withLogin("bob", "")); !ack.SessionPresent {
				t.Fatal("session not present")
			}
			pub.send(&packet.Publish{Topic: "secret/1", Payload: []byte("1")})
			pub.send(&packet.Publish{Topic: "pub/1", Payload: []byte("2")})
			if p := bob.recvPublish(); p.Topic != "pub/1" {
				t.Fatalf("bob got %s, want pub/1 only", p.Topic)
			}
			// Alice resuming it again reads secret/ again.
			bob.disconnect()
			alice = dial(t, addr, packet.V311)
			alice.mustConnect("dev", false, withLogin("alice", ""))
			pub.send(&packet.Publish{Topic: "secret/3", Payload: []byte("3")})
			if p := alice.recvPublish(); p.Topic != "secret/3" {
				t.Fatalf("alice got %s, want secret/3", p.Topic)
			}
		})
	}
}

// The subscriptions restored from the store at start-up are authorized for
// the identity of the connection that resumes them, before they deliver.
func TestRestoredSubscriptionsAuthorizedOnResume(t *testing.T) {
	st := memory.New()
	defer st.Close()
	acl := aclFile(t, aliceBobACL)
	addr, stop := runOn(t, Config{Store: st, Authorizer: acl})
	alice := dial(t, addr, packet.V311)
	alice.mustConnect("dev", false, withLogin("alice", ""))
	alice.subscribe(1, "secret/#", 0)
	alice.subscribe(2, "pub/#", 0)
	alice.disconnect()
	stop()

	addr, stop = runOn(t, Config{Store: st, Authorizer: acl})
	defer stop()
	bob := dial(t, addr, packet.V311)
	if ack := bob.mustConnect("dev", false, withLogin("bob", "")); !ack.SessionPresent {
		t.Fatal("session not present after restart")
	}
	pub := dial(t, addr, packet.V311)
	pub.mustConnect("pub", true, withLogin("alice", ""))
	pub.send(&packet.Publish{Topic: "secret/1", Payload: []byte("1")})
	pub.send(&packet.Publish{Topic: "pub/1", Payload: []byte("2")})
	if p := bob.recvPublish(); p.Topic != "pub/1" {
		t.Fatalf("bob got %s, want pub/1 only", p.Topic)
	}
}

// A session resumed through a listener with another Authorizer is
// authorized under that listener's rules.
func TestResumedThroughOtherListener(t *testing.T) {
	_, addrs := serveListeners(t, Config{},
		ListenerOptions{},
		ListenerOptions{Authorizer: noSecrets{}})
	c := dial(t, addrs[0], packet.V311)
	c.mustConnect("dev", false)
	c.subscribe(1, "secret/#", 0)
	c.subscribe(2, "pub/#", 0)
	c.disconnect()
	c = dial(t, addrs[1], packet.V311)
	c.mustConnect("dev", false)
	pub := dial(t, addrs[0], packet.V311)
	pub.mustConnect("pub", true)
	pub.send(&packet.Publish{Topic: "secret/1", Payload: []byte("1")})
	pub.send(&packet.Publish{Topic: "pub/1", Payload: []byte("2")})
	if p := c.recvPublish(); p.Topic != "pub/1" {
		t.Fatalf("got %s, want pub/1 only", p.Topic)
	}
}

// A client that re-authenticates as another user (MQTT 5 AUTH) has its
// subscriptions authorized again for that user.
func TestReauthAsOtherUserAuthorizedAgain(t *testing.T) {
	users := map[string]SCRAMCredentials{}
	for _, u := range []string{"alice", "bob"} {
		cred, err := NewSCRAMCredentials("pw-"+u, []byte("salt-of-"+u), 4096)
		must(t, err)
		users[u] = cred
	}
	_, addr := startServer(t, Config{Authorizer: userRules{}, SysInterval: -1,
		EnhancedAuth: []EnhancedAuth{NewSCRAMSHA256(func(u string) (SCRAMCredentials, bool) {
			c, ok := users[u]
			return c, ok
		})}})
	c := dial(t, addr, packet.V5)
	sc := scramClient("alice", "pw-alice", "n1")
	c.send(scramConnect("dev", sc.First()))
	a := c.recv().(*packet.Auth)
	c.send(authPacket(clientFinal(t, sc, a.Properties.AuthData)))
	if ack := c.recv().(*packet.Connack); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", byte(ack.ReasonCode))
	}
	c.subscribe(1, "secret/#", 0)
	c.subscribe(2, "pub/#", 0)
	pub := dial(t, addr, packet.V311)
	pub.mustConnect("pub", true, withLogin("alice", ""))
	pub.send(&packet.Publish{Topic: "secret/0", Payload: []byte("0")})
	if p := c.recvPublish(); p.Topic != "secret/0" {
		t.Fatalf("alice got %s", p.Topic)
	}

	sc = scramClient("bob", "pw-bob", "n2")
	re := authPacket(sc.First())
	re.ReasonCode = packet.ReAuthenticate
	c.send(re)
	a = c.recv().(*packet.Auth)
	c.send(authPacket(clientFinal(t, sc, a.Properties.AuthData)))
	if a = c.recv().(*packet.Auth); a.ReasonCode != packet.Success {
		t.Fatalf("AUTH %#x, want 0x00", byte(a.ReasonCode))
	}
	pub.send(&packet.Publish{Topic: "secret/1", Payload: []byte("1")})
	pub.send(&packet.Publish{Topic: "pub/1", Payload: []byte("2")})
	if p := c.recvPublish(); p.Topic != "pub/1" {
		t.Fatalf("bob got %s, want pub/1 only", p.Topic)
	}
}
