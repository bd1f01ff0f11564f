package capture

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/event"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/tools/natstest"
	"sequent/wal"
)

// TestEventJSONMatchesSchema encodes one event of each family and decodes it with the
// documented types, refusing unknown fields: names, decimal strings (a u128 above 2^64
// included) and the subject.
func TestEventJSONMatchesSchema(t *testing.T) {
	var buffer event.Buffer
	buffer.BeginOp(42)
	big := model.Uint128{Lo: 5, Hi: 3} // 3·2^64 + 5
	buffer.AppendAccount(&model.Account{ID: model.U128(7), Ledger: 1, Code: 2, Timestamp: 9}, 5)
	buffer.AppendTransfer(event.KindTransferPosted, &model.Transfer{ID: big,
		DebitAccountID: model.U128(7), CreditAccountID: model.U128(8), Amount: model.U128(100),
		PendingID: model.U128(3), Ledger: 1, Code: 1, Timestamp: 11},
		model.Balance{DebitsPosted: model.U128(100)}, model.Balance{CreditsPosted: model.U128(100)})
	buffer.AppendOrder(&model.ExecutionReport{OrderID: 1, Client: 4, Account: 2, Instrument: 5,
		Kind: model.ReportFill, Status: model.StatusOK, Fee: model.U128(3), Timestamp: 12})
	buffer.AppendMarketData(&model.MarketDataUpdate{Sequence: 6, Instrument: 5,
		Kind: model.MarketDataTrade, Price: 50, Quantity: model.U128(2), Op: 42})
	subjects := []string{"sequent.0.ledger.1.account_created.7.7",
		"sequent.0.ledger.1.transfer_posted.7.8",
		"sequent.0.order.5.order_filled.4.2", "sequent.0.market.5.trade"}
	for i := range buffer.Events {
		e := &buffer.Events[i]
		var decoded EventJSON
		decoder := json.NewDecoder(bytes.NewReader(appendEvent(nil, 0, &buffer, e, 1)))
		decoder.DisallowUnknownFields()
		if err := decoder.Decode(&decoded); err != nil {
			t.Fatalf("%s: %v", e.Kind, err)
		}
		if decoded.ID != fmt.Sprintf("0:42:%d:1", i) || decoded.Op != 42 || decoded.Epoch != 1 ||
			decoded.Kind != e.Kind.String() || decoded.Schema != SchemaVersion {
			t.Fatalf("%s: header %+v", e.Kind, decoded)
		}
		if subject := string(appendSubject(nil, "sequent", 0, &buffer, e)); subject != subjects[i] {
			t.Fatalf("%s: subject %q, want %q", e.Kind, subject, subjects[i])
		}
	}
	var transfer EventJSON
	if err := json.Unmarshal(appendEvent(nil, 0, &buffer, &buffer.Events[1], 1), &transfer); err != nil {
		t.Fatal(err)
	}
	if transfer.Transfer.ID != "55340232221128654853" || transfer.Transfer.PendingID != "3" ||
		transfer.DebitBalance.DebitsPosted != "100" || transfer.Timestamp != 11 ||
		transfer.System || transfer.Owner != nil {
		t.Fatalf("transfer payload %+v %+v", transfer.Transfer, transfer.DebitBalance)
	}
	var account EventJSON
	if err := json.Unmarshal(appendEvent(nil, 0, &buffer, &buffer.Events[0], 1), &account); err != nil {
		t.Fatal(err)
	}
	if account.Owner == nil || *account.Owner != 5 || account.System {
		t.Fatalf("a client's account: owner %v, system %v; want owner 5, not system",
			account.Owner, account.System)
	}
}

