package session

import (
	"testing"

	"pgregory.net/rapid"
)

// idTable behaves like a map[uint16]int32 under random puts and deletes,
// including clustered keys that exercise backward-shift deletion.
func TestIDTableModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var tb idTable
		model := map[uint16]int32{}
		key := rapid.OneOf(rapid.Uint16Range(1, 40), rapid.Uint16Range(1, 65535))
		for range rapid.IntRange(0, 400).Draw(t, "steps") {
			k := key.Draw(t, "key")
			if rapid.Bool().Draw(t, "put") {
				v := rapid.Int32().Draw(t, "v")
				tb.put(k, v)
				model[k] = v
			} else {
				_, want := model[k]
				if got := tb.del(k); got != want {
					t.Fatalf("del(%d) = %v, want %v", k, got, want)
				}
				delete(model, k)
			}
			if tb.n != len(model) {
				t.Fatalf("n = %d, want %d", tb.n, len(model))
			}
		}
		for k, v := range model {
			if got, ok := tb.get(k); !ok || got != v {
				t.Fatalf("get(%d) = %d %v, want %d", k, got, ok, v)
			}
		}
		n := 0
		tb.each(func(k uint16, v int32) {
			n++
			if model[k] != v {
				t.Fatalf("each: %d=%d, model %d", k, v, model[k])
			}
		})
		if n != len(model) || tb.has(0) {
			t.Fatalf("each visited %d of %d", n, len(model))
		}
	})
}
