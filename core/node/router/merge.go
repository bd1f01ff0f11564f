package router

import (
	"bytes"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/saga"
)

// partAnswered records a part's reply (or a refusal standing for it).
func (r *Router) partAnswered(pt *part, status model.Status, duplicate bool, op uint64,
	body []byte) {
	req := pt.request
	if req.done {
		return
	}
	req.outstanding--
	pt.status, pt.answered = status, true
	if status >= sessionStatusFirst {
		// A part refused or of unknown outcome: the request is answered as a whole, without
		// a body, once every part has answered (mergedStatus says with what); the client
		// retries it, and the parts already applied answer from their caches.
		req.failed = true
		r.maybeFinish(req)
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

// mergedStatus is the status of a split request some part of which was not answered ok,
// once every part has answered (or been abandoned). The rule: never say "not applied"
// (log_unavailable, busy, not_primary, shutting_down, internal_error) about a write some
// part of which was or may have been applied.
//
//  1. A part of unknown outcome (outcome_unknown: its shard's log failed after sequencing
//     it; or abandoned when the node stopped), or a write whose parts disagree (some
//     applied, some refused): outcome_unknown. The client resends the request with the same
//     number until a definite answer comes; each shard answers its part from its session
//     cache or applies it now, once (PROTOCOL.md §7).
//  2. request_too_old, then request_number_reused: the client must look the ids up (or
//     fix its numbering); resending would not help.
//  3. Every part refused as a whole: the most telling refusal (shutting_down, not_primary,
//     log_unavailable, internal_error, then the rest), which then holds for the whole.
//
// Reads apply nothing: they get rule 3 (a read part is never of unknown outcome).
func mergedStatus(req *request) model.Status {
	applied, refused, unknown := false, model.StatusOK, false
	for _, pt := range req.parts {
		switch {
		case !pt.answered || pt.status == model.StatusOutcomeUnknown:
			unknown = true
		case pt.status < sessionStatusFirst:
			applied = true // ok, or a query's own result.
		default:
			refused = worse(refused, pt.status)
		}
	}
	switch {
	case req.write && (unknown || (applied && !definite(refused))):
		return model.StatusOutcomeUnknown
	case refused != model.StatusOK:
		return refused
	}
	return model.StatusShuttingDown // A read abandoned: nothing applied, ask again.
}

// definite reports whether a part's refusal holds for the whole request even when other
// parts were applied (rule 2 of mergedStatus).
func definite(status model.Status) bool {
	return status == model.StatusRequestTooOld || status == model.StatusRequestNumberReused
}

// statusRank orders part refusals by how much they tell the client.
func statusRank(status model.Status) int {
	switch status {
	case model.StatusOK:
		return 0
	case model.StatusRequestTooOld:
		return 7
	case model.StatusRequestNumberReused:
		return 6
	case model.StatusShuttingDown:
		return 5
	case model.StatusNotPrimary:
		return 4
	case model.StatusLogUnavailable:
		return 3
	case model.StatusInternalError:
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
		status := r.config.Shards.SubmitInternal(shardIndex, &backend.Request{
			Connection: connection, Operation: model.OperationSagaLookup, Body: body})
		if status == model.StatusOK {
			r.pending[connection] = pendingEntry{kind: pendingLookup, shard: shardIndex, ids: batch}
		}
	}
}

// lookupAnswered resolves the waits whose saga is final.
func (r *Router) lookupAnswered(shardIndex uint16, ids []model.Uint128, reply *backend.Reply) {
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
	if !req.done && req.outstanding == 0 && (req.failed || req.waiting == 0) {
		r.finish(req)
	}
}

// finish builds the merged reply and queues it for the client.
func (r *Router) finish(req *request) {
	req.done = true
	reply := req.reply
	if req.failed {
		reply.Status = mergedStatus(req)
	}
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
		// A refusal names no op and is no duplicate (PROTOCOL.md section 3, aux: "0 for
		// ... every other status"), although a part answered ok from its cache or applied
		// now put its op above: request_number_reused and request_too_old of a split
		// request carried that part's op.
		reply.Duplicate, reply.Op = false, 0
	}
	if len(req.parts) == 0 {
		reply.Duplicate = false
	}
	r.replies = append(r.replies, reply)
}

// mergeLookup merges the records the parts found, in the order of the keys asked: for
// each key, the next record of every part that holds it (records start with their key,
// and each part lists its records in the order of its own keys). A reply holds at most
// ResultsMax records, and a key found on several shards (a settlement account's copies,
// a transfer id two shards both use) can take more than one: a key's records are given
// all or none, so the reply ends before the first key whose records would not all fit
// (PROTOCOL.md, "Lookups on several shards"). Cutting at the record instead left that
// key with its first copy only, which a client cannot tell from a key on one shard.
func (r *Router) mergeLookup(req *request) []byte {
	info, _ := req.reply.Operation.Info()
	cursors := make([]int, len(req.parts))
	var merged []byte
	count := 0
	for offset := 0; offset < len(req.keys); offset += req.eventSize {
		key := req.keys[offset : offset+req.keySize]
		found := 0
		for i, pt := range req.parts {
			if holdsKey(pt.reply[cursors[i]:], key, info.ResultSize) {
				found++
			}
		}
		if count+found > info.ResultsMax {
			break
		}
		for i, pt := range req.parts {
			record := pt.reply[cursors[i]:]
			if holdsKey(record, key, info.ResultSize) {
				merged = append(merged, record[:info.ResultSize]...)
				cursors[i] += info.ResultSize
			}
		}
		count += found
	}
	return merged
}

// holdsKey reports whether records starts with a whole record of key.
func holdsKey(records, key []byte, resultSize int) bool {
	return len(records) >= resultSize && bytes.Equal(records[:len(key)], key)
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

// sumLedgerTotals adds up every shard's totals per ledger (model.MergeLedgerTotals says
// why the sums of the ledgers kept are complete).
func sumLedgerTotals(req *request) (model.Status, []byte) {
	var limit model.LedgerFilter
	limit.Decode(req.parts[0].body)
	replies := make([][]byte, len(req.parts))
	for i, pt := range req.parts {
		if pt.status != model.StatusOK {
			return pt.status, nil // A filter refused by one shard is refused by all.
		}
		replies[i] = pt.reply
	}
	return model.StatusOK, model.MergeLedgerTotals(replies, limit.Limit)
}
