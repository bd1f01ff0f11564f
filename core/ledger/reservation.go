package ledger

import (
	"fmt"
	"slices"

	"sequent/core/model"
)

// Reservations (doc.go, "Reservations") are pending amounts without a transfer record:
// the matching engine's order holds. A reservation event inside CreateSystemTransfers
// moves debits_pending of its debit account (the trader's paying account) and
// credits_pending of its credit account (the escrow) by its amount, up
// (SystemReserve) or down (SystemRelease). It stores no transfer, inserts no id and
// writes no history entry or change event; the ledger keeps, per account that has one,
// the total its debit side has reserved (reservedTotals, a sparse table), so that an
// account's debits_pending is the sum of its active pending transfers plus that total
// (CheckReservations).
//
// Both flags are internal to the engine's calls: they are never stored, never on the
// wire, and a client event carrying them is refused as reserved_flag (unknown bits).
//
// A reserving event's UserData64 names the client the engine reserves for (ReserveFor):
// the client whose place or replace commits the account, or 0 (the system) for the
// engine's own moves. From rules version 6 (SetIssuingChecked) a client's reservation
// needs the right to issue money as a client's debit does: an order's hold is a debit
// the client asked for, and without this an unlimited account could pay for orders far
// beyond its credits after the right was withdrawn.
const (
	SystemReserve uint16 = 1 << 12 // Reserve the amount (checked like a pending transfer).
	SystemRelease uint16 = 1 << 13 // Release the amount (never refused).

	reservationFlags = SystemReserve | SystemRelease
)

// changeReservation applies a reservation event of a system batch (t.ID is ignored).
// Reserving gets the checks a pending transfer gets (open accounts, the overflow checks,
// debits_must_not_exceed_credits) and answers with the same codes, except that with
// SetIssuingChecked a client's reservation it cannot afford is refused first
// (clientHoldRefused); releasing more than is reserved is a bug of the caller (panic),
// as a void of an unknown hold would be.
func (l *Ledger) changeReservation(t *model.Transfer, event int,
	result *model.TransferResult) model.Status {
	// The indexes the stages resolved: an account they did not find is a bug of the
	// caller, refused here as before changeReservationOf looks at its places (which
	// would look the id up again).
	if l.batch.debitIndex[event] == indexNone || l.batch.creditIndex[event] == indexNone {
		reservationInvalid(t)
	}
	return l.changeReservationOf(t, &l.batch.debitIndex[event], &l.batch.creditIndex[event],
		result, false, 0)
}

