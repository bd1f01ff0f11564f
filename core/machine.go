package core

import (
	"fmt"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"

	"sequent/core/event"
	"sequent/core/ledger"
	"sequent/core/match"
	"sequent/core/model"
	"sequent/core/saga"
	"sequent/core/shardmap"
)

// Config sizes a Machine. The zero value works.
type Config struct {
	Ledger               ledger.Config
	Match                match.Config
	SessionsMax          int // Session table size; 0 = SessionsMaxDefault.
	SessionReplyBytesMax int // Cached reply bytes per session; at least (and 0 =) the default.
	Shard                ShardConfig
	// RulesVersion is the rules version of a machine New builds (doc.go, "Rules version");
	// 0 means RulesVersionFirst, the version every log starts at, which is what a replay
	// from op 1 (shard.Recover, the replay tools) must build. A later one suits only state
	// built without a log that anything will replay from op 1 under another configuration:
	// tests and benchmarks of what the rules do not decide, which then need no
	// upgrade_rules entry. Restore ignores it: a snapshot says its version.
	RulesVersion uint32
}

// ShardConfig places a machine in a sharded node. The zero value is an unsharded
// machine (shardmap.Single()).
type ShardConfig struct {
	Map   *shardmap.Map // The node's shard map; nil: one shard.
	Index uint16        // This machine's shard.
}

func (c Config) withDefaults() Config {
	if c.SessionsMax <= 0 {
		c.SessionsMax = SessionsMaxDefault
	}
	// Never below the default: clients keep the replies they may resend within it
	// (PROTOCOL.md §7; the handshake does not tell them the size), and a smaller cache
	// would answer request_too_old to resends of applied requests. The default is above
	// the largest reply (replyBytesMax), which is therefore always cached.
	c.SessionReplyBytesMax = max(c.SessionReplyBytesMax, SessionReplyBytesMaxDefault)
	if c.Shard.Map == nil {
		c.Shard.Map = shardmap.Single()
	}
	if c.RulesVersion == 0 {
		c.RulesVersion = RulesVersionFirst
	}
	if c.RulesVersion > RulesVersionCurrent {
		panic(fmt.Sprintf("core: rules version %d; this build applies up to %d",
			c.RulesVersion, RulesVersionCurrent))
	}
	if err := c.Shard.Map.Validate(); err != nil || c.Shard.Index >= c.Shard.Map.Shards {
		panic(fmt.Sprintf("core: shard %d of an invalid map: %v", c.Shard.Index, err))
	}
	return c
}

// Entry is one log entry as the machine sees it.
type Entry struct {
	FirstOp   uint64 // Op number of the entry's first request; ops are contiguous.
	Timestamp uint64 // Sequencer timestamp (ns), strictly increasing along the log.
	Body      []byte // Requests (see request.go).
}

// Reply is the outcome of one request of an entry, in order. Body bytes live in the
// Output that holds the reply.
type Reply struct {
	Op        uint64 // Log position.
	Client    uint64
	Session   uint64
	Number    uint64
	Operation model.Operation
	Status    model.Status // Request-level status.
	Duplicate bool         // Answered from the session's cache, not applied again.
	bodyStart int
	bodyEnd   int
}

// Report is one execution report for the client that owns the order, with that client's
// next report sequence number. Its record lives in the Output.
type Report struct {
	Client   uint64 // Owner of the order.
	Sequence uint64 // Per-client sequence number, from 1, part of the machine's state.
	start    int
}

// Output receives what Apply or Query produce. Reuse one per in-flight entry: Reset
// keeps its buffers, so the steady state allocates nothing.
type Output struct {
	Replies []Reply
	Reports []Report
	// Messages are what the entry's saga steps imply for other shards and for the router
	// (see core/saga). Like replies, they may leave only once the entry is durable. Only
	// the machine appends to them: its saga book reuses the messages that Reset left in
	// the capacity without zeroing them (saga's reserveMessages).
	Messages []saga.Message
	// Events are the committed changes of an applied entry, in order (package event);
	// Query adds none.
	Events     event.Buffer
	body       []byte
	reportBody []byte
}

