package shard

import (
	"slices"
	"sync"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// reportCounter counts the execution reports a shard delivers: the shard stores each
// before it delivers it, so a count reached means the store holds them (a reply, which
// leaves first, does not).
type reportCounter struct {
	*recordingReplier
	mutex     sync.Mutex
	delivered int
	arrived   chan struct{}
}

func (r *reportCounter) DeliverReports(reports []backend.Report) {
	r.mutex.Lock()
	r.delivered += len(reports)
	r.mutex.Unlock()
	select {
	case r.arrived <- struct{}{}:
	default:
	}
}

// waitFor waits (bounded) until n reports were delivered.
func (r *reportCounter) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(waitMax)
	for {
		r.mutex.Lock()
		delivered := r.delivered
		r.mutex.Unlock()
		if delivered >= n {
			return
		}
		select {
		case <-r.arrived:
		case <-deadline:
			t.Fatalf("%d reports after %v, want %d", delivered, waitMax, n)
		}
	}
}

// startReportingShard starts a shard around machine whose delivered reports are counted.
func startReportingShard(t *testing.T, config Config, machine *core.Machine, log Log) (
	*Shard, *reportCounter) {
	t.Helper()
	s, err := New(config, machine, log)
	if err != nil {
		t.Fatal(err)
	}
	counter := &reportCounter{recordingReplier: newRecordingReplier(),
		arrived: make(chan struct{}, 1)}
	s.Start(RepliesOnly(counter))
	t.Cleanup(func() { s.Close() })
	return s, counter
}

// reportTraffic submits orders for an instrument that does not exist, one request each:
// every one is refused, and a refusal is an execution report with the client's next
// sequence. It waits for each report, so that the store holds it.
type reportTraffic struct {
	t        *testing.T
	shard    *Shard
	reports  *reportCounter
	numbers  map[uint64]uint64 // Each client's last request number.
	sent     int               // Reports expected from the current shard.
	clientID uint64            // Client order ids, unique across the test.
}

// order places one refused order for client and returns the op it was logged at.
func (r *reportTraffic) order(client uint64) uint64 {
	r.t.Helper()
	r.numbers[client]++
	r.clientID++
	order := model.Order{ClientOrderID: r.clientID, Account: 1, BaseAccountID: model.U128(1),
		QuoteAccountID: model.U128(2), Price: 1, Quantity: 1, Instrument: 77,
		Side: model.SideBuy, Type: model.OrderLimit, TimeInForce: model.GoodTillCancel}
	body := make([]byte, model.OrderSize)
	order.Encode(body)
	request := backend.Request{Connection: 1, Client: client, Session: 1,
		Number: r.numbers[client], Operation: model.OperationPlaceOrders, Body: body}
	if status := r.shard.Submit(&request); status != model.StatusOK {
		r.t.Fatalf("submit: %s", status)
	}
	r.sent++
	r.reports.waitFor(r.t, r.sent)
	return r.opOf(client, request.Number)
}

// opOf returns the op of the reply to a client's request (delivered before its report).
func (r *reportTraffic) opOf(client uint64, number uint64) uint64 {
	r.t.Helper()
	r.reports.recordingReplier.mutex.Lock()
	defer r.reports.recordingReplier.mutex.Unlock()
	for _, reply := range r.reports.replies {
		if reply.Client == client && reply.Number == number {
			return reply.Op
		}
	}
	r.t.Fatalf("no reply to client %d request %d", client, number)
	return 0
}

// replayed is what a shard's report replay gives for a client from sequence 1: the
// sequences sent, whether any record was all zero (never stored), and the oldest
// sequence it claims to retain.
func replayed(s *Shard, client uint64) (sequences []uint64, zeroRecords int, oldest uint64) {
	var zero [model.ExecutionReportSize]byte
	oldest, _ = s.ReplayReports(client, 1, func(reports []backend.Report) {
		for _, report := range reports {
			sequences = append(sequences, report.Sequence)
			if string(report.Body) == string(zero[:]) {
				zeroRecords++
			}
		}
	})
	return sequences, zeroRecords, oldest
}

