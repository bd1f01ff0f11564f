package ledger

import (
	"fmt"

	"sequent/core/event"
	"sequent/core/model"
)

// CreateAccounts is CreateAccountsAs for the system (client 0): the accounts belong to
// no client, and only the system and operators may use them.
func (l *Ledger) CreateAccounts(firstTimestamp uint64, events []model.Account,
	results []model.EventResult) {
	l.CreateAccountsAs(0, firstTimestamp, events, results)
}

// CreateAccountsAs applies a batch of account creations on behalf of client, who owns
// the accounts created. Event i is evaluated at timestamp firstTimestamp+i, which becomes
// the account's timestamp when it is created. results receives one result per event.
//
// Linked chains are atomic; see chainRunner. An account that already exists with the same
// fields and the same owner answers exists with its original timestamp, and counts as a
// success inside a chain, so that retrying a whole chain that succeeded answers exists
// for every event. Another client's account answers exists_with_different_owner.
func (l *Ledger) CreateAccountsAs(client uint64, firstTimestamp uint64,
	events []model.Account, results []model.EventResult) {
	checkBatch(firstTimestamp, len(events), len(results))
	l.actAs(client)
	runner := chainRunner{ledger: l, count: len(events)}
	for i := range events {
		event := &events[i]
		timestamp := firstTimestamp + uint64(i)
		linked := event.Flags&model.AccountLinked != 0
		status, resultTimestamp := runner.before(i, linked), timestamp
		if status == model.StatusOK {
			status, resultTimestamp = l.createAccount(event, timestamp)
		}
		results[i] = model.EventResult{Timestamp: resultTimestamp, Status: status}
		if status == model.StatusOK && l.events != nil {
			account := exportAccount(l.accounts.at(l.accounts.count - 1))
			l.events.AppendAccount(&account, client)
		}
		from, to := runner.after(i, linked, status)
		for j := from; j < to; j++ {
			results[j] = model.EventResult{Timestamp: firstTimestamp + uint64(j),
				Status: model.StatusLinkedEventFailed}
		}
	}
}

// checkBatch asserts what the caller guarantees about every batch. Its three tests are
// one inlined expression (a call of the whole cost ~24 instructions, a sixtieth of a
// one-transfer client request); batchOutOfRange, reached only when one fails, panics
// with the message of the first failing one. The timestamp test is the one below it:
// firstTimestamp-1 wraps to 2^64-1 for 0, and timestampMax-eventCount cannot wrap.
func checkBatch(firstTimestamp uint64, eventCount int, resultCount int) {
	if uint(eventCount) > model.EventsPerRequestMax || resultCount < eventCount ||
		firstTimestamp-1 >= timestampMax-uint64(eventCount) {
		batchOutOfRange(firstTimestamp, eventCount, resultCount)
	}
}

// batchOutOfRange panics with what checkBatch found wrong, in the order it states.
func batchOutOfRange(firstTimestamp uint64, eventCount int, resultCount int) {
	if eventCount > model.EventsPerRequestMax {
		panic(fmt.Sprintf("ledger: batch of %d events", eventCount))
	}
	if resultCount < eventCount {
		panic("ledger: results shorter than events")
	}
	if firstTimestamp == 0 || firstTimestamp > timestampMax-uint64(eventCount) {
		panic(fmt.Sprintf("ledger: batch timestamp %d out of range", firstTimestamp))
	}
}

// chainRunner implements linked chains for one batch. A chain is a run of events whose
// linked flag is set, ended by the first event without it (which belongs to the chain).
// It succeeds or fails as a whole: on the first failure, every change of the chain so far
// is undone, the failing event keeps its own status, the chain's earlier events and the
// rest of the chain get linked_event_failed, and the rest is not evaluated. A chain still
// open at the end of the batch fails with linked_event_chain_open on its last event.
type chainRunner struct {
	ledger *Ledger
	count  int        // Events in the batch.
	start  int        // First event of the open chain (meaningful while open).
	open   bool       // A chain is open.
	broken bool       // The open chain failed; its remaining events are not evaluated.
	mark   event.Mark // Events before the open chain, to drop the chain's on failure.
}

// before returns StatusOK when event i should be evaluated, or the status it gets
// without evaluation.
func (c *chainRunner) before(i int, linked bool) model.Status {
	if !c.open && linked {
		c.open, c.broken, c.start = true, false, i
		c.ledger.undo.begin()
		c.ledger.risk.BeginChain()
		c.mark = c.ledger.events.Mark()
	}
	switch {
	case c.open && c.broken:
		return model.StatusLinkedEventFailed
	case linked && i == c.count-1:
		return model.StatusLinkedEventChainOpen
	}
	return model.StatusOK
}

// after records event i's outcome. When it breaks the open chain, it returns the chain's
// earlier events [from, to) for the caller to mark linked_event_failed; otherwise an empty
// range.
func (c *chainRunner) after(i int, linked bool, status model.Status) (from, to int) {
	failed := status != model.StatusOK && status != model.StatusExists
	if c.open && failed && !c.broken {
		c.broken = true
		c.ledger.undoRollback()
		c.ledger.events.Truncate(c.mark)
		from, to = c.start, i
	}
	if c.open && (!linked || i == c.count-1) {
		if !c.broken {
			c.ledger.undoCommit()
		}
		c.open, c.broken = false, false
	}
	return from, to
}

