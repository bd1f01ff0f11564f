package ledger

import (
	"fmt"
	"unsafe"

	"sequent/core/event"
	"sequent/core/internal/prefetch"
	"sequent/core/model"
)

// batchScratch holds what the prefetch stages computed for each event of the batch being
// applied. Sized for the largest batch at init; never grows.
type batchScratch struct {
	transferHash []uint64 // Hash of the transfer id.
	debitHash    []uint64 // Hash of the debit account id.
	creditHash   []uint64 // Hash of the credit account id.
	debitIndex   []uint32 // Debit account index, or indexNone.
	creditIndex  []uint32 // Credit account index, or indexNone.
	// accounts holds, for event i, the records of its debit and credit accounts (nil
	// where the index is indexNone), kept with the indexes so that neither the
	// confirmation nor the apply looks a record up by index again (two loads and two
	// bounds checks each; six such lookups were ~8% of a transfer's instructions). Valid
	// for the batch: no account is created or moved during one. One element per event,
	// where a flat list of two pointers per event took a sub-slice of two, with its
	// checks, at each of the three stages that use it (~6 instructions each, callgrind).
	accounts  []accountPair
	addresses []uintptr // Lines one pipeline stage prefetches (prefetch.Lines).
}

func (s *batchScratch) init() {
	s.transferHash = make([]uint64, model.EventsPerRequestMax)
	s.debitHash = make([]uint64, model.EventsPerRequestMax)
	s.creditHash = make([]uint64, model.EventsPerRequestMax)
	s.debitIndex = make([]uint32, model.EventsPerRequestMax)
	s.creditIndex = make([]uint32, model.EventsPerRequestMax)
	s.accounts = make([]accountPair, model.EventsPerRequestMax)
	s.addresses = make([]uintptr, 0, pipelineBlockEvents*pipelineLinesPerEventMax)
}

// accountPair is one event's two account records in the batch scratch: the debit
// account's and the credit account's, nil where absent.
type accountPair struct {
	debit, credit *accountRecord
}

// recordList returns pairs as the list of their records, each event's debit then
// credit, which prefetch.RecordLines takes as it is (a pair is two pointers, laid out
// in that order: the constants below fail to compile otherwise).
func recordList(pairs []accountPair) []*accountRecord {
	return unsafe.Slice((**accountRecord)(unsafe.Pointer(unsafe.SliceData(pairs))),
		2*len(pairs))
}

const (
	_ uintptr = unsafe.Sizeof(accountPair{}) - 2*unsafe.Sizeof((*accountRecord)(nil))
	_ uintptr = 2*unsafe.Sizeof((*accountRecord)(nil)) - unsafe.Sizeof(accountPair{})
	_ uintptr = unsafe.Offsetof(accountPair{}.credit) - unsafe.Sizeof((*accountRecord)(nil))
	_ uintptr = unsafe.Sizeof((*accountRecord)(nil)) - unsafe.Offsetof(accountPair{}.credit)
)

// CreateTransfers is CreateTransfersAs for the system (client 0), which may use every
// account, with balances in the results.
func (l *Ledger) CreateTransfers(firstTimestamp uint64, events []model.Transfer,
	results []model.TransferResult) {
	l.CreateTransfersAs(0, true, firstTimestamp, events, results)
}

// CreateTransfersAs applies a batch of transfers on behalf of client (doc.go,
// "Ownership": it may debit only accounts it owns or is granted). Event i is evaluated
// at timestamp firstTimestamp+i, which becomes the transfer's timestamp when it is
// created. results receives one result per event. With balances, a created transfer's
// result carries both accounts' balances right after it (zeros for an account client
// may not read); without, the balances are zeros (and the credit account's owner, which
// only the masking needs, is not read: ~5-15% of a client batch at a million accounts).
//
// The batch runs as a software pipeline over steps of pipelineStepEvents (pipelineShape;
// blocks of pipelineBlockEvents until session 53): while step k is applied, the records
// of the events pipelineRecordsAheadEvents on (step k+2) and the id-table slots of those
// pipelineSlotsAheadEvents on (step k+3) are on their way into the cache. With a million
// accounts nearly every lookup misses the cache (one at a time they would cost ~100 ns
// each); prefetch instructions (prefetch.Lines) retire without waiting for their lines,
// so the misses of the steps ahead overlap with the apply work of the current one, where
// the loads of a separate prefetch phase left the core idle until they arrived. For each
// event:
//
//  1. prefetchSlotsIn hashes its three ids and prefetches their home slots;
//  2. prefetchRecordsIn (a step later) walks each account's probe run by tag to its
//     candidate index and prefetches the first cache line of each candidate record
//     into L2, and prefetchNewTransfers the lines the new transfer records will be
//     written to, as many events ahead;
//  3. confirmAccounts (two steps later) confirms each candidate against the full id
//     and prefetches the second line of an account that may have pending balances,
//     then the events run strictly in order.
//
// Accounts cannot be created inside a transfers batch, so resolved account indexes stay
// valid for the batch; transfer lookups are redone in order because earlier events of the
// batch add transfers (their slots were only prefetched).
//
// A batch of at most shortBatchEventsMax events (a one-transfer request, the matching
// engine's chains) skips the pipeline's schedule: resolveShort resolves it by direct
// lookups for one event, by the three stages back to back for more, without the fill
// and drain that cost more than the work on so few events. The results are the same:
// prefetches change nothing, and the indexes resolved are the pipeline's.
func (l *Ledger) CreateTransfersAs(client uint64, balances bool, firstTimestamp uint64,
	events []model.Transfer, results []model.TransferResult) {
	checkBatch(firstTimestamp, len(events), len(results))
	l.actAs(client)
	l.resultBalances = balances
	if l.riskActive() {
		l.risk.Begin(client)
	}
	runner := chainRunner{ledger: l, count: len(events)}
	if len(events) <= shortBatchEventsMax {
		l.resolveShort(events)
		l.applyTransfers(&runner, firstTimestamp, events, results, 0, len(events))
		return
	}
	l.pipelineTransfers(&runner, firstTimestamp, events, results)
}

// pipelineTransfers runs a batch through the software pipeline (CreateTransfersAs), in
// steps of the shape's stepEvents: before step i's events [i, i+step) are confirmed and
// applied, the slots of the events slotsAheadEvents on and the records of the events
// recordsAheadEvents on are prefetched, and the lines of the transfers the events
// recordsAheadEvents on will store (pipelineShape says why the steps are short). With
// the ledger's shape, the steps during which every stage has a whole step ahead run
// the same stages specialised for pipelineStepEvents events (pipelineSteadySteps).
func (l *Ledger) pipelineTransfers(runner *chainRunner, firstTimestamp uint64,
	events []model.Transfer, results []model.TransferResult) {
	shape := l.pipelineShape
	if shape.stepEvents == 0 {
		shape = pipelineShapeDefault
	}
	count := len(events)
	step, slotsAhead, recordsAhead := shape.stepEvents, shape.slotsAheadEvents,
		shape.recordsAheadEvents
	// Fill the pipeline, once per batch: the first events' records wait for their slots.
	for start := 0; start < slotsAhead; start += step {
		l.prefetchSlotsIn(events, min(start, count), min(start+step, count))
	}
	for start := 0; start < recordsAhead; start += step {
		l.prefetchRecordsIn(events, min(start, count), min(start+step, count))
	}
	start := 0
	if shape == pipelineShapeDefault {
		start = l.pipelineSteadySteps(runner, firstTimestamp, events, results, start)
	}
	for ; start < count; start += step {
		slots := min(start+slotsAhead, count)
		l.prefetchSlotsIn(events, slots, min(slots+step, count))
		records := min(start+recordsAhead, count)
		l.prefetchRecordsIn(events, records, min(records+step, count))
		l.prefetchNewTransfers(recordsAhead, step)
		end := min(start+step, count)
		l.confirmAccounts(events[start:end], start)
		l.applyTransfers(runner, firstTimestamp, events, results, start, end)
	}
}

// pipelineShape is the schedule of pipelineTransfers, in events: how many it confirms
// and applies per step, and how far ahead of a step's first event the slots and the
// records it prefetches are. slotsAheadEvents and recordsAheadEvents are multiples of
// stepEvents, with stepEvents <= recordsAheadEvents < slotsAheadEvents (the records
// stage reads the slots and hashes the slots stage left) and 3*stepEvents within the
// scratch's addresses (checkPipelineShape, in the tests). The zero value is
// pipelineShapeDefault; only the benchmarks that compare shapes in one process set
// another (BenchmarkPipelineShape).
type pipelineShape struct {
	stepEvents, slotsAheadEvents, recordsAheadEvents int
}

// pipelineShapeDefault is the ledger's shape (pipelineStepEvents).
var pipelineShapeDefault = pipelineShape{stepEvents: pipelineStepEvents,
	slotsAheadEvents: pipelineSlotsAheadEvents, recordsAheadEvents: pipelineRecordsAheadEvents}

