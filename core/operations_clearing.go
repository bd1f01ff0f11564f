package core

import "sequent/core/model"

// getLedgerTotals answers get_ledger_totals: the trial balance of the ledgers the filter
// selects, over the accounts client may read (see ledger.LedgerTotalsAs). Its result buffer is allocated per query: an audit
// query, not a hot path.
func (m *Machine) getLedgerTotals(client uint64, body []byte, out *Output) model.Status {
	var filter model.LedgerFilter
	filter.Decode(body)
	found, status := m.ledger.LedgerTotalsAs(client, &filter, nil)
	encoded := grow(out, len(found)*model.LedgerTotalsSize)
	for i := range found {
		found[i].Encode(encoded[i*model.LedgerTotalsSize:])
	}
	return status
}
