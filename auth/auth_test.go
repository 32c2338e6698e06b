package auth

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tern-mq/tern/packet"
)

func TestConnackCode(t *testing.T) {
	for _, tc := range []struct {
		r          Result
		level      byte
		want       packet.ReasonCode
		wantString string
	}{
		{Accepted, 5, packet.Success, ""},
		{Accepted, 4, packet.ConnAccepted311, ""},
		{Denied(packet.BadUsernameOrPassword, ""), 5, 0x86, ""},
		{Denied(packet.BadUsernameOrPassword, ""), 4, 0x04, ""},
		{Denied(packet.BadUsernameOrPassword, ""), 3, 0x04, ""},
		{Denied(packet.NotAuthorized, ""), 5, 0x87, ""},
		{Denied(packet.NotAuthorized, ""), 4, 0x05, ""},
		{Denied(packet.NotAuthorized, ""), 3, 0x05, ""},
		{Denied(packet.ConnectionRateExceeded, ""), 5, 0x9F, ""},
		{Denied(packet.ConnectionRateExceeded, ""), 4, 0x05, ""},
		{Result{Decision: Defer}, 5, 0x87, ""},
		{Result{Decision: Defer}, 4, 0x05, ""},
		{Denied(packet.Success, "a deny without a code"), 5, 0x87, ""},
	} {
		if got := tc.r.ConnackCode(tc.level); got != tc.want {
			t.Errorf("%+v.ConnackCode(%d) = %#x, want %#x", tc.r, tc.level, byte(got), byte(tc.want))
		}
	}
}

type fixed struct {
	r     Result
	err   error
	calls int
}

func (f *fixed) Authenticate(context.Context, ConnInfo) (Result, error) {
	f.calls++
	return f.r, f.err
}

func TestChain(t *testing.T) {
	ctx := context.Background()
	defer1, deny, accept := &fixed{r: Result{Decision: Defer}}, &fixed{r: Denied(packet.BadUsernameOrPassword, "")}, &fixed{r: Accepted}
	r, err := Chain{defer1, deny, accept}.Authenticate(ctx, ConnInfo{})
	if err != nil || r.Decision != Deny || r.Code != packet.BadUsernameOrPassword || accept.calls != 0 {
		t.Fatalf("defer, deny, accept: %+v %v (accept called %d times)", r, err, accept.calls)
	}
	if r, _ := (Chain{defer1, accept}).Authenticate(ctx, ConnInfo{}); !r.OK() {
		t.Fatalf("defer, accept: %+v", r)
	}
	if r, _ := (Chain{defer1}).Authenticate(ctx, ConnInfo{}); r.OK() || r.Code != packet.NotAuthorized {
		t.Fatalf("all defer: %+v, want not authorized", r)
	}
	if r, _ := (Chain{}).Authenticate(ctx, ConnInfo{}); r.OK() {
		t.Fatalf("empty chain accepted")
	}
	boom := errors.New("backend down")
	if _, err := (Chain{&fixed{err: boom}, accept}).Authenticate(ctx, ConnInfo{}); !errors.Is(err, boom) {
		t.Fatalf("error not passed on: %v", err)
	}
	if r, _ := (Anonymous{}).Authenticate(ctx, ConnInfo{HasUsername: true, Username: "u"}); r.Decision != Defer {
		t.Fatalf("Anonymous with a user name: %+v, want defer", r)
	}
	if r, _ := (AllowAll{}).Authenticate(ctx, ConnInfo{HasUsername: true, Username: "u"}); !r.OK() {
		t.Fatalf("AllowAll refused")
	}
}

type topicIs string

func (s topicIs) Allow(_ context.Context, _ ClientInfo, _ Action, t string) bool {
	return t == string(s)
}

func TestAllOf(t *testing.T) {
	ctx := context.Background()
	if !(AllOf{}).Allow(ctx, ClientInfo{}, Publish, "x") {
		t.Fatal("empty AllOf refused")
	}
	if !(AllOf{AllowAll{}, topicIs("x")}).Allow(ctx, ClientInfo{}, Publish, "x") {
		t.Fatal("AllOf refused what all allow")
	}
	if (AllOf{AllowAll{}, topicIs("y")}).Allow(ctx, ClientInfo{}, Publish, "x") {
		t.Fatal("AllOf allowed what one refuses")
	}
	for _, a := range []Action{Publish, Subscribe, Receive, 0} {
		if a.String() == "" {
			t.Fatalf("Action(%d) has no name", a)
		}
	}
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// passwordIs accepts the password "good" and counts its calls.
type passwordIs struct {
	mu    sync.Mutex
	calls int
	gate  chan struct{} // when set, each call waits for a value
}

func (p *passwordIs) Authenticate(_ context.Context, c ConnInfo) (Result, error) {
	p.mu.Lock()
	p.calls++
	gate := p.gate
	p.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if string(c.Password) == "good" {
		return Accepted, nil
	}
	return Denied(packet.BadUsernameOrPassword, "wrong password"), nil
}

func attempt(l *RateLimit, ip, password string) Result {
	r, _ := l.Authenticate(context.Background(), ConnInfo{
		Username: "u", HasUsername: true, Password: []byte(password), HasPassword: true,
		RemoteAddr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 1234},
	})
	return r
}

