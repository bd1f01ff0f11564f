package drill

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"sequent/core/model"
	"sequent/netio/client"
)

// idSet is a set of the drill's transfer ids, one bit each: bit id-firstID-1. The load
// keeps one per outcome class, so a long drill's memory grows by bits, not by transfers.
type idSet struct {
	words []uint64
	count int // Bits set.
}

func (s *idSet) add(bit uint64) {
	for uint64(len(s.words))*64 <= bit {
		s.words = append(s.words, 0)
	}
	if s.words[bit/64]&(1<<(bit%64)) == 0 {
		s.words[bit/64] |= 1 << (bit % 64)
		s.count++
	}
}

func (s *idSet) has(bit uint64) bool {
	return bit/64 < uint64(len(s.words)) && s.words[bit/64]&(1<<(bit%64)) != 0
}

// refusal is a definite refusal the load received: count ids from firstID, and the
// status that refused them. Kept (up to refusalsKeptMax) so that a refused transfer
// found stored can be reported with what its client was told and when.
type refusal struct {
	firstID, count uint64
	status         model.Status
	requestLevel   bool // The request's status (a *client.StatusError), not the event's.
	at             time.Time
}

// batchAck is one acknowledged batch: its ids, when it was sent and when its reply arrived.
type batchAck struct {
	firstID, count     uint64
	sent, acknowledged time.Time
}

// load sends batches of transfers between the drill's accounts through one client
// session that follows the primary across failovers, and records what was acknowledged
// and when.
//
// Memory stays bounded by the run's length, not by what each transfer holds: ids are
// consecutive from firstID, every field of a transfer derives from its id (transferFor),
// and an id's outcome class costs one bit: acknowledged (created or exists), definitely
// refused (nothing applied: it must not be stored afterwards), or unknown (it may be
// either). Every id sent gets exactly one class once its batch returns; ids paced out at
// halt get none. A 100-cycle drill sends tens of millions of transfers; keeping each in
// a map took ~500 bytes apiece and exhausted memory.
type load struct {
	client       *client.Client
	accountCount uint64
	batchSize    int
	rate         float64 // Most transfers per second over all workers (0: unpaced).
	firstID      uint64  // The first id is firstID+1.
	mutex        sync.Mutex
	nextID       uint64               // Last id handed out.
	started      time.Time            // When start ran (pacing).
	acknowledged idSet                // Created or exists was received.
	refusedIDs   idSet                // Definitely refused (definitelyRefused).
	unknown      idSet                // Outcome not learnt: may or may not be stored.
	refusals     []refusal            // The first refusalsKeptMax refusals, in order.
	sentCount    uint64               // Transfers actually sent (ids handed out minus paced-out ones).
	refused      map[model.Status]int // Event statuses other than created/exists.
	acks         []batchAck           // Each acknowledged batch, in completion order.
	stop         chan struct{}
	group        sync.WaitGroup
	failure      error
}

func newLoad(c *client.Client, accountCount uint64, batchSize int, firstID uint64,
	rate float64) *load {
	return &load{client: c, accountCount: accountCount, batchSize: batchSize, rate: rate,
		firstID: firstID, nextID: firstID, refused: map[model.Status]int{}}
}

// transferFor is the transfer the drill sends with the given id.
func (l *load) transferFor(id uint64) model.Transfer {
	debit := id%l.accountCount + 1
	credit := (id*7+3)%l.accountCount + 1
	if credit == debit {
		credit = debit%l.accountCount + 1
	}
	return model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(debit),
		CreditAccountID: model.U128(credit), Amount: model.U128(id%100 + 1), Ledger: 1, Code: 1}
}

// start runs workers until stopped.
func (l *load) start(workers int) {
	l.stop = make(chan struct{})
	l.started = time.Now()
	for range workers {
		l.group.Add(1)
		go func() {
			defer l.group.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				l.batch()
			}
		}()
	}
}

// halt stops the workers and waits for their last batches.
func (l *load) halt() {
	close(l.stop)
	l.group.Wait()
}

func (l *load) batch() {
	l.mutex.Lock()
	first := l.nextID + 1
	l.nextID += uint64(l.batchSize)
	var due time.Time
	if l.rate > 0 {
		due = l.started.Add(time.Duration(float64(l.nextID-l.firstID) / l.rate * 1e9))
	}
	l.mutex.Unlock()
	if wait := time.Until(due); wait > 0 {
		select {
		case <-time.After(wait):
		case <-l.stop:
			return // The ids stay unsent; the check finds them absent and unacknowledged.
		}
	}
	l.mutex.Lock()
	l.sentCount += uint64(l.batchSize)
	l.mutex.Unlock()
	transfers := make([]model.Transfer, l.batchSize)
	for i := range transfers {
		transfers[i] = l.transferFor(first + uint64(i))
	}
	// A failover takes a while: the client reconnects to the new primary and resends with
	// the same request numbers, so the batch completes once it is up.
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	sent := time.Now()
	results, err := l.client.CreateTransfers(ctx, transfers)
	l.mutex.Lock()
	defer l.mutex.Unlock()
	now := time.Now() // Under the lock, so acks stays sorted by acknowledgement time.
	if err != nil && !errors.Is(err, context.Canceled) {
		l.failure = err
	}
	l.recordLocked(first, transfers, results, err, sent, now)
}