// resolveShort fills l.batch for a batch of at most shortBatchEventsMax events, one
// pipeline block: the pipeline's three stages for that block, one after the other,
// without the pipeline's schedule (its fill and drain, empty for one block). The
// prefetches stay: with cold accounts, they overlap the misses of all the batch's
// lookups, which the lookups alone would take one after the other. One event sent by
// the system or an operator takes resolveOne instead, and one event sent by a client
// resolveOneStaged.
func (l *Ledger) resolveShort(events []model.Transfer) {
	if len(events) == 1 {
		if l.actor.all {
			l.resolveOne(&events[0])
		} else {
			l.resolveOneStaged(&events[0])
		}
		return
	}
	l.prefetchSlots(events, 0)
	l.prefetchRecords(events, 0)
	l.confirmAccounts(events, 0)
}

// resolveOne fills l.batch for a batch of one event sent by the system or an operator
// (most of the matching engine's calls): each account looked up directly, which costs
// fewer instructions than the stages. The two lookups do not depend on each other, so
// the core runs their misses together, and the transfer's slot (read later, by
// createTransfer) is prefetched first. A client's batch also reads the accounts'
// owners, which only the stages prefetch: with it, one-transfer requests on a million
// accounts took 1.5-1.9x the pipeline's time (4 alternated rounds, cpu-ns/transfer),
// so they take resolveOneStaged, which keeps the stages' prefetches.
func (l *Ledger) resolveOne(event *model.Transfer) {
	s := &l.batch
	if !l.isReservation(event) {
		transferTable := &l.transferIndex
		transfer := transferTable.hash(event.ID)
		s.transferHash[0] = transfer
		prefetch.Line(uintptr(unsafe.Pointer(
			&transferTable.slots[home(transfer, transferTable.mask)])))
	}
	s.debitIndex[0] = l.resolveAccount(event.DebitAccountID)
	s.creditIndex[0] = l.resolveAccount(event.CreditAccountID)
	s.accounts[0] = accountPair{l.recordOf(s.debitIndex[0]), l.recordOf(s.creditIndex[0])}
}

// resolveOneStaged fills l.batch for a batch of one event sent by a client (not an
// operator): the three stages (prefetchSlots, prefetchRecords, confirmAccounts) for that
// one event, in straight-line code. The stages' loops, slices and scratch stores cost
// ~415 of the ~1,720 instructions of a one-transfer client request (callgrind, 1,000
// accounts); this keeps their order of prefetches, so the misses of the two accounts'
// slots, then of their records and owners, still overlap, which resolveOne's direct
// lookups would not do for the owners (its comment says what that cost). Each candidate
// is confirmed against the full id as confirmAccounts does, so the indexes and records
// are the stages' exactly (TestResolveOneStagedMatchesStages).
func (l *Ledger) resolveOneStaged(event *model.Transfer) {
	s := &l.batch
	accountTable, transferTable := &l.accountIndex, &l.transferIndex
	accountKeys := accountTable.hashKeys()
	debitHash := hashWith(event.DebitAccountID, accountKeys, 0)
	creditHash := hashWith(event.CreditAccountID, accountKeys, 0)
	transferHash := transferTable.hash(event.ID)
	s.transferHash[0] = transferHash
	slots, mask := accountTable.slots, accountTable.mask
	// Only prefetched, never dereferenced: computed from the bases without bounds checks,
	// as prefetchSlots does (a prefetch never faults).
	accountSlots := uintptr(unsafe.Pointer(unsafe.SliceData(slots)))
	transferSlots := uintptr(unsafe.Pointer(unsafe.SliceData(transferTable.slots)))
	addresses := [...]uintptr{
		accountSlots + uintptr(home(debitHash, mask))*slotBytes,
		accountSlots + uintptr(home(creditHash, mask))*slotBytes,
		transferSlots + uintptr(home(transferHash, transferTable.mask))*slotBytes,
	}
	prefetch.Lines(addresses[:])
	chunks, count := l.accounts.chunks, l.accounts.count
	debit, credit := candidateIn(slots, mask, debitHash), candidateIn(slots, mask, creditHash)
	debitRecord, creditRecord := recordIn(chunks, count, debit), recordIn(chunks, count, credit)
	// The records' lines (both of each), then the owners the checks read: the debit
	// account's, and the credit account's when the results carry balances (neither for
	// an event on the ledger of the actor's whole-ledger transfer grant: prefetchOwners).
	lines := 0
	if debitRecord != nil {
		addresses[lines] = uintptr(unsafe.Pointer(debitRecord))
		lines++
	}
	if creditRecord != nil {
		addresses[lines] = uintptr(unsafe.Pointer(creditRecord))
		lines++
	}
	prefetch.LinePairs(addresses[:lines])
	lines = 0
	if event.Ledger != l.actor.transferLedger {
		if debitRecord != nil {
			addresses[lines] = uintptr(unsafe.Pointer(l.own.owners.at(debit)))
			lines++
		}
		if creditRecord != nil && l.resultBalances {
			addresses[lines] = uintptr(unsafe.Pointer(l.own.owners.at(credit)))
			lines++
		}
	}
	prefetch.Lines(addresses[:lines])
	if debitRecord == nil || debitRecord.ID != event.DebitAccountID {
		debit = l.confirmAccount(debit, debitHash, event.DebitAccountID)
		debitRecord = l.recordOf(debit)
	}
	if creditRecord == nil || creditRecord.ID != event.CreditAccountID {
		credit = l.confirmAccount(credit, creditHash, event.CreditAccountID)
		creditRecord = l.recordOf(credit)
	}
	s.debitIndex[0], s.creditIndex[0] = debit, credit
	s.accounts[0] = accountPair{debitRecord, creditRecord}
	if l.riskActive() {
		l.risk.Prefetch(s.debitIndex[:1]) // As prefetchRecords does.
	}
}

// recordIn is recordOf given the account chunks and count (loop-invariant locals).
func recordIn(chunks [][]accountRecord, count uint32, index uint32) *accountRecord {
	if index < count {
		return &chunks[index>>chunkShift][index&chunkMask]
	}
	return nil
}

// recordOf returns the record of the account at index, or nil for indexNone.
func (l *Ledger) recordOf(index uint32) *accountRecord {
	if index < l.accounts.count {
		return l.accounts.at(index)
	}
	return nil
}

// resolveAccount returns the index of the account with the id, or indexNone.
func (l *Ledger) resolveAccount(id model.Uint128) uint32 {
	hash := l.accountIndex.hash(id)
	// Nearly always the candidate is the account: checked here, that costs no call.
	candidate := l.accountIndex.candidate(hash)
	if candidate != indexNone && l.accounts.at(candidate).ID == id {
		return candidate
	}
	return l.confirmAccount(candidate, hash, id)
}

// accountIsAt reports whether the account with the id is at index (any value): whether
// the record there has the id (ids are unique, so it is the account). Given where an
// account was last found, it replaces the id's hash and the probe by a bounds check and a
// compare (AllowedAtAs, AccountTermsPlacedAs; changeReservationOf and
// CreateSystemTransfersAt make the same check inline, keeping the record they read).
func (l *Ledger) accountIsAt(index uint32, id model.Uint128) bool {
	return index < l.accounts.count && l.accounts.at(index).ID == id
}

// isReservation reports whether a transfer event is a reservation (reservation.go): an
// event of a system batch, not a saga's, with a reservation flag.
func (l *Ledger) isReservation(t *model.Transfer) bool {
	return l.system && !l.saga && t.Flags&reservationFlags != 0
}

// applyTransfers runs events[start:end], whose accounts are resolved in l.batch, strictly
// in order, with the chain rules of runner.
func (l *Ledger) applyTransfers(runner *chainRunner, firstTimestamp uint64,
	events []model.Transfer, results []model.TransferResult, start, end int) {
	// Cut to end, so that indexing them by i (below end) needs no check.
	events, results = events[:end], results[:end]
	for i := start; i < end; i++ {
		// Outside a chain, nearly every event is a plain transfer: createdPlains creates
		// the run of them from i, writing their whole results, and returns the first
		// event it leaves untouched (linked, or not one it creates), which the general
		// path below decides.
		if !runner.open {
			if i = l.createdPlains(firstTimestamp, events, results, i, end); i == end {
				break
			}
		}
		event, result := &events[i], &results[i]
		timestamp := firstTimestamp + uint64(i)
		linked := event.Flags&model.TransferLinked != 0
		// Part by part: the whole 216 bytes at once compiled to a loop (~25 instructions
		// per transfer, callgrind), the parts to straight stores.
		result.EventResult = model.EventResult{Timestamp: timestamp}
		result.DebitAccount = model.Balance{}
		result.CreditAccount = model.Balance{}
		result.Risk = model.RiskDetail{}
		// The status in a local, stored once (createTransfer fills the result's other
		// fields, never its status).
		status := model.StatusOK
		// Outside a chain (nearly every event), the runner has nothing to do: before
		// would answer StatusOK and after an empty range.
		if linked || runner.open {
			status = runner.before(i, linked)
		}
		if status == model.StatusOK {
			status = l.createTransfer(event, timestamp, i, result)
		}
		result.Status = status
		if !runner.open {
			continue
		}
		from, to := runner.after(i, linked, status)
		for j := from; j < to; j++ {
			results[j] = model.TransferResult{}
			results[j].Timestamp = firstTimestamp + uint64(j)
			results[j].Status = model.StatusLinkedEventFailed
		}
	}
}

