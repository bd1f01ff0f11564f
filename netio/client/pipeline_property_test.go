package client

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shardmap"
)

// Flags of TestPipelineProperty, TestPipelinePropertyRouteByShard and
// TestPipelinePropertyReplicatedPair: the default is a short run for CI (-short: 20
// calls each); a long run is, say, -pipeline.seed=0 -pipeline.calls=400
// -pipeline.goroutines=64 (seed 0: a fresh one, printed).
var (
	pipelineSeed       = flag.Uint64("pipeline.seed", 1, "TestPipelineProperty: seed (0: random)")
	pipelineCalls      = flag.Int("pipeline.calls", 40, "TestPipelineProperty: calls per goroutine")
	pipelineGoroutines = flag.Int("pipeline.goroutines", 16, "TestPipelineProperty: callers")
)

// Accounts of the property (all on ledger 1, without balance limits, so that every
// outcome is independent of the order in which concurrent callers' transfers apply), on
// every shard: credit accounts shared by every caller, and per caller one account
// debited by its waited calls only, one by its asynchronous Go calls only and one by its
// large batch. The balances of a caller's waited account after each of its transfers are
// therefore known in advance, whatever the other callers do. The constants are offsets
// within a shard's ids (pipelineLayout).
const (
	pipelineShared       = 4
	pipelineWaitedBase   = 1000
	pipelineAsyncBase    = 2000
	pipelineLargeBase    = 3000    // Debited by the one large batch of a run.
	pipelineLeftBase     = 4000    // Debited by the calls whose callers stop waiting.
	pipelineUnknown      = 999_999 // Never created: credit_account_not_found.
	pipelineAmountMax    = 1000
	pipelineAsyncPending = 3 // Go calls a caller keeps outstanding at most.
)

// pipelineLayout places the accounts: shard s holds ids s*stride+offset.
type pipelineLayout struct {
	shards int
	stride uint64
}

func (l pipelineLayout) id(shard int, offset uint64) uint64 {
	return uint64(shard)*l.stride + offset
}

// shared reports whether id is a shared credit account.
func (l pipelineLayout) shared(id uint64) bool {
	offset := id
	if l.stride > 0 {
		offset = id % l.stride
	}
	return offset >= 1 && offset <= pipelineShared
}

// accounts lists every account of the layout for goroutines callers.
func (l pipelineLayout) accounts(goroutines int) []model.Uint128 {
	var ids []model.Uint128
	for shard := range l.shards {
		for offset := uint64(1); offset <= pipelineShared; offset++ {
			ids = append(ids, model.U128(l.id(shard, offset)))
		}
		for g := uint64(1); g <= uint64(goroutines); g++ {
			ids = append(ids, model.U128(l.id(shard, pipelineWaitedBase+g)),
				model.U128(l.id(shard, pipelineAsyncBase+g)),
				model.U128(l.id(shard, pipelineLargeBase+g)),
				model.U128(l.id(shard, pipelineLeftBase+g)))
		}
	}
	return ids
}

// sameShard reports whether the transfer's accounts are on one shard.
func (l pipelineLayout) sameShard(t *model.Transfer) bool {
	return l.stride == 0 || t.DebitAccountID.Lo/l.stride == t.CreditAccountID.Lo/l.stride
}

// pipelineEvent is one transfer a caller sends and the status the model expects for it.
type pipelineEvent struct {
	transfer model.Transfer
	want     model.Status
}

// pipelineModel is what the callers report to the final check: every transfer that was
// created (with the timestamp its result gave), every id that failed, and the balances.
type pipelineModel struct {
	mutex     sync.Mutex
	created   map[model.Uint128]createdTransfer
	failed    []model.Uint128
	debits    map[uint64]uint64
	credits   map[uint64]uint64
	problems  []string
	calls     int
	events    int
	refused   int // Calls refused at once (shutting_down): nothing of them applied.
	abandoned int // Calls whose callers stopped waiting first.
	lookups   int
	// unknown holds the debit account of a batch of several requests that failed: some
	// of them may be applied (its ids and that account's balances are not checked).
	unknown map[uint64]bool
	// left holds the transfers of calls whose callers stopped waiting: each applied
	// once or not at all (the final check finds out which, and counts those applied).
	left []model.Transfer
	// raw holds the ids of transfers sent with Go: never routed by shard.
	raw  map[uint64]bool
	hang sync.Once // Records the goroutines when the first call hangs.
	// completed counts the calls that completed, for the disruptor (read without mutex).
	completed atomic.Int64
}

