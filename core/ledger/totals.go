package ledger

import (
	"cmp"
	"slices"

	"sequent/core/model"
)

// LedgerTotals appends to out the trial balance of each ledger the filter selects: its
// account count and the exact sums of its accounts' balances, lowest ledger first, at most
// filter.Limit ledgers. Statuses: reserved_field (reserved bytes set), invalid_filter
// (limit 0 or above EventsPerRequestMax, or LedgerMax below LedgerMin).
//
// It reads the running totals (runningTotals), not the accounts: a binary search for
// LedgerMin, then one copy per ledger returned, whatever the number of accounts. (It used
// to read every account on the sequencer, about 25 ms per million accounts, which every
// request behind it waited for; BenchmarkLedgerTotalsQueries has both figures.)
func (l *Ledger) LedgerTotals(filter *model.LedgerFilter, out []model.LedgerTotals) (
	[]model.LedgerTotals, model.Status) {
	return l.LedgerTotalsAs(0, filter, out)
}

// LedgerTotalsAs is LedgerTotals over the accounts client may read (doc.go,
// "Ownership"): the system and operators get the whole trial balance, any other client
// the totals of its own accounts and of those its grants let it read (a ledger where it
// may read none is not listed). Others' balances never reach the sums.
//
// What it reads depends on what the client may read: the running totals for the system,
// an operator or a client with a read grant over every ledger; for another client, its
// own accounts (ownedAccounts) plus the running totals of the ledgers a grant opens whole
// to it; only a client with a grant over a range of account ids has every account read,
// since nothing indexes accounts by id order (the keys file gives such grants; see
// runningTotals).
func (l *Ledger) LedgerTotalsAs(client uint64, filter *model.LedgerFilter,
	out []model.LedgerTotals) ([]model.LedgerTotals, model.Status) {
	l.actAs(client)
	switch {
	case filter.Reserved != 0:
		return out, model.StatusReservedField
	case filter.Limit == 0 || filter.Limit > model.EventsPerRequestMax:
		return out, model.StatusInvalidFilter
	case filter.LedgerMax != 0 && filter.LedgerMax < filter.LedgerMin:
		return out, model.StatusInvalidFilter
	}
	reach := l.readReach()
	switch {
	case reach.all:
		return l.totals.appendRange(filter, out), model.StatusOK
	case reach.ranges:
		return l.scanTotals(filter, out), model.StatusOK
	}
	return l.ownedTotals(filter, reach.ledgers, out), model.StatusOK
}

// readReach is what the actor may read, as LedgerTotalsAs needs it.
type readReach struct {
	all     bool     // Every account (system, operator, a grant over every ledger).
	ranges  bool     // Some accounts by id range (a grant with First/Last).
	ledgers []uint32 // Ledgers read whole (grants over one ledger, every account).
}

func (l *Ledger) readReach() readReach {
	a := &l.actor
	reach := readReach{all: a.all}
	for i := range a.grants {
		g := &a.grants[i]
		switch {
		case !g.Allows(model.ScopeRead):
		case !g.AllAccounts():
			reach.ranges = true
		case g.Ledger == 0:
			reach.all = true
		default:
			reach.ledgers = append(reach.ledgers, g.Ledger)
		}
	}
	return reach
}

// inFilter reports whether the filter selects ledger.
func inFilter(filter *model.LedgerFilter, ledger uint32) bool {
	return ledger >= filter.LedgerMin && (filter.LedgerMax == 0 || ledger <= filter.LedgerMax)
}

// ownedTotals sums the actor's own accounts, except in the ledgers it reads whole, whose
// running totals it takes instead.
func (l *Ledger) ownedTotals(filter *model.LedgerFilter, whole []uint32,
	out []model.LedgerTotals) []model.LedgerTotals {
	var sums ledgerSums
	for _, ledger := range whole {
		if totals := l.totals.of(ledger); totals != nil && inFilter(filter, ledger) &&
			sums.find(ledger) == nil {
			*sums.of(ledger) = *totals
		}
	}
	owned := l.own.ownedBy(l.actor.owner)
	for i := uint32(0); owned != nil && i < owned.count; i++ {
		account := l.accounts.at(*owned.at(i))
		if inFilter(filter, account.Ledger) && !slices.Contains(whole, account.Ledger) {
			countAccount(sums.of(account.Ledger), account)
		}
	}
	return sums.appendSorted(out, filter.Limit)
}

// scanTotals sums every account the actor may read: a pass over all accounts.
func (l *Ledger) scanTotals(filter *model.LedgerFilter,
	out []model.LedgerTotals) []model.LedgerTotals {
	var sums ledgerSums
	for i := uint32(0); i < l.accounts.count; i++ {
		account := l.accounts.at(i)
		if !inFilter(filter, account.Ledger) || !l.allowed(model.ScopeRead, i) {
			continue
		}
		countAccount(sums.of(account.Ledger), account)
	}
	return sums.appendSorted(out, filter.Limit)
}

// ledgerDirectMax is how many low ledger numbers ledgerSums and runningTotals find by
// index (most ledgers are small numbers); others go through a map.
const ledgerDirectMax = 256