// applyTransfers clears a result by its four parts: these fail to compile if
// model.TransferResult gains a field they leave out.
const (
	_ uintptr = unsafe.Sizeof(model.TransferResult{}) - (unsafe.Sizeof(model.EventResult{}) +
		2*unsafe.Sizeof(model.Balance{}) + unsafe.Sizeof(model.RiskDetail{}))
	_ uintptr = unsafe.Sizeof(model.EventResult{}) + 2*unsafe.Sizeof(model.Balance{}) +
		unsafe.Sizeof(model.RiskDetail{}) - unsafe.Sizeof(model.TransferResult{})
)

// blockRange returns the events of pipeline block number block, or an empty range past
// the end of the batch.
func blockRange(count int, block int) (start, end int) {
	start = min(block*pipelineBlockEvents, count)
	return start, min(start+pipelineBlockEvents, count)
}

// prefetchSlots is the pipeline's first stage for one block: it hashes the three ids of
// each event and prefetches their home slots (the account table's and the transfer
// table's), in the order debit, credit, transfer of each event.
//
// It makes two passes over the block's events, the accounts' then the transfers', each
// with its table's base, mask and hash keys in locals: one pass keeping all three
// tables' worth live spilled a dozen registers to the stack and reloaded them for every
// event (~150 instructions per event, of a transfer's ~990; two passes take ~130, three,
// one per id, ~145).
func (l *Ledger) prefetchSlots(events []model.Transfer, block int) {
	start, end := blockRange(len(events), block)
	l.prefetchSlotsIn(events, start, end)
}

// prefetchSlotsIn is prefetchSlots for events[start:end] (at most pipelineBlockEvents).
func (l *Ledger) prefetchSlotsIn(events []model.Transfer, start, end int) {
	s := &l.batch
	// Every slice cut to the block's length, so that indexing them by i needs no check.
	events = events[start:end]
	debitHash := s.debitHash[start:end][:len(events)]
	creditHash := s.creditHash[start:end][:len(events)]
	transferHash := s.transferHash[start:end][:len(events)]
	addresses := s.addresses[:3*len(events)]
	// The addresses by event: debit, credit and transfer slot (one bounds check above).
	slots := unsafe.Slice((*[3]uintptr)(unsafe.Pointer(unsafe.SliceData(addresses))),
		len(events))[:len(events)]
	// The slots' addresses are only prefetched, never dereferenced, so they are computed
	// from each table's base without a bounds check (a prefetch never faults).
	accountTable := &l.accountIndex
	accountSlots := uintptr(unsafe.Pointer(unsafe.SliceData(accountTable.slots)))
	accountMask, accountKeys := accountTable.mask, accountTable.hashKeys()
	// The account table has no groups (its group mask is 0: newIDTable with grouped
	// false; TestPrefetchSlotsHashes checks it), which the literal 0 lets the compiler use.
	for i := range events {
		event := &events[i]
		debit := hashWith(event.DebitAccountID, accountKeys, 0)
		credit := hashWith(event.CreditAccountID, accountKeys, 0)
		debitHash[i], creditHash[i] = debit, credit
		slots[i][0] = accountSlots + uintptr(home(debit, accountMask))*slotBytes
		slots[i][1] = accountSlots + uintptr(home(credit, accountMask))*slotBytes
	}
	transferTable := &l.transferIndex
	transferSlots := uintptr(unsafe.Pointer(unsafe.SliceData(transferTable.slots)))
	transferMask, transferKeys := transferTable.mask, transferTable.hashKeys()
	groupMask := transferTable.groupMask
	mixedMask, keptMask := ^groupMask, ^(groupMask << 32)
	for i := range events {
		transfer := hashMasked(events[i].ID, transferKeys, groupMask, mixedMask, keptMask)
		transferHash[i] = transfer
		slots[i][2] = transferSlots + uintptr(home(transfer, transferMask))*slotBytes
	}
	prefetch.Lines(addresses)
}

// prefetchRecords is the second stage: it walks each account's probe run (its slots
// prefetched a block earlier) to the candidate index, and prefetches the first cache
// line of each candidate record (and its owner, when the batch reads owners). The candidates'
// records go into the scratch's accounts, which is also the list of what to prefetch
// (a nil one, of a run without a candidate, prefetches nothing).
func (l *Ledger) prefetchRecords(events []model.Transfer, block int) {
	start, end := blockRange(len(events), block)
	l.prefetchRecordsIn(events, start, end)
}

// prefetchRecordsIn is prefetchRecords for events[start:end] (at most
// pipelineBlockEvents).
func (l *Ledger) prefetchRecordsIn(events []model.Transfer, start, end int) {
	s := &l.batch
	accountTable := &l.accountIndex
	debitHash, creditHash := s.debitHash[start:end], s.creditHash[start:end]
	debitIndex, creditIndex := s.debitIndex[start:end], s.creditIndex[start:end]
	accounts := s.accounts[start:end][:len(debitHash)] // Its length the loop's: no check.
	// The tables in locals: read through l inside the loop, they were loaded again after
	// every store (callgrind: -6 instructions per transfer; two passes, candidates then
	// records, to keep fewer values live: -4; the two records stored together, one
	// accountPair, rather than one statement each: -1).
	slots, mask := accountTable.slots, accountTable.mask
	chunks, count := l.accounts.chunks, l.accounts.count
	for i := range debitHash {
		debit := candidateIn(slots, mask, debitHash[i])
		credit := candidateIn(slots, mask, creditHash[i])
		debitIndex[i], creditIndex[i] = debit, credit
		accounts[i] = accountPair{recordIn(chunks, count, debit), recordIn(chunks, count, credit)}
	}
	// The first line of each record: all a plain transfer between accounts without
	// pending balances reads (accountRecord). confirmAccounts asks for the second line
	// of an account that may have pending balances, once the first line says so.
	//
	// Into L2, not L1: the lines are read a few steps later, and at a million accounts
	// nearly all come from memory. Into L1, each of the block's 32 prefetches held one of
	// the core's ~16 L1 miss buffers until its line arrived, so the burst stalled the
	// core on the prefetch instructions themselves (a quarter to a third of the batch's
	// profile samples at 1 M accounts, session 52); into L2 the L2's own queue tracks
	// them, and confirmAccounts' first read finds the line a few nanoseconds away
	// (BenchmarkRecordPrefetchLevel at 1 M accounts: about -3% cpu-ns per transfer, 17
	// of 24 runs lower, bench/PERFORMANCE.md session 52; -4 to -7% in a throwaway build;
	// into L2 was always the first ledger created, whose placement bias session 53
	// measured at -1.5% at 1 M accounts and +11% at 1,000).
	switch l.recordPrefetch {
	case recordFirstLinesIntoL2:
		prefetch.RecordLinesIntoL2(recordList(accounts))
	case recordFirstLinesIntoL1:
		prefetch.RecordLines(recordList(accounts))
	default:
		prefetch.RecordPairs(recordList(accounts))
	}
	if !l.actor.all {
		l.prefetchOwners(events[start:end], debitIndex, creditIndex)
	}
	if l.riskActive() {
		l.risk.Prefetch(debitIndex) // The rules' counters, a block ahead as the records.
	}
}

// prefetchOwners prefetches the owner entries a client's checks read for a block of
// events whose candidate account indexes are given: the debit account's (the ownership
// check), and the credit account's when the results carry balances (hiding them). An
// event on the ledger of the actor's whole-ledger transfer grant (actor.transferLedger)
// needs neither in createdPlains, which takes it when its accounts are on that ledger
// too; the general path, for the rest, reads them without a prefetch. The owner table's
// chunks and the flags are read once, where chunked.at and append through the scratch
// reloaded them for each address (~26 instructions per address, callgrind).
func (l *Ledger) prefetchOwners(events []model.Transfer, debitIndex, creditIndex []uint32) {
	// Indexes below the account count are within the owner table (an owner is pushed
	// with every account), so these are the reads' own bounds checks only.
	chunks, accountCount := l.own.owners.chunks, l.accounts.count
	grantLedger, credits := l.actor.transferLedger, l.resultBalances
	addresses := l.batch.addresses[:2*len(events)] // The scratch holds 6 per event.
	debitIndex, creditIndex = debitIndex[:len(events)], creditIndex[:len(events)]
	// The events on the grant's ledger at the block's start, often all of them, are
	// passed over by a loop of their own: in the loop below, one such event cost ~12
	// instructions (its values reloaded around the skip; callgrind), here ~5.
	first := 0
	for first < len(events) && events[first].Ledger == grantLedger {
		first++
	}
	if first == len(events) {
		return
	}
	lines := 0
	for i := first; i < len(events); i++ {
		if events[i].Ledger == grantLedger {
			continue
		}
		if debit := debitIndex[i]; debit < accountCount {
			addresses[lines] = uintptr(unsafe.Pointer(&chunks[debit>>chunkShift][debit&chunkMask]))
			lines++
		}
		if credit := creditIndex[i]; credits && credit < accountCount {
			addresses[lines] = uintptr(unsafe.Pointer(&chunks[credit>>chunkShift][credit&chunkMask]))
			lines++
		}
	}
	prefetch.Lines(addresses[:lines])
}

