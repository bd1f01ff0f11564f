package ledger

import (
	"fmt"

	"sequent/core/model"
)

// postOrVoidTransfer checks and applies a transfer that posts or voids a pending one,
// event of its batch. Zero-valued fields (accounts, ledger, code, user data) inherit the
// pending transfer's.
func (l *Ledger) postOrVoidTransfer(t *model.Transfer, timestamp uint64, event int,
	hash uint64, position uint64, result *model.TransferResult) model.Status {
	if status := validatePostOrVoid(t); status != model.StatusOK {
		return status
	}
	pendingIndex, found := l.pendingOf(t.PendingID, event)
	if !found {
		return model.StatusPendingTransferNotFound
	}
	p := l.transfers.at(pendingIndex)
	debitIndex, debitFound := l.pendingAccount(p.DebitAccountID, t.DebitAccountID,
		l.batch.debitIndex[event])
	creditIndex, creditFound := l.pendingAccount(p.CreditAccountID, t.CreditAccountID,
		l.batch.creditIndex[event])
	if !debitFound || !creditFound {
		panic(fmt.Sprintf("ledger: accounts of pending transfer %s are missing", p.ID))
	}
	// The payer (who may debit the debit account) and the payee (who may move the credit
	// account) may post or void: a post moves no more than the payer reserved, to no one
	// but the payee; a void gives the payer its reservation back. Anyone else is refused
	// before any field of the pending transfer is compared, so none leaks.
	// (The system and operators, actor.all, are allowed: tested here, that costs no call.)
	if !l.actor.all && !l.allowed(model.ScopeTransfer, debitIndex) &&
		!l.allowed(model.ScopeTransfer, creditIndex) {
		return model.StatusPendingTransferNotOwned
	}
	if !l.system && (model.IsSystemID(p.DebitAccountID) || model.IsSystemID(p.CreditAccountID)) {
		// A pending transfer of Sequent's own with a client id: a cross-shard transfer's
		// step 1, which only its saga may post or void.
		return model.StatusIDReserved
	}
	amount, status := l.checkAgainstPending(t, p, pendingIndex, timestamp)
	if status != model.StatusOK {
		return status
	}
	debit, credit := l.accounts.at(debitIndex), l.accounts.at(creditIndex)
	post := t.Flags&model.TransferPostPending != 0
	if post && !l.saga {
		// checkPostRisk answers StatusOK without a review hold or active rules (nearly
		// always): tested here, that costs no call.
		if p.Flags&model.TransferHeldForReview != 0 || l.riskActive() {
			status := l.checkPostRisk(p, debitIndex, creditIndex, result)
			if status != model.StatusOK {
				return status
			}
		}
		// A closed account accepts the post of the very transfer that closed it.
		if debit.Flags&model.AccountClosed != 0 && p.Flags&model.TransferClosingDebit == 0 {
			return model.StatusDebitAccountAlreadyClosed
		}
		if credit.Flags&model.AccountClosed != 0 && p.Flags&model.TransferClosingCredit == 0 {
			return model.StatusCreditAccountAlreadyClosed
		}
		if amount.AddOverflows(debit.DebitsPosted) {
			return model.StatusOverflowsDebitsPosted
		}
		if amount.AddOverflows(credit.CreditsPosted) {
			return model.StatusOverflowsCreditsPosted
		}
	}
	// A saga's post or void, and the matching engine's void of a legacy hold (an order
	// restored from a version-2 snapshot: a cancel must end it as it ends a reservation,
	// which stores nothing), must happen: they exceed the limit by at most the sagas in
	// flight and the legacy holds.
	mustHappen := l.saga || (l.system && !post)
	if l.transfers.count >= l.config.TransfersMax && !mustHappen {
		return model.StatusTransfersLimitReached
	}
	l.saveAccountState(debitIndex, debit)
	l.saveAccountState(creditIndex, credit)
	l.resolvePending(pendingIndex, p, debit, credit, post, amount)
	index, record := l.appendTransfer(hash, position, debit, credit)
	// The append may have moved the pending transfer (chunked.push): found again by its
	// index, where a copy of it taken before cost a 128-byte copy on every post.
	p = l.transfers.at(pendingIndex)
	*record = *t
	inheritFromPending(record, p)
	record.Amount, record.Timestamp = amount, timestamp
	l.recordHistory(debitIndex, debit, index, timestamp)
	l.recordHistory(creditIndex, credit, index, timestamp)
	l.transferEvent(record, debit, credit)
	if l.resultBalances {
		debit.BalanceTo(&result.DebitAccount)
		credit.BalanceTo(&result.CreditAccount)
		l.maskUnreadable(result, debitIndex, creditIndex)
	}
	return model.StatusOK
}