// TestSystemEventsAreMarked: the matching engine's escrow accounts and its holds are
// captured like any change (the captured ledger must balance), marked "system", with the
// system (0) as the account's owner.
func TestSystemEventsAreMarked(t *testing.T) {
	var buffer event.Buffer
	buffer.BeginOp(3)
	escrow := model.Uint128{Hi: 1 << 63, Lo: 9}
	buffer.AppendAccount(&model.Account{ID: escrow, Ledger: 1, Code: 1, Timestamp: 2}, 0)
	buffer.AppendTransfer(event.KindTransferCreated, &model.Transfer{ID: model.Uint128{Hi: 1 << 63, Lo: 1},
		DebitAccountID: model.U128(7), CreditAccountID: escrow, Amount: model.U128(10),
		Ledger: 1, Code: 1, Flags: model.TransferPending, Timestamp: 3},
		model.Balance{DebitsPending: model.U128(10)}, model.Balance{CreditsPending: model.U128(10)})
	for i := range buffer.Events {
		var decoded EventJSON
		decoder := json.NewDecoder(bytes.NewReader(appendEvent(nil, 0, &buffer, &buffer.Events[i], 1)))
		decoder.DisallowUnknownFields()
		if err := decoder.Decode(&decoded); err != nil {
			t.Fatal(err)
		}
		if !decoded.System {
			t.Fatalf("%s of the system: not marked", decoded.Kind)
		}
		if i == 0 && (decoded.Owner == nil || *decoded.Owner != 0) {
			t.Fatalf("escrow account's owner %v, want 0", decoded.Owner)
		}
	}
}

// TestOverflowWakesAnIdlePublisher: an entry with more events than the whole queue,
// released while the publisher waits idle with an empty queue, must make it rebuild.
// Consume used to drop the events without a signal, and the idle publisher looked only
// at the queue's length, so capture stopped for good (TestCaptureRebuildsWhatItDropped
// hung on a 16-event queue and entries of 20 transfers).
func TestOverflowWakesAnIdlePublisher(t *testing.T) {
	c := New(Config{QueueEventsMax: 4, Released: func() uint64 { return 1 }})
	c.lost = false // Live, as after a rebuild joined the queue.
	var buffer event.Buffer
	buffer.BeginOp(1)
	for id := range uint64(5) {
		buffer.AppendAccount(&model.Account{ID: model.U128(id + 1), Ledger: 1, Code: 1}, 7)
	}
	c.Consume(&backend.Ready{FirstOp: 1, LastOp: 1, Events: &buffer})
	select {
	case <-c.wake:
	default:
		t.Fatal("an overflow did not wake the publisher")
	}
	returned := make(chan error, 1)
	go func() { returned <- c.waitLive() }()
	select {
	case err := <-returned:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute): // A hang guard, not a timing assertion.
		close(c.stop)
		t.Fatalf("the idle publisher did not notice the loss (returned %v)", <-returned)
	}
	if stats := c.ConsumerStats(); stats.FellBehind != 1 || stats.Buffered != 0 {
		t.Fatalf("consumer stats %+v", stats)
	}
}

// TestLagFollowsStoredReleases: under a steady load the stream's position is rarely equal
// to the released op at any instant, yet capture is current. The lag must follow the
// release times of the entries stored (here, one stored entry released at R while the
// shard has released more since: lag measured from R), not the last instant the position
// equalled the released op (a minute ago here), which made a busy capture look lagging.
func TestLagFollowsStoredReleases(t *testing.T) {
	c := New(Config{Released: func() uint64 { return 100 }})
	c.caughtUpAt.Store(time.Now().Add(-time.Minute).UnixNano())
	released := time.Now().UnixNano()
	c.inflight = []pendingAck{{at: position{op: 40, index: 2}, released: released,
		entryEnd: true}}
	if err := c.acknowledged(&jetstream.PubAck{Sequence: 1}); err != nil {
		t.Fatal(err)
	}
	if got := c.caughtUpAt.Load(); got != released {
		t.Fatalf("caught up to %d, want the stored entry's release time %d", got, released)
	}
	if stats := c.Stats(); stats.LagOps != 60 {
		t.Fatalf("stats %+v: want 60 ops behind", stats)
	}
}

// captureRig is a real shard (log on disk, machine) whose capture publishes to an
// embedded nats-server.
type captureRig struct {
	t       testing.TB
	shard   *shard.Shard
	log     *wal.Log
	capture *Capture
	url     string
	number  atomic.Uint64
}

type nullReplier struct{ replies atomic.Uint64 }

func (r *nullReplier) Deliver(replies []backend.Reply)   { r.replies.Add(uint64(len(replies))) }
func (r *nullReplier) DeliverReports(_ []backend.Report) {}

