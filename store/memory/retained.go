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

// node is one topic level. Children are kept in a slice, which is what the
// wildcard walks iterate; a map indexes them by level once there are more than
// indexAbove of them.
type node[M any] struct {
	level string
	pos   int // index in the parent's kids
	kids  []*node[M]
	index map[string]*node[M]
	msg   *M
}

const indexAbove = 8

func (n *node[M]) child(level string) *node[M] {
	if n.index != nil {
		return n.index[level]
	}
	for _, c := range n.kids {
		if c.level == level {
			return c
		}
	}
	return nil
}

func (n *node[M]) addChild(level string) *node[M] {
	c := &node[M]{level: level, pos: len(n.kids)}
	n.kids = append(n.kids, c)
	if n.index != nil {
		n.index[level] = c
	} else if len(n.kids) > indexAbove {
		n.index = make(map[string]*node[M], len(n.kids))
		for _, k := range n.kids {
			n.index[k.level] = k
		}
	}
	return c
}

func (n *node[M]) removeChild(c *node[M]) {
	last := len(n.kids) - 1
	moved := n.kids[last]
	n.kids[c.pos], moved.pos = moved, c.pos
	n.kids[last] = nil
	n.kids = n.kids[:last]
	if n.index != nil {
		delete(n.index, c.level)
	}
	if len(n.kids) == 0 {
		n.kids, n.index = nil, nil
	}
}

// set stores msg under name, or removes the message of name when msg is nil.
// It reports the message it replaced or removed.
func (t *tree[M]) set(name string, msg *M) (old *M) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if msg == nil {
		old = t.root.remove(name, nil)
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
		c := n.child(level)
		if c == nil {
			c = n.addChild(level)
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

// removeIf removes the message of name if it is still msg, and reports
// whether it did.
func (t *tree[M]) removeIf(name string, msg *M) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.root.remove(name, msg) == nil {
		return false
	}
	t.n--
	return true
}

// remove clears the message of name (only if it is want, when want is not
// nil) and prunes the nodes left empty.
func (n *node[M]) remove(name string, want *M) *M {
	level, rest, more := strings.Cut(name, "/")
	c := n.child(level)
	if c == nil {
		return nil
	}
	var old *M
	switch {
	case more:
		old = c.remove(rest, want)
	case want == nil || c.msg == want:
		old, c.msg = c.msg, nil
	}
	if c.msg == nil && len(c.kids) == 0 {
		n.removeChild(c)
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
		if n = n.child(level); n == nil {
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
			for _, c := range n.kids {
				if root && strings.HasPrefix(c.level, "$") {
					continue
				}
				out = c.all(out)
			}
			return out
		case "+":
			for _, c := range n.kids {
				if root && strings.HasPrefix(c.level, "$") {
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
		c := n.child(level)
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
	for _, c := range n.kids {
		out = c.all(out)
	}
	return out
}
