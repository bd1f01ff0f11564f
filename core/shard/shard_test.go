package shard

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// recordingReplier collects replies and lets tests wait for them.
type recordingReplier struct {
	mutex   sync.Mutex
	replies []backend.Reply
	bodies  [][]byte
	arrived chan struct{}
}

func newRecordingReplier() *recordingReplier {
	return &recordingReplier{arrived: make(chan struct{}, 1)}
}

func (r *recordingReplier) Deliver(replies []backend.Reply) {
	r.mutex.Lock()
	for _, reply := range replies {
		r.bodies = append(r.bodies, append([]byte(nil), reply.Body...))
		reply.Body = nil
		r.replies = append(r.replies, reply)
	}
	r.mutex.Unlock()
	select {
	case r.arrived <- struct{}{}:
	default:
	}
}

func (r *recordingReplier) DeliverReports([]backend.Report) {}

func (r *recordingReplier) count() int {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	return len(r.replies)
}

// waitMax bounds the tests' waits for what a healthy shard does (a reply, a snapshot, a
// Close, a query's answer): a hang guard, not a timing assertion, long enough for -race
// on the loaded 2-core CI machine. Tests that expect a timeout pass their own.
const waitMax = time.Minute

// waitFor waits (bounded) until n replies arrived.
func (r *recordingReplier) waitFor(t *testing.T, n int) []backend.Reply {
	t.Helper()
	deadline := time.After(waitMax)
	for r.count() < n {
		select {
		case <-r.arrived:
		case <-deadline:
			t.Fatalf("%d replies after %v, want %d", r.count(), waitMax, n)
		}
	}
	r.mutex.Lock()
	defer r.mutex.Unlock()
	return append([]backend.Reply(nil), r.replies...)
}

// accountsBody encodes debit-limited accounts, the kind any client may create (package
// ledger, "Ownership"); plainAccountsBody those that may go negative, which a client
// creates with a transfer grant over them (operatorGrants).
func accountsBody(ids ...uint64) []byte {
	return accountsBodyWith(model.AccountDebitsMustNotExceedCredits, ids...)
}

func plainAccountsBody(ids ...uint64) []byte { return accountsBodyWith(0, ids...) }

// operatorGrants gives client the operator scope through the shard's grant table, as a
// single-tenant keys file does; the primary logs it before the next requests (one op).
func operatorGrants(t *testing.T, s *Shard, client uint64) {
	t.Helper()
	table := model.AppendGrants(nil, []model.Grant{{Client: client, Scopes: model.ScopeOperator}})
	if err := s.SetGrants(table); err != nil {
		t.Fatal(err)
	}
}

func accountsBodyWith(flags uint16, ids ...uint64) []byte {
	body := make([]byte, len(ids)*model.AccountSize)
	for i, id := range ids {
		account := model.Account{ID: model.U128(id), Ledger: 1, Code: 1, Flags: flags}
		account.Encode(body[i*model.AccountSize:])
	}
	return body
}

func transferBody(id, debit, credit, amount uint64, flags uint16, timeout uint32) []byte {
	body := make([]byte, model.TransferSize)
	t := model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(debit),
		CreditAccountID: model.U128(credit), Amount: model.U128(amount), Ledger: 1, Code: 1,
		Flags: flags, Timeout: timeout}
	t.Encode(body)
	return body
}

// heldEntriesMax turns the group-commit hold off (Config.UndurableEntriesMax) for tests
// that need several entries appended while the log holds durability.
const heldEntriesMax = InFlightEntriesMaxDefault

// testMachineConfig builds the tests' machines at the current rules version, so that the
// op numbers they count are their own requests' (a primary at an older version opens its
// first write entry with upgrade_rules: rules_test.go covers that path).
var testMachineConfig = core.Config{RulesVersion: core.RulesVersionCurrent}

func startShard(t *testing.T, config Config, log Log) (*Shard, *recordingReplier) {
	t.Helper()
	return startShardOf(t, config, core.New(testMachineConfig), log)
}

// startShardOf starts a shard around a given machine.
func startShardOf(t *testing.T, config Config, machine *core.Machine, log Log) (*Shard,
	*recordingReplier) {
	t.Helper()
	s, err := New(config, machine, log)
	if err != nil {
		t.Fatal(err)
	}
	replier := newRecordingReplier()
	s.Start(RepliesOnly(replier))
	t.Cleanup(func() { s.Close() })
	return s, replier
}

// TestRepliesWaitForDurability holds the log's durability and checks that no reply (not
// even a read's) leaves before the entry behind it is durable, and that all leave in order
// once it is.
func TestRepliesWaitForDurability(t *testing.T) {
	log := wal.NewMemoryLog()
	log.Hold()
	s, replier := startShard(t, Config{}, log)
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1, 2)}); status != model.StatusOK {
		t.Fatalf("submit: %s", status)
	}
	if status := s.Submit(&backend.Request{Connection: 2, Client: 7, Session: 2, Number: 1,
		Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)}); status != model.StatusOK {
		t.Fatalf("submit lookup: %s", status)
	}
	deadline := time.Now().Add(waitMax)
	for log.LastOp() < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // Give a wrong implementation time to leak a reply.
	if replier.count() != 0 {
		t.Fatal("a reply left before its entry was durable")
	}
	log.Release()
	replies := replier.waitFor(t, 2)
	if replies[0].Connection != 1 || replies[0].Op != 1 || replies[1].Connection != 2 {
		t.Fatalf("replies out of order: %+v", replies)
	}
	var found model.Account
	found.Decode(replier.bodies[1])
	if found.ID != model.U128(1) {
		t.Fatal("the read did not see the write that preceded it")
	}
}

