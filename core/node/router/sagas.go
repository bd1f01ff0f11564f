package router

import (
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/saga"
)

// Receive takes saga messages from the transport and writes them into their destination
// shards' logs: Credits as saga_credit, Decisions as saga_finish (each batched per shard),
// Forgets as saga_forget. Nobody waits for these requests; one that a shard refuses
// (busy) is simply lost, and the debit shard's resend covers it.
func (r *Router) Receive(messages []saga.Message) {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	shards := r.config.Map.Shards
	for destination := range shards {
		r.receiveKind(destination, messages, saga.MessageCredit, model.OperationSagaCredit,
			model.SagaCreditSize)
		r.receiveKind(destination, messages, saga.MessageDecision, model.OperationSagaFinish,
			model.SagaDecisionSize)
	}
	for i := range messages {
		message := &messages[i]
		if message.Kind != saga.MessageForget || message.To >= shards {
			continue
		}
		body := make([]byte, model.SagaForgetSize)
		message.Forget.Encode(body)
		r.config.Shards.SubmitInternal(message.To, &backend.Request{
			Operation: model.OperationSagaForget, Body: body})
	}
}

// receiveKind writes the messages of one kind for one shard as requests of up to the
// operation's event limit. Each request's body is allocated once, at its final size (the
// messages are counted first): grown one message at a time, a body of n records was
// reallocated and copied ~log2(n) times (a debit shard's entry of 1,000 transfers sends
// 1,000 Credits).
func (r *Router) receiveKind(destination uint16, messages []saga.Message, kind saga.MessageKind,
	operation model.Operation, size int) {
	remaining := 0
	for i := range messages {
		if messages[i].Kind == kind && messages[i].To == destination {
			remaining++
		}
	}
	if remaining == 0 {
		return
	}
	info, _ := operation.Info()
	body := make([]byte, 0, min(remaining, info.EventsMax)*size)
	for i := range messages {
		message := &messages[i]
		if message.Kind != kind || message.To != destination {
			continue
		}
		start := len(body)
		body = body[:start+size]
		if kind == saga.MessageCredit {
			message.Credit.Encode(body[start:])
		} else {
			message.Decision.Encode(body[start:])
		}
		remaining--
		if len(body)/size == info.EventsMax || remaining == 0 {
			r.config.Shards.SubmitInternal(destination, &backend.Request{Operation: operation, Body: body})
			body = make([]byte, 0, min(remaining, info.EventsMax)*size)
		}
	}
}

// Tick moves time forward (nanoseconds, the same clock as the shards' timestamps):
// busy parts are submitted again, each shard's outbox is polled every OutboxInterval, and
// requests that have waited SagaResendAfter for a saga ask for its result again.
func (r *Router) Tick(now uint64) {
	r.mutex.Lock()
	r.now = max(r.now, now)
	r.retryBusy()
	for shardIndex := range r.polls {
		p := &r.polls[shardIndex]
		if !p.inFlight && r.now-p.last >= r.config.OutboxInterval {
			r.poll(uint16(shardIndex), 0)
		}
	}
	r.lookupOverdue()
	outgoing, replies := r.takeEffects()
	r.mutex.Unlock()
	r.perform(outgoing, replies)
}

// retryBusy submits again the parts a shard refused busy, in the order they were held: a
// write's part stays held, unsubmitted, behind one of its session and shard refused again
// (see hold).
func (r *Router) retryBusy() {
	waiting := r.busy
	r.busy = nil
	var refused map[heldKey]bool
	// A part stays counted in held until it leaves busy (queued, answered or done), never
	// uncounted while it is submitted again: Submit reads the count without the lock, and
	// a write of its session read in that moment would be queued ahead of it.
	for _, pt := range waiting {
		if pt.request.done {
			r.unhold(pt)
			continue
		}
		if pt.request.write && refused[pt.heldKey()] {
			r.busy = append(r.busy, pt) // Still held.
			continue
		}
		switch status := r.submitPart(pt); status {
		case model.StatusOK:
			r.unhold(pt)
		case model.StatusBusy:
			r.busy = append(r.busy, pt) // Still held.
			if pt.request.write {
				if refused == nil {
					refused = map[heldKey]bool{}
				}
				refused[pt.heldKey()] = true
			}
		default:
			r.unhold(pt)
			r.partAnswered(pt, status, false, 0, nil)
		}
	}
}