// recordLocked files each transfer of a batch under the outcome class its client saw.
// Called with mutex held.
func (l *load) recordLocked(first uint64, transfers []model.Transfer,
	results []model.EventResult, err error, sent, now time.Time) {
	if err != nil {
		status, refused := definitelyRefused(err)
		for _, transfer := range transfers {
			if refused {
				l.refusedIDs.add(transfer.ID.Lo - l.firstID - 1)
			} else {
				l.unknown.add(transfer.ID.Lo - l.firstID - 1)
			}
		}
		if refused {
			l.keepRefusalLocked(refusal{firstID: first, count: uint64(len(transfers)),
				status: status, requestLevel: true, at: now})
		}
		return
	}
	for i, result := range results {
		switch result.Status {
		case model.StatusOK, model.StatusExists:
			l.markAcknowledged(transfers[i].ID.Lo)
		case model.StatusRiskHeldForReview:
			// Not a refusal: PROTOCOL.md §12 ("Holds") stores the transfer, as a pending
			// one held for review, so it must be found afterwards like a created one. (The
			// drill sets no risk rules; this keeps the classes true if one is added.)
			l.refused[result.Status]++
			l.markAcknowledged(transfers[i].ID.Lo)
		default:
			// PROTOCOL.md §6 and §12: an event's own status other than created (0),
			// exists (14) or a hold (313) in an ok reply is a refusal of that event with
			// nothing applied for it; one the client does not know is read as such a
			// refusal (§12). A cross-shard one too (§18: saga_timed_out and
			// saga_decision_unknown, "nothing moved").
			l.refused[result.Status]++
			l.refusedIDs.add(transfers[i].ID.Lo - l.firstID - 1)
			l.keepRefusalLocked(refusal{firstID: transfers[i].ID.Lo, count: 1,
				status: result.Status, at: now})
		}
	}
	l.acks = append(l.acks, batchAck{firstID: first, count: uint64(len(transfers)), sent: sent,
		acknowledged: now})
}

func (l *load) keepRefusalLocked(r refusal) {
	if len(l.refusals) < refusalsKeptMax {
		l.refusals = append(l.refusals, r)
	}
}

// definitelyRefused reports whether a failed CreateTransfers call was definitely not
// applied, and the request-level status that says so. The drill's client sends each
// batch (at most 8189 transfers, no shard routing) as part of one request, so a request's
// status is every transfer of the batch's.
//
// Definite: a *client.StatusError, which the client returns only when no copy of the
// request may have been applied (a write an earlier copy of which may have been is
// completed with an *OutcomeUnknownError instead, whatever the status). PROTOCOL.md §6
// lists its statuses as "refused at once" (busy, rate_limited, not_primary, shutting_down,
// log_unavailable, permission_denied, the shape refusals: nothing was queued) or answered
// after processing as not applied (internal_error, log_unavailable). Two are excluded:
// request_too_old says the outcome must be found by looking the ids up (§7), and
// request_number_reused applies the events of shards that never applied the number on a
// node of several shards (§18).
//
// Unknown: an *client.OutcomeUnknownError (outcome_unknown, a copy lost with a
// connection, a resend refused with a status that says nothing about an earlier copy:
// §7, "After a disconnect", and §17), an ended context or a closed client (§17: a caller
// that stops waiting reports the outcome as unknown, never as failed), and anything else.
func definitelyRefused(err error) (model.Status, bool) {
	var unknown *client.OutcomeUnknownError
	if errors.As(err, &unknown) {
		return 0, false
	}
	var refused *client.StatusError
	if !errors.As(err, &refused) {
		return 0, false
	}
	switch refused.Status {
	case model.StatusRequestTooOld, model.StatusRequestNumberReused:
		return refused.Status, false
	}
	return refused.Status, true
}

func (l *load) markAcknowledged(id uint64) { l.acknowledged.add(id - l.firstID - 1) }

// isAcknowledged reports whether id's transfer was acknowledged. Call with the load halted.
func (l *load) isAcknowledged(id uint64) bool { return l.acknowledged.has(id - l.firstID - 1) }

// isRefused reports whether id's client was told, definitely, that it was not applied.
// Call with the load halted.
func (l *load) isRefused(id uint64) bool { return l.refusedIDs.has(id - l.firstID - 1) }

// refusalOf returns the refusal kept for id, if it is among the first refusalsKeptMax.
// Call with the load halted.
func (l *load) refusalOf(id uint64) (refusal, bool) {
	for _, r := range l.refusals {
		if id >= r.firstID && id < r.firstID+r.count {
			return r, true
		}
	}
	return refusal{}, false
}

// acknowledgedAt returns when id's batch was acknowledged. Call with the load halted.
func (l *load) acknowledgedAt(id uint64) time.Time {
	for _, ack := range l.acks {
		if id >= ack.firstID && id < ack.firstID+ack.count {
			return ack.acknowledged
		}
	}
	return time.Time{}
}

// firstAckAfter returns when the first batch sent after t was acknowledged: a reply
// that was already on its way from the old primary does not end the outage.
func (l *load) firstAckAfter(t time.Time) (time.Time, bool) {
	l.mutex.Lock()
	defer l.mutex.Unlock()
	index := sort.Search(len(l.acks), func(i int) bool { return l.acks[i].acknowledged.After(t) })
	for ; index < len(l.acks); index++ {
		if l.acks[index].sent.After(t) {
			return l.acks[index].acknowledged, true
		}
	}
	return time.Time{}, false
}

func (l *load) acknowledgedCount() int {
	l.mutex.Lock()
	defer l.mutex.Unlock()
	return l.acknowledged.count
}