type createdTransfer struct {
	transfer  model.Transfer
	timestamp uint64
}

func (m *pipelineModel) problem(format string, args ...any) {
	m.mutex.Lock()
	m.problems = append(m.problems, fmt.Sprintf(format, args...))
	m.mutex.Unlock()
}

// record takes in a completed call's events and results, checking each result's status.
func (m *pipelineModel) record(what string, events []pipelineEvent, results []model.EventResult) {
	m.completed.Add(1)
	m.mutex.Lock()
	defer m.mutex.Unlock()
	m.calls++
	m.events += len(events)
	if len(results) != len(events) {
		m.problems = append(m.problems, fmt.Sprintf("%s: %d results for %d events", what,
			len(results), len(events)))
		return
	}
	for i, event := range events {
		if results[i].Status != event.want {
			m.problems = append(m.problems, fmt.Sprintf("%s: event %d (id %d): %s, want %s",
				what, i, event.transfer.ID.Lo, results[i].Status, event.want))
			continue
		}
		switch {
		case event.want == model.StatusOK:
			m.created[event.transfer.ID] = createdTransfer{event.transfer, results[i].Timestamp}
			m.debits[event.transfer.DebitAccountID.Lo] += event.transfer.Amount.Lo
			m.credits[event.transfer.CreditAccountID.Lo] += event.transfer.Amount.Lo
		case event.want != model.StatusExists && event.transfer.ID.Lo != 0:
			m.failed = append(m.failed, event.transfer.ID)
		}
	}
}

// hung records, once, the goroutines' stacks: a call outlived the hang guard.
func (m *pipelineModel) hung() {
	m.hang.Do(func() {
		buffer := make([]byte, 4<<20)
		m.problem("a call outlived the hang guard; goroutines:\n%s",
			buffer[:runtime.Stack(buffer, true)])
	})
}

// refusedAtOnce takes in a call that failed with err and reports whether err is a
// refusal that applied nothing (shutting_down: the server was stopping; the client
// leaves it to the caller, PROTOCOL.md §6); its transfers must then never be found.
// Any other error is a problem.
func (m *pipelineModel) refusedAtOnce(what string, events []pipelineEvent, err error) {
	var refusal *StatusError
	if !errors.As(err, &refusal) || refusal.Status != model.StatusShuttingDown {
		m.problem("%s: %v", what, err)
		return
	}
	m.completed.Add(1)
	m.mutex.Lock()
	defer m.mutex.Unlock()
	m.calls++
	m.refused++
	for _, event := range events {
		if event.want != model.StatusExists && event.transfer.ID.Lo != 0 {
			m.failed = append(m.failed, event.transfer.ID)
		}
	}
}

// large sends, once, a batch of more transfers than one request carries, with balances,
// from an account of its own, with a linked chain across the request limit (kept whole
// in the second request). Its requests must apply in the batch's order: each result's
// debits posted is the sum of the amounts up to it.
func (p *pipelineCaller) large(ctx context.Context) {
	shard := int(p.index) % p.layout.shards
	debit := p.layout.id(shard, pipelineLargeBase+p.index)
	events := make([]pipelineEvent, model.EventsPerRequestMax+1+p.random.IntN(20))
	for i := range events {
		p.nextID++
		events[i] = pipelineEvent{transfer: transfer(p.index<<32|p.nextID, debit,
			p.layout.id(shard, 1+uint64(p.random.IntN(pipelineShared))),
			1+uint64(p.random.IntN(pipelineAmountMax)), 0), want: model.StatusOK}
	}
	for i := model.EventsPerRequestMax - 2; i < model.EventsPerRequestMax; i++ {
		events[i].transfer.Flags = model.TransferLinked
	}
	what := fmt.Sprintf("caller %d, large batch of %d", p.index, len(events))
	results, err := p.c.CreateTransfersWithBalances(ctx, transfersOf(events))
	if err != nil {
		var refusal *StatusError
		if !errors.As(err, &refusal) || refusal.Status != model.StatusShuttingDown {
			p.model.problem("%s: %v", what, err)
		}
		p.model.mutex.Lock()
		p.model.unknown[debit] = true
		p.model.mutex.Unlock()
		return
	}
	var debited uint64
	plain := make([]model.EventResult, len(results))
	for i := range results {
		plain[i] = results[i].EventResult
		debited += events[i].transfer.Amount.Lo
		if results[i].Status == model.StatusOK &&
			results[i].DebitAccount.DebitsPosted != model.U128(debited) {
			p.model.problem("%s: event %d shows debits posted %v, want %d", what, i,
				results[i].DebitAccount.DebitsPosted, debited)
			break
		}
	}
	p.model.record(what, events, plain)
}