func TestRateLimitPenalty(t *testing.T) {
	clk := &clock{now: time.Unix(1_000_000, 0)}
	next := &passwordIs{}
	l := &RateLimit{Next: next, Free: 2, Base: time.Second, Max: 8 * time.Second, Now: clk.Now}
	const ip = "192.0.2.1"
	for i := 0; i < 2; i++ { // free failures
		if r := attempt(l, ip, "bad"); r.Code != packet.BadUsernameOrPassword {
			t.Fatalf("free failure %d: %+v", i, r)
		}
	}
	if !l.Barred(&net.TCPAddr{IP: net.ParseIP(ip)}).IsZero() {
		t.Fatal("barred within the free failures")
	}
	// The third failure bars for Base, then 2, 4, 8, 8 seconds.
	for i, want := range []time.Duration{1, 2, 4, 8, 8} {
		if r := attempt(l, ip, "bad"); r.Code != packet.BadUsernameOrPassword {
			t.Fatalf("failure %d: %+v", i, r)
		}
		until := l.Barred(&net.TCPAddr{IP: net.ParseIP(ip)})
		if got := until.Sub(clk.Now()); got != want*time.Second {
			t.Fatalf("penalty %d: %v, want %v", i, got, want*time.Second)
		}
		calls := next.calls
		// Barred: refused without asking Next, even with the right password.
		if r := attempt(l, ip, "good"); r.Code != packet.ConnectionRateExceeded || r.ConnackCode(4) != 0x05 {
			t.Fatalf("barred attempt: %+v", r)
		}
		if next.calls != calls {
			t.Fatal("a barred attempt reached the authenticator")
		}
		// Other addresses are not affected.
		if r := attempt(l, "192.0.2.2", "good"); !r.OK() {
			t.Fatalf("other address: %+v", r)
		}
		clk.Add(until.Sub(clk.Now()))
	}
	// Once the penalty is over a good password clears the address.
	if r := attempt(l, ip, "good"); !r.OK() {
		t.Fatalf("after the penalty: %+v", r)
	}
	for i := 0; i < 2; i++ {
		if r := attempt(l, ip, "bad"); r.Code != packet.BadUsernameOrPassword {
			t.Fatalf("free failure %d after success: %+v", i, r)
		}
	}
	// A quiet period of Max forgives the failures.
	clk.Add(9 * time.Second)
	for i := 0; i < 2; i++ {
		attempt(l, ip, "bad")
	}
	if !l.Barred(&net.TCPAddr{IP: net.ParseIP(ip)}).IsZero() {
		t.Fatal("failures before the quiet period still counted")
	}
	// Addresses with no IP are not limited.
	for i := 0; i < 10; i++ {
		r, _ := l.Authenticate(context.Background(), ConnInfo{Password: []byte("bad")})
		if r.Code != packet.BadUsernameOrPassword {
			t.Fatalf("no address: %+v", r)
		}
	}
}

// Concurrent guesses from an address that has failed get no more tries
// than its remaining free failures.
func TestRateLimitConcurrent(t *testing.T) {
	clk := &clock{now: time.Unix(1_000_000, 0)}
	next := &passwordIs{}
	l := &RateLimit{Next: next, Free: 3, Now: clk.Now}
	const ip = "198.51.100.7"
	attempt(l, ip, "bad") // one failure: two free ones left
	gate := make(chan struct{})
	next.mu.Lock()
	next.gate = gate
	next.mu.Unlock()
	const n = 10
	results := make(chan Result, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); results <- attempt(l, ip, "bad") }()
	}
	// Wait until the admitted attempts are inside Next and the others refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		next.mu.Lock()
		inside := next.calls - 1
		next.mu.Unlock()
		if inside+len(results) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("attempts stuck: %d inside, %d refused", inside, len(results))
		}
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	close(results)
	var refused int
	for r := range results {
		if r.Code == packet.ConnectionRateExceeded {
			refused++
		}
	}
	if admitted := n - refused; admitted != 2 {
		t.Fatalf("%d concurrent attempts admitted, want 2 (the free failures left)", admitted)
	}
}

func TestRateLimitBoundedMemory(t *testing.T) {
	clk := &clock{now: time.Unix(1_000_000, 0)}
	l := &RateLimit{Next: &passwordIs{}, MaxAddrs: 16, Now: clk.Now}
	for i := 0; i < 100; i++ {
		attempt(l, net.IPv4(10, 0, byte(i/256), byte(i)).String(), "bad")
	}
	l.mu.Lock()
	n := len(l.addrs)
	l.mu.Unlock()
	if n > 16 {
		t.Fatalf("%d addresses remembered, want at most 16", n)
	}
}

func TestRateLimitAddrKey(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{nil, ""},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 1}, "192.0.2.1"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 1}, "192.0.2.1"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 1}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::1"), Port: 1}, "2001:db8:1:2::/64"},
		{&net.UnixAddr{Name: "@sock", Net: "unix"}, "@sock"},
		{fakeAddr("198.51.100.3:80"), "198.51.100.3"},
		{fakeAddr("[2001:db8::1]:80"), "2001:db8::/64"},
	} {
		if got := addrKey(tc.addr); got != tc.want {
			t.Errorf("addrKey(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }
