package saga

import (
	"fmt"

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
	credit   uint16               // Credit shard.
	phase    Phase
}

// Book is one shard's saga state: the sagas it started (as debit shard) and the decisions
// it took (as credit shard). Deterministic: it changes only when the machine applies a
// logged entry. One goroutine (the machine's) owns it.
type Book struct {
	placement *shardmap.Map
	self      uint16

	chunks  [][]record
	count   uint64                   // Sagas started; saga n is at index n-1.
	byID    map[model.Uint128]uint64 // Client transfer id → sequence. Never iterated.
	running []uint64                 // Sequences of running sagas, ascending (finals removed lazily).
	runs    uint64                   // Running sagas.

	decided    [][]Decision            // Per debit shard, in the order decided.
	decisions  map[decisionKey]int     // → index in decided[from]. Never iterated.
	watermarks []uint64                // Per debit shard: credits below are forgotten.
	transfers  [1]model.Transfer       // Scratch for one-event ledger calls.
	results    [1]model.TransferResult //
	accounts   [1]model.Account        //
	ids        [1]model.Uint128        //
	found      []model.Transfer        //
	foundAccts []model.Account         //
}

type decisionKey struct {
	from     uint16
	sequence uint64
}

// New returns an empty book for shard self of a map (shardmap.Single() for an unsharded
// machine).
func New(placement *shardmap.Map, self uint16) *Book {
	return &Book{placement: placement, self: self, byID: map[model.Uint128]uint64{},
		decided: make([][]Decision, placement.Shards), decisions: map[decisionKey]int{},
		watermarks: make([]uint64, placement.Shards), found: make([]model.Transfer, 0, 1),
		foundAccts: make([]model.Account, 0, 1)}
}

// Map returns the node's shard map; Self this shard's index.
func (b *Book) Map() *shardmap.Map { return b.placement }

// Self returns this shard's index.
func (b *Book) Self() uint16 { return b.self }

// Sharded reports whether transfers can cross shards at all.
func (b *Book) Sharded() bool { return b.placement.Shards > 1 }

func (b *Book) at(sequence uint64) *record {
	index := sequence - 1
	return &b.chunks[index/recordsPerChunk][index%recordsPerChunk]
}