// ledgerTable finds a ledger's totals by its number: an array index below
// ledgerDirectMax, a map above.
type ledgerTable struct {
	direct [ledgerDirectMax]*model.LedgerTotals
	other  map[uint32]*model.LedgerTotals
}

// find returns the ledger's totals, or nil.
func (t *ledgerTable) find(ledger uint32) *model.LedgerTotals {
	if ledger < ledgerDirectMax {
		return t.direct[ledger]
	}
	return t.other[ledger]
}

// put sets the ledger's totals (nil removes them).
func (t *ledgerTable) put(ledger uint32, totals *model.LedgerTotals) {
	switch {
	case ledger < ledgerDirectMax:
		t.direct[ledger] = totals
	case totals == nil:
		delete(t.other, ledger)
	default:
		if t.other == nil {
			t.other = map[uint32]*model.LedgerTotals{}
		}
		t.other[ledger] = totals
	}
}

// ledgerSums holds the running totals per ledger of one LedgerTotals call.
type ledgerSums struct {
	ledgerTable
	all []*model.LedgerTotals
}

func (s *ledgerSums) of(ledger uint32) *model.LedgerTotals {
	totals := s.find(ledger)
	if totals == nil {
		totals = s.add(ledger)
		s.put(ledger, totals)
	}
	return totals
}

func (s *ledgerSums) add(ledger uint32) *model.LedgerTotals {
	totals := &model.LedgerTotals{Ledger: ledger}
	s.all = append(s.all, totals)
	return totals
}

// appendSorted appends the totals by ascending ledger, at most limit of them.
func (s *ledgerSums) appendSorted(out []model.LedgerTotals,
	limit uint32) []model.LedgerTotals {
	slices.SortFunc(s.all, func(a, b *model.LedgerTotals) int {
		return cmp.Compare(a.Ledger, b.Ledger)
	})
	for _, totals := range s.all[:min(len(s.all), int(limit))] {
		out = append(out, *totals)
	}
	return out
}

// runningTotals is every ledger's trial balance, kept as balances change: each change of
// an account's balances (a transfer, a post, a void, an expiry, a reservation, an undo)
// adds to or takes from its ledger's sums, and creating or undoing an account counts it.
// It is derived state: nothing of it is logged or written to a snapshot, Restore rebuilds
// it from the accounts, and it is a function of the accounts alone, so replicas and
// replays agree.
//
// A transfer moves one amount between two accounts of one ledger, so its upkeep on the
// hot path is one lookup (an array index for ledgers below ledgerDirectMax) and two
// 192-bit additions. A ledger whose last account is undone leaves the table, so it holds
// only ledgers with accounts.
type runningTotals struct {
	ledgers ledgerTable // Only ledgers with accounts.
	order   ledgerOrder // The ledgers held, ascending.
}

// of returns the ledger's totals, or nil when no account is in it.
func (r *runningTotals) of(ledger uint32) *model.LedgerTotals {
	return r.ledgers.find(ledger)
}

// accountAdded counts a new account (with its balances: Restore's accounts have some).
func (r *runningTotals) accountAdded(a *accountRecord) {
	totals := r.of(a.Ledger)
	if totals == nil {
		totals = &model.LedgerTotals{Ledger: a.Ledger}
		r.ledgers.put(a.Ledger, totals)
		r.order.insert(a.Ledger)
	}
	countAccount(totals, a)
}

// accountRemoved uncounts an undone account, whose balances are zero again by then (the
// undo log restores balances before it pops the account that had them).
func (r *runningTotals) accountRemoved(a *accountRecord) {
	if !a.DebitsPending.IsZero() || !a.DebitsPosted.IsZero() ||
		!a.CreditsPending.IsZero() || !a.CreditsPosted.IsZero() {
		panic("ledger: undo of an account that still has balances")
	}
	totals := r.of(a.Ledger)
	if totals == nil || totals.Accounts == 0 {
		panic("ledger: running totals miss an undone account's ledger")
	}
	totals.Accounts--
	if totals.Accounts > 0 {
		return
	}
	r.ledgers.put(a.Ledger, nil)
	r.order.remove(a.Ledger)
}

// pendingAddedTo records amount reserved between two accounts of the ledger whose totals
// are given (runningTotals.of): both pending sums grow; pendingReleased gives it back.
// With the lookup out, it is small enough to inline, which a method taking the ledger
// was not: a transfer or a reservation calls it as pendingAddedTo(l.totals.of(ledger),
// amount), the lookup inlined as well, where the call cost ~12 instructions (callgrind).
func pendingAddedTo(totals *model.LedgerTotals, amount model.Uint128) {
	totals.DebitsPending.Add(amount)
	totals.CreditsPending.Add(amount)
}

func (r *runningTotals) pendingReleased(ledger uint32, amount model.Uint128) {
	totals := r.of(ledger)
	totals.DebitsPending.Sub(amount)
	totals.CreditsPending.Sub(amount)
}

