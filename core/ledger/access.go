package ledger

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"

	"sequent/core/model"
)

// This file holds who owns which account and who may touch what (doc.go, "Ownership").

// ownerNone is the owner index of a client that owns no account yet.
const ownerNone = ^uint32(0)

// ownership is the ledger's record of account owners and the grants in force.
//
// Each account's owner is the client whose request created it (0: the system, for the
// matching engine's accounts and for callers that act as the system). It is kept per
// account as a 4-byte index into a dictionary of client ids rather than the 8-byte id,
// which keeps an account's memory within its 160-byte budget; the dictionary only grows
// and its entries never change (a snapshot view shares its prefix), and it is not state:
// snapshots write the client ids, and a restored ledger numbers them afresh.
type ownership struct {
	owners  chunked[uint32]   // Per account: index into clients.
	clients []uint64          // Dictionary: index → client id; clients[0] is 0.
	indexOf map[uint64]uint32 // Client id → dictionary index (looked up, never ranged).
	// owned lists, per dictionary index, the accounts that client created, in creation
	// order (the system's, index 0, are not listed: nothing asks for them). Derived from
	// owners (Restore rebuilds it): LedgerTotalsAs sums a client's own accounts from it
	// instead of reading every account.
	owned []*chunked[uint32]

	// grants is the table in force, ordered by client (keys file order within one), and
	// grantSpans finds each client's run in it.
	grants     []model.Grant
	grantSpans map[uint64]grantSpan

	// accountLimits is the table of client limits in force, ordered by client
	// (model.ValidateClientLimits): a limited client's bound is found by binary search,
	// only when it creates an account. The count it bounds is the length of the client's
	// owned list, which the undo log and Restore keep exact: nothing more is counted.
	accountLimits []model.ClientLimit

	// actors holds the client actors resolved lately, direct-mapped by client id
	// (actorSlot), so that actAs costs no map lookup for a client seen before: in an
	// entry of one-transfer requests from many clients the client changes at every
	// request, and an order checks two accounts and then acts as the system for its hold.
	// A slot holds an actor only while it is what actAs would resolve: SetGrants clears
	// them all, and ownerIndex clears a client's when it gives the client an owner index
	// (its cached owner was ownerNone). Client 0 is never cached, so a zero slot holds
	// nobody. Not state: it only saves lookups.
	actors [actorSlots]actor

	// issuingChecked says whether a client's debit that takes an account without
	// debits_must_not_exceed_credits below zero needs the issuing right at the time of the
	// debit (SetIssuingChecked; package core sets it from rules version 6 on). Off, as in
	// the builds before it, the right was only checked when such an account was created.
	issuingChecked bool
}

// actorSlotBits sizes the actor cache: 64 slots, enough for the clients of a busy node
// to stay cached between their requests, small enough (48 bytes a slot, 3 KiB) to
// clear whole when the grants change.
const (
	actorSlotBits = 6
	actorSlots    = 1 << actorSlotBits
)

// actorSlot returns the cache slot of a client: a multiplicative hash, since client ids
// are whatever the keys file says and need not differ in their low bits.
func actorSlot(client uint64) uint64 {
	return client * 0x9e3779b97f4a7c15 >> (64 - actorSlotBits)
}

// grantSpan is one client's run of grants, and whether one of them has the operator
// scope.
type grantSpan struct {
	start, end uint32
	operator   bool
}

// actor is the client on whose behalf the current batch or query runs, resolved once.
type actor struct {
	client uint64
	owner  uint32 // Dictionary index of client, or ownerNone.
	// transferLedger is a ledger on every account of which one of grants gives the
	// transfer scope (wholeLedgerTransfer; 0: none, and no account is on ledger 0): there
	// the actor may debit, read and issue money, which createdPlains tests with one compare
	// instead of the owner's entry and a scan of the grants. Derived from grants, it
	// changes only with them (SetGrants clears the actor cache).
	transferLedger uint32
	all            bool          // The system (client 0) or an operator: every check passes.
	grants         []model.Grant // The client's grants.
}

