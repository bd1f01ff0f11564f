package shard

import (
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// TestHunt53cClockBehindTheLogAfterRestart: the wall clock at a restart is below the
// log's last timestamp (an NTP step back, a VM restored from an image) and the log's last
// entry took no timestamp of its own (a grant table here; a pulse does the same). The
// restarted shard must stamp its next entry above the log's last one, not panic in the
// log's chain check or stall.
func TestHunt53cClockBehindTheLogAfterRestart(t *testing.T) {
	log := wal.NewMemoryLog()
	ahead := uint64(2_000_000_000_000_000_000)
	first, _ := startShard(t, Config{Clock: func() uint64 { return ahead }}, log)
	operatorGrants(t, first, 7)
	waitUntil(t, "the grants logged", func() bool { return log.LastOp() >= 1 })
	first.Close()
	var lastStamp uint64
	if err := log.Read(0, func(e *wal.Entry) error { lastStamp = e.Timestamp; return nil }); err != nil {
		t.Fatal(err)
	}
	machine, _, err := Recover(testMachineConfig, log, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("log's last timestamp %d, recovered machine clock %d", lastStamp, machine.Clock())
	behind := uint64(1_000_000_000_000_000_000)
	second, replier := startShardOf(t, Config{Clock: func() uint64 { return behind }}, machine, log)
	second.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: plainAccountsBody(1, 2)})
	replier.waitFor(t, 1)
	var stamps []uint64
	if err := log.Read(0, func(e *wal.Entry) error { stamps = append(stamps, e.Timestamp); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(stamps); i++ {
		if stamps[i] <= stamps[i-1] {
			t.Fatalf("entry %d stamped %d after %d", i+1, stamps[i], stamps[i-1])
		}
	}
}
