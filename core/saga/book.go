package saga

import (
	"fmt"
	"slices"

	"sequent/core/invariants"
	"sequent/core/ledger"
	"sequent/core/model"
	"sequent/core/shardmap"
)

// Bounds of a Book.
const (
	// recordsPerChunk is how many saga records one chunk holds (records never move, so
	// growth never copies what is stored: ~1.3 MiB per chunk).
	recordsPerChunk = 1 << 12
	// SagasMax bounds the sagas of one shard, as the ledger's transfers are bounded: each
	// saga stores three transfers on its two shards. Past it, step 1 answers
	// transfers_limit_reached.
	SagasMax = 1 << 27
)

// record is one saga started on this shard.
type record struct {
	original model.Transfer       // As the client sent it; Timestamp: step 1's.
	reserved model.Uint128        // What step 1 reserved (balancing_debit may lower it).
	moved    model.Uint128        // What was posted (final and created).
	result   model.TransferResult // The final result (PhaseFinal).
	client   uint64               // Who sent it (step 2 checks and masks on its behalf).
	credit   uint16               // Credit shard.
	phase    Phase
}

// Book is one shard's saga state: the sagas it started (as debit shard) and the decisions
// it took (as credit shard). Deterministic: it changes only when the machine applies a
// logged entry. One goroutine (the machine's) owns it.
type Book struct {
	placement  *shardmap.Map
	self       uint16
	payeeRisk  bool // Step 2 judges the payee's risk rules (SetPayeeRisk).
	payerBound bool // Step 1 reserves what a balancing_credit's payer may pay (SetPayerBound).
	// Step 1 reserves what a balancing_credit's payer and settlement account can take
	// without overflowing (SetHeadroomBound).
	headroomBound bool

	// Each chunk by pointer to an array of a fixed length: at then costs no length check
	// of the chunk nor load of its length (~5 instructions, three calls per saga).
	chunks []*[recordsPerChunk]record
	count  uint64 // Sagas started; saga n is at index n-1.
	// stepIndexes[s-1] is the ledger's storage index of saga s's step 1 (which holds the
	// client's id). Both grow with the log, so a binary search finds a saga by its id
	// through the ledger's own index: no hash table of ours on the hot path.
	stepIndexes []uint32
	running     []uint64 // Sequences of running sagas, ascending (finals removed lazily).
	runs        uint64   // Running sagas.

	decided    []window                // Per debit shard: its sagas' decisions, by sequence.
	missing    []model.Uint128         // Settlement accounts this batch could not create.
	transfers  [1]model.Transfer       // Scratch for one-event ledger calls.
	results    [1]model.TransferResult //
	accounts   [1]model.Account        //
	ids        [1]model.Uint128        //
	found      []model.Transfer        //
	foundAccts []model.Account         //
	batch      batchScratch            // Scratch for the batched steps.
}

// batchScratch holds, per event of a batched step, what the step computed.
type batchScratch struct {
	steps     []model.Transfer       // The ledger events of the step.
	results   []model.TransferResult // Their results.
	passing   []bool                 // Step 1: the event goes to the ledger.
	indexes   []uint32               // Step 1: the ledger index of each created step.
	decisions []*Decision            // Step 2: the Credit's decision slot (classifyCredit).
	positions []int                  // Step 2: the decision's place among the ledger events.
	kinds     []creditKind           // Step 2: what to do with the Credit.
	refusals  []model.Status         // Step 2: the payee's risk refusal (creditPayeeRisk).
	payees    []model.Uint128        // Step 1: each step's payee, for the risk rules.
	records   []*record              // Step 3: the saga each decision finishes.
	pendings  []uint32               // Step 3: the ledger index of each saga's step 1.
	readers   []uint64               // Step 2: who sent each ledger event's transfer.
	bounded   []int                  // Bounded steps 2 (creditRuns) or steps 1 (StartRun).
}

// sized returns s with length n, allocating the largest batch's capacity once.
func sized[T any](s *[]T, n int) []T {
	if cap(*s) < n {
		*s = make([]T, max(n, model.EventsPerRequestMax))
	}
	return (*s)[:n]
}

// New returns an empty book for shard self of a map (shardmap.Single() for an unsharded
// machine).
func New(placement *shardmap.Map, self uint16) *Book {
	return &Book{placement: placement, self: self,
		decided: make([]window, placement.Shards), found: make([]model.Transfer, 0, 1),
		foundAccts: make([]model.Account, 0, 1)}
}

// Map returns the node's shard map; Self this shard's index.
func (b *Book) Map() *shardmap.Map { return b.placement }

// Self returns this shard's index.
func (b *Book) Self() uint16 { return b.self }

// SetPayeeRisk makes the risk rules judge the payee of a cross-shard transfer (rules
// version 5 on; core's rules.go): step 1 as a transfer to the payee where a rule names
// the other account (ledger.CreateSagaTransfersTo), step 2 by the payee's blocks
// (ledger.PayeeRisk).
func (b *Book) SetPayeeRisk(on bool) { b.payeeRisk = on }

// SetPayerBound makes step 1 of a balancing_credit transfer (without balancing_debit)
// reserve no more than its client may pay from the debit account (rules version 9 on;
// core's rules.go): when the account has debits_must_not_exceed_credits, or the client
// may not issue money there (ledger.MayIssueAs), step 1 clamps as balancing_debit would,
// and its Credit says so (Credit.PayerBound), so that step 2 refuses exceeds_credits
// rather than credit more than was reserved. A local transfer clamps its amount to the
// credit account first and judges the payer's limit on what is left; before version 9
// step 1 reserved the amount the client named, so a payer that could pay the clamped
// amount but not the named one was refused exceeds_credits.
func (b *Book) SetPayerBound(on bool) { b.payerBound = on }

// SetHeadroomBound makes step 1 of a balancing_credit transfer (without balancing_debit)
// that SetPayerBound leaves at the amount named (a payer that may issue money) reserve no
// more than half of what the debit account's debits and the settlement account's credits
// can still take without overflowing (rules version 10 on; core's rules.go). A local
// transfer clamps its amount to the credit account before its overflow checks, so naming
// 2^128-1 ("as much as the payee takes") moves what the payee takes; step 1 cannot know
// that amount and reserved the one named, which overflowed as soon as the payer had a
// debit posted or the pair of shards had carried any amount (core's
// hunt46a_balancing_max_test.go). Half, so that the payer's other debits while the saga
// runs (and other such transfers) keep the other half: with balances far below 2^127
// nothing else is refused for the reserve. The lowered reserve travels as the payer's
// bound (Credit.PayerBound): step 2 refuses exceeds_credits when the payee would take
// more. The headroom is read at the step's turn, after the steps before it in the run
// are applied: read before the run, two adjacent sweeps from one payer took all of it
// (core's TestReviewha46AdjacentSweepsLeaveThePayersOtherDebits). Requires SetPayerBound
// (version 10 includes 9).
func (b *Book) SetHeadroomBound(on bool) { b.headroomBound = on }

