package client

import (
	"context"

	"sequent/core/model"
)

// LedgerTotals returns the trial balance of the ledgers the filter selects (one
// get_ledger_totals request: at most filter.Limit ledgers, lowest first; ask again from
// the last ledger plus one for more). A refused filter is a *StatusError.
func (c *Client) LedgerTotals(ctx context.Context, filter model.LedgerFilter) (
	[]model.LedgerTotals, error) {
	body := make([]byte, model.LedgerFilterSize)
	filter.Encode(body)
	reply, err := c.Do(ctx, model.OperationGetLedgerTotals, 0, body)
	if err != nil {
		return nil, err
	}
	totals := make([]model.LedgerTotals, len(reply.Body)/model.LedgerTotalsSize)
	for i := range totals {
		totals[i].Decode(reply.Body[i*model.LedgerTotalsSize:])
	}
	return totals, nil
}
