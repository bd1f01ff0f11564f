package router

import (
	"bytes"
	"slices"

	"sequent/core/model"
	"sequent/core/saga"
	"sequent/core/shard"
)

// partAnswered records a part's reply (or a refusal standing for it).
func (r *Router) partAnswered(pt *part, status model.Status, duplicate bool, op uint64,
	body []byte) {
	req := pt.request
	if req.done {
		return
	}
	req.outstanding--
	pt.status = status
	if status >= sessionStatusFirst {
		// The request's outcome is unknown or refused: answer it now, without a body; the
		// client retries it, and the parts already applied answer from their caches.
		req.reply.Status = worse(req.reply.Status, status)
		r.finish(req)
		return
	}
	req.reply.Duplicate = req.reply.Duplicate && duplicate
	req.reply.Op = max(req.reply.Op, op)
	switch req.kind {
	case kindPerEvent:
		r.scatter(pt, duplicate, body)
	default:
		pt.reply = bytes.Clone(body)
	}
	r.maybeFinish(req)
}

// sessionStatusFirst: statuses from here on answer a request as a whole (busy,
// not_primary, internal_error...); below, a query's own result (account_not_found).
const sessionStatusFirst model.Status = 200

// statusRank orders request-level statuses by how much they tell the client: an unknown
// outcome first (it must retry), then a refusal of the request as a whole.
func statusRank(status model.Status) int {
	switch status {
	case model.StatusOK:
		return 0
	case model.StatusInternalError, model.StatusShuttingDown:
		return 4
	case model.StatusNotPrimary:
		return 3
	case model.StatusRequestTooOld:
		return 2
	}
	return 1
}

func worse(a, b model.Status) model.Status {
	if statusRank(b) > statusRank(a) {
		return b
	}
	return a
}

// scatter copies a part's per-event results to their places in the merged reply and
// makes the events whose result is provisional wait for their saga.
func (r *Router) scatter(pt *part, duplicate bool, body []byte) {
	req := pt.request
	size := req.resultSize
	if len(body) != len(pt.events)*size {
		// A shard answered a part of N events with other than N results: a bug.
		panic("router: part reply does not match its events")
	}
	var lookups []model.Uint128
	for k, event := range pt.events {
		result := body[k*size : (k+1)*size]
		copy(req.results[int(event)*size:], result)
		if req.reply.Operation != model.OperationCreateTransfers {
			continue
		}
		status := eventStatus(result)
		if !status.Provisional() {
			continue
		}
		id := model.Uint128LE(pt.body[k*model.TransferSize:])
		retry := status == model.StatusSagaInFlightRetry
		r.wait(sagaKey{pt.shard, id}, waiter{request: req, event: event, retry: retry})
		if duplicate || retry {
			// The saga may have ended long ago: ask for its result.
			lookups = append(lookups, id)
		}
	}
	r.lookup(pt.shard, lookups)
}

// wait makes an event wait for a saga's final result.
func (r *Router) wait(key sagaKey, w waiter) {
	entry := r.waits[key]
	if entry == nil {
		entry = &sagaWait{lookedUp: r.now}
		r.waits[key] = entry
		r.waitOrder = append(r.waitOrder, key)
	}
	entry.waiters = append(entry.waiters, w)
	w.request.waiting++
}

// lookup asks a shard for the results of sagas (saga_lookup, a read released after
// durability). A refused lookup is asked again at a later Tick.
func (r *Router) lookup(shardIndex uint16, ids []model.Uint128) {
	for len(ids) > 0 {
		batch := ids[:min(len(ids), model.SagaLookupEventsMax)]
		ids = ids[len(batch):]
		body := make([]byte, len(batch)*model.IDSize)
		for i, id := range batch {
			id.PutLE(body[i*model.IDSize:])
		}
		connection := r.nextConnection()
		status := r.config.Shards.SubmitInternal(shardIndex, &shard.Request{
			Connection: connection, Operation: model.OperationSagaLookup, Body: body})
		if status == model.StatusOK {
			r.pending[connection] = pendingEntry{kind: pendingLookup, shard: shardIndex, ids: batch}
		}
	}
}

// lookupAnswered resolves the waits whose saga is final.
func (r *Router) lookupAnswered(shardIndex uint16, ids []model.Uint128, reply *shard.Reply) {
	if reply.Status != model.StatusOK || len(reply.Body) != len(ids)*model.SagaStateSize {
		return // Asked again at a later Tick.
	}
	for i := range ids {
		var state saga.State
		state.Decode(reply.Body[i*model.SagaStateSize:])
		if state.Phase == saga.PhaseFinal {
			r.resolve(shardIndex, state.ID, &state.Result)
		}
	}
}