// headroom returns the most of step 1's amount that SetHeadroomBound reserves: half of
// what its debit account's debits and its settlement account's credits (pending and
// posted, which the ledger keeps from overflowing together) can still take, so that the
// ledger's overflow checks pass, now and for the payer's next debits.
func (b *Book) headroom(l *ledger.Ledger, step *model.Transfer) model.Uint128 {
	taken := model.Uint128{}
	b.ids[0] = step.DebitAccountID
	if b.foundAccts = l.LookupAccounts(b.ids[:], b.foundAccts[:0]); len(b.foundAccts) == 1 {
		debit := &b.foundAccts[0]
		taken = debit.DebitsPosted.MustAdd(debit.DebitsPending)
	}
	b.ids[0] = step.CreditAccountID
	if b.foundAccts = l.LookupAccounts(b.ids[:], b.foundAccts[:0]); len(b.foundAccts) == 1 {
		settlement := &b.foundAccts[0]
		if credits := settlement.CreditsPosted.MustAdd(settlement.CreditsPending); taken.Less(credits) {
			taken = credits
		}
	}
	room, _ := model.Uint128Max.MustSub(taken).DivMod64(2)
	return step.Amount.Min(room)
}

// payerBounds reports whether step 1 of t must reserve at most what client may pay
// (SetPayerBound): a balancing_credit transfer without balancing_debit from an account
// that is limited or in which client may not issue money.
func (b *Book) payerBounds(l *ledger.Ledger, client uint64, t *model.Transfer) bool {
	balancing := model.TransferBalancingDebit | model.TransferBalancingCredit
	if !b.payerBound || t.Flags&balancing != model.TransferBalancingCredit {
		return false
	}
	debit, found, _ := l.AccountAs(client, model.ScopeTransfer, t.DebitAccountID)
	if !found {
		return false // Step 1 is refused for it; how it clamps does not matter.
	}
	return debit.Flags&model.AccountDebitsMustNotExceedCredits != 0 ||
		!l.MayIssueAs(client, debit.ID, debit.Ledger)
}

// Sharded reports whether transfers can cross shards at all.
func (b *Book) Sharded() bool { return b.placement.Shards > 1 }

// sequenceOf finds the saga whose step 1 holds a transfer id.
func (b *Book) sequenceOf(l *ledger.Ledger, id model.Uint128) (uint64, bool) {
	if b.count == 0 {
		return 0, false
	}
	index, ok := l.TransferIndex(id)
	if !ok {
		return 0, false
	}
	position, found := slices.BinarySearch(b.stepIndexes, index)
	return uint64(position) + 1, found
}

// Index finds, after a restore, where the ledger stores each saga's step 1; it fails when
// a saga's step is missing or out of order (the saga section and the ledger disagree).
func (b *Book) Index(l *ledger.Ledger) error {
	b.stepIndexes = make([]uint32, 0, b.count)
	for sequence := uint64(1); sequence <= b.count; sequence++ {
		index, ok := l.TransferIndex(b.at(sequence).original.ID)
		if !ok || (sequence > 1 && index <= b.stepIndexes[sequence-2]) {
			return fmt.Errorf("%w: saga %d has no step 1 in the ledger, or one out of order",
				ErrSnapshotInvalid, sequence)
		}
		b.stepIndexes = append(b.stepIndexes, index)
	}
	return nil
}

func (b *Book) at(sequence uint64) *record {
	index := sequence - 1
	return &b.chunks[index/recordsPerChunk][index%recordsPerChunk]
}

func (b *Book) push(r record) uint64 {
	*b.pushZero() = r
	return b.count
}

// pushZero takes the next saga's record, zero (chunks are allocated zeroed and records
// are never removed), to be filled in place: a record is ~400 bytes, and building one as
// a value and copying it in cost ~150 instructions per saga (callgrind).
func (b *Book) pushZero() *record {
	if b.count%recordsPerChunk == 0 {
		b.chunks = append(b.chunks, new([recordsPerChunk]record))
	}
	b.count++
	return b.at(b.count)
}

// reserveMessages returns the n slots past the length of *messages, for messages of one
// kind: a step writes its k messages into the first k of them, then extends *messages by
// k (as if it had appended them). Each slot then holds that kind, and no payload of
// another kind; the step writes To and every field of the kind's payload (Credit,
// Decision or Finished). A Message is ~580 bytes: zeroing one per message was ~70
// instructions, and appending them one by one through a call ~35 more each (three
// messages per cross-shard transfer, callgrind). So a slot that the slice's capacity
// still holds from an earlier entry (core.Output.Reset keeps it) is reused without
// zeroing it all: it holds zero, or a Message made here, whose only payload set is its
// own kind's. Clearing that payload when the kind changes gives the same value as a zero
// Message filled in, bit for bit (TestAppendMessageReusesSlots). Slots reserved but not
// written stay beyond the length, of the kind, which keeps that promise.
func reserveMessages(messages *[]Message, kind MessageKind, n int) []Message {
	s := *messages
	if cap(s)-len(s) < n {
		// Growth copies the messages and leaves the new capacity zero.
		s = slices.Grow(s, n)
		*messages = s
	}
	slots := s[len(s) : len(s)+n]
	for i := range slots {
		if slots[i].Kind != kind {
			slots[i].clearPayload()
			slots[i].Kind = kind
		}
	}
	return slots
}

// keepMessages extends *messages by the first sent slots that reserveMessages returned.
func keepMessages(messages *[]Message, sent int) {
	*messages = (*messages)[:len(*messages)+sent]
}

// clearPayload clears, in a reused slot, the payload of the message's kind: the only one
// that reserveMessages' messages set.
func (m *Message) clearPayload() {
	switch m.Kind {
	case MessageCredit:
		m.Credit = Credit{}
	case MessageDecision:
		m.Decision = Decision{}
	case MessageFinished:
		m.Finished = Finished{}
	default: // Zero, or not made by reserveMessages: nothing is known of its payloads.
		*m = Message{}
	}
}

func next(clock *uint64) uint64 {
	*clock++
	return *clock
}

// Cross reports whether a transfer applied on this shard starts a saga: a single-phase
// or pending transfer whose debit account is placed here and whose credit account is
// placed on another shard (credit). Posts and voids are always local.
func (b *Book) Cross(t *model.Transfer) (credit uint16, cross bool) {
	if b.placement.Shards == 1 || t.Flags&(model.TransferPostPending|model.TransferVoidPending) != 0 {
		return b.self, false
	}
	debit, credit, _ := b.placement.TransferShards(t)
	return credit, debit == b.self && credit != b.self
}