// pipelineCaller is one goroutine's workload and its own sequential view of the model.
type pipelineCaller struct {
	index     uint64
	c         *Client
	model     *pipelineModel
	layout    pipelineLayout
	random    *rand.Rand
	nextID    uint64
	debited   map[uint64]uint64 // Posted debits of the waited accounts, as the model has them.
	retryable [][]pipelineEvent // Completed unlinked waited calls, to send again.
	seen      []model.Uint128   // Ids created by its completed calls.
	async     []asyncCall
}

type asyncCall struct {
	call   *Call
	done   chan *Call
	events []pipelineEvent
}

// events draws a waited or Go call's transfers: 1 to 4 debiting the caller's account
// at offset (of any shard; a call with linked chains keeps to one shard, debit and
// credit), each invalid with some chance (debit = credit, an unknown credit account, or
// id 0), linked chains when linkable (closed or, rarely, open at the call's end: those
// hold only valid transfers), and the statuses the ledger answers, which depend on no
// other call.
func (p *pipelineCaller) events(offset uint64, linkable bool) []pipelineEvent {
	count := 1 + p.random.IntN(4)
	events := make([]pipelineEvent, count)
	chained := linkable && p.random.IntN(3) == 0
	openChain := chained && p.random.IntN(4) == 0
	callShard := p.random.IntN(p.layout.shards)
	for i := range events {
		p.nextID++
		debitShard, creditShard := callShard, callShard
		if !chained {
			debitShard, creditShard = p.random.IntN(p.layout.shards), p.random.IntN(p.layout.shards)
		}
		t := transfer(p.index<<32|p.nextID, p.layout.id(debitShard, offset+p.index),
			p.layout.id(creditShard, 1+uint64(p.random.IntN(pipelineShared))),
			1+uint64(p.random.IntN(pipelineAmountMax)), 0)
		events[i] = pipelineEvent{transfer: t, want: model.StatusOK}
		if chained && (openChain || (i+1 < count && p.random.IntN(2) == 0)) {
			events[i].transfer.Flags = model.TransferLinked
		}
		if openChain {
			continue
		}
		switch p.random.IntN(10) {
		case 0:
			events[i].transfer.CreditAccountID = events[i].transfer.DebitAccountID
			events[i].want = model.StatusAccountsMustBeDifferent
		case 1:
			events[i].transfer.CreditAccountID = model.U128(p.layout.id(creditShard,
				pipelineUnknown))
			events[i].want = model.StatusCreditAccountNotFound
		case 2:
			events[i].transfer.ID = model.U128(0)
			events[i].want = model.StatusIDMustNotBeZero
		}
	}
	applyChains(events)
	return events
}

// applyChains turns the statuses of events drawn alone into those of their linked
// chains: in a closed chain with a failing event, the first failure keeps its status and
// every other event fails with linked_event_failed; an open chain at the end fails
// whole, its last event with linked_event_chain_open.
func applyChains(events []pipelineEvent) {
	for start := 0; start < len(events); {
		end := start
		for end < len(events)-1 && events[end].transfer.Flags&model.TransferLinked != 0 {
			end++
		}
		open := events[end].transfer.Flags&model.TransferLinked != 0
		failure := -1
		for i := start; i <= end && failure < 0; i++ {
			if events[i].want != model.StatusOK {
				failure = i
			}
		}
		for i := start; i <= end; i++ {
			switch {
			case open && i == end:
				events[i].want = model.StatusLinkedEventChainOpen
			case open || (failure >= 0 && i != failure):
				events[i].want = model.StatusLinkedEventFailed
			}
		}
		start = end + 1
	}
}

func transfersOf(events []pipelineEvent) []model.Transfer {
	transfers := make([]model.Transfer, len(events))
	for i := range events {
		transfers[i] = events[i].transfer
	}
	return transfers
}

func linked(events []pipelineEvent) bool {
	return slices.ContainsFunc(events, func(e pipelineEvent) bool {
		return e.transfer.Flags&model.TransferLinked != 0
	})
}