// TestBusyWhenRingFull fills a tiny ring while the sequencer cannot drain it (durability
// held and one in-flight entry allowed) and expects busy at once, nothing lost.
func TestBusyWhenRingFull(t *testing.T) {
	log := wal.NewMemoryLog()
	log.Hold()
	config := Config{RingBytes: 2 * EntryBytesMaxDefault, RingRequests: 4, InFlightEntriesMax: 1}
	s, replier := startShard(t, config, log)
	accepted, busy := 0, 0
	for number := uint64(1); number <= 50; number++ {
		switch s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: number,
			Operation: model.OperationCreateAccounts, Body: accountsBody(number)}) {
		case model.StatusOK:
			accepted++
		case model.StatusBusy:
			busy++
		default:
			t.Fatal("unexpected status")
		}
		if number == 1 {
			for log.LastOp() == 0 {
				time.Sleep(time.Millisecond) // Let the first entry park.
			}
		}
	}
	if busy == 0 || accepted > 1+config.RingRequests {
		t.Fatalf("accepted %d, busy %d", accepted, busy)
	}
	if s.Stats().BusyReplies != uint64(busy) {
		t.Fatalf("busy counter %d, want %d", s.Stats().BusyReplies, busy)
	}
	log.Release()
	replier.waitFor(t, accepted)
}

// TestShutdownReleasesQueued closes the shard with requests queued: every accepted request
// is answered, later submissions are refused.
func TestShutdownReleasesQueued(t *testing.T) {
	log := wal.NewMemoryLog()
	s, replier := startShard(t, Config{}, log)
	for number := uint64(1); number <= 100; number++ {
		if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: number,
			Operation: model.OperationCreateAccounts, Body: accountsBody(number)}); status != model.StatusOK {
			t.Fatalf("submit %d: %s", number, status)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if replier.count() != 100 {
		t.Fatalf("%d replies after close", replier.count())
	}
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 101,
		Operation: model.OperationCreateAccounts, Body: accountsBody(101)}); status != model.StatusShuttingDown {
		t.Fatalf("after close: %s", status)
	}
}

// TestCloseWithoutStart checks that a shard whose server never started (say, its address
// was taken) closes instead of waiting forever for a sequencer that does not exist, and
// that a Start after Close does not revive it.
func TestCloseWithoutStart(t *testing.T) {
	s, err := New(Config{}, core.New(testMachineConfig), wal.NewMemoryLog())
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitMax):
		t.Fatalf("Close of a shard never started still waiting after %v", waitMax)
	}
	s.Start(RepliesOnly(newRecordingReplier()))
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)}); status != model.StatusShuttingDown {
		t.Fatalf("submit after close: %s", status)
	}
}

// TestLogFailureAnswersOutcomeUnknown injects a failed fsync: a parked request, whose
// entry was written but never confirmed durable, is answered outcome_unknown (never
// silence, never ok, and not internal_error, which says "not applied": the entry may be
// on disk and applied at the restart). The shard stays up, refusing writes with
// log_unavailable; it does not answer reads, since its state holds that unknown write.
func TestLogFailureAnswersOutcomeUnknown(t *testing.T) {
	log := wal.NewMemoryLog()
	log.Hold()
	s, replier := startShard(t, Config{}, log)
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	for log.LastOp() == 0 {
		time.Sleep(time.Millisecond)
	}
	log.Fail(errors.New("fdatasync: EIO"))
	s.wakeUp()
	replies := replier.waitFor(t, 1)
	if replies[0].Status != model.StatusOutcomeUnknown {
		t.Fatalf("status %s, want outcome_unknown", replies[0].Status)
	}
	if s.Err() == nil {
		t.Fatal("the shard did not report the log failure")
	}
	select {
	case <-s.Done():
		t.Fatal("the shard stopped after a log failure instead of staying up")
	default:
	}
	for _, request := range []backend.Request{
		{Connection: 2, Client: 8, Session: 1, Number: 1, Operation: model.OperationCreateAccounts,
			Body: accountsBody(2)},
		{Connection: 3, Client: 9, Session: 1, Number: 1, Operation: model.OperationLookupAccounts,
			Body: model.U128(1).Append(nil)},
	} {
		if status := s.Submit(&request); status != model.StatusLogUnavailable {
			t.Fatalf("%s after the failure: %s, want log_unavailable", request.Operation, status)
		}
	}
}

// TestLogFailureReleasesWhatIsDurable: the log made entry 1 durable, then failed before
// entry 2 was. Entry 1's reply is ok (it is durable for good), entry 2's is
// outcome_unknown; reads are refused (the state holds entry 2, of unknown outcome).
func TestLogFailureReleasesWhatIsDurable(t *testing.T) {
	log := wal.NewMemoryLog()
	log.Hold()
	s, replier := startShard(t, Config{PulseInterval: time.Hour,
		UndurableEntriesMax: heldEntriesMax}, log)
	failAfterTheFirstOfTwo(t, s, log)
	replies := replier.waitFor(t, 2)
	if replies[0].Connection != 1 || replies[0].Status != model.StatusOK ||
		replies[1].Connection != 2 || replies[1].Status != model.StatusOutcomeUnknown {
		t.Fatalf("replies %+v, want connection 1 ok then connection 2 outcome_unknown", replies)
	}
	if status := s.Submit(&backend.Request{Connection: 3, Client: 9, Session: 1, Number: 1,
		Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)}); status != model.StatusLogUnavailable {
		t.Fatalf("read with unknown outcomes in the state: %s, want log_unavailable", status)
	}
}

// failAfterTheFirstOfTwo writes two entries (accounts 1 and 2, one request each, from
// connections 1 and 2), then makes the first durable and fails the log in one step: the
// sequencer sees both at once, as when a roll syncs the old segment and then cannot open
// the next.
func failAfterTheFirstOfTwo(t *testing.T, s *Shard, log *wal.MemoryLog) {
	t.Helper()
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	waitUntil(t, "entry 1 appended", func() bool { return log.LastOp() == 1 })
	s.Submit(&backend.Request{Connection: 2, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateAccounts, Body: accountsBody(2)})
	waitUntil(t, "entry 2 appended", func() bool { return log.LastOp() == 2 })
	if err := log.FailAfter(1, errors.New("no space left on device")); err != nil {
		t.Fatal(err)
	}
}