// EnsureSettlements creates, before a batch reserves its timestamps, the settlement
// accounts that its cross-shard transfers need (cross[i] marks them; credit[i] is their
// credit shard), whether or not the transfers pass their checks: rules version 1 (package
// core, "Rules version"), kept for the logs written under it. A creation refused for the
// accounts limit leaves the account missing: Start then refuses the transfer with
// accounts_limit_reached.
func (b *Book) EnsureSettlements(l *ledger.Ledger, clock *uint64, events []model.Transfer,
	cross []bool, credit []uint16) {
	b.ensureSettlements(l, clock, events, cross, credit, false, 0)
}

// EnsureSettlementsAs is EnsureSettlements from rules version 2 on: a settlement account
// is created only for a transfer that passes the debit side's checks on behalf of client
// (the debit account exists, is on the transfer's ledger, and client may debit it: ledger
// doc, "Ownership"), so that refused transfers cannot fill the accounts limit. A transfer
// that fails them is refused on its debit side whether or not the account exists, with
// the code it gets when it does (ledger.CreateSagaTransfersAs); at the accounts limit,
// with accounts_limit_reached when an earlier transfer of the batch that passed needed
// the same account (Start checks the missing accounts by id, as under version 1).
func (b *Book) EnsureSettlementsAs(l *ledger.Ledger, client uint64, clock *uint64,
	events []model.Transfer, cross []bool, credit []uint16) {
	b.ensureSettlements(l, clock, events, cross, credit, true, client)
}

func (b *Book) ensureSettlements(l *ledger.Ledger, clock *uint64, events []model.Transfer,
	cross []bool, credit []uint16, checked bool, client uint64) {
	b.missing = b.missing[:0]
	var last model.Uint128
	for i := range events {
		if !cross[i] {
			continue
		}
		id := SettlementAccountID(b.self, credit[i], events[i].Ledger)
		if id == last {
			continue // Runs of transfers to one shard share their settlement account.
		}
		if checked && !mayDebit(l, client, &events[i]) {
			continue
		}
		last = id
		if !b.ensureSettlement(l, clock, id, events[i].Ledger) && events[i].Ledger != 0 {
			b.missing = append(b.missing, id)
		}
	}
}

// mayDebit reports whether a transfer passes the debit side's account checks for client:
// the state they read (accounts, owners, grants) does not change within a batch of
// transfers, so checking before the batch is checking at the transfer's turn.
func mayDebit(l *ledger.Ledger, client uint64, t *model.Transfer) bool {
	debit, found, allowed := l.AccountAs(client, model.ScopeTransfer, t.DebitAccountID)
	return found && allowed && debit.Ledger == t.Ledger
}

// ensureSettlement creates a settlement account unless it exists; false if it cannot.
func (b *Book) ensureSettlement(l *ledger.Ledger, clock *uint64, id model.Uint128,
	ledgerNumber uint32) bool {
	b.ids[0] = id
	if b.foundAccts = l.LookupAccounts(b.ids[:], b.foundAccts[:0]); len(b.foundAccts) == 1 {
		return true
	}
	if ledgerNumber == 0 {
		return false // The transfer fails validation first; never create ledger 0.
	}
	b.accounts[0] = model.Account{ID: id, Ledger: ledgerNumber, Code: AccountCodeSettlement}
	var results [1]model.EventResult
	l.CreateSystemAccounts(next(clock), b.accounts[:], results[:])
	switch results[0].Status {
	case model.StatusOK:
		return true
	case model.StatusAccountsLimitReached:
		return false
	}
	panic(fmt.Sprintf("saga: the ledger refused settlement account %s: %s", id, results[0].Status))
}

// StartRun applies step 1, on behalf of client (doc.go, "Ownership"), to a run of
// consecutive cross-shard transfers of a create_transfers request: events[i], whose
// credit account is on shard credits[i], at
// timestamp first+i; chained says the event before the run was linked (the run's first
// transfer would end a chain). A result is final when the debit side refuses, else
// saga_in_flight (or saga_in_flight_retry for an identical retry of a running saga); each
// started saga emits its Credit. The transfers that pass the per-event checks go to the
// ledger in as few calls as their timestamps allow.
func (b *Book) StartRun(l *ledger.Ledger, client uint64, events []model.Transfer,
	credits []uint16, first uint64, chained bool, results []model.TransferResult,
	messages *[]Message) {
	steps := sized(&b.batch.steps, len(events))
	stepResults := sized(&b.batch.results, len(events))
	passing := sized(&b.batch.passing, len(events))
	b.batch.bounded = b.batch.bounded[:0]
	for i := range events {
		results[i] = model.TransferResult{}
		results[i].Timestamp = first + uint64(i)
		status := b.precheck(l, client, &events[i], credits[i], chained && i == 0, &results[i])
		results[i].Status, passing[i] = status, status == model.StatusOK
		if passing[i] {
			steps[i] = events[i]
			steps[i].CreditAccountID = SettlementAccountID(b.self, credits[i], events[i].Ledger)
			steps[i].Flags = model.TransferPending | events[i].Flags&model.TransferBalancingDebit
			if b.payerBound && events[i].Flags&model.TransferBalancingCredit != 0 {
				switch {
				case b.payerBounds(l, client, &events[i]):
					steps[i].Flags |= model.TransferBalancingDebit // The payer's bound (SetPayerBound).
				case b.headroomBound && events[i].Flags&model.TransferBalancingDebit == 0:
					// SetHeadroomBound: its amount is set at its turn (below).
					b.batch.bounded = append(b.batch.bounded, i)
				}
			}
		}
	}
	indexes := sized(&b.batch.indexes, len(events))
	bounded := b.batch.bounded
	for start := 0; start < len(events); {
		end := start
		for end < len(events) && passing[end] && (len(bounded) == 0 || bounded[0] != end) {
			end++
		}
		b.createSteps(l, client, events, first, start, end, steps, stepResults, indexes)
		if len(bounded) > 0 && bounded[0] == end {
			// The headroom left after the steps before it (an earlier sweep of the run
			// from the same payer included), so that each sweep leaves half of it.
			steps[end].Amount = b.headroom(l, &steps[end])
			b.createSteps(l, client, events, first, end, end+1, steps, stepResults, indexes)
			bounded = bounded[1:]
		}
		start = end + 1
	}
	b.batch.bounded = b.batch.bounded[:0]
	slots, sent := reserveMessages(messages, MessageCredit, len(events)), 0
	for i := range events {
		if passing[i] {
			results[i].Status = b.started(l, client, &events[i], credits[i], first+uint64(i),
				stepResults[i].Status, indexes[i], &results[i], &slots[sent])
			if stepResults[i].Status == model.StatusOK { // Started: its Credit is written.
				sent++
			}
			if stepResults[i].Rule != 0 { // A risk refusal: which rule, which limit.
				results[i].Rule, results[i].Risk = stepResults[i].Rule, stepResults[i].Risk
			}
		}
	}
	keepMessages(messages, sent)
}