// run makes the caller's calls, one kind drawn at a time, each under the hang guard: a
// call that has not completed within a minute fails with its context, and the model
// records where every goroutine was then.
func (p *pipelineCaller) run(calls int) {
	for call := range calls {
		ctx, stop := context.WithTimeout(context.Background(), waitLimit)
		p.one(ctx, call == calls/2)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			p.model.hung()
		}
		stop()
	}
	for len(p.async) > 0 {
		ctx, stop := context.WithTimeout(context.Background(), waitLimit)
		p.collect(ctx)
		stop()
	}
}

// one makes one call of a kind drawn at random (the first caller's large batch when
// large is set).
func (p *pipelineCaller) one(ctx context.Context, large bool) {
	if p.index == 1 && large {
		p.large(ctx)
		return
	}
	switch roll := p.random.IntN(100); {
	case roll < 35:
		p.waited(ctx, p.events(pipelineWaitedBase, true), false)
	case roll < 55:
		p.waited(ctx, p.events(pipelineWaitedBase, true), true)
	case roll < 70:
		p.goCall(ctx)
	case roll < 75:
		p.leave(ctx)
	case roll < 88 && len(p.retryable) > 0:
		p.retry(ctx)
	default:
		p.lookBack(ctx)
	}
}

// waited sends events with CreateTransfers (or CreateTransfersWithBalances) and checks
// the results against the model; with balances, each created transfer's result must show
// the caller's waited account debited by exactly what the model has so far.
func (p *pipelineCaller) waited(ctx context.Context, events []pipelineEvent, balances bool) {
	what := fmt.Sprintf("caller %d, CreateTransfers of %d", p.index, events[0].transfer.ID.Lo)
	var results []model.EventResult
	if balances {
		withBalances, err := p.c.CreateTransfersWithBalances(ctx, transfersOf(events))
		if err != nil {
			p.model.refusedAtOnce(what+" with balances", events, err)
			return
		}
		sagas := map[uint64]uint64{} // Posted debits of this call still reserved per account.
		for i := range withBalances {
			results = append(results, withBalances[i].EventResult)
			if withBalances[i].Status != model.StatusOK || events[i].want != model.StatusOK {
				continue
			}
			debit := events[i].transfer.DebitAccountID.Lo
			p.debited[debit] += events[i].transfer.Amount.Lo
			if !p.layout.sameShard(&events[i].transfer) {
				// A cross-shard transfer is reserved (pending) when its debit shard applies
				// it and posted when the saga ends, after the request's other transfers
				// of that shard: its result shows the account then, and theirs show it
				// as pending, not posted.
				sagas[debit] += events[i].transfer.Amount.Lo
				continue
			}
			want := p.debited[debit] - sagas[debit]
			if posted := withBalances[i].DebitAccount.DebitsPosted; posted != model.U128(want) {
				p.model.problem("%s: event %d shows debits posted %v, want %d", what, i,
					posted, want)
			}
		}
	} else {
		var err error
		if results, err = p.c.CreateTransfers(ctx, transfersOf(events)); err != nil {
			p.model.refusedAtOnce(what, events, err)
			return
		}
		for i := range results {
			if results[i].Status == model.StatusOK && events[i].want == model.StatusOK {
				p.debited[events[i].transfer.DebitAccountID.Lo] += events[i].transfer.Amount.Lo
			}
		}
	}
	p.model.record(what, events, results)
	p.remember(events, results)
	if !linked(events) {
		p.retryable = append(p.retryable, events)
	}
}

func (p *pipelineCaller) remember(events []pipelineEvent, results []model.EventResult) {
	for i := range results {
		if i < len(events) && results[i].Status == model.StatusOK {
			p.seen = append(p.seen, events[i].transfer.ID)
		}
	}
}

// retry sends a completed call's transfers again, in a new request: what was created
// answers exists, an id that failed for lack of an account answers id_already_failed,
// and the other refusals answer as before. Nothing moves.
func (p *pipelineCaller) retry(ctx context.Context) {
	original := p.retryable[p.random.IntN(len(p.retryable))]
	events := slices.Clone(original)
	for i := range events {
		switch events[i].want {
		case model.StatusOK:
			events[i].want = model.StatusExists
		case model.StatusCreditAccountNotFound:
			events[i].want = model.StatusIDAlreadyFailed
		}
	}
	what := fmt.Sprintf("caller %d, retry of %d", p.index, events[0].transfer.ID.Lo)
	results, err := p.c.CreateTransfers(ctx, transfersOf(events))
	if err != nil {
		p.model.refusedAtOnce(what, events, err)
		return
	}
	p.model.record(what, events, results)
}