// prefetchNewTransfers prefetches the records that the count transfers stored after the
// next ahead will take (at most: those the current chunk holds), as the pipeline's stage
// for the events ahead events on (pipelineRecordsAheadEvents): their transfers, if each
// event creates one. Their lines are only written, whole, but each store to a line not in
// the cache waited for it to be read first, and at a million accounts the random lines
// left the hardware's own prefetching of this stream behind: a block later, the new
// records' lines are in L1 (-4 to -8% cpu-ns per transfer at 1 M accounts in one
// process, session 52, the prefetching ledger always the first created: a placement
// bias of its own size may be in it, bench/PERFORMANCE.md session 53). An event that creates nothing leaves the guess a record or
// more ahead, which costs nothing but a line fetched early.
func (l *Ledger) prefetchNewTransfers(ahead, count int) {
	if l.newTransfersUnprefetched {
		return
	}
	first := uint64(l.transfers.count) + uint64(ahead)
	chunk, offset := first>>chunkShift, int(first&chunkMask)
	if chunk >= uint64(len(l.transfers.chunks)) {
		return
	}
	records := l.transfers.chunks[chunk]
	count = min(count, len(records)-offset)
	if count > 0 {
		prefetch.Consecutive(uintptr(unsafe.Pointer(&records[offset])),
			count*model.TransferSize/prefetch.LineBytes)
	}
}

// prefetch.LinePairs brings in the 128 bytes from each address: an account record's
// size. These fail to compile if either changes.
const (
	_ uintptr = model.AccountSize - prefetch.LinePairBytes
	_ uintptr = prefetch.LinePairBytes - model.AccountSize
)

// confirmAccounts is the last stage before a block is applied: it confirms each
// candidate against the full id (the records' first lines were prefetched a block
// earlier), and leaves each account's index and record (nil when absent) in the scratch.
// An account that may have pending balances (accountPendingZero clear) gets its second
// line prefetched here, the first line having told so: prefetchRecords asks for first
// lines only, where both lines of every record were as many prefetches again for lines
// that a plain transfer between accounts without pending balances never reads.
func (l *Ledger) confirmAccounts(events []model.Transfer, offset int) {
	s := &l.batch
	end := offset + len(events)
	debitHash, creditHash := s.debitHash[offset:end], s.creditHash[offset:end]
	debitIndex, creditIndex := s.debitIndex[offset:end], s.creditIndex[offset:end]
	accounts := s.accounts[offset:end][:len(events)]
	for i := range events {
		// Nearly always both candidates are the accounts: checked here, that costs no
		// call, and one test of both flags finds that neither has pending balances.
		event := &events[i]
		pair := &accounts[i]
		debit, credit := pair.debit, pair.credit
		if debit != nil && credit != nil && bothIDs(debit, credit, event) {
			if debit.Flags&credit.Flags&accountPendingZero == 0 {
				prefetchPendingLines(debit, credit)
			}
			continue
		}
		if debit == nil || debit.ID != event.DebitAccountID {
			debitIndex[i] = l.confirmAccount(debitIndex[i], debitHash[i], event.DebitAccountID)
			pair.debit = l.recordOf(debitIndex[i])
		}
		if credit == nil || credit.ID != event.CreditAccountID {
			creditIndex[i] = l.confirmAccount(creditIndex[i], creditHash[i],
				event.CreditAccountID)
			pair.credit = l.recordOf(creditIndex[i])
		}
		prefetchPendingLines(pair.debit, pair.credit)
	}
}

// bothIDs reports whether the two records have the event's account ids: the four
// words' differences in one test, where the two 128-bit compares took four (~3
// instructions per transfer fewer, callgrind).
func bothIDs(debit, credit *accountRecord, event *model.Transfer) bool {
	return (debit.ID.Lo^event.DebitAccountID.Lo)|(debit.ID.Hi^event.DebitAccountID.Hi)|
		(credit.ID.Lo^event.CreditAccountID.Lo)|(credit.ID.Hi^event.CreditAccountID.Hi) == 0
}

// prefetchPendingLines prefetches the second line of each of the two account records
// (nil: none) that may have pending balances, which a transfer reads there.
func prefetchPendingLines(debit, credit *accountRecord) {
	if debit != nil && !debit.pendingZero() {
		prefetch.Line(uintptr(unsafe.Pointer(debit)) + accountLineBytes)
	}
	if credit != nil && !credit.pendingZero() {
		prefetch.Line(uintptr(unsafe.Pointer(credit)) + accountLineBytes)
	}
}

// transferEvent records a transfer just stored as an event, with both accounts' balances
// after it. They are taken from the accounts, not from the result: the result carries
// balances only when the request asked for them, and only those its sender may read,
// while an event is the committed change itself, the same whoever sent the request.
// It is small enough to inline, so that a ledger without events pays a test, not a call.
func (l *Ledger) transferEvent(record *model.Transfer, debit, credit *accountRecord) {
	if l.events != nil {
		l.appendTransferEvent(record, debit, credit)
	}
}

// appendTransferEvent is transferEvent's append.
func (l *Ledger) appendTransferEvent(record *model.Transfer, debit, credit *accountRecord) {
	kind := event.KindTransferCreated
	switch {
	case record.Flags&model.TransferPostPending != 0:
		kind = event.KindTransferPosted
	case record.Flags&model.TransferVoidPending != 0:
		kind = event.KindTransferVoided
	}
	l.appendTransferEventOf(kind, record, debit, credit)
}

// appendTransferEventOf appends a transfer event of kind with both accounts' balances,
// filled in place (event.Buffer.AppendTransferIn), each account's second line read only
// when it may have pending balances.
func (l *Ledger) appendTransferEventOf(kind event.Kind, record *model.Transfer,
	debit, credit *accountRecord) {
	e := l.events.AppendTransferIn(kind, record)
	debit.BalanceTo(&e.Debit)
	credit.BalanceTo(&e.Credit)
}

// CreateSystemTransfers is CreateTransfers for Sequent's own transfers (the matching
// engine's holds and settlements): their ids must lie in the system range, and they may
// touch system accounts and resolve system pending transfers, which client transfers may
// not (id_reserved).
func (l *Ledger) CreateSystemTransfers(firstTimestamp uint64, events []model.Transfer,
	results []model.TransferResult) {
	l.system = true
	defer func() { l.system = false }()
	l.CreateTransfers(firstTimestamp, events, results)
}

// CreateSagaTransfers is CreateSystemTransfers for the steps of cross-shard transfers
// (core/saga), with two differences. Step 1 carries the client's own transfer id (a
// pending transfer from the client's account into a settlement account), so its id may
// lie in the client range, and its transient failures are remembered as a client
// transfer's are. And a post or void is never refused for a closed account or for the
// transfers limit: it resolves a step 1 after the other shard has decided, so it must
// happen (the limit is exceeded by at most the sagas in flight).
func (l *Ledger) CreateSagaTransfers(firstTimestamp uint64, events []model.Transfer,
	results []model.TransferResult) {
	l.CreateSagaTransfersAs(0, firstTimestamp, events, results)
}

// CreateSagaFinishes is CreateSagaTransfers for the posts and voids of step 3, given
// where the ledger stores each one's pending transfer (pendings[i] for events[i], the
// index TransferIndex answered for step 1), so that resolving it needs no lookup of its
// id. An index is trusted only when the transfer stored there has the pending id: any
// other is looked up by id, so a wrong one costs a lookup, never a different result.
func (l *Ledger) CreateSagaFinishes(firstTimestamp uint64, events []model.Transfer,
	pendings []uint32, results []model.TransferResult) {
	if len(pendings) != len(events) {
		panic(fmt.Sprintf("ledger: %d pending indexes for %d events", len(pendings), len(events)))
	}
	// CreateSagaTransfersTo's settings and the indexes, set and reset here at once:
	// going through it (two more calls, each with its deferred reset) cost ~55
	// instructions per call (callgrind), and step 3 comes in batches of one to a few.
	l.system, l.saga, l.sagaPayees, l.sagaPendings = true, true, nil, pendings
	defer func() { l.system, l.saga, l.sagaPayees, l.sagaPendings = false, false, nil, nil }()
	l.CreateTransfersAs(0, true, firstTimestamp, events, results)
}

// CreateSagaCredits is CreateSystemTransfers for step 2 of cross-shard transfers, whose
// results show the credit account's balances only to whom may read it: readers[i] is the
// client who sent events[i]'s transfer, and a created event's CreditAccount is zeros when
// that client may not read the account (ledger doc, "Ownership"), as AccountAs would
// answer, but from the account index the batch resolved (still in the batch's scratch
// when the call returns): no second lookup, and nothing added to the transfers' path.
func (l *Ledger) CreateSagaCredits(firstTimestamp uint64, events []model.Transfer,
	readers []uint64, results []model.TransferResult) {
	if len(readers) != len(events) {
		panic(fmt.Sprintf("ledger: %d readers for %d events", len(readers), len(events)))
	}
	l.CreateSystemTransfers(firstTimestamp, events, results)
	creditIndexes := l.batch.creditIndex[:len(events)]
	for i := range results {
		if results[i].Status == model.StatusOK && !l.readableBy(readers[i], creditIndexes[i]) {
			results[i].CreditAccount = model.Balance{}
		}
	}
}

