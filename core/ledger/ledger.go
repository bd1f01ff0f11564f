package ledger

import (
	"fmt"
	"sync/atomic"

	"sequent/core/event"
	"sequent/core/model"
	"sequent/core/risk"
)

// Config sizes a Ledger. The zero value works: limits take their defaults and tables
// start small and grow. Set the capacities to the expected sizes so that tables never
// have to double (a pause proportional to their size) on the hot path.
//
// TransfersMax is where the ledger stops storing transfers: at or past it a transfer,
// post or void answers transfers_limit_reached, except those that must happen (a saga's
// post or void, the matching engine's void of a legacy hold), which are stored past it.
// A ledger may so hold more than TransfersMax transfers, and Restore accepts that.
type Config struct {
	AccountsMax       uint32 // Most accounts; beyond, accounts_limit_reached. 0 = default.
	TransfersMax      uint32 // At or past it, transfers_limit_reached (see above). 0 = default.
	AccountsCapacity  uint32 // Accounts to size the tables and storage for up front.
	TransfersCapacity uint32 // Transfers to size the tables and storage for up front.
	// HashSeed seeds the id tables. Any value gives the same results (the layout is never
	// observable); a per-process random seed keeps crafted ids from clustering.
	HashSeed uint64
}

func (c *Config) withDefaults() Config {
	result := *c
	if result.AccountsMax == 0 || result.AccountsMax > recordCountMax {
		result.AccountsMax = AccountsMaxDefault
	}
	if result.TransfersMax == 0 || result.TransfersMax > recordCountMax {
		result.TransfersMax = TransfersMaxDefault
	}
	return result
}

// pendingStatus is the state of a pending transfer (meaningless for other transfers).
type pendingStatus uint8

const (
	pendingNone    pendingStatus = 0 // Not a pending transfer.
	pendingActive  pendingStatus = 1 // Reserved, awaiting post, void or expiry.
	pendingPosted  pendingStatus = 2
	pendingVoided  pendingStatus = 3
	pendingExpired pendingStatus = 4
)

// transferLinks threads each transfer into two singly linked lists, newest first: the
// debit account's transfers and the credit account's transfers. Backward links only,
// because appending then touches nothing but the account's newest-transfer index and the
// new transfer itself: forward links would cost a random read-modify-write of the old
// tail on every transfer. Oldest-first queries walk backward with a bounded ring (see
// query.go).
type transferLinks struct {
	debitPrevious  uint32 // Previous transfer of the debit account, or indexNone.
	creditPrevious uint32 // Previous transfer of the credit account, or indexNone.
}

// historyRecord is one balance-history entry of an account with the history flag: its
// balances right after a transfer. Records of one account are linked newest first.
type historyRecord struct {
	balance  model.AccountBalance
	account  uint32 // Account index.
	transfer uint32 // Index of the transfer that produced these balances.
	previous uint32 // Previous record of the same account, or indexNone.
}

// expiryItem is a pending transfer with a timeout, ordered by deadline then creation.
type expiryItem struct {
	deadline uint64 // Timestamp (ns) at or after which the transfer expires.
	transfer uint32 // Transfer index; the tie-break (indexes follow timestamps).
}

// newestTransfer returns the index of the account's newest transfer, or indexNone.
//
// In memory, an account's reserved field (always zero on the wire: creation refuses
// anything else) holds that index plus one, so that appending a transfer touches the
// cache line the balance update touches anyway instead of a separate array (one cache miss
// less per account at a million accounts). Every path that hands an account out clears it
// (exportAccount), and the pair of assertions in tests checks that none leaks.
func newestTransfer(a *accountRecord) uint32 { return a.Reserved - 1 }

// setNewestTransfer records index (or indexNone) as the account's newest transfer.
func setNewestTransfer(a *accountRecord, index uint32) { a.Reserved = index + 1 }

