package shard

import (
	"bytes"
	"errors"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/invariants"
	"sequent/core/model"
	"sequent/wal"
)

// submitDeferredWhileBusy queues a create_accounts request as an event loop does
// (SubmitDeferred), retrying while the ring is full, and reports whether it was accepted
// (false: the shard is shutting down).
func submitDeferredWhileBusy(s *Shard, session, number, id uint64) bool {
	for {
		switch s.SubmitDeferred(&backend.Request{Connection: session, Client: 7,
			Session: session, Number: number, Operation: model.OperationCreateAccounts,
			Body: accountsBody(id)}) {
		case model.StatusOK:
			return true
		case model.StatusBusy:
			time.Sleep(time.Millisecond)
		default:
			return false
		}
	}
}

// waitUntilParked waits (bounded) until the started sequencer lets turns go (it holds
// them from Start): it then waits in its select, and since nothing wakes it afterwards in
// the tests that use this (hour-long pulses, no Submit, no wake-up pending), the caller's
// TurnInline finds the shard idle.
func waitUntilParked(t *testing.T, s *Shard) {
	t.Helper()
	deadline := time.Now().Add(waitMax)
	for !s.turns.TryLock() {
		if time.Now().After(deadline) {
			t.Fatal("the sequencer never let turns go")
		}
		time.Sleep(time.Millisecond)
	}
	s.turns.Unlock()
}

// TestInlineTurnsStress runs event loops (goroutines calling SubmitDeferred, then
// TurnInline) against the sequencer on a real log with small segments: one
// loop one request at a time (the inline path when alone), others several requests per
// event and Submit callers beside them, so that inline turns, the sequencer's turns and
// the log's writer interleave; then it closes the shard while the loops go on. Every
// reply must leave only once its op is durable, every accepted request must be answered
// exactly once (the answer check, and in invariants builds the owner check of iterate,
// stop the shard otherwise), and the reopened log must hold every op replied ok.
func TestInlineTurnsStress(t *testing.T) {
	dir := t.TempDir()
	options := wal.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler), PipelineDepth: 2,
		SegmentBytes: wal.SegmentBytesMin}
	log, err := wal.Open(options)
	if err != nil {
		t.Fatal(err)
	}
	replier := newDurabilityReplier(t, log)
	// No pulses: a turn a loop leaves unfinished is taken up only if the loop wakes the
	// sequencer (a lost wake-up hangs the test until the binary's timeout).
	s, err := New(Config{PulseInterval: time.Hour}, core.New(testMachineConfig), log)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(RepliesOnly(replier))
	const loops, perLoop, eventRequestsMax = 4, 120, 3
	var accepted [loops + 1]atomic.Int64 // Per connection (1 + loop index; last: Submit).
	var group sync.WaitGroup
	for loop := range loops {
		group.Go(func() {
			connection := uint64(1 + loop)
			for i := 0; i < perLoop; {
				count := 1
				if loop > 0 {
					count = 1 + i%eventRequestsMax
				}
				for range count {
					id := uint64(1 + loop*perLoop + i)
					if submitDeferredWhileBusy(s, connection, uint64(i+1), id) {
						accepted[loop].Add(1)
					}
					i++
				}
				s.TurnInline()
				if loop == 0 {
					replier.waitAnswered(connection, i)
				}
			}
		})
	}
	group.Go(func() {
		for i := range perLoop {
			submitAccountWhileBusy(s, loops+1, uint64(i+1), uint64(1+loops*perLoop+i))
			accepted[loops].Add(1)
			time.Sleep(time.Duration(i%5) * 100 * time.Microsecond)
		}
	})
	group.Wait()
	// Close while loops keep running turns: what they queue before the close is answered
	// (sequenced, or shutting_down), what comes after is refused at once.
	stopLoops := make(chan struct{})
	var closing sync.WaitGroup
	for loop := range loops {
		closing.Go(func() {
			connection := uint64(1 + loop)
			for number := uint64(perLoop + 1); ; number++ {
				select {
				case <-stopLoops:
					return
				default:
				}
				if submitDeferredWhileBusy(s, connection, number, 1_000_000+number*loops+uint64(loop)) {
					accepted[loop].Add(1)
				}
				s.TurnInline()
			}
		})
	}
	time.Sleep(20 * time.Millisecond) // Let the loops run turns before the close.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	close(stopLoops)
	closing.Wait()
	inlineTurns := s.Stats().InlineTurns
	if inlineTurns == 0 {
		t.Fatal("no turn ran on a loop")
	}
	replier.mutex.Lock()
	for i := range accepted {
		if got, want := replier.answered[uint64(i+1)], int(accepted[i].Load()); got != want {
			t.Errorf("connection %d: %d replies for %d accepted requests", i+1, got, want)
		}
	}
	okOpLast, replies := replier.okOpLast, replier.replies
	replier.mutex.Unlock()
	t.Logf("%d inline turns, %d replies", inlineTurns, replies)
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	log, err = wal.Open(options)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if okOpLast == 0 || log.LastOp() < okOpLast {
		t.Fatalf("reopened log ends at op %d; op %d was replied ok", log.LastOp(), okOpLast)
	}
}

