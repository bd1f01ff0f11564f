package core

import "sequent/core/model"

// getLedgerTotals answers get_ledger_totals: the trial balance of the ledgers the filter
// selects (see ledger.LedgerTotals). Its result buffer is allocated per query: an audit
// query, not a hot path.
func (m *Machine) getLedgerTotals(body []byte, out *Output) model.Status {
	var filter model.LedgerFilter
	filter.Decode(body)
	found, status := m.ledger.LedgerTotals(&filter, nil)
	encoded := grow(out, len(found)*model.LedgerTotalsSize)
	for i := range found {
		found[i].Encode(encoded[i*model.LedgerTotalsSize:])
	}
	return status
}
