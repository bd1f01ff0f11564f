package ledger

import (
	"math/bits"

	"sequent/core/internal/hugepage"
	"sequent/core/model"
)

// idTable maps 128-bit ids to dense record indexes. It is an open-addressing table with
// linear probing whose 8-byte slots hold a 32-bit tag and the record index: the full id
// lives in the record, which the caller reads anyway, so a hit costs one slot read plus
// the record read the caller needed regardless.
//
// Slot encoding: 0 is empty; otherwise the high 32 bits are the tag (the high half of the
// id's hash) and the low 32 bits are index+1. A key's home position is its tag masked to
// the table size, so a slot alone says where its key belongs in a table of any size:
// growing never reads a record.
//
// Growth is incremental, so that no insert ever waits for a whole table to be rehashed
// or faulted in (at tens of millions of keys either took a second or more): from a load
// of three eighths, the next table (twice the size; the same size when the keys without
// tombstones fill at most a quarter, see nextSlots) is allocated and every insert faults
// in a few of its pages; when the load passes one half it takes over, empty, beside the
// old one; every later insert moves
// migrationSlotsPerInsert of the old slots across, and lookups search the new table, then
// the old one, until the old one is drained. Keys are deleted only to undo a linked
// chain's inserts; a deleted slot becomes a tombstone (probe runs pass over it) so that
// other keys' runs stay intact; tombstones are dropped when their table is migrated.
//
// Layout is not observable: lookups answer the same whatever the seed or the migration
// progress, so the seed may be chosen per process (which keeps crafted ids from forming
// long probe runs).
type idTable struct {
	slots []uint64 // Power-of-two length; owned by the sequencer goroutine.
	mask  uint64   // len(slots) - 1.
	count uint32   // Keys stored (in either table).
	seed  uint64   // Hash seed.
	// keys is the seed folded into the hash's constants (hashKeys), computed once at
	// creation: a load the compiler cannot see through. Computed from the seed where it
	// is used, the compiler undid the fold (the constant loaded and applied apart, two
	// instructions more per id hashed: six per transfer, callgrind).
	keys idHashKeys
	// groupMask is idTableGroupMask for a table that gives ids differing only in those
	// bits one line of slots, or 0 for one that spreads every id on its own (see hash).
	groupMask uint64

	old      []uint64 // The table being drained into slots, or nil.
	oldMask  uint64   // len(old) - 1.
	migrated uint64   // Old positions below this have been moved.

	tombstones uint32 // Tombstones in slots (they count against the load).

	// next is the table that slots will grow into, allocated early and faulted in a few
	// slots per insert (see prepareInsert), or nil; nextTouched slots of it are faulted in.
	// It is allocated once the keys (and tombstones) exceed prepareFrom.
	next        []uint64
	nextTouched uint64
	prepareFrom uint64
	// capacity is how many keys the table was sized for (newIDTable): preparing never starts
	// below it, also in a table rebuilt at its size (nextSlots), which would otherwise
	// allocate and fault in a table twice its size for keys within that capacity.
	capacity uint64
	// ahead is the ledger's populater link; nextFresh is next as the populater took it
	// (offerNext), or nil: touchNext then skips what the populater has faulted in.
	ahead     *freshSink
	nextFresh *FreshRange
}

// slotBytes is the size of one slot.
const slotBytes = 8

// tombstone marks a deleted slot: a tag of all ones with an index part of zero, which no
// live slot has (a live index part is index+1, never zero).
const tombstone = uint64(0xffffffff) << 32

// live reports whether a slot holds a key (neither empty nor a tombstone).
func live(slot uint64) bool { return uint32(slot) != 0 }

