package broker

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/packet"
)

// When the ACL is reloaded, a subscriber that lost read access to its
// filter stops receiving its messages (plain and shared subscriptions);
// access given back by a later reload delivers again.
func TestACLReloadRevokesSubscriptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acl")
	write := func(rules string) {
		t.Helper()
		must(t, os.WriteFile(path, []byte(rules), 0o600))
	}
	write("user alice\ntopic readwrite a/#\ntopic readwrite b/#\n")
	acl, err := auth.LoadACLFile(path)
	must(t, err)
	s, addr := startServer(t, Config{Authorizer: acl, SysInterval: -1})

	sub := dial(t, addr, packet.V311)
	sub.mustConnect("sub", true, withLogin("alice", ""))
	sub.subscribe(1, "a/#", 0)
	sub.subscribe(2, "b/#", 0)
	shared := dial(t, addr, packet.V5)
	shared.mustConnect("shared", true, withLogin("alice", ""))
	shared.subscribe(1, "$share/g/a/#", 0)
	shared.subscribe(2, "b/#", 0)
	pub := dial(t, addr, packet.V311)
	pub.mustConnect("pub", true, withLogin("alice", ""))

	expect := func(c *tclient, topic string) {
		t.Helper()
		if p := c.recvPublish(); p.Topic != topic {
			t.Fatalf("got %s, want %s", p.Topic, topic)
		}
	}
	publish := func(topic string) {
		t.Helper()
		pub.send(&packet.Publish{Topic: topic, Payload: []byte(topic)})
	}
	publish("a/1")
	expect(sub, "a/1")
	expect(shared, "a/1")

	// Read access to a/# withdrawn: a/2 is skipped, b/1 after it arrives.
	write("user alice\ntopic write a/#\ntopic readwrite b/#\n")
	must(t, acl.Reload())
	publish("a/2")
	publish("b/1")
	expect(sub, "b/1")
	expect(shared, "b/1")
	if n := s.stats.auth.subscriptionsRevoked.Load(); n != 2 {
		t.Fatalf("subscriptions revoked %d, want 2", n)
	}

	// Given back: delivered again.
	write("user alice\ntopic readwrite a/#\ntopic readwrite b/#\n")
	must(t, acl.Reload())
	publish("a/3")
	expect(sub, "a/3")
	expect(shared, "a/3")

	// A reload that changes nothing for them keeps them.
	write("user alice\ntopic readwrite a/#\ntopic readwrite b/#\ntopic read c\n")
	must(t, acl.Reload())
	publish("a/4")
	expect(sub, "a/4")
	expect(shared, "a/4")
	if n := s.stats.auth.subscriptionsRevoked.Load(); n != 2 {
		t.Fatalf("subscriptions revoked %d, want still 2", n)
	}
}

// Routing with an ACL that never changes asks nothing more than before.
func BenchmarkRouteWithACL(b *testing.B) {
	path := filepath.Join(b.TempDir(), "acl")
	if err := os.WriteFile(path, []byte("topic readwrite #\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	acl, err := auth.LoadACLFile(path)
	if err != nil {
		b.Fatal(err)
	}
	s, addr := startServer(b, Config{Authorizer: acl, SysInterval: -1})
	c := dial(b, addr, packet.V311)
	c.mustConnect("sub", true)
	c.subscribe(1, "t/#", 0)
	m := s.newMessage(time.Now(), &packet.Publish{Topic: "t/x", Payload: []byte("x")})
	b.ReportAllocs()
	for b.Loop() {
		r := routerPool.Get().(*router)
		r.srv = s
		r.aclGen, r.checkACL = s.aclGeneration()
		s.subs.Match(m.Topic, r.add)
		r.reset()
		routerPool.Put(r)
	}
}