// leave sends valid unlinked transfers of the caller's account for such calls and stops
// waiting after a random short while (often before the request is sent, sometimes while
// it shares a merged request with other callers, sometimes after its reply): completed,
// it is checked like any call; abandoned, its outcome is unknown to the caller, and the
// final check requires each of its transfers applied once or not at all.
func (p *pipelineCaller) leave(ctx context.Context) {
	events := p.events(pipelineLeftBase, false)
	for i := range events {
		events[i].transfer.CreditAccountID = model.U128(p.layout.id(
			int(events[i].transfer.DebitAccountID.Lo/max(p.layout.stride, 1)), 1))
		events[i].want = model.StatusOK
		if events[i].transfer.ID.Lo == 0 {
			p.nextID++
			events[i].transfer.ID = model.U128(p.index<<32 | p.nextID)
		}
	}
	waiting, stop := context.WithTimeout(ctx,
		time.Duration(p.random.IntN(2000))*time.Microsecond)
	defer stop()
	what := fmt.Sprintf("caller %d, left CreateTransfers of %d", p.index,
		events[0].transfer.ID.Lo)
	results, err := p.c.CreateTransfers(waiting, transfersOf(events))
	switch {
	case err == nil:
		p.model.record(what, events, results)
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		p.model.completed.Add(1)
		p.model.mutex.Lock()
		p.model.calls++
		p.model.abandoned++
		p.model.left = append(p.model.left, transfersOf(events)...)
		p.model.mutex.Unlock()
	default:
		p.model.refusedAtOnce(what, events, err)
	}
}

// goCall sends unlinked transfers of the caller's async account with Go (never merged),
// keeping a few outstanding; the oldest is collected first when there are too many.
func (p *pipelineCaller) goCall(ctx context.Context) {
	if len(p.async) == pipelineAsyncPending {
		p.collect(ctx)
	}
	events := p.events(pipelineAsyncBase, false)
	p.model.mutex.Lock()
	for i := range events {
		p.model.raw[events[i].transfer.ID.Lo] = true
	}
	p.model.mutex.Unlock()
	done := make(chan *Call, 2) // Room for a second notification, were one sent.
	call := p.c.Go(ctx, model.OperationCreateTransfers, 0,
		encodeTransfers(transfersOf(events)), done)
	p.async = append(p.async, asyncCall{call: call, done: done, events: events})
}

// collect waits for the oldest Go call through its Done channel and checks it.
func (p *pipelineCaller) collect(ctx context.Context) {
	a := p.async[0]
	p.async = p.async[1:]
	what := fmt.Sprintf("caller %d, Go request %d (%d)", p.index, a.call.Number,
		a.events[0].transfer.ID.Lo)
	select {
	case completed := <-a.done:
		if completed != a.call {
			p.model.problem("%s: Done delivered another call", what)
			return
		}
	case <-ctx.Done():
		p.model.problem("%s: no completion (hang)", what)
		return
	}
	reply, err := a.call.Wait(ctx)
	if err != nil {
		p.model.refusedAtOnce(what, a.events, err)
		return
	}
	if len(a.done) != 0 {
		p.model.problem("%s: completed twice", what)
	}
	results := appendEventResults(nil, reply.Body)
	p.model.record(what, a.events, results)
	p.remember(a.events, results)
}

// lookBack looks up a few transfers the caller's completed calls created: a completed
// write is never lost, whatever restarts and failovers came after its reply.
func (p *pipelineCaller) lookBack(ctx context.Context) {
	if len(p.seen) == 0 {
		return
	}
	ids := make([]model.Uint128, 1+p.random.IntN(3))
	for i := range ids {
		ids[i] = p.seen[p.random.IntN(len(p.seen))]
	}
	found, err := p.c.LookupTransfers(ctx, ids)
	p.model.mutex.Lock()
	p.model.lookups++
	p.model.mutex.Unlock()
	var refusal *StatusError
	if errors.As(err, &refusal) && refusal.Status == model.StatusShuttingDown {
		return // Refused at once by a server stopping (PROTOCOL.md §6): nothing to check.
	}
	if err != nil {
		p.model.problem("caller %d lookup: %v", p.index, err)
		return
	}
	if len(found) != len(ids) {
		p.model.problem("caller %d: lookup of created %v found %d", p.index, ids, len(found))
	}
}

