package shard

import (
	"strings"
	"testing"

	"sequent/core"
	"sequent/wal"
)

// heldLog is a LogReader that holds ops first..last (first 0: no entry, last its base).
type heldLog struct{ first, last uint64 }

func (l heldLog) Read(uint64, func(e *wal.Entry) error) error { return nil }
func (l heldLog) FirstOp() uint64                             { return l.first }
func (l heldLog) LastOp() uint64                              { return l.last }

// TestSnapshotThatMissesTheLogSaysWhatTheLogHolds (leftovers52): a snapshot that does
// not meet a log which is only a base (a node started over from a snapshot at op 100,
// nothing written since) was refused with "the log (ops 0..100)": a log that seemed to
// hold ops from 0, which no log does. The message must say what the log holds.
func TestSnapshotThatMissesTheLogSaysWhatTheLogHolds(t *testing.T) {
	for _, c := range []struct {
		log        heldLog
		snapshotOp uint64
		want       string
	}{
		{heldLog{0, 100}, 50, "(no entry: only a base at op 100, its first entry will be op 101)"},
		{heldLog{0, 0}, 50, "(empty)"},
		{heldLog{80, 120}, 50, "(ops 80..120)"},
	} {
		info := wal.SnapshotInfo{Path: "unread.snap", Meta: wal.SnapshotMeta{Op: c.snapshotOp}}
		_, err := restoreSnapshot(core.Config{}, c.log, info)
		if err == nil || !strings.Contains(err.Error(), "does not meet the log "+c.want) {
			t.Errorf("snapshot at op %d under a log holding %d..%d: %v; want it to say %q",
				c.snapshotOp, c.log.first, c.log.last, err, c.want)
		}
	}
}
