package shard

import (
	"testing"

	"sequent/wal"
)

// TestReplicatedEntryAboveEpochMaxIsNotAppended: an entry of an epoch no shard can hold
// (from a peer that has the key but misbehaves) must be refused before it reaches the
// standby's log. It used to be appended first and refused by raiseEpoch after, leaving
// the log holding an entry its own shard could not take.
func TestReplicatedEntryAboveEpochMaxIsNotAppended(t *testing.T) {
	primaryLog, standbyLog, shipped := replicatedLogs(t)
	if err := primaryLog.Append(wal.Entry{Epoch: epochMax + 1, FirstOp: 1, Count: 1,
		Timestamp: 1, Body: []byte("anything: refused before it is applied")}); err != nil {
		t.Fatal(err)
	}
	stored := <-shipped
	standby, _ := startShard(t, Config{Epoch: 1, Role: RoleStandby}, standbyLog)
	if err := standby.Replicate(stored); err == nil {
		t.Fatalf("an entry of epoch %d was replicated", uint64(epochMax)+1)
	}
	if last := standbyLog.LastOp(); last != 0 {
		t.Fatalf("the standby's log is at op %d after the refused entry, want 0", last)
	}
	if role, epoch := standby.RoleAndEpoch(); role != RoleStandby || epoch != 1 {
		t.Fatalf("after the refused entry: %s at epoch %d, want a standby at epoch 1", role,
			epoch)
	}
}