// TestLogFailureKeepsServingSafeReads: the log fails while nothing is in flight, so the
// state holds only released writes: reads are still answered (from that state), writes
// are refused with log_unavailable, and Close ends the shard. The reader is the account's
// owner (another client would not see it).
func TestLogFailureKeepsServingSafeReads(t *testing.T) {
	log := &failingErr{MemoryLog: wal.NewMemoryLog()}
	s, replier := startShard(t, Config{PulseInterval: time.Hour}, log)
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	replier.waitFor(t, 1)
	log.failed.Store(true)
	s.wakeUp()
	waitUntil(t, "the shard to see the failure", func() bool { return s.Err() != nil })
	if status := s.Submit(&backend.Request{Connection: 2, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateAccounts, Body: accountsBody(2)}); status != model.StatusLogUnavailable {
		t.Fatalf("write after the failure: %s, want log_unavailable", status)
	}
	if status := s.Submit(&backend.Request{Connection: 3, Client: 7, Session: 2, Number: 1,
		Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)}); status != model.StatusOK {
		t.Fatalf("read after the failure: %s, want it queued", status)
	}
	replies := replier.waitFor(t, 2)
	var found model.Account
	found.Decode(replier.bodies[1])
	if replies[1].Connection != 3 || replies[1].Status != model.StatusOK || found.ID != model.U128(1) {
		t.Fatalf("read after the failure: %+v (account %v)", replies[1], found.ID)
	}
	if err := s.Close(); err == nil {
		t.Fatal("Close did not report the log failure")
	}
}

// TestFullLogRefusesWritesAndRecovers: a log without room (ErrLogFull) refuses a turn's
// writes with log_unavailable (nothing appended or applied) while reads in the same turn
// are answered; once it has room again, writes go through and nothing failed.
func TestFullLogRefusesWritesAndRecovers(t *testing.T) {
	log := wal.NewMemoryLog()
	s, replier := startShard(t, Config{PulseInterval: time.Hour}, log)
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	replier.waitFor(t, 1)
	log.SetFull(true)
	s.Submit(&backend.Request{Connection: 2, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateAccounts, Body: accountsBody(2)})
	s.Submit(&backend.Request{Connection: 3, Client: 9, Session: 1, Number: 1,
		Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)})
	replies := replier.waitFor(t, 3)
	statuses := map[uint64]model.Status{}
	for _, reply := range replies[1:] {
		statuses[reply.Connection] = reply.Status
	}
	if statuses[2] != model.StatusLogUnavailable || statuses[3] != model.StatusOK {
		t.Fatalf("while full: write %s, read %s; want log_unavailable and ok", statuses[2],
			statuses[3])
	}
	if log.LastOp() != 1 || s.Stats().OpLast != 1 || s.Stats().LogFullRefusals != 1 {
		t.Fatalf("a refused write left a trace: log at op %d, stats %+v", log.LastOp(), s.Stats())
	}
	log.SetFull(false)
	s.Submit(&backend.Request{Connection: 4, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateAccounts, Body: accountsBody(2)})
	if reply := replier.waitFor(t, 4)[3]; reply.Status != model.StatusOK || reply.Duplicate {
		t.Fatalf("the resent write once there is room: %+v", reply)
	}
	if s.Err() != nil {
		t.Fatalf("a full log failed the shard: %v", s.Err())
	}
}

// waitUntil polls condition (bounded).
func waitUntil(t *testing.T, what string, condition func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitMax)
	for !condition() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPulseExpiresWithoutTraffic: a pending transfer with a 1 s timeout expires although
// no client writes after it, because the sequencer writes a pulse entry.
func TestPulseExpiresWithoutTraffic(t *testing.T) {
	log := wal.NewMemoryLog()
	now := uint64(1_000_000_000_000)
	var clockMutex sync.Mutex
	clock := func() uint64 {
		clockMutex.Lock()
		defer clockMutex.Unlock()
		return now
	}
	s, replier := startShard(t, Config{Clock: clock, PulseInterval: time.Millisecond}, log)
	operatorGrants(t, s, 7) // Op 1: account 1 may go negative.
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: plainAccountsBody(1, 2)})
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateTransfers,
		Body:      transferBody(10, 1, 2, 5, model.TransferPending, 1)})
	replier.waitFor(t, 2)
	var created model.EventResult
	created.Decode(replier.bodies[1])
	if created.Status != model.StatusOK {
		t.Fatalf("pending transfer: %s", created.Status)
	}
	clockMutex.Lock()
	now += 2_000_000_000
	clockMutex.Unlock()
	deadline := time.Now().Add(waitMax)
	for log.LastOp() < 4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 3,
		Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)})
	replier.waitFor(t, 3)
	var account model.Account
	account.Decode(replier.bodies[2])
	if !account.DebitsPending.IsZero() {
		t.Fatalf("pending amount not released: %+v", account)
	}
}

