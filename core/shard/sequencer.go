package shard

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// run is the sequencer goroutine: drain, sequence, log, apply, park, release, wait. It
// holds turns (from Start) except while it waits, so that an event loop may run a turn
// meanwhile (inline.go); it keeps them for good once it stops or serves a failure.
func (s *Shard) run() {
	defer close(s.done)
	defer s.stopPopulater()
	defer s.checkAllAnswered()
	// Cancels a full log refused and still kept when the sequencer stops (it closed with
	// the log full, or fenced) are never logged: say so, as for the ring's at Close.
	defer s.dropRefusedCancels("the shard closed")
	pulse := time.NewTicker(s.config.PulseInterval)
	defer pulse.Stop()
	stop := s.stop
	var closing <-chan time.Time // Armed at close: bounds the wait for releases.
	for {
		if err := s.inlineFailure; err != nil {
			s.failAndServe(err) // An event loop's turn met it; nothing ran since.
			return
		}
		select { // Replicated entries first, so reads cannot starve them.
		case entry := <-s.stored:
			if !s.replicate(entry) {
				return
			}
		default:
		}
		// With the in-flight window full the turn takes nothing, and the release after it
		// may open the window: what waits in the ring was announced by wake-ups this
		// goroutine has consumed already, so it must go round and take it (else it slept
		// until the next submission or pulse).
		windowFull := len(s.parked) >= s.config.InFlightEntriesMax
		drained, closed, err := s.iterate(true)
		if err != nil {
			s.failAndServe(err)
			return
		}
		s.answerFenced()
		if closed && len(s.parked) == 0 {
			return
		}
		if closed && closing == nil {
			closing = time.After(s.config.CloseTimeout)
		}
		// Likewise a turn that left the ring for group commit: when the sync ended before
		// the release after it, nothing may be parked any more, and durability, which
		// the hold waits for, is not watched then.
		held := s.heldForGroupCommit && !s.holdForGroupCommit()
		if (drained || windowFull || held) && len(s.parked) < s.config.InFlightEntriesMax {
			continue // More input may be waiting: go round without sleeping.
		}
		var acknowledged, durable <-chan struct{}
		if len(s.parked) > 0 || s.releasedOp.Load() < s.recoveredOp {
			// Only parked output (or recovered entries not yet counted released) waits
			// for the log and the standby. Otherwise a sync run by an event loop's turn
			// (inline.go) would wake this goroutine for nothing every time, and so would
			// each acknowledgement of a standby (in async mode the standby acknowledges
			// what was released already).
			durable = s.log.DurableNotify()
			if s.config.Acknowledger != nil {
				acknowledged = s.config.Acknowledger.AcknowledgedNotify()
			}
		}
		s.writeDeferred() // A turn stopped for order left its entry unwritten (append).
		var stored storedEntry
		event := sequencerWoken
		s.idle.Store(len(s.parked) == 0)
		s.turns.Unlock()
		select {
		case <-s.wake:
		case stored = <-s.stored:
			event = sequencerStored
		case <-durable:
		case <-acknowledged:
		case <-pulse.C:
			event = sequencerPulse
		case <-stop:
			stop = nil // Closed for good: from now on, wait for durability, not for it.
			// Arm the bound here too: with the in-flight window full of entries that never
			// become durable, the ring is never drained, so "closed" is never seen.
			if closing == nil {
				closing = time.After(s.config.CloseTimeout)
			}
		case <-closing:
			event = sequencerClosing
		}
		s.idle.Store(false)
		s.turns.Lock()
		if err := s.inlineFailure; err != nil {
			if event == sequencerStored {
				stored.done <- errLogFailed
			}
			s.failAndServe(err)
			return
		}
		switch event {
		case sequencerStored:
			if !s.replicate(stored) {
				return
			}
		case sequencerPulse:
			if err := s.pulseIfDue(); err != nil {
				s.failAndServe(err)
				return
			}
		case sequencerClosing:
			s.abandonWith(model.StatusShuttingDown)
			return
		}
	}
}

// What woke the sequencer, handled once it holds turns again.
const (
	sequencerWoken   = iota // Input, durability, an acknowledgement, a close: go round.
	sequencerStored         // A replicated entry arrived.
	sequencerPulse          // The pulse ticker.
	sequencerClosing        // CloseTimeout ran out.
)

// replicate applies one replicated entry and reports whether the sequencer may go on. A
// full log refuses the entry without failing (the stream ends and resumes from the
// standby's last op once there is room again), and so does a shard that stopped being a
// standby since Replicate was called; any other error is fatal.
func (s *Shard) replicate(entry storedEntry) bool {
	err := s.applyStored(entry)
	entry.done <- err
	if err != nil && !errors.Is(err, wal.ErrLogFull) && !errors.Is(err, ErrNotStandby) {
		s.failAndServe(err)
		return false
	}
	return true
}

// turn takes what the ring holds (as much as fits one entry and the in-flight bound),
// writes one entry for the writes, applies it, answers the queries, and parks the replies.
// It reports whether it took anything (or logged a grant table that filled the in-flight
// window) and whether the ring is closed and empty.
func (s *Shard) turn() (drained bool, closed bool, err error) {
	s.heldForGroupCommit, s.appendForOrderStop = false, false
	if len(s.parked) >= s.config.InFlightEntriesMax {
		_, closed = s.ring.take(nil, 0, 0)
		return false, closed, nil
	}
	if s.Role() == RoleFenced {
		return s.refuseFenced()
	}
	// Read before the grant table's check, which decides as a standby if this does: a
	// write in the ring then was admitted by a promotion since, and is left for the next
	// turn, which checks the table as the primary first (else the write would be logged
	// ahead of the new primary's table, decided by the old one).
	standby := s.Role() == RoleStandby
	// Read before the grant table's check, and the take below stops at the first request
	// queued after a barrier SetGrants set since: a request submitted after SetGrants
	// returned is then taken only by a turn whose check saw that table (and logged it
	// first), as SetGrants promises (a keys reload relies on it). Without it, SetGrants
	// and Submit running between the check and the take had the request sequenced ahead
	// of the table, decided by the one it replaces. SetGrants wakes the sequencer after
	// its barrier, so the next turn comes at once; what was queued before the barrier is
	// taken now, so that reloads in a row cannot hold the ring back.
	barriers := s.ring.barrierCount()
	// A new grant table goes first, so that the requests taken below are decided by it.
	if err := s.writeGrantsIfDue(); errors.Is(err, wal.ErrLogFull) {
		return s.refuseQueued(model.StatusLogUnavailable)
	} else if errors.Is(err, errFenced) {
		return s.refuseFenced()
	} else if err != nil {
		return false, false, err
	}
	if len(s.parked) >= s.config.InFlightEntriesMax {
		// The grant table's entry filled the window. Reported as work done, so that the
		// sequencer goes round once the release after this turn has opened the window:
		// the ring's wake-ups were consumed, and nothing else would come for what waits.
		return true, false, nil
	}
	// Cancels a full log refused go before every write taken from now on (refused_cancels.go).
	parkedBefore := len(s.parked)
	cancelsWaiting, err := s.writeRefusedCancels()
	if err != nil {
		s.failedTurn = s.failedTurn[:0]
		return true, false, err
	}
	if len(s.parked) >= s.config.InFlightEntriesMax {
		return true, false, nil // As after a grant table's entry, above.
	}
	cancelsLogged := len(s.parked) > parkedBefore
	// After a take that stopped to keep a connection's read before its write, what it left
	// is taken at once, as an entry of its own, not held: it was ready for the entry just
	// appended, and held it would wait a whole sync, for each such stop.
	s.heldForGroupCommit = !s.takeStoppedForOrder && s.holdForGroupCommit()
	if s.heldForGroupCommit {
		_, closed = s.ring.take(nil, 0, 0)
		return false, closed, nil
	}
	s.taken, closed, s.takeStoppedForOrder = s.ring.takeUpTo(s.taken[:0], s.config.RingRequests,
		s.entryBytesBudget(), !standby, barriers)
	s.appendForOrderStop = s.takeStoppedForOrder
	if len(s.taken) == 0 {
		return cancelsLogged, closed, nil
	}
	s.answers.taken(s.taken)
	s.entry, s.queries = s.entry[:0], s.queries[:0]
	slot := s.acquire()
	writes := 0
	if s.openWithRulesUpgrade(slot) {
		writes++
	}
	for i := range s.taken {
		meta := &s.taken[i]
		if !meta.write {
			s.queries = append(s.queries, *meta)
			continue
		}
		s.entry = append(s.entry, s.ring.bytes(meta)...)
		slot.origins = append(slot.origins, origin{connection: meta.connection,
			received: meta.received, ticket: meta.ticket})
		writes++
	}
	if writes > 0 {
		// With refused cancels still waiting the log was full a moment ago: these writes
		// are refused without trying it, since with room now they would go before them.
		err := wal.ErrLogFull
		if !cancelsWaiting {
			err = s.appendAndApply(writes, slot)
		}
		switch {
		case errors.Is(err, errFenced):
			// Fenced since the check above: the turn is answered as refuseFenced answers,
			// after what is parked (reply order).
			s.recycle(slot)
			s.answerParked(model.StatusOutcomeUnknown, true)
			s.logDroppedCancels(s.taken, "no longer primary")
			s.answerRequests(s.taken, model.StatusOutcomeUnknown)
			s.ring.release(&s.taken[len(s.taken)-1])
			return true, closed, nil
		case errors.Is(err, wal.ErrLogFull):
			// Nothing was appended or applied: the writes are refused, not lost, and the
			// turn's reads go on against the unchanged state.
			s.refuseWrites(slot, model.StatusLogUnavailable)
			s.ring.release(&s.taken[len(s.taken)-1])
			slot.op = s.opLast
			s.parked = append(s.parked, slot)
			return true, closed, nil
		case err != nil:
			// These requests left the ring but will never be parked: keep them so that
			// the failure handling answers them (their bytes stay in the ring, which is
			// not released).
			s.recycle(slot)
			s.failedTurn = append(s.failedTurn[:0], s.taken...)
			return true, closed, err
		}
	}
	s.answerQueries(slot)
	slot.reads = len(s.queries) > 0
	s.ring.release(&s.taken[len(s.taken)-1])
	slot.op = s.opLast
	s.parked = append(s.parked, slot)
	return true, closed, nil
}

