package broker

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/packet"
)

// proxiedServer runs a server behind a PROXY protocol listener, so that
// each test connection can come from an address of its choice.
func proxiedServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	ln := ProxyProtocolListener(loopback(t), 0, testLogger())
	return serveOn(t, cfg, ln), ln.Addr().String()
}

// dialFrom connects to a proxiedServer as a client with IPv4 address ip.
func dialFrom(t *testing.T, addr, ip string, v packet.Version) *tclient {
	t.Helper()
	c := dial(t, addr, v)
	c.sendRaw(fmt.Appendf(nil, "PROXY TCP4 %s 192.0.2.1 40000 1883\r\n", ip))
	return c
}

// A client address beyond ConnectionRate (after its burst) has its
// connection closed before CONNECT; another address is not affected.
func TestConnectionRate(t *testing.T) {
	s, addr := proxiedServer(t, Config{ConnectionRate: 0.01, ConnectionBurst: 2})
	for i := range 2 {
		dialFrom(t, addr, "198.51.100.1", packet.V5).mustConnect(fmt.Sprint("a", i), true)
	}
	c := dialFrom(t, addr, "198.51.100.1", packet.V5)
	c.send(&packet.Connect{Version: packet.V5, CleanStart: true, ClientID: "a2"})
	if got := c.expectClosed(); len(got) != 0 {
		t.Fatalf("third connection: got %v, want closed", got)
	}
	dialFrom(t, addr, "198.51.100.2", packet.V311).mustConnect("b", true)
	if n := s.stats.limits.connRate.Load(); n != 1 {
		t.Fatalf("connection rate refusals %d, want 1", n)
	}
}

// denyPassword refuses the password "bad".
type denyPassword struct{}

func (denyPassword) Authenticate(_ context.Context, c auth.ConnInfo) (auth.Result, error) {
	if string(c.Password) == "bad" {
		return auth.Denied(packet.BadUsernameOrPassword, "bad password"), nil
	}
	return auth.Accepted, nil
}

func withPassword(pw string) connectOpt {
	return func(p *packet.Connect) {
		p.UsernameFlag, p.Username, p.PasswordFlag, p.Password = true, "u", true, []byte(pw)
	}
}

// BanThreshold failed logins ban the address: its next connections are
// closed, even with the right password; other addresses still connect.
func TestBanAfterFailedLogins(t *testing.T) {
	s, addr := proxiedServer(t, Config{Authenticator: denyPassword{}, BanThreshold: 3, BanDuration: time.Hour})
	for i := range 3 {
		c := dialFrom(t, addr, "203.0.113.5", packet.V5)
		if ack := c.connect(fmt.Sprint("x", i), true, withPassword("bad")); ack.ReasonCode != packet.BadUsernameOrPassword {
			t.Fatalf("CONNACK %#x, want 0x86", byte(ack.ReasonCode))
		}
	}
	c := dialFrom(t, addr, "203.0.113.5", packet.V5)
	c.send(&packet.Connect{Version: packet.V5, CleanStart: true, ClientID: "good", UsernameFlag: true, Username: "u",
		PasswordFlag: true, Password: []byte("good")})
	if got := c.expectClosed(); len(got) != 0 {
		t.Fatalf("banned address: got %v, want closed", got)
	}
	dialFrom(t, addr, "203.0.113.6", packet.V5).mustConnect("other", true, withPassword("good"))
	if a, b := s.stats.limits.addrBans.Load(), s.stats.limits.banned.Load(); a != 1 || b != 1 {
		t.Fatalf("bans %d, refusals while banned %d; want 1 and 1", a, b)
	}
}

// A client that keeps breaking a limit (here the publish rate) is banned
// by client identifier too: from another address its CONNECT gets
// CONNACK 0x8A Banned (MQTT 5) or 0x05 (3.1.1).
func TestBanClientID(t *testing.T) {
	s, addr := proxiedServer(t, Config{PublishRate: 0.01, PublishBurst: 1, BanThreshold: 2, BanDuration: time.Hour})
	for range 2 {
		c := dialFrom(t, addr, "198.51.100.7", packet.V5)
		c.mustConnect("noisy", true)
		c.send(&packet.Publish{Topic: "t", Payload: []byte("1")})
		c.send(&packet.Publish{Topic: "t", Payload: []byte("2")})
		c.expectDisconnect(packet.MessageRateTooHigh)
	}
	for _, tc := range []struct {
		v    packet.Version
		want packet.ReasonCode
	}{{packet.V5, packet.Banned}, {packet.V311, packet.ConnRefusedNotAuthorized311}} {
		c := dialFrom(t, addr, "198.51.100.8", tc.v)
		if ack := c.connect("noisy", true); ack.ReasonCode != tc.want {
			t.Fatalf("v%d: CONNACK %#x, want %#x", tc.v, byte(ack.ReasonCode), byte(tc.want))
		}
		c.expectClosed()
	}
	// The address is banned too: closed at once.
	c := dialFrom(t, addr, "198.51.100.7", packet.V5)
	c.send(&packet.Connect{Version: packet.V5, CleanStart: true, ClientID: "quiet"})
	if got := c.expectClosed(); len(got) != 0 {
		t.Fatalf("banned address: got %v", got)
	}
	dialFrom(t, addr, "198.51.100.8", packet.V5).mustConnect("quiet", true)
	if a, i := s.stats.limits.addrBans.Load(), s.stats.limits.idBans.Load(); a != 1 || i != 1 {
		t.Fatalf("address bans %d, client identifier bans %d; want 1 and 1", a, i)
	}
}