const (
	// idTableLoadMax is the load factor (in 1/256ths) above which the table grows. At 1/2,
	// linear probing averages about 1.5 probes for a hit and 2.5 for a miss.
	idTableLoadMax = 128
	// idTableSlotsMin is the smallest table (8 KiB), so tiny ledgers stay tiny.
	idTableSlotsMin = 1024
	// idTableGroupMask selects the id bits that pick a slot within a cache line of eight.
	idTableGroupMask = 7
	// migrationSlotsPerInsert is how many old slots each insert moves while growing. A
	// new table twice the old one's size reaches its own growth point after as many
	// inserts as the old table has slots, and one rebuilt at the old one's size (keys
	// filling at most a quarter, nextSlots) after a quarter as many; moving 8 per insert
	// drains the old table in an eighth, within either, even if chains (which do not
	// migrate) take many inserts.
	migrationSlotsPerInsert = 8
	// idTablePrepareLoad is the load (in 1/256ths) from which the next table is allocated
	// and faulted in, unless the table was sized for a capacity above it (then preparing
	// starts when the capacity is exceeded). Ids hash uniformly, so inserts into a fresh
	// table touch every one of its pages within a batch or two: left to fault in on
	// demand, a gigabyte table stalled one batch for over a second (BenchmarkGrowth).
	// Each insert while preparing faults in an equal share of what is left of the next
	// table before the growth point: from this load, 16 slots (128 bytes) per insert.
	idTablePrepareLoad = 96
)

// newIDTable returns a table sized for capacity keys, grouped (see hash) or not.
func newIDTable(capacity uint32, seed uint64, grouped bool) idTable {
	slots := uint64(idTableSlotsMin)
	for slots*idTableLoadMax/256 < uint64(capacity) {
		slots *= 2
	}
	// A ledger that stays within the capacity it was given never allocates a second table.
	prepareFrom := max(uint64(capacity), slots*idTablePrepareLoad/256)
	keys := idHashKeys{first: seed ^ 0xa0761d6478bd642f, second: seed ^ 0x589965cc75374cc3}
	table := idTable{slots: allocateSlots(slots, true), mask: slots - 1, seed: seed,
		keys: keys, prepareFrom: prepareFrom, capacity: uint64(capacity)}
	if grouped {
		table.groupMask = idTableGroupMask
	}
	return table
}

// allocateSlots returns a zeroed slot array. With touch, every page is faulted in now, as
// suits a table sized up front (at startup, not on the hot path). A table allocated to
// grow into is not touched: faulting in a gigabyte at once stalled one batch for over a
// second (BenchmarkGrowth), while left alone its pages fault in one at a time as inserts
// and migration reach them.
func allocateSlots(count uint64, touch bool) []uint64 {
	slots := make([]uint64, count)
	hugepage.AdviseCovering(slots)
	if touch {
		clear(slots)
	}
	return slots
}

// hash mixes both halves of the id with the seed (a multiply-fold in the style of
// wyhash). The result's high half is the tag, and the tag's low bits are the home
// position.
//
// In a grouped table (groupMask idTableGroupMask: transfers, failed ids) the id's three
// low bits are left out of the mix and replace the tag's, so ids that differ only there
// (consecutive or time-based ids, the recommended kind) share one 64-byte line of slots:
// eight transfers cost one cache miss instead of eight, and they still have distinct tags.
// The price is longer probe runs when groups meet: a line holds one group of eight, and a
// second group homed on it overflows whole into the next line (and a third into the one
// after). The account table is not grouped (groupMask 0: the whole id is mixed), since
// transfers look accounts up one at a time in no order, where the groups save nothing:
// with the accounts 1..1,000,000 at load 0.48 (the ledger's benchmark), a grouped hit
// took 4.6 slots on average and 24% of hits read a line past the home one; spread, 1.5.
func (t *idTable) hash(id model.Uint128) uint64 {
	return hashWith(id, t.hashKeys(), t.groupMask)
}

// hashWith is hash given the table's keys and group mask, for loops that hash many ids
// with them held in locals (Ledger.prefetchSlots). With a group mask of 0 (a table
// without groups) it is mixID of the whole id.
func hashWith(id model.Uint128, keys idHashKeys, groupMask uint64) uint64 {
	return hashMasked(id, keys, groupMask, ^groupMask, ^(groupMask << 32))
}

// hashMasked is hashWith given the group mask's two complements (the id's bits that are
// mixed, the hash's bits the group's replace), for a loop that keeps them in locals: the
// compiler computed them anew for every id (~5 instructions per transfer, callgrind).
func hashMasked(id model.Uint128, keys idHashKeys, groupMask, mixedMask, keptMask uint64) uint64 {
	return mixID(id.Lo&mixedMask, id.Hi, keys)&keptMask | (id.Lo&groupMask)<<32
}