// holdForGroupCommit reports whether this turn leaves the ring alone: UndurableEntriesMax
// entries are appended and not durable yet, and the ring holds less than a full entry.
// Requests taken now would wait for the sync in progress to end before the log writes
// them; taken when it ends (DurableNotify wakes the sequencer) they make one entry,
// written by the next sync all the same. The price is the wake-up and append between
// two syncs, during which the log writer is idle.
func (s *Shard) holdForGroupCommit() bool {
	durable := s.log.Durable()
	undurable := 0
	for i := len(s.parked) - 1; i >= 0 && s.parked[i].op > durable; i-- {
		undurable++
	}
	if undurable < s.config.UndurableEntriesMax {
		return false
	}
	return s.ring.queuedBytes() < uint64(s.config.EntryBytesMax)
}

// refuseQueued answers what the ring holds with status, taking nothing of it into the
// log or the state: a new grant table the log had no room for must decide these
// requests, and the one it replaces may not (a revoked grant would still be honoured).
// The replies are parked, like refuseWrites', behind what is parked already. The turn
// checked the in-flight window before the grant table, which parked nothing.
func (s *Shard) refuseQueued(status model.Status) (drained bool, closed bool, err error) {
	s.taken, closed = s.ring.take(s.taken[:0], s.config.RingRequests, s.config.EntryBytesMax)
	if len(s.taken) == 0 {
		return false, closed, nil
	}
	s.answers.taken(s.taken)
	s.keepRefusedCancels(s.taken)
	slot := s.acquire()
	var request core.Request
	for i := range s.taken {
		s.parkRefusal(slot, &s.taken[i], &request, status)
	}
	s.ring.release(&s.taken[len(s.taken)-1])
	slot.op = s.opLast
	s.parked = append(s.parked, slot)
	s.count(func(stats *Stats) { stats.LogFullRefusals += uint64(len(s.taken)) })
	return true, closed, nil
}

// refuseFenced answers what the ring holds outcome_unknown, with no body, taking nothing
// of it into the log or the state, and drops the cancels a full log refused: a fenced
// shard logs nothing more (a deposed primary's entries could only lengthen the suffix its
// rejoin truncates, and released on its own durability they would be acknowledged writes
// the new primary never had). outcome_unknown is what a fenced server answers the
// requests it accepted (PROTOCOL.md section 6): the client resends and follows
// not_primary. A cancel-on-disconnect among them (or waiting in the ring for room, which
// the release below queues for the next turn) is logged as dropped: the new primary
// cancels nothing for connections it never had (section 5), and nothing else records it.
// What is parked is answered first (as answerFenced does), so that the replies keep the
// requests' order: the ring holds only requests queued after the parked ones.
func (s *Shard) refuseFenced() (drained bool, closed bool, err error) {
	s.answerParked(model.StatusOutcomeUnknown, true)
	s.dropRefusedCancels("no longer primary")
	s.taken, closed = s.ring.take(s.taken[:0], s.config.RingRequests, math.MaxInt)
	if len(s.taken) == 0 {
		return false, closed, nil
	}
	s.answers.taken(s.taken)
	s.logDroppedCancels(s.taken, "no longer primary")
	s.answerRequests(s.taken, model.StatusOutcomeUnknown)
	s.ring.release(&s.taken[len(s.taken)-1])
	return true, closed, nil
}

