package router

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/saga"
	"sequent/core/shardmap"
)

// ClientConnectionLimit bounds the connection ids of client requests
// (backend.ClientConnectionLimit); the router's own requests (parts, saga lookups, outbox
// polls) use the ids above it.
const ClientConnectionLimit = backend.ClientConnectionLimit

// Defaults (nanoseconds).
const (
	// SagaResendAfterDefault: a running saga's Credit is sent again when it was not sent
	// for this long, and a request waiting for a saga's result asks for it again.
	SagaResendAfterDefault = 200_000_000
	// SagaTimeoutDefault: a saga running this long asks its credit shard to refuse,
	// counted from the later of its step 1 and the first answer to its debit shard's
	// outbox poll (a restart or a promotion builds a new router), so the time the node
	// was down, or waited for its standby, does not count.
	SagaTimeoutDefault = 10_000_000_000
	// OutboxIntervalDefault: how often each shard is asked for its running sagas.
	OutboxIntervalDefault = 100_000_000
)

// Shards is what the router needs from the node's shards. Neither call blocks: a shard
// answers at once with ok (queued; the reply comes through Deliver) or a refusal.
type Shards interface {
	Submit(shard uint16, request *backend.Request) model.Status
	SubmitInternal(shard uint16, request *backend.Request) model.Status
}

// Transport carries saga messages to the routers of their destination shards. It may
// deliver them late, more than once, out of order or never: a debit shard's saga sends
// its Credit again until the saga is final. The router never holds its lock while
// calling Send, so an in-process transport may call Receive from within Send.
type Transport interface {
	Send(messages []saga.Message)
}

// Config assembles a Router. Map, Shards, Transport and Replier are required.
type Config struct {
	Map       *shardmap.Map
	Shards    Shards
	Transport Transport
	Replier   backend.Replier // Receives the replies to client requests.
	// Wake, when set, is called when replies wait for Flush (requests the router answered
	// within Submit, which must not call the Replier from the caller's goroutine).
	Wake            func()
	SagaResendAfter uint64 // Nanoseconds; 0 = SagaResendAfterDefault.
	SagaTimeout     uint64 // Nanoseconds; 0 = SagaTimeoutDefault.
	OutboxInterval  uint64 // Nanoseconds; 0 = OutboxIntervalDefault.
	// SagaTimeoutFromStep1: a saga's SagaTimeout counts from its step 1 alone, not from
	// the later of step 1 and when this router began to serve (poll.servingSince). Set
	// for a node that started as a standby (and serves once promoted): its logs may lack
	// entries its former primary released, such as a credit shard's abort answered
	// saga_timed_out and the debit shard's void (what an async or degraded standby
	// trails by), and only a router that aborts every saga whose step 1 is SagaTimeout
	// old answers such a saga saga_timed_out again. A node that started from its own
	// logs released nothing they lack, so it gives the sagas it found running the whole
	// timeout again.
	SagaTimeoutFromStep1 bool
}

// Router splits, merges and drives sagas. See the package doc. Safe for concurrent use.
type Router struct {
	config Config
	mutex  sync.Mutex
	now    uint64 // Last Tick.
	next   uint64 // Next router connection id.

	pending   map[uint64]pendingEntry // Router connection id → what waits for its reply.
	busy      []*part                 // Parts refused busy after an earlier part was queued.
	held      map[heldKey]int         // The writes' parts in busy, per session and shard.
	holding   atomic.Int64            // The sum of held: read without the lock.
	waits     map[sagaKey]*sagaWait   // Sagas whose results requests wait for.
	waitOrder []sagaKey               // The keys of waits, in the order they were made.
	polls     []poll                  // Per shard: its outbox poll.
	// sent[shard][sequence] is when the Credit of debit shard's running saga sequence was
	// last sent. A map per shard, keyed by the sequence alone: the runtime's 64-bit key
	// path saves ~150 instructions per saga (insert and delete) over a struct key's
	// hashing and copies (callgrind, BenchmarkReleasedCredits).
	sent      []map[uint64]uint64
	forgotten [][]uint64 // [debit][credit]: the watermark last sent.

	// Effects, carried out after unlocking.
	outgoing []saga.Message
	replies  []backend.Reply
	deferred []backend.Reply // Answered within Submit: delivered by Flush.
}

