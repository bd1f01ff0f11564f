package ledger

import (
	"maps"
	"slices"

	"sequent/core/model"
)

// referenceLedger is a deliberately naive second implementation of the ledger's rules,
// written for clarity only: maps, full copies for linked-chain rollback, and a linear scan
// for expiry. Property tests compare the real ledger against it event by event.
type referenceLedger struct {
	accounts  map[model.Uint128]model.Account
	transfers map[model.Uint128]model.Transfer
	order     []model.Uint128 // Transfer ids in creation order.
	status    map[model.Uint128]pendingStatus
	failed    map[model.Uint128]bool
	history   map[model.Uint128][]model.AccountBalance
	owners    map[model.Uint128]uint64 // Account id → the client that created it.
	grants    []model.Grant
	client    uint64 // The client the current batch runs for (0: the system).
	// saga: the batch is a saga's (CreateSagaTransfers, CreateSagaFinishes): a post is
	// never refused for a closed account (nor checked for overflow: amounts stay small).
	saga bool
}

func newReferenceLedger() *referenceLedger {
	return &referenceLedger{
		accounts:  map[model.Uint128]model.Account{},
		transfers: map[model.Uint128]model.Transfer{},
		status:    map[model.Uint128]pendingStatus{},
		failed:    map[model.Uint128]bool{},
		history:   map[model.Uint128][]model.AccountBalance{},
		owners:    map[model.Uint128]uint64{},
	}
}

// may reports whether the current client may use the account with scope: the system,
// an operator, the owner, or a client with a grant that covers it.
func (r *referenceLedger) may(scope model.Scope, id model.Uint128) bool {
	if r.client == 0 || r.owners[id] == r.client {
		return true
	}
	account := r.accounts[id]
	for _, g := range r.grants {
		if g.Client != r.client {
			continue
		}
		if g.Scopes&model.ScopeOperator != 0 {
			return true
		}
		if g.Allows(scope) && g.Covers(id, account.Ledger) {
			return true
		}
	}
	return false
}

// mayIssue reports whether the current client may create an account that can go
// negative: the system, an operator, or a transfer grant covering it.
func (r *referenceLedger) mayIssue(id model.Uint128, ledger uint32) bool {
	if r.unrestricted() {
		return true
	}
	for _, g := range r.grants {
		if g.Client == r.client && g.Scopes&model.ScopeTransfer != 0 && g.Covers(id, ledger) {
			return true
		}
	}
	return false
}

// unrestricted reports whether the current client is the system or an operator.
func (r *referenceLedger) unrestricted() bool {
	if r.client == 0 {
		return true
	}
	for _, g := range r.grants {
		if g.Client == r.client && g.Scopes&model.ScopeOperator != 0 {
			return true
		}
	}
	return false
}

func (r *referenceLedger) clone() *referenceLedger {
	history := map[model.Uint128][]model.AccountBalance{}
	for id, entries := range r.history {
		history[id] = slices.Clone(entries)
	}
	return &referenceLedger{
		accounts:  maps.Clone(r.accounts),
		transfers: maps.Clone(r.transfers),
		order:     slices.Clone(r.order),
		status:    maps.Clone(r.status),
		failed:    maps.Clone(r.failed),
		history:   history,
		owners:    maps.Clone(r.owners),
		grants:    r.grants,
		client:    r.client,
		saga:      r.saga,
	}
}

// runChains applies the linked-chain rules around evaluate, restoring a full copy of the
// state when a chain fails.
func (r *referenceLedger) runChains(count int, linked func(i int) bool,
	evaluate func(i int) model.Status) []model.Status {
	statuses := make([]model.Status, count)
	for start := 0; start < count; {
		end := start
		for end < count-1 && linked(end) {
			end++
		}
		if !linked(start) && end == start {
			statuses[start] = evaluate(start)
			start++
			continue
		}
		saved := r.clone()
		failedAt := -1
		for i := start; i <= end; i++ {
			if i == count-1 && linked(i) {
				statuses[i] = model.StatusLinkedEventChainOpen
			} else {
				statuses[i] = evaluate(i)
			}
			if statuses[i] != model.StatusOK && statuses[i] != model.StatusExists {
				failedAt = i
				break
			}
		}
		if failedAt >= 0 {
			failedIDs := r.failed // Transient failures survive the rollback.
			*r = *saved
			r.failed = failedIDs
			for i := start; i <= end; i++ {
				if i != failedAt {
					statuses[i] = model.StatusLinkedEventFailed
				}
			}
		}
		start = end + 1
	}
	return statuses
}