// TestRecoverReplaysTheLog runs traffic through a shard, then rebuilds a machine from the
// log alone and from a snapshot plus the log: both must equal the live machine.
func TestRecoverReplaysTheLog(t *testing.T) {
	dir := t.TempDir()
	log, err := wal.Open(wal.Options{Dir: dir + "/log"})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	written := make(chan SnapshotResult, 4)
	config := Config{Snapshots: &SnapshotConfig{Dir: dir + "/snapshots",
		OnWritten: func(r SnapshotResult) { written <- r }}}
	s, replier := startShard(t, config, log)
	operatorGrants(t, s, 7) // Logged: the replays below apply it too.
	submitted := 0
	submit := func(request backend.Request) {
		request.Connection, request.Client, request.Session = 1, 7, 1
		submitted++
		request.Number = uint64(submitted)
		if status := s.Submit(&request); status != model.StatusOK {
			t.Fatalf("submit: %s", status)
		}
	}
	submit(backend.Request{Operation: model.OperationCreateAccounts, Body: plainAccountsBody(1, 2, 3)})
	for i := uint64(0); i < 20; i++ {
		submit(backend.Request{Operation: model.OperationCreateTransfers,
			Body: transferBody(100+i, 1+i%3, 1+(i+1)%3, i+1, 0, 0)})
		if i == 10 {
			replier.waitFor(t, submitted)
			s.RequestSnapshot()
			s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 999,
				Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)})
			submitted++
			select {
			case result := <-written:
				if result.Err != nil {
					t.Fatalf("snapshot: %v", result.Err)
				}
			case <-time.After(waitMax):
				t.Fatalf("no snapshot within %v", waitMax)
			}
		}
	}
	replier.waitFor(t, submitted)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	live := s.machine.Digest()
	fromLog, reportLog, err := Recover(testMachineConfig, log, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fromSnapshot, report, err := Recover(testMachineConfig, log, dir+"/snapshots", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if report.SnapshotPath == "" || report.ReplayedEntries >= reportLog.ReplayedEntries {
		t.Fatalf("snapshot not used: %+v", report)
	}
	if fromLog.Digest() != live || fromSnapshot.Digest() != live {
		t.Fatal("recovered state differs from the live state")
	}
}

func TestSubmitRefusesBadShapes(t *testing.T) {
	s, _ := startShard(t, Config{}, wal.NewMemoryLog())
	cases := []struct {
		request backend.Request
		status  model.Status
	}{
		{backend.Request{Client: 7, Session: 1, Number: 1, Operation: model.OperationPulse}, model.StatusUnknownOperation},
		{backend.Request{Client: 7, Session: 1, Number: 1, Operation: 200}, model.StatusUnknownOperation},
		{backend.Request{Client: 7, Session: 1, Number: 1, Operation: model.OperationCreateAccounts,
			Body: make([]byte, 5)}, model.StatusInvalidBody},
		{backend.Request{Client: 7, Session: 1, Number: 0, Operation: model.OperationCreateAccounts,
			Body: accountsBody(1)}, model.StatusInvalidBody},
		{backend.Request{Client: 7, Session: 1, Number: 1, Operation: model.OperationCreateAccounts,
			Body: make([]byte, (model.EventsPerRequestMax+1)*model.AccountSize)}, model.StatusTooManyEvents},
		{backend.Request{Connection: backend.ConnectionIDLimit, Client: 7, Session: 1, Number: 1,
			Operation: model.OperationCreateAccounts, Body: accountsBody(1)}, model.StatusInternalError},
	}
	for i, c := range cases {
		if status := s.Submit(&c.request); status != c.status {
			t.Fatalf("case %d: %s, want %s", i, status, c.status)
		}
	}
}

// TestConcurrentSubmitters hammers Submit from several goroutines (run with -race) and
// checks every accepted request is answered exactly once.
func TestConcurrentSubmitters(t *testing.T) {
	s, replier := startShard(t, Config{}, wal.NewMemoryLog())
	const producers, perProducer = 4, 500
	var accepted sync.WaitGroup
	var acceptedCount sync.Mutex
	total := 0
	for p := 0; p < producers; p++ {
		accepted.Add(1)
		go func(p int) {
			defer accepted.Done()
			for n := 1; n <= perProducer; n++ {
				request := backend.Request{Connection: uint64(p + 1), Client: uint64(p + 1), Session: 1,
					Number: uint64(n), Operation: model.OperationCreateAccounts,
					Body: accountsBody(uint64(p*perProducer + n))}
				for s.Submit(&request) == model.StatusBusy {
					time.Sleep(time.Microsecond)
				}
				acceptedCount.Lock()
				total++
				acceptedCount.Unlock()
			}
		}(p)
	}
	accepted.Wait()
	replies := replier.waitFor(t, total)
	seen := map[string]bool{}
	for _, reply := range replies {
		key := fmt.Sprint(reply.Client, reply.Number)
		if seen[key] {
			t.Fatalf("request %s answered twice", key)
		}
		seen[key] = true
	}
	if len(seen) != producers*perProducer {
		t.Fatalf("%d distinct replies", len(seen))
	}
}

// TestStandbyFollowsAndPromotes streams a primary's stored entries into a standby shard:
// the standby's state follows, its client writes get not_primary while reads work, and
// after promotion it takes writes at the new epoch on top of the replicated history.
func TestStandbyFollowsAndPromotes(t *testing.T) {
	primaryLog, standbyLog, shipped := replicatedLogs(t)
	primary, primaryReplies := startShard(t, Config{Epoch: 1}, primaryLog)
	operatorGrants(t, primary, 7) // Op 1.
	standby, standbyReplies := startShard(t, Config{Epoch: 1, Role: RoleStandby}, standbyLog)
	standby.SetPrimaryAddress("127.0.0.1:7400")
	go follow(standby, shipped)
	primary.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: plainAccountsBody(1, 2)})
	primary.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateTransfers, Body: transferBody(10, 1, 2, 5, 0, 0)})
	primaryReplies.waitFor(t, 2)
	deadline := time.Now().Add(waitMax)
	for standbyLog.Durable() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if status := standby.Submit(&backend.Request{Connection: 2, Client: 7, Session: 1, Number: 3,
		Operation: model.OperationCreateAccounts, Body: accountsBody(3)}); status != model.StatusNotPrimary {
		t.Fatalf("write on a standby: %s", status)
	}
	standby.Submit(&backend.Request{Connection: 2, Client: 7, Session: 9, Number: 1,
		Operation: model.OperationLookupAccounts, Body: model.U128(2).Append(nil)})
	standbyReplies.waitFor(t, 1)
	var account model.Account
	account.Decode(standbyReplies.bodies[0])
	if account.CreditsPosted != model.U128(5) {
		t.Fatalf("standby state does not follow: %+v", account)
	}
	// The primary dies; the standby is promoted and takes writes at epoch 2.
	primary.Close()
	close(shipped)
	if err := standby.Promote(2); err != nil {
		t.Fatal(err)
	}
	if status := standby.Submit(&backend.Request{Connection: 2, Client: 7, Session: 1, Number: 3,
		Operation: model.OperationCreateTransfers, Body: transferBody(11, 2, 1, 1, 0, 0)}); status != model.StatusOK {
		t.Fatalf("write after promotion: %s", status)
	}
	// A retry of request 2 (already applied on the old primary) is answered from the
	// replicated session cache, not applied again.
	standby.Submit(&backend.Request{Connection: 2, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateTransfers, Body: transferBody(10, 1, 2, 5, 0, 0)})
	replies := standbyReplies.waitFor(t, 3)
	if replies[1].Status != model.StatusOK || !replies[2].Duplicate {
		t.Fatalf("after promotion: %+v", replies)
	}
	if standby.machine.Ledger().TransferCount() != 2 || standby.Epoch() != 2 {
		t.Fatalf("%d transfers at epoch %d", standby.machine.Ledger().TransferCount(), standby.Epoch())
	}
	standby.Fence(3, "127.0.0.1:9999")
	if status := standby.Submit(&backend.Request{Connection: 2, Client: 7, Session: 9, Number: 2,
		Operation: model.OperationLookupAccounts, Body: model.U128(2).Append(nil)}); status != model.StatusNotPrimary ||
		standby.PrimaryAddress() != "127.0.0.1:9999" {
		t.Fatalf("fenced shard answered %s", status)
	}
}

