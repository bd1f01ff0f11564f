package bench

import (
	"encoding/binary"
	"sync/atomic"

	"sequent/core/model"
)

// effect is what a created transfer does to its accounts' balances.
type effect uint8

const (
	effectPosted  effect = iota // Single-phase (also each link of a chain): posted.
	effectPending               // Pending: reserved on both sides.
	effectPost                  // Post: pending released, posted added.
	effectVoid                  // Void: pending released.
)

// expectedBalances accumulates, per account, how the run's transfers should have moved
// its balances (the transfers the server reported created). Connections add to it
// concurrently (atomics); the final check compares it with the accounts' real movement.
type expectedBalances struct {
	debitsPending  []atomic.Int64
	debitsPosted   []atomic.Int64
	creditsPending []atomic.Int64
	creditsPosted  []atomic.Int64
	// transfers counts the transfers accounted for. Workers add their counts when they
	// stop (worker.flushAccounted), not per transfer: one counter that every worker
	// incremented per settled transfer moved its cache line between the cores at every
	// one-transfer reply. The balances too are added in batches (worker.settled,
	// applyBatch), and a worker's last batch when it stops.
	transfers atomic.Uint64
}

func newExpectedBalances(accounts int) *expectedBalances {
	return &expectedBalances{
		debitsPending:  make([]atomic.Int64, accounts),
		debitsPosted:   make([]atomic.Int64, accounts),
		creditsPending: make([]atomic.Int64, accounts),
		creditsPosted:  make([]atomic.Int64, accounts),
	}
}

// settledEffect is what one created transfer adds to the expected balances: the part of
// its eventMeta that apply reads, kept by its worker until applyBatch.
type settledEffect struct {
	amount int64
	debit  uint32
	credit uint32
	effect effect
}

// effectOf is the settled effect of the created transfer m.
func effectOf(m *eventMeta) settledEffect {
	return settledEffect{amount: int64(m.amount), debit: m.debit, credit: m.credit,
		effect: m.effect}
}

// apply adds one created transfer's effect to the balances; its caller counts it in
// transfers (directly, or through its worker's accounted count).
func (e *expectedBalances) apply(m *eventMeta) {
	e.add(effectOf(m))
}

// add adds one settled effect to the balances.
func (e *expectedBalances) add(s settledEffect) {
	switch s.effect {
	case effectPosted:
		e.debitsPosted[s.debit].Add(s.amount)
		e.creditsPosted[s.credit].Add(s.amount)
	case effectPending:
		e.debitsPending[s.debit].Add(s.amount)
		e.creditsPending[s.credit].Add(s.amount)
	case effectPost:
		e.debitsPending[s.debit].Add(-s.amount)
		e.creditsPending[s.credit].Add(-s.amount)
		e.debitsPosted[s.debit].Add(s.amount)
		e.creditsPosted[s.credit].Add(s.amount)
	case effectVoid:
		e.debitsPending[s.debit].Add(-s.amount)
		e.creditsPending[s.credit].Add(-s.amount)
	}
}

// applyBatch adds a worker's settled effects to the balances (the sums are those of
// applying them one by one: additions commute). Why in batches: each add is a locked
// read-modify-write, which waits for its counter's cache line, and with 512 callers
// (`sequent bench --embedded --callers 512`) the line was nearly always cold by the
// time a caller came back, evicted by the server and 511 other callers between two of
// its calls: two misses waited for in turn per transfer, 3-7% of the process's CPU
// samples. Here plain loads of every counter the batch adds to go first, and the
// processor has many of those misses in flight at once; the adds then find their lines
// in the cache: the settle's samples per transfer 75 -> 53 ns, for ~57 instructions
// more (bench/PERFORMANCE.md, issue 15, session 49 callers49).
func (e *expectedBalances) applyBatch(batch []settledEffect) {
	var touched int64
	for i := range batch {
		s := &batch[i]
		if s.effect == effectPosted || s.effect == effectPost {
			touched += e.debitsPosted[s.debit].Load() + e.creditsPosted[s.credit].Load()
		}
		if s.effect != effectPosted {
			touched += e.debitsPending[s.debit].Load() + e.creditsPending[s.credit].Load()
		}
	}
	_ = touched
	for i := range batch {
		e.add(batch[i])
	}
}

// pendingQueue is a bounded FIFO of created pending transfers (one connection's).
type pendingQueue struct {
	items []eventMeta
	head  int // Index of the oldest.
	count int
}

func newPendingQueue(capacity int) pendingQueue {
	return pendingQueue{items: make([]eventMeta, capacity)}
}

func (q *pendingQueue) full() bool { return q.count == len(q.items) }

// push adds a pending transfer; a full queue drops it (it simply stays pending).
func (q *pendingQueue) push(m *eventMeta) {
	if q.full() {
		return
	}
	q.items[(q.head+q.count)%len(q.items)] = *m
	q.count++
}

func (q *pendingQueue) pop() eventMeta {
	m := q.items[q.head]
	q.head = (q.head + 1) % len(q.items)
	q.count--
	return m
}

// nextTransferID returns a new transfer id of this connection.
func (w *worker) nextTransferID() model.Uint128 {
	w.sequence++
	return w.run.ids.transfer(w.index, w.sequence)
}

// newTransfer fills m with a new single-phase or pending transfer between two accounts.
func (w *worker) newTransfer(m *eventMeta, kind effect) {
	debit, credit := w.chooser.pair()
	*m = eventMeta{id: w.nextTransferID(), amount: 1 + w.random.Uint64N(transferAmountMax),
		debit: debit, credit: credit, effect: kind}
}