// TestInlineTurnLogFailure: the loop's own fdatasync fails (WriteDeferred in its turn).
// The sequencer serves the failure as if it had met it itself: the request gets
// outcome_unknown (written, not confirmed durable), the shard reports the error, and
// writes are refused with log_unavailable from then on.
func TestInlineTurnLogFailure(t *testing.T) {
	log := newInlineLog()
	log.syncFailure = errors.New("disk gone")
	s, replier := startShard(t, Config{PulseInterval: time.Hour}, log)
	waitUntilParked(t, s)
	if !submitDeferredWhileBusy(s, 1, 1, 1) {
		t.Fatal("refused")
	}
	s.TurnInline()
	if turns := s.Stats().InlineTurns; turns != 1 {
		t.Fatalf("%d inline turns, want 1 (the sequencer ran it)", turns)
	}
	replies := replier.waitFor(t, 1)
	if replies[0].Status != model.StatusOutcomeUnknown {
		t.Fatalf("reply %s, want outcome_unknown", replies[0].Status)
	}
	if s.Err() == nil {
		t.Fatal("the shard does not report the failure")
	}
	if status := s.SubmitDeferred(&backend.Request{Connection: 1, Client: 7, Session: 1,
		Number: 2, Operation: model.OperationCreateAccounts, Body: accountsBody(2)}); status != model.StatusLogUnavailable {
		t.Fatalf("after the failure: %s, want log_unavailable", status)
	}
	s.TurnInline()
	if err := s.Close(); err == nil {
		t.Fatal("Close reports no failure")
	}
}

// failingAppendLog refuses appends with an error that the log does not keep (Err stays
// nil): only the turn that met it knows.
type failingAppendLog struct {
	*inlineLog
	failure error
}

func (l *failingAppendLog) AppendDeferred(wal.Entry) error { return l.failure }

// TestInlineTurnHandsItsFailureToTheSequencer: an error met in a loop's turn that only
// that turn knows of (an append refused; Log.Err says nothing) is served by the
// sequencer as its own would be (failAndServe): the request of the failed turn is
// answered log_unavailable and the shard reports the error. Were it dropped, the request
// would never be answered and the shard would go on as if nothing had happened.
func TestInlineTurnHandsItsFailureToTheSequencer(t *testing.T) {
	failure := errors.New("append refused")
	log := &failingAppendLog{inlineLog: newInlineLog(), failure: failure}
	s, replier := startShard(t, Config{PulseInterval: time.Hour}, log)
	waitUntilParked(t, s)
	if !submitDeferredWhileBusy(s, 1, 1, 1) {
		t.Fatal("refused")
	}
	s.TurnInline()
	if turns := s.Stats().InlineTurns; turns != 1 {
		t.Fatalf("%d inline turns, want 1", turns)
	}
	if reply := replier.waitFor(t, 1)[0]; reply.Status != model.StatusLogUnavailable {
		t.Fatalf("reply %s, want log_unavailable", reply.Status)
	}
	if err := s.Err(); !errors.Is(err, failure) {
		t.Fatalf("shard error %v, want the append's", err)
	}
}