// pendingPosted is pendingReleased then postedAddedTo with one lookup of the ledger's
// totals: a post gives back the pending amount and posts amount (at most that).
func (r *runningTotals) pendingPosted(ledger uint32, released, posted model.Uint128) {
	totals := r.of(ledger)
	totals.DebitsPending.Sub(released)
	totals.CreditsPending.Sub(released)
	totals.DebitsPosted.Add(posted)
	totals.CreditsPosted.Add(posted)
}

// postedAddedTo records amount posted between two accounts of the ledger whose totals
// are given (inlined as pendingAddedTo is).
func postedAddedTo(totals *model.LedgerTotals, amount model.Uint128) {
	totals.DebitsPosted.Add(amount)
	totals.CreditsPosted.Add(amount)
}

// balanceRestored records an undo that sets an account's balances from now back to
// previous (one account at a time: its counterpart gets its own record).
func (r *runningTotals) balanceRestored(a *accountRecord, previous *model.Balance) {
	totals := r.of(a.Ledger)
	totals.DebitsPending.Sub(a.DebitsPending)
	totals.DebitsPending.Add(previous.DebitsPending)
	totals.DebitsPosted.Sub(a.DebitsPosted)
	totals.DebitsPosted.Add(previous.DebitsPosted)
	totals.CreditsPending.Sub(a.CreditsPending)
	totals.CreditsPending.Add(previous.CreditsPending)
	totals.CreditsPosted.Sub(a.CreditsPosted)
	totals.CreditsPosted.Add(previous.CreditsPosted)
}

// appendRange appends the totals of the ledgers filter selects, at most filter.Limit.
func (r *runningTotals) appendRange(filter *model.LedgerFilter,
	out []model.LedgerTotals) []model.LedgerTotals {
	appended := uint32(0)
	r.order.from(filter.LedgerMin, func(ledger uint32) bool {
		if !inFilter(filter, ledger) {
			return false // Past LedgerMax: so is every ledger after it.
		}
		out = append(out, *r.of(ledger))
		appended++
		return appended < filter.Limit
	})
	return out
}

// ledgerOrder is a set of ledger numbers kept in ascending order, in runs of at most
// ledgerOrderRunMax (a run splits in two when it passes it): an insertion or a removal
// moves at most a run's numbers and, when a run splits or empties, the run table (one
// entry per run), so that even a ledger per account (2^27) costs microseconds per new
// ledger, not a shift of every number after it. Runs are non-empty and ordered: every
// number of a run is below every number of the next.
type ledgerOrder struct {
	runs [][]uint32
}

// ledgerOrderRunMax bounds a run: a 4 KiB shift at most per insertion, and 2^27 ledgers
// in 2^17 runs at least half full.
const ledgerOrderRunMax = 1024

// runOf returns the index of the run where ledger is or would go: the first whose last
// number is at least ledger, or the last run.
func (o *ledgerOrder) runOf(ledger uint32) int {
	index, _ := slices.BinarySearchFunc(o.runs, ledger, func(run []uint32, target uint32) int {
		return cmp.Compare(run[len(run)-1], target)
	})
	return min(index, len(o.runs)-1)
}

func (o *ledgerOrder) insert(ledger uint32) {
	if len(o.runs) == 0 {
		o.runs = append(o.runs, []uint32{ledger})
		return
	}
	index := o.runOf(ledger)
	run := o.runs[index]
	position, found := slices.BinarySearch(run, ledger)
	if found {
		panic("ledger: ledger order holds the ledger already")
	}
	run = slices.Insert(run, position, ledger)
	if len(run) <= ledgerOrderRunMax {
		o.runs[index] = run
		return
	}
	half := len(run) / 2
	upper := slices.Clone(run[half:])
	o.runs[index] = run[:half]
	o.runs = slices.Insert(o.runs, index+1, upper)
}

func (o *ledgerOrder) remove(ledger uint32) {
	index := o.runOf(ledger)
	run := o.runs[index]
	position, found := slices.BinarySearch(run, ledger)
	if !found {
		panic("ledger: ledger order misses a ledger it should hold")
	}
	run = slices.Delete(run, position, position+1)
	if len(run) > 0 {
		o.runs[index] = run
		return
	}
	o.runs = slices.Delete(o.runs, index, index+1)
}

// from calls fn with each ledger at or above first, ascending, until fn returns false.
func (o *ledgerOrder) from(first uint32, fn func(ledger uint32) bool) {
	if len(o.runs) == 0 {
		return
	}
	index := o.runOf(first)
	position, _ := slices.BinarySearch(o.runs[index], first)
	for ; index < len(o.runs); index, position = index+1, 0 {
		for _, ledger := range o.runs[index][position:] {
			if !fn(ledger) {
				return
			}
		}
	}
}

// countAccount adds an account and its balances to a ledger's totals, as
// model.LedgerTotals.Add does for a wire account.
func countAccount(t *model.LedgerTotals, a *accountRecord) {
	t.Accounts++
	t.DebitsPending.Add(a.DebitsPending)
	t.DebitsPosted.Add(a.DebitsPosted)
	t.CreditsPending.Add(a.CreditsPending)
	t.CreditsPosted.Add(a.CreditsPosted)
}