// wholeLedgerTransfer returns the ledger of the first of grants that gives the transfer
// scope over every account of one ledger, or 0 when none does. Such a grant covers every
// account with that ledger (model.Grant.Covers) and allows the transfer scope and read
// (model.Grant.Allows), so a client holding it passes allowed for those scopes and
// mayIssue on any account of the ledger, owner or not. A grant over every ledger
// (Ledger 0) or over a range of ids is left to the scans; so are further whole-ledger
// grants after the first (an actor keeps one ledger: a compare, not a search).
func wholeLedgerTransfer(grants []model.Grant) uint32 {
	for i := range grants {
		g := &grants[i]
		if g.Ledger != 0 && g.AllAccounts() && g.Allows(model.ScopeTransfer) {
			return g.Ledger
		}
	}
	return 0
}

func (o *ownership) init() {
	o.clients = []uint64{0}
	o.indexOf = map[uint64]uint32{0: 0}
	o.grantSpans = map[uint64]grantSpan{}
}

// ownerIndex returns the dictionary index of client, adding it when add is set.
func (o *ownership) ownerIndex(client uint64, add bool) uint32 {
	if index, ok := o.indexOf[client]; ok {
		return index
	}
	if !add {
		return ownerNone
	}
	index := uint32(len(o.clients))
	o.clients = append(o.clients, client)
	o.indexOf[client] = index
	// The cached actor of this client, if any, has owner ownerNone.
	if cached := &o.actors[actorSlot(client)]; cached.client == client {
		*cached = actor{}
	}
	return index
}

// actAs makes client the actor of what follows (client 0: the system, unrestricted).
// Small enough to inline, so that the system (the matching engine's batches, most of
// them of one transfer) pays its stores and no call.
func (l *Ledger) actAs(client uint64) {
	if client == 0 {
		l.actor = actor{owner: 0, all: true}
		return
	}
	l.actAsClient(client)
}

// actAsClient is actAs for a client other than the system: from the actor cache when
// the client's slot holds it, else from the maps (and then cached).
func (l *Ledger) actAsClient(client uint64) {
	cached := &l.own.actors[actorSlot(client)]
	if cached.client == client {
		l.actor = *cached
		return
	}
	span := l.own.grantSpans[client]
	grants := l.own.grants[span.start:span.end]
	l.actor = actor{client: client, owner: l.own.ownerIndex(client, false),
		transferLedger: wholeLedgerTransfer(grants), all: span.operator, grants: grants}
	*cached = l.actor
}

// allowed reports whether the actor may use the account at index with scope: it owns
// the account, it is the system or an operator, or one of its grants covers the account.
func (l *Ledger) allowed(scope model.Scope, index uint32) bool {
	a := &l.actor
	if a.all || *l.own.owners.at(index) == a.owner {
		return true
	}
	if len(a.grants) == 0 {
		return false
	}
	account := l.accounts.at(index)
	for i := range a.grants {
		if a.grants[i].Allows(scope) && a.grants[i].Covers(account.ID, account.Ledger) {
			return true
		}
	}
	return false
}

// readableBy reports whether client may read the account at index (AccountAs's allowed
// for model.ScopeRead). Like AccountAs, it leaves client as the actor's cache entry; the
// batch's actor is kept.
func (l *Ledger) readableBy(client uint64, index uint32) bool {
	batchActor := l.actor
	l.actAs(client)
	readable := l.allowed(model.ScopeRead, index)
	l.actor = batchActor
	return readable
}

// mayIssue reports whether the actor may create an account with this id and ledger
// that can go negative (no debits_must_not_exceed_credits): the system, an operator, or
// a client with a transfer grant covering it. Debiting such an account creates money on
// its ledger, so it takes the right to move others' money there, not just a login.
func (l *Ledger) mayIssue(id model.Uint128, ledger uint32) bool {
	a := &l.actor
	if a.all {
		return true
	}
	for i := range a.grants {
		if a.grants[i].Allows(model.ScopeTransfer) && a.grants[i].Covers(id, ledger) {
			return true
		}
	}
	return false
}

