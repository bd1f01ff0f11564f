package clearing

import (
	"context"
	"fmt"

	"sequent/core/ledger"
	"sequent/core/model"
)

// RawReader is a Reader over a function that runs one read-only request and returns its
// request status and result body: the server's in-process read path (core/shard's Read,
// which the operators' HTTP endpoints use) plugs in here. Query is called from the
// caller's goroutine.
type RawReader struct {
	Query func(ctx context.Context, operation model.Operation, body []byte) (model.Status,
		[]byte, error)
}

var _ Reader = RawReader{}

// StatusError is a request refused with a status by a RawReader's Query.
type StatusError struct {
	Operation model.Operation
	Status    model.Status
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("clearing: %s answered %s", e.Operation, e.Status)
}

func (r RawReader) query(ctx context.Context, operation model.Operation, body []byte) (
	[]byte, error) {
	status, result, err := r.Query(ctx, operation, body)
	if err != nil {
		return nil, err
	}
	if status != model.StatusOK {
		return nil, &StatusError{Operation: operation, Status: status}
	}
	return result, nil
}

// GetAccountTransfers implements Reader.
func (r RawReader) GetAccountTransfers(ctx context.Context, filter model.AccountFilter) (
	[]model.Transfer, error) {
	body := make([]byte, model.AccountFilterSize)
	filter.Encode(body)
	result, err := r.query(ctx, model.OperationGetAccountTransfers, body)
	return decodeTransfers(result), err
}

// decodeTransfers decodes a reply body of transfer records (nil for nil).
func decodeTransfers(result []byte) []model.Transfer {
	if result == nil {
		return nil
	}
	transfers := make([]model.Transfer, len(result)/model.TransferSize)
	for i := range transfers {
		transfers[i].Decode(result[i*model.TransferSize:])
	}
	return transfers
}

// LookupAccounts implements Reader (ids beyond one request's worth are refused by the
// server: callers look up a few accounts).
func (r RawReader) LookupAccounts(ctx context.Context, ids []model.Uint128) (
	[]model.Account, error) {
	result, err := r.query(ctx, model.OperationLookupAccounts, encodeIDs(ids))
	if err != nil {
		return nil, err
	}
	accounts := make([]model.Account, len(result)/model.AccountSize)
	for i := range accounts {
		accounts[i].Decode(result[i*model.AccountSize:])
	}
	return accounts, nil
}

// LookupTransfers implements Reader (at most one request's worth of ids).
func (r RawReader) LookupTransfers(ctx context.Context, ids []model.Uint128) (
	[]model.Transfer, error) {
	result, err := r.query(ctx, model.OperationLookupTransfers, encodeIDs(ids))
	return decodeTransfers(result), err
}

func encodeIDs(ids []model.Uint128) []byte {
	body := make([]byte, 0, len(ids)*model.IDSize)
	for _, id := range ids {
		body = id.Append(body)
	}
	return body
}

// LedgerTotals implements Reader.
func (r RawReader) LedgerTotals(ctx context.Context, filter model.LedgerFilter) (
	[]model.LedgerTotals, error) {
	body := make([]byte, model.LedgerFilterSize)
	filter.Encode(body)
	result, err := r.query(ctx, model.OperationGetLedgerTotals, body)
	if err != nil {
		return nil, err
	}
	totals := make([]model.LedgerTotals, len(result)/model.LedgerTotalsSize)
	for i := range totals {
		totals[i].Decode(result[i*model.LedgerTotalsSize:])
	}
	return totals, nil
}

// MemoryReader is a Reader over a ledger in this process: the in-memory fake of the seam,
// for tests and tools that build a ledger themselves. The caller must not change the
// ledger during a call.
type MemoryReader struct{ Ledger *ledger.Ledger }

var _ Reader = MemoryReader{}

// GetAccountTransfers implements Reader.
func (m MemoryReader) GetAccountTransfers(_ context.Context, filter model.AccountFilter) (
	[]model.Transfer, error) {
	found, status := m.Ledger.GetAccountTransfers(&filter, nil)
	if status != model.StatusOK {
		return nil, &StatusError{Operation: model.OperationGetAccountTransfers, Status: status}
	}
	return found, nil
}

// LookupAccounts implements Reader.
func (m MemoryReader) LookupAccounts(_ context.Context, ids []model.Uint128) (
	[]model.Account, error) {
	return m.Ledger.LookupAccounts(ids, nil), nil
}

// LookupTransfers implements Reader.
func (m MemoryReader) LookupTransfers(_ context.Context, ids []model.Uint128) (
	[]model.Transfer, error) {
	return m.Ledger.LookupTransfers(ids, nil), nil
}

// LedgerTotals implements Reader.
func (m MemoryReader) LedgerTotals(_ context.Context, filter model.LedgerFilter) (
	[]model.LedgerTotals, error) {
	found, status := m.Ledger.LedgerTotals(&filter, nil)
	if status != model.StatusOK {
		return nil, &StatusError{Operation: model.OperationGetLedgerTotals, Status: status}
	}
	return found, nil
}
