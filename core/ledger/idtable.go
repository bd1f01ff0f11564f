package ledger

import (
	"math/bits"

	"sequent/core/internal/hugepage"
	"sequent/core/model"
)

// idTable maps 128-bit ids to dense record indexes. It is an open-addressing table with
// linear probing whose slots hold only a 32-bit hash tag and the record index, 8 bytes per
// slot: the full id lives in the record, which the caller reads anyway, so a hit costs one
// slot read plus the record read the caller needed regardless.
//
// Slot encoding: 0 is empty; otherwise the high 32 bits are the tag (the hash's high bits)
// and the low 32 bits are index+1.
//
// The table never deletes except to undo the most recent inserts in reverse order (linked
// chain rollback). Removing keys in exact reverse insertion order restores the previous
// table bit for bit, because a later key's probe run can only pass over earlier keys, never
// the other way round. That is why no tombstones are needed.
//
// Layout is not observable: lookups answer the same whatever the seed, so the seed may be
// chosen per process (which keeps crafted ids from forming long probe runs).
type idTable struct {
	slots []uint64 // Power-of-two length; owned by the sequencer goroutine.
	mask  uint64   // len(slots) - 1.
	count uint32   // Keys stored.
	seed  uint64   // Hash seed.
}

const (
	// idTableLoadMax is the load factor (in 1/256ths) above which the table doubles. At 1/2,
	// linear probing averages about 1.5 probes for a hit and 2.5 for a miss.
	idTableLoadMax = 128
	// idTableGroupMask selects the id bits that pick a slot within a cache line of eight.
	idTableGroupMask = 7
	// idTableSlotsMin is the smallest table (8 KiB), so tiny ledgers stay tiny.
	idTableSlotsMin = 1024
)

func newIDTable(capacity uint32, seed uint64) idTable {
	slots := uint64(idTableSlotsMin)
	for slots*idTableLoadMax/256 < uint64(capacity) {
		slots *= 2
	}
	table := idTable{slots: make([]uint64, slots), mask: slots - 1, seed: seed}
	hugepage.Advise(table.slots)
	clear(table.slots) // Touch every page now rather than fault them in on the hot path.
	return table
}

// hashID mixes both halves of the id with the seed (a multiply-fold in the style of
// wyhash) and then keeps the id's three low bits as the slot's three low bits, so ids that
// differ only there (consecutive or time-based ids, the recommended kind) share one
// 64-byte line of slots: eight transfers cost one cache miss instead of eight. The tag
// (high 32 bits) still depends on all bits, so siblings never share a tag. Groups of eight
// are spread by the seeded mix, so clustering stays that of random linear probing.
func hashID(id model.Uint128, seed uint64) uint64 {
	low := id.Lo & idTableGroupMask
	hi, lo := bits.Mul64((id.Lo>>3)^seed^0xa0761d6478bd642f, id.Hi^0xe7037ed1a0b428db)
	h := hi ^ lo
	hi, lo = bits.Mul64(h^0x8ebc6af09c88c6e3, seed^0x589965cc75374cc3)
	h = hi ^ lo
	return (h &^ idTableGroupMask) ^ (low * 0x9e3779b97f4a7c15 &^ 0xffffffff) | low
}

func tagOf(hash uint64) uint64 { return hash >> 32 << 32 }

// candidate returns the index in the first slot of hash's probe run whose tag matches,
// or indexNone when the run ends first. The caller confirms it against the full id: a
// different id with the same 32-bit tag is possible, if rare.
func (t *idTable) candidate(hash uint64) uint32 {
	tag := tagOf(hash)
	for position := hash & t.mask; ; position = (position + 1) & t.mask {
		slot := t.slots[position]
		if slot == 0 {
			return indexNone
		}
		if slot&^0xffffffff == tag {
			return uint32(slot) - 1
		}
	}
}

// insertAt stores index at position, which must be the empty slot that ended a failed
// probe for the same hash. It reports whether the table must grow before the next insert.
func (t *idTable) insertAt(position uint64, hash uint64, index uint32) {
	if t.slots[position] != 0 {
		panic("ledger: idTable insert into a used slot")
	}
	t.slots[position] = tagOf(hash) | uint64(index+1)
	t.count++
}

// needsGrowth reports whether one more key would exceed the load limit.
func (t *idTable) needsGrowth() bool {
	return uint64(t.count+1)*256 > uint64(len(t.slots))*idTableLoadMax
}

// remove clears the slot holding index for hash. Only for undoing the latest inserts in
// reverse order (see the type comment).
func (t *idTable) remove(hash uint64, index uint32) {
	want := tagOf(hash) | uint64(index+1)
	for position := hash & t.mask; ; position = (position + 1) & t.mask {
		slot := t.slots[position]
		if slot == 0 {
			panic("ledger: idTable remove of a missing key")
		}
		if slot == want {
			t.slots[position] = 0
			t.count--
			return
		}
	}
}

// grow doubles the table and reinserts every key; hashOf returns the hash of the record
// at an index. This stalls for a time proportional to the count: size the table with
// Config capacities to avoid it on a hot path.
func (t *idTable) grow(hashOf func(index uint32) uint64) {
	old := t.slots
	t.slots = make([]uint64, 2*len(old))
	hugepage.Advise(t.slots)
	t.mask = uint64(len(t.slots) - 1)
	for _, slot := range old {
		if slot == 0 {
			continue
		}
		index := uint32(slot) - 1
		hash := hashOf(index)
		position := hash & t.mask
		for t.slots[position] != 0 {
			position = (position + 1) & t.mask
		}
		t.slots[position] = slot
	}
}

// bytes returns the memory held by the table.
func (t *idTable) bytes() uint64 { return uint64(len(t.slots)) * 8 }