// createSteps gives the ledger steps[start:end] of StartRun (every one passing its
// prechecks; none when start == end) in one call, and records where each created step is
// stored.
func (b *Book) createSteps(l *ledger.Ledger, client uint64, events []model.Transfer,
	first uint64, start, end int, steps []model.Transfer, stepResults []model.TransferResult,
	indexes []uint32) {
	if end <= start {
		return
	}
	next := l.TransferCount()  // Each created step is stored next, in order.
	var payees []model.Uint128 // Rules version 5 on: the rules see each payee.
	if b.payeeRisk {
		payees = sized(&b.batch.payees, end-start)
		for i := range payees {
			payees[i] = events[start+i].CreditAccountID
		}
	}
	l.CreateSagaTransfersTo(client, first+uint64(start), steps[start:end], payees,
		stepResults[start:end])
	for i := start; i < end; i++ {
		if stepResults[i].Status == model.StatusOK {
			indexes[i], next = next, next+1
		}
	}
}

// precheck runs the checks of a cross-shard transfer that precede its ledger call, in
// the ledger's precedence: the header, then validation and what cross-shard transfers
// refuse, answered only after the exists checks (which otherwise happen in the ledger).
func (b *Book) precheck(l *ledger.Ledger, client uint64, t *model.Transfer, credit uint16,
	chained bool, result *model.TransferResult) model.Status {
	plain := ledger.PlainTransfer(t) // Passes both checks below: one pass of cheap tests.
	if !plain {
		if status := ledger.CheckTransferHeader(t); status != model.StatusOK {
			return status
		}
	}
	refused := model.StatusOK
	switch {
	case !plain && ledger.ValidateTransfer(t) != model.StatusOK:
		refused = model.StatusInvalidBody // Whatever CheckNewTransfer answers below.
	case t.Flags&model.TransferPending != 0:
		refused = model.StatusPendingTransferSpansShards
	case t.Flags&model.TransferLinked != 0 || chained:
		refused = model.StatusLinkedChainSpansShards
	case b.count >= SagasMax:
		refused = model.StatusTransfersLimitReached
	case len(b.missing) > 0 && slices.Contains(b.missing,
		SettlementAccountID(b.self, credit, t.Ledger)):
		refused = model.StatusAccountsLimitReached
	}
	if refused == model.StatusOK {
		// The exists and failed checks happen in the ledger call; a retry of a saga shows
		// there, as its step 1 holds the id (see started).
		return model.StatusOK
	}
	// A refusal is answered only after the checks that precede it: exists (a saga's
	// original, or whatever holds the id), failed before.
	if sequence, ok := b.sequenceOf(l, t.ID); ok {
		return b.retryAs(l, client, b.at(sequence), t, result)
	}
	status, existing := l.CheckNewTransfer(client, t)
	if status != model.StatusOK {
		if existing != 0 {
			result.Timestamp = existing // exists or exists_with_different_*.
		}
		return status
	}
	return refused
}

// started finishes step 1 of one transfer after its ledger call: a created step starts
// the saga and writes its Credit into message (a reserveMessages slot); an id found taken
// is answered as a retry (of a saga started earlier in this run, or of whatever holds the
// id); any other refusal as a local transfer's.
func (b *Book) started(l *ledger.Ledger, client uint64, t *model.Transfer, credit uint16,
	timestamp uint64, status model.Status, index uint32, result *model.TransferResult,
	message *Message) model.Status {
	switch {
	case status == model.StatusOK:
	case status == model.StatusExists || existsWithDifference(status):
		if sequence, ok := b.sequenceOf(l, t.ID); ok {
			return b.retryAs(l, client, b.at(sequence), t, result)
		}
		status, existing := l.CheckNewTransfer(client, t)
		result.Timestamp = existing
		return status
	default:
		return b.localStatus(l, t, status)
	}
	reserved := t.Amount
	if t.Flags&model.TransferBalancingDebit != 0 ||
		b.payerBound && t.Flags&model.TransferBalancingCredit != 0 {
		reserved = b.storedAmount(l, t.ID) // Step 1 may have clamped (payerBounds).
	}
	if invariants.Enabled {
		if stored, ok := l.TransferIndex(t.ID); !ok || stored != index {
			panic(fmt.Sprintf("saga: step 1 of %s stored at %d, expected %d", t.ID, stored, index))
		}
	}
	r := b.pushZero()
	r.original = *t
	r.original.Timestamp = timestamp
	r.reserved, r.client, r.credit, r.phase = reserved, client, credit, PhaseRunning
	sequence := b.count
	b.stepIndexes = append(b.stepIndexes, index)
	b.running = append(b.running, sequence)
	b.runs++
	message.To = credit
	c := &message.Credit
	b.fillCredit(c, r, sequence) // r: the record just pushed (at would find it again).
	if t.Flags&model.TransferBalancingCredit != 0 {
		c.PayerBound = payerBound(r)
	}
	return model.StatusSagaInFlight
}

// credit returns the Credit record of a saga.
func (b *Book) credit(sequence uint64) Credit {
	var c Credit
	r := b.at(sequence)
	b.fillCredit(&c, r, sequence)
	c.PayerBound = payerBound(r)
	return c
}

// fillCredit writes the Credit record of saga sequence, whose record is r, into c,
// every field.
func (b *Book) fillCredit(c *Credit, r *record, sequence uint64) {
	c.Transfer = r.original
	c.Transfer.Amount = r.reserved
	c.Sequence, c.From, c.To, c.Client = sequence, b.self, r.credit, r.client
	// Every field: c may be a reused message's (reserveMessages). PayerBound is set by the
	// callers, outside this function so that it stays inlined (~50 instructions per saga).
	c.Abort, c.PayerBound = false, false
}

// payerBound reports whether step 1 lowered a balancing_credit transfer without
// balancing_debit: only SetPayerBound's step 1 does. Derived from the record, so the
// outbox and a restored book say it too (Credit.PayerBound).
func payerBound(r *record) bool {
	balancing := model.TransferBalancingDebit | model.TransferBalancingCredit
	return r.original.Flags&balancing == model.TransferBalancingCredit &&
		r.reserved.Less(r.original.Amount)
}