// replicatedLogs opens a primary's and a standby's log; shipped receives every entry
// the primary stores, as replication would send it. Close shipped to stop follow.
func replicatedLogs(t *testing.T) (primaryLog, standbyLog *wal.Log, shipped chan []byte) {
	t.Helper()
	dir := t.TempDir()
	primaryLog, err := wal.Open(wal.Options{Dir: dir + "/primary"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { primaryLog.Close() })
	standbyLog, err = wal.Open(wal.Options{Dir: dir + "/standby"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standbyLog.Close() })
	shipped = make(chan []byte, 1024)
	primaryLog.SetObserver(func(stored []byte, _ wal.EntryMeta) {
		shipped <- append([]byte(nil), stored...)
	})
	return primaryLog, standbyLog, shipped
}

// follow applies shipped entries to the standby until shipped is closed or one fails.
func follow(standby *Shard, shipped <-chan []byte) {
	for stored := range shipped {
		if err := standby.Replicate(stored); err != nil {
			return
		}
	}
}

// TestAuditIsDurableBeforeReturning writes an audit record and finds it in the log, and
// checks that latencies and statuses are counted for released client requests (not for
// the audit record, which is the shard's own).
func TestAuditIsDurableBeforeReturning(t *testing.T) {
	log := wal.NewMemoryLog()
	s, replier := startShard(t, Config{}, log)
	if err := s.Audit([]byte(`{"who":"ops","action":"promote"}`), waitMax); err != nil {
		t.Fatal(err)
	}
	found := false
	log.Read(0, func(e *wal.Entry) error {
		var request core.Request
		if core.DecodeRequest(e.Body, &request) == nil && request.Operation == model.OperationAudit {
			found = string(request.Body) == `{"who":"ops","action":"promote"}`
		}
		return nil
	})
	if !found {
		t.Fatal("the audit record is not in the log")
	}
	if err := s.Audit(nil, time.Second); err == nil {
		t.Fatal("an empty audit record was accepted")
	}
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	replier.waitFor(t, 1)
	latencies, statuses := s.Latencies()
	if summary := latencies["create_accounts"]; summary.Count != 1 || summary.Mean < 1 ||
		statuses["ok"] != 1 || latencies["audit"].Count != 0 {
		t.Fatalf("latencies %+v, statuses %+v", latencies, statuses)
	}
}

// TestCloseIsBoundedWhenInFlightIsFull: with the in-flight window full of entries that
// never become durable (a sync standby that vanished looks the same) and more requests
// queued behind them, Close still returns after CloseTimeout, answering the parked request
// outcome_unknown and the queued ones shutting_down. It used to wait forever: the close timer was armed only once
// the ring was empty, and a full window stops the ring from being drained.
func TestCloseIsBoundedWhenInFlightIsFull(t *testing.T) {
	log := wal.NewMemoryLog()
	log.Hold()
	config := Config{InFlightEntriesMax: 1, CloseTimeout: 100 * time.Millisecond}
	s, replier := startShard(t, config, log)
	submit := func(number uint64) {
		if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: number,
			Operation: model.OperationCreateAccounts, Body: accountsBody(number)}); status != model.StatusOK {
			t.Fatalf("submit %d: %s", number, status)
		}
	}
	submit(1)
	for log.LastOp() == 0 {
		time.Sleep(time.Millisecond) // Let the first entry park and fill the window.
	}
	for number := uint64(2); number <= 5; number++ {
		submit(number) // Queued in the ring behind the full window.
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case <-closed:
	case <-time.After(waitMax):
		t.Fatalf("Close still waiting %v after a 100 ms close timeout", waitMax)
	}
	// The parked request is answered outcome_unknown, the queued ones (never applied)
	// shutting_down, in order.
	replies := replier.waitFor(t, 5)
	for i, reply := range replies {
		want := model.StatusShuttingDown
		if i == 0 {
			want = model.StatusOutcomeUnknown
		}
		if reply.Number != uint64(i+1) || reply.Status != want {
			t.Fatalf("reply %d: number %d status %s, want %d %s", i, reply.Number,
				reply.Status, i+1, want)
		}
	}
}

