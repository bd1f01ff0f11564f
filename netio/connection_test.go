package netio

import (
	"testing"

	"sequent/core/backend"
)

// TestConnectionIDsStayBelowTheShardLimit inserts connections across the generation
// counter's wraps: every id stays below backend.ClientConnectionLimit (above it a node's
// router, or the shard, would take the reply for one of its own requests, and the client
// would never hear back), ids stay distinct, and generation 0 is never used.
func TestConnectionIDsStayBelowTheShardLimit(t *testing.T) {
	table := newConnectionTable(4)
	for _, start := range []uint32{1<<30 - 3, 1<<31 - 3, 1<<32 - 3} {
		seen := map[uint64]bool{} // Ids repeat after a wrap, not within one.
		table.generation.Store(start)
		for range 6 {
			c := &connection{}
			if !table.insert(c) {
				t.Fatal("insert refused with free slots")
			}
			generation := c.id >> 32
			if c.id >= backend.ClientConnectionLimit || generation == 0 {
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