// CreateSagaTransfersAs is CreateSagaTransfers on behalf of client: step 1 of a
// cross-shard transfer is the client's own debit, so the client must be allowed to debit
// the debit account (debit_account_not_owned) and may see the transfer only when it may
// read it (an id taken by a transfer it may not see answers exists_with_different_owner),
// as for a local transfer; the settlement account it pays into is Sequent's, and paying
// into it needs no right. Results carry balances (the saga keeps them).
func (l *Ledger) CreateSagaTransfersAs(client uint64, firstTimestamp uint64,
	events []model.Transfer, results []model.TransferResult) {
	l.CreateSagaTransfersTo(client, firstTimestamp, events, nil, results)
}

// CreateSagaTransfersTo is CreateSagaTransfersAs with the payee of each step 1 (payees[i]
// for events[i], whose credit account is the settlement account): the risk rules judge
// step 1 as a transfer to its payee where a rule names the other account (blocked
// counterparties; core/saga passes them from rules version 5 on). Nil: as before, the
// settlement account.
func (l *Ledger) CreateSagaTransfersTo(client uint64, firstTimestamp uint64,
	events []model.Transfer, payees []model.Uint128, results []model.TransferResult) {
	l.system, l.saga, l.sagaPayees = true, true, payees
	defer func() { l.system, l.saga, l.sagaPayees = false, false, nil }()
	l.CreateTransfersAs(client, true, firstTimestamp, events, results)
}

// CreateSystemAccounts is CreateAccounts for Sequent's own accounts (escrow, fees),
// whose ids must lie in the system range.
func (l *Ledger) CreateSystemAccounts(firstTimestamp uint64, events []model.Account,
	results []model.EventResult) {
	l.system = true
	defer func() { l.system = false }()
	l.CreateAccounts(firstTimestamp, events, results)
}

// resolveTransfers fills l.batch for events[start:end] of a batch (start a multiple of
// pipelineBlockEvents) by running the stages of CreateTransfersAs's pipeline one after
// the other instead of overlapped with an apply: the slots of every block, then the
// candidate records of every block, then the confirmations. The misses of a whole range
// are in flight together. Restore uses it (it has nothing to apply meanwhile), and so
// does the two-phase reference of TestPipelineMatchesTwoPhase.
func (l *Ledger) resolveTransfers(events []model.Transfer, start, end int) {
	events = events[:end]
	first := start / pipelineBlockEvents
	last := (end + pipelineBlockEvents - 1) / pipelineBlockEvents
	for block := first; block < last; block++ {
		l.prefetchSlots(events, block)
	}
	for block := first; block < last; block++ {
		l.prefetchRecords(events, block)
	}
	l.confirmAccounts(events[start:end], start)
}

// confirmAccount resolves an account whose candidate index from idTable.candidate is not
// the account (confirmAccounts checks the common case, a match, inline).
func (l *Ledger) confirmAccount(candidate uint32, hash uint64, id model.Uint128) uint32 {
	if candidate == indexNone && l.accountIndex.old == nil {
		return indexNone // The probe run ended without a matching tag: not present.
	}
	index, _, _ := l.probeAccount(hash, id) // A 32-bit tag collision: rare.
	return index
}

// createTransfer evaluates one transfer in the documented precedence order (doc.go) and
// applies it when every check passes. It remembers the id of a transient failure.
func (l *Ledger) createTransfer(t *model.Transfer, timestamp uint64, event int,
	result *model.TransferResult) model.Status {
	if l.isReservation(t) {
		return l.changeReservation(t, event, result) // No id, no record (reservation.go).
	}
	// A plain transfer passes the header's checks and, later, the static validation; any
	// other goes through both in their places in the precedence order. The account ids'
	// part of plainTransfer is left to singleOrPendingTransfer (plainIgnoringAccountIDs).
	plain := plainIgnoringAccountIDs(t)
	if !plain {
		if status := transferHeaderStatus(t, l.system); status != model.StatusOK {
			return status
		}
	}
	if l.saga && t.Flags&model.TransferFromReservation != 0 {
		return model.StatusReservedFlagFromReservation // A saga's step carries a client's transfer.
	}
	if l.system && !l.saga && !model.IsSystemID(t.ID) {
		panic(fmt.Sprintf("ledger: system transfer %s outside the system range", t.ID))
	}
	l.transferIndex.prepareInsert()
	hash := l.batch.transferHash[event]
	// A new transfer's id nearly always finds its home slot empty: then probeTransfer
	// would answer not found at that position, which costs a test here instead of its
	// call (idTable.emptyHome).
	position, absent := l.transferIndex.emptyHome(hash)
	existing, found := indexNone, false
	if !absent {
		existing, position, found = l.probeTransfer(hash, t.ID)
	}
	if found {
		e := l.transfers.at(existing)
		result.Timestamp = e.Timestamp
		if !l.transferVisible(e) {
			// Someone else's transfer: compare nothing, so that no field of it leaks.
			return model.StatusExistsWithDifferentOwner
		}
		return l.transferExists(t, e)
	}
	if l.hasFailed(t.ID) {
		return model.StatusIDAlreadyFailed
	}
	var status model.Status
	if t.Flags&(model.TransferPostPending|model.TransferVoidPending) != 0 {
		status = l.postOrVoidTransfer(t, timestamp, event, hash, position, result)
	} else if t.Flags&model.TransferFromReservation != 0 {
		status = l.postFromReservation(t, timestamp, event, hash, position, result)
	} else {
		status = l.singleOrPendingTransfer(t, plain, timestamp, event, hash, position, result)
	}
	// Tested for ok first: Transient's switch cost ten instructions on every transfer.
	if status != model.StatusOK && status.Transient() && !model.IsSystemID(t.ID) {
		// System transfers (the matching engine's holds) are never retried by a client, so
		// remembering their failures would only grow memory without bound. A saga's step 1
		// carries the client's id and is remembered like a client transfer.
		l.rememberFailed(t.ID)
	}
	return status
}

// plainTransfer reports whether a transfer is of the common kind that both
// transferHeaderStatus (for the system or a client) and validateTransfer answer
// StatusOK to: no timestamp, no flag but linked and pending, no timeout, no pending id,
// a ledger and a code, and three nonzero ids below 2^127 (so neither 2^128-1 nor a
// system id), the two accounts different. One pass of cheap tests, where the two calls
// made each check in turn (~90 instructions of a transfer's ~1,050); anything else (a
// system id, a timeout, a post...) is not plain and takes the two calls, which then
// decide exactly.
func plainTransfer(t *model.Transfer) bool {
	return plainIgnoringAccountIDs(t) &&
		t.DebitAccountID.Lo|t.DebitAccountID.Hi != 0 &&
		t.CreditAccountID.Lo|t.CreditAccountID.Hi != 0 &&
		t.DebitAccountID != t.CreditAccountID
}

// plainIgnoringAccountIDs is plainTransfer without its three tests of the account ids
// (neither zero, the two different), so that it inlines: plainTransfer's cost, 90, is
// over the compiler's budget of 80, and its call made createTransfer spill and reload
// its live values around it. A transfer it calls plain passes transferHeaderStatus, and
// validateTransfer unless an account id is zero or both are the same. No account has the
// id zero (creation and restore refuse it), so then an account is not found or both
// records are the same, which singleOrPendingTransfer tests anyway; only there does it
// run validateTransfer for such a transfer, whose codes come before both accounts'.
func plainIgnoringAccountIDs(t *model.Transfer) bool {
	mustBeZero := t.Timestamp | t.PendingID.Lo | t.PendingID.Hi | uint64(t.Timeout) |
		uint64(t.Flags&^(model.TransferLinked|model.TransferPending))
	return mustBeZero == 0 && t.Ledger != 0 && t.Code != 0 &&
		(t.ID.Hi|t.DebitAccountID.Hi|t.CreditAccountID.Hi)>>63 == 0 &&
		t.ID.Lo|t.ID.Hi != 0
}

// transferHeaderStatus holds the first checks of every transfer, in precedence order.
// Client events (system false) may not use or touch system ids.
func transferHeaderStatus(t *model.Transfer, system bool) model.Status {
	switch {
	case t.Timestamp != 0:
		return model.StatusTimestampMustBeZero
	case t.Flags&^(model.TransferFlagsKnown|model.TransferFromReservation) != 0:
		return model.StatusReservedFlag
	case !system && t.Flags&model.TransferFromReservation != 0:
		// Only the matching engine pays a fill out of an order's reservation.
		return model.StatusReservedFlagFromReservation
	case t.ID.IsZero():
		return model.StatusIDMustNotBeZero
	case t.ID.IsMax():
		return model.StatusIDMustNotBeIntMax
	case !system && topBitOfAny(t) &&
		(model.IsSystemID(t.ID) || model.IsSystemID(t.DebitAccountID) ||
			model.IsSystemID(t.CreditAccountID) || model.IsSystemID(t.PendingID)):
		// Clients may not create, touch or resolve Sequent's own accounts and transfers.
		return model.StatusIDReserved
	}
	return model.StatusOK
}

// topBitOfAny reports whether any of the transfer's four ids has bit 127 set, which every
// system id has (model.IsSystemID): one test clears nearly every client transfer, where
// the four IsSystemID tests took about ten instructions more.
func topBitOfAny(t *model.Transfer) bool {
	return (t.ID.Hi|t.DebitAccountID.Hi|t.CreditAccountID.Hi|t.PendingID.Hi)>>63 != 0
}