// storedAmount returns the amount of a transfer the ledger just stored.
func (b *Book) storedAmount(l *ledger.Ledger, id model.Uint128) model.Uint128 {
	b.ids[0] = id
	b.found = l.LookupTransfers(b.ids[:], b.found[:0])
	if len(b.found) != 1 {
		panic(fmt.Sprintf("saga: transfer %s just created is missing", id))
	}
	return b.found[0].Amount
}

// localStatus turns a refusal of step 1 (a pending transfer) into what the client's
// single-phase transfer would have got: the pending-overflow check of step 1 stands for
// the debit account's posted or total overflow.
func (b *Book) localStatus(l *ledger.Ledger, t *model.Transfer, status model.Status) model.Status {
	if status != model.StatusOverflowsDebitsPending {
		return status
	}
	b.ids[0] = t.DebitAccountID
	b.foundAccts = l.LookupAccounts(b.ids[:], b.foundAccts[:0])
	if len(b.foundAccts) == 1 && t.Amount.AddOverflows(b.foundAccts[0].DebitsPosted) {
		return model.StatusOverflowsDebitsPosted
	}
	return model.StatusOverflowsDebits
}

// retryAs is retry for client, who gets exists_with_different_owner, and nothing of the
// saga, when it may not see the transfer (ledger doc, "Ownership": it may read neither
// account; here, the debit account of step 1).
func (b *Book) retryAs(l *ledger.Ledger, client uint64, r *record, t *model.Transfer,
	result *model.TransferResult) model.Status {
	if !l.TransferVisibleAs(client, r.original.ID) {
		result.Timestamp = r.original.Timestamp
		return model.StatusExistsWithDifferentOwner
	}
	return b.retry(r, t, result)
}

// retry answers a transfer whose id started a saga here as a retry of a local transfer
// would be answered: a failed one gets id_already_failed after a transient failure (or a
// timeout) and the same status otherwise, whatever the retry's fields (the id is taken on
// this shard, so the transfer cannot be evaluated again); a created one exists or
// exists_with_different_*; while the saga runs, a different transfer is told so at once
// and an identical one gets saga_in_flight_retry.
func (b *Book) retry(r *record, t *model.Transfer, result *model.TransferResult) model.Status {
	if r.phase == PhaseFinal && r.result.Status != model.StatusOK {
		result.Timestamp = r.result.Timestamp
		return RetryStatus(r.result.Status)
	}
	result.Timestamp = r.original.Timestamp
	if status := ledger.CompareTransfers(t, b.comparable(r)); status != model.StatusExists {
		return status
	}
	if r.phase == PhaseRunning {
		return model.StatusSagaInFlightRetry
	}
	return model.StatusExists
}

// comparable returns the stored transfer a retry is compared with: the client's, whose
// amount for a balancing transfer is what moved (or, while running, what is reserved).
func (b *Book) comparable(r *record) *model.Transfer {
	stored := &b.transfers[0]
	*stored = r.original
	if r.original.Flags&(model.TransferBalancingDebit|model.TransferBalancingCredit) != 0 {
		stored.Amount = r.reserved
		if r.phase == PhaseFinal {
			stored.Amount = r.moved
		}
	}
	return stored
}

// RetryStatus is what a retry of a transfer gets once its saga ended with final: exists
// for a created transfer, id_already_failed after a transient failure (or a timeout: the
// outcome must not change), the same status after any other failure.
func RetryStatus(final model.Status) model.Status {
	switch {
	case final == model.StatusOK:
		return model.StatusExists
	case final.Transient() || final == model.StatusSagaTimedOut ||
		final == model.StatusSagaDecisionUnknown:
		return model.StatusIDAlreadyFailed
	}
	return final
}

// FixRetries corrects the results of local transfers whose id is a saga's: the ledger
// compared them with step 1 (a pending transfer into a settlement account); they are
// answered as retries of the client's original instead (see retry).
func (b *Book) FixRetries(l *ledger.Ledger, events []model.Transfer,
	results []model.TransferResult) {
	if b.count == 0 {
		return
	}
	for i := range results {
		if !existsWithDifference(results[i].Status) {
			continue
		}
		if sequence, ok := b.sequenceOf(l, events[i].ID); ok {
			results[i].Status = b.retry(b.at(sequence), &events[i], &results[i])
		}
	}
}

func existsWithDifference(s model.Status) bool {
	return s >= model.StatusExistsWithDifferentFlags && s <= model.StatusExistsWithDifferentCode ||
		s >= model.StatusExistsWithDifferentDebitAccountID && s <= model.StatusExistsWithDifferentTimeout
}

// creditKind is what step 2 does with one Credit of a batch.
type creditKind uint8

const (
	creditIgnore    creditKind = iota // Malformed, or below its debit shard's watermark.
	creditDecided                     // Decided before (or earlier in the batch): answer again.
	creditUnknown                     // Its number holds another transfer's decision (Decision.Transfer).
	creditForgotten                   // Below its debit shard's watermark: answered from the ledger.
	creditAbort                       // Decide "refused: saga_timed_out".
	creditMissing                     // The settlement account cannot be created.
	creditNotOwned                    // Balancing into an account the client may not move.
	creditPayeeRisk                   // Refused by the payee's risk rules (SetPayeeRisk).
	creditTransfer                    // Credit through the ledger.
)

// ApplyCredits applies step 2 on the credit shard (one saga_credit request), once per
// saga: a copy of a Credit already decided (even earlier in the batch) gets the recorded
// Decision again, one below its debit shard's watermark (its saga is final) is ignored, as
// is a malformed one. New credits go to the ledger in as few calls as possible.
func (b *Book) ApplyCredits(l *ledger.Ledger, clock *uint64, credits []Credit, messages *[]Message) {
	kinds := sized(&b.batch.kinds, len(credits))
	decisions := sized(&b.batch.decisions, len(credits))
	refusals := sized(&b.batch.refusals, len(credits))
	var ensured model.Uint128 // Credits of one pair and ledger come in runs.
	for i := range credits {
		kinds[i], decisions[i] = b.classifyCredit(l, &credits[i])
		if kinds[i] == creditTransfer && b.payeeRisk {
			c := &credits[i]
			refusals[i] = l.PayeeRisk(c.Client, c.Transfer.DebitAccountID,
				c.Transfer.CreditAccountID, c.Transfer.Ledger)
			if refusals[i] != model.StatusOK {
				kinds[i] = creditPayeeRisk
			}
		}
		if kinds[i] != creditTransfer {
			continue
		}
		settlement := SettlementAccountID(credits[i].From, b.self, credits[i].Transfer.Ledger)
		if settlement == ensured {
			continue
		}
		if !b.ensureSettlement(l, clock, settlement, credits[i].Transfer.Ledger) {
			kinds[i] = creditMissing
			continue
		}
		ensured = settlement
	}
	steps := sized(&b.batch.steps, len(credits))
	results := sized(&b.batch.results, len(credits))
	positions := sized(&b.batch.positions, len(credits))
	readers := sized(&b.batch.readers, len(credits))
	first, count := *clock+1, 0 // One timestamp per decision taken, in order.
	for i := range credits {
		if kinds[i] < creditAbort {
			continue
		}
		decisions[i].Timestamp = first + uint64(count)
		if kinds[i] != creditTransfer {
			steps[count] = model.Transfer{} // No ledger event (abort, missing account).
		} else {
			steps[count] = b.creditTransfer(&credits[i])
			readers[count] = credits[i].Client
			if credits[i].PayerBound && steps[count].Flags&model.TransferBalancingCredit != 0 {
				b.batch.bounded = append(b.batch.bounded, count) // Rare: see creditRuns.
			}
		}
		positions[i] = count
		count++
	}
	*clock += uint64(count)
	b.creditRuns(l, first, steps[:count], readers, results)
	b.decide(l, credits, kinds, decisions, positions, steps, results, messages)
}