// pendingOf returns the storage index of the pending transfer with id that event
// resolves: the index CreateSagaFinishes was given when the transfer stored there has
// the id (ids are unique, so it is the one findTransfer would find), else findTransfer's.
func (l *Ledger) pendingOf(id model.Uint128, event int) (uint32, bool) {
	if l.sagaPendings != nil {
		if index := l.sagaPendings[event]; index < l.transfers.count &&
			l.transfers.at(index).ID == id {
			return index, true
		}
	}
	return l.findTransfer(id)
}

// pendingAccount returns the index of a pending transfer's account (id): the one the
// batch's stages resolved for the post's own account field (named, resolved) when the
// post names that very account, else a lookup. A post that names its accounts (step 3
// of a saga does) so resolves them with the stages' prefetches and without two lookups.
func (l *Ledger) pendingAccount(id, named model.Uint128, resolved uint32) (uint32, bool) {
	if named == id && resolved != indexNone {
		return resolved, true
	}
	index := l.resolveAccount(id) // Its common case (the first candidate) costs no call.
	return index, index != indexNone
}

// validatePostOrVoid holds the static checks of a post or void.
func validatePostOrVoid(t *model.Transfer) model.Status {
	post := t.Flags&model.TransferPostPending != 0
	void := t.Flags&model.TransferVoidPending != 0
	exclusive := model.TransferPending | model.TransferBalancingDebit |
		model.TransferBalancingCredit | model.TransferClosingDebit | model.TransferClosingCredit
	switch {
	case post && void, t.Flags&exclusive != 0:
		return model.StatusFlagsAreMutuallyExclusive
	case t.PendingID.IsZero():
		return model.StatusPendingIDMustNotBeZero
	case t.PendingID.IsMax():
		return model.StatusPendingIDMustNotBeIntMax
	case t.PendingID == t.ID:
		return model.StatusPendingIDMustBeDifferent
	case t.Timeout != 0:
		return model.StatusTimeoutReservedForPendingTransfer
	}
	return model.StatusOK
}

// checkAgainstPending compares a post or void with the pending transfer it resolves and
// returns the amount it moves: for a post, its amount (2^128-1 = the full pending
// amount); for a void, the pending amount.
func (l *Ledger) checkAgainstPending(t *model.Transfer, p *model.Transfer, pendingIndex uint32,
	timestamp uint64) (model.Uint128, model.Status) {
	switch {
	case p.Flags&model.TransferPending == 0:
		return model.Uint128{}, model.StatusPendingTransferNotPending
	case !t.DebitAccountID.IsZero() && t.DebitAccountID != p.DebitAccountID:
		return model.Uint128{}, model.StatusPendingTransferHasDifferentDebitID
	case !t.CreditAccountID.IsZero() && t.CreditAccountID != p.CreditAccountID:
		return model.Uint128{}, model.StatusPendingTransferHasDifferentCreditID
	case t.Ledger != 0 && t.Ledger != p.Ledger:
		return model.Uint128{}, model.StatusPendingTransferHasDifferentLedger
	case t.Code != 0 && t.Code != p.Code:
		return model.Uint128{}, model.StatusPendingTransferHasDifferentCode
	}
	amount := p.Amount
	if t.Flags&model.TransferPostPending != 0 {
		if !t.Amount.IsMax() {
			if p.Amount.Less(t.Amount) {
				return model.Uint128{}, model.StatusExceedsPendingTransferAmount
			}
			amount = t.Amount
		}
	} else if !t.Amount.IsZero() && !t.Amount.IsMax() && t.Amount != p.Amount {
		return model.Uint128{}, model.StatusPendingTransferHasDifferentAmount
	}
	switch *l.pending.at(pendingIndex) {
	case pendingPosted:
		return model.Uint128{}, model.StatusPendingTransferAlreadyPosted
	case pendingVoided:
		return model.Uint128{}, model.StatusPendingTransferAlreadyVoided
	case pendingExpired:
		return model.Uint128{}, model.StatusPendingTransferExpired
	case pendingActive:
	default:
		panic("ledger: pending transfer without a pending status")
	}
	if p.Timeout != 0 && pendingDeadline(p) <= timestamp {
		// Overdue but not yet swept by Expire (which is bounded per entry).
		return model.Uint128{}, model.StatusPendingTransferExpired
	}
	return amount, model.StatusOK
}

