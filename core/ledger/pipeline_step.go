package ledger

import (
	"unsafe"

	"sequent/core/internal/prefetch"
	"sequent/core/model"
)

// fullStepEvents is the length of the specialised stages' arrays: indexed with constant bounds,
// their loops carry no bounds checks, and a step of the events or the scratch is one
// conversion (one length check) where a cut slice had two or three. Each conversion is
// written out: a generic helper for them was not inlined and cost ~14 instructions per
// call (callgrind).
const fullStepEvents = pipelineStepEvents

// pipelineSteadySteps runs the pipeline's full steps for the ledger's shape
// (pipelineShapeDefault) from event start while every stage has a whole step ahead of it,
// and returns the first event it left to pipelineTransfers' general loop. The same
// stages in the same order as that loop, specialised for exactly pipelineStepEvents
// events: the general stages' per-call work (cutting the events and the scratch's
// slices to the step, with their checks, and the loops' bounds checks) is paid once per
// 4 events since the steps are short; without it the three stages take 1,266 instead of
// 1,404 instructions per step (callgrind, bench/PERFORMANCE.md, session 53 ledger53b).
func (l *Ledger) pipelineSteadySteps(runner *chainRunner, firstTimestamp uint64,
	events []model.Transfer, results []model.TransferResult, start int) int {
	count := len(events)
	for ; start+pipelineSlotsAheadEvents+pipelineStepEvents <= count; start += pipelineStepEvents {
		slots := start + pipelineSlotsAheadEvents
		l.prefetchSlotsStep((*[fullStepEvents]model.Transfer)(events[slots:]), slots)
		records := start + pipelineRecordsAheadEvents
		l.prefetchRecordsStep((*[fullStepEvents]model.Transfer)(events[records:]), records)
		l.prefetchNewTransfers(pipelineRecordsAheadEvents, pipelineStepEvents)
		l.confirmAccountsStep((*[fullStepEvents]model.Transfer)(events[start:]), start)
		l.applyTransfers(runner, firstTimestamp, events, results, start, start+pipelineStepEvents)
	}
	return start
}

// prefetchSlotsStep is prefetchSlotsIn for the step of events from start (exactly
// pipelineStepEvents events): the same hashes, stored in the same places, and the same
// slots prefetched in the same order.
func (l *Ledger) prefetchSlotsStep(events *[fullStepEvents]model.Transfer, start int) {
	s := &l.batch
	debitHash, creditHash := (*[fullStepEvents]uint64)(s.debitHash[start:]), (*[fullStepEvents]uint64)(s.creditHash[start:])
	transferHash := (*[fullStepEvents]uint64)(s.transferHash[start:])
	// The addresses by event: debit, credit and transfer slot. On the stack (prefetch.Lines
	// does not keep its argument), where the scratch's took a cut and its check.
	var slots [fullStepEvents][3]uintptr
	accountTable := &l.accountIndex
	accountSlots := uintptr(unsafe.Pointer(unsafe.SliceData(accountTable.slots)))
	accountMask, accountKeys := accountTable.mask, accountTable.hashKeys()
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
	prefetch.Lines(unsafe.Slice(&slots[0][0], 3*fullStepEvents))
}

// prefetchRecordsStep is prefetchRecordsIn for the step of events from start (exactly
// pipelineStepEvents events): the same candidates and records, stored in the same
// places, and the same lines prefetched in the same order.
func (l *Ledger) prefetchRecordsStep(events *[fullStepEvents]model.Transfer, start int) {
	s := &l.batch
	debitHash, creditHash := (*[fullStepEvents]uint64)(s.debitHash[start:]), (*[fullStepEvents]uint64)(s.creditHash[start:])
	debitIndex, creditIndex := (*[fullStepEvents]uint32)(s.debitIndex[start:]), (*[fullStepEvents]uint32)(s.creditIndex[start:])
	accounts := (*[fullStepEvents]accountPair)(s.accounts[start:])
	accountTable := &l.accountIndex
	slots, mask := accountTable.slots, accountTable.mask
	chunks, count := l.accounts.chunks, l.accounts.count
	for i := range debitHash {
		debit := candidateIn(slots, mask, debitHash[i])
		credit := candidateIn(slots, mask, creditHash[i])
		debitIndex[i], creditIndex[i] = debit, credit
		accounts[i] = accountPair{recordIn(chunks, count, debit), recordIn(chunks, count, credit)}
	}
	// As prefetchRecordsIn, which says why the first lines go into L2.
	switch l.recordPrefetch {
	case recordFirstLinesIntoL2:
		prefetch.RecordLinesIntoL2(recordList(accounts[:]))
	case recordFirstLinesIntoL1:
		prefetch.RecordLines(recordList(accounts[:]))
	default:
		prefetch.RecordPairs(recordList(accounts[:]))
	}
	if !l.actor.all {
		l.prefetchOwners(events[:], debitIndex[:], creditIndex[:])
	}
	if l.riskActive() {
		l.risk.Prefetch(debitIndex[:])
	}
}

// confirmAccountsStep is confirmAccounts for the step of events from start (exactly
// pipelineStepEvents events): the same confirmations, indexes, records and prefetches.
// Only the records are cut to the step; the hashes and indexes, read when a candidate
// is not the account (rare), are indexed in the scratch directly.
func (l *Ledger) confirmAccountsStep(events *[fullStepEvents]model.Transfer, start int) {
	s := &l.batch
	accounts := (*[fullStepEvents]accountPair)(s.accounts[start:])
	for i := range events {
		// As confirmAccounts, which says why both candidates are checked here first.
		event := &events[i]
		pair := &accounts[i]
		debit, credit := pair.debit, pair.credit
		if debit != nil && credit != nil && bothIDs(debit, credit, event) {
			if debit.Flags&credit.Flags&accountPendingZero == 0 {
				prefetchPendingLines(debit, credit)
			}
			continue
		}
		at := start + i
		if debit == nil || debit.ID != event.DebitAccountID {
			s.debitIndex[at] = l.confirmAccount(s.debitIndex[at], s.debitHash[at],
				event.DebitAccountID)
			pair.debit = l.recordOf(s.debitIndex[at])
		}
		if credit == nil || credit.ID != event.CreditAccountID {
			s.creditIndex[at] = l.confirmAccount(s.creditIndex[at], s.creditHash[at],
				event.CreditAccountID)
			pair.credit = l.recordOf(s.creditIndex[at])
		}
		prefetchPendingLines(pair.debit, pair.credit)
	}
}
