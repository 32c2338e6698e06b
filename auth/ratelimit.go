package auth

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/tern-mq/tern/packet"
)

// RateLimit puts an exponential penalty on failed logins per client IP
// address (IPv6: per /64 prefix). The first Free failures cost nothing;
// each further failure bars the address for Base, then twice as long, up
// to Max. While barred, a CONNECT from the address is refused with
// Connection rate exceeded (0x9F; not authorized, 0x05, at levels 3 and 4)
// without asking Next, so a barred address also costs no password hashing.
// A successful login clears the address; so does a quiet period of Max
// after its last failure. A failure is a Deny from Next with Bad user name
// or password or Not authorized. Attempts run in parallel count against the
// free failures of an address that has failed before, so a burst of
// concurrent guesses gets no more tries than sequential ones (beyond
// MaxConcurrent for an address with no failure yet).
type RateLimit struct {
	Next Authenticator
	Free int           // failures without penalty; 0 means 3
	Base time.Duration // first penalty; 0 means one second
	Max  time.Duration // longest penalty, and the time after which a failure is forgotten; 0 means five minutes
	// MaxAddrs bounds the addresses remembered; 0 means 65,536. When full,
	// forgotten and expired entries are dropped first, then any.
	MaxAddrs int
	// MaxConcurrent bounds the attempts in flight from one address; 0 means 16.
	MaxConcurrent int
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu    sync.Mutex
	addrs map[string]*penalty
}

type penalty struct {
	failures int
	inflight int
	last     time.Time // last failure
	until    time.Time // barred before this time
}

func (l *RateLimit) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *RateLimit) params() (free int, base, maxd time.Duration, maxAddrs int) {
	free, base, maxd, maxAddrs = l.Free, l.Base, l.Max, l.MaxAddrs
	if free <= 0 {
		free = 3
	}
	if base <= 0 {
		base = time.Second
	}
	if maxd <= 0 {
		maxd = 5 * time.Minute
	}
	if maxAddrs <= 0 {
		maxAddrs = 65536
	}
	return
}

// addrKey returns the key of addr's IP, or "" when it has none (no rate
// limit): the IPv4 address, or the /64 prefix of an IPv6 address (one
// host usually has a whole /64).
func addrKey(addr net.Addr) string {
	var ip net.IP
	switch a := addr.(type) {
	case nil:
		return ""
	case *net.TCPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	default:
		host, _, err := net.SplitHostPort(addr.String())
		if err != nil {
			host = addr.String()
		}
		if ip = net.ParseIP(host); ip == nil {
			return host
		}
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.String()
	}
	if len(ip) == net.IPv6len {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

// Authenticate refuses a barred address, otherwise asks Next and records
// the outcome.
func (l *RateLimit) Authenticate(ctx context.Context, c ConnInfo) (Result, error) {
	key := addrKey(c.RemoteAddr)
	if key == "" {
		return l.Next.Authenticate(ctx, c)
	}
	p, ok := l.enter(key)
	if !ok {
		return Denied(packet.ConnectionRateExceeded, "too many failed logins from "+key), nil
	}
	r, err := l.Next.Authenticate(ctx, c)
	failed := err == nil && r.Decision == Deny &&
		(r.Code == packet.BadUsernameOrPassword || r.Code == packet.NotAuthorized)
	l.leave(key, p, failed, err == nil && r.Decision == Accept)
	return r, err
}

// enter admits an attempt from key, or reports false when the address is
// barred, when it has failed before and its attempts in flight could use
// up its free failures (past them, one attempt at a time), or when it has MaxConcurrent attempts in flight.
func (l *RateLimit) enter(key string) (*penalty, bool) {
	free, _, maxd, maxAddrs := l.params()
	maxConc := l.MaxConcurrent
	if maxConc <= 0 {
		maxConc = 16
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.addrs == nil {
		l.addrs = make(map[string]*penalty)
	}
	p := l.addrs[key]
	if p != nil && p.inflight == 0 && now.Sub(p.last) > maxd && !now.Before(p.until) {
		p.failures = 0 // forgiven
	}
	if p == nil {
		if len(l.addrs) >= maxAddrs {
			l.evict(now, maxd, maxAddrs)
		}
		p = &penalty{}
		l.addrs[key] = p
	}
	if now.Before(p.until) || p.inflight >= maxConc || (p.failures > 0 && p.inflight > 0 && p.failures+p.inflight >= free) {
		return nil, false
	}
	p.inflight++
	return p, true
}

func (l *RateLimit) leave(key string, p *penalty, failed, accepted bool) {
	free, base, maxd, _ := l.params()
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	p.inflight--
	switch {
	case accepted:
		p.failures, p.until = 0, time.Time{}
	case failed:
		p.failures++
		p.last = now
		if over := p.failures - free; over > 0 {
			d := maxd
			if over <= 30 && base<<(over-1) < maxd {
				d = base << (over - 1)
			}
			p.until = now.Add(d)
		}
	}
	if p.inflight == 0 && p.failures == 0 && l.addrs[key] == p {
		delete(l.addrs, key)
	}
}

// evict drops the forgotten entries, and arbitrary ones if that is not
// enough to make room. Called with mu held.
func (l *RateLimit) evict(now time.Time, maxd time.Duration, maxAddrs int) {
	for k, p := range l.addrs {
		if p.inflight == 0 && now.Sub(p.last) > maxd && !now.Before(p.until) {
			delete(l.addrs, k)
		}
	}
	for k := range l.addrs {
		if len(l.addrs) < maxAddrs {
			break
		}
		delete(l.addrs, k)
	}
}

// Barred reports until when the address of addr is barred (zero if it is not).
func (l *RateLimit) Barred(addr net.Addr) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.addrs[addrKey(addr)]; p != nil && l.now().Before(p.until) {
		return p.until
	}
	return time.Time{}
}
