package ledger

import (
	"unsafe"

	"sequent/core/internal/prefetch"
	"sequent/core/model"
)

// TransferLookahead carries one transfer of a later request from PrefetchTransferSlots
// to PrefetchTransferRecords: its accounts' hashes, so the second stage need not hash
// again. The zero value is "nothing looked ahead", which PrefetchTransferRecords skips.
type TransferLookahead struct {
	debitHash   uint64
	creditHash  uint64
	owners      bool // The request is a client's: its apply reads the debit account's owner.
	creditOwner bool // ...and, with balances in the results, the credit account's owner.
	pending     bool // Hashes set by PrefetchTransferSlots and not yet used.
}

// PrefetchTransferSlots is the pipeline's first stage (prefetchSlots) for a transfer
// that a later call of CreateTransfersAs will apply, typically the one-transfer request
// two requests ahead in a log entry: it hashes the three ids and prefetches their home
// slots, and keeps the account hashes in ahead for PrefetchTransferRecords. client and
// balances are what that call will be given: they say which owners it reads.
//
// It only reads: what the ledger holds and what any later call answers are the same
// with or without it (the core's determinism does not depend on it). Whatever the ledger
// does in between (accounts created, the tables growing) makes the prefetches at worst
// useless, never wrong: each address is taken inside the table as it is now.
func (l *Ledger) PrefetchTransferSlots(client uint64, balances bool, event *model.Transfer,
	ahead *TransferLookahead) {
	accountTable, transferTable := &l.accountIndex, &l.transferIndex
	debit := accountTable.hash(event.DebitAccountID)
	credit := accountTable.hash(event.CreditAccountID)
	transfer := transferTable.hash(event.ID)
	addresses := [...]uintptr{
		uintptr(unsafe.Pointer(&accountTable.slots[home(debit, accountTable.mask)])),
		uintptr(unsafe.Pointer(&accountTable.slots[home(credit, accountTable.mask)])),
		uintptr(unsafe.Pointer(&transferTable.slots[home(transfer, transferTable.mask)])),
	}
	prefetch.Lines(addresses[:])
	*ahead = TransferLookahead{debitHash: debit, creditHash: credit, owners: client != 0,
		creditOwner: client != 0 && balances, pending: true}
}

// PrefetchTransferRecords is the pipeline's second stage (prefetchRecords) for a
// transfer PrefetchTransferSlots saw, typically one request later, once its slots have
// had a request's apply to arrive: it walks each account's probe run to its candidate
// index and prefetches the candidate records (both lines) and the owners the apply will
// read. It only reads, like PrefetchTransferSlots, and consumes ahead.
func (l *Ledger) PrefetchTransferRecords(ahead *TransferLookahead) {
	if !ahead.pending {
		return
	}
	ahead.pending = false
	accountTable, accountCount := &l.accountIndex, l.accounts.count
	debit := accountTable.candidate(ahead.debitHash)
	credit := accountTable.candidate(ahead.creditHash)
	var addresses [2]uintptr
	records := 0
	if debit < accountCount {
		addresses[records] = uintptr(unsafe.Pointer(l.accounts.at(debit)))
		records++
	}
	if credit < accountCount {
		addresses[records] = uintptr(unsafe.Pointer(l.accounts.at(credit)))
		records++
	}
	prefetch.LinePairs(addresses[:records])
	if !ahead.owners {
		return
	}
	owners := 0
	if debit < accountCount {
		addresses[owners] = uintptr(unsafe.Pointer(l.own.owners.at(debit)))
		owners++
	}
	if credit < accountCount && ahead.creditOwner {
		addresses[owners] = uintptr(unsafe.Pointer(l.own.owners.at(credit)))
		owners++
	}
	prefetch.Lines(addresses[:owners])
}
