package bench

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"sequent/core/model"
	"sequent/netio/client"
)

// worker drives one connection: it builds requests, sends them (closed or open loop),
// and settles their replies. Everything except interval (guarded by mu, swapped by the
// collector) belongs to the worker's goroutine until loop returns.
type worker struct {
	// What a caller of the callers mode reads or writes on every call comes first, in as
	// few cache lines as it fits (with a one-event caller's buffers next to it,
	// oneEventCaller): 512 callers each come back to their state cold after their merged
	// request's round trip (bench/PERFORMANCE.md, issue 15, session 53).
	index   int
	run     *run
	random  *rand.Rand
	stopped bool // No more requests will be sent.
	// Callers mode: whether the clock read when the last call settled (settledNs) is
	// fresh, and that read, which sendDue takes as its "now" (and, closed loop, the next
	// call's start) instead of reading the clock again. Nothing runs between the two but
	// returning from send; a clock read is ~25 ns here (BenchmarkCallerBookkeeping's
	// profile: a quarter of the caller's bookkeeping with two reads), and a caller read
	// it three times per call.
	settledFresh bool
	settledNs    int64
	outstanding  int           // Calls sent and not yet settled.
	sequence     uint64        // Transfers of this connection so far (ids).
	grid         int64         // Open loop: index of the next request on this connection's grid.
	recorder     *recorder     // Where completions are measured (shared by a connection's callers).
	kinds        kindSelection // Picks each request's workload.
	slots        []slot        // One per request in flight.
	free         []int32       // Free slots.
	chooser      chooser
	accounted    uint64 // Transfers applied to the expected balances, not yet counted there.
	// Created transfers settled and not yet added to the expected balances (at most
	// settledEffectsMax: expectedBalances.applyBatch); flushAccounted adds the rest.
	settled   []settledEffect
	transfers []model.Transfer    // Callers mode: the call's transfers (encodeTransfer builds them).
	results   []model.EventResult // Callers mode: their results (CreateTransfersInto).
	reply     []byte              // Callers mode: the results encoded as a reply body.
	// Callers mode: the call (the client's CreateTransfersInto; a benchmark of the
	// caller's own bookkeeping swaps in one that answers at once).
	createTransfersInto func(context.Context, []model.Transfer, []model.EventResult) error

	client *client.Client
	wire   *wireConnection        // The wire driver's connection (nil: the client drives).
	body   []byte                 // Encoding buffer; client.Go copies it.
	calls  map[*client.Call]int32 // Call → slot.
	done   chan *client.Call      // Completions (room for every call in flight).

	pending  pendingQueue // Created pending transfers awaiting post or void.
	orders   *orderState  // The order workload's state (nil without orders).
	unsent   uint64       // Open loop: measured requests due by the end and never sent.
	unknown  []eventMeta  // Transfers of write requests whose outcome is unknown.
	overflow bool         // unknown overflowed: some outcomes cannot be accounted for.
	failure  error        // The first request that failed without a reply.
	timer    *time.Timer  // Wakes the loop for the next send or the end.
	// inDoubt counts the requests whose outcome is unknown (outcomeUnknown): a copy of
	// one may still be on its way to the server, so the final check waits for the
	// connection (run.barrier).
	inDoubt int
	// stored counts, per shard of the server, the transfer records this worker's requests
	// may have stored there (countStored), to compare with the server's capacity.
	stored []uint64
	// timerAtNs is the run time timer is armed for, or timerUnarmed once it fired (its
	// value taken by loop): armTimer re-arms it only for another time. A closed loop's
	// worker with its window full (`--inflight 1`: after every call) armed it for the
	// run's end again each time, one runtime timer update per call.
	timerAtNs int64
	// lone: one request at a time in a closed loop (`--inflight 1 --lone-reads`, no
	// --rate, no --callers): each request is a DoInto, the worker waiting in the client as an
	// application issuing one request at a time does, which lets the client read the
	// reply on this goroutine (netio/client, lone_read.go) instead of handing it over
	// from its reader goroutine.
	lone bool
}