// poll asks a shard for its running sagas numbered above after.
func (r *Router) poll(shardIndex uint16, after uint64) {
	body := make([]byte, model.SagaOutboxQuerySize)
	saga.EncodeOutboxQuery(body, after)
	connection := r.nextConnection()
	status := r.config.Shards.SubmitInternal(shardIndex, &backend.Request{Connection: connection,
		Operation: model.OperationSagaOutbox, Body: body})
	p := &r.polls[shardIndex]
	p.last = r.now
	p.inFlight = status == model.StatusOK
	if p.inFlight {
		r.pending[connection] = pendingEntry{kind: pendingPoll, shard: shardIndex}
	}
}

// pollAnswered sends again the Credits not sent lately (as aborts for sagas past the
// timeout, counted from the later of step 1 and the first answer to this shard's outbox
// poll: a Credit's abort flag is fixed when it is sent, and the credit shard logs it
// even before it releases again; from step 1 alone when Config.SagaTimeoutFromStep1 is
// set), reads the next page if this one was full, and sends the debit shard's watermark
// to the other shards when it moved.
func (r *Router) pollAnswered(shardIndex uint16, reply *backend.Reply) {
	p := &r.polls[shardIndex]
	p.inFlight = false
	body := reply.Body
	if reply.Status != model.StatusOK || len(body) < model.SagaOutboxSummarySize ||
		(len(body)-model.SagaOutboxSummarySize)%model.SagaCreditSize != 0 {
		return
	}
	if !p.answered && !r.config.SagaTimeoutFromStep1 {
		p.answered, p.servingSince = true, r.now
	}
	var summary saga.OutboxSummary
	summary.Decode(body)
	records := body[model.SagaOutboxSummarySize:]
	listed, last := 0, uint64(0)
	for ; len(records) > 0; records = records[model.SagaCreditSize:] {
		var credit saga.Credit
		credit.Decode(records)
		listed, last = listed+1, credit.Sequence
		sentBy := r.sent[shardIndex]
		if sent, ok := sentBy[credit.Sequence]; ok && r.now-sent < r.config.SagaResendAfter {
			continue
		}
		sentBy[credit.Sequence] = r.now
		// Whether to abort is decided here, by this clock, and written into the credit
		// shard's log with the Credit (its abort flag): replay reads the flag, never a
		// clock, so counting from the node's start changes no replay.
		credit.Abort = r.now >= max(credit.Transfer.Timestamp, p.servingSince)+r.config.SagaTimeout
		r.outgoing = append(r.outgoing, saga.Message{Kind: saga.MessageCredit, To: credit.To,
			Credit: credit})
	}
	for other := range r.config.Map.Shards {
		if other != shardIndex && summary.Lowest > r.forgotten[shardIndex][other] {
			r.forgotten[shardIndex][other] = summary.Lowest
			r.outgoing = append(r.outgoing, saga.Message{Kind: saga.MessageForget, To: other,
				Forget: saga.Forget{From: shardIndex, Below: summary.Lowest}})
		}
	}
	if listed == model.SagaOutboxPageMax {
		r.poll(shardIndex, last)
	}
}

// lookupOverdue asks again for the results of sagas that requests have waited on for
// SagaResendAfter, and drops the finished waits from the order.
func (r *Router) lookupOverdue() {
	kept := r.waitOrder[:0]
	byShard := map[uint16][]model.Uint128{}
	var shards []uint16
	for _, key := range r.waitOrder {
		w := r.waits[key]
		if w == nil {
			continue
		}
		kept = append(kept, key)
		if r.now-w.lookedUp < r.config.SagaResendAfter && w.lookedUp != 0 {
			continue
		}
		w.lookedUp = r.now
		if _, seen := byShard[key.shard]; !seen {
			shards = append(shards, key.shard)
		}
		byShard[key.shard] = append(byShard[key.shard], key.id)
	}
	r.waitOrder = kept
	for _, shardIndex := range shards {
		r.lookup(shardIndex, byShard[shardIndex])
	}
}