func (r *referenceLedger) createAccounts(timestamp uint64, events []model.Account) []model.Status {
	return r.runChains(len(events), func(i int) bool {
		return events[i].Flags&model.AccountLinked != 0
	}, func(i int) model.Status {
		return r.createAccount(events[i], timestamp+uint64(i))
	})
}

func (r *referenceLedger) createAccount(a model.Account, timestamp uint64) model.Status {
	if a.Timestamp != 0 {
		return model.StatusTimestampMustBeZero
	}
	if a.Reserved != 0 {
		return model.StatusReservedField
	}
	if a.Flags&^model.AccountFlagsKnown != 0 {
		return model.StatusReservedFlag
	}
	if a.ID.IsZero() {
		return model.StatusIDMustNotBeZero
	}
	if a.ID.IsMax() {
		return model.StatusIDMustNotBeIntMax
	}
	if e, ok := r.accounts[a.ID]; ok {
		if r.owners[a.ID] != r.client {
			return model.StatusExistsWithDifferentOwner
		}
		return accountExists(&a, &e)
	}
	if status := validateNewAccount(&a); status != model.StatusOK {
		return status
	}
	if a.Flags&model.AccountDebitsMustNotExceedCredits == 0 && !r.mayIssue(a.ID, a.Ledger) {
		return model.StatusDebitsMustNotExceedCreditsRequired
	}
	a.Timestamp = timestamp
	r.accounts[a.ID] = a
	r.owners[a.ID] = r.client
	return model.StatusOK
}

func (r *referenceLedger) createTransfers(timestamp uint64, events []model.Transfer) []model.Status {
	return r.runChains(len(events), func(i int) bool {
		return events[i].Flags&model.TransferLinked != 0
	}, func(i int) model.Status {
		status := r.createTransfer(events[i], timestamp+uint64(i))
		if status.Transient() {
			r.failed[events[i].ID] = true
		}
		return status
	})
}

