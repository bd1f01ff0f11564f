package match

import (
	"sequent/core/internal/hugepage"
	"sequent/core/model"
)

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
	digest        uint64 // The command's other fields (see placeDigest and the like).
	status        model.Status
	tag           uint32 // Its tag in the index (derived from the key; not in snapshots).
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

	// The key find hashed last and its tag: a command looks its key up, then remembers
	// its outcome under the same key, so remember reuses the tag instead of hashing again.
	lastClient, lastAccount, lastClientOrderID uint64
	lastTag                                    uint32

	// touched keeps the loads of touchForget from being optimised away; never read.
	touched uint64
}

func (w *clientOrderWindow) init(entriesMax uint32, capacity uint32, seed uint64) {
	w.max, w.seed = entriesMax, seed
	w.entries = make([]windowEntry, 0, capacity)
	hugepage.Advise(w.entries[:capacity])
	clear(w.entries[:capacity]) // Fault the pages in now, not on the hot path.
	w.index = newIndexTable(capacity)
}

// tag hashes a key. Clients number their orders consecutively, so the three low bits of
// the client order id are kept as the tag's (hence the slot's) low bits, and only the
// rest is mixed: the eight consecutive ids of one account share one 64-byte line of
// slots, so an account's recent commands (found, inserted, and a window later
// forgotten) cost about one cache miss per eight instead of one each. The tag still
// differs between those siblings, and groups are spread by the seeded mix.
func (w *clientOrderWindow) tag(client, account, clientOrderID uint64) uint32 {
	group := tagOf(hash192(client, account, clientOrderID>>3, w.seed))
	return group&^7 | uint32(clientOrderID&7)
}

// find returns the remembered outcome of the command with the key.
func (w *clientOrderWindow) find(client, account, clientOrderID uint64) (*windowEntry, bool) {
	tag := w.tag(client, account, clientOrderID)
	w.lastClient, w.lastAccount, w.lastClientOrderID, w.lastTag = client, account,
		clientOrderID, tag
	w.touchForget()
	_, position, found := w.index.find(tag,
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

// touchForget loads the index slot where the entry that remember will forget next
// starts its probe. Both that slot and the one find is about to probe are usually cache
// misses (keys a window apart, at random places in the index); issued together, the two
// misses overlap instead of costing one after the other.
func (w *clientOrderWindow) touchForget() {
	if uint32(len(w.entries)) < w.max {
		return // Nothing is forgotten until the ring is full.
	}
	w.touched += w.index.slots[uint64(w.entries[w.oldest].tag)&w.index.mask]
}

// remember records the outcome of a command whose key is not in the window, forgetting
// the oldest entry when the window is full.
func (w *clientOrderWindow) remember(entry windowEntry) {
	if entry.client == w.lastClient && entry.account == w.lastAccount &&
		entry.clientOrderID == w.lastClientOrderID {
		entry.tag = w.lastTag
	} else {
		entry.tag = w.tag(entry.client, entry.account, entry.clientOrderID)
	}
	var position uint32
	if uint32(len(w.entries)) < w.max {
		position = uint32(len(w.entries))
		w.entries = append(w.entries, entry)
	} else {
		position = w.oldest
		w.forget(position)
		w.entries[position] = entry
		w.oldest = (w.oldest + 1) % w.max
	}
	w.index.insert(entry.tag, position)
}

// forget removes the entry at position from the index.
func (w *clientOrderWindow) forget(position uint32) {
	slot, _, found := w.index.find(w.entries[position].tag,
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

// The digests below summarise the fields of an order command other than its key, so
// that a resend can be told from a mistake: the same key with the same kind and digest
// is a resend (the original outcome is answered), with another digest it is
// client_order_id_exists_with_different_fields. The mixing is fixed (the digest is
// state: snapshots carry it, replicas must agree) and each step is a bijection of the
// running value for a given word, so two commands differing in one field always get
// different digests; several differences collide with probability about 2^-64.

// digestWords mixes words in order into a 64-bit digest.
func digestWords(words ...uint64) uint64 {
	h := uint64(0x243f6a8885a308d3)
	for _, w := range words {
		h ^= w
		h *= 0x9e3779b97f4a7c15
		h ^= h >> 32
	}
	return h
}

// bytesWord packs up to eight bytes into a word.
func bytesWord(b []byte) uint64 {
	var w uint64
	for i, x := range b {
		w |= uint64(x) << (8 * i)
	}
	return w
}

// placeDigest covers every field of a place event but its key.
func placeDigest(o *model.Order) uint64 {
	small := uint64(o.Instrument) | uint64(o.Side)<<32 | uint64(o.Type)<<40 |
		uint64(o.TimeInForce)<<48 | uint64(o.SelfTrade)<<56
	return digestWords(o.BaseAccountID.Lo, o.BaseAccountID.Hi, o.QuoteAccountID.Lo,
		o.QuoteAccountID.Hi, o.Price, o.Quantity, o.ReservePrice, o.ExpireTimestamp,
		o.Budget.Lo, o.Budget.Hi, small, bytesWord(o.Reserved[:8]), bytesWord(o.Reserved[8:]),
		o.Timestamp)
}

// cancelDigest covers the fields of a cancel event but its key.
func cancelDigest(c *model.OrderCancel) uint64 {
	return digestWords(c.OrderID, c.OriginalClientOrderID)
}

// replaceDigest covers the fields of a replace event but its key.
func replaceDigest(r *model.OrderReplace) uint64 {
	return digestWords(r.OrderID, r.OriginalClientOrderID, r.Price, r.Quantity,
		r.ReservePrice, r.Reserved)
}

// massCancelDigest covers the fields of a mass cancel event but its key.
func massCancelDigest(m *model.MassCancel) uint64 {
	return digestWords(uint64(m.Instrument)|uint64(m.Side)<<32, bytesWord(m.Reserved[:8]),
		bytesWord(m.Reserved[8:]))
}
