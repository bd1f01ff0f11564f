package reconcile

import (
	"cmp"
	"encoding/binary"

	"sequent/core/model"
)

// entry is one side's record of one payment, fixed-size so that a side too large for
// memory sorts on disk in runs (sorter). On our side it is a transfer (folded with its post
// or void, once pending transfers are resolved); on theirs, a statement line.
type entry struct {
	key    model.Uint128 // The reference both sides are matched by; 0 = none.
	order  uint64        // Ours: the transfer's timestamp. Theirs: the line number.
	amount model.Uint128 // Minor units.
	origin model.Uint128 // Ours: the payment's transfer id (a post's pending id). Theirs: 0.
	ledger uint32        // 0 = not stated (the statement has no currency column).
	status uint8         // status*; 0 = not stated.
	side   uint8         // sideCredit or sideDebit of the reconciled account.
	kind   uint8         // Ours: kind* of the transfer record. Theirs: 0.
	flags  uint8         // Reserved (keeps the record at entrySize).
}

// entrySize is an entry's encoded size: 16 + 8 + 16 + 16 + 4 + 4 × 1.
const entrySize = 64

// Sides of the reconciled account.
const (
	sideCredit uint8 = 1
	sideDebit  uint8 = 2
)

// Payment statuses, canonical on both sides (statements map their words to these).
const (
	statusPosted  uint8 = 1
	statusPending uint8 = 2
	statusVoided  uint8 = 3
	statusExpired uint8 = 4
)

var statusNames = [...]string{"", "posted", "pending", "voided", "expired"}

// Kinds of our transfer records, before pending transfers are folded with their outcome.
const (
	kindSingle         uint8 = 1 // Single-phase: the payment itself, posted.
	kindPending        uint8 = 2 // A pending transfer still open at the cut-off.
	kindPendingExpired uint8 = 3 // A pending transfer whose deadline passed by the cut-off.
	kindPost           uint8 = 4 // Posts origin (amount: what was posted).
	kindVoid           uint8 = 5 // Voids origin.
)

func (e *entry) encode(b []byte) {
	_ = b[entrySize-1]
	e.key.PutLE(b[0:])
	binary.LittleEndian.PutUint64(b[16:], e.order)
	e.amount.PutLE(b[24:])
	e.origin.PutLE(b[40:])
	binary.LittleEndian.PutUint32(b[56:], e.ledger)
	b[60], b[61], b[62], b[63] = e.status, e.side, e.kind, e.flags
}

func (e *entry) decode(b []byte) {
	_ = b[entrySize-1]
	e.key = model.Uint128LE(b[0:])
	e.order = binary.LittleEndian.Uint64(b[16:])
	e.amount = model.Uint128LE(b[24:])
	e.origin = model.Uint128LE(b[40:])
	e.ledger = binary.LittleEndian.Uint32(b[56:])
	e.status, e.side, e.kind, e.flags = b[60], b[61], b[62], b[63]
}

// byKey orders entries by reference, then by payment (our origin transfer; 0 on theirs),
// then by order (time or line): a side's entries for one reference come together, and
// on our side a pending transfer comes right before its post or void.
func byKey(a, b *entry) int {
	if c := a.key.Cmp(b.key); c != 0 {
		return c
	}
	if c := a.origin.Cmp(b.origin); c != 0 {
		return c
	}
	return cmp.Compare(a.order, b.order)
}