// errFenced is appendAndApply's refusal of an entry once the shard is fenced: nothing was
// appended or applied.
var errFenced = errors.New("shard: fenced: the entry was not logged")

// refuseWrites answers the writes of this turn with status (nothing of them was appended
// or applied) and its reads against the unchanged state, all in slot, in the order the
// turn took them: parked behind the entries parked before, the refusals leave after
// their replies, as the replies to a connection's processed requests must (PROTOCOL.md
// section 6, "Order"). Answered at once, a refusal overtook an earlier write of its
// connection still waiting for durability.
func (s *Shard) refuseWrites(slot *parked, status model.Status) {
	slot.origins = slot.origins[:0]
	s.refused = s.refused[:0]
	var request core.Request
	answered := uint64(0)
	for i := range s.taken {
		meta := &s.taken[i]
		if meta.write {
			s.refused = append(s.refused, *meta)
			s.parkRefusal(slot, meta, &request, status)
		} else {
			if s.answerQuery(slot, meta, &request) {
				answered++
			}
			slot.reads = true
		}
	}
	s.countQueries(answered)
	s.keepRefusedCancels(s.refused)
	s.count(func(stats *Stats) { stats.LogFullRefusals += uint64(len(s.refused)) })
}

// parkRefusal adds to slot the reply with status and no body to the request of meta
// (request is scratch), which nothing applied: release delivers it in its place.
func (s *Shard) parkRefusal(slot *parked, meta *requestMeta, request *core.Request,
	status model.Status) {
	decodeRequest(s.ring.bytes(meta), request)
	slot.output.Replies = append(slot.output.Replies, core.Reply{Client: request.Client,
		Session: request.Session, Number: request.Number, Operation: request.Operation,
		Status: status})
	slot.origins = append(slot.origins, origin{connection: meta.connection,
		received: meta.received, ticket: meta.ticket, refused: true})
}

// appendAndApply writes the entry to the log and applies it to the machine. An error
// wrapping wal.ErrLogFull, or errFenced, means nothing happened: neither appended nor
// applied.
func (s *Shard) appendAndApply(count int, slot *parked) error {
	timestamp := max(s.timestamp+1, s.config.Clock())
	entry := &s.applying
	*entry = core.Entry{FirstOp: s.opLast + 1, Timestamp: timestamp, Body: s.entry}
	// Read once: the consumers must get the epoch the log got. Fence swaps the role from
	// any goroutine: one that landed since the caller's check of the role is seen here, so
	// that nothing is logged under the old epoch after it (only one landing during the
	// append itself still is; release then sends none of it).
	role, epoch := s.roleAndEpoch()
	if role == RoleFenced {
		return errFenced
	}
	if err := s.append(wal.Entry{Epoch: epoch, FirstOp: entry.FirstOp,
		Count: uint32(count), Timestamp: entry.Timestamp, Body: entry.Body}); err != nil {
		return fmt.Errorf("shard: log append at op %d: %w", entry.FirstOp, err)
	}
	s.timestamp = timestamp
	applyStarted := monotonicNow()
	if err := s.machine.Apply(entry, &slot.output); err != nil {
		return fmt.Errorf("shard: apply at op %d: %w", entry.FirstOp, err)
	}
	applyNanoseconds := monotonicNow() - applyStarted
	slot.firstOp, slot.stamp, slot.epoch = entry.FirstOp, entry.Timestamp, epoch
	s.opLast += uint64(count)
	if s.machine.OpLast() != s.opLast || len(slot.output.Replies) != len(slot.origins) {
		// Op continuity: the entry's requests got exactly the ops the log was told, and
		// one reply each.
		panic(fmt.Sprintf("shard: entry at op %d: machine at op %d, expected %d; %d replies "+
			"for %d requests", entry.FirstOp, s.machine.OpLast(), s.opLast,
			len(slot.output.Replies), len(slot.origins)))
	}
	s.latencies.recordBatch(count, applyNanoseconds)
	s.snapshotIfRequested(entry, slot.epoch, &slot.output)
	if s.config.OnApplied != nil {
		s.config.OnApplied(entry, s.machine)
	}
	s.count(func(stats *Stats) {
		stats.Entries++
		stats.Requests += uint64(count)
		stats.EntryBytes += uint64(len(entry.Body))
		stats.OpLast = s.opLast
	})
	return nil
}

