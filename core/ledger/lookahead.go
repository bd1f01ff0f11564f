package ledger

import (
	"unsafe"

	"sequent/core/internal/prefetch"
	"sequent/core/model"
)

// TransferLookahead carries one transfer of a later request from PrefetchTransferSlots
// to PrefetchTransferRecords, and from there to CreateTransferAheadAs: its ids' hashes,
// so that neither later stage hashes again, and its accounts' candidate indexes, so that
// the apply need not probe for them again. The zero value is "nothing looked ahead",
// which PrefetchTransferRecords skips and CreateTransferAheadAs does not use.
type TransferLookahead struct {
	// The ids the hashes are of: CreateTransferAheadAs uses the rest only for them.
	id, debitID, creditID model.Uint128
	debitHash             uint64
	creditHash            uint64
	transferHash          uint64
	// Candidate indexes of the accounts (idTable.candidate) when PrefetchTransferRecords
	// ran: they may be stale by the apply (accounts created or undone in between), so
	// the apply confirms them (confirmAhead).
	debitCandidate  uint32
	creditCandidate uint32
	owners          bool // The request is a client's: its apply reads the debit account's owner.
	creditOwner     bool // ...and, with balances in the results, the credit account's owner.
	pending         bool // Hashes set by PrefetchTransferSlots and not yet used.
	resolved        bool // Candidates set by PrefetchTransferRecords.
}

// PrefetchTransferSlots is the pipeline's first stage (prefetchSlots) for a transfer
// that a later call of CreateTransfersAs will apply, typically the one-transfer request
// two requests ahead in a log entry: it hashes the three ids and prefetches their home
// slots, and keeps the ids and their hashes in ahead for the later stages. client and
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
	*ahead = TransferLookahead{id: event.ID, debitID: event.DebitAccountID,
		creditID: event.CreditAccountID, debitHash: debit, creditHash: credit,
		transferHash: transfer, owners: client != 0, creditOwner: client != 0 && balances,
		pending: true}
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
	ahead.debitCandidate, ahead.creditCandidate, ahead.resolved = debit, credit, true
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

// CreateTransferAheadAs is CreateTransfersAs for a batch whose one event both stages
// above saw (ahead), typically the one-transfer request being applied, whose accounts'
// records the lookahead prefetched a request ago: it takes the hashes and candidates
// from ahead instead of running the stages again (their prefetches, for lines already
// on their way, and their hashing and probing were a sixth of such a request's
// instructions). Any other batch, or an ahead of other ids, goes to CreateTransfersAs.
// The results and the ledger are the same either way: the hashes depend only on the
// ids and the tables' seeds, and each candidate is confirmed against the ledger as it
// is now (confirmAhead).
func (l *Ledger) CreateTransferAheadAs(client uint64, balances bool, firstTimestamp uint64,
	events []model.Transfer, results []model.TransferResult, ahead *TransferLookahead) {
	if len(events) != 1 || !ahead.resolvedFor(&events[0]) || l.system {
		l.CreateTransfersAs(client, balances, firstTimestamp, events, results)
		return
	}
	checkBatch(firstTimestamp, len(events), len(results))
	l.actAs(client)
	l.resultBalances = balances
	if l.riskActive() {
		l.risk.Begin(client)
	}
	s := &l.batch
	s.transferHash[0], s.debitHash[0], s.creditHash[0] = ahead.transferHash, ahead.debitHash,
		ahead.creditHash
	s.debitIndex[0] = l.confirmAhead(ahead.debitCandidate, ahead.debitHash, ahead.debitID)
	s.creditIndex[0] = l.confirmAhead(ahead.creditCandidate, ahead.creditHash, ahead.creditID)
	s.accounts[0] = accountPair{l.recordOf(s.debitIndex[0]), l.recordOf(s.creditIndex[0])}
	if l.riskActive() {
		l.risk.Prefetch(s.debitIndex[:1]) // As prefetchRecords does.
	}
	runner := chainRunner{ledger: l, count: 1}
	l.applyTransfers(&runner, firstTimestamp, events, results, 0, 1)
}

// resolvedFor reports whether both stages saw event (its three ids).
func (ahead *TransferLookahead) resolvedFor(event *model.Transfer) bool {
	return ahead.resolved && ahead.id == event.ID && ahead.debitID == event.DebitAccountID &&
		ahead.creditID == event.CreditAccountID
}

// confirmAhead returns the index of the account with id, given a candidate index that
// PrefetchTransferRecords found for it, perhaps before accounts were created or undone.
// A candidate below the account count whose record has the id is the account (ids are
// unique, and every index below the count holds a live account). Anything else, even
// indexNone (the account may have been created since), takes a full probe.
func (l *Ledger) confirmAhead(candidate uint32, hash uint64, id model.Uint128) uint32 {
	if candidate < l.accounts.count && l.accounts.at(candidate).ID == id {
		return candidate
	}
	index, _, _ := l.probeAccount(hash, id)
	return index
}