func TestGuardBanExpiresAndWindow(t *testing.T) {
	g := newGuard(&Limits{BanThreshold: 2, BanWindow: time.Minute, BanDuration: 10 * time.Minute})
	key := netip.MustParsePrefix("192.0.2.9/32")
	t0 := time.Unix(1_000_000, 0)
	// Two violations further apart than the window do not ban.
	if a, _ := g.strike(key, true, "", t0); a {
		t.Fatal("banned after one violation")
	}
	if a, _ := g.strike(key, true, "", t0.Add(2*time.Minute)); a {
		t.Fatal("banned by violations in different windows")
	}
	if a, _ := g.strike(key, true, "", t0.Add(2*time.Minute+time.Second)); !a {
		t.Fatal("not banned after two violations in a window")
	}
	at := t0.Add(2*time.Minute + time.Second)
	if v, _, logIt := g.admit(key, at.Add(time.Minute)); v != refusedBanned || !logIt {
		t.Fatalf("during the ban: %v (log %v)", v, logIt)
	}
	if v, _, logIt := g.admit(key, at.Add(2*time.Minute)); v != refusedBanned || logIt {
		t.Fatalf("during the ban, again: %v (log %v), want refused at debug level", v, logIt)
	}
	if v, _, _ := g.admit(key, at.Add(10*time.Minute)); v != admitted {
		t.Fatalf("after the ban: %v", v)
	}
}

// The guard remembers a bounded number of addresses; when full it forgets
// the idle ones and then unbanned ones, keeping bans.
func TestGuardBounded(t *testing.T) {
	g := newGuard(&Limits{ConnectionRate: 1, ConnectionBurst: 1, BanThreshold: 1, BanDuration: time.Hour})
	g.max = 64
	now := time.Unix(1_000_000, 0)
	bannedKey := netip.MustParsePrefix("10.255.0.1/32")
	g.strike(bannedKey, true, "", now)
	for i := range 1000 {
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		key, _ := ip.Prefix(32)
		g.admit(key, now) // each uses its only token: not idle
		if len(g.addrs) > g.max {
			t.Fatalf("%d addresses remembered, bound %d", len(g.addrs), g.max)
		}
	}
	if v, _, _ := g.admit(bannedKey, now); v != refusedBanned {
		t.Fatalf("the banned address was forgotten: %v", v)
	}
	// IPv6 addresses share a key per /64.
	a, _ := addrKey(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2::5")})
	b, _ := addrKey(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::9")})
	c, _ := addrKey(&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1")})
	if a != b || a.Bits() != 64 || c.String() != "192.0.2.1/32" {
		t.Fatalf("keys %v %v %v", a, b, c)
	}
}

// The refusals of the connection rate and the bans are in /metrics.
func TestGuardMetrics(t *testing.T) {
	s, addr := proxiedServer(t, Config{ConnectionRate: 0.01, ConnectionBurst: 1, BanThreshold: 2, BanDuration: time.Hour})
	hs := httptest.NewServer(s.AdminHandler())
	defer hs.Close()
	dialFrom(t, addr, "192.0.2.50", packet.V5).mustConnect("m", true)
	for range 3 { // two beyond the rate ban the address; the third is refused as banned
		c := dialFrom(t, addr, "192.0.2.50", packet.V5)
		c.send(&packet.Connect{Version: packet.V5, CleanStart: true, ClientID: "m2"})
		c.expectClosed()
	}
	mf := scrape(t, hs.URL)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tern_limit_refusals_total", []string{"kind", "connection rate"}, 2},
		{"tern_limit_refusals_total", []string{"kind", "banned"}, 1},
		{"tern_bans_total", []string{"banned", "address"}, 1},
		{"tern_bans_total", []string{"banned", "client identifier"}, 0},
	} {
		if got := value(mf, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}