// TestInlineTurnRunsOnTheCaller: with the shard idle, TurnInline sequences, writes
// (WriteDeferred) and answers a lone request on the caller's goroutine: the reply has
// arrived when it returns. Not with InlineTurnsOff, nor with more than
// inlineTurnRequestsMax requests waiting, nor while a snapshot is due (the
// sequencer takes it: its capture would pause the loop), nor while a standby in sync
// mode holds replies back (it has acknowledged only what is durable so far).
func TestInlineTurnRunsOnTheCaller(t *testing.T) {
	for _, test := range []struct {
		name    string
		config  func(log *inlineLog) Config
		prepare func(s *Shard) // Before each request, the sequencer parked.
		queued  int            // Requests prepare queues.
		inline  bool
	}{
		{name: "idle", config: func(*inlineLog) Config { return Config{} }, inline: true},
		{name: "off", config: func(*inlineLog) Config { return Config{InlineTurnsOff: true} }},
		{name: "several waiting", config: func(*inlineLog) Config { return Config{} },
			prepare: func(s *Shard) {
				for range inlineTurnRequestsMax { // Reads of an unknown account: no ops.
					if status := s.SubmitDeferred(&backend.Request{Connection: 2, Client: 7,
						Session: 2, Number: 1, Operation: model.OperationLookupAccounts,
						Body: model.U128(99).Append(nil)}); status != model.StatusOK {
						panic(status)
					}
				}
			}, queued: inlineTurnRequestsMax},
		{name: "snapshot due", config: func(*inlineLog) Config {
			return Config{Snapshots: &SnapshotConfig{Dir: t.TempDir()}}
		}, prepare: func(s *Shard) {
			s.snapshotNow <- struct{}{} // RequestSnapshot without its wake-up.
		}},
		{name: "standby in sync mode", config: func(log *inlineLog) Config {
			return Config{Acknowledger: &durableAcknowledger{log: log, notify: make(chan struct{})}}
		}},
	} {
		t.Run(test.name, func(t *testing.T) {
			log := newInlineLog()
			config := test.config(log)
			config.PulseInterval = time.Hour
			s, replier := startShard(t, config, log)
			waitUntilParked(t, s)
			perRequest := 1 + test.queued // Replies per round.
			for number := 1; number <= 3; number++ {
				waitUntilParked(t, s)
				if test.prepare != nil {
					test.prepare(s)
				}
				if !submitDeferredWhileBusy(s, 1, uint64(number), uint64(number)) {
					t.Fatal("refused")
				}
				s.TurnInline()
				if test.inline && replier.count() != number*perRequest {
					t.Fatalf("request %d not answered when TurnInline returned", number)
				}
				replier.waitFor(t, number*perRequest)
			}
			if turns, want := s.Stats().InlineTurns, map[bool]uint64{true: 3}[test.inline]; turns != want {
				t.Fatalf("%d inline turns of 3 requests, want %d", turns, want)
			}
			for _, reply := range replier.waitFor(t, 3*perRequest) {
				if reply.Status != model.StatusOK {
					t.Fatalf("reply %s", reply.Status)
				}
			}
			if test.name == "snapshot due" {
				// Also lets the writer finish before the test removes its directory.
				waitUntil(t, "the snapshot written", func() bool {
					return len(s.snapshots.busy) == 0 && s.Stats().Snapshots > 0
				})
			}
		})
	}
}

// durableAcknowledger is a standby in sync mode, caught up: it acknowledges what the
// primary's log has made durable.
type durableAcknowledger struct {
	log    *inlineLog
	notify chan struct{}
}

func (a *durableAcknowledger) Acknowledged() uint64                { return a.log.Durable() }
func (a *durableAcknowledger) AcknowledgedNotify() <-chan struct{} { return a.notify }

// fenceReplier counts replies per connection and checks that ok replies leave only once
// durable (outcome_unknown ones are not releases: a fenced shard answers what it parked).
type fenceReplier struct {
	t        *testing.T
	log      *wal.Log
	mutex    sync.Mutex
	answered map[uint64]int
	arrived  *sync.Cond
}

func (r *fenceReplier) Deliver(replies []backend.Reply) {
	durable := r.log.Durable()
	r.mutex.Lock()
	defer r.mutex.Unlock()
	defer r.arrived.Broadcast()
	for _, reply := range replies {
		r.answered[reply.Connection]++
		if reply.Status == model.StatusOK && reply.Op > durable {
			r.t.Errorf("ok reply for op %d left with Durable at %d", reply.Op, durable)
		}
	}
}