// recorder holds what its workers measured since the collector's last swap: one per
// connection; in the callers mode (Config.Callers) a few per connection, each shared by
// some of its callers (recordersOf), so that thousands of callers do not each carry
// (and the collector merge) their own histograms, nor all queue on one lock.
type recorder struct {
	mu       sync.Mutex // Guards interval.
	interval *sample
}

// slot is one request in flight.
type slot struct {
	kind       Kind
	command    command     // KindOrders: the order command.
	intendedNs int64       // Run time the request was due (open loop) or sent (closed).
	measured   bool        // Sent after the warm-up.
	events     int         // Events in the request.
	meta       []eventMeta // Per event, what the generator needs to settle it.
	reply      []byte      // The buffer its replies are copied into (client.GoInto).
}

// eventMeta is what one event did, to settle its result.
type eventMeta struct {
	id        model.Uint128 // Transfers: the transfer's id.
	pendingID model.Uint128 // Post and void: the pending transfer.
	amount    uint64        // Transfers: the amount. Orders: the price.
	quantity  uint64        // Orders: the quantity.
	orderID   uint64        // Cancel and move: the order.
	debit     uint32        // Transfers: the debit account. Orders: the trader.
	credit    uint32        // Transfers: the credit account.
	effect    effect        // Transfers: what the transfer does to balances.
	side      model.Side    // Orders: the side.
}

// oneEventCaller is a worker of the callers mode with one event per call (`--callers
// --events 1`, issue 15's shape) and the buffers its calls use, in one allocation: its
// slot, the slot's event, the call's transfer, result and reply body and its random
// source, which are otherwise eight allocations of their own, each at least one more
// cache line a caller comes back to cold after its merged request's round trip
// (BenchmarkCallerBookkeepingYielding; bench/PERFORMANCE.md, issue 15, session 53). The
// buffers come first, the worker's per-call fields (worker) right after them.
type oneEventCaller struct {
	transfer [1]model.Transfer
	result   [1]model.EventResult
	reply    [model.EventResultSize]byte
	slot     [1]slot
	meta     [1]eventMeta
	free     [1]int32
	source   rand.PCG
	random   rand.Rand
	worker   worker
}

func newWorker(index int, r *run, c *client.Client, rec *recorder) *worker {
	config := &r.config
	source := rand.NewPCG(config.Seed, mix64(config.RunID)^uint64(index))
	inflight, pendingMax := config.Inflight, pendingQueueMax
	if config.Callers > 0 {
		inflight, pendingMax = 1, callerPendingQueueMax // One call at a time.
	}
	var w *worker
	if config.Callers > 0 && config.Events == 1 {
		one := &oneEventCaller{source: *source}
		one.random = *rand.New(&one.source)
		w = &one.worker
		w.random, w.slots, w.free = &one.random, one.slot[:], one.free[:0]
		w.slots[0].meta = one.meta[:]
		w.transfers, w.results, w.reply = one.transfer[:], one.result[:], one.reply[:]
	} else {
		w = &worker{random: rand.New(source), slots: make([]slot, inflight),
			free: make([]int32, 0, inflight)}
		for i := range w.slots {
			w.slots[i].meta = make([]eventMeta, config.Events)
		}
		if config.Callers > 0 {
			w.transfers = make([]model.Transfer, config.Events)
			w.results = make([]model.EventResult, config.Events)
			w.reply = make([]byte, config.Events*model.EventResultSize)
		}
	}
	w.index, w.run, w.client, w.recorder = index, r, c, rec
	w.chooser = newChooser(config, r.zipf, w.random, r.shardOf)
	w.calls = make(map[*client.Call]int32, inflight)
	w.done = make(chan *client.Call, inflight)
	w.kinds = newKindSelection(config.Mix)
	w.stored = make([]uint64, max(r.shards, 1))
	w.lone = c != nil && config.LoneReads && config.Callers == 0 && config.Inflight == 1 &&
		!r.openLoop()
	if config.Callers > 0 && c != nil {
		w.createTransfersInto = c.CreateTransfersInto
	}
	w.body = make([]byte, config.Events*w.eventBytesMax())
	for i := range w.slots {
		w.free = append(w.free, int32(i))
	}
	if config.Mix.hasTransfers() {
		w.settled = make([]settledEffect, 0, settledEffectsMax)
	}
	if config.Mix.Has(KindTwoPhase) {
		w.pending = newPendingQueue(pendingMax)
	}
	if config.Mix.Has(KindOrders) {
		w.orders = newOrderState(index, config)
	}
	return w
}