// Reset empties the output, keeping its capacity.
func (o *Output) Reset() {
	o.Replies, o.Reports, o.Messages = o.Replies[:0], o.Reports[:0], o.Messages[:0]
	o.body, o.reportBody = o.body[:0], o.reportBody[:0]
	o.Events.Reset()
}

// ReportBody returns a report's encoded ExecutionReport record.
func (o *Output) ReportBody(r *Report) []byte {
	return o.reportBody[r.start : r.start+model.ExecutionReportSize]
}

// Body returns a reply's body.
func (o *Output) Body(r *Reply) []byte { return o.body[r.bodyStart:r.bodyEnd] }

// Machine is Sequent's deterministic state machine: the ledger and the session table,
// behind Apply (log entries) and Query (reads). One goroutine owns it.
type Machine struct {
	config   Config
	ledger   *ledger.Ledger
	match    *match.Engine
	sagas    *saga.Book // Cross-shard transfers (never nil; idle when unsharded).
	sessions sessionTable
	// reportSequences is each client's last execution report sequence number. The map is
	// read and written by client id only; snapshots encode it sorted by id.
	reportSequences map[uint64]uint64
	sinkOutput      *Output // The output reports and events go to during Apply.
	// eventStatuses counts the per-event results of create and order operations by
	// status, for the admin API (atomics: read from other goroutines; never state).
	eventStatuses [eventStatusSlots]atomic.Uint64
	matchBuffers  matchBuffers
	clock         uint64 // Last timestamp given to an event or object.
	opLast        uint64 // Op of the last request applied.
	rules         uint32 // Rules version in force (rules.go); moves only by upgrade_rules.

	// lookahead prefetches what the entry's next requests will read (lookahead.go); it
	// is not state, and changes nothing Apply produces.
	lookahead requestLookahead

	// Decode and result buffers, sized for the largest request at init.
	accounts        []model.Account
	transfers       []model.Transfer
	ids             []model.Uint128
	accountResults  []model.EventResult
	transferResults []model.TransferResult
	foundAccounts   []model.Account
	foundTransfers  []model.Transfer
	balances        []model.AccountBalance
	crossShard      []bool   // Per transfer of the batch: starts a saga.
	creditShard     []uint16 // Per transfer of the batch: its credit account's shard.
	sagaCredits     []saga.Credit
	sagaDecisions   []saga.Decision
}

// New returns an empty machine.
func New(config Config) *Machine {
	c := config.withDefaults()
	l := ledger.New(c.Ledger)
	m := newMachine(c, l, match.New(l, c.Match), saga.New(c.Shard.Map, c.Shard.Index))
	m.setRules(c.RulesVersion)
	return m
}

func newMachine(c Config, l *ledger.Ledger, engine *match.Engine, sagas *saga.Book) *Machine {
	const events = model.EventsPerRequestMax
	return &Machine{
		config:          c,
		rules:           RulesVersionFirst, // The caller puts its version in force (setRules).
		ledger:          l,
		match:           engine,
		sagas:           sagas,
		crossShard:      make([]bool, events),
		creditShard:     make([]uint16, events),
		reportSequences: map[uint64]uint64{},
		sessions:        newSessionTable(c.SessionsMax),
		accounts:        make([]model.Account, events),
		transfers:       make([]model.Transfer, events),
		ids:             make([]model.Uint128, events),
		accountResults:  make([]model.EventResult, events),
		transferResults: make([]model.TransferResult, events),
		foundAccounts:   make([]model.Account, 0, events),
		foundTransfers:  make([]model.Transfer, 0, events),
		balances:        make([]model.AccountBalance, 0, events),
		lookahead:       requestLookahead{applying: -1},
	}
}

// Ledger returns the machine's ledger, for read-only inspection by tests and tools on the
// owning goroutine.
func (m *Machine) Ledger() *ledger.Ledger { return m.ledger }

// OpLast returns the op of the last request applied.
func (m *Machine) OpLast() uint64 { return m.opLast }

// Clock returns the last timestamp the machine handed out.
func (m *Machine) Clock() uint64 { return m.clock }