// encodeTransfer writes event i of the request body, or in callers mode the call's
// transfer i (the body is then left as it was: only its length is read).
func (w *worker) encodeTransfer(i int, m *eventMeta, flags uint16) {
	ids := &w.run.ids
	t := model.Transfer{ID: m.id, UserData64: w.run.config.RunID, Flags: flags}
	switch m.effect {
	case effectPosted, effectPending:
		t.DebitAccountID, t.CreditAccountID = ids.account(m.debit), ids.account(m.credit)
		t.Amount = model.U128(m.amount)
		t.Ledger, t.Code = transferLedger, transferCode
		if m.effect == effectPending {
			t.Flags |= model.TransferPending
		}
	case effectPost:
		t.PendingID, t.Amount = m.pendingID, model.U128(m.amount)
		t.Flags |= model.TransferPostPending
	case effectVoid:
		t.PendingID = m.pendingID // Amount 0: the pending amount.
		t.Flags |= model.TransferVoidPending
	}
	if m.effect >= effectPost && w.run.shardOf != nil {
		// A node of several shards places a post or void by its debit account, or under
		// ledger placement by its ledger (PROTOCOL.md, placement_field_missing); both
		// must match the pending transfer's (TestReview50TwoPhasePostsPlacedOnShards).
		t.DebitAccountID, t.Ledger = ids.account(m.debit), transferLedger
	}
	if w.transfers != nil {
		// Callers mode: the call takes the transfers themselves (callTransfers), so
		// they are not encoded into the body only to be decoded back, ~120 instructions
		// a call (bench/PERFORMANCE.md, issue 15, session 49).
		w.transfers[i] = t
		return
	}
	t.Encode(w.body[i*model.TransferSize:])
}

// buildSingle fills the slot with single-phase transfers.
func (w *worker) buildSingle(s *slot) []byte {
	s.events = w.run.config.Events
	for i := range s.events {
		w.newTransfer(&s.meta[i], effectPosted)
		w.encodeTransfer(i, &s.meta[i], 0)
	}
	return w.body[:s.events*model.TransferSize]
}

// buildTwoPhase fills the slot with two-phase events: each resolves the oldest created
// pending transfer (post or void, 50/50) with probability 1/2 (always when the queue is
// full), or else creates a new pending transfer.
func (w *worker) buildTwoPhase(s *slot) []byte {
	s.events = w.run.config.Events
	for i := range s.events {
		m := &s.meta[i]
		if w.pending.count > 0 && (w.pending.full() || w.random.IntN(2) == 0) {
			pending := w.pending.pop()
			*m = eventMeta{id: w.nextTransferID(), pendingID: pending.id,
				amount: pending.amount, debit: pending.debit, credit: pending.credit,
				effect: effectPost}
			if w.random.IntN(2) == 0 {
				m.effect = effectVoid
			}
		} else {
			w.newTransfer(m, effectPending)
		}
		w.encodeTransfer(i, m, 0)
	}
	return w.body[:s.events*model.TransferSize]
}

// buildLinked fills the slot with linked chains of 2 to 4 single-phase transfers; a
// chain never crosses the request's end (it is atomic only within one request).
func (w *worker) buildLinked(s *slot) []byte {
	s.events = w.run.config.Events
	for i := 0; i < s.events; {
		length := chainLength(s.events-i, w.random.IntN(chainLengthMax-chainLengthMin+1))
		for j := range length {
			w.newTransfer(&s.meta[i+j], effectPosted)
			var flags uint16
			if j < length-1 {
				flags = model.TransferLinked
			}
			w.encodeTransfer(i+j, &s.meta[i+j], flags)
		}
		i += length
	}
	return w.body[:s.events*model.TransferSize]
}

// chainLength returns the next chain's length for remaining events (at least 2): 2 to 4
// picked by roll, adjusted so that no single event is left over.
func chainLength(remaining, roll int) int {
	longest := min(chainLengthMax, remaining)
	length := min(chainLengthMin+roll, longest)
	if remaining-length == 1 {
		if length < longest {
			length++
		} else {
			length--
		}
	}
	return max(length, min(remaining, chainLengthMin))
}

// settleTransfers reads one result per event; it reports false if the body does not
// hold exactly that.
func (w *worker) settleTransfers(body []byte, s *slot, t *sample) bool {
	if len(body) != s.events*model.EventResultSize {
		w.outcomeUnknown(s)
		return false
	}
	expected := w.run.expected
	if w.run.shardOf != nil {
		w.countStoredOnShards(body, s)
	}
	for i := range s.events {
		status := model.Status(binary.LittleEndian.Uint32(body[i*model.EventResultSize+8:]))
		if t != nil {
			t.results[statusSlot(status)]++
		}
		if status != model.StatusOK {
			// Not applied (exists: applied by an earlier run, not this one). An event of a
			// linked chain undone leaves its id slot taken (a tombstone): on one shard,
			// counted here (countStoredOnShards counts every shard's otherwise).
			if s.kind == KindLinked && w.run.shardOf == nil {
				w.stored[0]++
			}
			continue
		}
		m := &s.meta[i]
		w.settled = append(w.settled, effectOf(m))
		if len(w.settled) == settledEffectsMax {
			expected.applyBatch(w.settled)
			w.settled = w.settled[:0]
		}
		w.accounted++
		if m.effect == effectPending {
			w.pending.push(m)
		}
	}
	return true
}
