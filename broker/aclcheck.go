package broker

import (
	"math"
	"sync/atomic"

	"github.com/tern-mq/tern/auth"
)

// Subscriptions and ACL reloads. A subscription is authorized when it is
// made; when the Authorizer's rules change (auth.Versioned: an ACL file
// reloaded on SIGHUP), a subscriber that lost the right to read its filter
// must stop receiving. Each subscription carries a subACL: the last
// decision with the generation of the rules it was taken under. Routing
// compares that generation with the current one (one atomic load per
// matching subscription while nothing changes), asks the Authorizer again
// when they differ, and skips a denied subscription. A subscription allowed
// again by a later reload receives again.

// A subscription is authorized for an identity: the user name of the
// client and the listener it connected through (whose Authorizer decides).
// A persistent session resumed under another identity (another user name,
// another listener, or a re-authentication as another user) has every
// verdict of its subscriptions dropped, so that each is decided again, for
// the new identity, before its next delivery; so are the subscriptions
// restored from the store at start-up, whose identity is unknown until a
// connection resumes them (until then they deliver as when they were made).

// subACL is the cached authorization of one subscription, shared by the
// copies of its subscription value (the trie's and the client's).
type subACL struct {
	who atomic.Pointer[aclWho] // nil: not known yet (restored from the store)
	// verdict is generation<<1 | denied; staleVerdict until first checked.
	verdict atomic.Uint64
}

// aclWho is the identity a subscription is authorized for.
type aclWho struct {
	info auth.ClientInfo
	lst  *listenerState // the listener of the connection (nil: Config's Authorizer)
}

// staleVerdict is the verdict of a subscription not yet checked under any
// generation (its generation, 2^63-1, is never current).
const staleVerdict = math.MaxUint64

// newSubACL returns the cached authorization of a new subscription of c.
// With rules that change, it is checked again at its first delivery, since
// the rules may have changed since it was allowed; otherwise it stands
// (under generation 0) until the session changes identity.
func (s *Server) newSubACL(c *conn) *subACL {
	a := &subACL{}
	a.who.Store(c.identity())
	if vs := s.aclVersions.Load(); vs != nil && len(*vs) > 0 {
		a.verdict.Store(staleVerdict)
	}
	return a
}

// restoredSubACL returns the authorization of a subscription restored from
// the store: its identity is set, and it is decided, once a connection
// resumes the session.
func restoredSubACL() *subACL {
	a := &subACL{}
	a.verdict.Store(staleVerdict)
	return a
}

// rebindSubsLocked gives the subscriptions of cl the identity of c, which
// resumes the session (or re-authenticated): those authorized for another
// identity (or for none yet) are decided again before their next delivery.
// cl.mu is held.
func (s *Server) rebindSubsLocked(cl *client, c *conn) {
	var w *aclWho
	for _, sub := range cl.subs {
		a := sub.acl
		if a == nil {
			continue
		}
		if old := a.who.Load(); old != nil && old.lst == c.lst && old.info == c.authz {
			continue
		}
		if w == nil {
			w = c.identity()
			s.aclRebound.Store(true)
		}
		// who before verdict: a routing that decided for the old identity
		// sees who changed and drops its verdict (see denied).
		a.who.Store(w)
		a.verdict.Store(staleVerdict)
	}
}

// identity returns the identity of c's client, shared by its
// subscriptions. Only c's reader calls it.
func (c *conn) identity() *aclWho {
	if w := c.who; w != nil && w.info == c.authz {
		return w
	}
	c.who = &aclWho{info: c.authz, lst: c.lst}
	return c.who
}

// addACLVersion adds an Authorizer whose rules change at run time (one
// added twice counts twice in the sum: harmless).
func (s *Server) addACLVersion(v auth.Versioned) {
	for {
		old := s.aclVersions.Load()
		var vs []auth.Versioned
		if old != nil {
			vs = append(vs, *old...)
		}
		vs = append(vs, v)
		if s.aclVersions.CompareAndSwap(old, &vs) {
			return
		}
	}
}

// aclGeneration returns the generation of the Authorizers' rules (the sum
// of theirs: it changes when any changes), and false when nothing is to
// be checked again: no rules change and no session changed identity.
func (s *Server) aclGeneration() (uint64, bool) {
	var gen uint64
	vs := s.aclVersions.Load()
	if vs != nil {
		for _, v := range *vs {
			gen += v.Generation()
		}
	}
	if (vs == nil || len(*vs) == 0) && !s.aclRebound.Load() {
		return 0, false
	}
	return gen & (math.MaxUint64 >> 1), true
}

// denied reports whether a subscription to filter is no longer allowed
// under the rules of generation gen; filter is the one authorized when
// subscribing (the inner filter of a shared subscription).
func (s *Server) denied(a *subACL, filter string, gen uint64) bool {
	v := a.verdict.Load()
	if v>>1 == gen {
		return v&1 == 1 // the common case: decided under the current rules
	}
	w := a.who.Load()
	if w == nil {
		return false // restored, not resumed yet: as when it was made
	}
	ok := s.authorizer(w.lst).Allow(s.ctx, w.info, auth.Subscribe, filter)
	nv := gen << 1
	if !ok {
		nv |= 1
	}
	// Concurrent routings store the same decision (one racing a newer
	// reload may store an older generation: decided again next time); the
	// one that changes it logs.
	old := a.verdict.Swap(nv)
	if a.who.Load() != w {
		// The session changed identity meanwhile: decided again next time.
		a.verdict.CompareAndSwap(nv, staleVerdict)
	}
	if wasDenied := old != staleVerdict && old&1 == 1; wasDenied == ok {
		if ok {
			s.log.Info("subscription authorized again: its messages are delivered", "client", w.info.ClientID,
				"username", w.info.Username, "filter", filter)
		} else {
			s.stats.auth.subscriptionsRevoked.Add(1)
			s.log.Info("subscription no longer authorized: its messages are skipped", "client", w.info.ClientID,
				"username", w.info.Username, "filter", filter)
		}
	}
	return !ok
}