// pipelineDisruptions counts what the disruptor did.
type pipelineDisruptions struct {
	drops, stalls, restarts, stops, failovers int
}

// The heartbeat interval and silence timeout the restartable servers announce (the
// client takes them): short, so that a stalled connection is noticed within half a
// second rather than the default 15 s.
const (
	pipelineHeartbeat = 50 * time.Millisecond
	pipelineSilence   = 500 * time.Millisecond
)

// Calls that must complete after a disruption before the next one: without them,
// connections dropped every few milliseconds may never carry a large request whole (a
// 1 MiB frame through the proxy under -race), and each restart replays the whole log.
const (
	pipelineCallsBetweenDrops    = 1
	pipelineCallsBetweenRestarts = 20
)

// pipelineTarget is what the property runs against: the addresses the client dials, the
// proxies to drop connections at, and restart and failover when the server has them.
type pipelineTarget struct {
	layout    pipelineLayout
	addresses []string
	proxies   []*wireProxy
	restart   func() // Nil: no restarts.
	failover  func() // Nil: no failovers.
	// stop, when set, stops the primary gracefully (its server drains, then its node
	// closes) where restart kills it: half the restarts, chosen by random, are stops.
	stop      func()
	configure func(*Config)
	// odds are the percentages below which a disruption is a drop, a stall and a
	// restart (the rest: failovers); zero: pipelineOdds.
	odds [3]int
}

// pipelineOdds: mostly drops, which need no calls in between.
var pipelineOdds = [3]int{78, 82, 92}

// disrupt drops connections, restarts the primary and fails it over at random moments
// until stop is closed, each once enough calls completed since the previous one.
func disrupt(target *pipelineTarget, m *pipelineModel, random *rand.Rand,
	stop <-chan struct{}) pipelineDisruptions {
	var counts pipelineDisruptions
	last := m.completed.Load()
	odds := target.odds
	if odds == [3]int{} {
		odds = pipelineOdds
	}
	for {
		select {
		case <-stop:
			return counts
		case <-time.After(time.Duration(1+random.IntN(8)) * time.Millisecond):
		}
		progress := m.completed.Load() - last
		switch roll := random.IntN(100); {
		case progress < pipelineCallsBetweenDrops:
			continue
		case roll < odds[0] || target.restart == nil: // Stalls need the short silence timeout.
			if !target.proxies[random.IntN(len(target.proxies))].dropOne(random) {
				continue
			}
			counts.drops++
		case progress < pipelineCallsBetweenRestarts:
			continue
		case roll < odds[1]:
			if !target.proxies[random.IntN(len(target.proxies))].stallOne(random) {
				continue
			}
			counts.stalls++
		case roll < odds[2] && target.stop != nil && random.IntN(2) == 0:
			target.stop()
			counts.stops++
		case roll < odds[2]:
			target.restart()
			counts.restarts++
		default:
			target.failover()
			counts.failovers++
		}
		last = m.completed.Load()
	}
}

// TestPipelineProperty: goroutines call one client at once (waited CreateTransfers and
// CreateTransfersWithBalances of one to four transfers with linked chains and invalid
// events, sends of earlier calls again, Go calls kept outstanding, calls whose callers
// stop waiting, lookups, and one batch larger than a request), through a window of a
// few requests and reply bytes and merging of small requests, against a shard whose
// input ring of two requests answers busy at times, while connections are dropped or
// stalled, the server is restarted on its log and failed over to a node of the next
// epoch. Checked against a model of the calls (outcomes depend on no other call's
// transfers): every call completes once within its hang guard, with its own per-event
// statuses (an invalid event fails only itself and its own chain, a chain stays within
// its call), the debit balances the model predicts after each transfer (with balances;
// for the large batch, its requests apply in its order), each transfer applied exactly
// once (exists on a later send; an abandoned call's transfers once or not at all;
// lookups and final balances equal the model), and each connection carrying request
// numbers in increasing order (a number again only after a busy answer). Seeded
// (-pipeline.seed; the scheduling is not), the seed printed on failure.
func TestPipelineProperty(t *testing.T) {
	cluster := startPipelineCluster(t)
	target := &pipelineTarget{layout: pipelineLayout{shards: 1},
		addresses: cluster.addresses(), proxies: cluster.proxies[:],
		restart: cluster.restart, failover: cluster.failover}
	m := runPipelineProperty(t, target)
	reportPipelineProblems(t, m, proxiedBy(cluster.proxies[:]...))
}