// idHashKeys are the two seed-derived words of an idTable's hash, computed once per
// table walk (hashKeys) so that a loop hashing many ids keeps them in registers instead
// of reloading the seed and folding in the constants for every id.
type idHashKeys struct {
	first  uint64 // seed ^ the first multiplier's constant.
	second uint64 // seed ^ the second multiplier's constant.
}

// hashKeys returns the table's hash keys.
func (t *idTable) hashKeys() idHashKeys { return t.keys }

// mixID is hash's multiply-fold of an id whose group bits are cleared (lo).
func mixID(lo, hi uint64, keys idHashKeys) uint64 {
	high, low := bits.Mul64(lo^keys.first, hi^0xe7037ed1a0b428db)
	h := high ^ low
	high, low = bits.Mul64(h^0x8ebc6af09c88c6e3, keys.second)
	return high ^ low
}

func tagOf(hash uint64) uint64 { return hash >> 32 << 32 }

// slotIndexCount is how many index parts a live slot may hold (1 to 2^32-1).
const slotIndexCount = 1<<32 - 1

// firstOf returns the smallest live slot with hash's tag (its index part 1: index 0),
// which the probe loops give slotIndex.
func firstOf(hash uint64) uint64 { return tagOf(hash) + 1 }

// slotIndex reports whether slot is live with the tag whose smallest live slot is
// first (firstOf), and then the index it holds. Those slots are first to first +
// slotIndexCount - 1, so one unsigned subtraction and one compare decide (a slot below
// first wraps around to the top; one of the next tag up is at least slotIndexCount
// above first), and the difference is the index: where the live test and the tag test
// took two instructions each and the index a third (TestSlotIndexMatchesTagAndLive).
func slotIndex(slot, first uint64) (uint32, bool) {
	index := slot - first
	return uint32(index), index < slotIndexCount
}

// home returns the hash's home position in a table with the given mask.
func home(hash uint64, mask uint64) uint64 { return hash >> 32 & mask }

// candidate returns the index in the first slot of hash's probe run in the new table
// whose tag matches, or indexNone when the run ends first. The caller confirms it against
// the full id, and (while growing) looks in the old table when it finds nothing.
func (t *idTable) candidate(hash uint64) uint32 {
	index, _ := t.nextCandidate(home(hash, t.mask), hash)
	return index
}

// nextCandidate scans the new table's run from position for a live slot with hash's tag
// and returns its index and position; at the end of the run it returns indexNone and the
// empty slot's position. It is the hot path's probe loop: callers confirm each candidate
// against the full id inline (a closure would cost an indirect call per probe).
func (t *idTable) nextCandidate(position uint64, hash uint64) (uint32, uint64) {
	first := firstOf(hash)
	for ; ; position = (position + 1) & t.mask {
		slot := t.slots[position]
		if slot == 0 {
			return indexNone, position
		}
		if index, ok := slotIndex(slot, first); ok {
			return index, position
		}
	}
}

// emptyHome returns hash's home position in the new table and whether the slot there is
// empty while the table is not growing: then no key with the hash is stored, and a
// lookup (Ledger.probeTransfer) would answer not found, with that position as the
// insertion slot. It is small enough to inline, so that a caller can skip the lookup's
// call in that case (TestIDTableGrowthAndUndo checks it: idTableModel.checkEmptyHome).
func (t *idTable) emptyHome(hash uint64) (uint64, bool) {
	position := home(hash, t.mask)
	return position, t.slots[position] == 0 && t.old == nil
}

// prepared reports whether prepareInsert would return at once: the table not migrating,
// no next table, below prepareFrom. It is small enough to inline (createdPlains).
// prepareInsert spells the same test out, to be kept alike: calling prepared put it over
// the inlining budget (cost 83 of 80, go build -gcflags=-m=2).
func (t *idTable) prepared() bool {
	return t.old == nil && t.next == nil && uint64(t.count+t.tombstones) < t.prepareFrom
}