// ReportSequences calls fn with each client's last execution report sequence, in no
// particular order (read-only use on the owning goroutine). A report store rebuilt from a
// snapshot and the log after it learns from this which reports came before the snapshot:
// it never saw them, and must not claim to hold them.
func (m *Machine) ReportSequences(fn func(client uint64, sequenceLast uint64)) {
	for client, sequence := range m.reportSequences {
		fn(client, sequence)
	}
}

// Match returns the machine's matching engine (read-only use on the owning goroutine).
func (m *Machine) Match() *match.Engine { return m.match }

// Sagas returns the machine's saga table (read-only use on the owning goroutine).
func (m *Machine) Sagas() *saga.Book { return m.sagas }

// NextDeadline returns the earliest time at which a pulse entry could expire something
// (a pending transfer or a good-till-time order).
func (m *Machine) NextDeadline() (uint64, bool) {
	ledgerDeadline, ledgerOK := m.ledger.NextDeadline()
	matchDeadline, matchOK := m.match.NextDeadline()
	switch {
	case ledgerOK && matchOK:
		return min(ledgerDeadline, matchDeadline), true
	case matchOK:
		return matchDeadline, true
	}
	return ledgerDeadline, ledgerOK
}

// Apply applies one log entry and appends one Reply per request to out. It returns an
// error only for an entry that does not parse or breaks op continuity, which the sequencer
// never writes: the caller must treat it as a damaged log, not as a client's mistake.
func (m *Machine) Apply(entry *Entry, out *Output) error {
	if entry.FirstOp != m.opLast+1 {
		return fmt.Errorf("%w: entry starts at op %d, expected %d", ErrMalformedEntry,
			entry.FirstOp, m.opLast+1)
	}
	if entry.Timestamp == 0 {
		return fmt.Errorf("%w: entry at op %d has no timestamp", ErrMalformedEntry, entry.FirstOp)
	}
	count, err := CountRequests(entry.Body)
	if err != nil {
		return err
	}
	// Time only moves forward; every event and object gets its own timestamp after this.
	m.clock = max(m.clock, entry.Timestamp-1)
	m.sinkOutput = out
	m.ledger.SetEvents(&out.Events)
	defer m.endApply()
	// Expiries happen before the entry's first request and are named after its op.
	out.Events.BeginOp(entry.FirstOp)
	now := m.clock + 1
	m.ledger.Expire(now, nil)
	m.match.Expire(&m.clock, now, m)
	m.lookaheadStart(entry.Body)
	for op := entry.FirstOp; op < entry.FirstOp+uint64(count); op++ {
		request := m.lookaheadStep()
		m.opLast = op
		out.Events.BeginOp(op)
		m.applyRequest(op, request, out)
	}
	return nil
}

// endApply detaches the output Apply filled: nothing outside Apply produces events, and
// no transfer is the decoded one of a request being applied.
func (m *Machine) endApply() {
	m.sinkOutput = nil
	m.ledger.SetEvents(nil)
	m.lookahead.applying = -1
}

// applyRequest applies one request of an entry, answering retries from the session.
func (m *Machine) applyRequest(op uint64, request *Request, out *Output) {
	reply := Reply{Op: op, Client: request.Client, Session: request.Session,
		Number: request.Number, Operation: request.Operation, bodyStart: len(out.body)}
	internal := request.Client == 0
	reply.Status = CheckShape(request.Operation, request.Flags, request.Body, internal)
	if reply.Status == model.StatusOK && internal {
		reply.Status = m.dispatchInternal(request, out)
	}
	if reply.Status != model.StatusOK || internal || request.Number == 0 {
		if reply.Status == model.StatusOK && !internal {
			reply.Status = model.StatusInvalidBody // Client requests are numbered from 1.
		}
		m.finishReply(&reply, out)
		return
	}
	s := m.lookupSession(sessionKey{request.Client, request.Session})
	applied, tooOld := s.classify(request.Number)
	switch {
	case tooOld:
		reply.Status = model.StatusRequestTooOld
	case applied:
		m.answerDuplicate(s, requestDigest(request), &reply, out)
		return
	default:
		reply.Status = m.dispatch(request, out)
		s.markApplied(request.Number, op)
		s.cache(request.Number, op, reply.Status, requestDigest(request),
			out.body[reply.bodyStart:], m.config.SessionReplyBytesMax)
	}
	m.finishReply(&reply, out)
}