func (w *worker) eventBytesMax() int {
	if w.run.config.Mix.hasTransfers() {
		return model.TransferSize
	}
	return model.OrderSize
}

// loop sends and settles until the load stops and every reply is in (or the drain
// deadline passes).
func (w *worker) loop(ctx context.Context) {
	defer w.flushAccounted()
	if w.lone && w.run.endNs != math.MaxInt64 {
		// A lone worker waits inside DoInto, not in the select below: its drain deadline
		// (from the run's end) is its context's, one for the run rather than per call.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, w.run.start.Add(
			time.Duration(w.run.endNs)+w.run.config.DrainTimeout))
		defer cancel()
	}
	w.timer = time.NewTimer(time.Hour)
	w.timerAtNs = timerUnarmed // Armed for no time sendDue asks for yet.
	defer w.timer.Stop()
	canceled := ctx.Done()
	var deadline *time.Timer // The drain deadline, from the moment sending stops.
	defer func() {
		if deadline != nil {
			deadline.Stop()
		}
	}()
	var drain <-chan time.Time
	for {
		if !w.stopped {
			w.sendDueCorked(ctx)
		}
		if w.stopped && deadline == nil {
			deadline = time.NewTimer(w.run.config.DrainTimeout)
			drain, canceled = deadline.C, nil
		}
		if w.stopped && w.outstanding == 0 {
			return
		}
		select {
		case call := <-w.done:
			w.complete(call)
			w.completeReady()
		case <-w.timer.C:
			w.timerFired()
		case <-canceled:
			w.stop(false)
		case <-drain:
			w.abandonAll()
			return
		}
	}
}

// flushAccounted adds the transfers this worker settled and has not applied yet to the
// expected balances, and those it applied to their count, once the worker is done
// settling.
func (w *worker) flushAccounted() {
	if len(w.settled) > 0 {
		w.run.expected.applyBatch(w.settled)
		w.settled = w.settled[:0]
	}
	if w.accounted > 0 {
		w.run.expected.transfers.Add(w.accounted)
		w.accounted = 0
	}
}

// completeReady settles the completions already delivered, without waiting, so that
// the slots they free are refilled in one burst (one write, see sendDueCorked).
func (w *worker) completeReady() {
	for {
		select {
		case call := <-w.done:
			w.complete(call)
		default:
			return
		}
	}
}

// sendDueCorked is sendDue with the client's writes corked (client.Cork), so that the
// requests it sends leave in one write, as a pipelining client (redis-benchmark -P)
// sends its pipeline, rather than one system call each. The callers mode does not cork:
// each of its calls waits for its reply (the client would write at once regardless).
func (w *worker) sendDueCorked(ctx context.Context) {
	if w.transfers != nil || w.lone { // Their calls wait: nothing to gather.
		w.sendDue(ctx)
		return
	}
	w.client.Cork()
	defer w.client.Uncork()
	w.sendDue(ctx)
}

// sendDue sends every request that is due, as the window allows, and arms the timer for
// the next one (open loop) or for the end. An open loop still sends, after the end time,
// the requests due before it while the window has room (the timer may wake a little
// late); once the window is full after the end, the rest count as unsent.
func (w *worker) sendDue(ctx context.Context) {
	r := w.run
	for !w.stopped {
		now := w.now()
		if ctx.Err() != nil {
			w.stop(false)
			return
		}
		if w.outstanding == len(w.slots) {
			if now >= r.endNs {
				w.stop(true)
				return
			}
			w.armTimer(now, min(r.endNs, now+int64(time.Hour)))
			return
		}
		intended := now
		if r.openLoop() {
			intended = r.intended(w.index, w.grid)
			if intended >= r.endNs {
				w.stop(false)
				return
			}
			if intended > now {
				w.armTimer(now, intended)
				return
			}
		} else if now >= r.endNs {
			w.stop(false)
			return
		}
		measured := intended >= r.warmupEndNs
		if measured && !r.claim() {
			w.stop(false)
			return
		}
		w.grid++
		w.send(ctx, intended, measured)
	}
}

