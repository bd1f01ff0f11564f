package shard

import (
	"slices"
	"testing"
	"time"

	"sequent/core"
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
