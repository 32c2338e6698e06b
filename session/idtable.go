package session

// idTable maps packet identifiers (never 0) to int32 values with open
// addressing and linear probing. Deletion shifts entries back instead of
// leaving tombstones, so a table of stable size never allocates.
type idTable struct {
	keys  []uint16 // 0 marks an empty bucket
	vals  []int32
	n     int
	shift uint32 // 32 - log2(len(keys))
}

func (t *idTable) bucket(id uint16) int {
	return int((uint32(id) * 0x9E3779B1) >> t.shift)
}

func (t *idTable) get(id uint16) (int32, bool) {
	if t.n == 0 || id == 0 {
		return 0, false
	}
	mask := len(t.keys) - 1
	for i := t.bucket(id); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case id:
			return t.vals[i], true
		case 0:
			return 0, false
		}
	}
}

func (t *idTable) has(id uint16) bool {
	_, ok := t.get(id)
	return ok
}

// put sets id's value; id must not be 0.
func (t *idTable) put(id uint16, v int32) {
	if (t.n+1)*2 > len(t.keys) {
		t.grow()
	}
	mask := len(t.keys) - 1
	for i := t.bucket(id); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case id:
			t.vals[i] = v
			return
		case 0:
			t.keys[i], t.vals[i] = id, v
			t.n++
			return
		}
	}
}

func (t *idTable) del(id uint16) bool {
	if t.n == 0 || id == 0 {
		return false
	}
	mask := len(t.keys) - 1
	i := t.bucket(id)
	for t.keys[i] != id {
		if t.keys[i] == 0 {
			return false
		}
		i = (i + 1) & mask
	}
	// Backward-shift deletion: move later members of the probe run into
	// the hole when their home bucket does not lie cyclically in (i, j].
	for j := (i + 1) & mask; t.keys[j] != 0; j = (j + 1) & mask {
		h := t.bucket(t.keys[j])
		if i <= j {
			if i < h && h <= j {
				continue
			}
		} else if i < h || h <= j {
			continue
		}
		t.keys[i], t.vals[i] = t.keys[j], t.vals[j]
		i = j
	}
	t.keys[i], t.vals[i] = 0, 0
	t.n--
	return true
}

func (t *idTable) grow() {
	size := 16
	if len(t.keys) > 0 {
		size = 2 * len(t.keys)
	}
	oldK, oldV := t.keys, t.vals
	t.keys, t.vals, t.n = make([]uint16, size), make([]int32, size), 0
	t.shift = 32
	for s := size; s > 1; s >>= 1 {
		t.shift--
	}
	for i, k := range oldK {
		if k != 0 {
			t.put(k, oldV[i])
		}
	}
}

func (t *idTable) clear() {
	clear(t.keys)
	clear(t.vals)
	t.n = 0
}

// each calls fn for every key, in no particular order.
func (t *idTable) each(fn func(id uint16, v int32)) {
	for i, k := range t.keys {
		if k != 0 {
			fn(k, t.vals[i])
		}
	}
}