// append hands an entry to the log. When nothing waits in the ring, the log may leave its
// writer asleep (AppendDeferred, for small bodies only): the sequencer, which would next
// apply the entry and then wait for its sync, writes and syncs it itself in release
// (writeDeferred), saving the two wake-ups (sequencer → writer, writer → sequencer). With
// input waiting, or a large body (above wal's deferBytesMax, 64 KiB: a full batch),
// the writer is woken at once, so that its encoding, write and sync overlap this entry's
// apply and the next turn. Input waiting behind an order stop (appendForOrderStop) is
// the next turn's entry, appended at once: this one is deferred too, so that the two
// go to the disk in one group; the sync that wrote this one alone made the next wait
// for a second sync (bench/PERFORMANCE.md, order46). With an entry deferred already,
// the next ones are deferred after it, whatever the ring holds (the log would write
// the deferred one alone the moment it is told): the last turn of the run writes them
// all (writeDeferred, before anything waits).
func (s *Shard) append(entry wal.Entry) error {
	if s.inline == nil || (s.ring.queuedBytes() > 0 && !s.appendForOrderStop && !s.deferred) {
		return s.log.Append(entry)
	}
	if err := s.inline.AppendDeferred(entry); err != nil {
		return err
	}
	s.deferred = true
	return nil
}

// writeDeferred writes and syncs the entries append left with the log, on this goroutine
// if the log's writer is idle (else the writer does it). Every path from append to a
// wait for durability calls it first: release does, and so does iterate, except after a
// turn stopped for order on the sequencer (appendForOrderStop), whose entry waits for the
// next turn's; run calls it before every wait, for that one.
func (s *Shard) writeDeferred() {
	if s.deferred {
		s.deferred = false
		s.inline.WriteDeferred()
	}
}

// answerQueries runs the turn's reads against the state after the entry. That is
// linearizable: each read arrived before the turn ended, so every write applied in the
// turn was concurrent with it, except one its own connection sent after it, which the
// take leaves for a later turn (takeUpTo: one connection's requests are processed and
// answered in order); and the reply waits for the same release as the entry.
func (s *Shard) answerQueries(slot *parked) {
	var request core.Request
	answered := uint64(0) // Clients' reads only (Stats.Queries).
	for i := range s.queries {
		// answerQuery's body, kept alike by hand: called here, it was ~15 instructions
		// more per read (callgrind, BenchmarkTurnsReadWrite).
		meta := &s.queries[i]
		decodeRequest(s.ring.bytes(meta), &request)
		s.machine.Query(&request, &slot.output)
		slot.origins = append(slot.origins, origin{connection: meta.connection,
			received: meta.received, ticket: meta.ticket})
		if clientTraffic(meta.connection, request.Client) {
			answered++
		}
	}
	s.countQueries(answered)
}

// answerQuery answers the read of meta into slot (request is scratch) and reports whether
// a client sent it (clientTraffic), for the caller's one countQueries: reads answered
// among refusals (refuseWrites, answerQueuedAfterFailure) keep their place in slot. Its
// body is answerQueries' loop, which must stay alike.
func (s *Shard) answerQuery(slot *parked, meta *requestMeta, request *core.Request) bool {
	decodeRequest(s.ring.bytes(meta), request)
	s.machine.Query(request, &slot.output)
	slot.origins = append(slot.origins, origin{connection: meta.connection,
		received: meta.received, ticket: meta.ticket})
	return clientTraffic(meta.connection, request.Client)
}

// countQueries adds answered clients' reads to Stats.Queries, under the stats lock once.
func (s *Shard) countQueries(answered uint64) {
	if answered > 0 {
		s.count(func(stats *Stats) { stats.Queries += answered })
	}
}