// mayIssueAs is mayIssue for client (0: the system), keeping the batch's actor: the
// matching engine's reservations run as the system on behalf of the order's client.
func (l *Ledger) mayIssueAs(client uint64, id model.Uint128, ledger uint32) bool {
	batchActor := l.actor
	l.actAs(client)
	may := l.mayIssue(id, ledger)
	l.actor = batchActor
	return may
}

// MayIssueAs reports whether client (0: the system) may take an account without
// debits_must_not_exceed_credits above its credits posted (issue money there): what a
// client's debit needs from rules version 6 on (SetIssuingChecked). core/saga asks it at
// step 1 of a cross-shard balancing_credit transfer, which may reserve only what its
// client may pay (Book.SetPayerBound).
func (l *Ledger) MayIssueAs(client uint64, id model.Uint128, ledger uint32) bool {
	return l.mayIssueAs(client, id, ledger)
}

// ReserveFor marks a reserving event (flag SystemReserve) as made for client, the one
// whose order commits the debit account (its UserData64; 0, the default, for the
// engine's own moves, which the system may always make). With SetIssuingChecked such a
// reservation that would take an account without debits_must_not_exceed_credits above
// its credits posted needs client's right to issue money there (mayIssue), else
// exceeds_credits, as a debit of the client's own would get.
func ReserveFor(t *model.Transfer, client uint64) { t.UserData64 = client }

// SetIssuingChecked says whether a client's debit issues money only with the right to
// (true: package core from rules version 6 on) or not, as before that check (false, the
// default of New and Restore: the owner applies a log written then, which must replay as
// it was applied). With it, the part of a debit that takes an account without
// debits_must_not_exceed_credits above its credits posted (pending and posted debits
// and the amount together) is issuing money, and a client that has neither the operator
// scope nor a transfer grant covering the account (mayIssue) is refused with
// exceeds_credits, the code and the place in the precedence order the account would
// give with the flag. An account created under a transfer grant therefore stops issuing
// when the grant is withdrawn. The same holds for a reservation the matching engine
// makes for a client (ReserveFor: an order's hold), which the engine answers as
// insufficient_funds. It is the owner's state, not the ledger's.
func (l *Ledger) SetIssuingChecked(checked bool) { l.own.issuingChecked = checked }

// debitsExceedCredits reports whether a debit of amount from the account takes its
// debits (pending and posted) above its credits posted: on an account without
// debits_must_not_exceed_credits, whether it issues money. A sum beyond 128 bits counts
// as exceeding (no account can cover it): a client's hold reaches this before any
// overflow check (clientHoldRefused), while a transfer's callers have ruled the overflow
// out already. Small enough to inline (cost 80 of 80 on Go 1.26): a debit within the
// account's credits costs four additions and a comparison, and only one that issues
// looks at the grants (mayIssue).
//
// pending is the account's debits_pending, which the callers read with debitsPending
// (not from the record's second line when the account is marked without pending
// balances): read here, it cost more than the inlining budget.
func debitsExceedCredits(amount model.Uint128, pending model.Uint128, debit *accountRecord) bool {
	low, carry := bits.Add64(pending.Lo, debit.DebitsPosted.Lo, 0)
	high, overflowPending := bits.Add64(pending.Hi, debit.DebitsPosted.Hi, carry)
	low, carry = bits.Add64(low, amount.Lo, 0)
	high, overflowAmount := bits.Add64(high, amount.Hi, carry)
	credits := &debit.CreditsPosted
	return overflowPending|overflowAmount != 0 || high > credits.Hi ||
		high == credits.Hi && low > credits.Lo
}

// ownedByActor reports whether the account at index was created by the actor.
func (l *Ledger) ownedByActor(index uint32) bool {
	return *l.own.owners.at(index) == l.actor.owner
}

