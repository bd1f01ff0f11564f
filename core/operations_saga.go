package core

import (
	"sequent/core/model"
	"sequent/core/saga"
)

// The machine's side of sharding: placement checks, cross-shard transfers (step 1 of a
// saga) inside create_transfers, the internal saga steps, and the router's reads of saga
// state. See core/saga and package node's doc.

// createTransfersSharded applies a create_transfers batch in which some transfers cross
// shards: runs of local transfers go to the ledger as one batch each, every cross-shard
// transfer starts a saga at its own event timestamp. It returns false when the batch has
// no cross-shard transfer (the caller takes the plain path).
func (m *Machine) createTransfersSharded(client uint64, balances bool, events []model.Transfer,
	results []model.TransferResult, out *Output) bool {
	if !m.sagas.Sharded() {
		return false
	}
	cross, credit := m.crossShard[:len(events)], m.creditShard[:len(events)]
	any := false
	for i := range events {
		credit[i], cross[i] = m.sagas.Cross(&events[i])
		any = any || cross[i]
	}
	if !any {
		return false
	}
	if m.rules >= rulesVersionSettlementsAfterChecks {
		m.sagas.EnsureSettlementsAs(m.ledger, client, &m.clock, events, cross, credit)
	} else {
		m.sagas.EnsureSettlements(m.ledger, &m.clock, events, cross, credit)
	}
	first := m.nextTimestamps(len(events))
	for start := 0; start < len(events); {
		end := start
		for end < len(events) && !cross[end] {
			end++
		}
		if end > start {
			m.ledger.CreateTransfersAs(client, balances, first+uint64(start), events[start:end],
				results[start:end])
			m.sagas.FixRetries(m.ledger, events[start:end], results[start:end])
		}
		if end == len(events) {
			break
		}
		start = end
		for end < len(events) && cross[end] {
			end++
		}
		chained := start > 0 && events[start-1].Flags&model.TransferLinked != 0
		m.sagas.StartRun(m.ledger, client, events[start:end], credit[start:end], first+uint64(start),
			chained, results[start:end], &out.Messages)
		start = end
	}
	return true
}

// misplacedAccounts marks the accounts of a batch that the map places on another shard
// (wrong_shard); it returns false when there is none.
func (m *Machine) misplacedAccounts(events []model.Account) bool {
	placement := m.sagas.Map()
	if placement.Shards == 1 {
		return false
	}
	any := false
	for i := range events {
		m.crossShard[i] = placement.AccountShard(events[i].ID, events[i].Ledger) != m.sagas.Self()
		any = any || m.crossShard[i]
	}
	return any
}

// createAccountsPlaced applies a create_accounts batch with misplaced accounts: they get
// wrong_shard, the runs between them go to the ledger. (The router never sends a
// misplaced account; a chain around one is not rolled back as a whole.)
func (m *Machine) createAccountsPlaced(client uint64, events []model.Account,
	results []model.EventResult) {
	first := m.nextTimestamps(len(events))
	for start := 0; start < len(events); {
		end := start
		for end < len(events) && !m.crossShard[end] {
			end++
		}
		if end > start {
			m.ledger.CreateAccountsAs(client, first+uint64(start), events[start:end],
				results[start:end])
		}
		if end < len(events) {
			results[end] = model.EventResult{Timestamp: first + uint64(end),
				Status: model.StatusWrongShard}
			end++
		}
		start = end
	}
}

// applySagaSteps applies the events of a saga_credit, saga_finish or saga_forget request.
// The router writes these requests; a record with reserved bits set (which it never
// writes) is skipped, deterministically, so that no log content can make Apply panic.
func (m *Machine) applySagaSteps(request *Request, out *Output) model.Status {
	body := request.Body
	switch request.Operation {
	case model.OperationSagaCredit:
		m.sagaCredits = decodeCredits(m.sagaCredits, body)
		m.sagas.ApplyCredits(m.ledger, &m.clock, m.sagaCredits, &out.Messages)
	case model.OperationSagaFinish:
		m.sagaDecisions = decodeDecisions(m.sagaDecisions, body)
		m.sagas.ApplyFinishes(m.ledger, &m.clock, m.sagaDecisions, &out.Messages)
	case model.OperationSagaForget:
		var forget saga.Forget
		if forget.Decode(body) {
			m.sagas.ApplyForget(&forget)
		}
	}
	return model.StatusOK
}

// decodeCredits decodes the Credit records of a saga_credit body into credits (reused),
// skipping the malformed ones. Decode sets every field of its record
// (TestDecodeRecordsOverwriteEveryField), so the slots are decoded into as they are,
// without being zeroed first: that was ~25 instructions a record. It and decodeDecisions
// are written per record type: a generic loop called Decode through its dictionary (an
// indirect call) and stepped by a size known only at run time, ~40 instructions a record
// of loop around the call (callgrind, BenchmarkCrossShardCost) against ~10 here.
func decodeCredits(credits []saga.Credit, body []byte) []saga.Credit {
	count := len(body) / model.SagaCreditSize
	if cap(credits) < count {
		credits = make([]saga.Credit, count)
	}
	credits = credits[:count]
	kept := 0
	for i := range count {
		record := body[i*model.SagaCreditSize : (i+1)*model.SagaCreditSize]
		if credits[kept].Decode(record) { // Decoded in place: a local would escape.
			kept++
		}
	}
	return credits[:kept]
}

// decodeDecisions is decodeCredits for the Decision records of a saga_finish body.
func decodeDecisions(decisions []saga.Decision, body []byte) []saga.Decision {
	count := len(body) / model.SagaDecisionSize
	if cap(decisions) < count {
		decisions = make([]saga.Decision, count)
	}
	decisions = decisions[:count]
	kept := 0
	for i := range count {
		record := body[i*model.SagaDecisionSize : (i+1)*model.SagaDecisionSize]
		if decisions[kept].Decode(record) {
			kept++
		}
	}
	return decisions[:kept]
}

// queryInternal answers the router's reads of saga state.
func (m *Machine) queryInternal(request *Request, out *Output) model.Status {
	switch request.Operation {
	case model.OperationSagaLookup:
		out.body = m.sagas.Lookup(m.ledger, m.decodeIDs(request.Body), out.body)
		return model.StatusOK
	case model.OperationSagaOutbox:
		after := model.Uint128LE(request.Body).Lo
		out.body = m.sagas.Outbox(after, out.body)
		return model.StatusOK
	}
	return model.StatusUnknownOperation
}
