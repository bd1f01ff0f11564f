package ledger

import (
	"math/rand/v2"
	"testing"

	"sequent/core/model"
)

// TestUndoneChainsDoNotGrowTheTransferIndex: a linked chain whose last event fails is
// undone, and its ids are free again, so a client may send the same chain any number of
// times; it changes no state. But each undone insert leaves a tombstone in the transfer
// id table, tombstones count against its load, and a table past its load always grows
// into one twice its size (idTable.prepareGrowth: never rehashed in place, never shrunk),
// so the index grows by about 8 bytes per undone insert for as long as the process runs:
// 300 such requests of 1,000 transfers take it from its first size to megabytes, and
// any client (or the matching engine resubmitting a refused step's chain, up to
// thousands of events per refusal) can grow it without bound, with requests that store
// nothing. A table with few live keys and many tombstones should be rebuilt at its size.
func TestUndoneChainsDoNotGrowTheTransferIndex(t *testing.T) {
	const chainLength, rounds = 1000, 300
	f := newFixture(t)
	chain := make([]model.Transfer, chainLength)
	for i := range chainLength - 1 {
		chain[i] = with(transfer(1_000_000+uint64(i), 1, 2, 1), func(t *model.Transfer) {
			t.Flags = model.TransferLinked
		})
	}
	chain[chainLength-1] = transfer(2_000_000, 1, 1, 1) // accounts_must_be_different
	var first uint64
	for round := range rounds {
		results := f.transfers(chain...)
		if results[chainLength-1].Status != model.StatusAccountsMustBeDifferent ||
			results[0].Status != model.StatusLinkedEventFailed {
			t.Fatalf("round %d: %s, %s", round, results[0].Status, results[chainLength-1].Status)
		}
		if _, transferBytes := f.ledger.MemoryBytes(); round == 0 {
			first = transferBytes
		}
	}
	if f.ledger.TransferCount() != 0 {
		t.Fatalf("%d transfers stored", f.ledger.TransferCount())
	}
	// The index rebuilt under the tombstones still stores and finds every id.
	chain[chainLength-2].Flags = 0
	for i, result := range f.transfers(chain[:chainLength-1]...) {
		if result.Status != model.StatusOK {
			t.Fatalf("chain event %d: %s", i, result.Status)
		}
	}
	for i, result := range f.transfers(chain[:chainLength-1]...) {
		if result.Status != model.StatusExists {
			t.Fatalf("chain event %d resent: %s", i, result.Status)
		}
	}
	if _, transferBytes := f.ledger.MemoryBytes(); transferBytes > 2*first {
		t.Fatalf("transfer storage and index %d bytes after %d undone chains of %d, %d after "+
			"the first: no transfer is stored", transferBytes, rounds, chainLength, first)
	}
}

// TestIDTableRebuiltAtItsSizeUnderUndoneChains drives a table (both hashes) with chains
// that are nearly all undone: it is rebuilt at its size again and again (each rebuild
// migrates while chains go on and are undone), every key is found during and after each
// migration, and the table stays at its first size while the keys are few.
func TestIDTableRebuiltAtItsSizeUnderUndoneChains(t *testing.T) {
	for _, grouped := range []bool{true, false} {
		random := rand.New(rand.NewPCG(5, 9))
		m := newIDTableModel(t, 77, grouped)
		next, rebuilds, migrating := uint64(1), 0, false
		for step := 0; step < 4000; step++ {
			chainStart := len(m.ids)
			for range random.IntN(50) + 1 {
				m.insert(model.U128(next))
				next++
			}
			if m.table.old != nil && !migrating {
				rebuilds++
			}
			migrating = m.table.old != nil
			if random.IntN(20) != 0 || len(m.ids) > 60 { // Undo nearly every chain.
				for len(m.ids) > chainStart {
					m.popNewest()
				}
			}
			if migrating || step%256 == 0 {
				m.check(random)
			}
		}
		m.check(random)
		if rebuilds < 3 || len(m.table.slots) != idTableSlotsMin {
			t.Fatalf("grouped %v: %d rebuilds, %d slots for %d keys", grouped, rebuilds,
				len(m.table.slots), len(m.ids))
		}
	}
}