// TestReportReplayAfterRestartFromSnapshot: a restart from a snapshot replays only the
// log after it, so the report store never sees the reports before the snapshot. A
// resubscription from 1 must then get only what the store holds, with an oldest sequence
// above the reports it lost (PROTOCOL.md section 8: the client reconciles by queries).
// The store used to derive the oldest sequence from the newest alone: client 7 (reports
// before and after the snapshot) got its pre-snapshot sequences as all-zero records with
// oldest 1, and client 8 (reports before only) got nothing with oldest 1, no sign of loss.
// The same holds for a standby recovered from a snapshot (a replication group builds it
// the same way, and so after catching up from the primary's snapshot), once promoted.
func TestReportReplayAfterRestartFromSnapshot(t *testing.T) {
	t.Run("primary", func(t *testing.T) { reportReplayAfterRestart(t, RolePrimary) })
	t.Run("standby then promoted", func(t *testing.T) {
		reportReplayAfterRestart(t, RoleStandby)
	})
}

func reportReplayAfterRestart(t *testing.T, role Role) {
	dir := t.TempDir()
	log, err := wal.Open(wal.Options{Dir: dir + "/log"})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	written := make(chan SnapshotResult, 4)
	s, reports := startReportingShard(t, Config{Snapshots: &SnapshotConfig{
		Dir: dir + "/snapshots", OnWritten: func(r SnapshotResult) { written <- r }}},
		core.New(testMachineConfig), log)
	traffic := &reportTraffic{t: t, shard: s, reports: reports, numbers: map[uint64]uint64{}}
	for range 3 {
		traffic.order(7)
	}
	traffic.order(8)
	traffic.order(8)
	s.RequestSnapshot()
	// A turn, so that the sequencer takes the snapshot: at this op or just before it.
	nineFirstOp := traffic.order(9)
	select {
	case result := <-written:
		if result.Err != nil {
			t.Fatalf("snapshot: %v", result.Err)
		}
	case <-time.After(waitMax):
		t.Fatalf("no snapshot within %v", waitMax)
	}
	traffic.order(7) // After the snapshot: 7 has 4 and 5, 9 has 2.
	traffic.order(7)
	traffic.order(9)
	if sequences, _, oldest := replayed(s, 7); !slices.Equal(sequences, []uint64{1, 2, 3, 4, 5}) ||
		oldest != 1 {
		t.Fatalf("before the restart, client 7 replays %v oldest %d, want 1..5 oldest 1",
			sequences, oldest)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	store := NewReportStore()
	machine, report, err := Recover(testMachineConfig, log, dir+"/snapshots", nil,
		func(_ *core.Entry, output *core.Output) { store.Add(output) })
	if err != nil {
		t.Fatal(err)
	}
	if report.SnapshotPath == "" {
		t.Fatalf("the restart did not use the snapshot: %+v", report)
	}
	snapshotOp := report.SnapshotOp
	restarted, restartedReports := startReportingShard(t, Config{Reports: store, Role: role,
		Epoch: 1}, machine, log)
	// Which of client 9's reports precede the snapshot depends on where the sequencer
	// took it (at or after the op that asked); the others are exact.
	nine, nineSequences := uint64(1), []uint64{1, 2}
	if snapshotOp >= nineFirstOp {
		nine, nineSequences = 2, []uint64{2} // Its first order is in the snapshot.
	}
	cases := []struct {
		client    uint64
		sequences []uint64
		oldest    uint64
	}{
		{client: 7, sequences: []uint64{4, 5}, oldest: 4},
		{client: 8, sequences: nil, oldest: 3},
		{client: 9, sequences: nineSequences, oldest: nine},
		{client: 10, sequences: nil, oldest: 1}, // Never had a report: nothing was lost.
	}
	check := func(when string) {
		t.Helper()
		for _, c := range cases {
			sequences, zeroRecords, oldest := replayed(restarted, c.client)
			if !slices.Equal(sequences, c.sequences) || zeroRecords != 0 || oldest != c.oldest {
				t.Errorf("%s, snapshot at op %d: client %d replays %v (%d all-zero records) "+
					"oldest %d, want %v oldest %d", when, snapshotOp, c.client, sequences,
					zeroRecords, oldest, c.sequences, c.oldest)
			}
		}
	}
	check("after the restart")

	if role == RoleStandby {
		if err := restarted.Promote(2); err != nil {
			t.Fatal(err)
		}
		check("after the promotion")
	}

	// New reports after the restart follow on: client 8's next is 3, and it is held.
	traffic.shard, traffic.reports, traffic.sent = restarted, restartedReports, 0
	traffic.order(8)
	cases[1].sequences = []uint64{3}
	check("after a new report")
}