// timerUnarmed is worker.timerAtNs when the timer is armed for no time sendDue asked for
// (it fired, or was never armed so).
const timerUnarmed = int64(-1)

// armTimer arms the loop's timer to fire at run time atNs (now is the run time), unless
// it is armed for that time already.
func (w *worker) armTimer(now, atNs int64) {
	if atNs == w.timerAtNs {
		return
	}
	w.timer.Reset(time.Duration(atNs - now))
	w.timerAtNs = atNs
}

// timerFired notes that loop took the timer's firing: it is armed for nothing now, and
// the next armTimer arms it whatever the time.
func (w *worker) timerFired() { w.timerAtNs = timerUnarmed }

// stop ends sending; atEnd says the run's end time stopped it, so an open loop counts
// the measured requests that were due and never sent.
func (w *worker) stop(atEnd bool) {
	if w.stopped {
		return
	}
	w.stopped = true
	r := w.run
	if atEnd && r.openLoop() {
		first := max(w.grid, r.gridIndexAt(w.index, r.warmupEndNs))
		if last := r.gridIndexAt(w.index, r.endNs); last > first {
			w.unsent = uint64(last - first)
		}
	}
}

// take starts a request the way both drivers do: it takes a free slot, builds the
// request into it and counts it as sent, measured or warm-up.
func (w *worker) take(measured bool) (int32, *slot, model.Operation, []byte) {
	index := w.free[len(w.free)-1]
	w.free = w.free[:len(w.free)-1]
	s := &w.slots[index]
	s.kind = w.kinds.draw(w.random)
	s.measured = measured
	operation, body := w.build(s)
	if w.transfers != nil {
		return index, s, operation, body // Callers mode: counted when settled (settleCall).
	}
	w.recorder.mu.Lock()
	countSentLocked(w.recorder.interval, s)
	w.recorder.mu.Unlock()
	return index, s, operation, body
}

// countSentLocked counts the request of s as sent, measured or warm-up, in interval.
// Called with the recorder's lock held.
func countSentLocked(interval *sample, s *slot) {
	if s.measured {
		interval.requestsSent++
		interval.eventsSent += uint64(s.events)
	} else {
		interval.warmRequests++
		interval.warmEvents += uint64(s.events)
	}
}

// now is the run time for sendDue: the clock read of the call just settled when there
// is one not used yet (callers mode), else a fresh read.
func (w *worker) now() int64 {
	if w.settledFresh {
		w.settledFresh = false
		return w.settledNs
	}
	return w.run.since()
}

// send builds the next request into a free slot and sends it.
func (w *worker) send(ctx context.Context, intendedNs int64, measured bool) {
	index, s, operation, body := w.take(measured)
	s.intendedNs = intendedNs
	if !w.run.openLoop() && w.transfers == nil {
		s.intendedNs = w.run.since() // Closed loop: from the moment it is sent.
	}
	// A caller (callers mode) in a closed loop keeps sendDue's time, the clock read of its
	// previous call's settle (now): its call's latency then also holds its own build and
	// settle between two calls, a few hundred ns against a call's ~1 ms, and the caller
	// reads the clock once per call instead of twice.
	if w.transfers != nil {
		w.outstanding++
		w.settleCall(index, w.callTransfers(ctx, body))
		return
	}
	if w.lone {
		w.outstanding++
		w.settleSlot(index, w.doLone(ctx, index, operation, body))
		return
	}
	call := w.client.GoInto(ctx, operation, 0, body, w.slots[index].reply, w.done)
	w.calls[call] = index
	w.outstanding++
}

// doLone is a lone worker's request (worker.lone): one DoInto into the slot's reply
// buffer, its outcome as complete would settle the same request sent with GoInto.
func (w *worker) doLone(ctx context.Context, index int32, operation model.Operation,
	body []byte) outcome {
	reply, err := w.client.DoInto(ctx, operation, 0, body, w.slots[index].reply)
	if reply == nil {
		return endedWith(err)
	}
	w.slots[index].reply = reply.Body // The slot's buffer again, for its next reply.
	return outcome{status: reply.Status, body: reply.Body, op: reply.Op}
}