// clientTraffic reports whether a request (its connection and client) came from a client,
// for the counters that describe client traffic (Stats.Queries, Latencies and so the
// per-operation metrics). The shard's own requests (a waiter's connection: audit records,
// the reads of the operators' console, reconciliation and risk rules) and a node router's
// own (client 0: saga steps, saga lookups, the outbox polls it makes every
// OutboxInterval even on an idle node) would show as traffic nobody sent. A router's
// part of a client's request split across shards carries that client, and counts.
func clientTraffic(connection uint64, client uint64) bool {
	return connection < backend.ConnectionIDLimit && client != 0
}

// pulseIfDue writes a pulse entry when a pending transfer's deadline has passed and no
// client wrote since: expiry happens at entry timestamps, so time must reach the log.
func (s *Shard) pulseIfDue() error {
	deadline, ok := s.machine.NextDeadline()
	if !ok || s.Role() != RolePrimary || deadline > s.config.Clock() || len(s.parked) >= s.config.InFlightEntriesMax {
		return nil
	}
	return s.writePulse()
}

// writePulse logs and applies a pulse entry (it only moves time).
func (s *Shard) writePulse() error {
	slot := s.acquire()
	s.entry = core.AppendRequest(s.entry[:0], &core.Request{Operation: model.OperationPulse})
	slot.origins = append(slot.origins, origin{})
	if err := s.appendAndApply(1, slot); err != nil {
		s.recycle(slot)
		if errors.Is(err, wal.ErrLogFull) || errors.Is(err, errFenced) {
			return nil // Expiry waits for room; the next pulse tries again.
		}
		return err
	}
	slot.op = s.opLast
	s.parked = append(s.parked, slot)
	return nil
}

// released returns the highest op whose replies may leave.
func (s *Shard) released() uint64 {
	durable := s.log.Durable()
	if s.config.Acknowledger != nil && s.Role() != RoleStandby {
		durable = min(durable, s.config.Acknowledger.Acknowledged())
	}
	return durable
}

// readsAllowed reports whether parked reads may be answered now (see ReadGate).
func (s *Shard) readsAllowed() bool {
	if s.config.ReadGate != nil && s.Role() != RoleStandby {
		return s.config.ReadGate.ReadsAllowed()
	}
	return true
}

// release delivers, in order, every parked output whose op is durable (and acknowledged),
// and hands each released entry's events to the consumers. It does so even when the log
// has failed, before reporting that: an entry the log made durable before it failed is
// durable for good, and its reply says so instead of leaving its outcome unknown. This is
// the only place consumers are fed: what failAndServe or abandonWith answer without a
// release (outcome_unknown, shutting_down) is never published.
// An output holding reads also waits while reads are not allowed (ReadGate).
func (s *Shard) release() error {
	s.writeDeferred()
	return s.releaseDurable()
}

// releaseDurable is release without writing what append deferred: a turn whose take
// stopped for order leaves its entry to be written with the next turn's (iterate).
func (s *Shard) releaseDurable() error {
	released := s.released()
	s.releaseRecovered(released)
	reads := true
	if len(s.parked) > 0 {
		reads = s.readsAllowed()
	}
	// A fenced shard releases nothing more (it can no longer acknowledge a write, role.go):
	// every caller answers what is parked outcome_unknown next (answerFenced, or
	// failAndServe). Checked here and not only by the turn: Fence swaps the role from any
	// goroutine, so it may land after the turn's check, before its append, while an
	// entry waits for its sync, which alone would have released it ok, or between two
	// slots of this loop (the Replier and the consumers run in it): hence once per slot.
	// One landing while a slot's replies are being handed out lets them go: they were
	// released before it, on what the log (and in sync mode the standby, which the fence's
	// promotion made the primary) had made durable (replication's
	// TestFenceDuringDeliveryLosesNoAcknowledgedWrite).
	count := 0
	for count < len(s.parked) && s.parked[count].op <= released &&
		(reads || !s.parked[count].reads) && s.Role() != RoleFenced {
		slot := s.parked[count]
		s.answer(slot)
		if len(slot.output.Messages) > 0 {
			s.outputs.Released(slot.output.Messages) // Saga messages leave with their entry.
		}
		s.consume(slot)
		s.releasedOp.Store(slot.op)
		s.recycle(slot)
		count++
	}
	if count > 0 {
		s.parked = append(s.parked[:0], s.parked[count:]...)
		s.count(func(stats *Stats) { stats.Released = s.releasedOp.Load() })
	}
	if err := s.log.Err(); err != nil {
		return fmt.Errorf("shard: log failed: %w", err)
	}
	return nil
}

