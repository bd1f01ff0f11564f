package shard

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// orderReports records the execution reports a shard delivers, decoded.
type orderReports struct {
	*recordingReplier
	reportsMutex sync.Mutex
	reports      []model.ExecutionReport
}

func (r *orderReports) DeliverReports(reports []backend.Report) {
	r.reportsMutex.Lock()
	defer r.reportsMutex.Unlock()
	for _, report := range reports {
		var decoded model.ExecutionReport
		decoded.Decode(report.Body)
		r.reports = append(r.reports, decoded)
	}
}

// canceled returns the client order ids whose orders were canceled by a disconnect.
func (r *orderReports) canceled() []uint64 {
	r.reportsMutex.Lock()
	defer r.reportsMutex.Unlock()
	var ids []uint64
	for _, report := range r.reports {
		if report.Kind == model.ReportCanceled && report.Status == model.StatusCanceledDisconnect {
			ids = append(ids, report.ClientOrderID)
		}
	}
	return ids
}

// errorLines is a slog handler that hands every error record's message to a channel.
type errorLines chan string

func (e errorLines) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelError
}
func (e errorLines) Handle(_ context.Context, record slog.Record) error {
	select {
	case e <- record.Message:
	default:
	}
	return nil
}

// saw reports whether one of the lines logged so far (and still buffered) contains
// substring; it consumes them.
func (e errorLines) saw(substring string) bool {
	for len(e) > 0 {
		if strings.Contains(<-e, substring) {
			return true
		}
	}
	return false
}

func (e errorLines) WithAttrs([]slog.Attr) slog.Handler { return e }
func (e errorLines) WithGroup(string) slog.Handler      { return e }

// tradingShard is a shard whose ring a test can hold full: its log's durability is held
// on demand and only one entry may be in flight, so the sequencer stops taking.
type tradingShard struct {
	t        *testing.T
	shard    *Shard
	log      *wal.MemoryLog
	replies  *orderReports
	numbers  map[[2]uint64]uint64 // Last request number of each (client, session).
	expected int                  // Replies expected so far.
}

// The trader's client id, and the client that fills the ring.
const (
	traderClient = 7
	fillerClient = 8
)

func startTradingShard(t *testing.T, logger *slog.Logger) *tradingShard {
	t.Helper()
	log := wal.NewMemoryLog()
	config := Config{RingBytes: 2 * EntryBytesMaxDefault, RingRequests: 4,
		InFlightEntriesMax: 1, PulseInterval: time.Hour, Logger: logger}
	s, err := New(config, core.New(testMachineConfig), log)
	if err != nil {
		t.Fatal(err)
	}
	replies := &orderReports{recordingReplier: newRecordingReplier()}
	s.Start(RepliesOnly(replies))
	t.Cleanup(func() { s.Close() })
	ts := &tradingShard{t: t, shard: s, log: log, replies: replies,
		numbers: map[[2]uint64]uint64{}}
	operatorGrants(t, s, traderClient)
	accounts := make([]byte, 2*model.AccountSize)
	(&model.Account{ID: model.U128(110), Ledger: 1, Code: 1}).Encode(accounts)
	(&model.Account{ID: model.U128(120), Ledger: 2, Code: 1}).Encode(accounts[model.AccountSize:])
	ts.mustWrite(traderClient, 100, model.OperationCreateAccounts, accounts)
	instrument := make([]byte, model.InstrumentSize)
	(&model.Instrument{ID: 5, BaseLedger: 1, QuoteLedger: 2, TickSize: 1, LotSize: 1,
		QuantityMin: 1, QuantityMax: 1000}).Encode(instrument)
	ts.mustWrite(traderClient, 100, model.OperationCreateInstruments, instrument)
	return ts
}

