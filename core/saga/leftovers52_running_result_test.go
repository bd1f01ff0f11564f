package saga

import (
	"bytes"
	"errors"
	"testing"
)

// TestSnapshotRefusesARunningSagaWithAResult (leftovers52): decodeRecord checked a
// restored record's phase, amounts and id, not that a running saga has no result: a
// snapshot whose running saga held a status, a timestamp, balances or an amount moved
// (no build writes one: they are set as the saga turns final) was accepted. It must be
// refused as invalid, like the record's other checks.
func TestSnapshotRefusesARunningSagaWithAResult(t *testing.T) {
	s := newTwoShards(t)
	s.start(t, 9201, 10)
	section := s.debit.AppendSnapshot(nil)
	record := section[snapshotHeaderSize : snapshotHeaderSize+snapshotRecordSize]
	if Phase(record[162]) != PhaseRunning {
		t.Fatalf("setup: the saga's record is in phase %d, not running", record[162])
	}
	if _, err := ReadSnapshot(bytes.NewReader(section), s.placement, 0); err != nil {
		t.Fatalf("setup: the section as written does not read: %v", err)
	}
	for _, field := range []struct {
		name   string
		offset int
	}{
		{"an amount moved", 144}, {"a status", 168}, {"a timestamp", 176},
		{"a debit account balance", 184}, {"a credit account balance", 248 + 63},
	} {
		damaged := bytes.Clone(section)
		damaged[snapshotHeaderSize+field.offset] = 1
		_, err := ReadSnapshot(bytes.NewReader(damaged), s.placement, 0)
		if !errors.Is(err, ErrSnapshotInvalid) {
			t.Errorf("a running saga with %s: %v, want ErrSnapshotInvalid", field.name, err)
		}
	}
}