// creditRuns is ApplyCredits' ledger calls: each run of steps with a ledger event goes
// to the ledger in one call, and a step bounded by what its payer may pay
// (b.batch.bounded, their positions, ascending; rare) is judged at its turn
// (creditBounded), after the steps before it are applied. It empties b.batch.bounded,
// which is empty between calls.
func (b *Book) creditRuns(l *ledger.Ledger, first uint64, steps []model.Transfer,
	readers []uint64, results []model.TransferResult) {
	bounded, count := b.batch.bounded, len(steps)
	for start := 0; start < count; {
		end := start
		for end < count && !steps[end].ID.IsZero() && (len(bounded) == 0 || bounded[0] != end) {
			end++
		}
		if end > start {
			l.CreateSagaCredits(first+uint64(start), steps[start:end], readers[start:end],
				results[start:end])
		}
		if len(bounded) > 0 && bounded[0] == end {
			b.creditBounded(l, first+uint64(end), &steps[end], readers[end], &results[end])
			bounded = bounded[1:]
		}
		start = end + 1
	}
	b.batch.bounded = b.batch.bounded[:0]
}

// creditBounded applies step 2 of a Credit whose debit shard reserved only what the payer
// may pay (Credit.PayerBound: a balancing_credit transfer's step 1 lowered its amount).
// A local transfer clamps to the credit account (what takes its credits up to its
// debits) and then refuses exceeds_credits when the payer cannot pay that: so, once the
// checks that precede the clamp pass (the credit account exists, is on the ledger and is
// open: else the ledger answers them), a clamp above the reserved amount is refused
// exceeds_credits, and any other is credited as usual (it moves the clamp, which the
// reserve covers).
func (b *Book) creditBounded(l *ledger.Ledger, timestamp uint64, step *model.Transfer,
	reader uint64, result *model.TransferResult) {
	b.ids[0] = step.CreditAccountID
	b.foundAccts = l.LookupAccounts(b.ids[:], b.foundAccts[:0])
	if len(b.foundAccts) == 1 {
		credit := &b.foundAccts[0]
		credits := credit.CreditsPosted.MustAdd(credit.CreditsPending)
		if credit.Ledger == step.Ledger && credit.Flags&model.AccountClosed == 0 &&
			step.Amount.Less(credit.DebitsPosted.SaturatingSub(credits)) {
			*result = model.TransferResult{}
			result.Timestamp, result.Status = timestamp, model.StatusExceedsCredits
			return
		}
	}
	b.transfers[0] = *step
	readers := [1]uint64{reader}
	l.CreateSagaCredits(timestamp, b.transfers[:], readers[:], b.results[:])
	*result = b.results[0]
}

// classifyCredit decides what step 2 does with a Credit and, for a new one, reserves its
// decision's slot (so that a copy later in the batch finds it). It returns that slot, or
// the decided one, for the rest of the batch: finding it again by sequence was two more
// window lookups per Credit (~25 instructions, callgrind); nil for a Credit ignored or
// forgotten, whose decision is not kept.
func (b *Book) classifyCredit(l *ledger.Ledger, c *Credit) (creditKind, *Decision) {
	if c.To != b.self || c.From == b.self || c.From >= b.placement.Shards || c.Sequence == 0 ||
		c.PayerBound && !b.payerBound {
		// Malformed. Before rules version 9 the PayerBound bit was reserved, and a record
		// with it set was skipped as this one is: an old log replays as it was applied.
		return creditIgnore, nil
	}
	w := &b.decided[c.From]
	if c.Sequence < w.base {
		// Forgotten: its debit shard had made the saga final, but a failover (async or
		// degraded replication) may have lost that on the debit shard's side.
		return creditForgotten, nil
	}
	if !w.fits(c.Sequence) {
		return creditIgnore, nil // Beyond the window (see WindowSpanMax).
	}
	d, decided := w.take(c.Sequence)
	if decided {
		if !d.Matches(c.Transfer.ID) {
			return creditUnknown, nil // Another transfer's decision: not this Credit's.
		}
		return creditDecided, d
	}
	d.From, d.To, d.Transfer = b.self, c.From, c.Transfer.ID
	if c.Abort {
		return creditAbort, d
	}
	if c.Transfer.Flags&model.TransferBalancingCredit != 0 {
		// Clamping the amount to the credit account's balance acts on that account: the
		// client needs a transfer right over it, as for a local transfer (ledger doc,
		// "Ownership"), checked right after the account is found to exist.
		if _, found, allowed := l.AccountAs(c.Client, model.ScopeTransfer,
			c.Transfer.CreditAccountID); found && !allowed {
			return creditNotOwned, d
		}
	}
	return creditTransfer, d
}

// creditTransfer is step 2's transfer: from the pair's settlement account to the client's
// credit account, with the client's code, user data and balancing_credit flag.
func (b *Book) creditTransfer(c *Credit) model.Transfer {
	t := &c.Transfer
	return model.Transfer{ID: CreditTransferID(c.From, c.Sequence),
		DebitAccountID:  SettlementAccountID(c.From, b.self, t.Ledger),
		CreditAccountID: t.CreditAccountID, Amount: t.Amount, UserData128: t.UserData128,
		UserData64: t.UserData64, UserData32: t.UserData32, Ledger: t.Ledger, Code: t.Code,
		Flags: t.Flags & model.TransferBalancingCredit}
}