// resolve gives a saga's final result to the events waiting for it.
func (r *Router) resolve(shardIndex uint16, id model.Uint128, result *model.TransferResult) {
	key := sagaKey{shardIndex, id}
	entry := r.waits[key]
	if entry == nil {
		return
	}
	delete(r.waits, key)
	for _, w := range entry.waiters {
		req := w.request
		if req.done {
			continue
		}
		final := *result
		if w.retry {
			final = model.TransferResult{EventResult: model.EventResult{
				Timestamp: result.Timestamp, Status: saga.RetryStatus(result.Status)}}
		}
		encoded := req.results[int(w.event)*req.resultSize:][:req.resultSize]
		if req.resultSize == model.EventResultBalancesSize {
			final.EncodeWithBalances(encoded)
		} else {
			final.EventResult.Encode(encoded)
		}
		req.waiting--
		r.maybeFinish(req)
	}
}

func (r *Router) maybeFinish(req *request) {
	if !req.done && req.outstanding == 0 && req.waiting == 0 {
		r.finish(req)
	}
}

// finish builds the merged reply and queues it for the client.
func (r *Router) finish(req *request) {
	req.done = true
	reply := req.reply
	if reply.Status == model.StatusOK {
		switch req.kind {
		case kindPerEvent:
			reply.Body = req.results
		case kindLookup:
			reply.Body = r.mergeLookup(req)
		default:
			reply.Status, reply.Body = chooseQuery(req)
		}
	} else {
		reply.Duplicate = false
	}
	if len(req.parts) == 0 {
		reply.Duplicate = false
	}
	r.replies = append(r.replies, reply)
}

// mergeLookup merges the records the parts found, in the order of the keys asked: for
// each key, the next record of every part that holds it (records start with their key,
// and each part lists its records in the order of its own keys).
func (r *Router) mergeLookup(req *request) []byte {
	info, _ := req.reply.Operation.Info()
	cursors := make([]int, len(req.parts))
	var merged []byte
	count := 0
	for offset := 0; offset < len(req.keys); offset += req.eventSize {
		key := req.keys[offset : offset+req.keySize]
		for i, pt := range req.parts {
			record := pt.reply[cursors[i]:]
			if len(record) < info.ResultSize || !bytes.Equal(record[:req.keySize], key) {
				continue
			}
			if count < info.ResultsMax {
				merged = append(merged, record[:info.ResultSize]...)
				count++
			}
			cursors[i] += info.ResultSize
		}
	}
	return merged
}

// chooseQuery picks the answer of a query sent to every shard: for ledger totals their
// sum; otherwise the shard that knows the account (any status but account_not_found),
// else the first.
func chooseQuery(req *request) (model.Status, []byte) {
	if req.reply.Operation == model.OperationGetLedgerTotals {
		return sumLedgerTotals(req)
	}
	for _, pt := range req.parts {
		if pt.status != model.StatusAccountNotFound {
			return pt.status, pt.reply
		}
	}
	return req.parts[0].status, req.parts[0].reply
}

// sumLedgerTotals adds up every shard's totals per ledger. Each shard lists its lowest
// ledgers from the filter's minimum, at most the limit: a ledger that one shard left out
// has at least limit ledgers below it there, so it is not among the lowest limit of the
// node either, and the sums of the ledgers kept are complete.
func sumLedgerTotals(req *request) (model.Status, []byte) {
	var limit model.LedgerFilter
	limit.Decode(req.parts[0].body)
	byLedger := map[uint32]*model.LedgerTotals{}
	var ledgers []uint32
	for _, pt := range req.parts {
		if pt.status != model.StatusOK {
			return pt.status, nil // A filter refused by one shard is refused by all.
		}
		for offset := 0; offset+model.LedgerTotalsSize <= len(pt.reply); offset += model.LedgerTotalsSize {
			var totals model.LedgerTotals
			totals.Decode(pt.reply[offset:])
			sum := byLedger[totals.Ledger]
			if sum == nil {
				sum = &model.LedgerTotals{Ledger: totals.Ledger}
				byLedger[totals.Ledger] = sum
				ledgers = append(ledgers, totals.Ledger)
			}
			sum.Accounts += totals.Accounts
			addWide(&sum.DebitsPending, totals.DebitsPending)
			addWide(&sum.DebitsPosted, totals.DebitsPosted)
			addWide(&sum.CreditsPending, totals.CreditsPending)
			addWide(&sum.CreditsPosted, totals.CreditsPosted)
		}
	}
	slices.Sort(ledgers)
	ledgers = ledgers[:min(len(ledgers), int(limit.Limit))]
	body := make([]byte, len(ledgers)*model.LedgerTotalsSize)
	for i, ledger := range ledgers {
		byLedger[ledger].Encode(body[i*model.LedgerTotalsSize:])
	}
	return model.StatusOK, body
}

// addWide adds one exact sum to another (the high words cannot overflow: a node holds
// far fewer than 2^64 × 2^128 units).
func addWide(sum *model.WideSum, x model.WideSum) {
	sum.Add(x.Low)
	sum.High += x.High
}