// pendingDeadline returns when a pending transfer with a timeout expires. Creation
// checked that it does not overflow.
func pendingDeadline(p *model.Transfer) uint64 {
	return p.Timestamp + uint64(p.Timeout)*nanosecondsPerSecond
}

// resolvePending releases a pending transfer's reservation, posts amount when post, and
// reopens accounts that a voided closing transfer had closed. A transfer with a timeout
// leaves the expiry heap here (O(log n)), or inside a linked chain when the chain commits
// (undoCommit), so that a rollback has nothing to put back.
func (l *Ledger) resolvePending(pendingIndex uint32, p *model.Transfer, debit,
	credit *accountRecord, post bool, amount model.Uint128) {
	debit.subDebitsPending(p.Amount)
	credit.subCreditsPending(p.Amount)
	if p.Timeout != 0 && !l.undo.active {
		l.expiry.remove(pendingIndex)
	}
	status := l.pending.at(pendingIndex)
	l.undo.push(undoRecord{kind: undoPendingStatus, index: pendingIndex, status: *status})
	if post {
		debit.DebitsPosted = debit.DebitsPosted.MustAdd(amount)
		credit.CreditsPosted = credit.CreditsPosted.MustAdd(amount)
		l.totals.pendingPosted(debit.Ledger, p.Amount, amount) // One lookup of the totals.
		*status = pendingPosted
		return
	}
	l.totals.pendingReleased(debit.Ledger, p.Amount)
	*status = pendingVoided
	reopenClosedBy(p, debit, credit)
}

// reopenClosedBy reopens the accounts a closing pending transfer closed (void, expiry).
func reopenClosedBy(p *model.Transfer, debit, credit *accountRecord) {
	if p.Flags&model.TransferClosingDebit != 0 {
		debit.Flags &^= model.AccountClosed
	}
	if p.Flags&model.TransferClosingCredit != 0 {
		credit.Flags &^= model.AccountClosed
	}
}

// inheritFromPending fills a post or void record's zero fields from the pending transfer.
func inheritFromPending(record *model.Transfer, p *model.Transfer) {
	record.DebitAccountID, record.CreditAccountID = p.DebitAccountID, p.CreditAccountID
	record.Ledger = p.Ledger
	if record.Code == 0 {
		record.Code = p.Code
	}
	if record.UserData128.IsZero() {
		record.UserData128 = p.UserData128
	}
	if record.UserData64 == 0 {
		record.UserData64 = p.UserData64
	}
	if record.UserData32 == 0 {
		record.UserData32 = p.UserData32
	}
}

// transferExists compares a retried transfer with the stored one, field by field in the
// documented order, and answers exists only when the retry means the same transfer.
func (l *Ledger) transferExists(t *model.Transfer, e *model.Transfer) model.Status {
	flags, held := retriedFlags(t, e)
	status := model.StatusOK
	if e.Flags&(model.TransferPostPending|model.TransferVoidPending) == 0 {
		status = compareTransfers(t, e, flags)
	} else if status = compareKinds(t, e, flags); status == model.StatusOK {
		status = l.postOrVoidExists(t, e)
	}
	if status == model.StatusExists && held {
		// The original outcome: created, but held for review (a retry must not read as
		// done while an operator has not posted it).
		return model.StatusRiskHeldForReview
	}
	return status
}