// callTransfers is the callers mode's request: one blocking CreateTransfers call with
// the slot's transfers (the client may merge it with other callers'), its results
// re-encoded as a reply body so that settling is the same as for a request. The build
// put the transfers in w.transfers (encodeTransfer); body, not written in this mode,
// gives their count. The results and the reply body are the caller's own buffers,
// reused by every call (the body is settled before the next call): a caller allocates
// nothing per call, as an application calling CreateTransfersInto can. The two
// allocations per call this saves were CPU the server, in the same process with
// --embedded and on the same cores, went without (bench/PERFORMANCE.md, issue 15,
// session 40).
func (w *worker) callTransfers(ctx context.Context, body []byte) outcome {
	count := len(body) / model.TransferSize
	transfers, results := w.transfers[:count], w.results[:count]
	if err := w.createTransfersInto(ctx, transfers, results); err != nil {
		return endedWith(err)
	}
	reply := w.reply[:count*model.EventResultSize]
	for i := range results {
		results[i].Encode(reply[i*model.EventResultSize:])
	}
	return outcome{body: reply}
}

// outcome is how a request ended: err without a reply (with status, that of a
// *client.OutcomeUnknownError: counted under it); else the reply's status, body and log
// position.
type outcome struct {
	err    error
	status model.Status
	body   []byte
	op     uint64
}

// endedWith is the outcome of a call that ended with err. A *client.StatusError is a
// request-level refusal (nothing applied). A *client.OutcomeUnknownError is not: the
// write may be applied (an earlier copy, its resend refused with a status no resend
// cures; or the client stopped with a copy on its way), so it is settled as an error
// (its transfers looked up at the end) and counted under its status in the report's
// unknown_outcomes (never with the refusals in request_statuses), rather than as
// no_reply. Anything else failed without a
// reply, and so does a call whose context ended (the run interrupted, or abandoned at
// the drain deadline): counted as no_reply as before, although the client wraps the
// context's error in an *client.OutcomeUnknownError for a write that may be applied
// (its transfers are looked up at the end either way): unknown_outcomes counts the
// outcomes the server's answers or the client's stop left unknown, not the run's end.
func endedWith(err error) outcome {
	var refused *client.StatusError
	if errors.As(err, &refused) {
		return outcome{status: refused.Status}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return outcome{err: err}
	}
	var unknown *client.OutcomeUnknownError
	if errors.As(err, &unknown) {
		return outcome{err: err, status: unknown.Status}
	}
	return outcome{err: err}
}

// build fills the slot's events for its workload and returns the request.
func (w *worker) build(s *slot) (model.Operation, []byte) {
	switch s.kind {
	case KindTwoPhase:
		return model.OperationCreateTransfers, w.buildTwoPhase(s)
	case KindLinked:
		return model.OperationCreateTransfers, w.buildLinked(s)
	case KindOrders:
		return w.buildOrders(s)
	}
	return model.OperationCreateTransfers, w.buildSingle(s)
}

// complete settles one finished call and frees its slot.
func (w *worker) complete(call *client.Call) {
	index, ok := w.calls[call]
	if !ok {
		return // Already settled (abandoned at the drain deadline).
	}
	delete(w.calls, call)
	if call.Err != nil {
		w.settleSlot(index, endedWith(call.Err))
		return
	}
	w.settleSlot(index, outcome{status: call.Reply.Status, body: call.Reply.Body,
		op: call.Reply.Op})
	// Settled: the body is read and the buffer is the slot's again, for its next reply.
	w.slots[index].reply = call.Reply.Body
}

// settleSlot settles the finished request of a slot and frees the slot.
func (w *worker) settleSlot(index int32, result outcome) {
	nowNs := w.run.since()
	w.recorder.mu.Lock()
	w.settleSlotLocked(index, result, nowNs)
	w.recorder.mu.Unlock()
}

// settleCall is settleSlot for the callers mode, whose take did not count the call as
// sent: it counts it here, under the same lock as its outcome, so that a call takes the
// recorder's lock once rather than twice (a connection's callers share a few). A call is
// then counted as sent in the interval in which it settled; every call settles (the call
// returns, with an error at worst, before its caller sends again), so the run's totals
// are unchanged. The clock read is kept for the caller's next sendDue (now).
func (w *worker) settleCall(index int32, result outcome) {
	nowNs := w.run.since()
	w.recorder.mu.Lock()
	countSentLocked(w.recorder.interval, &w.slots[index])
	w.settleSlotLocked(index, result, nowNs)
	w.recorder.mu.Unlock()
	w.settledNs, w.settledFresh = nowNs, true
}

