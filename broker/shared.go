package broker

import (
	"hash/maphash"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tern-mq/tern/auth"
	"github.com/tern-mq/tern/packet"
	"github.com/tern-mq/tern/session"
	"github.com/tern-mq/tern/topic"
)

// Shared subscriptions ($share/{group}/{filter}, MQTT 5 section 4.8.2,
// also accepted from 3.1.1 clients). Each (group, filter) pair is one
// shareGroup in a trie of its own, keyed by the inner filter; a matching
// message goes to one member of each matching group, chosen by
// Config.SharePolicy among the members that are connected (among all
// members when none is: the message waits in that member's session).
//
// Lock order: a client's mu, then sharedSubs.mu. The trie callback takes
// no lock: members are chosen after Match returns, from a copy-on-write
// slice, and a member's mu is only taken to see whether it is connected.

// Share policies (Config.SharePolicy).
const (
	ShareRoundRobin = "round-robin" // the default: members in turn
	ShareRandom     = "random"      // a uniformly random member
	ShareHashTopic  = "hash-topic"  // a topic always goes to the same member while the group is unchanged
	ShareHashClient = "hash-client" // a publisher's messages always go to the same member while the group is unchanged
)

// shareGroup is one shared subscription: its members and their options.
type shareGroup struct {
	full    string // "$share/group/filter", the key in each member's subs
	filter  string // the inner filter
	members atomic.Pointer[[]shareMember]
	next    atomic.Uint32
}

type shareMember struct {
	cl  *client
	sub subscription
}

// sharedSubs is the server's registry of shared subscriptions.
type sharedSubs struct {
	policy string
	seed   maphash.Seed
	trie   *topic.Trie[*shareGroup, struct{}]

	members atomic.Int64 // (member, group) pairs, for Stats

	mu      sync.Mutex
	groups  map[string]*shareGroup
	pending []handoff // messages of ended members, to deliver to the rest of their group
}

// handoff is a message of a member whose session ended, for its group.
type handoff struct {
	g *shareGroup
	d session.Delivery
}

func newSharedSubs(policy string) *sharedSubs {
	return &sharedSubs{
		policy: policy,
		seed:   maphash.MakeSeed(),
		trie:   topic.NewTrie[*shareGroup, struct{}](),
		groups: make(map[string]*shareGroup),
	}
}

// isShared reports whether filter is a shared subscription's.
func isShared(filter string) bool { return strings.HasPrefix(filter, "$share/") }

// addSub adds or replaces the subscription of cl to filter, shared or not.
func (s *Server) addSub(filter string, cl *client, sub subscription) {
	if !isShared(filter) {
		s.subs.Subscribe(filter, cl, sub)
		return
	}
	_, inner, _, err := topic.ParseShared(filter)
	if err != nil {
		return // checked by the caller
	}
	sh := s.shared
	sh.mu.Lock()
	defer sh.mu.Unlock()
	g := sh.groups[filter]
	if g == nil {
		g = &shareGroup{full: filter, filter: inner}
		g.members.Store(&[]shareMember{})
		sh.groups[filter] = g
		sh.trie.Subscribe(inner, g, struct{}{})
	}
	old := *g.members.Load()
	ms := make([]shareMember, 0, len(old)+1)
	for _, m := range old {
		if m.cl != cl {
			ms = append(ms, m)
		}
	}
	ms = append(ms, shareMember{cl: cl, sub: sub})
	g.members.Store(&ms)
	sh.members.Add(int64(len(ms) - len(old)))
}

// removeSub removes the subscription of cl to filter, shared or not.
func (s *Server) removeSub(filter string, cl *client) {
	if !isShared(filter) {
		s.subs.Unsubscribe(filter, cl)
		return
	}
	sh := s.shared
	sh.mu.Lock()
	defer sh.mu.Unlock()
	g := sh.groups[filter]
	if g == nil {
		return
	}
	old := *g.members.Load()
	ms := make([]shareMember, 0, len(old))
	for _, m := range old {
		if m.cl != cl {
			ms = append(ms, m)
		}
	}
	g.members.Store(&ms)
	sh.members.Add(int64(len(ms) - len(old)))
	if len(ms) == 0 {
		delete(sh.groups, filter)
		sh.trie.Unsubscribe(g.filter, g)
	}
}

