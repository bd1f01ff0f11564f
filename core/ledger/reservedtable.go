package ledger

import (
	"cmp"
	"fmt"
	"slices"
	"unsafe"

	"sequent/core/model"
)

// reservedTotals holds the reserved total (reservation.go) of every account that has one,
// keyed by account index. Only the matching engine's trading accounts with open orders
// ever reserve, so a dense array beside the records (16 bytes for every account, which
// took memory per account from 159 to 176 B) is replaced by a sparse table: an account
// without an entry reserves nothing.
//
// Open addressing with linear probing; a key's home is a multiplicative (Fibonacci) hash
// of its index, which spreads the dense account indexes evenly. An entry whose total
// reaches zero is deleted by shifting the rest of its probe run back (no tombstones), so
// the table holds exactly one entry per account with a non-zero total: its size is
// bounded by the accounts, which AccountsMax bounds (accounts_limit_reached), and no
// reservation is ever refused for want of room. Past a load of one half it doubles and
// rehashes (an allocation and a pause proportional to its entries, paid only when the
// number of accounts holding reservations reaches a new high: never in the steady
// state; ~2 cpu-ms at 65,536 entries, ~30 at a million, BenchmarkReservedTotalsGrowth);
// it never shrinks. Layout depends only on the order of the changes, and is not
// observable: readers (snapshots, Reservations, CheckReservations) go by account index.
//
// Only reservation events, their undo, snapshots and Restore touch it: a plain transfer
// never does (its checks read debits_pending, which includes the reserved total).
//
// Owned by the sequencer goroutine; a snapshot copies its entries (copyEntries).
type reservedTotals struct {
	slots []reservedSlot // Power-of-two length, at least reservedSlotsMin.
	shift uint8          // 64 - log2(len(slots)): a key's home is its hash >> shift.
	count uint32         // Entries (accounts with a non-zero total).
}

// reservedSlot is one slot: an account's index plus one (0: empty) and its total.
type reservedSlot struct {
	total   model.Uint128
	account uint32
}

const (
	// reservedSlotsMin is the table's initial and smallest size (1,024 slots of 24 bytes:
	// 24 KiB, a few hundredths of a byte per account at a million accounts).
	reservedSlotsMin = 1 << 10
	// reservedSlotsShiftMin is 64 - log2(reservedSlotsMin).
	reservedSlotsShiftMin = 64 - 10
	// reservedLoadMax is the load (in 1/256ths) above which the table doubles: at one
	// half, linear probing averages about 1.5 slots for a hit and 2.5 for a miss.
	reservedLoadMax = 128
	// reservedHashMultiplier is 2^64 divided by the golden ratio (Fibonacci hashing).
	reservedHashMultiplier uint64 = 0x9e3779b97f4a7c15
)

// reservedSlotBytes is the size of a slot: 24 bytes on 64-bit machines (16-byte total,
// 4-byte key, 4 of padding), 20 where a uint64 needs only 4-byte alignment.
const reservedSlotBytes = uint64(unsafe.Sizeof(reservedSlot{}))

func newReservedTotals() reservedTotals {
	return reservedTotals{slots: make([]reservedSlot, reservedSlotsMin),
		shift: reservedSlotsShiftMin}
}

// home returns the slot where the account's entry belongs when nothing is in the way.
func (t *reservedTotals) home(account uint32) uint64 {
	return uint64(account) * reservedHashMultiplier >> t.shift
}

// lookup returns the account's total (zero when it has no entry) and its slot: the
// entry's, or the empty slot that ends its probe run, where store would insert it.
func (t *reservedTotals) lookup(account uint32) (model.Uint128, uint64) {
	mask := uint64(len(t.slots) - 1)
	key := account + 1
	for position := t.home(account); ; position = (position + 1) & mask {
		slot := &t.slots[position]
		if slot.account == key {
			return slot.total, position
		}
		if slot.account == 0 {
			return model.Uint128{}, position
		}
	}
}

// get returns the account's reserved total (zero when it has none).
func (t *reservedTotals) get(account uint32) model.Uint128 {
	total, _ := t.lookup(account)
	return total
}