// candidateIn is candidate given the table's slots and mask (loop-invariant locals in a
// caller resolving many hashes): the same probe as nextCandidate's.
//
// It spells out firstOf and slotIndex: their calls, though inlined, took it over the
// compiler's inlining budget.
func candidateIn(slots []uint64, mask uint64, hash uint64) uint32 {
	first := hash>>32<<32 + 1
	for position := hash >> 32 & mask; ; position = (position + 1) & mask {
		slot := slots[position]
		if slot == 0 {
			return indexNone
		}
		if index := slot - first; index < slotIndexCount {
			return uint32(index)
		}
	}
}

// insertAt stores index at position, which must be the empty slot that ended a failed
// probe of the new table for the same hash.
func (t *idTable) insertAt(position uint64, hash uint64, index uint32) {
	if t.slots[position] != 0 {
		panic("ledger: idTable insert into a used slot")
	}
	t.slots[position] = tagOf(hash) | uint64(index+1)
	t.count++
}

// prepareInsert runs before each insert: it moves some old slots across while growing,
// faults in a share of the next table while preparing to grow, and switches to the next
// table when one more key would exceed the load limit (tombstones count).
func (t *idTable) prepareInsert() {
	if t.old == nil && t.next == nil && uint64(t.count+t.tombstones) < t.prepareFrom {
		return // The common case, inlined at every insert.
	}
	t.prepareGrowth()
}

// prepareGrowth is prepareInsert's work while preparing or growing.
func (t *idTable) prepareGrowth() {
	if t.old != nil {
		t.migrate(migrationSlotsPerInsert)
	}
	used := uint64(t.count+t.tombstones) + 1
	growAt := uint64(len(t.slots)) * idTableLoadMax / 256
	if t.next == nil && used > t.prepareFrom {
		t.next = allocateSlots(t.nextSlots(growAt-min(used, growAt)+1), false)
		t.nextTouched = 0
		t.offerNext()
	}
	if used <= growAt {
		if t.next != nil {
			t.skipPopulated()
			untouched, insertsLeft := uint64(len(t.next))-t.nextTouched, growAt-used+1
			t.touchNext((untouched + insertsLeft - 1) / insertsLeft)
		}
		return
	}
	if t.old != nil {
		t.migrate(uint64(len(t.old))) // Unreachable at 8 per insert; kept for safety.
	}
	if t.next == nil { // Only if prepareFrom was at the growth point.
		t.next = allocateSlots(t.nextSlots(0), false)
		t.nextTouched = 0
	}
	t.skipPopulated()
	t.touchNext(uint64(len(t.next))) // Done already, but for a table without preparation.
	t.old, t.oldMask, t.migrated = t.slots, t.mask, 0
	t.slots, t.next, t.nextFresh = t.next, nil, nil
	t.mask = uint64(len(t.slots) - 1)
	t.tombstones = 0
	// The capacity matters only to a table rebuilt at its first size: one twice as large
	// prepares from above it already.
	t.prepareFrom = max(t.capacity, uint64(len(t.slots))*idTablePrepareLoad/256)
}

// nextSlots returns the size of the table the next growth moves into: twice this one's,
// or this one's own when its keys, with insertsLeft more before the move, fill at most a
// quarter of it. Tombstones (undone inserts of linked chains) count against the load but
// are not moved, so a table the load limit was reached by tombstones is rebuilt at its
// size: doubling it would let a chain that fails, resent again and again, grow the index
// without bound while storing nothing (TestUndoneChainsDoNotGrowTheTransferIndex).
func (t *idTable) nextSlots(insertsLeft uint64) uint64 {
	slots := uint64(len(t.slots))
	if uint64(t.count)+insertsLeft <= slots/4 {
		return slots
	}
	return 2 * slots
}

// offerNext offers the next table, just allocated, to the populater (when one is
// attached), so that its pages are faulted in off the sequencer.
func (t *idTable) offerNext() {
	t.nextFresh = nil
	if !t.ahead.active() {
		return
	}
	if fresh := newFreshRange(t.next); t.ahead.offer(fresh) {
		t.nextFresh = fresh
	}
}