// TestFailedAppendAnswersItsTurn: when the log refuses an append, the requests of that
// turn (already taken from the ring, never parked or applied) are answered
// log_unavailable, after the parked one (outcome_unknown), rather than left unanswered.
func TestFailedAppendAnswersItsTurn(t *testing.T) {
	log := wal.NewMemoryLog()
	log.Hold()
	// No pulse: only a submission wakes the sequencer, so the failure is met by the append.
	s, replier := startShard(t, Config{PulseInterval: time.Hour}, log)
	submit := func(connection uint64) {
		if status := s.Submit(&backend.Request{Connection: connection, Client: 7 + connection,
			Session: 1, Number: 1, Operation: model.OperationCreateAccounts,
			Body: accountsBody(connection)}); status != model.StatusOK {
			t.Fatalf("submit on connection %d: %s", connection, status)
		}
	}
	submit(1)
	for log.LastOp() == 0 {
		time.Sleep(time.Millisecond) // Parked, waiting for durability.
	}
	log.Fail(errors.New("no space left on device"))
	submit(2) // Its turn's append fails.
	replies := replier.waitFor(t, 2)
	want := []model.Status{model.StatusOutcomeUnknown, model.StatusLogUnavailable}
	for i, reply := range replies {
		if reply.Connection != uint64(i+1) || reply.Status != want[i] {
			t.Fatalf("reply %d: connection %d status %s, want connection %d %s", i,
				reply.Connection, reply.Status, i+1, want[i])
		}
	}
}

// TestEveryAcceptedRequestIsAnsweredOnFailure: producers keep submitting 1 MB requests
// while the log fails; every request Submit accepted gets exactly one answer, including
// those whose producer reserved ring space before the ring closed and finished copying
// after (answerQueued waits for them).
func TestEveryAcceptedRequestIsAnsweredOnFailure(t *testing.T) {
	ids := make([]uint64, 8000)
	for i := range ids {
		ids[i] = uint64(i + 1)
	}
	body := accountsBody(ids...) // ~1 MB: a long copy between reserve and publish.
	const rounds, producers = 20, 4
	for round := range rounds {
		log := &failingErr{MemoryLog: wal.NewMemoryLog()}
		log.Hold()
		s, replier := startShard(t, Config{}, log)
		var accepted atomic.Int64
		var group sync.WaitGroup
		for producer := range uint64(producers) {
			group.Go(func() {
				for number := uint64(1); ; number++ {
					switch s.Submit(&backend.Request{Connection: producer + 1, Client: 100 + producer,
						Session: 1, Number: number, Operation: model.OperationCreateAccounts,
						Body: body}) {
					case model.StatusOK:
						accepted.Add(1)
					case model.StatusBusy:
					default:
						return // Shutting down: the ring is closed.
					}
				}
			})
		}
		time.Sleep(2 * time.Millisecond)
		log.failed.Store(true) // Seen by the sequencer's next release check.
		s.wakeUp()
		group.Wait() // Producers stop at their first refusal (log_unavailable).
		s.Close()    // Answers whatever is still queued.
		<-s.Done()
		if got, want := replier.count(), int(accepted.Load()); got != want {
			t.Fatalf("round %d: %d requests accepted, %d answered", round, want, got)
		}
	}
}

// failingErr is a MemoryLog whose Err turns non-nil on demand while Append still works,
// so that the sequencer meets the failure in its release check.
type failingErr struct {
	*wal.MemoryLog
	failed atomic.Bool
}

func (f *failingErr) Err() error {
	if f.failed.Load() {
		return errors.New("fsync failed")
	}
	return nil
}

// TestQueryAnswersInternalReads runs the process's own reads (the operators' console's)
// through the ring: the reply body comes back as a copy that later reads do not touch,
// the read is not counted as client traffic, writes and internal operations are refused,
// a read parked behind an entry that never becomes durable times out, and a fenced shard
// answers not_primary.
func TestQueryAnswersInternalReads(t *testing.T) {
	log := wal.NewMemoryLog()
	s, replier := startShard(t, Config{}, log)
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1, 2)})
	replier.waitFor(t, 1)
	lookup := func(id uint64) (model.Status, []byte) {
		t.Helper()
		status, body, err := s.Query(model.OperationLookupAccounts, model.U128(id).Append(nil),
			waitMax)
		if err != nil {
			t.Fatal(err)
		}
		return status, body
	}
	status, first := lookup(1)
	if status != model.StatusOK || len(first) != model.AccountSize {
		t.Fatalf("lookup: %s, %d bytes", status, len(first))
	}
	if _, second := lookup(2); len(second) != model.AccountSize {
		t.Fatalf("second lookup: %d bytes", len(second))
	}
	var found model.Account
	found.Decode(first)
	if found.ID != model.U128(1) {
		t.Fatalf("first body changed by the second read: account %s", found.ID)
	}
	if latencies, _ := s.Latencies(); latencies["lookup_accounts"].Count != 0 {
		t.Fatalf("internal reads counted as client traffic: %+v", latencies)
	}
	for _, operation := range []model.Operation{model.OperationCreateAccounts,
		model.OperationAudit, model.Operation(250)} {
		if _, _, err := s.Query(operation, accountsBody(3), time.Second); err == nil {
			t.Errorf("%s accepted as a read", operation)
		}
	}
	if status, _, _ := s.Query(model.OperationLookupAccounts, []byte{1, 2, 3}, waitMax); status != model.StatusInvalidBody {
		t.Errorf("bad body: %s", status)
	}

	log.Hold()
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateAccounts, Body: accountsBody(3)})
	if _, _, err := s.Query(model.OperationLookupAccounts, model.U128(3).Append(nil),
		50*time.Millisecond); !errors.Is(err, ErrQueryTimeout) {
		t.Fatalf("read behind an entry that is not durable: %v, want a timeout", err)
	}
	log.Release()
	replier.waitFor(t, 2)
	if status, body := lookup(3); status != model.StatusOK || len(body) != model.AccountSize {
		t.Fatalf("after release: %s, %d bytes", status, len(body))
	}

	s.Fence(s.Epoch()+1, "127.0.0.1:9999")
	if status, _, err := s.Query(model.OperationLookupAccounts, model.U128(1).Append(nil),
		waitMax); err != nil || status != model.StatusNotPrimary {
		t.Fatalf("fenced: %s, %v", status, err)
	}
}