// createAccount validates and applies one account creation, in the documented precedence
// order (doc.go). It returns the status and the timestamp to report.
func (l *Ledger) createAccount(a *model.Account, timestamp uint64) (model.Status, uint64) {
	switch {
	case a.Timestamp != 0:
		return model.StatusTimestampMustBeZero, timestamp
	case a.Reserved != 0:
		return model.StatusReservedField, timestamp
	case a.Flags&^model.AccountFlagsKnown != 0:
		return model.StatusReservedFlag, timestamp
	case a.ID.IsZero():
		return model.StatusIDMustNotBeZero, timestamp
	case a.ID.IsMax():
		return model.StatusIDMustNotBeIntMax, timestamp
	case model.IsSystemID(a.ID) != l.system:
		if !l.system {
			return model.StatusIDReserved, timestamp
		}
		panic(fmt.Sprintf("ledger: system account %s outside the system range", a.ID))
	}
	l.accountIndex.prepareInsert()
	hash := l.accountIndex.hash(a.ID)
	existing, position, found := l.probeAccount(hash, a.ID)
	if found {
		e := l.accounts.at(existing)
		if !l.ownedByActor(existing) {
			// Not a retry of the caller's own creation: compare nothing, reveal nothing.
			return model.StatusExistsWithDifferentOwner, e.Timestamp
		}
		// Compared as the wire sees it: accountPendingZero is no flag of the account.
		stored := exportAccount(e)
		return accountExists(a, &stored), e.Timestamp
	}
	if status := validateNewAccount(a); status != model.StatusOK {
		return status, timestamp
	}
	if a.Flags&model.AccountDebitsMustNotExceedCredits == 0 && !l.mayIssue(a.ID, a.Ledger) {
		return model.StatusDebitsMustNotExceedCreditsRequired, timestamp
	}
	if l.accounts.count >= l.config.AccountsMax {
		return model.StatusAccountsLimitReached, timestamp
	}
	if l.actorAtAccountsLimit() {
		return model.StatusAccountsLimitPerClientReached, timestamp
	}
	index, record := l.pushAccount()
	*record = newAccountRecord(a) // Pending balances zero (validateNewAccount): marked.
	record.Timestamp = timestamp
	l.accountIndex.insertAt(position, hash, index)
	l.pushOwner(index)
	l.totals.accountAdded(record)
	l.undo.push(undoRecord{kind: undoAccountCreated, index: index})
	return model.StatusOK, timestamp
}

// accountExists compares a retried creation with the stored account. The closed flag is
// left out: a closing transfer may have set it since.
func accountExists(a *model.Account, e *model.Account) model.Status {
	switch {
	case (a.Flags^e.Flags)&^model.AccountClosed != 0:
		return model.StatusExistsWithDifferentFlags
	case a.UserData128 != e.UserData128:
		return model.StatusExistsWithDifferentUserData128
	case a.UserData64 != e.UserData64:
		return model.StatusExistsWithDifferentUserData64
	case a.UserData32 != e.UserData32:
		return model.StatusExistsWithDifferentUserData32
	case a.Ledger != e.Ledger:
		return model.StatusExistsWithDifferentLedger
	case a.Code != e.Code:
		return model.StatusExistsWithDifferentCode
	}
	return model.StatusExists
}

func validateNewAccount(a *model.Account) model.Status {
	bothLimits := model.AccountDebitsMustNotExceedCredits | model.AccountCreditsMustNotExceedDebits
	switch {
	case a.Flags&bothLimits == bothLimits:
		return model.StatusFlagsAreMutuallyExclusive
	case !a.DebitsPending.IsZero():
		return model.StatusDebitsPendingMustBeZero
	case !a.DebitsPosted.IsZero():
		return model.StatusDebitsPostedMustBeZero
	case !a.CreditsPending.IsZero():
		return model.StatusCreditsPendingMustBeZero
	case !a.CreditsPosted.IsZero():
		return model.StatusCreditsPostedMustBeZero
	case a.Ledger == 0:
		return model.StatusLedgerMustNotBeZero
	case a.Code == 0:
		return model.StatusCodeMustNotBeZero
	}
	return model.StatusOK
}

// pushAccount appends an account record (chunked.push). When that moves the first chunk
// (it doubles until full, in a ledger sized for fewer accounts), the transfer pipeline's
// record pointers of earlier batches point into the old copy and would keep it alive
// (up to 4 MiB per growth, until a batch as long overwrote them): they are dropped.
func (l *Ledger) pushAccount() (uint32, *accountRecord) {
	first := l.accounts.firstChunk()
	index, record := l.accounts.push()
	if l.accounts.firstChunk() != first {
		clear(l.batch.accounts)
	}
	return index, record
}