func newCaptureRig(t testing.TB, queueEventsMax int) *captureRig {
	t.Helper()
	return newCaptureRigWithPrefix(t, queueEventsMax, "")
}

// newCaptureRigWithPrefix is newCaptureRig publishing under subjectPrefix ("": the
// default).
func newCaptureRigWithPrefix(t testing.TB, queueEventsMax int, subjectPrefix string) *captureRig {
	t.Helper()
	dir := t.TempDir()
	// Benchmarks may target an external nats-server (to compare with `nats bench` on the
	// same server): SEQUENT_BENCH_NATS_URL. Each rig then uses a stream of its own.
	url, stream, prefix := os.Getenv("SEQUENT_BENCH_NATS_URL"), "", subjectPrefix
	if url == "" {
		url = natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	} else {
		unique := time.Now().UnixNano()
		stream, prefix = fmt.Sprintf("BENCH%d", unique), fmt.Sprintf("bench%d", unique)
	}
	return newCaptureRigAt(t, dir, url, stream, prefix, queueEventsMax)
}

// newCaptureRigAt is newCaptureRig publishing to the nats-server at url (stream and
// subjectPrefix "": the defaults), its log under dir.
func newCaptureRigAt(t testing.TB, dir, url, stream, subjectPrefix string,
	queueEventsMax int) *captureRig {
	t.Helper()
	log, err := wal.Open(wal.Options{Dir: dir + "/log"})
	if err != nil {
		t.Fatal(err)
	}
	machine := core.New(testMachine)
	s, err := shard.New(shard.Config{}, machine, log)
	if err != nil {
		t.Fatal(err)
	}
	// Client 7 acts as the single tenant's operator: its accounts may go negative (a
	// client without a transfer grant may create only debit-limited ones). Logged as op 1.
	operator := model.AppendGrants(nil, []model.Grant{{Client: 7, Scopes: model.ScopeOperator}})
	if err := s.SetGrants(operator); err != nil {
		t.Fatal(err)
	}
	c := New(Config{URL: url, Stream: stream, SubjectPrefix: subjectPrefix, Log: log,
		Machine: testMachine, Released: s.Released, QueueEventsMax: queueEventsMax})
	s.AddConsumer(c, c)
	c.Start()
	s.Start(shard.RepliesOnly(&nullReplier{}))
	t.Cleanup(func() {
		s.Close()
		c.Close()
		log.Close()
	})
	return &captureRig{t: t, shard: s, log: log, capture: c, url: url}
}

// submit queues one request, retrying while the ring is full.
func (r *captureRig) submit(operation model.Operation, body []byte) {
	number := r.number.Add(1)
	for {
		status := r.shard.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1,
			Number: number, Operation: operation, Body: body})
		if status == model.StatusOK {
			return
		}
		if status != model.StatusBusy {
			r.t.Fatalf("submit: %s", status)
		}
		time.Sleep(time.Millisecond)
	}
}

// transfers submits count requests of perRequest transfers between accounts 1 and 2.
func (r *captureRig) transfers(firstID uint64, count, perRequest int) {
	body := make([]byte, perRequest*model.TransferSize)
	id := firstID
	for range count {
		for i := range perRequest {
			(&model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(1),
				CreditAccountID: model.U128(2), Amount: model.U128(1), Ledger: 1, Code: 1,
				UserData64: id}).Encode(body[i*model.TransferSize:])
			id++
		}
		r.submit(model.OperationCreateTransfers, body)
	}
}

func (r *captureRig) accounts() {
	body := make([]byte, 2*model.AccountSize)
	(&model.Account{ID: model.U128(1), Ledger: 1, Code: 1}).Encode(body)
	(&model.Account{ID: model.U128(2), Ledger: 1, Code: 1}).Encode(body[model.AccountSize:])
	r.submit(model.OperationCreateAccounts, body)
}

