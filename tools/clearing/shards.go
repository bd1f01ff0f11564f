package clearing

import (
	"context"
	"fmt"

	"sequent/core/model"
	"sequent/core/shardmap"
)

// ShardQuery runs one read-only request on one shard of a node in this process (the
// shard's internal read path) and returns its request status and result body.
type ShardQuery func(ctx context.Context, shard int, operation model.Operation,
	body []byte) (model.Status, []byte, error)

// ShardedReader is a Reader over every shard of a node in this process: each read goes
// where the node's router would send a client's (PROTOCOL.md §18). An account's
// transfers are read on the account's shard; when the shard map places accounts by
// ledger (the filter does not say which shard), every shard is asked and the one that
// knows the account answers. Lookups ask every shard (a transfer id says nothing about
// placement) and return what the shards found, in shard order; ledger totals are summed
// over the shards. The operators' settlement endpoint reads through it, so a partner's
// accounts may be on different shards.
//
// A cross-shard transfer shows on each partner account's shard as that shard booked it
// (core/saga/doc.go): on the debit shard as a pending transfer into the pair's
// settlement account and its post (or void), on the credit shard as the credit out of
// that account. Net counts that once, as explained at Net.
func ShardedReader(placement *shardmap.Map, query ShardQuery) Reader {
	return RawReader{Query: func(ctx context.Context, operation model.Operation,
		body []byte) (model.Status, []byte, error) {
		return shardedQuery(ctx, placement, query, operation, body)
	}}
}

func shardedQuery(ctx context.Context, placement *shardmap.Map, query ShardQuery,
	operation model.Operation, body []byte) (model.Status, []byte, error) {
	shards := int(placement.Shards)
	switch operation {
	case model.OperationGetAccountTransfers, model.OperationGetAccountBalances:
		target := placement.EventTarget(operation, body)
		if !target.Every {
			return query(ctx, int(target.Shard), operation, body)
		}
		return accountShardAnswer(ctx, shards, query, operation, body)
	case model.OperationLookupAccounts, model.OperationLookupTransfers:
		var found []byte
		for index := range shards {
			status, reply, err := query(ctx, index, operation, body)
			if err != nil || status != model.StatusOK {
				return status, nil, err
			}
			found = append(found, reply...)
		}
		return model.StatusOK, found, nil
	case model.OperationGetLedgerTotals:
		return sumLedgerTotals(ctx, shards, query, body)
	}
	return 0, nil, fmt.Errorf("clearing: %s is not a read the sharded reader routes", operation)
}

// accountShardAnswer asks every shard for an account's records and returns the answer of
// the shard that holds the account: the one not answering account_not_found. Two answers
// mean the id is a settlement account of the node's sagas (one per ordered pair of
// shards, the same id on both; Net refuses it before reading) or, with accounts placed by
// ledger, one id a client created on a ledger of each of two shards
// (TestReview53aEndpointSharedClientIDIsNotCalledASettlementAccount): either way the
// records on one shard are not the whole story: refused, saying which.
func accountShardAnswer(ctx context.Context, shards int, query ShardQuery,
	operation model.Operation, body []byte) (model.Status, []byte, error) {
	status, answer, holder := model.StatusAccountNotFound, []byte(nil), -1
	for index := range shards {
		shardStatus, reply, err := query(ctx, index, operation, body)
		switch {
		case err != nil:
			return 0, nil, err
		case shardStatus == model.StatusAccountNotFound:
			continue
		case holder >= 0:
			account := model.Uint128LE(body)
			why := settlementAccountProblem(account)
			if why == "" {
				why = "one id on two shards of a node placing accounts by ledger: its " +
					"transfers cannot be read as one account's; name accounts whose ids " +
					"are unique"
			}
			return 0, nil, fmt.Errorf("%w: account %s is on shards %d and %d (%s)",
				ErrNettingQuery, account, holder, index, why)
		}
		status, answer, holder = shardStatus, reply, index
	}
	return status, answer, nil
}

// sumLedgerTotals adds every shard's ledger totals per ledger
// (model.MergeLedgerTotals).
func sumLedgerTotals(ctx context.Context, shards int, query ShardQuery, body []byte) (
	model.Status, []byte, error) {
	var filter model.LedgerFilter
	filter.Decode(body)
	replies := make([][]byte, shards)
	for index := range shards {
		status, reply, err := query(ctx, index, model.OperationGetLedgerTotals, body)
		if err != nil || status != model.StatusOK {
			return status, nil, err
		}
		replies[index] = reply
	}
	return model.StatusOK, model.MergeLedgerTotals(replies, filter.Limit), nil
}
