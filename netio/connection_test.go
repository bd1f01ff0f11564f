package netio

import (
	"testing"

	"sequent/core/backend"
)

// TestConnectionIDsStayBelowTheShardLimit inserts connections across the generation
// counter's wrap: every id stays below backend.ConnectionIDLimit (above it the shard would
// hand the reply to an internal waiter, and the client would never hear back), ids stay
// distinct, and generation 0 is never used.
func TestConnectionIDsStayBelowTheShardLimit(t *testing.T) {
	table := newConnectionTable(4)
	seen := map[uint64]bool{}
	for _, start := range []uint32{1<<31 - 3, 1<<32 - 3} {
		table.generation.Store(start)
		for range 6 {
			c := &connection{}
			if !table.insert(c) {
				t.Fatal("insert refused with free slots")
			}
			generation := c.id >> 32
			if c.id >= backend.ConnectionIDLimit || generation == 0 {
				t.Fatalf("connection id %#x (generation %d) after generation %d", c.id,
					generation, start)
			}
			if seen[c.id] {
				t.Fatalf("connection id %#x handed out twice", c.id)
			}
			seen[c.id] = true
			table.remove(c)
		}
	}
}
