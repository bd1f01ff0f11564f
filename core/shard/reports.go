package shard

import (
	"encoding/binary"
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
// same reports with the same sequence numbers.
type ReportStore struct {
	mutex   sync.Mutex
	clients map[uint64]*clientReports
}

// clientReports is one client's ring of reports; sequence s lives at s % reportsKept.
type clientReports struct {
	last    uint64 // Sequence of the newest report stored.
	records [][model.ExecutionReportSize]byte
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
		c := r.clients[report.Client]
		if c == nil {
			c = &clientReports{records: make([][model.ExecutionReportSize]byte, reportsKeptPerClient)}
			r.clients[report.Client] = c
		}
		copy(c.records[report.Sequence%reportsKeptPerClient][:], output.ReportBody(report))
		c.last = report.Sequence
	}
}

// replay hands fn the client's retained reports from sequence from on, in batches, and
// returns the oldest sequence retained (1 when nothing was ever dropped).
func (r *ReportStore) replay(client uint64, from uint64, fn func(reports []backend.Report)) uint64 {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	c := r.clients[client]
	if c == nil {
		return 1
	}
	oldest := uint64(1)
	if c.last >= reportsKeptPerClient {
		oldest = c.last - reportsKeptPerClient + 1
	}
	batch := make([]backend.Report, 0, reportReplayBatch)
	for sequence := max(from, oldest); sequence <= c.last; sequence++ {
		batch = append(batch, backend.Report{Client: client, Sequence: sequence,
			Body: c.records[sequence%reportsKeptPerClient][:]})
		if len(batch) == reportReplayBatch {
			fn(batch)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		fn(batch)
	}
	return oldest
}

// ReplayReports serves a reconnecting client's retained execution reports from a
// sequence on. fn runs with the store locked: it must copy and return.
func (s *Shard) ReplayReports(client uint64, fromSequence uint64, fn func(reports []backend.Report)) uint64 {
	return s.reports.replay(client, fromSequence, fn)
}

// SessionClosed is told when a client session ends (called from a network event loop:
// it must not block). With cancelOrders, the client's open orders are canceled by an
// internal log entry, so every replica cancels them at the same point.
func (s *Shard) SessionClosed(client uint64, session uint64, cancelOrders bool) {
	if !cancelOrders || s.Role() != RolePrimary {
		return
	}
	body := binary.LittleEndian.AppendUint64(nil, client)
	request := &backend.Request{Operation: model.OperationCancelSession, Body: body}
	if s.ring.push(request, true) == model.StatusOK {
		s.wakeUp()
		return
	}
	go func() { // The ring is full right now: keep trying off the event loop, bounded.
		for deadline := time.Now().Add(cancelSessionRetryTime); time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
			switch s.ring.push(request, true) {
			case model.StatusOK:
				s.wakeUp()
				return
			case model.StatusShuttingDown:
				return
			}
		}
		s.config.Logger.Error("shard: could not log cancel-on-disconnect", "client", client)
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