// Ledger is the double-entry state: accounts, transfers, pending transfers, their expiry,
// balance history and remembered transient failures.
//
// Ownership: one goroutine (the shard's sequencer) owns a Ledger and calls every method.
// The only exception is a SnapshotView, which reads immutable parts from another
// goroutine (see snapshot.go).
type Ledger struct {
	config Config

	accounts     chunked[accountRecord]
	accountIndex idTable
	// reserved is, per account that has one, the part of its debits_pending held by
	// reservations rather than pending transfers (reservation.go): a sparse table, as
	// only trading accounts with open orders have one (reservedtable.go). Not in the
	// 128-byte record, which is the wire format.
	reserved reservedTotals

	transfers     chunked[model.Transfer]
	transferLinks chunked[transferLinks]
	pending       chunked[pendingStatus]
	transferIndex idTable

	// failed remembers ids of transfers that failed for a transient reason, in the order
	// they failed (the order is state: snapshots keep it), with failedIndex to find them.
	failed      chunked[model.Uint128]
	failedIndex idTable

	history     chunked[historyRecord]
	historyLast map[uint32]uint32 // Account index → its newest history record.

	expiry expiryHeap

	// totals is every ledger's trial balance, kept as balances change (derived state:
	// totals.go).
	totals runningTotals

	// own records each account's owner and the grants in force; actor is the client the
	// current batch or query runs for (access.go).
	own   ownership
	actor actor
	// resultBalances says whether the batch's results carry balances (CreateTransfersAs).
	resultBalances bool
	// recordPrefetch is how prefetchRecords asks for the account records: first lines
	// into L2 (the zero value, what the ledger does), or as it did before. Only the
	// benchmarks that compare them in one process set it (BenchmarkRecordLinePrefetch,
	// BenchmarkRecordPrefetchLevel).
	recordPrefetch recordPrefetch
	// newTransfersUnprefetched turns prefetchNewTransfers off, as the pipeline was before
	// it. Only BenchmarkNewTransferPrefetch sets it, to compare the two in one process.
	newTransfersUnprefetched bool
	// pipelineShape is the schedule of pipelineTransfers; the zero value is the ledger's
	// (pipelineShapeDefault). Only BenchmarkPipelineShape sets another, to compare
	// shapes in one process.
	pipelineShape pipelineShape

	// risk holds the inline risk rules and their counters (risk.go); Active() is false
	// while no rule is in force, and the hot path then skips it with one branch.
	risk         *risk.Engine
	riskTransfer risk.Transfer // The transfer being evaluated (the engine keeps a pointer).
	// ruleOnlyWhenHeld says whether a holding anomaly rule's id goes into the result only
	// once the held transfer is created (SetRuleOnlyWhenHeld; package core sets it from
	// rules version 8 on). Off, as in the builds before it, the id went in as soon as the
	// rule decided to hold, and stayed beside a later refusal of the ledger's own checks.
	// It is the owner's state, not the ledger's (no snapshot carries it).
	ruleOnlyWhenHeld bool
	// ledgerTotalHidden says whether a ledger-scope daily_amount refusal answered to a
	// client without the operator scope leaves the day's total (every client's) out of
	// its RiskDetail (SetLedgerTotalHidden; package core sets it from rules version 11
	// on). The owner's state, as ruleOnlyWhenHeld.
	ledgerTotalHidden bool

	// fresh links the arrays and tables that allocate ahead to the populater, if any
	// (SetPopulater).
	fresh freshSink

	// events, when set, receives every committed change (see SetEvents).
	events *event.Buffer

	// system is set while a CreateSystem* call runs: Sequent's own events, whose ids lie
	// in the system range (model.IsSystemID) that client events may not use.
	system bool
	// saga is set while CreateSagaTransfers runs (see there).
	saga bool
	// sagaPayees are the payees of the steps CreateSagaTransfersTo applies (nil outside).
	sagaPayees []model.Uint128
	// sagaPendings are the storage indexes of the pending transfers that the posts and
	// voids CreateSagaFinishes applies resolve, by event (nil outside).
	sagaPendings []uint32

	// Scratch state of the batch being applied (reused, never shared).
	batch     batchScratch
	undo      undoLog
	queryRing []uint32 // Oldest-first query window; EventsPerRequestMax entries.

	// spareAccounts, spareReserved and sparePending are the copy buffers of the last
	// snapshot view, handed back by SnapshotView.Release (from the snapshot writer's
	// goroutine).
	spareAccounts atomic.Pointer[[]accountRecord]
	spareReserved atomic.Pointer[[]reservedSlot]
	sparePending  atomic.Pointer[[]pendingStatus]
}

// New returns an empty ledger.
func New(config Config) *Ledger {
	c := config.withDefaults()
	l := &Ledger{
		config:        c,
		accountIndex:  newIDTable(c.AccountsCapacity, c.HashSeed, false),
		transferIndex: newIDTable(c.TransfersCapacity, c.HashSeed^0x5bd1e995, true),
		failedIndex:   newIDTable(0, c.HashSeed^0x27d4eb2f, true),
		historyLast:   map[uint32]uint32{},
		reserved:      newReservedTotals(),
	}
	l.accounts.reserve(c.AccountsCapacity)
	l.own.owners.reserve(c.AccountsCapacity)
	l.own.init()
	l.actAs(0)
	l.transfers.reserve(c.TransfersCapacity)
	l.transferLinks.reserve(c.TransfersCapacity)
	l.pending.reserve(c.TransfersCapacity)
	for _, table := range []*idTable{&l.accountIndex, &l.transferIndex, &l.failedIndex} {
		table.ahead = &l.fresh
	}
	l.transfers.ahead, l.transferLinks.ahead = &l.fresh, &l.fresh
	l.pending.ahead, l.history.ahead = &l.fresh, &l.fresh
	l.batch.init()
	l.queryRing = make([]uint32, model.EventsPerRequestMax)
	l.undo.init()
	l.risk = risk.New(l.ResolveAccount)
	return l
}