// changeReservationOf is changeReservation given where the two accounts are (or were
// last found): the batch's indexes as the stages resolved them, or the places the lone
// entry (ChangeSystemReservationAt) was told, which it checks as that entry documents
// (a place is trusted only where the record there has the account's id, else the
// account is looked up and the place set) and passes on. The check is made here, not in
// the entry, so that the lone path is one call below the entry, which inlines, where it
// was two (a frame, its spills and its arguments moved: ~12 instructions a reservation,
// callgrind, session 49); for the batch's indexes it is one compare each. For the same
// reason it makes the lone entry's own checks when lone is set (its timestamp, as
// checkBatch of one event, and a lone event's flags), first, as that entry made them. It
// writes the two balances into result only when result is not nil and the batch asks
// for them (l.resultBalances): the lone entry's nil result needs no flag saved and reset.
func (l *Ledger) changeReservationOf(t *model.Transfer, debitPlace, creditPlace *uint32,
	result *model.TransferResult, lone bool, timestamp uint64) model.Status {
	if lone && (timestamp-1 >= timestampMax-1 || t.Flags&reservationFlags == 0 ||
		t.Flags&model.TransferLinked != 0) {
		loneReservationInvalid(timestamp, t)
	}
	debit := l.recordOf(*debitPlace)
	if debit == nil || debit.ID != t.DebitAccountID {
		debit = l.placeAccount(debitPlace, t.DebitAccountID)
	}
	credit := l.recordOf(*creditPlace)
	if credit == nil || credit.ID != t.CreditAccountID {
		credit = l.placeAccount(creditPlace, t.CreditAccountID)
	}
	debitIndex, creditIndex := *debitPlace, *creditPlace
	if debit == nil || credit == nil || t.Flags&reservationFlags ==
		reservationFlags || t.Flags&^(reservationFlags|model.TransferLinked) != 0 {
		reservationInvalid(t)
	}
	if debit.Ledger != credit.Ledger || t.Ledger != debit.Ledger || debitIndex == creditIndex {
		panic(fmt.Sprintf("ledger: reservation event across ledgers: %+v", *t))
	}
	reserved, reservedAt := l.reserved.lookup(debitIndex)
	amount := t.Amount
	if t.Flags&SystemRelease != 0 {
		if reserved.Less(amount) || credit.CreditsPending.Less(amount) {
			panic(fmt.Sprintf("ledger: releasing %s of account %s, which reserves %s",
				amount, debit.ID, reserved))
		}
		// Outside a chain there is nothing to save: no call (here and below). It tests
		// what saveReservationState would, which does not inline: the two calls cost ~18
		// instructions per settled matching command (callgrind).
		if l.undo.active {
			l.saveReservationState(debitIndex, debit, creditIndex, credit, reserved)
		}
		// subDebitsPending, subCreditsPending and pendingReleased written out: none of the
		// three inlines (each is over the compiler's budget with its marker test or its
		// two WideSum subtractions), and their calls made this function spill and reload
		// its live values around each (callgrind). The two records differ (checked above),
		// so each marker is set from its own record's balances as the calls set it.
		debit.DebitsPending = debit.DebitsPending.MustSub(amount)
		debit.markPendingZero()
		credit.CreditsPending = credit.CreditsPending.MustSub(amount)
		credit.markPendingZero()
		totals := l.totals.of(debit.Ledger)
		totals.DebitsPending.Sub(amount)
		totals.CreditsPending.Sub(amount)
		if total := reserved.MustSub(amount); !l.reserved.update(reservedAt, total) {
			l.reserved.storeChange(reservedAt, debitIndex, total) // Starts or ends the entry.
		}
	} else {
		// A client's hold that the client cannot afford is refused before anything else
		// (rules version 6 on): PROTOCOL.md section 12 puts insufficient_funds before
		// account_closed and hold_amount_overflow, and judging the overflows first would
		// answer from the escrow's credits_pending, the sum of other clients' holds
		// (hidden reserve prices included), which a client could then probe. Out of line,
		// so that with the check off (rules before 6, and the benchmarks) the common path
		// pays one test of a flag; before 6 the order below is kept for replay.
		if l.own.issuingChecked && l.clientHoldRefused(t, debit) {
			return model.StatusExceedsCredits
		}
		switch {
		case debit.Flags&model.AccountClosed != 0:
			return model.StatusDebitAccountAlreadyClosed
		case credit.Flags&model.AccountClosed != 0:
			return model.StatusCreditAccountAlreadyClosed
		}
		// Nearly always the amounts are small: then checkAmount would answer ok (a
		// transfer skips it so too: smallAmounts), and its call is not made.
		small := smallAmounts(amount, debit, credit)
		if !small {
			if status := checkAmount(amount, true, debit, credit); status != model.StatusOK {
				return status
			}
		}
		// A trader's paying account nearly always has debits_must_not_exceed_credits and
		// the escrow no limit flag: then checkLimits is limitsStatus's debit-side test
		// alone, and with small amounts (every high word below 2^62) its two additions
		// cannot overflow, so it is made here without MustAdd's tests or a call (~30
		// instructions a reservation, callgrind). Any other case goes through checkLimits.
		if small && debit.Flags&model.AccountDebitsMustNotExceedCredits != 0 &&
			credit.Flags&model.AccountCreditsMustNotExceedDebits == 0 {
			debits, _ := debit.DebitsPending.Add(debit.DebitsPosted)
			debits, _ = debits.Add(amount)
			if debit.CreditsPosted.Less(debits) {
				return model.StatusExceedsCredits
			}
		} else if status := checkLimits(amount, debit, credit); status != model.StatusOK {
			return status
		}
		if l.undo.active {
			l.saveReservationState(debitIndex, debit, creditIndex, credit, reserved)
		}
		debit.addDebitsPending(amount)
		credit.addCreditsPending(amount)
		pendingAddedTo(l.totals.of(debit.Ledger), amount) // Inlined, as a transfer's is.
		if total := reserved.MustAdd(amount); !l.reserved.update(reservedAt, total) {
			l.reserved.storeChange(reservedAt, debitIndex, total) // Starts or ends the entry.
		}
	}
	if result != nil && l.resultBalances {
		debit.BalanceTo(&result.DebitAccount)
		credit.BalanceTo(&result.CreditAccount)
	}
	return model.StatusOK
}

