package broker

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tern-mq/tern/packet"
)

// The guard keeps, per client address and per client identifier, what
// the connection rate limit and the bans need: a token bucket of new
// connections, the limit violations of a window, and the end of a ban.
// Its maps are bounded (maxGuardEntries each): when full, entries that
// carry nothing (a full bucket, no recent violation, no ban) are dropped
// first, then arbitrary unbanned ones.

// maxGuardEntries bounds the addresses, and the client identifiers,
// remembered.
const maxGuardEntries = 65536

type guard struct {
	active atomic.Bool // a rate or bans are configured

	mu        sync.Mutex
	rate      float64 // new connections per second per address; 0: no limit
	burst     float64
	threshold int           // violations within window that ban; 0: no bans
	window    time.Duration // of the violations
	ban       time.Duration // length of a ban; 0: no bans
	max       int

	addrs map[netip.Prefix]*guardEntry
	ids   map[string]*guardEntry
}

type guardEntry struct {
	tokens  float64
	last    time.Time // of the bucket
	strikes int       // violations since since
	since   time.Time
	until   time.Time // banned before this time
	logged  bool      // a refusal was logged at warn level: the next ones at debug, until one is admitted or a ban begins
}

// newGuard returns the guard of l (with its defaults).
func newGuard(l *Limits) *guard {
	g := &guard{max: maxGuardEntries, addrs: map[netip.Prefix]*guardEntry{}, ids: map[string]*guardEntry{}}
	g.configure(l)
	return g
}

// configure sets the connection rate and the bans of l; the buckets and
// the bans in force are kept (bans end when they were due to).
func (g *guard) configure(l *Limits) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rate, g.burst, g.window = l.ConnectionRate, float64(l.ConnectionBurst), l.BanWindow
	g.threshold, g.ban = 0, 0
	if l.BanThreshold > 0 && l.BanDuration > 0 {
		g.threshold, g.ban = l.BanThreshold, l.BanDuration
	}
	g.active.Store(g.rate > 0 || g.ban > 0)
}