// AccountCount returns the number of accounts.
func (l *Ledger) AccountCount() uint32 { return l.accounts.count }

// TransferCount returns the number of stored transfers.
func (l *Ledger) TransferCount() uint32 { return l.transfers.count }

// findAccount returns the index of the account with the id.
func (l *Ledger) findAccount(id model.Uint128) (uint32, bool) {
	hash := l.accountIndex.hash(id)
	index, _, found := l.probeAccount(hash, id)
	return index, found
}

// probeAccount looks id up and, when missing, returns the empty slot where it belongs.
func (l *Ledger) probeAccount(hash uint64, id model.Uint128) (uint32, uint64, bool) {
	t := &l.accountIndex
	index, position := t.nextCandidate(home(hash, t.mask), hash)
	for index != indexNone && l.accounts.at(index).ID != id {
		index, position = t.nextCandidate((position+1)&t.mask, hash)
	}
	if index != indexNone {
		return index, position, true
	}
	return t.lookupOld(hash, position, func(index uint32) bool {
		return l.accounts.at(index).ID == id
	})
}

// findTransfer returns the index of the transfer with the id.
func (l *Ledger) findTransfer(id model.Uint128) (uint32, bool) {
	hash := l.transferIndex.hash(id)
	index, _, found := l.probeTransfer(hash, id)
	return index, found
}

// probeTransfer is probeAccount for transfers.
func (l *Ledger) probeTransfer(hash uint64, id model.Uint128) (uint32, uint64, bool) {
	t := &l.transferIndex
	index, position := t.nextCandidate(home(hash, t.mask), hash)
	for index != indexNone && l.transfers.at(index).ID != id {
		index, position = t.nextCandidate((position+1)&t.mask, hash)
	}
	if index != indexNone {
		return index, position, true
	}
	if t.old == nil {
		// Not growing (nearly always): a new transfer's id misses here, and building the
		// closure for lookupOld cost as much again as the probe.
		return indexNone, position, false
	}
	return t.lookupOld(hash, position, func(index uint32) bool {
		return l.transfers.at(index).ID == id
	})
}

func (l *Ledger) probeFailed(hash uint64, id model.Uint128) (uint64, bool) {
	_, position, found := l.failedIndex.lookup(hash, func(index uint32) bool {
		return *l.failed.at(index) == id
	})
	return position, found
}

// hasFailed reports whether the transfer id failed earlier for a transient reason. It
// is small enough to inline: while no transfer has failed (the common case) it costs a
// test instead of a call.
func (l *Ledger) hasFailed(id model.Uint128) bool {
	return l.failedIndex.count != 0 && l.failedBefore(id)
}

// failedBefore is hasFailed's lookup.
func (l *Ledger) failedBefore(id model.Uint128) bool {
	_, found := l.probeFailed(l.failedIndex.hash(id), id)
	return found
}

// rememberFailed records a transient failure of id. It is never undone (not even by a
// linked chain's rollback): the reported outcome must stay the outcome.
func (l *Ledger) rememberFailed(id model.Uint128) {
	l.failedIndex.prepareInsert()
	hash := l.failedIndex.hash(id)
	position, found := l.probeFailed(hash, id)
	if found {
		panic(fmt.Sprintf("ledger: transfer %s remembered as failed twice", id))
	}
	index, record := l.failed.push()
	*record = id
	l.failedIndex.insertAt(position, hash, index)
}

// MemoryBytes returns the bytes held by the ledger's storage and indexes (chunks are
// counted whole, including unused tails, so this is what the process really holds).
func (l *Ledger) MemoryBytes() (accountBytes, transferBytes uint64) {
	accountBytes = l.accounts.bytes(model.AccountSize) + l.accountIndex.bytes() +
		l.own.owners.bytes(4) + l.own.ownedBytes() + l.reserved.bytes()
	transferBytes = l.transfers.bytes(model.TransferSize) + l.transferLinks.bytes(8) +
		l.pending.bytes(1) + l.transferIndex.bytes() + l.expiry.bytes()
	return accountBytes, transferBytes
}

// SetEvents makes the ledger append every committed change to buffer (accounts created;
// transfers created, posted, voided, expired, with both balances after), or stops it
// (nil). Events of a linked chain that fails are removed again. The state machine points
// it at the output of the entry being applied.
func (l *Ledger) SetEvents(buffer *event.Buffer) { l.events = buffer }