type pendingKind uint8

const (
	pendingPart pendingKind = iota + 1
	pendingLookup
	pendingPoll
)

type pendingEntry struct {
	kind  pendingKind
	shard uint16
	part  *part           // pendingPart.
	ids   []model.Uint128 // pendingLookup.
}

type sagaKey struct {
	shard uint16 // The debit shard.
	id    model.Uint128
}

// heldKey names a session's parts for one shard (Router.held).
type heldKey struct {
	client  uint64
	session uint64
	shard   uint16
}

type waiter struct {
	request *request
	event   int32
	retry   bool // The provisional result was saga_in_flight_retry.
}

type sagaWait struct {
	waiters  []waiter
	lookedUp uint64 // When its result was last asked for (or the wait began).
}

type poll struct {
	inFlight bool
	last     uint64
	// servingSince is when this router first had an answer to this shard's outbox poll:
	// when the shard released again after the node's start (a sync primary releases
	// nothing, its polls included, until its standby has caught up). A saga that a
	// restart interrupted has its SagaTimeout from then, not from its step 1
	// (pollAnswered): the time the node was down, or waited for its standby, is the
	// operator's, and the timeout is for a credit shard that does not answer while the
	// node serves. It stays 0 when Config.SagaTimeoutFromStep1 is set (a promoted
	// standby, which may lack an abort already answered: its sagas count from step 1).
	servingSince uint64
	answered     bool // An outbox poll was answered: servingSince is set.
}

// request is a client request split into parts.
type request struct {
	reply       backend.Reply // Header of the merged reply (no body yet).
	flags       uint8
	kind        requestKind
	resultSize  int    // kindPerEvent: bytes per result.
	results     []byte // kindPerEvent: the merged results.
	keys        []byte // kindLookup: the request body (each event starts with its key).
	eventSize   int
	keySize     int
	parts       []*part
	outstanding int  // Parts not answered yet.
	waiting     int  // Events waiting for a saga's result.
	write       bool // The operation is a write (applied, logged).
	failed      bool // A part was refused or its outcome is unknown (mergedStatus).
	done        bool
}

type part struct {
	request    *request
	shard      uint16
	events     []int32 // kindPerEvent: original indexes of the part's events.
	body       []byte  // The part's request body.
	connection uint64
	reply      []byte // kindLookup, kindQuery: the part's reply body.
	status     model.Status
	answered   bool
}

// New returns a router.
func New(config Config) (*Router, error) {
	switch {
	case config.Map == nil || config.Shards == nil || config.Transport == nil ||
		config.Replier == nil:
		return nil, errors.New("router: Map, Shards, Transport and Replier are required")
	case config.Map.Validate() != nil:
		return nil, config.Map.Validate()
	}
	if config.SagaResendAfter == 0 {
		config.SagaResendAfter = SagaResendAfterDefault
	}
	if config.SagaTimeout == 0 {
		config.SagaTimeout = SagaTimeoutDefault
	}
	if config.OutboxInterval == 0 {
		config.OutboxInterval = OutboxIntervalDefault
	}
	shards := int(config.Map.Shards)
	r := &Router{config: config, next: ClientConnectionLimit, pending: map[uint64]pendingEntry{},
		held: map[heldKey]int{}, waits: map[sagaKey]*sagaWait{}, polls: make([]poll, shards),
		sent: make([]map[uint64]uint64, shards), forgotten: make([][]uint64, shards)}
	for i := range r.forgotten {
		r.sent[i] = map[uint64]uint64{}
		r.forgotten[i] = make([]uint64, shards)
	}
	return r, nil
}

