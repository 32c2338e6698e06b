package pebble

import pdb "github.com/cockroachdb/pebble/v2"

// KeyCount returns the number of keys in the engine, the version key
// included.
func (s *Store) KeyCount() (int, error) {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return 0, err
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	return n, it.Close()
}

// Compact compacts the whole key space, so that deleted keys leave the
// disk.
func (s *Store) Compact() error {
	return s.db.Compact(bgCtx, []byte{0}, []byte{0xff}, true)
}

// Metrics returns the engine's metrics.
func (s *Store) Metrics() *pdb.Metrics { return s.db.Metrics() }