// settleSlotLocked is settleSlot for a caller that holds the recorder's lock and read
// the clock (nowNs, run time), once for several replies (the wire driver: per read).
func (w *worker) settleSlotLocked(index int32, result outcome, nowNs int64) {
	s := &w.slots[index]
	var tally *sample
	if s.measured {
		tally = w.recorder.interval
	}
	if w.settle(&result, s, tally) && tally != nil {
		tally.recordLatency(nowNs-s.intendedNs, s.events)
		tally.lastCompletionNs = max(tally.lastCompletionNs, nowNs)
		w.run.marketData.sent(result.op, s.intendedNs)
	}
	w.free = append(w.free, index)
	w.outstanding--
}

// settle applies a finished request's outcome and tallies it into t (nil for warm-up
// requests); it reports whether the request completed (a reply with status ok).
func (w *worker) settle(result *outcome, s *slot, t *sample) bool {
	if result.err != nil {
		if t != nil {
			t.requestsFailed++
			if result.status != model.StatusOK {
				t.unknownOutcomes[statusSlot(result.status)]++ // Not a refusal (endedWith).
			} else {
				t.noReply++
			}
		}
		if w.failure == nil {
			w.failure = result.err
		}
		w.stop(false) // The connection is unusable or the run was interrupted.
		w.outcomeUnknown(s)
		return false
	}
	reply := result
	if t != nil {
		t.requestStatuses[statusSlot(reply.status)]++
	}
	if reply.status != model.StatusOK {
		if t != nil {
			t.requestsFailed++
		}
		w.refused(s) // Refused at once: nothing was applied.
		return false
	}
	settled := false
	if s.kind == KindOrders {
		settled = w.settleOrders(reply.body, s, t)
	} else {
		settled = w.settleTransfers(reply.body, s, t)
	}
	if t == nil {
		return settled
	}
	if !settled {
		t.requestsFailed++
		t.malformed++
		return false
	}
	t.requestsCompleted++
	t.eventsCompleted += uint64(s.events)
	t.kinds[s.kind]++
	return true
}

// outcomeUnknown remembers the transfers of a request that may or may not have been
// applied, for the final lookup.
func (w *worker) outcomeUnknown(s *slot) {
	w.inDoubt++
	if s.kind == KindOrders {
		w.orders.release(s)
		return
	}
	for i := range s.events {
		w.countStored(&s.meta[i], true) // It may have been applied.
	}
	if len(w.unknown)+s.events > unknownEventsMax {
		w.overflow = true
		return
	}
	w.unknown = append(w.unknown, s.meta[:s.events]...)
}

// refused handles a request the server refused as a whole (not applied).
func (w *worker) refused(s *slot) {
	if s.kind == KindOrders {
		w.orders.release(s)
	}
	// Pending transfers taken for a post or void stay pending: still accounted for.
}

// abandonAll gives up on every call still outstanding at the drain deadline: each fails
// with context.Canceled and its outcome becomes unknown.
func (w *worker) abandonAll() {
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	calls := make([]*client.Call, 0, len(w.calls))
	for call := range w.calls {
		calls = append(calls, call)
	}
	for _, call := range calls {
		_, _ = call.Wait(expired)
		w.complete(call)
	}
}

// kindSelection draws a workload per request in proportion to the mix's weights.
type kindSelection struct {
	cumulative [kindCount]uint64
	total      uint64
}

func newKindSelection(mix Mix) kindSelection {
	var k kindSelection
	for kind, weight := range mix {
		k.total += uint64(weight)
		k.cumulative[kind] = k.total
	}
	return k
}

func (k *kindSelection) draw(random *rand.Rand) Kind {
	roll := random.Uint64N(k.total)
	for kind, bound := range k.cumulative {
		if roll < bound {
			return Kind(kind)
		}
	}
	return KindSingle // Unreachable: roll < total = the last bound.
}
