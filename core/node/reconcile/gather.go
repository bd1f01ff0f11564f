package reconcile

import (
	"fmt"
	"math"

	"sequent/core/model"
	"sequent/core/saga"
)

// Reader asks a running shard a read and returns its reply: status and body. The node
// answers through each shard's internal read path (core/shard.Shard.Query), as the
// system, so every account counts and the saga reads are allowed.
type Reader interface {
	Shards() int
	Query(shard int, operation model.Operation, body []byte) (model.Status, []byte, error)
}

// Gather reconciles a running node through its shards' reads. The shards are read at
// slightly different moments, so it reads each of them twice and checks the settlement
// pairs across the two readings (see Check): each condition compares a quantity read
// first with one read later, in the direction in which both only move together (a credit
// shard's debits never outrun what its debit shard reserved before; a debit shard's
// posts never outrun what its credit shard debited before). The report shows the later
// reading.
func Gather(reader Reader) (*Reconciliation, error) {
	earlier, err := gatherOnce(reader)
	if err != nil {
		return nil, err
	}
	later, err := gatherOnce(reader)
	if err != nil {
		return nil, err
	}
	later.earlier = earlier
	return later, nil
}

// gatherOnce reads every shard once: its ledger totals, its settlement accounts and its
// running sagas.
func gatherOnce(reader Reader) (*Reconciliation, error) {
	r := &Reconciliation{}
	totals := map[uint32]*LedgerTotals{}
	shards := reader.Shards()
	perShard := make([][]model.LedgerTotals, shards)
	for index := range shards {
		found, err := ledgerTotals(reader, index)
		if err != nil {
			return nil, err
		}
		perShard[index] = found
		for _, t := range found {
			sum := totals[t.Ledger]
			if sum == nil {
				sum = &LedgerTotals{Ledger: t.Ledger}
				totals[t.Ledger] = sum
			}
			sum.add(&t)
		}
	}
	pairs := map[[3]uint32]*SettlementPair{}
	for index := range shards {
		if err := settlements(reader, index, shards, perShard[index], pairs); err != nil {
			return nil, err
		}
		if err := running(reader, index, r); err != nil {
			return nil, err
		}
	}
	r.collect(totals, pairs)
	return r, nil
}

func ledgerTotals(reader Reader, index int) ([]model.LedgerTotals, error) {
	var all []model.LedgerTotals
	filter := model.LedgerFilter{Limit: model.EventsPerRequestMax}
	body := make([]byte, model.LedgerFilterSize)
	for {
		filter.Encode(body)
		status, reply, err := reader.Query(index, model.OperationGetLedgerTotals, body)
		if err = readError(index, "get_ledger_totals", status, err); err != nil {
			return nil, err
		}
		count := len(reply) / model.LedgerTotalsSize
		for i := range count {
			var t model.LedgerTotals
			t.Decode(reply[i*model.LedgerTotalsSize:])
			all = append(all, t)
		}
		if count < int(filter.Limit) || all[len(all)-1].Ledger == math.MaxUint32 {
			return all, nil
		}
		filter.LedgerMin = all[len(all)-1].Ledger + 1
	}
}

// settlements reads shard index's settlement accounts: for every other shard and every
// ledger the shard has, the pair's account it holds as debit shard and as credit shard.
func settlements(reader Reader, index, shards int, ledgers []model.LedgerTotals,
	pairs map[[3]uint32]*SettlementPair) error {
	var ids []model.Uint128
	for other := range shards {
		if other == index {
			continue
		}
		for _, t := range ledgers {
			ids = append(ids, saga.SettlementAccountID(uint16(index), uint16(other), t.Ledger),
				saga.SettlementAccountID(uint16(other), uint16(index), t.Ledger))
		}
	}
	for len(ids) > 0 {
		batch := ids[:min(len(ids), model.EventsPerRequestMax)]
		ids = ids[len(batch):]
		body := make([]byte, len(batch)*model.IDSize)
		for i, id := range batch {
			id.PutLE(body[i*model.IDSize:])
		}
		status, reply, err := reader.Query(index, model.OperationLookupAccounts, body)
		if err = readError(index, "lookup_accounts", status, err); err != nil {
			return err
		}
		for offset := 0; offset+model.AccountSize <= len(reply); offset += model.AccountSize {
			var account model.Account
			account.Decode(reply[offset:])
			addSettlement(pairs, uint16(index), &account)
		}
	}
	return nil
}

// running reads shard index's running sagas, page by page.
func running(reader Reader, index int, r *Reconciliation) error {
	body := make([]byte, model.SagaOutboxQuerySize)
	after := uint64(0)
	for {
		saga.EncodeOutboxQuery(body, after)
		status, reply, err := reader.Query(index, model.OperationSagaOutbox, body)
		if err = readError(index, "saga_outbox", status, err); err != nil {
			return err
		}
		if len(reply) < model.SagaOutboxSummarySize {
			return fmt.Errorf("reconcile: shard %d: saga_outbox reply of %d bytes", index, len(reply))
		}
		listed := 0
		for offset := model.SagaOutboxSummarySize; offset+model.SagaCreditSize <= len(reply); offset += model.SagaCreditSize {
			var credit saga.Credit
			credit.Decode(reply[offset:])
			r.Running = append(r.Running, runningSaga(uint16(index), &credit))
			after = credit.Sequence
			listed++
		}
		if listed < model.SagaOutboxPageMax {
			return nil
		}
	}
}

func readError(index int, what string, status model.Status, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("reconcile: shard %d: %s: %w", index, what, err)
	case status != model.StatusOK:
		return fmt.Errorf("reconcile: shard %d: %s: %s", index, what, status)
	}
	return nil
}