// requestDigest summarises what a request asks for (operation, flags and body), so that
// a resent number can be told from a number reused for another request. xxhash64 is
// fixed (the digest is state: snapshots carry it, replicas must agree) and fast (~5 GB/s
// here: ~0.2 ms for the largest body, measured in BenchmarkRequestDigest).
func requestDigest(request *Request) uint64 {
	kind := uint64(request.Operation)<<8 | uint64(request.Flags)
	return xxhash.Sum64(request.Body) ^ (kind+1)*0x9e3779b97f4a7c15
}

// answerDuplicate answers a retried request with the cached reply; with request_too_old
// when the reply was evicted (the request was applied, but its answer is gone); or with
// request_number_reused when the retry asks for something else than the original did (a
// client bug: the original's reply would silently stand for a request never applied).
func (m *Machine) answerDuplicate(s *session, digest uint64, reply *Reply, out *Output) {
	cached, ok := s.find(reply.Number)
	if !ok {
		reply.Status = model.StatusRequestTooOld
		m.finishReply(reply, out)
		return
	}
	if cached.digest != digest {
		reply.Status = model.StatusRequestNumberReused
		m.finishReply(reply, out)
		return
	}
	reply.Duplicate, reply.Status, reply.Op = true, cached.status, cached.op
	out.body = append(out.body, s.body(cached)...)
	m.finishReply(reply, out)
}

// finishReply closes a reply whose body runs from reply.bodyStart to the end of out.body.
// A refused request carries no log position (the protocol's aux is 0 for refusals), even
// though it was logged: nothing at that position answers it.
func (m *Machine) finishReply(reply *Reply, out *Output) {
	if reply.Status != model.StatusOK && !reply.Duplicate {
		reply.Op = 0
	}
	reply.bodyEnd = len(out.body)
	out.Replies = append(out.Replies, *reply)
}

// Query answers a read-only request without logging it. The caller must release the
// reply only once every entry applied before it is durable.
func (m *Machine) Query(request *Request, out *Output) {
	reply := Reply{Client: request.Client, Session: request.Session, Number: request.Number,
		Operation: request.Operation, bodyStart: len(out.body)}
	// The server's own reads come with client 0: a node router's of saga state (internal
	// operations), the operators' console's (client operations).
	info, _ := request.Operation.Info()
	internal := request.Client == 0 && info.Internal
	reply.Status = CheckShape(request.Operation, request.Flags, request.Body, internal)
	if reply.Status == model.StatusOK && info.Write {
		reply.Status = model.StatusUnknownOperation // Writes go through the log.
	}
	if reply.Status == model.StatusOK && internal {
		reply.Status = m.queryInternal(request, out)
	} else if reply.Status == model.StatusOK {
		reply.Status = m.dispatch(request, out)
	}
	m.finishReply(&reply, out)
}

// dispatch runs a well-shaped request and appends its result records to out.body.
func (m *Machine) dispatch(request *Request, out *Output) model.Status {
	switch request.Operation {
	case model.OperationCreateAccounts:
		return m.createAccounts(request.Client, request.Body, out)
	case model.OperationCreateTransfers:
		return m.createTransfers(request.Client, request.Body, request.Flags, out)
	case model.OperationLookupAccounts:
		return m.lookupAccounts(request.Client, request.Body, out)
	case model.OperationLookupTransfers:
		return m.lookupTransfers(request.Client, request.Body, out)
	case model.OperationGetAccountTransfers:
		return m.getAccountTransfers(request.Client, request.Body, out)
	case model.OperationGetAccountBalances:
		return m.getAccountBalances(request.Client, request.Body, out)
	case model.OperationGetLedgerTotals:
		return m.getLedgerTotals(request.Client, request.Body, out)
	case model.OperationGetRiskRules:
		return m.getRiskRules(request.Body, out)
	case model.OperationGetShardMap:
		out.body = append(out.body, m.sagas.Map().Encode()...)
		return model.StatusOK
	}
	status, _ := m.dispatchMatch(request, out)
	return status
}

