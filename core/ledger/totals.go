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
// It reads every account once, in creation order, on the sequencer: about 25 ms of CPU
// per million accounts here (BenchmarkLedgerTotals), which every request behind it waits
// for; an audit query, not one to poll. The result is sorted, so it does not depend on the
// order of a map.
func (l *Ledger) LedgerTotals(filter *model.LedgerFilter, out []model.LedgerTotals) (
	[]model.LedgerTotals, model.Status) {
	return l.LedgerTotalsAs(0, filter, out)
}

// LedgerTotalsAs is LedgerTotals over the accounts client may read (doc.go,
// "Ownership"): the system and operators get the whole trial balance, any other client
// the totals of its own accounts and of those its grants let it read (a ledger where it
// may read none is not listed). Others' balances never reach the sums.
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
	var sums ledgerSums
	for i := uint32(0); i < l.accounts.count; i++ {
		account := l.accounts.at(i)
		if account.Ledger < filter.LedgerMin ||
			(filter.LedgerMax != 0 && account.Ledger > filter.LedgerMax) ||
			!l.allowed(model.ScopeRead, i) {
			continue
		}
		sums.of(account.Ledger).Add(account)
	}
	for _, totals := range sums.sorted()[:min(sums.count(), int(filter.Limit))] {
		out = append(out, *totals)
	}
	return out, model.StatusOK
}

// ledgerDirectMax is how many low ledger numbers ledgerSums finds by index (most ledgers
// are small numbers); others go through a map.
const ledgerDirectMax = 256

// ledgerSums holds the running totals per ledger of one LedgerTotals call.
type ledgerSums struct {
	direct [ledgerDirectMax]*model.LedgerTotals
	other  map[uint32]*model.LedgerTotals
	all    []*model.LedgerTotals
}

func (s *ledgerSums) of(ledger uint32) *model.LedgerTotals {
	if ledger < ledgerDirectMax {
		if s.direct[ledger] == nil {
			s.direct[ledger] = s.add(ledger)
		}
		return s.direct[ledger]
	}
	totals := s.other[ledger]
	if totals == nil {
		if s.other == nil {
			s.other = map[uint32]*model.LedgerTotals{}
		}
		totals = s.add(ledger)
		s.other[ledger] = totals
	}
	return totals
}

func (s *ledgerSums) add(ledger uint32) *model.LedgerTotals {
	totals := &model.LedgerTotals{Ledger: ledger}
	s.all = append(s.all, totals)
	return totals
}

func (s *ledgerSums) count() int { return len(s.all) }

// sorted returns the totals by ascending ledger.
func (s *ledgerSums) sorted() []*model.LedgerTotals {
	slices.SortFunc(s.all, func(a, b *model.LedgerTotals) int {
		return cmp.Compare(a.Ledger, b.Ledger)
	})
	return s.all
}
