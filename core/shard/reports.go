package shard

import (
	"sync"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
)

var _ backend.Backend = (*Shard)(nil)

// ReportStore retains each client's most recent execution reports, so a client that
// reconnects can ask for the ones it missed. It is not part of the replicated state: a
// restart rebuilds it by replaying the log (Recover's onEntry feeds it), which yields the
// same reports with the same sequence numbers. A restart from a snapshot replays only the
// log after it, so the store never sees the reports before the snapshot: it holds, per
// client, only what it was actually given, and learns from the machine (learn, when the
// shard is built) the sequences it missed, so that a replay never claims them.
type ReportStore struct {
	mutex   sync.Mutex
	clients map[uint64]*clientReports
}

// clientReports is one client's ring of reports; sequence s lives at s % reportsKept.
// The store holds the sequences first..last without gaps (the newest reportsKept of
// them); first == last+1 when it holds none.
type clientReports struct {
	// first is the oldest sequence stored since the store began (last+1: none).
	first uint64
	// last is the newest sequence the client was given, stored or learnt.
	last    uint64
	records [][model.ExecutionReportSize]byte // Nil until a report is stored.
}

// NewReportStore returns an empty store.
func NewReportStore() *ReportStore { return &ReportStore{clients: map[uint64]*clientReports{}} }

// Add keeps the reports of an applied entry's output.
func (r *ReportStore) Add(output *core.Output) {
	if len(output.Reports) == 0 {
		return
	}
	r.mutex.Lock()
	defer r.mutex.Unlock()
	for i := range output.Reports {
		report := &output.Reports[i]
		r.keepLocked(report.Client, report.Sequence, output.ReportBody(report))
	}
}

// keepLocked stores one report; the caller holds the mutex.
func (r *ReportStore) keepLocked(client uint64, sequence uint64, body []byte) {
	c := r.clients[client]
	if c == nil {
		c = &clientReports{first: 1} // Holding none of 1..0.
		r.clients[client] = c
	}
	if c.records == nil {
		c.records = make([][model.ExecutionReportSize]byte, reportsKeptPerClient)
	}
	if sequence != c.last+1 {
		// A report after a gap (reports the store never saw: those before the snapshot
		// it was rebuilt from, unless learn told it about them first): what it holds
		// starts here.
		c.first = sequence
	}
	copy(c.records[sequence%reportsKeptPerClient][:], body)
	c.last = sequence
}

// learn tells the store each client's last report sequence as the machine has it, on the
// machine's owning goroutine before the store serves a replay. A client the store holds
// nothing for, or holds a different history for, is recorded as holding nothing up to
// that sequence: its reports came before the snapshot the machine was restored from (or
// the store was not fed by the recovery at all), and a replay must say they are gone
// rather than send records it never stored. One small entry per client the machine
// knows, without a ring until a report arrives: the same bound as the machine's table.
func (r *ReportStore) learn(machine *core.Machine) {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	machine.ReportSequences(func(client uint64, sequenceLast uint64) {
		c := r.clients[client]
		if c == nil {
			r.clients[client] = &clientReports{first: sequenceLast + 1, last: sequenceLast}
			return
		}
		if c.last != sequenceLast {
			c.first, c.last = sequenceLast+1, sequenceLast
		}
	})
}

// replay hands fn the client's retained reports from sequence from on, in batches, up
// to the client's newest when it began, and returns the oldest sequence retained then
// (1 when nothing was ever dropped; the sequence after the client's last when none is
// retained) and the client's next sequence then: a report given after the first batch
// was read has a sequence at or above next.
//
// The lock is held only while a batch is copied out, never while fn runs: Add runs on
// the sequencer's release path, and the network's event loops read next for every live
// subscription, so a replay of up to reportsKeptPerClient reports held under the lock
// (fn encodes and queues them) stalled every client's replies meanwhile. The replay
// stops at the newest report of its first read: the client's reports given since are
// live ones, which the network layer holds while it replays and sends after the
// subscribed answer (netio, conn.reports.pending); chasing them would let a client whose
// reports come faster than a batch is handed over keep a replay (and a replay slot) for
// as long as they come. The ring may still overwrite sequences not yet handed over when
// more than reportsKeptPerClient reports come meanwhile (a rare overrun): the replay
// then ends there and answers next as the oldest, so that everything after the last
// report handed over counts as lost (PROTOCOL.md section 8: the client reconciles; the
// network layer lowers that oldest to its first held live report, from which on all is
// sent). That may name reports the ring still held: more to reconcile, never a loss
// hidden, and the replay stays one pass over contiguous sequences.
func (r *ReportStore) replay(client uint64, from uint64,
	fn func(reports []backend.Report)) (oldest uint64, next uint64) {
	var batch []backend.Report
	var bodies *[reportReplayBatch][model.ExecutionReportSize]byte
	cursor := from
	for first := true; ; first = false {
		r.mutex.Lock()
		c := r.clients[client]
		if c == nil {
			r.mutex.Unlock()
			return 1, 1 // No report was ever given to the client.
		}
		held := c.first
		if c.last >= reportsKeptPerClient {
			held = max(held, c.last-reportsKeptPerClient+1)
		}
		if first {
			oldest, next = held, c.last+1
		} else if cursor < held {
			// Overwritten before they could be handed over (above).
			r.mutex.Unlock()
			return next, next
		}
		cursor = max(cursor, held)
		if cursor >= next {
			// All handed over, or nothing to serve (a live subscription asks from the top
			// to read next): nothing to allocate then.
			r.mutex.Unlock()
			return oldest, next
		}
		if bodies == nil {
			bodies = new([reportReplayBatch][model.ExecutionReportSize]byte)
			batch = make([]backend.Report, 0, reportReplayBatch)
		}
		batch = batch[:0]
		for ; cursor < next && len(batch) < reportReplayBatch; cursor++ {
			body := &bodies[len(batch)]
			*body = c.records[cursor%reportsKeptPerClient]
			batch = append(batch, backend.Report{Client: client, Sequence: cursor,
				Body: body[:]})
		}
		r.mutex.Unlock()
		fn(batch)
	}
}