// countStatus counts one event result for EventStatusCounts.
func (m *Machine) countStatus(status model.Status) {
	if status < eventStatusSlots {
		m.eventStatuses[status].Add(1)
	}
}

// EventStatusCounts returns how many events ended with each status (created, exists,
// exceeds_credits...) since the machine was built. Any goroutine.
func (m *Machine) EventStatusCounts() map[string]uint64 {
	counts := map[string]uint64{}
	for status := range m.eventStatuses {
		if count := m.eventStatuses[status].Load(); count > 0 {
			counts[model.Status(status).String()] = count
		}
	}
	return counts
}

// dispatchInternal runs the server's own requests. Pulses only move time (expiry ran at
// the start of the entry); snapshot requests and audit records change no state (the shard
// acts on the former; the latter are the audit trail by being in the log); set_grants
// puts the keys file's grant table and client limits in force (setGrants; an invalid
// table changes nothing and answers invalid_body, which the server never writes: it
// validates the keys file);
// saga steps are applied by the saga table (core/saga); set_risk_rules and
// remove_risk_rules change the risk rules, one result per rule; upgrade_rules moves the
// rules version (rules.go).
func (m *Machine) dispatchInternal(request *Request, out *Output) model.Status {
	switch request.Operation {
	case model.OperationSetRiskRules:
		return m.setRiskRules(request.Body, out)
	case model.OperationRemoveRiskRules:
		return m.removeRiskRules(request.Body, out)
	case model.OperationCancelSession:
		status, _ := m.dispatchMatch(request, nil)
		return status
	case model.OperationSetGrants:
		return m.setGrants(request.Body)
	case model.OperationSagaCredit, model.OperationSagaFinish, model.OperationSagaForget:
		return m.applySagaSteps(request, out)
	case model.OperationUpgradeRules:
		return m.upgradeRules(request.Body)
	}
	return model.StatusOK
}

// setGrants applies a set_grants request: the grant table and the client limits it
// carries replace those in force, both or neither. Client limits are read from rules
// version 3 on; below it a body with some is refused, as builds before them refused a
// non-zero reserved header word.
func (m *Machine) setGrants(body []byte) model.Status {
	grants, limits, err := model.DecodeGrants(body)
	if err != nil || (len(limits) > 0 && !m.AcceptsClientLimits()) {
		return model.StatusInvalidBody
	}
	// Both tables were validated by DecodeGrants: neither call can fail half-way.
	if err := m.ledger.SetGrants(grants); err != nil {
		panic(fmt.Sprintf("core: a decoded grant table refused: %v", err))
	}
	if err := m.ledger.SetAccountLimits(limits); err != nil {
		panic(fmt.Sprintf("core: a decoded client limit table refused: %v", err))
	}
	return model.StatusOK
}

// Grants returns the grant table in force (on the owning goroutine), ordered by client.
func (m *Machine) Grants() []model.Grant { return m.ledger.Grants() }

// AppendGrantsInForce appends the set_grants body of the grant table and the client
// limits in force (model.AppendGrantsAndLimits): what a set_grants request with the same
// content would carry, for the primary to tell whether its keys file's table is in force.
func (m *Machine) AppendGrantsInForce(dst []byte) []byte {
	return model.AppendGrantsAndLimits(dst, m.ledger.Grants(), m.ledger.AccountLimits())
}

// nextTimestamps reserves count timestamps and returns the first.
func (m *Machine) nextTimestamps(count int) uint64 {
	first := m.clock + 1
	m.clock += uint64(count)
	return first
}

// grow extends out.body by size bytes and returns the new tail.
func grow(out *Output, size int) []byte {
	start := len(out.body)
	out.body = append(out.body, make([]byte, size)...)
	return out.body[start:]
}
