package shard

import (
	"slices"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/wal"
)

// TestRecoveredReportsWaitForTheStandby: a primary restarted in sync mode rebuilds its
// report store from the whole log (Recover's onEntry), including entries its standby may
// never have acknowledged: the old process wrote them, then died before the standby had
// them. Were the standby promoted instead, it would not have them, and it would give the
// same sequences to other reports. So, as for every other output (replies, consumers,
// market data: TestRecoveredEntriesWaitForTheStandby), a replay must not show a
// recovered report before the standby has acknowledged its entry (deliverReports: "a
// replay must never show a report of an entry that is not durable yet"). A client that
// resubscribes meanwhile and is sent them skips the new primary's reports with those
// sequences after a failover (netio drops a sequence at or below the last one sent).
// Main replayed them at once.
func TestRecoveredReportsWaitForTheStandby(t *testing.T) {
	log := wal.NewMemoryLog()
	first, firstReports := startReportingShard(t, Config{PulseInterval: time.Hour},
		core.New(testMachineConfig), log)
	traffic := &reportTraffic{t: t, shard: first, reports: firstReports,
		numbers: map[uint64]uint64{}}
	var ops []uint64
	for range 3 {
		ops = append(ops, traffic.order(7))
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	// The restart, as a replication group builds it, with a standby that has
	// acknowledged nothing yet.
	store := NewReportStore()
	machine, _, err := Recover(testMachineConfig, log, "", nil,
		func(_ *core.Entry, output *core.Output) { store.Add(output) })
	if err != nil {
		t.Fatal(err)
	}
	standby := &settableAcknowledger{notify: make(chan struct{}, 1)}
	restarted, _ := startReportingShard(t, Config{PulseInterval: time.Hour, Reports: store,
		Acknowledger: standby}, machine, log)
	standby.acknowledge(t, restarted, 0)
	// Nothing may be shown, and the oldest sequence must not claim reports it does not
	// send (PROTOCOL.md section 8: when the server holds none, the client's next).
	if sequences, _, oldest := replayed(restarted, 7); len(sequences) != 0 || oldest != 4 {
		t.Errorf("released op %d, the standby acknowledged nothing: client 7 replays %v "+
			"(reports of ops %v) oldest %d, want none yet, oldest 4", restarted.Released(),
			sequences, ops, oldest)
	}
	// The next sequence counts the recovered reports all the same: the live ones after
	// them are numbered from it.
	if _, next := restarted.ReplayReports(7, 9, func([]backend.Report) {}); next != 4 {
		t.Errorf("the standby acknowledged nothing: client 7's next sequence %d, want 4", next)
	}
	standby.acknowledge(t, restarted, ops[0])
	// Report 1 may be shown now, or held until the whole recovered log is acknowledged
	// (a store that does not track ops); reports 2 and 3 not yet.
	if sequences, _, _ := replayed(restarted, 7); len(sequences) > 1 ||
		(len(sequences) == 1 && sequences[0] != 1) {
		t.Errorf("the standby acknowledged op %d: client 7 replays %v, want [1] or none",
			ops[0], sequences)
	}
	standby.acknowledge(t, restarted, ops[2])
	if sequences, _, oldest := replayed(restarted, 7); !slices.Equal(sequences,
		[]uint64{1, 2, 3}) || oldest != 1 {
		t.Errorf("all acknowledged: client 7 replays %v oldest %d, want 1..3 oldest 1",
			sequences, oldest)
	}
}

// TestReplayReportsTellsTheNextSequence: the replay also answers the client's next
// report sequence, so that the network layer can serve a client that asks from above it
// (after a failover that lost reports it had handled, PROTOCOL.md section 8) the reports
// from next on instead of waiting for sequences the server has not reached.
func TestReplayReportsTellsTheNextSequence(t *testing.T) {
	s, reports := startReportingShard(t, Config{PulseInterval: time.Hour},
		core.New(testMachineConfig), wal.NewMemoryLog())
	traffic := &reportTraffic{t: t, shard: s, reports: reports, numbers: map[uint64]uint64{}}
	for range 3 {
		traffic.order(7)
	}
	cases := []struct {
		client, from, wantOldest, wantNext uint64
		wantSequences                      []uint64
	}{
		{client: 7, from: 2, wantOldest: 1, wantNext: 4, wantSequences: []uint64{2, 3}},
		{client: 7, from: 4, wantOldest: 1, wantNext: 4},
		{client: 7, from: 9, wantOldest: 1, wantNext: 4}, // Ahead of the server.
		{client: 8, from: 5, wantOldest: 1, wantNext: 1}, // No report yet.
	}
	for _, c := range cases {
		var sequences []uint64
		oldest, next := s.ReplayReports(c.client, c.from, func(batch []backend.Report) {
			for _, report := range batch {
				sequences = append(sequences, report.Sequence)
			}
		})
		if oldest != c.wantOldest || next != c.wantNext || !slices.Equal(sequences, c.wantSequences) {
			t.Errorf("client %d from %d: oldest %d next %d sequences %v, want oldest %d "+
				"next %d sequences %v", c.client, c.from, oldest, next, sequences,
				c.wantOldest, c.wantNext, c.wantSequences)
		}
	}
}