// decide records the batch's decisions from the ledger's results and emits one Decision
// per Credit (copies included), in order.
func (b *Book) decide(l *ledger.Ledger, credits []Credit, kinds []creditKind,
	decisions []*Decision, positions []int, steps []model.Transfer,
	results []model.TransferResult, messages *[]Message) {
	slots, sent := reserveMessages(messages, MessageDecision, len(credits)), 0
	for i := range credits {
		c := &credits[i]
		if kinds[i] == creditIgnore {
			continue
		}
		message := &slots[sent]
		sent++
		message.To = c.From
		if kinds[i] == creditUnknown || kinds[i] == creditForgotten {
			// Answered, never recorded: the slot keeps the other transfer's decision (or
			// none), so every copy gets this answer again.
			d := Decision{Sequence: c.Sequence, From: b.self, To: c.From,
				Status: model.StatusSagaDecisionUnknown, Transfer: c.Transfer.ID}
			if kinds[i] == creditForgotten {
				b.forgottenDecision(l, c, &d)
			}
			message.Decision = d
			continue
		}
		// The window's pages stay where they are while a batch runs, so the pointer held
		// since classifyCredit; dropped here, so that the scratch keeps no page that a
		// saga_forget later drops (clear(decisions) cost ~30 instructions an entry).
		d := decisions[i]
		decisions[i] = nil
		if kinds[i] != creditDecided {
			switch kinds[i] {
			case creditAbort:
				d.Status = model.StatusSagaTimedOut
			case creditMissing:
				d.Status = model.StatusAccountsLimitReached
			case creditNotOwned:
				d.Status = model.StatusCreditAccountNotOwned
			case creditPayeeRisk:
				d.Status = b.batch.refusals[i]
			case creditTransfer:
				b.credited(l, c, d, &steps[positions[i]], &results[positions[i]])
			}
		}
		message.Decision = *d
	}
	keepMessages(messages, sent)
}

// forgottenDecision answers a Credit whose decision was forgotten from what the ledger
// keeps for good: step 2's transfer C(From, Sequence), when it was created as this
// Credit's step 2 would be (so not for another transfer that a lost saga numbered alike),
// is a credit of its amount (the balances right after are no longer known: zero); else
// nothing was credited for this transfer and the saga is refused (d's status).
func (b *Book) forgottenDecision(l *ledger.Ledger, c *Credit, d *Decision) {
	b.ids[0] = CreditTransferID(c.From, c.Sequence)
	b.found = l.LookupTransfers(b.ids[:], b.found[:0])
	if len(b.found) != 1 {
		return
	}
	made, want := &b.found[0], b.creditTransfer(c)
	amount := made.Amount == want.Amount ||
		want.Flags&model.TransferBalancingCredit != 0 && !want.Amount.Less(made.Amount)
	if amount && made.CreditAccountID == want.CreditAccountID && made.Ledger == want.Ledger &&
		made.Code == want.Code && made.UserData128 == want.UserData128 &&
		made.UserData64 == want.UserData64 && made.UserData32 == want.UserData32 &&
		made.Flags == want.Flags {
		d.Status, d.Amount = model.StatusOK, made.Amount
	}
}

// credited fills a decision from step 2's ledger result.
func (b *Book) credited(l *ledger.Ledger, c *Credit, d *Decision, step *model.Transfer,
	result *model.TransferResult) {
	d.Status = result.Status
	switch d.Status {
	case model.StatusOK:
		// Paying into an account must not reveal what it holds: the client sees its
		// balances only when it may read it (ledger doc, "Ownership"); the ledger hid them
		// otherwise (CreateSagaCredits).
		d.Credit, d.Amount = result.CreditAccount, step.Amount
		if step.Flags&model.TransferBalancingCredit != 0 {
			d.Amount = b.storedAmount(l, step.ID)
		}
	case model.StatusExists, model.StatusIDAlreadyFailed:
		panic(fmt.Sprintf("saga: credit %s of saga %d/%d applied twice", step.ID, c.From,
			c.Sequence))
	}
}

// ApplyFinishes applies step 3 on the debit shard (one saga_finish request): each saga
// still running posts step 1 with the amount credited, or voids it, and becomes final. A
// decision for a saga that is not running (a copy, even one earlier in the batch) is
// ignored. The resolutions go to the ledger in one call, which is told where step 1 is
// stored and whose posts name step 1's accounts (the stored posts and voids inherit them
// either way): the ledger then resolves neither by lookup.
func (b *Book) ApplyFinishes(l *ledger.Ledger, clock *uint64, decisions []Decision,
	messages *[]Message) {
	steps := sized(&b.batch.steps, len(decisions))
	results := sized(&b.batch.results, len(decisions))
	records := sized(&b.batch.records, len(decisions))
	pendings := sized(&b.batch.pendings, len(decisions))
	count := 0
	for i := range decisions {
		d := &decisions[i]
		if d.To != b.self || d.Sequence == 0 || d.Sequence > b.count {
			continue
		}
		r := b.at(d.Sequence)
		if r.phase != PhaseRunning || d.From != r.credit || r.reserved.Less(d.Amount) ||
			!d.Matches(r.original.ID) {
			continue // A copy, or another transfer's (or more than reserved: none is made).
		}
		r.phase = phaseFinishing // A copy later in the batch is ignored.
		// Zeroed and filled in place: a literal was built aside and copied in (~15
		// instructions more per saga, callgrind).
		step := &steps[count]
		*step = model.Transfer{}
		step.PendingID, step.DebitAccountID = r.original.ID, r.original.DebitAccountID
		step.CreditAccountID = SettlementAccountID(b.self, r.credit, r.original.Ledger)
		pendings[count] = b.stepIndexes[d.Sequence-1]
		if d.Status == model.StatusOK {
			step.ID, step.Amount = PostTransferID(r.credit, d.Sequence), d.Amount
			step.Flags = model.TransferPostPending
		} else {
			step.ID = VoidTransferID(r.credit, d.Sequence)
			step.Flags = model.TransferVoidPending
		}
		records[count] = r
		if count != i { // Compact: decisions[:count] are applied (a copy is 128 bytes).
			decisions[count] = *d
		}
		count++
	}
	if count == 0 {
		return
	}
	first := *clock + 1
	*clock += uint64(count)
	l.CreateSagaFinishes(first, steps[:count], pendings[:count], results[:count])
	slots := reserveMessages(messages, MessageFinished, count)
	for i := range count {
		b.finished(records[i], &decisions[i], first+uint64(i), &results[i], &slots[i])
	}
	keepMessages(messages, count)
	b.finishRunning(uint64(count))
}

// phaseFinishing marks, within one ApplyFinishes, a saga whose step 3 is on its way.
const phaseFinishing Phase = 3

