package ledger

import (
	"fmt"
	"unsafe"

	"sequent/core/internal/prefetch"
	"sequent/core/model"
)

// CreateSystemTransfersAt is CreateSystemTransfers for the matching engine's chains (a
// fill's payments out of reservations, payouts, fees and the reservation changes around
// them), told where the ledger stored each event's accounts when they were last found,
// as ChangeSystemReservationAt is for a lone reservation change. places[2i] and
// places[2i+1] are the places of events[i]'s debit and credit accounts (any value,
// IndexUnknown when not known); on return they say where the accounts are (IndexUnknown
// for an account that does not exist, and for the zero ids of a post or void). A place
// is trusted only when the record there has the account's id (accountIsAt), so a wrong
// or stale one costs the lookup it would have cost anyway, never a different result.
//
// The events are applied as CreateSystemTransfers applies them (the same chain rules,
// checks in the same order, codes, stored transfers, history, change events and state),
// with two differences that the engine cannot see: the results carry no balances (only
// their statuses and timestamps, which are all the engine reads), and the accounts are
// resolved by the places, or one direct lookup each (resolveAccount), instead of the
// pipeline's stages (resolveShort), which hash every id of the batch and walk each probe
// run, built to overlap the cache misses of unknown accounts: an engine's chain names a
// few accounts it used a moment ago, most of them several times (the escrows), whose
// places it keeps. Risk rules never judge a system batch (riskActive), so no risk state
// is read or prefetched here either.
func (l *Ledger) CreateSystemTransfersAt(firstTimestamp uint64, events []model.Transfer,
	places []uint32, results []model.TransferResult) {
	checkBatch(firstTimestamp, len(events), len(results))
	if len(places) < 2*len(events) {
		panic(fmt.Sprintf("ledger: %d places for %d events", len(places), len(events)))
	}
	l.system = true
	defer func() { l.system = false }()
	l.actAs(0)
	l.resultBalances = false
	l.resolveAt(events, places)
	runner := chainRunner{ledger: l, count: len(events)}
	l.applyTransfers(&runner, firstTimestamp, events, results, 0, len(events))
}

// resolveAt fills l.batch for CreateSystemTransfersAt's events: each account from its
// place when the record there has its id, else by resolveAccount (and the place
// corrected), and each transfer id's hash, its slot prefetched for createTransfer's probe
// (a reservation has no id: nothing hashed, as resolveOne does). The indexes and records
// are those the stages would leave (confirmAccounts confirms each against the full id
// too), so applyTransfers evaluates the same events against the same accounts.
func (l *Ledger) resolveAt(events []model.Transfer, places []uint32) {
	s := &l.batch
	count := len(events)
	// Cut to the batch's length, so that indexing them by i needs no check.
	places = places[:2*count]
	debitIndex, creditIndex := s.debitIndex[:count], s.creditIndex[:count]
	transferHash := s.transferHash[:count]
	accounts := s.accounts[:count]
	// The tables in locals (loop-invariant: no account is created during a batch).
	chunks, accountCount := l.accounts.chunks, l.accounts.count
	transferTable := &l.transferIndex
	transferSlots, transferMask := transferTable.slots, transferTable.mask
	transferKeys, groupMask := transferTable.hashKeys(), transferTable.groupMask
	reservations := l.system && !l.saga // isReservation's batch half, true here.
	for i := range events {
		event := &events[i]
		if !reservations || event.Flags&reservationFlags == 0 {
			hash := hashWith(event.ID, transferKeys, groupMask)
			transferHash[i] = hash
			prefetch.Line(uintptr(unsafe.Pointer(&transferSlots[home(hash, transferMask)])))
		}
		// Each place's record read once: it is both the check (accountIsAt) and, when the
		// check holds, the record the events need (recordOf).
		pair := places[2*i : 2*i+2 : 2*i+2]
		debit := recordIn(chunks, accountCount, pair[0])
		if debit == nil || debit.ID != event.DebitAccountID {
			pair[0] = l.resolveAccount(event.DebitAccountID)
			debit = recordIn(chunks, accountCount, pair[0])
		}
		credit := recordIn(chunks, accountCount, pair[1])
		if credit == nil || credit.ID != event.CreditAccountID {
			pair[1] = l.resolveAccount(event.CreditAccountID)
			credit = recordIn(chunks, accountCount, pair[1])
		}
		debitIndex[i], creditIndex[i] = pair[0], pair[1]
		accounts[i] = accountPair{debit, credit}
	}
}