// skipPopulated counts the slots of the next table that the populater has faulted in as
// touched, so that touchNext spends the sequencer's time only on the rest. A populater
// that is behind, stuck or refused by the kernel leaves nextTouched where the sequencer
// got to, and the sequencer faults the table in itself, as without one.
func (t *idTable) skipPopulated() {
	if t.nextFresh == nil {
		return
	}
	populated := min(uint64(t.nextFresh.Populated())/slotBytes, uint64(len(t.next)))
	t.nextTouched = max(t.nextTouched, populated)
}

// touchNext faults in up to budget more slots of the next table by writing the zero they
// already hold: the write, not the value, makes the kernel back the page.
func (t *idTable) touchNext(budget uint64) {
	end := min(t.nextTouched+budget, uint64(len(t.next)))
	clear(t.next[t.nextTouched:end])
	t.nextTouched = end
}

// migrate moves up to budget old slots into the new table.
func (t *idTable) migrate(budget uint64) {
	end := min(t.migrated+budget, uint64(len(t.old)))
	for ; t.migrated < end; t.migrated++ {
		slot := t.old[t.migrated]
		if !live(slot) {
			continue // Empty, or a tombstone: dropped.
		}
		position := slot >> 32 & t.mask
		for t.slots[position] != 0 {
			position = (position + 1) & t.mask
		}
		t.slots[position] = slot
	}
	if t.migrated == uint64(len(t.old)) {
		t.old, t.oldMask, t.migrated = nil, 0, 0
	}
}

// remove deletes the key index for hash (undo of a linked chain's insert), leaving a
// tombstone in each table that holds it: the new one, and the old one while growing (a key
// inserted before growth started may have been copied already, or not yet).
func (t *idTable) remove(hash uint64, index uint32) {
	removed := t.tombstoneIn(t.slots, t.mask, hash, index)
	if removed {
		t.tombstones++
	}
	if t.old != nil && t.tombstoneIn(t.old, t.oldMask, hash, index) {
		removed = true
	}
	if !removed {
		panic("ledger: idTable remove of a missing key")
	}
	t.count--
}

func (t *idTable) tombstoneIn(slots []uint64, mask uint64, hash uint64, index uint32) bool {
	want := tagOf(hash) | uint64(index+1)
	for position := home(hash, mask); ; position = (position + 1) & mask {
		switch slots[position] {
		case 0:
			return false
		case want:
			slots[position] = tombstone
			return true
		}
	}
}

// probe looks for hash in one table, confirming tag matches with match; when absent it
// returns the empty slot where the key belongs.
func probe(slots []uint64, mask uint64, hash uint64, match func(index uint32) bool) (uint32,
	uint64, bool) {
	first := firstOf(hash)
	for position := home(hash, mask); ; position = (position + 1) & mask {
		slot := slots[position]
		if slot == 0 {
			return indexNone, position, false
		}
		if index, ok := slotIndex(slot, first); ok && match(index) {
			return index, position, true
		}
	}
}

// lookup finds hash in the new table, then (while growing) in the old one. When absent,
// the position is the new table's insertion slot. Ledger.probeAccount and probeTransfer
// inline the new table's half of this and call lookupOld themselves.
func (t *idTable) lookup(hash uint64, match func(index uint32) bool) (uint32, uint64, bool) {
	index, position, found := probe(t.slots, t.mask, hash, match)
	if found {
		return index, position, true
	}
	return t.lookupOld(hash, position, match)
}

// lookupOld finishes a lookup that missed in the new table, whose insertion slot is
// position: it searches the old table while one is being drained.
func (t *idTable) lookupOld(hash uint64, position uint64, match func(index uint32) bool) (
	uint32, uint64, bool) {
	if t.old != nil {
		if index, _, found := probe(t.old, t.oldMask, hash, match); found {
			return index, position, true
		}
	}
	return indexNone, position, false
}

// bytes returns the memory held by the table.
func (t *idTable) bytes() uint64 { return uint64(len(t.slots)+len(t.old)+len(t.next)) * 8 }
