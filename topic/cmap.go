package topic

import (
	"sync"
	"sync/atomic"
)

// smallMap is the size up to which a cmap keeps its pairs in a copy-on-write slice; above it
// they move to a sync.Map, so that a write stays O(1) however large the map grows.
const smallMap = 8

// cmap is a map for one writer at a time (the owner holds a lock around put and del) and any
// number of concurrent lock-free readers (load, and iteration through sets). Small maps are an
// immutable slice replaced on each write: compact, and fast to scan. Large ones are a sync.Map
// changed in place. Readers never allocate.
type cmap[K comparable, V any] struct {
	set atomic.Pointer[cset[K, V]] // nil when empty
	n   int                        // number of pairs; guarded by the owner's lock
}

// cset is one representation of a cmap's contents: small is immutable; big is used if non-nil.
type cset[K comparable, V any] struct {
	small []pair[K, V]
	big   *sync.Map
}

type pair[K comparable, V any] struct {
	k K
	v V
}

// load returns the value for k. It needs no lock.
func (m *cmap[K, V]) load(k K) (v V, ok bool) {
	s := m.set.Load()
	if s == nil {
		return v, false
	}
	if s.big == nil {
		for i := range s.small {
			if s.small[i].k == k {
				return s.small[i].v, true
			}
		}
		return v, false
	}
	x, ok := s.big.Load(k)
	if !ok {
		return v, false
	}
	return x.(V), true
}

// put adds or replaces k's value. The owner's lock must be held.
func (m *cmap[K, V]) put(k K, v V) (replaced bool) {
	s := m.set.Load()
	switch {
	case s == nil:
		m.set.Store(&cset[K, V]{small: []pair[K, V]{{k, v}}})
	case s.big != nil:
		if _, replaced = s.big.Swap(k, v); replaced {
			return true
		}
	default:
		for i := range s.small {
			if s.small[i].k == k {
				small := append([]pair[K, V](nil), s.small...)
				small[i].v = v
				m.set.Store(&cset[K, V]{small: small})
				return true
			}
		}
		if len(s.small) < smallMap {
			small := append(append(make([]pair[K, V], 0, len(s.small)+1), s.small...), pair[K, V]{k, v})
			m.set.Store(&cset[K, V]{small: small})
		} else {
			big := new(sync.Map)
			for _, p := range s.small {
				big.Store(p.k, p.v)
			}
			big.Store(k, v)
			m.set.Store(&cset[K, V]{big: big})
		}
	}
	m.n++
	return false
}

// del removes k. The owner's lock must be held.
func (m *cmap[K, V]) del(k K) (removed bool) {
	s := m.set.Load()
	switch {
	case s == nil:
		return false
	case s.big != nil:
		if _, removed = s.big.LoadAndDelete(k); !removed {
			return false
		}
		if m.n-1 <= smallMap/2 { // back to a slice, with hysteresis
			small := make([]pair[K, V], 0, m.n-1)
			s.big.Range(func(k, v any) bool {
				small = append(small, pair[K, V]{k.(K), v.(V)})
				return true
			})
			m.set.Store(&cset[K, V]{small: small})
		}
	default:
		i := -1
		for j := range s.small {
			if s.small[j].k == k {
				i = j
				break
			}
		}
		if i < 0 {
			return false
		}
		if len(s.small) == 1 {
			m.set.Store(nil)
		} else {
			small := append(append(make([]pair[K, V], 0, len(s.small)-1), s.small[:i]...), s.small[i+1:]...)
			m.set.Store(&cset[K, V]{small: small})
		}
	}
	m.n--
	return true
}