// handOverLocked collects, when cl's session ends, the QoS 1 and 2
// messages its shared subscriptions gave it that it has not received:
// queued ones, QoS 1 ones in flight, and QoS 2 ones not yet sent (a QoS 2
// message sent to a member goes to no other [MQTT5-4.8.2-5]). They go to
// the remaining members of the group with the next flush. cl.mu is held,
// before its subscriptions are removed.
func (s *Server) handOverLocked(cl *client) {
	if cl.sess == nil {
		return
	}
	var groups []*shareGroup
	s.shared.mu.Lock()
	for f := range cl.subs {
		if g := s.shared.groups[f]; g != nil {
			groups = append(groups, g)
		}
	}
	s.shared.mu.Unlock()
	if len(groups) == 0 {
		return
	}
	st := cl.sess.State()
	var out []handoff
	take := func(d session.Delivery) {
		if d.QoS == 0 {
			return
		}
		for _, g := range groups {
			if topic.Match(g.filter, d.Msg.Topic) {
				out = append(out, handoff{g: g, d: d})
				return
			}
		}
	}
	for _, e := range st.Inflight {
		if e.Stage == session.AwaitPuback || (e.Stage == session.AwaitPubrec && !e.Sent) {
			take(e.Delivery)
		}
	}
	for _, e := range st.Queue {
		take(e.Delivery)
	}
	if len(out) > 0 {
		s.shared.mu.Lock()
		s.shared.pending = append(s.shared.pending, out...)
		s.shared.mu.Unlock()
	}
}

// flushHandoffs delivers the messages of ended members to their groups.
// No lock is held.
func (s *Server) flushHandoffs() {
	s.shared.mu.Lock()
	p := s.shared.pending
	s.shared.pending = nil
	s.shared.mu.Unlock()
	now := time.Now()
	for _, h := range p {
		m, ok := s.pick(h.g, h.d.Msg.Topic, nil)
		if !ok {
			continue // no member left: the message ends with the session
		}
		t := target{cl: m.cl, qos: m.sub.qos, rap: m.sub.rap, subIDs: m.sub.subIDs}
		s.deliver(&t, h.d.Msg, now, nil)
	}
}

// matchShared appends to r one target per shared subscription matching
// name.
func (s *Server) matchShared(name string, r *router) {
	s.shared.trie.Match(name, r.addGroup)
	for _, g := range r.groups {
		if m, ok := s.pick(g, name, r.from); ok {
			r.targets = append(r.targets, target{cl: m.cl, qos: m.sub.qos, rap: m.sub.rap, subIDs: m.sub.subIDs})
		}
	}
	clear(r.groups)
	r.groups = r.groups[:0]
}

// pick chooses the member of g that receives a message on name published
// by from (nil: a will, or a hand-over).
func (s *Server) pick(g *shareGroup, name string, from *client) (shareMember, bool) {
	ms := *g.members.Load()
	n := len(ms)
	if n == 0 {
		return shareMember{}, false
	}
	var start int
	switch s.shared.policy {
	case ShareRandom:
		start = rand.IntN(n)
	case ShareHashTopic:
		start = int(maphash.String(s.shared.seed, name) % uint64(n))
	case ShareHashClient:
		key := name
		if from != nil {
			key = from.id
		}
		start = int(maphash.String(s.shared.seed, key) % uint64(n))
	default:
		start = int(g.next.Add(1)-1) % n
	}
	alive := -1
	gen, checkACL := s.aclGeneration()
	for i := range n {
		m := ms[(start+i)%n]
		if checkACL && m.sub.acl != nil && s.denied(m.sub.acl, g.filter, gen) {
			continue // no longer authorized since an ACL reload
		}
		switch connected, ended := m.cl.state(); {
		case connected:
			return m, true
		case !ended && alive < 0:
			alive = (start + i) % n
		}
	}
	if alive < 0 {
		return shareMember{}, false
	}
	return ms[alive], true
}

// state reports whether cl has a connection and whether its session ended.
func (cl *client) state() (connected, ended bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.conn != nil && !cl.removed, cl.removed
}

// subscribeShared handles one $share/ filter of a SUBSCRIBE (cl.mu held):
// the reason code for SUBACK, or a protocol error.
func (s *Server) subscribeShared(c *conn, f string, o packet.SubOptions, subIDs []uint32) (packet.ReasonCode, error) {
	v5 := c.version == packet.V5
	_, inner, _, err := topic.ParseShared(f)
	if err != nil {
		if v5 {
			return packet.TopicFilterInvalid, nil // 0x8F
		}
		return packet.SubackFailure311, nil
	}
	if !s.allow(c, auth.Subscribe, inner) { // authorized as its topic filter
		return deniedCode(c.version), nil
	}
	if v5 && o.NoLocal { // [MQTT5-3.8.3-4]
		return 0, protocolError("No Local on a shared subscription")
	}
	cl := c.cl
	if cl.subs == nil {
		cl.subs = make(map[string]subscription)
	}
	sub := subscription{qos: o.QoS, rap: o.RetainAsPublished, rh: o.RetainHandling, subIDs: subIDs, acl: s.newSubACL(c)}
	cl.subs[f] = sub
	s.addSub(f, cl, sub)
	// No retained messages on a shared subscription (section 4.8.2).
	return packet.ReasonCode(o.QoS), nil
}