// clientHoldRefused reports whether a reservation made for a client (ReserveFor) is
// one the client cannot afford and may not make: its debit account's debits (pending
// and posted) plus the amount exceed its credits posted, or overflow (no account can
// cover that), and the account has debits_must_not_exceed_credits or the client lacks
// the right to issue money there (mayIssue; the grants are looked at only then). A
// reservation for the system (client 0) is never refused here.
//
//go:noinline
func (l *Ledger) clientHoldRefused(t *model.Transfer, debit *accountRecord) bool {
	return t.UserData64 != 0 && debitsExceedCredits(t.Amount, debit.debitsPending(), debit) &&
		(debit.Flags&model.AccountDebitsMustNotExceedCredits != 0 ||
			!l.mayIssueAs(t.UserData64, debit.ID, debit.Ledger))
}

// IndexUnknown is a position no account has: an account index not known yet
// (ChangeSystemReservationAt).
const IndexUnknown = indexNone

// ChangeSystemReservationAt applies one reservation event (flag SystemReserve or
// SystemRelease, not linked) at timestamp and returns its status: the same checks in the
// same order, the same codes and the same state after it as CreateSystemTransfers of a
// batch of that one event, whose result would carry nothing else the matching engine
// reads. It is the engine's path for an order's lone reservation change (a place, a bid
// moved to a new price, a cancel: most of its ledger calls), which through the batch
// entry paid for the batch's checks, the actor, the chain runner, the dispatch of
// createTransfer and a result carrying both accounts' balances, around a change of four
// balances. Nothing here depends on the batch's actor (a reservation for a client that
// would issue money asks that client's right: ReserveFor), and no result is written.
//
// *debitIndex and *creditIndex say where the ledger stored the two accounts when they
// were last found (any value, IndexUnknown when not known), and on return say where they
// are (IndexUnknown for an account that does not exist). The matching engine keeps them
// per order and per instrument: an order's accounts never change, and an account keeps
// its position for the ledger's life (accounts are never removed; only an undone
// creation, always the newest, is). A given index is trusted only when the record there
// has the account's id, so a wrong or stale one (an order slot reused, a ledger restored
// from a snapshot) costs the lookup it would have cost anyway, never a different result.
func (l *Ledger) ChangeSystemReservationAt(timestamp uint64, t *model.Transfer,
	debitIndex, creditIndex *uint32) model.Status {
	// One call, so that this entry inlines into its caller: changeReservationOf makes
	// this entry's checks (lone) and checks the places.
	return l.changeReservationOf(t, debitIndex, creditIndex, nil, true, timestamp)
}

// loneReservationInvalid panics with what ChangeSystemReservationAt found wrong: the
// timestamp out of range (as checkBatch says it), or an event that is not a lone
// reservation.
//
//go:noinline
func loneReservationInvalid(timestamp uint64, t *model.Transfer) {
	checkBatch(timestamp, 1, 1)
	panic(fmt.Sprintf("ledger: not a lone reservation event: %+v", *t))
}

// reservationInvalid panics: a reservation event with an account not found, both flags,
// or flags a reservation does not take.
//
//go:noinline
func reservationInvalid(t *model.Transfer) {
	panic(fmt.Sprintf("ledger: reservation event invalid: %+v", *t))
}

// placeAccount looks up the account with the id, sets *place to its index (IndexUnknown
// when there is none) and returns its record (nil when there is none): where a place
// was wrong.
func (l *Ledger) placeAccount(place *uint32, id model.Uint128) *accountRecord {
	*place = l.resolveAccount(id)
	return l.recordOf(*place)
}

