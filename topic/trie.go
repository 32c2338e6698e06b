package topic

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Trie is a concurrent index from topic filters to subscribers, one level of the filter per
// node. K identifies a subscriber (for example a session pointer) and V holds its options for
// one filter. The zero value is not usable; create a Trie with NewTrie.
//
// Each node has its own lock, so Match calls from many goroutines proceed in parallel, and
// Subscribe and Unsubscribe cost O(depth of the filter), independent of the number of
// subscriptions or of siblings under one level. See the package documentation for the
// consistency guarantee.
type Trie[K comparable, V any] struct {
	root node[K, V]
	n    atomic.Int64
}

// node is one level of a filter. Its fields are guarded by mu, except parent-independent
// immutable ones (filter, level) that are set at creation.
type node[K comparable, V any] struct {
	mu       sync.RWMutex
	filter   string // the whole filter up to and including this level
	level    string // this level; "+" and "#" hang off plus and hash in the parent
	dead     bool   // unlinked from its parent; never reused
	children map[string]*node[K, V]
	plus     *node[K, V]
	hash     *node[K, V]
	entries  map[K]V
}

// NewTrie returns an empty Trie.
func NewTrie[K comparable, V any]() *Trie[K, V] {
	return &Trie[K, V]{}
}

// Len returns the number of (filter, subscriber) entries.
func (t *Trie[K, V]) Len() int { return int(t.n.Load()) }

// child returns the child of n for level, or nil. n.mu must be held.
func (n *node[K, V]) child(level string) *node[K, V] {
	switch level {
	case "+":
		return n.plus
	case "#":
		return n.hash
	}
	return n.children[level]
}

// empty reports whether n holds no entries and no children. n.mu must be held.
func (n *node[K, V]) empty() bool {
	return len(n.entries) == 0 && len(n.children) == 0 && n.plus == nil && n.hash == nil
}

// addChild creates the child of n for the level filter[start:end]. n.mu must be held for writing.
func (n *node[K, V]) addChild(filter string, end int) *node[K, V] {
	f := strings.Clone(filter[:end]) // do not retain the caller's (possibly large) buffer
	lstart := strings.LastIndexByte(f, '/') + 1
	c := &node[K, V]{filter: f, level: f[lstart:]}
	switch c.level {
	case "+":
		n.plus = c
	case "#":
		n.hash = c
	default:
		if n.children == nil {
			n.children = make(map[string]*node[K, V])
		}
		n.children[c.level] = c
	}
	return c
}

// removeChild unlinks c from n. Both locks must be held for writing.
func (n *node[K, V]) removeChild(c *node[K, V]) {
	switch c.level {
	case "+":
		n.plus = nil
	case "#":
		n.hash = nil
	default:
		delete(n.children, c.level)
	}
	c.dead = true
}

// Subscribe adds k's entry for filter with options v, or replaces v if k already has an entry
// for exactly this filter; replaced reports the latter. The filter is stored as given: callers
// validate it first (ValidFilter, ParseShared).
func (t *Trie[K, V]) Subscribe(filter string, k K, v V) (replaced bool) {
retry:
	for {
		n := &t.root
		for i := 0; ; {
			end := levelEnd(filter, i)
			n.mu.RLock()
			c, dead := n.child(filter[i:end]), n.dead
			n.mu.RUnlock()
			if dead {
				continue retry
			}
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
		// A live node cannot be unlinked while it holds an entry, and its ancestors cannot be
		// unlinked while it is linked, so an entry added to a live node is reachable from the root.
		n.mu.Lock()
		if n.dead {
			n.mu.Unlock()
			continue
		}
		if n.entries == nil {
			n.entries = make(map[K]V, 1)
		}
		_, replaced = n.entries[k]
		n.entries[k] = v
		n.mu.Unlock()
		if !replaced {
			t.n.Add(1)
		}
		return replaced
	}
}

// Unsubscribe removes k's entry for exactly filter, and reports whether there was one. Nodes
// left without entries and children are removed.
func (t *Trie[K, V]) Unsubscribe(filter string, k K) (removed bool) {
	var buf [16]*node[K, V]
retry:
	for {
		path := append(buf[:0], &t.root)
		n := &t.root
		for i := 0; ; {
			end := levelEnd(filter, i)
			n.mu.RLock()
			c, dead := n.child(filter[i:end]), n.dead
			n.mu.RUnlock()
			if dead {
				continue retry
			}
			if c == nil {
				return false
			}
			n = c
			path = append(path, n)
			if end == len(filter) {
				break
			}
			i = end + 1
		}
		n.mu.Lock()
		if n.dead {
			n.mu.Unlock()
			continue
		}
		_, removed = n.entries[k]
		if removed {
			delete(n.entries, k)
		}
		prune := n.empty()
		n.mu.Unlock()
		if !removed {
			return false
		}
		t.n.Add(-1)
		if prune {
			t.prune(path)
		}
		return true
	}
}

// prune unlinks empty nodes from the end of path upwards. Locks are taken parent before child,
// the same top-down order as everywhere else, so pruning cannot deadlock.
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
// would decide, including the '$' rule [MQTT-4.7.2-1]. One subscriber with several overlapping
// filters that match name is reported once per filter; deciding what to deliver is up to the
// caller. Match allocates nothing itself.
//
// fn runs while a read lock on the filter's node is held: it must be quick, must not block, and
// must not call Subscribe, Unsubscribe or Match on the same Trie.
func (t *Trie[K, V]) Match(name string, fn func(filter string, k K, v V)) {
	t.root.match(name, 0, len(name) > 0 && name[0] == '$', fn)
}

// match visits the nodes below n that match name from index i (the start of a level) on.
// skipWild drops the wildcard children (the '$' rule at the root).
func (n *node[K, V]) match(name string, i int, skipWild bool, fn func(string, K, V)) {
	end := levelEnd(name, i)
	n.mu.RLock()
	exact := n.children[name[i:end]]
	var plus, hash *node[K, V]
	if !skipWild {
		plus, hash = n.plus, n.hash
	}
	n.mu.RUnlock()
	if hash != nil {
		hash.report(fn) // "a/#" matches every name below "a", whatever follows
	}
	last := end == len(name)
	for _, c := range [2]*node[K, V]{plus, exact} {
		if c == nil {
			continue
		}
		if last {
			c.reportLast(fn)
		} else {
			c.match(name, end+1, false, fn)
		}
	}
}

// reportLast reports the entries of n, reached by the last level of a name, and those of its
// '#' child, which also matches the parent level ("sport/#" matches "sport").
func (n *node[K, V]) reportLast(fn func(string, K, V)) {
	n.mu.RLock()
	for k, v := range n.entries {
		fn(n.filter, k, v)
	}
	hash := n.hash
	n.mu.RUnlock()
	if hash != nil {
		hash.report(fn)
	}
}

// report reports the entries of n.
func (n *node[K, V]) report(fn func(string, K, V)) {
	n.mu.RLock()
	for k, v := range n.entries {
		fn(n.filter, k, v)
	}
	n.mu.RUnlock()
}