// SetGrants puts a grant table in force (it replaces the previous one whole). It is the
// core's answer to the internal set_grants request, so every replica holds the same
// table at the same op. The table must pass model.ValidateGrants.
func (l *Ledger) SetGrants(grants []model.Grant) error {
	if err := model.ValidateGrants(grants); err != nil {
		return err
	}
	sorted := slices.Clone(grants)
	slices.SortStableFunc(sorted, func(a, b model.Grant) int {
		switch {
		case a.Client < b.Client:
			return -1
		case a.Client > b.Client:
			return 1
		}
		return 0
	})
	spans := make(map[uint64]grantSpan, len(sorted))
	for i := range sorted {
		span, seen := spans[sorted[i].Client]
		if !seen {
			span.start = uint32(i)
		}
		span.end = uint32(i + 1)
		span.operator = span.operator || sorted[i].Scopes&model.ScopeOperator != 0
		spans[sorted[i].Client] = span
	}
	l.own.grants, l.own.grantSpans = sorted, spans
	clear(l.own.actors[:]) // Every cached actor's grants and operator flag are stale.
	l.actAs(0)
	return nil
}

// SetAccountLimits puts a table of client limits in force (it replaces the previous
// one whole): from then on a client with a limit may create accounts only while it owns
// fewer than its AccountsMax (accounts_limit_per_client_reached); the accounts it owns
// beyond a lowered bound stay. It is the core's answer to the limits of the internal
// set_grants request (rules version 3 on). The table must pass
// model.ValidateClientLimits.
func (l *Ledger) SetAccountLimits(limits []model.ClientLimit) error {
	if err := model.ValidateClientLimits(limits); err != nil {
		return err
	}
	l.own.accountLimits = slices.Clone(limits)
	return nil
}

// AccountLimits returns the table of client limits in force, ordered by client
// (read-only; nil: none).
func (l *Ledger) AccountLimits() []model.ClientLimit { return l.own.accountLimits }

// OwnedAccountCount returns how many accounts client owns (created), for tools and
// tests (the system's, client 0, are not counted: 0).
func (l *Ledger) OwnedAccountCount(client uint64) uint32 {
	owned := l.own.ownedBy(l.own.ownerIndex(client, false))
	if owned == nil {
		return 0
	}
	return owned.count
}

// actorAtAccountsLimit reports whether the actor owns as many accounts as its client
// limit allows, so that it may create no more. Never for a client without a limit, nor
// for the system; without any limit in force it costs one length test.
func (l *Ledger) actorAtAccountsLimit() bool {
	limits := l.own.accountLimits
	if len(limits) == 0 || l.actor.client == 0 {
		return false
	}
	i, limited := slices.BinarySearchFunc(limits, l.actor.client,
		func(limit model.ClientLimit, client uint64) int { return cmp.Compare(limit.Client, client) })
	if !limited {
		return false
	}
	owned := l.own.ownedBy(l.actor.owner) // nil while the client owns nothing.
	return owned != nil && owned.count >= limits[i].AccountsMax
}

// Grants returns the grant table in force, ordered by client (read-only).
func (l *Ledger) Grants() []model.Grant { return l.own.grants }

// IsOperator reports whether client has the operator scope (the system, client 0, too).
func (l *Ledger) IsOperator(client uint64) bool {
	return client == 0 || l.own.grantSpans[client].operator
}

// AccountAs looks an account up on behalf of client: found says whether it exists,
// allowed whether client may use it with scope (the matching engine asks for
// model.ScopeTrade before it holds funds for an order).
func (l *Ledger) AccountAs(client uint64, scope model.Scope, id model.Uint128) (
	account model.Account, found bool, allowed bool) {
	account, index, allowed := l.AccountAtAs(client, scope, id)
	return account, index != IndexUnknown, allowed
}

// AccountAtAs is AccountAs that also says where the ledger stores the account
// (IndexUnknown when it does not exist). The matching engine checks a new order's
// accounts with AccountTermsPlacedAs (funding.go), which gives the same answers for the
// fields it reads (TestAccountTermsAtAsMatchesAccountAtAs), and keeps the place for
// ChangeSystemReservationAt, so that reserving needs no other lookup.
func (l *Ledger) AccountAtAs(client uint64, scope model.Scope, id model.Uint128) (
	account model.Account, index uint32, allowed bool) {
	index, found := l.findAccount(id)
	if !found {
		return model.Account{}, IndexUnknown, false
	}
	l.actAs(client)
	allowed = l.allowed(scope, index)
	return exportAccount(l.accounts.at(index)), index, allowed
}

