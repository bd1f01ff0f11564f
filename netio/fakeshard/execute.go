package fakeshard

import (
	"sequent/core/backend"
	"sequent/core/model"
)

// execute applies one request to the ledger and returns its status and result body.
func (b *Backend) execute(request *backend.Request) (model.Status, []byte) {
	body := request.Body
	switch request.Operation {
	case model.OperationCreateAccounts:
		accounts := make([]model.Account, len(body)/model.AccountSize)
		for i := range accounts {
			accounts[i].Decode(body[i*model.AccountSize:])
		}
		results := make([]model.EventResult, len(accounts))
		b.ledger.CreateAccounts(b.stamp(len(accounts)), accounts, results)
		out := make([]byte, len(results)*model.EventResultSize)
		for i := range results {
			results[i].Encode(out[i*model.EventResultSize:])
		}
		return model.StatusOK, out
	case model.OperationCreateTransfers:
		return model.StatusOK, b.createTransfers(request)
	case model.OperationLookupAccounts:
		found := b.ledger.LookupAccounts(decodeIDs(body), nil)
		out := make([]byte, len(found)*model.AccountSize)
		for i := range found {
			found[i].Encode(out[i*model.AccountSize:])
		}
		return model.StatusOK, out
	case model.OperationLookupTransfers:
		found := b.ledger.LookupTransfers(decodeIDs(body), nil)
		return model.StatusOK, encodeTransfers(found)
	case model.OperationGetAccountTransfers:
		var filter model.AccountFilter
		filter.Decode(body)
		found, status := b.ledger.GetAccountTransfers(&filter, nil)
		return status, encodeTransfers(found)
	case model.OperationGetAccountBalances:
		var filter model.AccountFilter
		filter.Decode(body)
		found, status := b.ledger.GetAccountBalances(&filter, nil)
		out := make([]byte, len(found)*model.AccountBalanceSize)
		for i := range found {
			found[i].Encode(out[i*model.AccountBalanceSize:])
		}
		return status, out
	case model.OperationGetLedgerTotals:
		var filter model.LedgerFilter
		filter.Decode(body)
		found, status := b.ledger.LedgerTotals(&filter, nil)
		out := make([]byte, len(found)*model.LedgerTotalsSize)
		for i := range found {
			found[i].Encode(out[i*model.LedgerTotalsSize:])
		}
		return status, out
	}
	return model.StatusUnknownOperation, nil
}

func (b *Backend) createTransfers(request *backend.Request) []byte {
	body := request.Body
	transfers := make([]model.Transfer, len(body)/model.TransferSize)
	for i := range transfers {
		transfers[i].Decode(body[i*model.TransferSize:])
	}
	results := make([]model.TransferResult, len(transfers))
	b.ledger.CreateTransfers(b.stamp(len(transfers)), transfers, results)
	if request.Flags&backend.RequestFlagReplyBalances != 0 {
		out := make([]byte, len(results)*model.EventResultBalancesSize)
		for i := range results {
			results[i].EncodeWithBalances(out[i*model.EventResultBalancesSize:])
		}
		return out
	}
	out := make([]byte, len(results)*model.EventResultSize)
	for i := range results {
		results[i].EventResult.Encode(out[i*model.EventResultSize:])
	}
	return out
}

// stamp reserves count timestamps and returns the first.
func (b *Backend) stamp(count int) uint64 {
	first := b.timestamp + 1
	b.timestamp += uint64(count) + 1
	return first
}

func decodeIDs(body []byte) []model.Uint128 {
	ids := make([]model.Uint128, len(body)/model.IDSize)
	for i := range ids {
		ids[i] = model.Uint128LE(body[i*model.IDSize:])
	}
	return ids
}

func encodeTransfers(transfers []model.Transfer) []byte {
	out := make([]byte, len(transfers)*model.TransferSize)
	for i := range transfers {
		transfers[i].Encode(out[i*model.TransferSize:])
	}
	return out
}