// saveReservationState records, inside a chain, both accounts' balances and the debit
// account's reserved total before a reservation changes them: the records saveAccountState
// and undoLog.push would write, filled in place in the log (undoLog.next) where those built
// each record on the stack, zeroed and copied it twice (~100 instructions a call of the
// ~190, callgrind).
func (l *Ledger) saveReservationState(debitIndex uint32, debit *accountRecord,
	creditIndex uint32, credit *accountRecord, reserved model.Uint128) {
	u := &l.undo
	if !u.active {
		return
	}
	saveAccountStateTo(u.next(), debitIndex, debit)
	saveAccountStateTo(u.next(), creditIndex, credit)
	record := u.next()
	record.kind, record.status, record.flags, record.index = undoReserved, 0, 0, debitIndex
	record.balance.DebitsPending, record.balance.DebitsPosted = reserved, model.Uint128{}
	record.balance.CreditsPending, record.balance.CreditsPosted = model.Uint128{}, model.Uint128{}
}

// saveAccountStateTo fills record, a record of the undo log, with an account's balances
// as stored and its flags. Every field undoRollback reads for the kind is written (next
// hands out a slot that may hold an earlier chain's record); status, which it reads only
// for undoPendingStatus, is not (writing it put saveAccountState over the inlining budget).
func saveAccountStateTo(record *undoRecord, index uint32, account *accountRecord) {
	record.kind, record.flags, record.index = undoAccountState, account.Flags, index
	record.balance.DebitsPending, record.balance.DebitsPosted = account.DebitsPending,
		account.DebitsPosted
	record.balance.CreditsPending, record.balance.CreditsPosted = account.CreditsPending,
		account.CreditsPosted
}

// postFromReservation applies a system transfer with the from_reservation flag: a fill
// paid out of the debit account's reservation. It first releases the amount on both
// accounts (debit account's reserved total, debits_pending; credit account's
// credits_pending), then posts it, so it never changes either account's debits or
// credits total and needs no overflow or limit check. It is refused, as a post of a
// pending transfer is, when either account was closed. Posting more than is reserved is
// a bug of the caller (panic).
func (l *Ledger) postFromReservation(t *model.Transfer, timestamp uint64, event int,
	hash uint64, position uint64, result *model.TransferResult) model.Status {
	if status := validateTransfer(t); status != model.StatusOK {
		return status
	}
	if t.Flags&^(model.TransferFromReservation|model.TransferLinked) != 0 {
		return model.StatusFlagsAreMutuallyExclusive
	}
	debitIndex, creditIndex := l.batch.debitIndex[event], l.batch.creditIndex[event]
	if debitIndex == indexNone {
		return model.StatusDebitAccountNotFound
	}
	if creditIndex == indexNone {
		return model.StatusCreditAccountNotFound
	}
	debit, credit := l.accounts.at(debitIndex), l.accounts.at(creditIndex)
	if status := accountsStatus(t, debit, credit); status != model.StatusOK {
		return status
	}
	reserved, reservedAt := l.reserved.lookup(debitIndex)
	if reserved.Less(t.Amount) || credit.CreditsPending.Less(t.Amount) {
		panic(fmt.Sprintf("ledger: posting %s from account %s, which reserves %s",
			t.Amount, debit.ID, reserved))
	}
	if l.transfers.count >= l.config.TransfersMax {
		return model.StatusTransfersLimitReached
	}
	l.saveReservationState(debitIndex, debit, creditIndex, credit, reserved)
	if total := reserved.MustSub(t.Amount); !l.reserved.update(reservedAt, total) {
		l.reserved.storeChange(reservedAt, debitIndex, total) // Starts or ends the entry.
	}
	// subDebitsPending, subCreditsPending and pendingPosted written out, as a release's
	// are in changeReservationOf (none of the three inlines).
	amount := t.Amount
	debit.DebitsPending = debit.DebitsPending.MustSub(amount)
	debit.markPendingZero()
	credit.CreditsPending = credit.CreditsPending.MustSub(amount)
	credit.markPendingZero()
	debit.DebitsPosted = debit.DebitsPosted.MustAdd(amount)
	credit.CreditsPosted = credit.CreditsPosted.MustAdd(amount)
	totals := l.totals.of(debit.Ledger)
	totals.DebitsPending.Sub(amount)
	totals.CreditsPending.Sub(amount)
	totals.DebitsPosted.Add(amount)
	totals.CreditsPosted.Add(amount)
	index, record := l.appendTransfer(hash, position, debit, credit)
	*record = *t
	record.Timestamp = timestamp
	l.recordHistory(debitIndex, debit, index, timestamp)
	l.recordHistory(creditIndex, credit, index, timestamp)
	l.transferEvent(record, debit, credit)
	if l.resultBalances {
		debit.BalanceTo(&result.DebitAccount)
		credit.BalanceTo(&result.CreditAccount)
	}
	return model.StatusOK
}

