package topic

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Trie is a concurrent index from topic filters to subscribers, one level of the filter per
// node. K identifies a subscriber (for example a session pointer) and V holds its options for
// one filter. Create a Trie with NewTrie.
//
// Match reads the trie without locks or writes to shared memory, so publishes proceed in
// parallel on all cores. Subscribe and Unsubscribe lock one node at a time (two when removing
// an empty node) and cost O(levels of the filter), independent of the number of subscriptions,
// of siblings under one level and of subscribers of one filter. See the package documentation
// for the consistency guarantee.
type Trie[K comparable, V any] struct {
	root node[K, V]
	n    atomic.Int64
}

// node is one level of a filter. Readers use only the atomic fields; writers hold mu.
type node[K comparable, V any] struct {
	filter string // the whole filter up to and including this level; immutable
	level  string // this level; "+" and "#" children hang off plus and hash; immutable

	children cmap[string, *node[K, V]] // by level, for levels other than "+" and "#"
	plus     atomic.Pointer[node[K, V]]
	hash     atomic.Pointer[node[K, V]]
	entries  cmap[K, V]

	mu     sync.Mutex // serialises writers of the fields above and guards the ones below
	dead   bool       // unlinked from its parent (only ever when empty); never reused
	nchild int        // children, counting plus and hash
}

// NewTrie returns an empty Trie.
func NewTrie[K comparable, V any]() *Trie[K, V] {
	return &Trie[K, V]{}
}

// Len returns the number of (filter, subscriber) entries.
func (t *Trie[K, V]) Len() int { return int(t.n.Load()) }

// child returns the child of n for a filter level, or nil. It needs no lock.
func (n *node[K, V]) child(level string) *node[K, V] {
	switch level {
	case "+":
		return n.plus.Load()
	case "#":
		return n.hash.Load()
	}
	return n.exact(level)
}

// exact returns the child of n for a level of a name, or nil. It needs no lock.
func (n *node[K, V]) exact(level string) *node[K, V] {
	c, _ := n.children.load(level)
	return c
}

// empty reports whether n holds no entries and no children. n.mu must be held.
func (n *node[K, V]) empty() bool { return n.entries.n == 0 && n.nchild == 0 }

// addChild creates and links the child of n for the last level of filter[:end]. n.mu must be held.
func (n *node[K, V]) addChild(filter string, end int) *node[K, V] {
	f := strings.Clone(filter[:end]) // do not retain the caller's (possibly large) buffer
	c := &node[K, V]{filter: f, level: f[strings.LastIndexByte(f, '/')+1:]}
	switch c.level {
	case "+":
		n.plus.Store(c)
	case "#":
		n.hash.Store(c)
	default:
		n.children.put(c.level, c)
	}
	n.nchild++
	return c
}

// removeChild unlinks c from n and marks it dead. Both locks must be held.
func (n *node[K, V]) removeChild(c *node[K, V]) {
	switch c.level {
	case "+":
		n.plus.Store(nil)
	case "#":
		n.hash.Store(nil)
	default:
		n.children.del(c.level)
	}
	n.nchild--
	c.dead = true
}

// Subscribe adds k's entry for filter with options v, or replaces v if k already has an entry
// for exactly this filter [MQTT-3.8.4-3] [MQTT5-3.8.4-3]; replaced reports the latter. The
// filter is stored as given: callers validate it first (ValidFilter, ParseShared).
func (t *Trie[K, V]) Subscribe(filter string, k K, v V) (replaced bool) {
retry:
	for {
		n := &t.root
		for i := 0; ; {
			end := levelEnd(filter, i)
			c := n.child(filter[i:end])
			if c == nil {
				n.mu.Lock()
				if n.dead {
					n.mu.Unlock()
					continue retry
				}
				if c = n.child(filter[i:end]); c == nil {
					c = n.addChild(filter, end)
				}
				n.mu.Unlock()
			}
			n = c
			if end == len(filter) {
				break
			}
			i = end + 1
		}
		// A node is unlinked only when it holds no entry and no child, so a live node is reachable
		// from the root through live nodes, and so is an entry added to it.
		n.mu.Lock()
		if n.dead {
			n.mu.Unlock()
			continue
		}
		if replaced = n.entries.put(k, v); !replaced {
			t.n.Add(1) // under the lock, so that Len never goes below zero
		}
		n.mu.Unlock()
		return replaced
	}
}