func (r *referenceLedger) createTransfer(t model.Transfer, timestamp uint64) model.Status {
	switch {
	case t.Timestamp != 0:
		return model.StatusTimestampMustBeZero
	case t.Flags&^model.TransferFlagsKnown != 0:
		return model.StatusReservedFlag
	case t.ID.IsZero():
		return model.StatusIDMustNotBeZero
	case t.ID.IsMax():
		return model.StatusIDMustNotBeIntMax
	}
	if e, ok := r.transfers[t.ID]; ok {
		if !r.may(model.ScopeRead, e.DebitAccountID) && !r.may(model.ScopeRead, e.CreditAccountID) {
			return model.StatusExistsWithDifferentOwner
		}
		return r.exists(t, e)
	}
	if r.failed[t.ID] {
		return model.StatusIDAlreadyFailed
	}
	if t.Flags&(model.TransferPostPending|model.TransferVoidPending) != 0 {
		return r.postOrVoid(t, timestamp)
	}
	if status := validateTransfer(&t); status != model.StatusOK {
		return status
	}
	debit, debitFound := r.accounts[t.DebitAccountID]
	if !debitFound {
		return model.StatusDebitAccountNotFound
	}
	credit, creditFound := r.accounts[t.CreditAccountID]
	if !creditFound {
		return model.StatusCreditAccountNotFound
	}
	if !r.may(model.ScopeTransfer, debit.ID) {
		return model.StatusDebitAccountNotOwned
	}
	if t.Flags&(model.TransferClosingCredit|model.TransferBalancingCredit) != 0 &&
		!r.may(model.ScopeTransfer, credit.ID) {
		return model.StatusCreditAccountNotOwned
	}
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
	amount := t.Amount
	if t.Flags&model.TransferBalancingDebit != 0 {
		available, underflow := debit.CreditsPosted.Sub(debit.DebitsPosted.MustAdd(debit.DebitsPending))
		if underflow {
			available = model.Uint128{}
		}
		amount = amount.Min(available)
	}
	if t.Flags&model.TransferBalancingCredit != 0 {
		available, underflow := credit.DebitsPosted.Sub(credit.CreditsPosted.MustAdd(credit.CreditsPending))
		if underflow {
			available = model.Uint128{}
		}
		amount = amount.Min(available)
	}
	pending := t.Flags&model.TransferPending != 0
	// The ledger's own checks, on in-memory records made from the model's accounts.
	debitRecord, creditRecord := newAccountRecord(&debit), newAccountRecord(&credit)
	if !r.unrestricted() {
		if status := checkDebitSide(amount, pending, &debitRecord); status != model.StatusOK {
			return status
		}
	}
	if status := checkAmount(amount, pending, &debitRecord, &creditRecord); status != model.StatusOK {
		return status
	}
	if pending && t.Timeout != 0 && timestamp+uint64(t.Timeout)*nanosecondsPerSecond > timestampMax {
		return model.StatusOverflowsTimeout
	}
	if status := checkLimits(amount, &debitRecord, &creditRecord); status != model.StatusOK {
		return status
	}
	if pending {
		debit.DebitsPending = debit.DebitsPending.MustAdd(amount)
		credit.CreditsPending = credit.CreditsPending.MustAdd(amount)
		r.status[t.ID] = pendingActive
	} else {
		debit.DebitsPosted = debit.DebitsPosted.MustAdd(amount)
		credit.CreditsPosted = credit.CreditsPosted.MustAdd(amount)
	}
	if t.Flags&model.TransferClosingDebit != 0 {
		debit.Flags |= model.AccountClosed
	}
	if t.Flags&model.TransferClosingCredit != 0 {
		credit.Flags |= model.AccountClosed
	}
	t.Amount, t.Timestamp = amount, timestamp
	r.store(t, debit, credit)
	return model.StatusOK
}

func (r *referenceLedger) store(t model.Transfer, debit, credit model.Account) {
	r.accounts[debit.ID], r.accounts[credit.ID] = debit, credit
	r.transfers[t.ID] = t
	r.order = append(r.order, t.ID)
	for _, account := range []model.Account{debit, credit} {
		if account.Flags&model.AccountHistory != 0 {
			r.history[account.ID] = append(r.history[account.ID],
				model.AccountBalance{Balance: account.Balance(), Timestamp: t.Timestamp})
		}
	}
}