func (r *fenceReplier) DeliverReports([]backend.Report) {}

// TestInlineTurnsDuringFence fences the shard while loops run turns: every accepted
// request is answered exactly once (ok before the fence, outcome_unknown for what was
// parked, not_primary after), and nothing is accepted once the fence is seen.
func TestInlineTurnsDuringFence(t *testing.T) {
	log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	replier := &fenceReplier{t: t, log: log, answered: map[uint64]int{}}
	replier.arrived = sync.NewCond(&replier.mutex)
	s, err := New(Config{PulseInterval: time.Millisecond}, core.New(testMachineConfig), log)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(RepliesOnly(replier))
	const loops = 3
	var accepted [loops]atomic.Int64
	var group sync.WaitGroup
	for loop := range loops {
		group.Go(func() {
			connection := uint64(1 + loop)
			for number := uint64(1); ; number++ {
				if !submitDeferredWhileBusy(s, connection, number, number*loops+uint64(loop)) {
					s.TurnInline()
					return // not_primary: fenced.
				}
				accepted[loop].Add(1)
				s.TurnInline()
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	s.Fence(2, "elsewhere:1")
	group.Wait()
	replier.mutex.Lock()
	for loop := range loops {
		for replier.answered[uint64(1+loop)] < int(accepted[loop].Load()) {
			replier.arrived.Wait() // A hang is reported by the test binary's timeout.
		}
	}
	replier.mutex.Unlock()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	replier.mutex.Lock()
	defer replier.mutex.Unlock()
	for loop := range loops {
		if got, want := replier.answered[uint64(1+loop)], int(accepted[loop].Load()); got != want {
			t.Errorf("connection %d: %d replies for %d accepted", loop+1, got, want)
		}
	}
}

// TestIterateRefusesASecondGoroutine checks the owner check that the tests above rely on
// (invariants and race builds): a turn that starts while another is running stops the
// shard at once.
func TestIterateRefusesASecondGoroutine(t *testing.T) {
	if !invariants.Enabled {
		t.Skip("the owner check needs the invariants or race build tag")
	}
	s, _ := startShard(t, Config{PulseInterval: time.Hour}, wal.NewMemoryLog())
	waitUntilParked(t, s)
	s.turns.Lock()
	s.iterating.Add(1) // As if another goroutine were in iterate.
	defer func() {
		recovered := recover()
		s.iterating.Store(0) // The panic left the count raised: Close runs a turn.
		s.turns.Unlock()
		if recovered == nil {
			t.Fatal("a second turn at once did not panic")
		}
	}()
	s.iterate(true)
}

// TestInlineTurnsLogIdentical sends the same requests, one at a time, through a shard
// whose loop runs the turns and one whose sequencer does (InlineTurnsOff), with the same
// clock: the replies and the log's entries (their stored form: header, chain hash, body)
// must be identical byte for byte. (The segment files are not: their headers hold the
// time each was created.)
func TestInlineTurnsLogIdentical(t *testing.T) {
	run := func(off bool) ([][]byte, []backend.Reply, [][]byte) {
		log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		var clock atomic.Uint64
		config := Config{PulseInterval: time.Hour, InlineTurnsOff: off,
			Clock: func() uint64 { return 1_000_000 + clock.Add(1000) }}
		s, err := New(config, core.New(testMachineConfig), log)
		if err != nil {
			t.Fatal(err)
		}
		operatorGrants(t, s, 7)
		<-s.wake // SetGrants's wake-up: the sequencer's first turn logs the grants.
		replier := newRecordingReplier()
		s.Start(RepliesOnly(replier))
		t.Cleanup(func() { s.Close() })
		waitUntilParked(t, s)
		requests := []backend.Request{
			{Operation: model.OperationCreateAccounts, Body: plainAccountsBody(1, 2)},
			{Operation: model.OperationCreateTransfers, Body: transferBody(10, 1, 2, 5, 0, 0)},
			{Operation: model.OperationCreateTransfers, Body: transferBody(11, 2, 1, 3, model.TransferPending, 0)},
			{Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)},
			{Operation: model.OperationCreateTransfers, Body: transferBody(10, 1, 2, 5, 0, 0)},
			{Operation: model.OperationCreateAccounts, Body: plainAccountsBody(3)},
		}
		for i := range requests {
			request := requests[i]
			request.Connection, request.Client, request.Session, request.Number = 1, 7, 1, uint64(i+1)
			waitUntilParked(t, s)
			if status := s.SubmitDeferred(&request); status != model.StatusOK {
				t.Fatalf("request %d: %s", i, status)
			}
			s.TurnInline()
			replier.waitFor(t, i+1)
		}
		if turns, want := s.Stats().InlineTurns, map[bool]uint64{false: uint64(len(requests))}[off]; turns != want {
			t.Fatalf("%d inline turns of %d requests, want %d", turns, len(requests), want)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		var entries [][]byte // Stored form: header (epoch, ops, timestamp, chain) and body.
		if err := log.ReadStored(0, func(stored []byte, _ wal.EntryMeta) error {
			entries = append(entries, bytes.Clone(stored))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := log.Close(); err != nil {
			t.Fatal(err)
		}
		replier.mutex.Lock()
		defer replier.mutex.Unlock()
		return entries, append([]backend.Reply(nil), replier.replies...),
			append([][]byte(nil), replier.bodies...)
	}
	inlineEntries, inlineReplies, inlineBodies := run(false)
	sequencerEntries, sequencerReplies, sequencerBodies := run(true)
	if len(inlineReplies) != len(sequencerReplies) {
		t.Fatalf("%d replies inline, %d by the sequencer", len(inlineReplies), len(sequencerReplies))
	}
	for i := range inlineReplies {
		a, b := inlineReplies[i], sequencerReplies[i]
		a.Body, b.Body = nil, nil // Cleared by the recording replier; the bodies are below.
		if !reflect.DeepEqual(a, b) || !bytes.Equal(inlineBodies[i], sequencerBodies[i]) {
			t.Fatalf("reply %d: %+v %x inline, %+v %x by the sequencer", i, inlineReplies[i],
				inlineBodies[i], sequencerReplies[i], sequencerBodies[i])
		}
	}
	if len(inlineEntries) == 0 || len(inlineEntries) != len(sequencerEntries) {
		t.Fatalf("%d entries inline, %d by the sequencer", len(inlineEntries), len(sequencerEntries))
	}
	for i := range inlineEntries {
		if !bytes.Equal(inlineEntries[i], sequencerEntries[i]) {
			t.Fatalf("stored entry %d differs:\n%x\n%x", i, inlineEntries[i], sequencerEntries[i])
		}
	}
}

// TestInlineTurnLeavesTheRestToTheSequencer: a loop's turn that cannot finish what it
// found (two requests that do not fit one entry: it takes the first, which goes to the
// log's writer since input is still waiting, and cannot release it) wakes the sequencer,
// which takes the second and releases both. Nothing else would wake it here (no pulses,
// no Submit): without that wake-up the replies never come.
func TestInlineTurnLeavesTheRestToTheSequencer(t *testing.T) {
	log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	const accounts = 5000 // Two such requests exceed the smallest entry.
	s, replier := startShard(t, Config{PulseInterval: time.Hour,
		EntryBytesMax: core.EncodedRequestSize(model.RequestBodyBytesMax)}, log)
	waitUntilParked(t, s)
	for number := uint64(1); number <= 2; number++ {
		ids := make([]uint64, accounts)
		for i := range ids {
			ids[i] = number*accounts + uint64(i)
		}
		if status := s.SubmitDeferred(&backend.Request{Connection: 1, Client: 7, Session: 1,
			Number: number, Operation: model.OperationCreateAccounts,
			Body: accountsBody(ids...)}); status != model.StatusOK {
			t.Fatalf("submit: %s", status)
		}
	}
	s.TurnInline()
	if turns := s.Stats().InlineTurns; turns != 1 {
		t.Fatalf("%d inline turns, want 1", turns)
	}
	for _, reply := range replier.waitFor(t, 2) {
		if reply.Status != model.StatusOK {
			t.Fatalf("reply %s", reply.Status)
		}
	}
}