func (b *Book) push(r record) uint64 {
	if b.count%recordsPerChunk == 0 {
		b.chunks = append(b.chunks, make([]record, recordsPerChunk))
	}
	b.count++
	*b.at(b.count) = r
	return b.count
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
// credit shard). A creation refused for the accounts limit leaves the account missing:
// Start then refuses the transfer with accounts_limit_reached.
func (b *Book) EnsureSettlements(l *ledger.Ledger, clock *uint64, events []model.Transfer,
	cross []bool, credit []uint16) {
	for i := range events {
		if cross[i] {
			b.ensureSettlement(l, clock, SettlementAccountID(b.self, credit[i], events[i].Ledger),
				events[i].Ledger)
		}
	}
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

// Start applies step 1 of a cross-shard transfer t (Cross said so) at timestamp, as
// event of a create_transfers request; chained says the previous event of the request
// was linked (so t would end a chain). The result is final when the debit side refuses,
// else saga_in_flight (or, for an identical retry of a running saga,
// saga_in_flight_retry); a started saga emits its Credit message.
func (b *Book) Start(l *ledger.Ledger, t *model.Transfer, credit uint16, timestamp uint64,
	chained bool, result *model.TransferResult, messages *[]Message) {
	*result = model.TransferResult{}
	result.Timestamp = timestamp
	result.Status = b.start(l, t, credit, timestamp, chained, result, messages)
}

func (b *Book) start(l *ledger.Ledger, t *model.Transfer, credit uint16, timestamp uint64,
	chained bool, result *model.TransferResult, messages *[]Message) model.Status {
	if status := ledger.CheckTransferHeader(t); status != model.StatusOK {
		return status
	}
	if sequence, ok := b.byID[t.ID]; ok {
		return b.retry(b.at(sequence), t, result)
	}
	status, existing := l.CheckNewTransfer(t)
	switch {
	case status != model.StatusOK:
		if existing != 0 {
			result.Timestamp = existing // exists or exists_with_different_*.
		}
		return status
	case t.Flags&model.TransferPending != 0:
		return model.StatusPendingTransferSpansShards
	case t.Flags&model.TransferLinked != 0 || chained:
		return model.StatusLinkedChainSpansShards
	case b.count >= SagasMax:
		return model.StatusTransfersLimitReached
	}
	settlement := SettlementAccountID(b.self, credit, t.Ledger)
	b.ids[0] = settlement
	if b.foundAccts = l.LookupAccounts(b.ids[:], b.foundAccts[:0]); len(b.foundAccts) == 0 {
		return model.StatusAccountsLimitReached // EnsureSettlements could not create it.
	}
	step := *t
	step.CreditAccountID = settlement
	step.Flags = model.TransferPending | t.Flags&model.TransferBalancingDebit
	b.transfers[0] = step
	l.CreateSagaTransfers(timestamp, b.transfers[:], b.results[:])
	if status := b.results[0].Status; status != model.StatusOK {
		return b.localStatus(l, t, status)
	}
	reserved := t.Amount
	if t.Flags&model.TransferBalancingDebit != 0 {
		reserved = b.storedAmount(l, t.ID)
	}
	original := *t
	original.Timestamp = timestamp
	sequence := b.push(record{original: original, reserved: reserved, credit: credit,
		phase: PhaseRunning})
	b.byID[t.ID] = sequence
	b.running = append(b.running, sequence)
	b.runs++
	*messages = append(*messages, Message{Kind: MessageCredit, To: credit,
		Credit: b.credit(sequence)})
	return model.StatusSagaInFlight
}

// credit returns the Credit record of a saga.
func (b *Book) credit(sequence uint64) Credit {
	r := b.at(sequence)
	transfer := r.original
	transfer.Amount = r.reserved
	return Credit{Transfer: transfer, Sequence: sequence, From: b.self, To: r.credit}
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
	case final.Transient() || final == model.StatusSagaTimedOut:
		return model.StatusIDAlreadyFailed
	}
	return final
}

// FixRetries corrects the results of local transfers whose id is a saga's: the ledger
// compared them with step 1 (a pending transfer into a settlement account); they are
// answered as retries of the client's original instead (see retry).
func (b *Book) FixRetries(events []model.Transfer, results []model.TransferResult) {
	if b.count == 0 {
		return
	}
	for i := range results {
		if !existsWithDifference(results[i].Status) {
			continue
		}
		if sequence, ok := b.byID[events[i].ID]; ok {
			results[i].Status = b.retry(b.at(sequence), &events[i], &results[i])
		}
	}
}

func existsWithDifference(s model.Status) bool {
	return s >= model.StatusExistsWithDifferentFlags && s <= model.StatusExistsWithDifferentCode ||
		s >= model.StatusExistsWithDifferentDebitAccountID && s <= model.StatusExistsWithDifferentTimeout
}

// ApplyCredit applies step 2 on the credit shard (saga_credit), once per saga: a copy of a
// Credit already decided gets the recorded Decision again, one below the debit shard's
// watermark (its saga is final) is ignored, and a malformed one (not addressed here) too.
func (b *Book) ApplyCredit(l *ledger.Ledger, clock *uint64, c *Credit, messages *[]Message) {
	if c.To != b.self || c.From == b.self || c.From >= b.placement.Shards ||
		c.Sequence < b.watermarks[c.From] || c.Sequence == 0 {
		return
	}
	key := decisionKey{c.From, c.Sequence}
	if index, ok := b.decisions[key]; ok {
		*messages = append(*messages, Message{Kind: MessageDecision, To: c.From,
			Decision: b.decided[c.From][index]})
		return
	}
	d := Decision{Sequence: c.Sequence, From: b.self, To: c.From}
	settlement := SettlementAccountID(c.From, b.self, c.Transfer.Ledger)
	switch {
	case c.Abort:
		d.Status, d.Timestamp = model.StatusSagaTimedOut, next(clock)
	case !b.ensureSettlement(l, clock, settlement, c.Transfer.Ledger):
		d.Status, d.Timestamp = model.StatusAccountsLimitReached, next(clock)
	default:
		d.Timestamp = next(clock)
		b.credit2(l, c, settlement, &d)
	}
	b.decisions[key] = len(b.decided[c.From])
	b.decided[c.From] = append(b.decided[c.From], d)
	*messages = append(*messages, Message{Kind: MessageDecision, To: c.From, Decision: d})
}

// credit2 is step 2's transfer: from the pair's settlement account to the client's
// credit account, with the client's code, user data and balancing_credit flag.
func (b *Book) credit2(l *ledger.Ledger, c *Credit, settlement model.Uint128, d *Decision) {
	t := &c.Transfer
	id := CreditTransferID(c.From, c.Sequence)
	b.transfers[0] = model.Transfer{ID: id, DebitAccountID: settlement,
		CreditAccountID: t.CreditAccountID, Amount: t.Amount, UserData128: t.UserData128,
		UserData64: t.UserData64, UserData32: t.UserData32, Ledger: t.Ledger, Code: t.Code,
		Flags: t.Flags & model.TransferBalancingCredit}
	l.CreateSystemTransfers(d.Timestamp, b.transfers[:], b.results[:])
	d.Status = b.results[0].Status
	switch d.Status {
	case model.StatusOK:
		d.Credit = b.results[0].CreditAccount
		d.Amount = t.Amount
		if t.Flags&model.TransferBalancingCredit != 0 {
			d.Amount = b.storedAmount(l, id)
		}
	case model.StatusExists, model.StatusIDAlreadyFailed:
		panic(fmt.Sprintf("saga: credit %s of saga %d/%d applied twice", id, c.From, c.Sequence))
	}
}

// ApplyFinish applies step 3 on the debit shard (saga_finish): the saga posts step 1 with
// the amount credited, or voids it, and becomes final. A decision for a saga that is not
// running (a copy) is ignored.
func (b *Book) ApplyFinish(l *ledger.Ledger, clock *uint64, d *Decision, messages *[]Message) {
	if d.To != b.self || d.Sequence == 0 || d.Sequence > b.count {
		return
	}
	r := b.at(d.Sequence)
	if r.phase != PhaseRunning || d.From != r.credit || r.reserved.Less(d.Amount) {
		return // A copy (or a decision no credit shard makes: more than reserved).
	}
	timestamp := next(clock)
	resolution := model.Transfer{PendingID: r.original.ID}
	if d.Status == model.StatusOK {
		resolution.ID, resolution.Amount = PostTransferID(r.credit, d.Sequence), d.Amount
		resolution.Flags = model.TransferPostPending
	} else {
		resolution.ID, resolution.Flags = VoidTransferID(r.credit, d.Sequence), model.TransferVoidPending
	}
	b.transfers[0] = resolution
	l.CreateSagaTransfers(timestamp, b.transfers[:], b.results[:])
	if status := b.results[0].Status; status != model.StatusOK {
		panic(fmt.Sprintf("saga: step 3 of %d/%d refused: %s", b.self, d.Sequence, status))
	}
	if d.Status == model.StatusOK {
		r.moved = d.Amount
		r.result = model.TransferResult{EventResult: model.EventResult{
			Timestamp: r.original.Timestamp, Status: model.StatusOK},
			DebitAccount: b.results[0].DebitAccount, CreditAccount: d.Credit}
	} else {
		r.result = model.TransferResult{EventResult: model.EventResult{Timestamp: timestamp,
			Status: d.Status}}
	}
	r.phase = PhaseFinal
	b.finishRunning()
	*messages = append(*messages, Message{Kind: MessageFinished, To: b.self,
		Finished: Finished{ID: r.original.ID, Sequence: d.Sequence, Result: r.result}})
}

// finishRunning updates the running list after a saga became final: finals leave the
// front at once and the rest when they make up half of it.
func (b *Book) finishRunning() {
	b.runs--
	for len(b.running) > 0 && b.at(b.running[0]).phase != PhaseRunning {
		b.running = b.running[1:]
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
// Later copies of their Credits are ignored.
func (b *Book) ApplyForget(f *Forget) {
	if f.From == b.self || f.From >= b.placement.Shards || f.Below <= b.watermarks[f.From] {
		return
	}
	b.watermarks[f.From] = f.Below
	kept := b.decided[f.From][:0]
	for _, d := range b.decided[f.From] {
		key := decisionKey{f.From, d.Sequence}
		if d.Sequence < f.Below {
			delete(b.decisions, key)
			continue
		}
		b.decisions[key] = len(kept)
		kept = append(kept, d)
	}
	b.decided[f.From] = kept
}

// Lookup appends one State record per id to out (saga_lookup).
func (b *Book) Lookup(ids []model.Uint128, out []byte) []byte {
	var record [model.SagaStateSize]byte
	for _, id := range ids {
		state := State{ID: id}
		if sequence, ok := b.byID[id]; ok {
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
func (b *Book) View(found []model.Transfer) []model.Transfer {
	kept := found[:0]
	for _, t := range found {
		if _, _, _, step := SettlementAccount(t.CreditAccountID); !step || model.IsSystemID(t.ID) {
			kept = append(kept, t)
			continue
		}
		sequence, ok := b.byID[t.ID]
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
func (b *Book) Decisions() int { return len(b.decisions) }
