package ledger

import (
	"sequent/core/model"
)

// undoKind names what an undo record reverts.
type undoKind uint8

const (
	undoAccountCreated  undoKind = iota + 1 // Pop the newest account.
	undoAccountState                        // Restore an account's balances and flags.
	undoTransferCreated                     // Pop the newest transfer.
	undoPendingStatus                       // Restore a pending transfer's status.
	undoHistoryCreated                      // Pop the newest history record.
	undoReserved                            // Restore an account's reserved total.
)

// undoRecord is one reversible change made by an event inside an open linked chain.
type undoRecord struct {
	kind    undoKind
	status  pendingStatus // undoPendingStatus: the previous status.
	flags   uint16        // undoAccountState: the previous flags.
	index   uint32        // The account, transfer or history record concerned.
	balance model.Balance // undoAccountState: the previous balances; undoReserved: DebitsPending.
}

// undoLog records the changes of the open linked chain so that a failure anywhere in the
// chain can revert all of it. Events outside a chain write no undo records. The expiry
// heap changes only when the chain commits: its expiry registrations are held back, and
// the pending transfers it posts or voids leave the heap then (found from their
// undoPendingStatus records), so a rollback has nothing to undo there.
type undoLog struct {
	records  []undoRecord // Capacity fixed at init; never grows.
	expiries []expiryItem // Held-back expiry registrations of the open chain.
	active   bool         // Inside an open chain.
}

func (u *undoLog) init() {
	u.records = make([]undoRecord, 0, model.EventsPerRequestMax*undoRecordsPerEventMax)
	u.expiries = make([]expiryItem, 0, model.EventsPerRequestMax)
}

func (u *undoLog) begin() {
	if u.active || len(u.records) != 0 || len(u.expiries) != 0 {
		panic("ledger: undo log begin while a chain is open")
	}
	u.active = true
}

func (u *undoLog) push(record undoRecord) {
	if u.active {
		*u.next() = record
	}
}

// next appends a record to the open chain's log and returns it for the caller to fill
// (all of it: the slot may hold an earlier chain's record), as push would append it.
func (u *undoLog) next() *undoRecord {
	count := len(u.records)
	if count == cap(u.records) {
		panic("ledger: undo log overflow")
	}
	u.records = u.records[:count+1]
	return &u.records[count]
}

// commit ends the chain, keeping its changes.
func (l *Ledger) undoCommit() {
	u := &l.undo
	if !u.active {
		panic("ledger: undo commit without a chain")
	}
	if len(l.expiry.items) != 0 {
		for i := range u.records {
			if record := &u.records[i]; record.kind == undoPendingStatus {
				l.expiry.remove(record.index)
			}
		}
	}
	for _, item := range u.expiries {
		if *l.pending.at(item.transfer) == pendingActive { // Not resolved in its own chain.
			l.expiry.push(item)
		}
	}
	l.risk.CommitChain()
	u.records = u.records[:0]
	u.expiries = u.expiries[:0]
	u.active = false
}

// rollback reverts every change of the open chain, newest first, and ends the chain.
func (l *Ledger) undoRollback() {
	u := &l.undo
	if !u.active {
		panic("ledger: undo rollback without a chain")
	}
	l.risk.RollbackChain()
	for i := len(u.records) - 1; i >= 0; i-- {
		record := &u.records[i]
		switch record.kind {
		case undoAccountCreated:
			l.popAccount(record.index)
		case undoAccountState:
			account := l.accounts.at(record.index)
			l.totals.balanceRestored(account, &record.balance)
			account.DebitsPending = record.balance.DebitsPending
			account.DebitsPosted = record.balance.DebitsPosted
			account.CreditsPending = record.balance.CreditsPending
			account.CreditsPosted = record.balance.CreditsPosted
			// The flags saved may hold accountPendingZero of the balances restored:
			// recomputed from them, as restore does.
			account.Flags = record.flags &^ accountPendingZero
			account.markPendingZero()
		case undoTransferCreated:
			l.popTransfer(record.index)
		case undoPendingStatus:
			*l.pending.at(record.index) = record.status
		case undoHistoryCreated:
			l.popHistory(record.index)
		case undoReserved:
			l.reserved.set(record.index, record.balance.DebitsPending)
		default:
			panic("ledger: unknown undo record")
		}
	}
	u.records = u.records[:0]
	u.expiries = u.expiries[:0]
	u.active = false
}

// registerExpiry schedules a pending transfer's expiry, held back inside a chain.
func (l *Ledger) registerExpiry(item expiryItem) {
	if l.undo.active {
		l.undo.expiries = append(l.undo.expiries, item)
		return
	}
	l.expiry.push(item)
}

// saveAccountState records an account's mutable state before a change, inside a chain.
// It reads the balances as stored, not through accountPendingZero: with that test it no
// longer inlined (+24 instructions per transfer outside chains, +~70 inside the matching
// engine's chains, callgrind), and a chain's accounts are read whole anyway. The record
// is filled in place in the log (next, saveAccountStateTo): built as a value and pushed,
// it was zeroed and copied twice on the stack (~45 instructions a save, callgrind). It
// must stay small enough to inline (a test, not a call, outside chains).
func (l *Ledger) saveAccountState(index uint32, account *accountRecord) {
	if !l.undo.active {
		return
	}
	saveAccountStateTo(l.undo.next(), index, account)
}

func (l *Ledger) popAccount(index uint32) {
	if index != l.accounts.count-1 {
		panic("ledger: undo of an account that is not the newest")
	}
	account := l.accounts.at(index)
	l.accountIndex.remove(l.accountIndex.hash(account.ID), index)
	l.totals.accountRemoved(account)
	l.own.removeOwned(*l.own.owners.at(index), index)
	l.accounts.pop()
	l.own.owners.pop()
}

// popTransfer removes the newest transfer, which is also the newest in both of its
// accounts' lists.
func (l *Ledger) popTransfer(index uint32) {
	if index != l.transfers.count-1 {
		panic("ledger: undo of a transfer that is not the newest")
	}
	transfer := l.transfers.at(index)
	links := l.transferLinks.at(index)
	debitIndex, debitFound := l.findAccount(transfer.DebitAccountID)
	creditIndex, creditFound := l.findAccount(transfer.CreditAccountID)
	if !debitFound || !creditFound {
		panic("ledger: undo of a transfer whose accounts are missing")
	}
	debit, credit := l.accounts.at(debitIndex), l.accounts.at(creditIndex)
	if newestTransfer(debit) != index || newestTransfer(credit) != index {
		panic("ledger: undo of a transfer that is not its accounts' newest")
	}
	setNewestTransfer(debit, links.debitPrevious)
	setNewestTransfer(credit, links.creditPrevious)
	l.transferIndex.remove(l.transferIndex.hash(transfer.ID), index)
	l.transfers.pop()
	l.transferLinks.pop()
	l.pending.pop()
}

func (l *Ledger) popHistory(index uint32) {
	if index != l.history.count-1 {
		panic("ledger: undo of a history record that is not the newest")
	}
	record := l.history.at(index)
	if l.historyLast[record.account] != index {
		panic("ledger: undo of a history record that is not the account's newest")
	}
	if record.previous == indexNone {
		delete(l.historyLast, record.account)
	} else {
		l.historyLast[record.account] = record.previous
	}
	l.history.pop()
}