// addrKey returns the key of an address: the IPv4 address, or the /64
// prefix of an IPv6 address (one host usually has a whole /64); false when
// addr has no IP address.
func addrKey(addr net.Addr) (netip.Prefix, bool) {
	var ip netip.Addr
	switch a := addr.(type) {
	case nil:
		return netip.Prefix{}, false
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		ap, err := netip.ParseAddrPort(addr.String())
		if err != nil {
			return netip.Prefix{}, false
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	if !ip.IsValid() {
		return netip.Prefix{}, false
	}
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.WithZone("").Prefix(bits)
	return p, true
}

// verdict is the guard's answer for a new connection.
type verdict uint8

const (
	admitted verdict = iota
	refusedBanned
	refusedRate
)

// admit decides about a new connection from key. A connection beyond the
// rate is a violation, and may begin a ban (banned). logIt tells whether
// to log a refusal at warn level: the first of a series, so that a flood
// does not flood the log.
func (g *guard) admit(key netip.Prefix, now time.Time) (v verdict, banned bool, logIt bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.addrs[key]
	if e == nil {
		if g.rate <= 0 {
			return admitted, false, false // nothing to remember
		}
		e = &guardEntry{tokens: g.burst, last: now}
		insertEntry(g, g.addrs, key, e, now)
	}
	logIt = !e.logged
	e.logged = true
	if now.Before(e.until) {
		return refusedBanned, false, logIt
	}
	if g.rate > 0 {
		e.tokens = min(g.burst, e.tokens+now.Sub(e.last).Seconds()*g.rate)
		e.last = now
		if e.tokens < 1 {
			banned = g.strikeLocked(e, now)
			return refusedRate, banned, logIt || banned
		}
		e.tokens--
	}
	e.logged = false
	return admitted, false, false
}

// bannedID reports whether a client identifier is banned, and whether to
// log the refusal at warn level.
func (g *guard) bannedID(id string, now time.Time) (banned, logIt bool) {
	if !g.active.Load() || id == "" {
		return false, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.ids[id]
	if e == nil || !now.Before(e.until) {
		return false, false
	}
	logIt = !e.logged
	e.logged = true
	return true, logIt
}

// bannedAddr reports whether an address is banned.
func (g *guard) bannedAddr(key netip.Prefix, now time.Time) bool {
	if !g.active.Load() {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.addrs[key]
	return e != nil && now.Before(e.until)
}

// strike records a violation by an address (hasKey) and a client
// identifier (not empty); it reports which of them it bans.
func (g *guard) strike(key netip.Prefix, hasKey bool, id string, now time.Time) (addrBanned, idBanned bool) {
	if !g.active.Load() {
		return false, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ban == 0 {
		return false, false
	}
	if hasKey {
		e := g.addrs[key]
		if e == nil {
			e = &guardEntry{tokens: g.burst, last: now}
			insertEntry(g, g.addrs, key, e, now)
		}
		addrBanned = g.strikeLocked(e, now)
	}
	if id != "" {
		e := g.ids[id]
		if e == nil {
			e = &guardEntry{}
			insertEntry(g, g.ids, id, e, now)
		}
		idBanned = g.strikeLocked(e, now)
	}
	return addrBanned, idBanned
}

// strikeLocked counts a violation of e and bans it at the threshold.
func (g *guard) strikeLocked(e *guardEntry, now time.Time) bool {
	if g.ban == 0 || now.Before(e.until) {
		return false
	}
	if now.Sub(e.since) > g.window {
		e.strikes, e.since = 0, now
	}
	e.strikes++
	if e.strikes < g.threshold {
		return false
	}
	e.strikes, e.until, e.logged = 0, now.Add(g.ban), false
	return true
}

// insertEntry adds e to m, evicting first when m is full: the entries
// that carry nothing, and when that frees less than an eighth of the map,
// arbitrary unbanned entries (then any) down to seven eighths.
func insertEntry[K comparable](g *guard, m map[K]*guardEntry, k K, e *guardEntry, now time.Time) {
	if len(m) >= g.max {
		for k, e := range m {
			if g.idle(e, now) {
				delete(m, k)
			}
		}
		target := g.max - g.max/8
		for pass := 0; pass < 2 && len(m) > target; pass++ {
			for k, e := range m {
				if len(m) <= target {
					break
				}
				if pass == 1 || !now.Before(e.until) {
					delete(m, k)
				}
			}
		}
	}
	m[k] = e
}

// idle reports whether e can be forgotten: not banned, no violation in the
// window, a full bucket.
func (g *guard) idle(e *guardEntry, now time.Time) bool {
	if now.Before(e.until) || (e.strikes > 0 && now.Sub(e.since) <= g.window) {
		return false
	}
	return g.rate <= 0 || e.tokens+now.Sub(e.last).Seconds()*g.rate >= g.burst
}

// admit applies the connection rate limit and the address bans to a new
// connection, before its reader starts: false means it was closed, logged
// and counted.
func (s *Server) admit(nc net.Conn) bool {
	g := s.guard
	if !g.active.Load() {
		return true
	}
	key, ok := addrKey(nc.RemoteAddr())
	if !ok {
		return true
	}
	now := time.Now()
	v, banned, logIt := g.admit(key, now)
	if v == admitted {
		return true
	}
	remote := nc.RemoteAddr().String()
	level := slog.LevelDebug
	if logIt {
		level = slog.LevelWarn
	}
	if v == refusedBanned {
		s.stats.limits.banned.Add(1)
		s.log.Log(s.ctx, level, "connection refused: address banned", "remote", remote)
	} else {
		s.stats.limits.connRate.Add(1)
		l := s.limits()
		s.log.Log(s.ctx, level, "connection refused: connection rate exceeded", "remote", remote,
			"rate", l.ConnectionRate, "burst", l.ConnectionBurst)
		if banned {
			s.logBan("address", remote, "", "connection rate exceeded")
		}
	}
	nc.Close()
	return false
}

// checkBanned refuses the CONNECT of a banned client identifier or
// address: CONNACK 0x8A Banned (MQTT 5), 0x05 Not authorized before.
func (s *Server) checkBanned(c *conn, p *packet.Connect) error {
	g := s.guard
	if !g.active.Load() {
		return nil
	}
	now := time.Now()
	banned, logIt := g.bannedID(p.ClientID, now)
	what := "client identifier"
	if !banned {
		if key, ok := addrKey(c.nc.RemoteAddr()); ok && g.bannedAddr(key, now) {
			banned, logIt, what = true, true, "address"
		}
	}
	if !banned {
		return nil
	}
	s.stats.limits.banned.Add(1)
	level := slog.LevelDebug
	if logIt {
		level = slog.LevelWarn
	}
	s.log.Log(s.ctx, level, "connection refused: banned", "client", p.ClientID, "remote", c.remote, "banned", what)
	code := packet.ConnRefusedNotAuthorized311
	if p.Version == packet.V5 {
		code = packet.Banned
	}
	c.writeDirect(&packet.Connack{ReasonCode: code}, p.Version)
	return fmt.Errorf("CONNECT refused (%s): %s banned", connackText(code, p.Version == packet.V5), what)
}

// violation records a broken limit or a failed login of the client of c
// for the bans; id is its client identifier when the violation is its own
// (not for failed logins: an identifier proves nothing before).
func (s *Server) violation(c *conn, id, cause string) {
	g := s.guard
	if !g.active.Load() {
		return
	}
	key, ok := addrKey(c.nc.RemoteAddr())
	addrBanned, idBanned := g.strike(key, ok, id, time.Now())
	if addrBanned {
		s.logBan("address", c.remote, id, cause)
	}
	if idBanned {
		s.logBan("client identifier", c.remote, id, cause)
	}
}

func (s *Server) logBan(what, remote, id, cause string) {
	if what == "address" {
		s.stats.limits.addrBans.Add(1)
	} else {
		s.stats.limits.idBans.Add(1)
	}
	l := s.limits()
	s.log.Warn("banned", "banned", what, "client", id, "remote", remote, "cause", cause,
		"duration", l.BanDuration, "violations", l.BanThreshold, "window", l.BanWindow)
}