// submit sends one request of (client, session) and returns the status of its queueing.
func (ts *tradingShard) submit(client, session uint64, operation model.Operation,
	body []byte) model.Status {
	key := [2]uint64{client, session}
	request := backend.Request{Connection: 1, Client: client, Session: session,
		Number: ts.numbers[key] + 1, Operation: operation, Body: body}
	status := ts.shard.Submit(&request)
	if status == model.StatusOK {
		ts.numbers[key]++
		ts.expected++
	}
	return status
}

// writeRefusedLogFull sends one account creation of (client, session) while the log is
// full and requires it queued and answered log_unavailable (its turn has run).
func (ts *tradingShard) writeRefusedLogFull(client, session uint64, account uint64) {
	ts.t.Helper()
	if status := ts.submit(client, session, model.OperationCreateAccounts,
		accountsBody(account)); status != model.StatusOK {
		ts.t.Fatalf("write with the log full: %s", status)
	}
	if reply := ts.replies.waitFor(ts.t, ts.expected)[ts.expected-1]; reply.Status !=
		model.StatusLogUnavailable {
		ts.t.Fatalf("write with the log full answered %s, want log_unavailable", reply.Status)
	}
}

// mustWrite sends one request, again while the shard answers busy (bounded), and waits
// until it (and everything before) is answered ok.
func (ts *tradingShard) mustWrite(client, session uint64, operation model.Operation,
	body []byte) {
	ts.t.Helper()
	deadline := time.Now().Add(waitMax)
	for {
		status := ts.submit(client, session, operation, body)
		if status == model.StatusOK {
			break
		}
		if status != model.StatusBusy || time.Now().After(deadline) {
			ts.t.Fatalf("%s: %s", operation, status)
		}
		time.Sleep(time.Millisecond)
	}
	if reply := ts.replies.waitFor(ts.t, ts.expected)[ts.expected-1]; reply.Status != model.StatusOK {
		ts.t.Fatalf("%s answered %s", operation, reply.Status)
	}
}

// writeOnceTheLogHasRoom sends one request of (client, session) after the log was full,
// again while it is answered log_unavailable (a turn that found the log full just before
// it had room refuses without trying the log; the client retries, as after any
// log_unavailable), bounded by waitMax, until it is answered ok.
func (ts *tradingShard) writeOnceTheLogHasRoom(client, session uint64,
	operation model.Operation, body []byte) {
	ts.t.Helper()
	deadline := time.Now().Add(waitMax)
	for {
		if status := ts.submit(client, session, operation, body); status != model.StatusOK {
			ts.t.Fatalf("%s once the log has room: %s", operation, status)
		}
		reply := ts.replies.waitFor(ts.t, ts.expected)[ts.expected-1]
		if reply.Status == model.StatusOK {
			return
		}
		if reply.Status != model.StatusLogUnavailable || time.Now().After(deadline) {
			ts.t.Fatalf("%s once the log has room answered %s", operation, reply.Status)
		}
		time.Sleep(time.Millisecond)
	}
}

// orderBody is a resting sell order of the trader, told apart by its client order id.
func orderBody(clientOrderID uint64) []byte {
	body := make([]byte, model.OrderSize)
	(&model.Order{ClientOrderID: clientOrderID, Account: 1, BaseAccountID: model.U128(110),
		QuoteAccountID: model.U128(120), Price: 50, Quantity: 10, Instrument: 5,
		Side: model.SideSell, Type: model.OrderLimit, TimeInForce: model.GoodTillCancel}).Encode(body)
	return body
}

// fillRing holds the log's durability and submits the filler's writes until the ring
// answers busy: the first write parks (the only entry allowed in flight), the others wait.
func (ts *tradingShard) fillRing() {
	ts.t.Helper()
	before := ts.log.LastOp()
	ts.log.Hold()
	id := uint64(1000)
	for {
		id++
		if ts.submit(fillerClient, 1, model.OperationCreateAccounts, accountsBody(id)) ==
			model.StatusBusy {
			return
		}
		if id == 1001 {
			for ts.log.LastOp() == before {
				time.Sleep(time.Millisecond) // Let the first entry park.
			}
		}
	}
}
