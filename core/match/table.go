package match

import (
	"math/bits"

	"sequent/core/internal/hugepage"
)

// indexTable maps keys to dense 32-bit indexes into a pool that holds the keys. It is an
// open-addressing table with linear probing whose 8-byte slots hold a 32-bit tag (the
// high half of the key's hash) and index+1; 0 is an empty slot. The slot's home position
// is derived from the tag, so deletion (backward shift, no tombstones) and growth never
// need the key again: only a lookup reads the pool, to confirm a tag match.
//
// Layout is never observable: answers do not depend on the seed or on the order of
// inserts and deletes, so a restored engine may build its tables in any order.
type indexTable struct {
	slots []uint64 // Power-of-two length; owned by the sequencer goroutine.
	mask  uint64   // len(slots) - 1.
	count uint32   // Keys stored.
}

// indexTableLoadMax is the load factor (in 1/256ths) above which the table doubles. At
// 1/2 linear probing averages about 1.5 probes for a hit and 2.5 for a miss.
const indexTableLoadMax = 128

func newIndexTable(capacity uint32) indexTable {
	slots := uint64(indexTableSlotsMin)
	for slots*indexTableLoadMax/256 < uint64(capacity) {
		slots *= 2
	}
	table := indexTable{slots: make([]uint64, slots), mask: slots - 1}
	hugepage.Advise(table.slots) // Random access: huge pages spare the TLB misses.
	clear(table.slots)           // Touch every page now rather than fault them in later.
	return table
}

func tagOf(hash uint64) uint32 { return uint32(hash >> 32) }

// find walks the probe run of tag and returns the position and index of the key that
// equal accepts, or the empty position ending the run.
func (t *indexTable) find(tag uint32, equal func(index uint32) bool) (uint64, uint32, bool) {
	for position := uint64(tag) & t.mask; ; position = (position + 1) & t.mask {
		slot := t.slots[position]
		if slot == 0 {
			return position, indexNone, false
		}
		if uint32(slot>>32) == tag && equal(uint32(slot)-1) {
			return position, uint32(slot) - 1, true
		}
	}
}

// insert stores index for tag. The caller has checked that the key is absent. It grows
// the table first when one more key would exceed the load limit.
func (t *indexTable) insert(tag uint32, index uint32) {
	if uint64(t.count+1)*256 > uint64(len(t.slots))*indexTableLoadMax {
		t.grow()
	}
	position := uint64(tag) & t.mask
	for t.slots[position] != 0 {
		position = (position + 1) & t.mask
	}
	t.slots[position] = uint64(tag)<<32 | uint64(index+1)
	t.count++
}

// remove clears the slot at position (from find) and shifts later members of the probe
// run back, so that every key stays reachable from its home without tombstones.
func (t *indexTable) remove(position uint64) {
	if t.slots[position] == 0 {
		panic("match: indexTable remove of an empty slot")
	}
	hole := position
	for next := (hole + 1) & t.mask; t.slots[next] != 0; next = (next + 1) & t.mask {
		home := uint64(uint32(t.slots[next]>>32)) & t.mask
		// The key at next may fill the hole unless its home lies cyclically in
		// (hole, next]: then the hole is before its home and it must stay.
		if (next-home)&t.mask >= (next-hole)&t.mask {
			t.slots[hole] = t.slots[next]
			hole = next
		}
	}
	t.slots[hole] = 0
	t.count--
}

// grow doubles the table; homes come from the stored tags, so no key is read.
func (t *indexTable) grow() {
	old := t.slots
	t.slots = make([]uint64, 2*len(old))
	hugepage.Advise(t.slots)
	t.mask = uint64(len(t.slots) - 1)
	for _, slot := range old {
		if slot == 0 {
			continue
		}
		position := uint64(uint32(slot>>32)) & t.mask
		for t.slots[position] != 0 {
			position = (position + 1) & t.mask
		}
		t.slots[position] = slot
	}
}

// hash64 mixes one word with the seed (a multiply-fold in the style of wyhash).
func hash64(x uint64, seed uint64) uint64 {
	hi, lo := bits.Mul64(x^seed^0xa0761d6478bd642f, 0xe7037ed1a0b428db)
	return hi ^ lo
}

// hash128 mixes two words with the seed.
func hash128(x, y uint64, seed uint64) uint64 {
	hi, lo := bits.Mul64(x^seed^0xa0761d6478bd642f, y^0xe7037ed1a0b428db)
	h := hi ^ lo
	hi, lo = bits.Mul64(h^0x8ebc6af09c88c6e3, seed^0x589965cc75374cc3)
	return hi ^ lo
}

// hash192 mixes three words with the seed: hash128(hash128(x, y, seed), z, seed), written
// out step by step (TestHash192IsTwoHash128) because the nested calls cost 88, over the
// inlining budget, and the window hashes a key on every command.
func hash192(x, y, z uint64, seed uint64) uint64 {
	hi, lo := bits.Mul64(x^seed^0xa0761d6478bd642f, y^0xe7037ed1a0b428db)
	hi, lo = bits.Mul64(hi^lo^0x8ebc6af09c88c6e3, seed^0x589965cc75374cc3)
	hi, lo = bits.Mul64(hi^lo^seed^0xa0761d6478bd642f, z^0xe7037ed1a0b428db)
	hi, lo = bits.Mul64(hi^lo^0x8ebc6af09c88c6e3, seed^0x589965cc75374cc3)
	return hi ^ lo
}