// PlainTransfer reports whether a transfer is plain (plainTransfer): one that
// CheckTransferHeader and ValidateTransfer both answer StatusOK to, so that a caller
// about to make both may skip them.
func PlainTransfer(t *model.Transfer) bool { return plainTransfer(t) }

// CheckTransferHeader answers the first checks of a client's transfer (timestamp,
// reserved flags, the id, system ids), in precedence order.
func CheckTransferHeader(t *model.Transfer) model.Status { return transferHeaderStatus(t, false) }

// CheckNewTransfer evaluates client's single-phase or pending transfer up to, and not
// including, its account checks, in the documented precedence: the header, whether the
// id exists (exists, exists_with_different_*, or exists_with_different_owner for a
// transfer client may not see; the stored transfer's timestamp is returned), whether it
// failed before (id_already_failed), and the static validation. It changes nothing. The
// cross-shard path (core) uses it so that a transfer whose credit account lives on
// another shard gets the same codes as a local one.
func (l *Ledger) CheckNewTransfer(client uint64, t *model.Transfer) (model.Status, uint64) {
	if status := transferHeaderStatus(t, false); status != model.StatusOK {
		return status, 0
	}
	if index, found := l.findTransfer(t.ID); found {
		e := l.transfers.at(index)
		l.actAs(client)
		if !l.transferVisible(e) {
			return model.StatusExistsWithDifferentOwner, e.Timestamp
		}
		return l.transferExists(t, e), e.Timestamp
	}
	if l.hasFailed(t.ID) {
		return model.StatusIDAlreadyFailed, 0
	}
	return validateTransfer(t), 0
}

// ValidateTransfer answers the static checks of a single-phase or pending transfer (from
// debit_account_id_must_not_be_zero to code_must_not_be_zero), in precedence order.
func ValidateTransfer(t *model.Transfer) model.Status { return validateTransfer(t) }

// validateTransfer holds the static checks of a single-phase or pending transfer.
func validateTransfer(t *model.Transfer) model.Status {
	closing := model.TransferClosingDebit | model.TransferClosingCredit
	switch {
	case t.DebitAccountID.IsZero():
		return model.StatusDebitAccountIDMustNotBeZero
	case t.DebitAccountID.IsMax():
		return model.StatusDebitAccountIDMustNotBeIntMax
	case t.CreditAccountID.IsZero():
		return model.StatusCreditAccountIDMustNotBeZero
	case t.CreditAccountID.IsMax():
		return model.StatusCreditAccountIDMustNotBeIntMax
	case t.DebitAccountID == t.CreditAccountID:
		return model.StatusAccountsMustBeDifferent
	case !t.PendingID.IsZero():
		return model.StatusPendingIDMustBeZero
	case t.Flags&model.TransferPending == 0 && t.Timeout != 0:
		return model.StatusTimeoutReservedForPendingTransfer
	case t.Flags&model.TransferPending == 0 && t.Flags&closing != 0:
		return model.StatusClosingTransferMustBePending
	case t.Ledger == 0:
		return model.StatusLedgerMustNotBeZero
	case t.Code == 0:
		return model.StatusCodeMustNotBeZero
	}
	return model.StatusOK
}

// singleOrPendingTransfer checks and applies a transfer that is not a post or void; a
// plain one (plainIgnoringAccountIDs) passes the static validation without it when both
// accounts are found and differ, which implies that their ids are nonzero and different.
func (l *Ledger) singleOrPendingTransfer(t *model.Transfer, plain bool, timestamp uint64,
	event int, hash uint64, position uint64, result *model.TransferResult) model.Status {
	if !plain {
		if status := validateTransfer(t); status != model.StatusOK {
			return status
		}
	}
	// The records the stages resolved with the indexes (batchScratch.accounts): nil where
	// the index is indexNone. The indexes themselves are loaded only where used (ownership,
	// risk, undo, history, reads), none of which a plain system transfer between accounts
	// without history needs (two loads and bounds checks, ~8 instructions, callgrind).
	pair := &l.batch.accounts[event]
	debit, credit := pair.debit, pair.credit
	// Both records the same: only a plain transfer (validateTransfer refused the others)
	// whose account ids are the same.
	if debit == nil || credit == nil || debit == credit {
		if plain {
			// An account id may be zero, or both the same: the validation's codes come
			// before the accounts'.
			if status := validateTransfer(t); status != model.StatusOK {
				return status
			}
		}
		if debit == nil {
			return model.StatusDebitAccountNotFound
		}
		if credit == nil {
			if l.saga {
				return l.sagaDebitRefusal(t, l.batch.debitIndex[event])
			}
			return model.StatusCreditAccountNotFound
		}
	}
	if !l.actor.all { // The system and operators may use every account.
		status := l.checkOwnership(t, l.batch.debitIndex[event], l.batch.creditIndex[event])
		if status != model.StatusOK {
			return status
		}
	}
	if status := accountsStatus(t, debit, credit); status != model.StatusOK {
		return status
	}
	amount := balancedAmount(t, debit, credit)
	held := false
	if l.riskActive() {
		var status model.Status
		status, held = l.checkRisk(t, event, l.batch.debitIndex[event],
			l.batch.creditIndex[event], credit, amount, timestamp, result)
		if status != model.StatusOK {
			return status
		}
	}
	pending := held || t.Flags&model.TransferPending != 0
	// Nearly always the amounts are small: then no overflow check can fail, and neither
	// checkDebitSide's nor checkAmount's is called.
	small := smallAmounts(amount, debit, credit)
	if !l.actor.all {
		limited := debit.Flags&model.AccountDebitsMustNotExceedCredits != 0
		// A client checks its own side first: the credit account's overflow checks
		// depend on that account's balances, and answering them first to an amount the
		// payer cannot afford would let it read them by binary search.
		if !small || limited {
			if status := checkDebitSide(amount, pending, debit); status != model.StatusOK {
				return status
			}
		}
		// Issuing money takes the right to, at the time of the debit (rules version 6
		// on: SetIssuingChecked); refused where the flag's exceeds_credits would be.
		if !limited && l.own.issuingChecked && debitsExceedCredits(amount, debit.debitsPending(), debit) &&
			!l.mayIssue(debit.ID, debit.Ledger) {
			return model.StatusExceedsCredits
		}
	}
	if !small {
		if status := checkAmount(amount, pending, debit, credit); status != model.StatusOK {
			return status
		}
	}
	var deadline uint64
	if pending && t.Timeout != 0 {
		deadline = timestamp + uint64(t.Timeout)*nanosecondsPerSecond
		if deadline > timestampMax {
			return model.StatusOverflowsTimeout
		}
	}
	if status := checkLimits(amount, debit, credit); status != model.StatusOK {
		return status
	}
	if l.transfers.count >= l.config.TransfersMax {
		return model.StatusTransfersLimitReached
	}
	if l.undo.active { // Tested here too: saveAccountState's indexes are loaded only then.
		l.saveAccountState(l.batch.debitIndex[event], debit)
		l.saveAccountState(l.batch.creditIndex[event], credit)
	}
	// createdPlains adds a plain transfer's amounts with the same block: a change here is
	// a change there (one shared helper cannot inline and cost 17.9 instructions per
	// plain transfer, callgrind, session 50).
	if pending {
		debit.addDebitsPending(amount)
		credit.addCreditsPending(amount)
		pendingAddedTo(l.totals.of(debit.Ledger), amount)
	} else {
		debit.DebitsPosted = debit.DebitsPosted.MustAdd(amount)
		credit.CreditsPosted = credit.CreditsPosted.MustAdd(amount)
		postedAddedTo(l.totals.of(debit.Ledger), amount)
	}
	if t.Flags&model.TransferClosingDebit != 0 {
		debit.Flags |= model.AccountClosed
	}
	if t.Flags&model.TransferClosingCredit != 0 {
		credit.Flags |= model.AccountClosed
	}
	index, record := l.appendTransfer(hash, position, debit, credit)
	*record = *t
	record.Amount, record.Timestamp = amount, timestamp
	record.Flags = storedFlags(t.Flags, held)
	l.commitRisk()
	if pending {
		*l.pending.at(index) = pendingActive
		if deadline != 0 {
			l.registerExpiry(expiryItem{deadline: deadline, transfer: index})
		}
	}
	if (debit.Flags|credit.Flags)&model.AccountHistory != 0 { // As recordHistory tests.
		l.recordHistory(l.batch.debitIndex[event], debit, index, timestamp)
		l.recordHistory(l.batch.creditIndex[event], credit, index, timestamp)
	}
	l.transferEvent(record, debit, credit)
	if l.resultBalances {
		debit.BalanceTo(&result.DebitAccount)
		credit.BalanceTo(&result.CreditAccount)
		// The debit account passed checkOwnership (transfer includes read): only the
		// credit account's balances may have to be hidden.
		if !l.actor.all && !l.allowed(model.ScopeRead, l.batch.creditIndex[event]) {
			result.CreditAccount = model.Balance{}
		}
	}
	if held {
		// Created held: the holding rule decided the outcome (checkRisk left its id in
		// the detail; before rules version 8 it named it in the result already).
		result.Rule = result.Risk.Rule
		return model.StatusRiskHeldForReview
	}
	return model.StatusOK
}

