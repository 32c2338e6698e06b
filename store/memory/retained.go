package memory

import (
	"strings"
	"sync"
)

// tree indexes retained messages by topic level: one node per level, a
// message on the node of its topic name's last level. Matching a filter
// follows its literal levels directly and only fans out at '+' and '#', so a
// filter with a literal prefix visits only the topics under that prefix.
//
// One RWMutex guards the tree: writes are O(levels); a match holds the read
// lock while it collects the matching messages, and the caller's function
// runs after the lock is released.
type tree[M any] struct {
	mu   sync.RWMutex
	root node[M]
	n    int // messages stored
}

type node[M any] struct {
	children map[string]*node[M]
	msg      *M
}

// set stores msg under name, or removes the message of name when msg is nil.
// It reports the message it replaced or removed.
func (t *tree[M]) set(name string, msg *M) (old *M) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if msg == nil {
		old = t.root.remove(name)
	} else {
		old = t.root.put(name, msg)
	}
	switch {
	case old == nil && msg != nil:
		t.n++
	case old != nil && msg == nil:
		t.n--
	}
	return old
}

func (n *node[M]) put(name string, msg *M) *M {
	for {
		level, rest, more := strings.Cut(name, "/")
		c := n.children[level]
		if c == nil {
			if n.children == nil {
				n.children = make(map[string]*node[M], 1)
			}
			c = &node[M]{}
			n.children[level] = c
		}
		n = c
		if !more {
			break
		}
		name = rest
	}
	old := n.msg
	n.msg = msg
	return old
}

// remove clears the message of name and prunes the nodes left empty.
func (n *node[M]) remove(name string) *M {
	level, rest, more := strings.Cut(name, "/")
	c := n.children[level]
	if c == nil {
		return nil
	}
	var old *M
	if more {
		old = c.remove(rest)
	} else {
		old, c.msg = c.msg, nil
	}
	if c.msg == nil && len(c.children) == 0 {
		delete(n.children, level)
	}
	return old
}

// get returns the message stored under name, or nil.
func (t *tree[M]) get(name string) *M {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := &t.root
	for {
		level, rest, more := strings.Cut(name, "/")
		if n = n.children[level]; n == nil {
			return nil
		}
		if !more {
			return n.msg
		}
		name = rest
	}
}

// len returns the number of messages stored.
func (t *tree[M]) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.n
}

// match appends to out every message whose topic name matches filter and
// returns the extended slice. A filter starting with a wildcard does not
// match names starting with '$' ([MQTT-4.7.2-1], [MQTT5-4.7.2-1]).
func (t *tree[M]) match(filter string, out []*M) []*M {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.root.match(filter, true, out)
}

func (n *node[M]) match(filter string, root bool, out []*M) []*M {
	for {
		level, rest, more := strings.Cut(filter, "/")
		switch level {
		case "#":
			// '#' matches the parent level too: "a/#" matches "a".
			if !root && n.msg != nil {
				out = append(out, n.msg)
			}
			for name, c := range n.children {
				if root && strings.HasPrefix(name, "$") {
					continue
				}
				out = c.all(out)
			}
			return out
		case "+":
			for name, c := range n.children {
				if root && strings.HasPrefix(name, "$") {
					continue
				}
				if more {
					out = c.match(rest, false, out)
				} else if c.msg != nil {
					out = append(out, c.msg)
				}
			}
			return out
		}
		c := n.children[level]
		if c == nil {
			return out
		}
		if !more {
			if c.msg != nil {
				out = append(out, c.msg)
			}
			return out
		}
		n, filter, root = c, rest, false
	}
}

// all appends the messages of n and of every node below it.
func (n *node[M]) all(out []*M) []*M {
	if n.msg != nil {
		out = append(out, n.msg)
	}
	for _, c := range n.children {
		out = c.all(out)
	}
	return out
}