// Reserved returns the total the account's debit side has reserved (0 for an unknown
// account): the part of its debits_pending that no pending transfer explains.
func (l *Ledger) Reserved(id model.Uint128) model.Uint128 {
	index, found := l.findAccount(id)
	if !found {
		return model.Uint128{}
	}
	return l.reserved.get(index)
}

// Reservations iterates the accounts with a reservation, in creation order, with their
// reserved totals (for checks and tools).
func (l *Ledger) Reservations() func(yield func(id, reserved model.Uint128) bool) {
	return func(yield func(id, reserved model.Uint128) bool) {
		for i := uint32(0); i < l.accounts.count; i++ {
			if reserved := l.reserved.get(i); !reserved.IsZero() {
				if !yield(l.accounts.at(i).ID, reserved) {
					return
				}
			}
		}
	}
}

// CheckReservations verifies the reservations against the balances, in O(accounts +
// transfers): every account's debits_pending is the sum of its active pending transfers
// (debit side) plus its reserved total, and for every ledger the credits_pending that no
// pending transfer explains add up to the reserved totals (each reservation moved both
// sides by the same amount). It also checks the in-memory marker of pending balances
// known to be zero (accountPendingZero): set only on accounts whose pending balances are
// both zero.
func (l *Ledger) CheckReservations() error {
	count := l.accounts.count
	if err := l.reserved.check(count); err != nil {
		return err
	}
	debitsPending := make([]model.Uint128, count)
	creditsPending := make([]model.Uint128, count)
	for i := uint32(0); i < l.transfers.count; i++ {
		if *l.pending.at(i) != pendingActive {
			continue
		}
		t := l.transfers.at(i)
		debit, debitFound := l.findAccount(t.DebitAccountID)
		credit, creditFound := l.findAccount(t.CreditAccountID)
		if !debitFound || !creditFound {
			return fmt.Errorf("pending transfer %s: accounts missing", t.ID)
		}
		var overflow bool
		if debitsPending[debit], overflow = debitsPending[debit].Add(t.Amount); overflow {
			return fmt.Errorf("pending transfers of account %s overflow", t.DebitAccountID)
		}
		if creditsPending[credit], overflow = creditsPending[credit].Add(t.Amount); overflow {
			return fmt.Errorf("pending transfers of account %s overflow", t.CreditAccountID)
		}
	}
	type sums struct{ reserved, unexplained wide }
	perLedger := map[uint32]*sums{}
	for i := uint32(0); i < count; i++ {
		a := l.accounts.at(i)
		if !checkPendingZero(a) {
			return fmt.Errorf("account %s: marked without pending balances, has %s and %s",
				a.ID, a.DebitsPending, a.CreditsPending)
		}
		reserved := l.reserved.get(i)
		want, overflow := debitsPending[i].Add(reserved)
		if overflow || want != a.DebitsPending {
			return fmt.Errorf("account %s: debits pending %s, pending transfers %s + reserved %s",
				a.ID, a.DebitsPending, debitsPending[i], reserved)
		}
		if a.CreditsPending.Less(creditsPending[i]) {
			return fmt.Errorf("account %s: credits pending %s below its pending transfers %s",
				a.ID, a.CreditsPending, creditsPending[i])
		}
		s := perLedger[a.Ledger]
		if s == nil {
			s = &sums{}
			perLedger[a.Ledger] = s
		}
		s.reserved.add(reserved)
		s.unexplained.add(a.CreditsPending.MustSub(creditsPending[i]))
	}
	ledgers := make([]uint32, 0, len(perLedger))
	for ledger := range perLedger {
		ledgers = append(ledgers, ledger)
	}
	slices.Sort(ledgers)
	for _, ledger := range ledgers {
		if s := perLedger[ledger]; s.reserved != s.unexplained {
			return fmt.Errorf("ledger %d: reserved %s, credits pending without a transfer %s",
				ledger, s.reserved, s.unexplained)
		}
	}
	return nil
}