// store sets the account's total at the slot lookup returned for it, with no change to
// the table in between: it updates the entry, inserts one (a total that is not zero),
// or deletes it (zero). The reservation paths call update and storeChange themselves,
// so that the common change (an entry stays, with another total) costs no call.
func (t *reservedTotals) store(position uint64, account uint32, total model.Uint128) {
	if !t.update(position, total) {
		t.storeChange(position, account, total)
	}
}

// update stores a total that is not zero into the entry at position, if there is one,
// and reports whether it did.
func (t *reservedTotals) update(position uint64, total model.Uint128) bool {
	slot := &t.slots[position]
	if slot.account == 0 || total.Lo|total.Hi == 0 {
		return false
	}
	slot.total = total
	return true
}

// storeChange is store for what update does not do: a total that starts or ends an
// entry (or neither: zero stored where there is no entry).
func (t *reservedTotals) storeChange(position uint64, account uint32, total model.Uint128) {
	switch slot := &t.slots[position]; {
	case slot.account != 0:
		t.deleteAt(position)
	case !total.IsZero():
		*slot = reservedSlot{total: total, account: account + 1}
		t.count++
		if uint64(t.count)*256 > uint64(len(t.slots))*reservedLoadMax {
			t.grow()
		}
	}
}

// set sets the account's total (zero deletes its entry).
func (t *reservedTotals) set(account uint32, total model.Uint128) {
	_, position := t.lookup(account)
	t.store(position, account, total)
}

// deleteAt empties the slot at position and shifts back the entries after it in the same
// probe run that it would otherwise cut off from their homes, so that every remaining
// entry stays reachable without tombstones.
func (t *reservedTotals) deleteAt(position uint64) {
	mask := uint64(len(t.slots) - 1)
	t.count--
	hole := position
	for next := (hole + 1) & mask; t.slots[next].account != 0; next = (next + 1) & mask {
		// The entry at next may move into the hole unless its home lies cyclically in
		// (hole, next]: then the hole is before its home and it must stay.
		home := t.home(t.slots[next].account - 1)
		if (next-home)&mask < (next-hole)&mask {
			continue
		}
		t.slots[hole] = t.slots[next]
		hole = next
	}
	t.slots[hole] = reservedSlot{}
}

// grow doubles the table and reinserts every entry.
func (t *reservedTotals) grow() {
	old := t.slots
	t.slots = make([]reservedSlot, 2*len(old))
	t.shift--
	mask := uint64(len(t.slots) - 1)
	for i := range old {
		if old[i].account == 0 {
			continue
		}
		position := t.home(old[i].account - 1)
		for t.slots[position].account != 0 {
			position = (position + 1) & mask
		}
		t.slots[position] = old[i]
	}
}

// bytes returns the memory the table holds.
func (t *reservedTotals) bytes() uint64 { return uint64(len(t.slots)) * reservedSlotBytes }

// copyEntries appends every entry to buffer (truncated first), in slot order, and
// returns it: what a snapshot keeps (sortEntries puts it in account order later, off the
// sequencer).
func (t *reservedTotals) copyEntries(buffer []reservedSlot) []reservedSlot {
	buffer = buffer[:0]
	for i := range t.slots {
		if t.slots[i].account != 0 {
			buffer = append(buffer, t.slots[i])
		}
	}
	return buffer
}

// sortEntries puts entries from copyEntries in account order.
func sortEntries(entries []reservedSlot) {
	slices.SortFunc(entries, func(a, b reservedSlot) int {
		return cmp.Compare(a.account, b.account)
	})
}

// check verifies the table's own structure against accountCount accounts: every entry
// names an existing account, has a non-zero total and is found from its home, and count
// is the number of entries (Restore and tests; the totals themselves are checked against
// the balances by CheckReservations).
func (t *reservedTotals) check(accountCount uint32) error {
	entries := uint32(0)
	for i := range t.slots {
		slot := &t.slots[i]
		if slot.account == 0 {
			continue
		}
		entries++
		account := slot.account - 1
		if account >= accountCount || slot.total.IsZero() {
			return fmt.Errorf("reserved totals: entry of account %d (of %d) with %s", account,
				accountCount, slot.total)
		}
		if _, position := t.lookup(account); position != uint64(i) {
			return fmt.Errorf("reserved totals: entry of account %d not found from its home",
				account)
		}
	}
	if entries != t.count {
		return fmt.Errorf("reserved totals: %d entries, count says %d", entries, t.count)
	}
	return nil
}