// Unsubscribe removes k's entry for exactly filter, compared level by level and byte for byte
// whether or not it has wildcards [MQTT-3.10.4-1] [MQTT5-3.10.4-1], and reports whether there was
// one. No Match that starts after Unsubscribe returns reports the entry [MQTT-3.10.4-2]
// [MQTT5-3.10.4-2]. Nodes left without entries and children are removed.
func (t *Trie[K, V]) Unsubscribe(filter string, k K) (removed bool) {
	var buf [16]*node[K, V]
	path := append(buf[:0], &t.root)
	n := &t.root
	for i := 0; ; {
		end := levelEnd(filter, i)
		// A missing child means the filter had no entry at some point during this call: either
		// n is live, or n was unlinked, and so empty, after we reached it.
		if n = n.child(filter[i:end]); n == nil {
			return false
		}
		path = append(path, n)
		if end == len(filter) {
			break
		}
		i = end + 1
	}
	n.mu.Lock()
	removed = !n.dead && n.entries.del(k) // a dead node was empty when it died, during this call
	if removed {
		t.n.Add(-1)
	}
	prune := removed && n.empty()
	n.mu.Unlock()
	if !removed {
		return false
	}
	if prune {
		t.prune(path)
	}
	return true
}

// prune unlinks empty nodes from the end of path upwards. Locks are taken parent before child,
// and every other writer holds one lock at a time, so pruning cannot deadlock.
func (t *Trie[K, V]) prune(path []*node[K, V]) {
	for i := len(path) - 1; i > 0; i-- {
		p, c := path[i-1], path[i]
		p.mu.Lock()
		c.mu.Lock()
		ok := !c.dead && c.empty() && p.child(c.level) == c
		if ok {
			p.removeChild(c)
		}
		c.mu.Unlock()
		p.mu.Unlock()
		if !ok {
			return
		}
	}
}

// Match calls fn(filter, k, v) for every entry whose filter matches name, as Match(filter, name)
// would decide, including the '$' rule [MQTT-4.7.2-1] [MQTT5-4.7.2-1]. One subscriber with
// several overlapping filters that match name is reported once per filter; deciding what to
// deliver is up to the caller. Match takes no lock and allocates nothing itself.
//
// fn may call any method of the Trie, but should be quick: it runs on the publish path.
func (t *Trie[K, V]) Match(name string, fn func(filter string, k K, v V)) {
	t.root.match(name, 0, len(name) > 0 && name[0] == '$', fn)
}

// match visits the nodes below n that match name from index i (the start of a level) on.
// skipWild drops the wildcard children (the '$' rule at the root).
func (n *node[K, V]) match(name string, i int, skipWild bool, fn func(string, K, V)) {
	end := levelEnd(name, i)
	last := end == len(name)
	if !skipWild {
		if h := n.hash.Load(); h != nil {
			h.report(fn) // "a/#" matches every name below "a"
		}
		if p := n.plus.Load(); p != nil {
			p.next(name, end, last, fn)
		}
	}
	if c := n.exact(name[i:end]); c != nil {
		c.next(name, end, last, fn)
	}
}

// next continues a match at n, reached by the level of name ending at end.
func (n *node[K, V]) next(name string, end int, last bool, fn func(string, K, V)) {
	if !last {
		n.match(name, end+1, false, fn)
		return
	}
	n.report(fn)
	if h := n.hash.Load(); h != nil {
		h.report(fn) // "sport/#" matches "sport"
	}
}

// report calls fn for every entry of n.
func (n *node[K, V]) report(fn func(string, K, V)) {
	s := n.entries.set.Load()
	if s == nil {
		return
	}
	if s.big == nil {
		for i := range s.small {
			fn(n.filter, s.small[i].k, s.small[i].v)
		}
		return
	}
	s.big.Range(func(k, v any) bool {
		fn(n.filter, k.(K), v.(V))
		return true
	})
}