// Submit takes a client request (backend.Submitter semantics: never blocks; ok means its
// reply will come through the Replier). A request for one shard without a cross-shard
// transfer goes through unchanged; any other is split.
func (r *Router) Submit(request *backend.Request) model.Status {
	if request.Connection == 0 || request.Connection >= ClientConnectionLimit {
		return model.StatusInternalError // A network layer bug: the reply could not be routed.
	}
	if r.config.Map.Shards == 1 {
		return r.config.Shards.Submit(0, request)
	}
	info, _ := request.Operation.Info()
	if status := core.CheckShape(request.Operation, request.Flags, request.Body, false); status != model.StatusOK {
		return status
	}
	if request.Number == 0 && info.Write {
		return model.StatusInvalidBody
	}
	p := split(r.config.Map, request.Operation, request.Body)
	if p.passThrough {
		if info.Write && r.holding.Load() > 0 && r.behindHeld(request, p.shard) {
			return model.StatusBusy // Nothing was queued (see held).
		}
		return r.config.Shards.Submit(p.shard, request)
	}
	r.mutex.Lock()
	status := r.start(request, &p, info)
	wake := len(r.deferred) > 0
	r.mutex.Unlock()
	if wake && r.config.Wake != nil {
		r.config.Wake()
	}
	return status
}

// start builds a split request and submits its parts in order. If the first part is
// refused nothing was queued and the refusal is the answer; a later refusal (busy) is
// retried at each Tick, because part of the request is already on its way.
func (r *Router) start(client *backend.Request, p *plan, info model.OperationInfo) model.Status {
	req := &request{reply: backend.Reply{Connection: client.Connection, Client: client.Client,
		Session: client.Session, Number: client.Number, Operation: client.Operation,
		Duplicate: true}, flags: client.Flags, kind: p.kind, eventSize: info.EventSize,
		write: info.Write}
	events := len(client.Body) / info.EventSize
	switch req.kind {
	case kindPerEvent:
		req.resultSize = info.ResultSize
		if info.BalancesResult && client.Flags&core.RequestFlagReplyBalances != 0 {
			req.resultSize = model.EventResultBalancesSize
		}
		req.results = make([]byte, events*req.resultSize)
		for _, refused := range p.refused {
			encodeRefusal(client.Operation, req.results[int(refused.event)*req.resultSize:][:req.resultSize],
				refused.status)
		}
	case kindLookup:
		req.keys = slices.Clone(client.Body)
		req.keySize = keySize(client.Operation)
	}
	for i := range p.parts {
		planned := &p.parts[i]
		pt := &part{request: req, shard: planned.shard, events: planned.events}
		if req.kind == kindPerEvent {
			pt.body = make([]byte, 0, len(planned.events)*info.EventSize)
			for _, event := range planned.events {
				pt.body = append(pt.body, client.Body[int(event)*info.EventSize:][:info.EventSize]...)
			}
		} else {
			pt.body = slices.Clone(client.Body)
		}
		req.parts = append(req.parts, pt)
	}
	req.outstanding = len(req.parts)
	if len(req.parts) == 0 {
		if req.kind != kindPerEvent && len(p.refused) > 0 {
			// A lookup or query every event of which the node refused (lookup_orders, or
			// get_account_orders of every instrument, with instruments on several shards:
			// instrument_shard_unknown) has no results to carry a per-event status: the
			// refusal is the request's status. chooseQuery, which takes a shard's answer,
			// panicked on a query with no part.
			req.reply.Status = p.refused[0].status
		}
		r.finish(req)
		r.deferred, r.replies = append(r.deferred, r.replies...), r.replies[:0]
		return model.StatusOK
	}
	for i, pt := range req.parts {
		status := model.StatusBusy // Behind a held part of its session (see held).
		if !req.write || r.held[pt.heldKey()] == 0 {
			status = r.submitPart(pt)
		}
		switch {
		case status == model.StatusOK:
		case i == 0:
			return status // Nothing was queued.
		case status == model.StatusBusy:
			r.hold(pt)
		default:
			r.partAnswered(pt, status, false, 0, nil)
		}
	}
	r.deferred, r.replies = append(r.deferred, r.replies...), r.replies[:0]
	return model.StatusOK
}

// A part refused busy after an earlier part of its request was queued is held and
// resubmitted at each Tick (retryBusy). Until it is queued, every later write of its
// session with events on its shard waits behind it: refused busy at once when nothing of
// it was queued yet (a pass-through, or its first part), its part held behind otherwise,
// and resubmitted in order. So a session's writes apply on each shard in the order the
// node accepted them, and only the client's resends (after a refusal or a reconnect) are
// applied after later writes, as PROTOCOL.md §7's rule for counting the replies a shard
// caches assumes: a held part applied after a later request of its session, a request
// the client never saw refused, put its reply in that shard's cache after the later
// one's, uncounted, and could push the later one's reply out before the client could
// resend it (TestHeldPartKeepsTheSessionOrderOnItsShard, TestSessionOrderPerShard).

