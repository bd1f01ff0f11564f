package shard

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestLogBehindSnapshotSaysWhatToDo (review of hunt51b): recovery refuses a log that
// ends before the newest snapshot, now a damaged one too, and the node does not start.
// The error named the snapshot and the ops only: nothing told the operator the ways
// out (a standby rejoins its primary; else fail over, or accept the loss by moving the
// snapshots after the log's end out of the snapshot directory), and the README said
// nothing of this refusal either.
func TestLogBehindSnapshotSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	full := hunt51bLog(t, dir, 6, 2, 6)
	hunt51bDamageHeader(t, dir+"/snapshot-00000000000000000006.snap")
	cut := hunt51bTruncatedLog(t, full, 4)
	_, _, err := Recover(testMachineConfig, cut, dir, slog.New(slog.DiscardHandler), nil)
	if !errors.Is(err, ErrLogBehindSnapshot) {
		t.Fatalf("error %v, want ErrLogBehindSnapshot", err)
	}
	for _, says := range []string{"rejoins its primary", "fail over",
		"moving the snapshots after op 4 out of " + dir} {
		if !strings.Contains(err.Error(), says) {
			t.Errorf("the refusal does not say %q: %v", says, err)
		}
	}
}