// TestStatsStartAtTheRecoveredOp: a shard built on a recovered machine reports its op as
// applied at once, and as released (without a standby: it is durable) as soon as it runs,
// before any new write (they used to read 0 until the first write after a restart, while
// the log's durable op was right). With a standby, see TestRecoveredEntriesWaitForTheStandby.
func TestStatsStartAtTheRecoveredOp(t *testing.T) {
	log := wal.NewMemoryLog()
	first, replier := startShard(t, Config{}, log)
	first.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1, 2)})
	replier.waitFor(t, 1)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	machine, _, err := Recover(testMachineConfig, log, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	restarted, err := New(Config{}, machine, log)
	if err != nil {
		t.Fatal(err)
	}
	if stats := restarted.Stats(); stats.OpLast != 1 {
		t.Fatalf("after recovery: applied op %d, want 1", stats.OpLast)
	}
	restarted.Start(RepliesOnly(newRecordingReplier()))
	t.Cleanup(func() { restarted.Close() })
	waitUntil(t, "the recovered op to be released", func() bool {
		restarted.wakeUp()
		stats := restarted.Stats()
		return stats.OpLast == 1 && stats.Released == 1 && restarted.Released() == 1
	})
}

// TestGrantsReachTheLog: the grant table given to a primary is logged before the requests
// it sequences next, and decides them; an unchanged table is not logged again; a standby
// keeps its table until it is promoted, then logs it before its first write.
func TestGrantsReachTheLog(t *testing.T) {
	primaryLog, standbyLog, shipped := replicatedLogs(t)
	// Client 8 may debit client 7's accounts on ledger 1 under the primary's keys file;
	// the standby's keys file also lets client 9.
	// Client 7 may create accounts that go negative on ledger 1 (a transfer grant).
	primaryTable := model.AppendGrants(nil, []model.Grant{
		{Client: 7, Scopes: model.ScopeTransfer, Ledger: 1},
		{Client: 8, Scopes: model.ScopeTransfer, Ledger: 1}})
	standbyTable := model.AppendGrants(nil, []model.Grant{
		{Client: 7, Scopes: model.ScopeTransfer, Ledger: 1},
		{Client: 8, Scopes: model.ScopeTransfer, Ledger: 1},
		{Client: 9, Scopes: model.ScopeTransfer, Ledger: 1}})
	primary, err := New(Config{Epoch: 1}, core.New(testMachineConfig), primaryLog)
	if err != nil {
		t.Fatal(err)
	}
	if err := primary.SetGrants(model.AppendGrants(nil, []model.Grant{{Client: 0}})); err == nil {
		t.Fatal("an invalid table was accepted")
	}
	if err := primary.SetGrants(primaryTable); err != nil {
		t.Fatal(err)
	}
	primaryReplies := newRecordingReplier()
	primary.Start(RepliesOnly(primaryReplies))
	defer primary.Close()
	standby, standbyReplies := startShard(t, Config{Epoch: 1, Role: RoleStandby}, standbyLog)
	if err := standby.SetGrants(standbyTable); err != nil {
		t.Fatal(err)
	}
	go follow(standby, shipped)
	statusOf := func(body []byte) model.Status {
		var result model.EventResult
		result.Decode(body)
		return result.Status
	}
	primary.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: plainAccountsBody(1, 2)})
	primary.Submit(&backend.Request{Connection: 1, Client: 8, Session: 1, Number: 1,
		Operation: model.OperationCreateTransfers, Body: transferBody(10, 1, 2, 5, 0, 0)})
	primary.Submit(&backend.Request{Connection: 1, Client: 9, Session: 1, Number: 1,
		Operation: model.OperationCreateTransfers, Body: transferBody(11, 1, 2, 5, 0, 0)})
	primaryReplies.waitFor(t, 3)
	if statusOf(primaryReplies.bodies[1]) != model.StatusOK ||
		statusOf(primaryReplies.bodies[2]) != model.StatusDebitAccountNotOwned {
		t.Fatalf("grants of the primary: %s, %s", statusOf(primaryReplies.bodies[1]),
			statusOf(primaryReplies.bodies[2]))
	}
	logged := primaryLog.LastOp()
	if logged != 4 { // set_grants, then the three requests.
		t.Fatalf("primary log ends at op %d, want 4", logged)
	}
	if err := primary.SetGrants(primaryTable); err != nil { // A reload, unchanged.
		t.Fatal(err)
	}
	primary.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)})
	primaryReplies.waitFor(t, 4)
	if primaryLog.LastOp() != logged {
		t.Fatalf("an unchanged table was logged again (log at op %d)", primaryLog.LastOp())
	}
	deadline := time.Now().Add(waitMax)
	for standbyLog.Durable() < logged && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if standbyLog.LastOp() != logged {
		t.Fatalf("the standby wrote entries of its own: log at op %d", standbyLog.LastOp())
	}
	primary.Close()
	close(shipped)
	if err := standby.Promote(2); err != nil {
		t.Fatal(err)
	}
	standby.Submit(&backend.Request{Connection: 2, Client: 9, Session: 1, Number: 2,
		Operation: model.OperationCreateTransfers, Body: transferBody(12, 1, 2, 5, 0, 0)})
	standbyReplies.waitFor(t, 1)
	if status := statusOf(standbyReplies.bodies[0]); status != model.StatusOK {
		t.Fatalf("after promotion the standby's table should decide: %s", status)
	}
	if standbyLog.LastOp() != logged+2 {
		t.Fatalf("standby log at op %d, want the table and the transfer after op %d",
			standbyLog.LastOp(), logged)
	}
}