// releaseRecovered counts the recovered entries as released as far as released covers
// them (they have no replies, and the consumers never get them: capture rebuilds them
// from the log, market data starts after them). Every parked output comes after them, so
// release order holds.
func (s *Shard) releaseRecovered(released uint64) {
	op := min(released, s.recoveredOp)
	if op <= s.releasedOp.Load() {
		return
	}
	s.releasedOp.Store(op)
	s.count(func(stats *Stats) { stats.Released = op })
}

// deliver answers one parked output without releasing it (its events are not handed to
// the consumers) and recycles the slot: reads, and replies whose status replaced the
// result (outcome_unknown, shutting_down).
func (s *Shard) deliver(slot *parked) {
	s.answer(slot)
	s.recycle(slot)
}

// answer hands one parked output's replies to the replier and its reports to the store.
func (s *Shard) answer(slot *parked) {
	if slot.op < s.releasedOp.Load() || len(slot.origins) != len(slot.output.Replies) {
		panic(fmt.Sprintf("shard: release of op %d after op %d, or %d replies for %d "+
			"requests", slot.op, s.releasedOp.Load(), len(slot.output.Replies),
			len(slot.origins)))
	}
	slot.replies = slot.replies[:0]
	now := monotonicNow()
	s.latencies.lock()
	for i := range slot.output.Replies {
		reply := &slot.output.Replies[i]
		from := slot.origins[i]
		if from.connection == 0 {
			continue // Internal or replicated request: nobody to answer.
		}
		s.answers.answer(from.ticket)
		connection := from.connection
		// A full log's refusals (parkRefusal) are counted in LogFullRefusals, as the
		// refusals answered at once are, not as requests handled: also when a fence, a
		// failure or Close answers them outcome_unknown (answerParked).
		if clientTraffic(connection, reply.Client) && !from.refused {
			s.latencies.record(reply.Operation, reply.Status, now-from.received)
		}
		body := slot.output.Body(reply)
		if reply.Status == model.StatusOutcomeUnknown || reply.Status == model.StatusShuttingDown {
			body = nil
		}
		if !s.forClient(connection, reply.Status, body) {
			continue
		}
		slot.replies = append(slot.replies, backend.Reply{Connection: connection, Client: reply.Client,
			Session: reply.Session, Number: reply.Number, Operation: reply.Operation,
			Status: reply.Status, Op: reply.Op, Duplicate: reply.Duplicate, Body: body})
	}
	s.latencies.unlock()
	if len(slot.replies) > 0 {
		s.outputs.Deliver(slot.replies)
	}
	s.deliverReports(slot)
}

// consume hands a released entry's events to every consumer, in log order.
func (s *Shard) consume(slot *parked) {
	if slot.firstOp == 0 || len(s.config.Consumers) == 0 {
		return // Reads only.
	}
	s.ready = backend.Ready{FirstOp: slot.firstOp, LastOp: slot.op, Timestamp: slot.stamp,
		Epoch: slot.epoch, Events: &slot.output.Events}
	for _, consumer := range s.config.Consumers {
		consumer.Consume(&s.ready)
	}
	s.ready.Events = nil
}

// Released returns the last op whose outputs were released. Any goroutine.
func (s *Shard) Released() uint64 { return s.releasedOp.Load() }

// ConsumerStats returns each consumer's progress and lag behind the release.
func (s *Shard) ConsumerStats() []backend.ConsumerStats {
	released := s.Released()
	stats := make([]backend.ConsumerStats, 0, len(s.config.Consumers))
	for _, consumer := range s.config.Consumers {
		c := consumer.ConsumerStats()
		if released > c.HandledOp {
			c.LagOps = released - c.HandledOp
		}
		stats = append(stats, c)
	}
	return stats
}

func (s *Shard) acquire() *parked {
	last := len(s.free) - 1
	slot := s.free[last]
	s.free = s.free[:last]
	slot.output.Reset()
	slot.origins = slot.origins[:0]
	slot.firstOp, slot.stamp, slot.epoch = 0, 0, 0
	slot.reads = false
	return slot
}

func (s *Shard) recycle(slot *parked) { s.free = append(s.free, slot) }

