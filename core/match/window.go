package match

import "sequent/core/model"

// commandKind names an order command in the idempotency window.
type commandKind uint8

const (
	commandPlace      commandKind = 1
	commandCancel     commandKind = 2
	commandReplace    commandKind = 3
	commandMassCancel commandKind = 4
	commandKindEnd    commandKind = 5
)

// windowEntry is the remembered outcome of one order command.
type windowEntry struct {
	client        uint64
	account       uint64
	clientOrderID uint64
	orderID       uint64 // The order concerned; for a mass cancel, how many it canceled.
	timestamp     uint64 // The command's timestamp.
	status        model.Status
	kind          commandKind
}

// clientOrderWindow remembers the outcomes of the most recent order commands, keyed by
// (client, account, client order id), so that a resend answers the original result. It is
// a ring of at most max entries (the oldest is forgotten first) with a hash index.
type clientOrderWindow struct {
	entries []windowEntry // Grows to max, then wraps.
	oldest  uint32        // Position of the oldest entry once the ring is full.
	max     uint32        // Entries remembered (Config.ClientOrderIDsMax).
	index   indexTable    // Key → position in entries.
	seed    uint64
	sink    uint64 // Keeps prefetchNext's load from being optimized away.
}

func (w *clientOrderWindow) init(entriesMax uint32, capacity uint32, seed uint64) {
	w.max, w.seed = entriesMax, seed
	w.entries = make([]windowEntry, 0, capacity)
	w.index = newIndexTable(capacity)
}

func (w *clientOrderWindow) tag(client, account, clientOrderID uint64) uint32 {
	return tagOf(hash192(client, account, clientOrderID, w.seed))
}

// find returns the remembered outcome of the command with the key.
func (w *clientOrderWindow) find(client, account, clientOrderID uint64) (*windowEntry, bool) {
	_, position, found := w.index.find(w.tag(client, account, clientOrderID),
		func(position uint32) bool {
			entry := &w.entries[position]
			return entry.clientOrderID == clientOrderID && entry.client == client &&
				entry.account == account
		})
	if !found {
		return nil, false
	}
	return &w.entries[position], true
}

// remember records the outcome of a command whose key is not in the window, forgetting
// the oldest entry when the window is full.
func (w *clientOrderWindow) remember(entry windowEntry) {
	var position uint32
	if uint32(len(w.entries)) < w.max {
		position = uint32(len(w.entries))
		w.entries = append(w.entries, entry)
	} else {
		position = w.oldest
		w.forget(position)
		w.entries[position] = entry
		w.oldest = (w.oldest + 1) % w.max
		w.prefetchNext()
	}
	w.index.insert(w.tag(entry.client, entry.account, entry.clientOrderID), position)
}

// prefetchNext loads the index slot of the entry the next command will forget. With a
// large window that slot is almost never cached (its key was inserted a window ago, at a
// random place), so forgetting it costs a memory access; loaded now, the access overlaps
// with the rest of this command instead of stalling the next one.
func (w *clientOrderWindow) prefetchNext() {
	next := &w.entries[w.oldest]
	home := uint64(w.tag(next.client, next.account, next.clientOrderID)) & w.index.mask
	w.sink += w.index.slots[home]
}

// forget removes the entry at position from the index.
func (w *clientOrderWindow) forget(position uint32) {
	old := &w.entries[position]
	slot, _, found := w.index.find(w.tag(old.client, old.account, old.clientOrderID),
		func(candidate uint32) bool { return candidate == position })
	if !found {
		panic("match: idempotency window entry missing from its index")
	}
	w.index.remove(slot)
}

// count returns the number of entries remembered.
func (w *clientOrderWindow) count() uint32 { return uint32(len(w.entries)) }

// at returns the i-th oldest entry.
func (w *clientOrderWindow) at(i uint32) *windowEntry {
	if uint32(len(w.entries)) < w.max {
		return &w.entries[i]
	}
	return &w.entries[(w.oldest+i)%w.max]
}