// pipelineShards places ids of the routed property on three shards.
var pipelineShards = shardmap.ByRange(model.U128(0), model.U128(1<<20), model.U128(2<<20))

// TestPipelinePropertyRouteByShard is TestPipelineProperty against a node of three
// shards with Config.RouteByShard, through a proxy that drops connections (the node is
// not restarted): calls debit and credit accounts of any shard (a call with a linked
// chain keeps to one), so batches are cut by debit shard, merged per shard, and
// cross-shard transfers go through sagas. On top of the model's checks, every request
// of CreateTransfers without a linked event holds transfers of one debit shard (Go calls
// send their body as it is).
func TestPipelinePropertyRouteByShard(t *testing.T) {
	server := startShardedServerWith(t, pipelineShards)
	proxy := startWireProxy(t, newResendLog())
	proxy.setTarget(server.server.Address())
	target := &pipelineTarget{layout: pipelineLayout{shards: 3, stride: 1 << 20},
		addresses: []string{proxy.address()}, proxies: []*wireProxy{proxy},
		configure: func(config *Config) { config.RouteByShard = true }}
	m := runPipelineProperty(t, target)
	for _, request := range server.node.recorded(0) {
		var shards []uint16
		routed := true
		for offset := 0; offset+model.TransferSize <= len(request.Body); offset += model.TransferSize {
			var t model.Transfer
			t.Decode(request.Body[offset:])
			debit, _, _ := pipelineShards.TransferShards(&t)
			shards = append(shards, debit)
			routed = routed && t.Flags&model.TransferLinked == 0 && !m.raw[t.ID.Lo]
		}
		if routed && slices.ContainsFunc(shards, func(s uint16) bool { return s != shards[0] }) {
			m.problems = append(m.problems, fmt.Sprintf(
				"request %d of unlinked transfers mixes debit shards %v", request.Number, shards))
		}
	}
	reportPipelineProblems(t, m, proxiedBy(proxy))
}

// runPipelineProperty runs the callers against target (disrupting it meanwhile), checks
// the ledger against the model and returns the model with the problems found.
func runPipelineProperty(t *testing.T, target *pipelineTarget) *pipelineModel {
	seed := *pipelineSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	goroutines, calls := *pipelineGoroutines, *pipelineCalls
	if testing.Short() {
		calls = min(calls, 20)
	}
	random := rand.New(rand.NewPCG(seed, 0))
	window, windowBytes, coalesce := 1+random.IntN(4), 1024+random.IntN(4096), random.IntN(4)
	c := dialTestClient(t, target.addresses[0], func(config *Config) {
		config.Addresses = target.addresses
		config.InflightMax, config.InflightBytesMax = window, windowBytes
		config.CoalesceEventsMax = []int{0, -1, 3, 16}[coalesce]
		if target.configure != nil {
			target.configure(config)
		}
	})
	t.Logf("seed %d: %d goroutines x %d calls, window %d requests / %d bytes, merging %d",
		seed, goroutines, calls, window, windowBytes, c.config.CoalesceEventsMax)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d (rerun with -pipeline.seed=%d)", seed, seed)
		}
	})
	createPipelineAccounts(t, c, target.layout.accounts(goroutines))
	m := &pipelineModel{created: map[model.Uint128]createdTransfer{}, debits: map[uint64]uint64{},
		credits: map[uint64]uint64{}, unknown: map[uint64]bool{},
		raw: map[uint64]bool{}}

	stop := make(chan struct{})
	disrupted := make(chan pipelineDisruptions, 1)
	go func() { disrupted <- disrupt(target, m, rand.New(rand.NewPCG(seed, 1)), stop) }()
	started := time.Now()
	var group sync.WaitGroup
	for g := range uint64(goroutines) {
		caller := &pipelineCaller{index: g + 1, c: c, model: m, layout: target.layout,
			random: rand.New(rand.NewPCG(seed, g+2)), debited: map[uint64]uint64{}}
		group.Go(func() { caller.run(calls) })
	}
	group.Wait() // Each call is bounded by its hang guard.
	close(stop)
	counts := <-disrupted
	elapsed := time.Since(started)

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	checkPipelineLedger(ctx, t, c, m, target.layout, goroutines)
	t.Logf("%d calls (%d refused shutting_down, %d abandoned), %d events, %d lookups, %d "+
		"requests in %s; %d drops, %d stalls, %d restarts, %d graceful stops, %d failovers",
		m.calls, m.refused,
		m.abandoned, m.events, m.lookups, c.NextNumber()-1, elapsed.Round(time.Millisecond),
		counts.drops, counts.stalls, counts.restarts, counts.stops, counts.failovers)
	return m
}