// abandonWith answers every request still in the shard with no body (Close past
// CloseTimeout): the parked ones outcome_unknown (applied, not released: maybe durable,
// then applied again at a restart from the log, maybe acknowledged by the standby, then
// applied after a failover; the client resends until a definite answer), the queued ones
// with status (shutting_down: never sequenced, nothing of them applied, PROTOCOL.md §6);
// a full log's refusals parked among them stay log_unavailable (never sequenced either).
// Exactly-once makes the resends safe either way.
func (s *Shard) abandonWith(status model.Status) {
	s.ring.close()
	s.answerParked(model.StatusOutcomeUnknown, false)
	s.answerRequests(s.failedTurn, status)
	s.failedTurn = s.failedTurn[:0]
	s.answerQueued(status)
}

// answerParked answers every parked request with status and no body, reports withheld.
// A full log's refusal (parkRefusal) was never sequenced and keeps its log_unavailable
// (not applied: doc.go, PROTOCOL.md section 6), as when it was answered at once, unless
// refusalsToo: a fenced shard answers everything it holds outcome_unknown (section 6).
func (s *Shard) answerParked(status model.Status, refusalsToo bool) {
	for _, slot := range s.parked {
		for i := range slot.output.Replies {
			if refusalsToo || !slot.origins[i].refused {
				slot.output.Replies[i].Status = status
			}
		}
		slot.output.Reports = slot.output.Reports[:0] // Not released: never shown.
		slot.output.Messages = slot.output.Messages[:0]
		s.deliver(slot) // Nor are its events or saga messages (see release).
	}
	s.parked = s.parked[:0]
}

// answerFenced answers outcome_unknown to everything parked once the shard is fenced
// (after release, which sends nothing once it sees the fence, even what the log or the
// standby had confirmed: outcome_unknown is true of it too): a fenced primary never
// releases again, while its standby, now the primary, may hold these entries or not.
// Left parked until Close, their replies never came, and a client whose window was
// full of them, its connection kept up by heartbeats, sent nothing more that could be
// answered not_primary and hung; answered so, it resends them, is redirected, and the
// new primary answers them from its replicated cache or applies them once.
func (s *Shard) answerFenced() {
	if len(s.parked) > 0 && s.Role() == RoleFenced {
		s.answerParked(model.StatusOutcomeUnknown, true)
	}
}

// answerQueued answers, with status and no body, the requests still in the ring: they
// were never sequenced, so nothing of them was applied, and no caller is left waiting on
// silence (a client retries; exactly-once makes that safe). The ring is closed, so it
// only has to wait for producers that reserved room before the close and are still
// copying their request in; they never block in between, so the wait is short.
func (s *Shard) answerQueued(status model.Status) {
	for {
		var done bool
		s.taken, done = s.ring.take(s.taken[:0], s.config.RingRequests, math.MaxInt)
		s.answers.taken(s.taken)
		if len(s.taken) > 0 {
			s.logDroppedCancels(s.taken, "the shard closed")
			s.answerRequests(s.taken, status)
			s.ring.release(&s.taken[len(s.taken)-1])
		}
		if done {
			return
		}
		if len(s.taken) == 0 {
			runtime.Gosched() // A producer between reserve and publish.
		}
	}
}

// forClient routes the answer to a request by its connection id: false for nobody (0:
// internal or replicated) and for the shard's own waiters (answered here with status
// and a copy of body); true for a network connection, whose reply the caller builds.
func (s *Shard) forClient(connection uint64, status model.Status, body []byte) bool {
	switch {
	case connection == 0:
		return false
	case connection >= backend.ConnectionIDLimit:
		s.waiters.answer(connection, status, body)
		return false
	}
	return true
}

// answerRequests answers requests taken from the ring with status and no body.
func (s *Shard) answerRequests(metas []requestMeta, status model.Status) {
	if len(metas) == 0 {
		return
	}
	var request core.Request
	replies := make([]backend.Reply, 0, len(metas))
	for i := range metas {
		meta := &metas[i]
		if meta.connection != 0 {
			s.answers.answer(meta.ticket)
		}
		if !s.forClient(meta.connection, status, nil) {
			continue
		}
		decodeRequest(s.ring.bytes(meta), &request)
		replies = append(replies, backend.Reply{Connection: meta.connection, Client: request.Client,
			Session: request.Session, Number: request.Number, Operation: request.Operation,
			Status: status})
	}
	if len(replies) > 0 {
		s.outputs.Deliver(replies)
	}
}

// decodeRequest decodes an encoded request taken from the ring, which Submit wrote.
func decodeRequest(encoded []byte, request *core.Request) {
	if err := core.DecodeRequest(encoded, request); err != nil {
		panic(fmt.Sprintf("shard: ring holds a malformed request: %v", err))
	}
}
