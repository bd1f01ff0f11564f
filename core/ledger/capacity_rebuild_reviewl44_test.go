package ledger

import (
	"math/rand/v2"
	"testing"

	"sequent/core/model"
)

// TestIDTableRebuiltKeepsItsCapacity: a table sized for a capacity prepares no second
// table while its keys stay within that capacity (newIDTable: prepareFrom is the
// capacity). Undone chains that leave enough tombstones get it rebuilt at its own size
// (nextSlots), which is right; but the rebuilt table then prepared its growth from three
// eighths of its slots, below the capacity, so filling it up to the capacity it was
// given allocated (and faulted in, on the sequencer) a table twice its size that nothing
// ever moves into: for a ledger sized at startup, three times the index's memory where
// it had planned for one.
func TestIDTableRebuiltKeepsItsCapacity(t *testing.T) {
	for _, grouped := range []bool{true, false} {
		const capacity = 100_000
		random := rand.New(rand.NewPCG(44, 12))
		m := newIDTableModel(t, 12, grouped)
		m.table = newIDTable(capacity, 12, grouped)
		slots := len(m.table.slots)
		next := uint64(1)
		// Chains of 1,000 undone until their tombstones get the table rebuilt.
		for m.table.old == nil {
			for range 1000 {
				m.insert(model.U128(next))
				next++
			}
			for len(m.ids) > 0 {
				m.popNewest()
			}
		}
		if len(m.table.slots) != slots {
			t.Fatalf("grouped %v: rebuilt at %d slots, was %d", grouped, len(m.table.slots), slots)
		}
		// Then keys kept, up to the capacity with the few tombstones left (the last
		// chain's inserts after the rebuild began), as a ledger sized for it may store.
		for uint64(m.table.count+m.table.tombstones) < capacity {
			m.insert(model.U128(next))
			next++
		}
		if m.table.old != nil || m.table.tombstones > 1000 {
			t.Fatalf("grouped %v: %d keys and %d tombstones in %d slots", grouped,
				m.table.count, m.table.tombstones, slots)
		}
		m.check(random)
		if len(m.table.next) != 0 || len(m.table.slots) != slots {
			t.Fatalf("grouped %v: %d keys (with the tombstones, the capacity) in a table "+
				"of %d slots, and a next table of %d slots allocated", grouped, len(m.ids),
				len(m.table.slots), len(m.table.next))
		}
	}
}

// TestLedgerRebuiltTransferIndexKeepsItsCapacity is TestIDTableRebuiltKeepsItsCapacity
// through the ledger: with TransfersCapacity 100,000, linked chains that fail get the
// transfer index rebuilt; the transfers then stored, up to that capacity, must not make
// it allocate a second table.
func TestLedgerRebuiltTransferIndexKeepsItsCapacity(t *testing.T) {
	const capacity, chainLength = 100_000, 1000
	l := New(Config{HashSeed: 7, TransfersCapacity: capacity})
	accountResults := make([]model.EventResult, 2)
	l.CreateAccounts(1, []model.Account{{ID: model.U128(1), Ledger: 1, Code: 10},
		{ID: model.U128(2), Ledger: 1, Code: 10}}, accountResults)
	if accountResults[0].Status != model.StatusOK || accountResults[1].Status != model.StatusOK {
		t.Fatalf("accounts: %v", accountResults)
	}
	timestamp, next := uint64(1_000), uint64(1)
	batch := make([]model.Transfer, chainLength)
	results := make([]model.TransferResult, chainLength)
	apply := func() {
		l.CreateTransfers(timestamp, batch, results)
		timestamp += uint64(len(batch))
	}
	slots := len(l.transferIndex.slots)
	for l.transferIndex.old == nil { // Failed chains until the index is rebuilt.
		for i := range batch {
			batch[i] = transfer(next, 1, 2, 1)
			batch[i].Flags = model.TransferLinked
			next++
		}
		batch[chainLength-1] = transfer(next, 1, 1, 1) // accounts_must_be_different
		next++
		apply()
		if results[chainLength-1].Status != model.StatusAccountsMustBeDifferent {
			t.Fatalf("chain's last event: %s", results[chainLength-1].Status)
		}
	}
	if len(l.transferIndex.slots) != slots || l.TransferCount() != 0 {
		t.Fatalf("rebuilt at %d slots (was %d), %d transfers", len(l.transferIndex.slots),
			slots, l.TransferCount())
	}
	index := &l.transferIndex
	for uint64(index.count+index.tombstones)+chainLength <= capacity { // Stored, not undone.
		for i := range batch {
			batch[i] = transfer(next, 1, 2, 1)
			next++
		}
		apply()
		if results[chainLength-1].Status != model.StatusOK {
			t.Fatalf("transfer: %s", results[chainLength-1].Status)
		}
	}
	if len(index.next) != 0 || len(index.slots) != slots {
		t.Fatalf("%d transfers (%d tombstones) within the capacity of %d: index of %d slots "+
			"and a next table of %d", l.TransferCount(), index.tombstones, capacity,
			len(index.slots), len(index.next))
	}
}