// compareKinds compares what makes two transfers of the same kind: flags (those a retry
// of e must carry: retriedFlags), pending id and timeout (the first fields of the exists
// precedence).
func compareKinds(t *model.Transfer, e *model.Transfer, flags uint16) model.Status {
	switch {
	case t.Flags != flags:
		return model.StatusExistsWithDifferentFlags
	case t.PendingID != e.PendingID:
		return model.StatusExistsWithDifferentPendingID
	case t.Timeout != e.Timeout:
		return model.StatusExistsWithDifferentTimeout
	}
	return model.StatusOK
}

// CompareTransfers compares a retried transfer t with a stored single-phase or pending
// transfer e, field by field in the documented order, and answers exists only when the
// retry means the same transfer. Core uses it for a cross-shard transfer, whose stored
// original is not a ledger record.
func CompareTransfers(t *model.Transfer, e *model.Transfer) model.Status {
	return compareTransfers(t, e, e.Flags)
}

// compareTransfers is CompareTransfers with the flags a retry of e must carry.
func compareTransfers(t *model.Transfer, e *model.Transfer, flags uint16) model.Status {
	if status := compareKinds(t, e, flags); status != model.StatusOK {
		return status
	}
	balancing := e.Flags&(model.TransferBalancingDebit|model.TransferBalancingCredit) != 0
	switch {
	case t.DebitAccountID != e.DebitAccountID:
		return model.StatusExistsWithDifferentDebitAccountID
	case t.CreditAccountID != e.CreditAccountID:
		return model.StatusExistsWithDifferentCreditAccountID
	case balancing && t.Amount.Less(e.Amount):
		// A balancing transfer's amount is a maximum: a retry still means the same
		// transfer if its maximum covers what was actually moved.
		return model.StatusExistsWithDifferentAmount
	case !balancing && t.Amount != e.Amount:
		return model.StatusExistsWithDifferentAmount
	case t.UserData128 != e.UserData128:
		return model.StatusExistsWithDifferentUserData128
	case t.UserData64 != e.UserData64:
		return model.StatusExistsWithDifferentUserData64
	case t.UserData32 != e.UserData32:
		return model.StatusExistsWithDifferentUserData32
	case t.Ledger != e.Ledger:
		return model.StatusExistsWithDifferentLedger
	case t.Code != e.Code:
		return model.StatusExistsWithDifferentCode
	}
	return model.StatusExists
}

// postOrVoidExists compares a retried post or void, where zero fields mean "inherit".
func (l *Ledger) postOrVoidExists(t *model.Transfer, e *model.Transfer) model.Status {
	switch {
	case !t.DebitAccountID.IsZero() && t.DebitAccountID != e.DebitAccountID:
		return model.StatusExistsWithDifferentDebitAccountID
	case !t.CreditAccountID.IsZero() && t.CreditAccountID != e.CreditAccountID:
		return model.StatusExistsWithDifferentCreditAccountID
	case !l.sameResolutionAmount(t, e):
		return model.StatusExistsWithDifferentAmount
	case !t.UserData128.IsZero() && t.UserData128 != e.UserData128:
		return model.StatusExistsWithDifferentUserData128
	case t.UserData64 != 0 && t.UserData64 != e.UserData64:
		return model.StatusExistsWithDifferentUserData64
	case t.UserData32 != 0 && t.UserData32 != e.UserData32:
		return model.StatusExistsWithDifferentUserData32
	case t.Ledger != 0 && t.Ledger != e.Ledger:
		return model.StatusExistsWithDifferentLedger
	case t.Code != 0 && t.Code != e.Code:
		return model.StatusExistsWithDifferentCode
	}
	return model.StatusExists
}

// sameResolutionAmount reports whether a retried post or void asks for the amount that
// was moved: the stored amount itself, or (for a post) 2^128-1 when the full pending
// amount was posted, or (for a void) 0 or 2^128-1.
func (l *Ledger) sameResolutionAmount(t *model.Transfer, e *model.Transfer) bool {
	if t.Amount == e.Amount {
		return true
	}
	if e.Flags&model.TransferVoidPending != 0 {
		return t.Amount.IsZero() || t.Amount.IsMax()
	}
	if !t.Amount.IsMax() {
		return false
	}
	pendingIndex, found := l.findTransfer(e.PendingID)
	if !found {
		panic(fmt.Sprintf("ledger: pending transfer of post %s is missing", e.ID))
	}
	return l.transfers.at(pendingIndex).Amount == e.Amount
}