// heldKey returns the key of a part's session and shard.
func (pt *part) heldKey() heldKey {
	return heldKey{client: pt.request.reply.Client, session: pt.request.reply.Session,
		shard: pt.shard}
}

// hold puts a part refused busy (or behind a held one) into busy.
func (r *Router) hold(pt *part) {
	r.busy = append(r.busy, pt)
	if pt.request.write {
		r.held[pt.heldKey()]++
		r.holding.Add(1)
	}
}

// unhold takes the bookkeeping of a part out of busy as it leaves busy (retryBusy).
func (r *Router) unhold(pt *part) {
	if !pt.request.write {
		return
	}
	key := pt.heldKey()
	if r.held[key]--; r.held[key] == 0 {
		delete(r.held, key)
	}
	r.holding.Add(-1)
}

// behindHeld reports whether a write of request's session for shard must wait behind a
// held part.
func (r *Router) behindHeld(request *backend.Request, shard uint16) bool {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	return r.held[heldKey{client: request.Client, session: request.Session, shard: shard}] > 0
}

// keySize is the size of the key that leads both the events and the found records of a
// lookup.
func keySize(operation model.Operation) int {
	switch operation {
	case model.OperationLookupInstruments:
		return 4
	case model.OperationLookupOrders:
		return model.OrderIDSize
	}
	return model.IDSize
}

// submitPart queues one part under a fresh router connection id.
func (r *Router) submitPart(pt *part) model.Status {
	req := pt.request
	pt.connection = r.nextConnection()
	status := r.config.Shards.Submit(pt.shard, &backend.Request{Connection: pt.connection,
		Client: req.reply.Client, Session: req.reply.Session, Number: req.reply.Number,
		Operation: req.reply.Operation, Flags: req.flags, Body: pt.body})
	if status == model.StatusOK {
		r.pending[pt.connection] = pendingEntry{kind: pendingPart, shard: pt.shard, part: pt}
	}
	return status
}

func (r *Router) nextConnection() uint64 {
	r.next++
	return r.next
}

// Deliver takes a shard's released replies (the shard's Replier calls it, in release
// order). Replies to pass-through requests go on to the client at once, without the lock.
func (r *Router) Deliver(shardIndex uint16, replies []backend.Reply) {
	own := 0
	for i := range replies {
		if replies[i].Connection >= ClientConnectionLimit {
			own++
		}
	}
	if own == 0 {
		r.config.Replier.Deliver(replies)
		return
	}
	clients := make([]backend.Reply, 0, len(replies)-own)
	r.mutex.Lock()
	for i := range replies {
		reply := &replies[i]
		if reply.Connection < ClientConnectionLimit {
			clients = append(clients, *reply)
			continue
		}
		r.routerReply(shardIndex, reply)
	}
	outgoing, merged := r.takeEffects()
	r.mutex.Unlock()
	if len(clients) > 0 {
		r.config.Replier.Deliver(clients)
	}
	r.perform(outgoing, merged)
}

// routerReply handles the reply to one of the router's own requests.
func (r *Router) routerReply(shardIndex uint16, reply *backend.Reply) {
	entry, ok := r.pending[reply.Connection]
	if !ok {
		return
	}
	delete(r.pending, reply.Connection)
	switch entry.kind {
	case pendingPart:
		r.partAnswered(entry.part, reply.Status, reply.Duplicate, reply.Op, reply.Body)
	case pendingLookup:
		r.lookupAnswered(shardIndex, entry.ids, reply)
	case pendingPoll:
		r.pollAnswered(shardIndex, reply)
	}
}

// takeEffects hands over the effects gathered under the lock.
func (r *Router) takeEffects() ([]saga.Message, []backend.Reply) {
	outgoing, replies := r.outgoing, r.replies
	r.outgoing, r.replies = nil, nil
	return outgoing, replies
}

// perform carries out effects; never under the lock.
func (r *Router) perform(outgoing []saga.Message, replies []backend.Reply) {
	if len(replies) > 0 {
		r.config.Replier.Deliver(replies)
	}
	if len(outgoing) > 0 {
		r.config.Transport.Send(outgoing)
	}
}