// refusalCountingLog is a MemoryLog that counts the entries it refused for want of room.
type refusalCountingLog struct {
	*wal.MemoryLog
	refused atomic.Int64
}

func (l *refusalCountingLog) Append(e wal.Entry) error {
	err := l.MemoryLog.Append(e)
	if errors.Is(err, wal.ErrLogFull) {
		l.refused.Add(1)
	}
	return err
}

// TestGrantsWaitForRoomInTheLog: a keys reload that withdraws a grant while the disk is
// full cannot log its table. That is not a log failure (a full disk never is): the shard
// keeps running, and it decides nothing under the old table — every request meanwhile,
// reads included (a read would show what the grant no longer allows), is answered
// log_unavailable, as writes are whenever the log is full. Once there is room the table
// is logged first and decides the requests sent again.
func TestGrantsWaitForRoomInTheLog(t *testing.T) {
	log := &refusalCountingLog{MemoryLog: wal.NewMemoryLog()}
	s, replier := startShard(t, Config{PulseInterval: 5 * time.Millisecond}, log)
	readGrant := model.AppendGrants(nil, []model.Grant{{Client: 8, Scopes: model.ScopeRead,
		First: model.U128(1), Last: model.U128(1)}})
	if err := s.SetGrants(readGrant); err != nil {
		t.Fatal(err)
	}
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	s.Submit(&backend.Request{Connection: 2, Client: 8, Session: 1, Number: 1,
		Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)})
	replier.waitFor(t, 2)
	if len(replier.bodies[1]) != model.AccountSize {
		t.Fatalf("client 8 cannot read account 1 under its grant: %d bytes", len(replier.bodies[1]))
	}
	log.SetFull(true)
	if err := s.SetGrants(model.AppendGrants(nil, nil)); err != nil { // The grant is withdrawn.
		t.Fatal(err)
	}
	waitUntil(t, "an attempt to log the table", func() bool { return log.refused.Load() > 0 })
	s.Submit(&backend.Request{Connection: 2, Client: 8, Session: 1, Number: 2,
		Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)})
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateAccounts, Body: accountsBody(2)})
	replies := replier.waitFor(t, 4)
	for i, reply := range replies[2:4] {
		if reply.Status != model.StatusLogUnavailable || len(replier.bodies[i+2]) != 0 {
			t.Fatalf("reply %d while the table could not be logged: %+v (%d bytes)", i+2, reply,
				len(replier.bodies[i+2]))
		}
	}
	if s.Err() != nil {
		t.Fatalf("a full log failed the shard: %v", s.Err())
	}
	log.SetFull(false)
	// The pulse retries the table. Requests submitted before that retry may still be
	// refused: a turn that found the log full just before SetFull(false) refuses what
	// the ring holds when it looks, so wait for the table to be logged (op 3) first.
	waitUntil(t, "the table logged once there is room", func() bool { return log.LastOp() == 3 })
	s.Submit(&backend.Request{Connection: 2, Client: 8, Session: 1, Number: 3,
		Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)})
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 3,
		Operation: model.OperationCreateAccounts, Body: accountsBody(2)})
	replies = replier.waitFor(t, 6)
	for i, reply := range replies[4:6] {
		if reply.Status != model.StatusOK {
			t.Fatalf("reply %d after room came back: %+v", i+4, reply)
		}
		if reply.Client == 8 && len(replier.bodies[i+4]) != 0 {
			t.Fatal("client 8 read account 1 after its grant was withdrawn")
		}
	}
	if log.LastOp() != 4 { // set_grants, create, set_grants, create.
		t.Fatalf("log ends at op %d, want 4", log.LastOp())
	}
}

// TestGroupCommitHoldsSmallRequestsWhileTheLogSyncs: with an entry appended and not yet
// durable, small requests wait in the ring (the sync in progress must end before they
// are written anyway) and all join one entry once the log syncs: 10 requests, 2 entries.
// Without the hold the request submitted first would make an entry of its own.
func TestGroupCommitHoldsSmallRequestsWhileTheLogSyncs(t *testing.T) {
	log := wal.NewMemoryLog()
	log.Hold()
	s, replier := startShard(t, Config{}, log)
	submit := func(number uint64) {
		t.Helper()
		if status := s.Submit(&backend.Request{Connection: number, Client: 7, Session: 1,
			Number: number, Operation: model.OperationCreateAccounts,
			Body: accountsBody(number)}); status != model.StatusOK {
			t.Fatalf("submit %d: %s", number, status)
		}
	}
	submit(1)
	waitUntil(t, "the entry appended", func() bool { return log.LastOp() == 1 })
	submit(2)
	time.Sleep(50 * time.Millisecond) // Give a sequencer without the hold time to take it.
	for number := uint64(3); number <= 10; number++ {
		submit(number)
	}
	waitUntil(t, "nine requests held in the ring", func() bool {
		return s.Stats().RingDepth == 9
	})
	log.Release()
	replies := replier.waitFor(t, 10)
	for i := range replies {
		if replies[i].Status != model.StatusOK {
			t.Fatalf("reply %d: %s", i, replies[i].Status)
		}
	}
	if stats := s.Stats(); stats.Entries != 2 || stats.Requests != 10 {
		t.Fatalf("%d entries for %d requests, want 2 for 10", stats.Entries, stats.Requests)
	}
}