func (r *referenceLedger) postOrVoid(t model.Transfer, timestamp uint64) model.Status {
	if status := validatePostOrVoid(&t); status != model.StatusOK {
		return status
	}
	p, found := r.transfers[t.PendingID]
	if !found {
		return model.StatusPendingTransferNotFound
	}
	if !r.may(model.ScopeTransfer, p.DebitAccountID) && !r.may(model.ScopeTransfer, p.CreditAccountID) {
		return model.StatusPendingTransferNotOwned
	}
	switch {
	case p.Flags&model.TransferPending == 0:
		return model.StatusPendingTransferNotPending
	case !t.DebitAccountID.IsZero() && t.DebitAccountID != p.DebitAccountID:
		return model.StatusPendingTransferHasDifferentDebitID
	case !t.CreditAccountID.IsZero() && t.CreditAccountID != p.CreditAccountID:
		return model.StatusPendingTransferHasDifferentCreditID
	case t.Ledger != 0 && t.Ledger != p.Ledger:
		return model.StatusPendingTransferHasDifferentLedger
	case t.Code != 0 && t.Code != p.Code:
		return model.StatusPendingTransferHasDifferentCode
	}
	post := t.Flags&model.TransferPostPending != 0
	amount := p.Amount
	if post && !t.Amount.IsMax() {
		if p.Amount.Less(t.Amount) {
			return model.StatusExceedsPendingTransferAmount
		}
		amount = t.Amount
	}
	if !post && !t.Amount.IsZero() && !t.Amount.IsMax() && t.Amount != p.Amount {
		return model.StatusPendingTransferHasDifferentAmount
	}
	switch r.status[p.ID] {
	case pendingPosted:
		return model.StatusPendingTransferAlreadyPosted
	case pendingVoided:
		return model.StatusPendingTransferAlreadyVoided
	case pendingExpired:
		return model.StatusPendingTransferExpired
	}
	if p.Timeout != 0 && p.Timestamp+uint64(p.Timeout)*nanosecondsPerSecond <= timestamp {
		return model.StatusPendingTransferExpired
	}
	debit, credit := r.accounts[p.DebitAccountID], r.accounts[p.CreditAccountID]
	if post && !r.saga {
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
	debit.DebitsPending = debit.DebitsPending.MustSub(p.Amount)
	credit.CreditsPending = credit.CreditsPending.MustSub(p.Amount)
	if post {
		debit.DebitsPosted = debit.DebitsPosted.MustAdd(amount)
		credit.CreditsPosted = credit.CreditsPosted.MustAdd(amount)
		r.status[p.ID] = pendingPosted
	} else {
		r.status[p.ID] = pendingVoided
		reopenClosedByReference(&p, &debit, &credit)
	}
	t.DebitAccountID, t.CreditAccountID, t.Ledger = p.DebitAccountID, p.CreditAccountID, p.Ledger
	if t.Code == 0 {
		t.Code = p.Code
	}
	if t.UserData128.IsZero() {
		t.UserData128 = p.UserData128
	}
	if t.UserData64 == 0 {
		t.UserData64 = p.UserData64
	}
	if t.UserData32 == 0 {
		t.UserData32 = p.UserData32
	}
	t.Amount, t.Timestamp = amount, timestamp
	r.store(t, debit, credit)
	return model.StatusOK
}

func (r *referenceLedger) exists(t model.Transfer, e model.Transfer) model.Status {
	if t.Flags != e.Flags {
		return model.StatusExistsWithDifferentFlags
	}
	if t.PendingID != e.PendingID {
		return model.StatusExistsWithDifferentPendingID
	}
	if t.Timeout != e.Timeout {
		return model.StatusExistsWithDifferentTimeout
	}
	resolving := e.Flags&(model.TransferPostPending|model.TransferVoidPending) != 0
	differs := func(given, stored model.Uint128) bool {
		return given != stored && !(resolving && given.IsZero())
	}
	differs64 := func(given, stored uint64) bool { return given != stored && !(resolving && given == 0) }
	if differs(t.DebitAccountID, e.DebitAccountID) {
		return model.StatusExistsWithDifferentDebitAccountID
	}
	if differs(t.CreditAccountID, e.CreditAccountID) {
		return model.StatusExistsWithDifferentCreditAccountID
	}
	sameAmount := t.Amount == e.Amount
	switch {
	case e.Flags&(model.TransferBalancingDebit|model.TransferBalancingCredit) != 0:
		sameAmount = !t.Amount.Less(e.Amount)
	case e.Flags&model.TransferVoidPending != 0:
		sameAmount = sameAmount || t.Amount.IsZero() || t.Amount.IsMax()
	case e.Flags&model.TransferPostPending != 0:
		sameAmount = sameAmount || (t.Amount.IsMax() && r.transfers[e.PendingID].Amount == e.Amount)
	}
	if !sameAmount {
		return model.StatusExistsWithDifferentAmount
	}
	if differs(t.UserData128, e.UserData128) {
		return model.StatusExistsWithDifferentUserData128
	}
	if differs64(t.UserData64, e.UserData64) {
		return model.StatusExistsWithDifferentUserData64
	}
	if differs64(uint64(t.UserData32), uint64(e.UserData32)) {
		return model.StatusExistsWithDifferentUserData32
	}
	if differs64(uint64(t.Ledger), uint64(e.Ledger)) {
		return model.StatusExistsWithDifferentLedger
	}
	if differs64(uint64(t.Code), uint64(e.Code)) {
		return model.StatusExistsWithDifferentCode
	}
	return model.StatusExists
}

// expire releases every active pending transfer whose deadline has passed, in (deadline,
// creation) order, up to limit.
func (r *referenceLedger) expire(timestamp uint64, limit int) int {
	type due struct {
		deadline uint64
		position int
	}
	var candidates []due
	for position, id := range r.order {
		t := r.transfers[id]
		if r.status[id] != pendingActive || t.Timeout == 0 {
			continue
		}
		deadline := t.Timestamp + uint64(t.Timeout)*nanosecondsPerSecond
		if deadline <= timestamp {
			candidates = append(candidates, due{deadline, position})
		}
	}
	slices.SortFunc(candidates, func(a, b due) int {
		if a.deadline != b.deadline {
			return int(int64(a.deadline - b.deadline))
		}
		return a.position - b.position
	})
	if len(candidates) > limit {
		candidates = candidates[:limit]
	}
	for _, c := range candidates {
		p := r.transfers[r.order[c.position]]
		debit, credit := r.accounts[p.DebitAccountID], r.accounts[p.CreditAccountID]
		debit.DebitsPending = debit.DebitsPending.MustSub(p.Amount)
		credit.CreditsPending = credit.CreditsPending.MustSub(p.Amount)
		reopenClosedByReference(&p, &debit, &credit)
		r.accounts[debit.ID], r.accounts[credit.ID] = debit, credit
		r.status[p.ID] = pendingExpired
	}
	return len(candidates)
}

// accountTransfers answers a filter by scanning every transfer.
func (r *referenceLedger) accountTransfers(f model.AccountFilter) ([]model.Transfer, model.Status) {
	switch {
	case f.Flags&^model.FilterFlagsKnown != 0, f.Flags&(model.FilterDebits|model.FilterCredits) == 0,
		f.Limit == 0, f.Limit > model.EventsPerRequestMax,
		f.TimestampMax != 0 && f.TimestampMin > f.TimestampMax:
		return nil, model.StatusInvalidFilter
	}
	if _, ok := r.accounts[f.AccountID]; !ok || !r.may(model.ScopeRead, f.AccountID) {
		return nil, model.StatusAccountNotFound
	}
	var matches []model.Transfer
	for _, id := range r.order {
		t := r.transfers[id]
		debitSide := t.DebitAccountID == f.AccountID
		creditSide := t.CreditAccountID == f.AccountID
		switch {
		case !(debitSide && f.Flags&model.FilterDebits != 0) &&
			!(creditSide && f.Flags&model.FilterCredits != 0):
		case t.Timestamp < f.TimestampMin:
		case f.TimestampMax != 0 && t.Timestamp > f.TimestampMax:
		case !f.UserData128.IsZero() && t.UserData128 != f.UserData128:
		case f.UserData64 != 0 && t.UserData64 != f.UserData64:
		case f.UserData32 != 0 && t.UserData32 != f.UserData32:
		case f.Code != 0 && t.Code != f.Code:
		default:
			matches = append(matches, t)
		}
	}
	if f.Flags&model.FilterReversed != 0 {
		slices.Reverse(matches)
	}
	if len(matches) > int(f.Limit) {
		matches = matches[:f.Limit]
	}
	return matches, model.StatusOK
}

// reopenClosedByReference is the model's reopenClosedBy: a void or an expiry reopens the
// accounts the pending transfer closed.
func reopenClosedByReference(p *model.Transfer, debit, credit *model.Account) {
	if p.Flags&model.TransferClosingDebit != 0 {
		debit.Flags &^= model.AccountClosed
	}
	if p.Flags&model.TransferClosingCredit != 0 {
		credit.Flags &^= model.AccountClosed
	}
}
