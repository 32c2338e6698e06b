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

// subACL is the cached authorization of one subscription, shared by the
// copies of its subscription value (the trie's and the client's).
type subACL struct {
	who auth.ClientInfo // the client as it subscribed
	// verdict is generation<<1 | denied; staleVerdict until first checked.
	verdict atomic.Uint64
}

// staleVerdict is the verdict of a subscription not yet checked under any
// generation (its generation, 2^63-1, is never current).
const staleVerdict = math.MaxUint64

// newSubACL returns the cached authorization of a new subscription of c:
// checked again at its first delivery, since the rules may have changed
// since it was allowed. nil when the Authorizer's rules never change.
func (s *Server) newSubACL(c *conn) *subACL {
	if s.aclVersion == nil {
		return nil
	}
	a := &subACL{who: c.authz}
	a.verdict.Store(staleVerdict)
	return a
}

// aclGeneration returns the generation of the Authorizer's rules, and
// false when they never change (nothing to check again).
func (s *Server) aclGeneration() (uint64, bool) {
	if s.aclVersion == nil {
		return 0, false
	}
	return s.aclVersion.Generation() & (math.MaxUint64 >> 1), true
}

// denied reports whether a subscription to filter is no longer allowed
// under the rules of generation gen; filter is the one authorized when
// subscribing (the inner filter of a shared subscription).
func (s *Server) denied(a *subACL, filter string, gen uint64) bool {
	v := a.verdict.Load()
	if v>>1 == gen {
		return v&1 == 1 // the common case: decided under the current rules
	}
	ok := s.cfg.Authorizer.Allow(s.ctx, a.who, auth.Subscribe, filter)
	nv := gen << 1
	if !ok {
		nv |= 1
	}
	// Concurrent routings store the same decision (one racing a newer
	// reload may store an older generation: decided again next time); the
	// one that changes it logs.
	old := a.verdict.Swap(nv)
	if wasDenied := old != staleVerdict && old&1 == 1; wasDenied == ok {
		if ok {
			s.log.Info("subscription authorized again: its messages are delivered", "client", a.who.ClientID,
				"username", a.who.Username, "filter", filter)
		} else {
			s.stats.auth.subscriptionsRevoked.Add(1)
			s.log.Info("subscription no longer authorized: its messages are skipped", "client", a.who.ClientID,
				"username", a.who.Username, "filter", filter)
		}
	}
	return !ok
}
