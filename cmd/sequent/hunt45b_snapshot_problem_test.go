package main

import (
	"os"
	"testing"
	"time"

	"sequent/core/node"
	"sequent/core/shardmap"
	"sequent/netio/ops"
)

// TestSnapshotFailedClearsAfterASnapshotSucceeds (hunt45b): /healthz's snapshot_failed
// problem means "the latest snapshot failed to write" (ops.ProblemSnapshotFailed). It
// was raised while the count of failed snapshots since start was above 0, so one
// snapshot that failed (a full disk, a permission fixed minutes later) kept /healthz at
// 503, sequent_healthy at 0 and sequent_problem{code="snapshot_failed"} at 1 until the
// process restarted, however many snapshots succeeded after it. Here a snapshot fails
// (its directory is a file), the file goes, the next snapshot succeeds: the problem must
// be gone.
func TestSnapshotFailedClearsAfterASnapshotSucceeds(t *testing.T) {
	running, _, _ := startDevNode(t, shardmap.Spec{})
	snapshotDir := node.Layout{Dir: running.data}.SnapshotDir(0)
	if err := os.RemoveAll(snapshotDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(snapshotDir, []byte("in the way"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := running.groups.Shard()
	waitSnapshots := func(count uint64) {
		t.Helper()
		s.RequestSnapshot()
		deadline := time.Now().Add(time.Minute) // A hang guard, not a timing assertion.
		for s.Stats().Snapshots < count {
			if time.Now().After(deadline) {
				t.Fatalf("snapshot %d not reported", count)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	hasProblem := func() bool {
		for _, problem := range running.opsSnapshot().Problems {
			if problem.Code == ops.ProblemSnapshotFailed {
				return true
			}
		}
		return false
	}
	waitSnapshots(1)
	if stats := s.Stats(); stats.SnapshotErrors != 1 || !hasProblem() {
		t.Fatalf("a snapshot into a file: %d errors, problem listed %v", stats.SnapshotErrors,
			hasProblem())
	}
	if err := os.Remove(snapshotDir); err != nil {
		t.Fatal(err)
	}
	waitSnapshots(2)
	if stats := s.Stats(); stats.SnapshotErrors != 1 {
		t.Fatalf("the second snapshot failed too: %d errors", stats.SnapshotErrors)
	}
	if hasProblem() {
		t.Fatalf("the latest snapshot succeeded, /healthz still lists snapshot_failed: %+v",
			running.opsSnapshot().Problems)
	}
}