// reportPipelineProblems fails the test with the model's and the proxies' problems.
func reportPipelineProblems(t *testing.T, m *pipelineModel, seen proxied) {
	t.Logf("%d connections, %d replies resent (busy)", seen.connections, seen.resends)
	problems := append(m.problems, seen.problems...)
	for i, problem := range problems {
		if i == 20 {
			t.Errorf("... and %d more", len(problems)-i)
			break
		}
		t.Error(problem)
	}
}

// createPipelineAccounts creates the accounts of ids.
func createPipelineAccounts(t *testing.T, c *Client, ids []model.Uint128) {
	accounts := make([]model.Account, len(ids))
	for i, id := range ids {
		accounts[i] = model.Account{ID: id, Ledger: 1, Code: 1}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	results, err := c.CreateAccounts(ctx, accounts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range results {
		if results[i].Status != model.StatusOK {
			t.Fatalf("account %d: %s", accounts[i].ID.Lo, results[i].Status)
		}
	}
}

// checkPipelineLedger compares the server's ledger with the model: every created
// transfer is there as sent, with its result's timestamp; no failed id is; every
// account's posted balances are the model's sums.
func checkPipelineLedger(ctx context.Context, t *testing.T, c *Client, m *pipelineModel,
	layout pipelineLayout, goroutines int) {
	checkLeftTransfers(ctx, t, c, m)
	ids := make([]model.Uint128, 0, len(m.created))
	for id := range m.created {
		ids = append(ids, id)
	}
	found, err := c.LookupTransfers(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != len(ids) {
		m.problems = append(m.problems, fmt.Sprintf("%d of %d created transfers found",
			len(found), len(ids)))
	}
	for _, got := range found {
		want := m.created[got.ID]
		stored := got
		stored.Timestamp = 0
		if stored != want.transfer || got.Timestamp != want.timestamp {
			m.problems = append(m.problems, fmt.Sprintf("transfer %d: %+v, want %+v at %d",
				got.ID.Lo, got, want.transfer, want.timestamp))
		}
	}
	if failed, err := c.LookupTransfers(ctx, m.failed); err != nil || len(failed) != 0 {
		m.problems = append(m.problems, fmt.Sprintf("%d failed ids found (%v)", len(failed), err))
	}
	accountIDs := layout.accounts(goroutines)
	accounts, err := c.LookupAccounts(ctx, accountIDs)
	if err != nil || len(accounts) != len(accountIDs) {
		t.Fatalf("%d of %d accounts: %v", len(accounts), len(accountIDs), err)
	}
	for _, account := range accounts {
		id := account.ID.Lo
		if m.unknown[id] || (layout.shared(id) && len(m.unknown) > 0) {
			continue // A batch whose outcome is partly unknown moved money here.
		}
		if account.DebitsPosted != model.U128(m.debits[id]) ||
			account.CreditsPosted != model.U128(m.credits[id]) {
			m.problems = append(m.problems, fmt.Sprintf(
				"account %d: debits %v credits %v posted, want %d and %d", id,
				account.DebitsPosted, account.CreditsPosted, m.debits[id], m.credits[id]))
		}
	}
}

// checkLeftTransfers looks up the transfers of abandoned calls: each found must be as
// sent (applied once, as a whole request or not at all: its balances then count in the
// model); one not found was never applied.
func checkLeftTransfers(ctx context.Context, t *testing.T, c *Client, m *pipelineModel) {
	ids := make([]model.Uint128, len(m.left))
	sent := make(map[model.Uint128]model.Transfer, len(m.left))
	for i, transfer := range m.left {
		ids[i] = transfer.ID
		sent[transfer.ID] = transfer
	}
	found, err := c.LookupTransfers(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range found {
		want := sent[got.ID]
		stored := got
		stored.Timestamp = 0
		if stored != want {
			m.problems = append(m.problems, fmt.Sprintf("left transfer %d: %+v, want %+v",
				got.ID.Lo, got, want))
			continue
		}
		m.debits[want.DebitAccountID.Lo] += want.Amount.Lo
		m.credits[want.CreditAccountID.Lo] += want.Amount.Lo
	}
}