// waitPublished waits until the stream holds count messages. The bound is a guard
// against a hang (reported with the capture's state), not a timing assertion.
func (r *captureRig) waitPublished(count uint64) {
	deadline := time.Now().Add(2 * time.Minute)
	for r.capture.Stats().StreamSequence < count {
		if time.Now().After(deadline) {
			r.t.Fatalf("the stream holds %d of %d messages: %+v", r.capture.Stats().StreamSequence,
				count, r.capture.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestEntriesWithoutEventsAreHandled: entries that produce no event (a refused transfer
// here; set_grants, pulses and snapshot markers too) are handled as soon as everything
// before them is in the stream. Capture used to measure itself by the op of the last
// event stored, so after such an entry an idle capture stayed one op behind for good
// and its lag in seconds grew until /healthz reported capture_lagging.
func TestEntriesWithoutEventsAreHandled(t *testing.T) {
	rig := newCaptureRig(t, 0)
	rig.accounts()
	rig.waitPublished(2)
	body := make([]byte, model.TransferSize)
	(&model.Transfer{ID: model.U128(1), DebitAccountID: model.U128(1),
		CreditAccountID: model.U128(99), Amount: model.U128(1), Ledger: 1, Code: 1}).Encode(body)
	rig.submit(model.OperationCreateTransfers, body) // credit_account_not_found: no event.
	deadline := time.Now().Add(time.Minute)          // A hang guard, not a timing assertion.
	for rig.shard.Released() < 2 || rig.capture.ConsumerStats().HandledOp < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("released %d, capture handled %d: %+v", rig.shard.Released(),
				rig.capture.ConsumerStats().HandledOp, rig.capture.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	if stats := rig.capture.Stats(); stats.LagOps != 0 || stats.StreamSequence != 2 {
		t.Fatalf("stats %+v: want no lag and the 2 account events only", stats)
	}
}

// TestCaptureRebuildsWhatItDropped gives capture a queue of 16 events, far too small for
// the load, so it keeps falling behind and rebuilding the missed events from the log
// with its own machine: the stream still holds every event exactly once, in op order,
// with the payloads the live machine produced.
func TestCaptureRebuildsWhatItDropped(t *testing.T) {
	rig := newCaptureRig(t, 16)
	rig.accounts()
	rig.waitPublished(2) // Live now: what follows overflows the queue.
	const requests, perRequest = 60, 20
	rig.transfers(1, requests, perRequest)
	rig.waitPublished(2 + requests*perRequest)
	stats := rig.capture.Stats()
	if stats.FellBehind == 0 || stats.Rebuilds < 2 {
		t.Fatalf("the queue never overflowed (%+v): the test did not exercise the rebuild", stats)
	}
	js, closeConnection := operatorJetStream(t, rig.url)
	defer closeConnection()
	stream, err := js.Stream(context.Background(), rig.capture.StreamName())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	previous := position{}
	for sequence := uint64(1); sequence <= stats.StreamSequence; sequence++ {
		message, err := stream.GetMsg(context.Background(), sequence)
		if err != nil {
			t.Fatal(err)
		}
		var e EventJSON
		if err := json.Unmarshal(message.Data, &e); err != nil {
			t.Fatal(err)
		}
		at := position{op: e.Op, index: e.Index}
		if sequence > 1 && !previous.after(&event.Event{Op: at.op, Index: at.index}) {
			t.Fatalf("message %d (%s) does not follow %+v", sequence, e.ID, previous)
		}
		previous = at
		if e.Kind == "transfer_created" {
			if seen[e.Transfer.ID] || e.Transfer.UserData64 == 0 {
				t.Fatalf("transfer %s twice or without its payload", e.Transfer.ID)
			}
			seen[e.Transfer.ID] = true
		}
	}
	if len(seen) != requests*perRequest {
		t.Fatalf("%d transfers captured, want %d", len(seen), requests*perRequest)
	}
}

// FuzzParseMessageID: the id of a message read back from NATS (not trusted) either
// parses to a name that formats back to an id naming the same, or is refused; it never
// panics.
func FuzzParseMessageID(f *testing.F) {
	for _, seed := range []string{"0:42:3:1", "0:42:3", "0:7:gap", "0:41:1:superseded:2", "",
		":::", "0:18446744073709551615:4294967295:18446744073709551615", "0:1:-1", "x:1:2",
		"0:1:2:superseded", "0:1:2:x:3", "0:1:gap:2", "0:1:gap:0", "0:1:4294967295:2"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		name, err := parseMessageID(id)
		if err != nil {
			return
		}
		shard := id[:strings.IndexByte(id, ':')]
		var formatted string
		switch {
		case name.marker && name.epoch == 0 && name.at.index == math.MaxUint32:
			formatted = fmt.Sprintf("%s:%d:gap", shard, name.at.op)
		case !name.marker && name.at.index == math.MaxUint32 && name.epoch != 0:
			// A gap with an epoch; a schema-1 event at index MaxUint32 (no epoch) parses
			// to the same position but only its own form round-trips.
			formatted = fmt.Sprintf("%s:%d:gap:%d", shard, name.at.op, name.epoch)
		case name.marker:
			formatted = fmt.Sprintf("%s:%d:%d:superseded:%d", shard, name.at.op, name.at.index,
				name.epoch)
		case name.epoch == 0:
			formatted = fmt.Sprintf("%s:%d:%d", shard, name.at.op, name.at.index)
		default:
			formatted = fmt.Sprintf("%s:%d:%d:%d", shard, name.at.op, name.at.index, name.epoch)
		}
		if again, err := parseMessageID(formatted); err != nil || again != name {
			t.Fatalf("%q parsed to %+v, which does not round-trip (%q: %+v %v)", id, name,
				formatted, again, err)
		}
	})
}

// ackAt is a standby that has acknowledged up to a fixed op (a shard.Acknowledger).
type ackAt struct {
	op     atomic.Uint64
	notify chan struct{}
}

func (a *ackAt) Acknowledged() uint64                { return a.op.Load() }
func (a *ackAt) AcknowledgedNotify() <-chan struct{} { return a.notify }

// signal wakes the shard as a real standby's acknowledgement does: without blocking, a
// signal still pending standing for this one. A blocking send hung the test when the
// shard had released through another wake and, idle, no longer read the channel, whose
// one slot still held the previous signal.
func (a *ackAt) signal() {
	select {
	case a.notify <- struct{}{}:
	default:
	}
}

// TestRestartPublishesOnlyWhatTheStandbyAcknowledged: a sync primary restarts with log
// entries its standby never acknowledged (op 3 here; the standby has op 2). Capture
// catches up from the log, but only up to the released op: were the standby promoted
// instead, it would not have op 3, so an event published from it would announce a
// change that never happened, and the new primary's different op 3 would then reuse its
// id (shard:3:0) and be dropped as a duplicate. The shard used to count every recovered
// op as released from the start, so capture published op 3 at once.
func TestRestartPublishesOnlyWhatTheStandbyAcknowledged(t *testing.T) {
	dir := t.TempDir()
	url := natstest.Start(t, dir+"/nats", "127.0.0.1:0").ClientURL()
	// The first run, alone: op 1 grants client 7 the operator scope, op 2 creates
	// accounts 1 and 2, op 3 accounts 3 and 4.
	first := openReplica(t, dir+"/log")
	first.serve("", 1, []uint64{1, 2}, []uint64{3, 4})
	log := first.log

	// The restart, in sync mode: the standby has acknowledged op 2, not op 3.
	machine, _, err := shard.Recover(testMachine, log, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if machine.OpLast() != 3 {
		t.Fatalf("recovered op %d, want 3", machine.OpLast())
	}
	standby := &ackAt{notify: make(chan struct{}, 1)}
	standby.op.Store(2)
	s, err := shard.New(shard.Config{Acknowledger: standby}, machine, log)
	if err != nil {
		t.Fatal(err)
	}
	c := New(Config{URL: url, Log: log, Machine: testMachine, Released: s.Released})
	s.AddConsumer(c, c)
	c.Start()
	s.Start(shard.RepliesOnly(&nullReplier{}))
	defer func() {
		s.Close()
		c.Close()
	}()
	deadline := time.Now().Add(time.Minute) // A hang guard, not a timing assertion.
	for c.handledOp.Load() < 2 {            // A catch-up pass has settled through op 2.
		if time.Now().After(deadline) {
			t.Fatalf("capture never caught up to op 2: %+v", c.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	if stats := c.Stats(); stats.StreamSequence != 2 || stats.PublishedOp != 2 {
		t.Fatalf("stream %+v: want op 2's 2 events only; op 3 was never acknowledged", stats)
	}
	standby.op.Store(3)
	standby.signal()
	for c.Stats().StreamSequence < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("op 3 never published once acknowledged: %+v", c.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	if stats := c.Stats(); stats.StreamSequence != 4 || stats.PublishedOp != 3 {
		t.Fatalf("stream %+v: want 4 events through op 3", stats)
	}
}

// TestCloseIsIdempotent: the server's start-up failure paths and its shutdown may both
// close the capture, and a capture that was never started has no publisher to wait
// for. Before, a second Close panicked (close of a closed channel) and a Close without
// Start blocked for ever.
func TestCloseIsIdempotent(t *testing.T) {
	unstarted := New(Config{Released: func() uint64 { return 0 }})
	closed := make(chan struct{})
	go func() {
		unstarted.Close()
		unstarted.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(30 * time.Second): // Bounds a hang only.
		t.Fatal("Close of a capture that was never started did not return")
	}
	started := New(Config{Released: func() uint64 { return 0 }})
	started.Start()
	started.Close()
	started.Close()
	select {
	case <-started.done:
	default:
		t.Fatal("the publisher still runs after Close")
	}
}

// TestHandledWaitsForTheOpsLastEvent: an op may produce many events; storing its first
// must not count it as handled (HandledOp feeds the lag and tells tests and operators
// that everything up to it is in the stream). CI caught the old rule, "the op of the
// last event stored", returning while op 5's second event was still in flight.
func TestHandledWaitsForTheOpsLastEvent(t *testing.T) {
	c := opOfTwoEventsHalfStored(t)
	if handled := c.ConsumerStats().HandledOp; handled != 4 {
		t.Fatalf("op 5's first of two events stored: handled op %d, want 4", handled)
	}
	if err := c.acknowledged(&jetstream.PubAck{Sequence: 7}); err != nil {
		t.Fatal(err)
	}
	if handled := c.ConsumerStats().HandledOp; handled != 5 {
		t.Fatalf("op 5's last event stored: handled op %d, want 5", handled)
	}
}

// opOfTwoEventsHalfStored returns a capture (no server) whose op 5 has two events in
// flight, the first of them acknowledged (stored at stream sequence 6).
func opOfTwoEventsHalfStored(t *testing.T) *Capture {
	t.Helper()
	c := New(Config{Released: func() uint64 { return 5 }})
	c.inflight = []pendingAck{
		{at: position{op: 5, index: 0}, expected: 5},
		{at: position{op: 5, index: 1}, expected: 6, entryEnd: true},
	}
	if err := c.acknowledged(&jetstream.PubAck{Sequence: 6}); err != nil {
		t.Fatal(err)
	}
	return c
}

// testMachine builds the tests' machines at the current rules version, so that the ops
// they count are their own requests' (a primary below it opens its first write entry
// with upgrade_rules, an op without events: TestEntriesWithoutEventsAreHandled's kind).
var testMachine = core.Config{RulesVersion: core.RulesVersionCurrent}

// TestLagIsNeverNegative: the lag clock was wall-clock time, so after the clock was
// stepped back (here by an hour) the instant capture was last caught up lay ahead of
// now. Stats reported that as a lag of minus an hour, which alerts and dashboards read as
// is; it must be 0 (and not lagging), with the ops behind still counted. The lag clock
// is monotonic now (TestLagIgnoresWallClockSteps); an instant ahead of it is still
// reported as no lag.
func TestLagIsNeverNegative(t *testing.T) {
	c := New(Config{Released: func() uint64 { return 100 }})
	c.handledOp.Store(40)
	c.caughtUpAt.Store(time.Now().Add(time.Hour).UnixNano()) // Read before the step back.
	if stats := c.Stats(); stats.LagSeconds != 0 || stats.Lagging || stats.LagOps != 60 {
		t.Fatalf("stats %+v: want lag 0 s, not lagging, 60 ops behind", stats)
	}
}
