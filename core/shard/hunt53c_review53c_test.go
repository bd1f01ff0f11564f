package shard

import (
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// TestReview53cStandbyPromotedBeforeApplyingAnythingStampsAboveTheLog (review-hunt53c,
// checked fine): restartStamp also covers a standby started over a log whose last entry
// took no timestamp (a grant table), promoted before any entry is replicated to it, with
// the wall clock behind the log: its first write is stamped above the log's last entry
// (the standby's timestamp comes from New, and replicated entries only raise it).
func TestReview53cStandbyPromotedBeforeApplyingAnythingStampsAboveTheLog(t *testing.T) {
	log := wal.NewMemoryLog()
	ahead := uint64(3_000_000_000_000_000_000)
	first, _ := startShard(t, Config{Epoch: 1, Clock: func() uint64 { return ahead }}, log)
	operatorGrants(t, first, 7)
	waitUntil(t, "the grants logged", func() bool { return log.LastOp() >= 1 })
	first.Close()
	machine, _, err := Recover(testMachineConfig, log, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	behind := uint64(1_000_000_000_000_000_000)
	standby, replier := startShardOf(t, Config{Epoch: 1, Role: RoleStandby,
		Clock: func() uint64 { return behind }}, machine, log)
	if err := standby.Promote(2); err != nil {
		t.Fatal(err)
	}
	standby.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: plainAccountsBody(1, 2)})
	replier.waitFor(t, 1)
	if stamps := logStampsIncreasing(t, log); len(stamps) < 2 {
		t.Fatalf("%d entries in the log, want the grants and the write", len(stamps))
	}
}