// next returns the client's next report sequence: what replay answers as the oldest
// sequence when it may serve none.
func (r *ReportStore) next(client uint64) uint64 {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	if c := r.clients[client]; c != nil {
		return c.last + 1
	}
	return 1
}

// ReplayReports serves a reconnecting client's retained execution reports from a
// sequence on. fn runs without the store's lock; the bodies it is handed are valid only
// until it returns.
//
// The store was filled at start from the whole log (Recover's onEntry), and in sync mode
// the recovered entries are released only once the standby has acknowledged them (see
// releaseRecovered): were it promoted instead, it would not have them and would number
// other reports with their sequences. Until then no report is served, and the oldest
// sequence is the client's next (PROTOCOL.md section 8: none held, reconcile by queries).
// No later report can be stored before them (release order), so nothing else is held
// back; and the recovered reports are never delivered live, so a partial acknowledgement
// is not worth tracking per op. The check reads the same atomics as the sequencer's
// release, so the entries are served as soon as they may be released (without a standby
// to wait for: at once). The next sequence counts the recovered reports even then: the
// live reports after them are numbered from it.
func (s *Shard) ReplayReports(client uint64, fromSequence uint64,
	fn func(reports []backend.Report)) (oldest uint64, next uint64) {
	if s.releasedOp.Load() < s.recoveredOp && s.released() < s.recoveredOp {
		next = s.reports.next(client)
		return next, next
	}
	return s.reports.replay(client, fromSequence, fn)
}

// SessionClosed is told when a client session ends (called from a network event loop:
// it must not block). With cancelOrders, the client's open orders are canceled by an
// internal log entry, so every replica cancels them at the same point. That entry goes
// into the ring at once, or, with the ring full, waits in it (inputRing.pushCancel) until
// the sequencer makes room, while the ring refuses every other request: it is dropped
// only when the ring closes or the log fails, and whatever the client sends after this
// call (from a new session) comes after it. Past cancelsPendingMax waiting clients a
// goroutine retries it every cancelSessionRetryInterval, and that order is no longer
// kept. Only the primary logs it; a shard that is not (or stops being primary before the
// entry is logged) cancels nothing: PROTOCOL.md section 5 tells the client.
func (s *Shard) SessionClosed(client uint64, session uint64, cancelOrders bool) {
	if !cancelOrders {
		return
	}
	switch s.Role() {
	case RolePrimary:
	case RoleFenced:
		// The new primary never had this connection, so nothing will cancel the client's
		// orders (PROTOCOL.md section 5): say so, as for the cancels the fence dropped.
		s.config.Logger.Error("shard: cancel-on-disconnect not logged: no longer primary",
			"client", client)
		return
	default:
		return // A standby: its sessions place no orders.
	}
	if s.ring.pushCancel(client) == model.StatusOK {
		s.wakeUp()
		return
	}
	// Busy: cancelsPendingMax other clients wait, more than a keys file can name. Keep
	// trying off the event loop until the ring takes it or closes.
	go func() {
		for {
			time.Sleep(cancelSessionRetryInterval)
			switch s.ring.pushCancel(client) {
			case model.StatusOK:
				s.wakeUp()
				return
			case model.StatusShuttingDown:
				s.config.Logger.Error("shard: closed before logging cancel-on-disconnect",
					"client", client)
				return
			}
		}
	}()
}

// deliverReports retains the released reports of a parked slot and hands them to the
// replier. Only released reports are retained: a replay must never show a report of an
// entry that is not durable yet.
func (s *Shard) deliverReports(slot *parked) {
	if len(slot.output.Reports) == 0 {
		return
	}
	s.reports.Add(&slot.output)
	slot.reports = slot.reports[:0]
	for i := range slot.output.Reports {
		report := &slot.output.Reports[i]
		slot.reports = append(slot.reports, backend.Report{Client: report.Client,
			Sequence: report.Sequence, Body: slot.output.ReportBody(report)})
	}
	s.outputs.DeliverReports(slot.reports)
}