// AllowedAtAs reports whether client may use the account with id with scope, given where
// the ledger stored it when last found (*index, corrected when stale, IndexUnknown when
// the account does not exist: false). The matching engine asks it for model.ScopeTrade
// before a replace commits an order's paying account anew: a bounds check and a compare
// when the guess holds (it nearly always does: accounts never move), where AccountAtAs
// would hash and probe the id.
func (l *Ledger) AllowedAtAs(client uint64, scope model.Scope, id model.Uint128,
	index *uint32) bool {
	if !l.accountIsAt(*index, id) {
		if *index = l.resolveAccount(id); *index == IndexUnknown {
			return false
		}
	}
	if l.own.clients[*l.own.owners.at(*index)] == client {
		// Its owner (nearly every order's client): two array reads, where actAs looks
		// the client up in two maps whenever its actor is not cached (BenchmarkMatching/
		// settled, a thousand traders: ~150 instructions more per command, callgrind).
		return true
	}
	l.actAs(client)
	return l.allowed(scope, *index)
}

// Owner returns the client that created the account (0: the system), for tools and
// tests.
func (l *Ledger) Owner(id model.Uint128) (uint64, bool) {
	index, found := l.findAccount(id)
	if !found {
		return 0, false
	}
	return l.own.clients[*l.own.owners.at(index)], true
}

// pushOwner records the actor as the owner of the account just pushed at index.
func (l *Ledger) pushOwner(index uint32) {
	position, owner := l.own.owners.push()
	if position != index {
		panic(fmt.Sprintf("ledger: owner of account %d pushed at %d", index, position))
	}
	if l.actor.owner == ownerNone {
		l.actor.owner = l.own.ownerIndex(l.actor.client, true)
	}
	*owner = l.actor.owner
	l.own.addOwned(l.actor.owner, index)
}

// addOwned lists the account at index among its owner's (not the system's).
func (o *ownership) addOwned(owner uint32, index uint32) {
	if owner == 0 {
		return
	}
	for int(owner) >= len(o.owned) {
		o.owned = append(o.owned, nil)
	}
	if o.owned[owner] == nil {
		o.owned[owner] = &chunked[uint32]{}
	}
	_, entry := o.owned[owner].push()
	*entry = index
}

// removeOwned unlists an undone account, its owner's newest.
func (o *ownership) removeOwned(owner uint32, index uint32) {
	if owner == 0 {
		return
	}
	owned := o.owned[owner]
	if owned.count == 0 || *owned.at(owned.count - 1) != index {
		panic("ledger: undo of an account that is not its owner's newest")
	}
	owned.pop()
}

// ownedBy returns the accounts the client at dictionary index owner created (nil: none,
// or the system's).
func (o *ownership) ownedBy(owner uint32) *chunked[uint32] {
	if owner == 0 || int(owner) >= len(o.owned) {
		return nil
	}
	return o.owned[owner]
}

// ownedBytes returns the memory of the owned lists.
func (o *ownership) ownedBytes() uint64 {
	var total uint64
	for _, owned := range o.owned {
		if owned != nil {
			total += owned.bytes(4)
		}
	}
	return total
}

// maskUnreadable clears the balances of a created transfer's result that the actor may
// not read: paying into an account must not reveal what it holds.
func (l *Ledger) maskUnreadable(result *model.TransferResult, debitIndex, creditIndex uint32) {
	if l.actor.all {
		return
	}
	if !l.allowed(model.ScopeRead, debitIndex) {
		result.DebitAccount = model.Balance{}
	}
	if !l.allowed(model.ScopeRead, creditIndex) {
		result.CreditAccount = model.Balance{}
	}
}

// transferVisible reports whether the actor may read a stored transfer: it may read its
// debit or its credit account.
func (l *Ledger) transferVisible(t *model.Transfer) bool {
	if l.actor.all {
		return true
	}
	debit, debitFound := l.findAccount(t.DebitAccountID)
	credit, creditFound := l.findAccount(t.CreditAccountID)
	return (debitFound && l.allowed(model.ScopeRead, debit)) ||
		(creditFound && l.allowed(model.ScopeRead, credit))
}