// plainFallbackAccountFlags are the account flags with which createdPlains leaves a
// transfer to singleOrPendingTransfer: each asks for a check or a write that a plain
// transfer between accounts without them skips (a closed account refuses, a limit is
// tested, a history entry is appended).
const plainFallbackAccountFlags = model.AccountClosed | model.AccountDebitsMustNotExceedCredits |
	model.AccountCreditsMustNotExceedDebits | model.AccountHistory

// createdPlains creates, from events[start], each plain transfer (plainIgnoringAccountIDs,
// not linked) for which nothing about it or its ledger asks for more than the common
// case, writing its whole result, and returns the first event it does not create (end
// when none), having written nothing for that one: createTransfer decides it. The
// common case: a batch that is not the system's own (whose plain transfers panic in
// createTransfer), the transfer table with nothing to prepare
// before an insert (idTable.prepared), an id neither stored nor failed, both accounts
// found and different, on the transfer's ledger, none of plainFallbackAccountFlags, the
// amounts small (smallAmounts), a client's rights (below), no risk rules, no undo log,
// room for a transfer. Then every check of createTransfer and
// singleOrPendingTransfer passes (their order matters only for a refusal) and they
// would make exactly these writes. Those two carry every case, so their live values
// (their arguments, the two records, the amount) are spilled to the stack at entry and
// reloaded after each call; this path calls appendTransfer only (and the lookups of an
// id whose home slot is taken, or after a failure), and its tests come first, so a
// transfer that falls back has paid only them. applyTransfers calls it outside a chain
// only (a chain's undo log is active anyway). It loops over the run itself: called
// once per event, applyTransfers spilled and reloaded a dozen live values around each
// call (~19 instructions per transfer, callgrind).
func (l *Ledger) createdPlains(firstTimestamp uint64, events []model.Transfer,
	results []model.TransferResult, start, end int) int {
	// Cut to end, so that indexing them by i (below end) needs no check.
	events, results = events[:end], results[:end]
	for i := start; i < end; i++ {
		t, result, event := &events[i], &results[i], i
		timestamp := firstTimestamp + uint64(i)
		if t.Flags&model.TransferLinked != 0 || !plainIgnoringAccountIDs(t) ||
			l.system && !l.saga || !l.transferIndex.prepared() {
			return i
		}
		pair := &l.batch.accounts[event]
		debit, credit := pair.debit, pair.credit
		if debit == nil || credit == nil || debit == credit || l.riskActive() ||
			l.undo.active || l.transfers.count >= l.config.TransfersMax {
			return i
		}
		amount := t.Amount // A plain transfer does not balance (balancedAmount).
		if debit.Ledger != t.Ledger || credit.Ledger != t.Ledger ||
			(debit.Flags|credit.Flags)&plainFallbackAccountFlags != 0 ||
			!smallAmounts(amount, debit, credit) {
			return i
		}
		// A client's checks (singleOrPendingTransfer's for an actor that may not use every
		// account), as they pass for a plain transfer: checkOwnership asks only for the
		// right to debit (a plain transfer neither closes nor balances its credit account),
		// checkDebitSide is not called (small amounts, no limit flag), and a debit that
		// issues money takes the right to (mayIssue). A client with a transfer grant over
		// the whole of the transfer's ledger (actor.transferLedger; both accounts are on it)
		// passes them all and may read the credit account: one compare. Otherwise the
		// owner's compare is allowed's own first test, inline: a client debiting its own
		// account makes no call. The actor is tested again below rather than kept in a
		// local: one live across appendTransfer cost every transfer ~2 instructions
		// (callgrind).
		if !l.actor.all && t.Ledger != l.actor.transferLedger {
			debitIndex := l.batch.debitIndex[event]
			if *l.own.owners.at(debitIndex) != l.actor.owner &&
				!l.allowed(model.ScopeTransfer, debitIndex) {
				return i
			}
			if l.own.issuingChecked && debitsExceedCredits(amount, debit.debitsPending(), debit) &&
				!l.mayIssue(debit.ID, debit.Ledger) {
				return i
			}
		}
		// The lookups of createTransfer, which write nothing: the id must be new.
		hash := l.batch.transferHash[event]
		position, absent := l.transferIndex.emptyHome(hash)
		if !absent {
			var found bool
			if _, position, found = l.probeTransfer(hash, t.ID); found {
				return i
			}
		}
		if l.hasFailed(t.ID) {
			return i
		}
		// A plain transfer has no timeout (no deadline), no closing flag, and is not held.
		pending := t.Flags&model.TransferPending != 0
		if pending { // The general path's block, copied to stay inlined: change both.
			debit.addDebitsPending(amount)
			credit.addCreditsPending(amount)
			pendingAddedTo(l.totals.of(debit.Ledger), amount)
		} else {
			debit.DebitsPosted = debit.DebitsPosted.MustAdd(amount)
			credit.CreditsPosted = credit.CreditsPosted.MustAdd(amount)
			postedAddedTo(l.totals.of(debit.Ledger), amount)
		}
		index, record := l.appendTransfer(hash, position, debit, credit)
		*record = *t // Its amount is amount: a plain transfer does not balance.
		record.Timestamp = timestamp
		// The stored flags, not pending: that one, live across appendTransfer, was
		// spilled and reloaded (callgrind).
		if record.Flags&model.TransferPending != 0 {
			*l.pending.at(index) = pendingActive
		}
		l.transferEvent(record, debit, credit)
		result.EventResult = model.EventResult{Timestamp: timestamp} // StatusOK, no rule.
		if l.resultBalances {
			debit.BalanceTo(&result.DebitAccount)
			credit.BalanceTo(&result.CreditAccount)
			// A client may read the debit account (it passed the transfer check, which
			// includes read); the credit account's balances are hidden unless it may read
			// that account too, as singleOrPendingTransfer hides them.
			if !l.actor.all && t.Ledger != l.actor.transferLedger {
				creditIndex := l.batch.creditIndex[event]
				if *l.own.owners.at(creditIndex) != l.actor.owner &&
					!l.allowed(model.ScopeRead, creditIndex) {
					result.CreditAccount = model.Balance{}
				}
			}
		} else {
			result.DebitAccount, result.CreditAccount = model.Balance{}, model.Balance{}
		}
		result.Risk = model.RiskDetail{}
	}
	return end
}

// sagaDebitRefusal answers step 1 of a cross-shard transfer whose settlement account
// (its credit account) does not exist. Core creates that account before the step for a
// transfer that passes the debit side's checks (core/saga, EnsureSettlementsAs), so the
// step is one that fails them: it gets the code it would get with the account there,
// whose ledger is the transfer's. The codes and their order are those of the checks
// below (checkOwnership, then accountsStatus), and createTransfer remembers a transient
// one as it would.
func (l *Ledger) sagaDebitRefusal(t *model.Transfer, debitIndex uint32) model.Status {
	switch {
	case !l.allowed(model.ScopeTransfer, debitIndex):
		return model.StatusDebitAccountNotOwned
	case l.accounts.at(debitIndex).Ledger != t.Ledger:
		return model.StatusAccountsMustHaveTheSameLedger
	}
	// Not reached: the account would have been created. Answer what is true.
	return model.StatusCreditAccountNotFound
}

// accountsStatus holds the checks of a transfer's two accounts that come after their
// existence and ownership: the same ledger as each other and as the transfer, neither
// closed.
func accountsStatus(t *model.Transfer, debit, credit *accountRecord) model.Status {
	switch {
	case debit.Ledger != credit.Ledger:
		return model.StatusAccountsMustHaveTheSameLedger
	case t.Ledger != debit.Ledger:
		return model.StatusTransferMustHaveTheSameLedgerAsAccount
	case debit.Flags&model.AccountClosed != 0:
		return model.StatusDebitAccountAlreadyClosed
	case credit.Flags&model.AccountClosed != 0:
		return model.StatusCreditAccountAlreadyClosed
	}
	return model.StatusOK
}

// checkOwnership applies the ownership rules of a single-phase or pending transfer: the
// actor must be allowed to debit the debit account; paying into any account needs no
// right over it, except when the transfer acts on that account itself (closing it, or
// clamping the amount to its balance, which would reveal the balance).
func (l *Ledger) checkOwnership(t *model.Transfer, debitIndex, creditIndex uint32) model.Status {
	if !l.allowed(model.ScopeTransfer, debitIndex) {
		return model.StatusDebitAccountNotOwned
	}
	actsOnCredit := model.TransferClosingCredit | model.TransferBalancingCredit
	if t.Flags&actsOnCredit != 0 && !l.allowed(model.ScopeTransfer, creditIndex) {
		return model.StatusCreditAccountNotOwned
	}
	return model.StatusOK
}

// balancedAmount clamps a balancing transfer's amount to what keeps the balancing side
// from exceeding its counterpart (the flag works whatever the account's limit flags). It
// is small enough to inline: a transfer that balances neither side (nearly all) costs a
// test instead of a call.
func balancedAmount(t *model.Transfer, debit, credit *accountRecord) model.Uint128 {
	if t.Flags&(model.TransferBalancingDebit|model.TransferBalancingCredit) == 0 {
		return t.Amount
	}
	return clampedAmount(t, debit, credit)
}