// Flush delivers the replies the router made within Submit (see Config.Wake).
func (r *Router) Flush() {
	r.mutex.Lock()
	deferred := r.deferred
	r.deferred = nil
	r.mutex.Unlock()
	r.perform(nil, deferred)
}

// Released takes the saga messages of a shard's released output (after Deliver of the
// same output).
func (r *Router) Released(shardIndex uint16, messages []saga.Message) {
	if len(messages) == 0 {
		return
	}
	r.mutex.Lock()
	// Room for every message sent on, made once: appended one at a time to the list that
	// takeEffects empties, the ~600-byte messages of an entry of 1,000 transfers were
	// copied again at each of ~10 reallocations.
	sent := 0
	for i := range messages {
		if kind := messages[i].Kind; kind == saga.MessageCredit || kind == saga.MessageDecision {
			sent++
		}
	}
	r.outgoing = slices.Grow(r.outgoing, sent)
	for i := range messages {
		message := &messages[i]
		switch message.Kind {
		case saga.MessageCredit:
			r.sent[shardIndex][message.Credit.Sequence] = r.now
			r.outgoing = append(r.outgoing, *message)
		case saga.MessageDecision:
			r.outgoing = append(r.outgoing, *message)
		case saga.MessageFinished:
			delete(r.sent[shardIndex], message.Finished.Sequence)
			r.resolve(shardIndex, message.Finished.ID, &message.Finished.Result)
		}
	}
	outgoing, replies := r.takeEffects()
	r.mutex.Unlock()
	r.perform(outgoing, replies)
}

// Abandon answers every request still open (parts outstanding, or waiting for a saga),
// when the node stops, without a body: a write outcome_unknown (its parts may be applied,
// now or at the restart), a read shutting_down. The client retries; exactly-once makes
// that safe. Later replies to these requests are ignored.
func (r *Router) Abandon() {
	r.mutex.Lock()
	var open []*request
	for _, entry := range r.pending {
		if entry.kind == pendingPart {
			open = append(open, entry.part.request)
		}
	}
	for _, key := range r.waitOrder {
		if w := r.waits[key]; w != nil {
			for _, waiter := range w.waiters {
				open = append(open, waiter.request)
			}
		}
	}
	for _, pt := range r.busy {
		open = append(open, pt.request)
	}
	for _, req := range open {
		if !req.done {
			req.failed = true
			r.finish(req)
		}
	}
	outgoing, replies := r.takeEffects()
	r.mutex.Unlock()
	r.perform(outgoing, replies)
}

// ShardRestarted tells the router that a shard lost what it had not released (a crash
// and recovery, in tests and in a future with shards on several machines): its
// outstanding parts are answered outcome_unknown (the client retries), and its outbox and
// saga results are asked for again.
//
// Nothing in a node calls it, on purpose: the shards of a node live in its process and
// never restart in it. A shard answers every request it accepted exactly once, a failed
// log included (core/shard's doc.go, "Every accepted request is answered once"), and a
// node restarts whole, its router with it, so no part is left waiting on a shard that
// forgot it. The simulation (sim_test.go) crashes one shard under a running router with
// it, which is the case it is kept for; it is not removed so that shards on several
// machines start from a tested hook.
func (r *Router) ShardRestarted(shardIndex uint16) {
	r.mutex.Lock()
	var lost []uint64
	for connection, entry := range r.pending {
		if entry.shard == shardIndex {
			lost = append(lost, connection)
		}
	}
	slices.Sort(lost) // Ids follow submission order; the map's order must not show.
	for _, connection := range lost {
		entry := r.pending[connection]
		delete(r.pending, connection)
		if entry.kind == pendingPart {
			r.partAnswered(entry.part, model.StatusOutcomeUnknown, false, 0, nil)
		}
	}
	r.polls[shardIndex] = poll{}
	for _, key := range r.waitOrder {
		if w := r.waits[key]; w != nil && key.shard == shardIndex {
			w.lookedUp = 0
		}
	}
	outgoing, replies := r.takeEffects()
	r.mutex.Unlock()
	r.perform(outgoing, replies)
}