// finished makes a saga final after its step 3 and writes its Finished into message (a
// reserveMessages slot).
func (b *Book) finished(r *record, d *Decision, timestamp uint64, result *model.TransferResult,
	message *Message) {
	if result.Status != model.StatusOK {
		panic(fmt.Sprintf("saga: step 3 of %d/%d refused: %s", b.self, d.Sequence, result.Status))
	}
	// Built in place (a literal assigned here was built aside and copied in), and not
	// zeroed first (~30 instructions): every field is written but Rule and Risk, which
	// are zero in every record (pushZero, and a snapshot's records are decoded into zero
	// ones without them) and which no saga's result sets.
	if d.Status == model.StatusOK {
		r.moved = d.Amount
		r.result.Timestamp, r.result.Status = r.original.Timestamp, model.StatusOK
		r.result.DebitAccount = result.DebitAccount
		r.result.CreditAccount = d.Credit
	} else {
		r.result.Timestamp, r.result.Status = timestamp, d.Status
		r.result.DebitAccount, r.result.CreditAccount = model.Balance{}, model.Balance{}
	}
	r.phase = PhaseFinal
	message.To = b.self
	finished := &message.Finished
	finished.ID = r.original.ID // One assignment each: a tuple copied the result twice.
	finished.Sequence = d.Sequence
	// The result but Risk (~80 bytes, ~18 instructions of a whole copy, callgrind): Risk is
	// zero in every record, as above, and so in every Finished, and the slot's Risk is
	// zero too (a cleared slot, or a Finished made here: reserveMessages).
	finished.Result.EventResult = r.result.EventResult
	finished.Result.DebitAccount = r.result.DebitAccount
	finished.Result.CreditAccount = r.result.CreditAccount
	if invariants.Enabled && (finished.Result.Risk != r.result.Risk) {
		panic(fmt.Sprintf("saga: Finished of %d/%d holds a stale risk detail", b.self, d.Sequence))
	}
}

// finishRunning updates the running list after one ApplyFinishes made finished sagas
// final: finals leave the front at once and the rest when they make up half of it. The
// list is read only through the records' phases (Summary, Outbox, Running), so which
// final entries it still holds is not state: updating it once per batch rather than once
// per saga gives the same answers, and ~40 instructions less per saga (callgrind).
func (b *Book) finishRunning(finished uint64) {
	b.runs -= finished
	front := 0
	for front < len(b.running) && b.at(b.running[front]).phase != PhaseRunning {
		front++
	}
	if front == len(b.running) {
		// None runs: start the list over in its own capacity. Slicing off the front gave
		// up that capacity, so that every later append soon reallocated the list (~7
		// instructions and an allocation every few batches per saga, callgrind).
		b.running = b.running[:0]
	} else {
		b.running = b.running[front:]
	}
	if uint64(len(b.running)) > 2*b.runs+64 {
		kept := b.running[:0]
		for _, sequence := range b.running {
			if b.at(sequence).phase == PhaseRunning {
				kept = append(kept, sequence)
			}
		}
		b.running = kept
	}
}

// ApplyForget drops debit shard f.From's decisions below f.Below (saga_forget): that
// shard has made every saga below final and durable, so it asks for none of them again.
// A later copy of their Credits is answered from the ledger (forgottenDecision), in case
// a failover lost the saga's end on the debit shard.
func (b *Book) ApplyForget(f *Forget) {
	if f.From == b.self || f.From >= b.placement.Shards || f.Below <= b.decided[f.From].base {
		return
	}
	b.decided[f.From].forget(f.Below)
}

// Lookup appends one State record per id to out (saga_lookup).
func (b *Book) Lookup(l *ledger.Ledger, ids []model.Uint128, out []byte) []byte {
	var record [model.SagaStateSize]byte
	for _, id := range ids {
		state := State{ID: id}
		if sequence, ok := b.sequenceOf(l, id); ok {
			r := b.at(sequence)
			state.Phase = r.phase
			if r.phase == PhaseFinal {
				state.Result = r.result
			}
		}
		state.Encode(record[:])
		out = append(out, record[:]...)
	}
	return out
}

// Summary describes the running sagas.
func (b *Book) Summary() OutboxSummary {
	summary := OutboxSummary{Next: b.count + 1, Lowest: b.count + 1, Running: b.runs}
	for _, sequence := range b.running {
		if b.at(sequence).phase == PhaseRunning {
			summary.Lowest = sequence
			break
		}
	}
	return summary
}

// Outbox appends to out the summary and the Credit records of up to
// model.SagaOutboxPageMax running sagas numbered above after, in order (saga_outbox).
func (b *Book) Outbox(after uint64, out []byte) []byte {
	var record [model.SagaCreditSize]byte
	summary := b.Summary()
	summary.Encode(record[:model.SagaOutboxSummarySize])
	out = append(out, record[:model.SagaOutboxSummarySize]...)
	listed := 0
	for _, sequence := range b.running {
		if listed == model.SagaOutboxPageMax {
			break
		}
		if sequence <= after || b.at(sequence).phase != PhaseRunning {
			continue
		}
		credit := b.credit(sequence)
		credit.Encode(record[:])
		out = append(out, record[:]...)
		listed++
	}
	return out
}

// View rewrites, in place, the transfers a lookup found: a saga's step 1 (a client id
// crediting a settlement account) becomes the client's transfer as created once the saga
// posted it, and disappears otherwise (running, or voided: a failed transfer is not
// stored). It returns the shortened slice.
func (b *Book) View(l *ledger.Ledger, found []model.Transfer) []model.Transfer {
	kept := found[:0]
	for _, t := range found {
		if _, _, _, step := SettlementAccount(t.CreditAccountID); !step || model.IsSystemID(t.ID) {
			kept = append(kept, t)
			continue
		}
		sequence, ok := b.sequenceOf(l, t.ID)
		if !ok {
			kept = append(kept, t) // A settlement transfer of another kind: not a step 1.
			continue
		}
		r := b.at(sequence)
		if r.phase != PhaseFinal || r.result.Status != model.StatusOK {
			continue
		}
		view := r.original
		view.Amount = r.moved
		kept = append(kept, view)
	}
	return kept
}

// Running calls fn with each running saga's Credit record, in order (for reconciliation:
// the Transfer's Timestamp is when the saga started).
func (b *Book) Running(fn func(c *Credit)) {
	for _, sequence := range b.running {
		if b.at(sequence).phase == PhaseRunning {
			credit := b.credit(sequence)
			fn(&credit)
		}
	}
}

// Decisions returns how many decisions this shard keeps for debit shards.
func (b *Book) Decisions() int {
	count := 0
	for i := range b.decided {
		count += b.decided[i].count
	}
	return count
}