// clampedAmount is balancedAmount for a balancing transfer.
func clampedAmount(t *model.Transfer, debit, credit *accountRecord) model.Uint128 {
	amount := t.Amount
	if t.Flags&model.TransferBalancingDebit != 0 {
		debits := debit.DebitsPosted.MustAdd(debit.DebitsPending)
		amount = amount.Min(debit.CreditsPosted.SaturatingSub(debits))
	}
	if t.Flags&model.TransferBalancingCredit != 0 {
		credits := credit.CreditsPosted.MustAdd(credit.CreditsPending)
		amount = amount.Min(credit.DebitsPosted.SaturatingSub(credits))
	}
	return amount
}

// smallAmountHighWordLimit bounds the high words smallAmounts accepts: a value whose
// high word is below 2^62 is below 2^126, and three such values sum below 3 * 2^126,
// which fits in 128 bits.
const smallAmountHighWordLimit = 1 << 62

// smallAmounts reports whether amount and the four balances checkAmount adds it to are
// all below 2^126, so that the amount plus either side's pending plus posted fits in 128
// bits: then checkAmount would answer StatusOK, and so would checkDebitSide's overflow
// checks (its limit check aside). One test on the high words, where checkAmount's common
// case takes two 128-bit additions, two overflow tests and a call. When it answers
// false, those functions decide exactly.
//
// A pending balance marked zero (accountPendingZero) is not read: a plain transfer
// between accounts without pending balances reads only their records' first lines.
func smallAmounts(amount model.Uint128, debit, credit *accountRecord) bool {
	high := amount.Hi | debit.DebitsPosted.Hi | credit.CreditsPosted.Hi
	if !debit.pendingZero() {
		high |= debit.DebitsPending.Hi
	}
	if !credit.pendingZero() {
		high |= credit.CreditsPending.Hi
	}
	return high < smallAmountHighWordLimit
}

// checkAmount refuses any amount that would overflow a balance. It also keeps the
// invariant that pending + posted never overflows on either side, which the other
// arithmetic relies on (MustAdd).
func checkAmount(amount model.Uint128, pending bool, debit, credit *accountRecord) model.Status {
	// Each side's pending + posted is at least either part, so an amount that fits on top
	// of both sums fits on top of every balance (nearly always): two tests instead of six
	// (four for a single-phase transfer). Otherwise the checks below find which code.
	if !amount.AddOverflows(debit.DebitsPending.MustAdd(debit.DebitsPosted)) &&
		!amount.AddOverflows(credit.CreditsPending.MustAdd(credit.CreditsPosted)) {
		return model.StatusOK
	}
	if pending {
		if amount.AddOverflows(debit.DebitsPending) {
			return model.StatusOverflowsDebitsPending
		}
		if amount.AddOverflows(credit.CreditsPending) {
			return model.StatusOverflowsCreditsPending
		}
	}
	switch {
	case amount.AddOverflows(debit.DebitsPosted):
		return model.StatusOverflowsDebitsPosted
	case amount.AddOverflows(credit.CreditsPosted):
		return model.StatusOverflowsCreditsPosted
	case amount.AddOverflows(debit.DebitsPending.MustAdd(debit.DebitsPosted)):
		return model.StatusOverflowsDebits
	case amount.AddOverflows(credit.CreditsPending.MustAdd(credit.CreditsPosted)):
		return model.StatusOverflowsCredits
	}
	return model.StatusOK
}

// checkDebitSide holds the checks of checkAmount and checkLimits that concern the
// debit account alone, in their order: what a client that is not an operator is told
// before anything that depends on the credit account (doc.go, "Ownership").
func checkDebitSide(amount model.Uint128, pending bool, debit *accountRecord) model.Status {
	debits := debit.DebitsPending.MustAdd(debit.DebitsPosted)
	switch {
	case pending && amount.AddOverflows(debit.DebitsPending):
		return model.StatusOverflowsDebitsPending
	case amount.AddOverflows(debit.DebitsPosted):
		return model.StatusOverflowsDebitsPosted
	case amount.AddOverflows(debits):
		return model.StatusOverflowsDebits
	case debit.Flags&model.AccountDebitsMustNotExceedCredits != 0 &&
		debit.CreditsPosted.Less(debits.MustAdd(amount)):
		return model.StatusExceedsCredits
	}
	return model.StatusOK
}

// checkLimits applies the accounts' balance flags. Pending amounts count against the
// limit, so a pending transfer can never be posted into an overdraft. It is small enough
// to inline: between accounts without a limit flag it costs a test instead of a call.
func checkLimits(amount model.Uint128, debit, credit *accountRecord) model.Status {
	if debit.Flags&model.AccountDebitsMustNotExceedCredits == 0 &&
		credit.Flags&model.AccountCreditsMustNotExceedDebits == 0 {
		return model.StatusOK
	}
	return limitsStatus(amount, debit, credit)
}

// limitsStatus is checkLimits when either account has a limit flag.
func limitsStatus(amount model.Uint128, debit, credit *accountRecord) model.Status {
	if debit.Flags&model.AccountDebitsMustNotExceedCredits != 0 {
		debits := debit.DebitsPending.MustAdd(debit.DebitsPosted).MustAdd(amount)
		if debit.CreditsPosted.Less(debits) {
			return model.StatusExceedsCredits
		}
	}
	if credit.Flags&model.AccountCreditsMustNotExceedDebits != 0 {
		credits := credit.CreditsPending.MustAdd(credit.CreditsPosted).MustAdd(amount)
		if credit.DebitsPosted.Less(credits) {
			return model.StatusExceedsDebits
		}
	}
	return model.StatusOK
}

// appendTransfer stores a new transfer (whose fields the caller fills), indexes it and
// links it into both accounts' lists. The callers hold the accounts already (looking
// them up again by index cost two chunk lookups per transfer).
func (l *Ledger) appendTransfer(hash uint64, position uint64,
	debit, credit *accountRecord) (uint32, *model.Transfer) {
	// The three arrays a transfer appends to (transfers, transferLinks, pending) are only
	// ever pushed and popped together, so their counts are always the same: one count,
	// chunk and offset serve all three, where three pushInPlace calls computed each their
	// own (~17 instructions each, callgrind; a function of its own, over the inlining
	// budget, cost ~10 more in its call). All three are pushed in place, or, when any
	// needs push (a chunk to take, or a first chunk to grow), all three by push. Every
	// index is still bounds-checked: counts that differed could not write outside a chunk.
	index := l.transfers.count
	chunk, offset := int(index>>chunkShift), int(index&chunkMask)
	records, linkChunks, statusChunks := l.transfers.chunks, l.transferLinks.chunks,
		l.pending.chunks
	var record *model.Transfer
	var links *transferLinks
	var status *pendingStatus
	if chunk < len(records) && chunk < len(linkChunks) && chunk < len(statusChunks) {
		recordChunk, linkChunk, statusChunk := records[chunk], linkChunks[chunk],
			statusChunks[chunk]
		if offset < len(recordChunk) && offset < len(linkChunk) && offset < len(statusChunk) {
			next := index + 1
			l.transfers.count, l.transferLinks.count, l.pending.count = next, next, next
			record, links, status = &recordChunk[offset], &linkChunk[offset],
				&statusChunk[offset]
		}
	}
	if record == nil {
		index, record = l.transfers.push()
		_, links = l.transferLinks.push()
		_, status = l.pending.push()
	}
	*status = pendingNone
	l.transferIndex.insertAt(position, hash, index)
	links.debitPrevious, links.creditPrevious = newestTransfer(debit), newestTransfer(credit)
	setNewestTransfer(debit, index)
	setNewestTransfer(credit, index)
	// Tested here, not only in push: the undo record (64 bytes) was built on the stack
	// before push's test, for every transfer outside a chain (8 instructions, callgrind).
	if l.undo.active {
		l.undo.push(undoRecord{kind: undoTransferCreated, index: index})
	}
	return index, record
}

// recordHistory appends a balance-history entry when the account has the history flag.
// It is small enough to inline, so that the accounts without the flag (nearly all) cost
// a test instead of a call; appendHistory does the work.
func (l *Ledger) recordHistory(accountIndex uint32, account *accountRecord, transfer uint32,
	timestamp uint64) {
	if account.Flags&model.AccountHistory != 0 {
		l.appendHistory(accountIndex, account, transfer, timestamp)
	}
}

// appendHistory is recordHistory's append.
func (l *Ledger) appendHistory(accountIndex uint32, account *accountRecord, transfer uint32,
	timestamp uint64) {
	index, record := l.history.push()
	record.balance = model.AccountBalance{Balance: account.Balance(), Timestamp: timestamp}
	record.account, record.transfer = accountIndex, transfer
	record.previous = indexNone
	if last, ok := l.historyLast[accountIndex]; ok {
		record.previous = last
	}
	l.historyLast[accountIndex] = index
	l.undo.push(undoRecord{kind: undoHistoryCreated, index: index})
}

// recordPrefetch is a way for prefetchRecords to ask for account records
// (Ledger.recordPrefetch).
type recordPrefetch uint8

const (
	// recordFirstLinesIntoL2 prefetches each record's first line into L2 (since session 52).
	recordFirstLinesIntoL2 recordPrefetch = iota
	// recordFirstLinesIntoL1 prefetches each record's first line into L1 (sessions 44-51).
	recordFirstLinesIntoL1
	// recordBothLinesIntoL1 prefetches both lines of each record into L1 (before session 44).
	recordBothLinesIntoL1
)
