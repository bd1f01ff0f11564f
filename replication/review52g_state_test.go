package replication

import (
	"testing"
)

// TestReview52gReleasedStateWithoutHolderIsRefused (review-grant52; claim: the version 3
// state file's decoder accepts a record the witness never writes). Only the holder
// releases a grant (decideLocked's release case needs a holder), so a record that says
// released without a holder is damaged or forged; read, it would make the witness answer
// the stale-node check with the written epoch below a grant nobody held (released), and
// renew or grant the lease from that state. Both directions must refuse it, as they refuse
// a written epoch above the epoch (pair assertions: before the write and after the read).
func TestReview52gReleasedStateWithoutHolderIsRefused(t *testing.T) {
	holderless := witnessState{epoch: 3, id: witnessIDPairA, released: true, writtenBefore: 1}
	if _, err := encodeWitnessState(holderless); err == nil {
		t.Fatal("encoded a released grant without a holder")
	}
	record, err := encodeWitnessState(witnessState{epoch: 3, holder: "b", id: witnessIDPairA,
		released: true, writtenBefore: 1})
	if err != nil {
		t.Fatal(err)
	}
	record[witnessStateOffsetHolderLength] = 0
	record[witnessStateOffsetHolder] = 0
	clear(record[witnessStateOffsetCRC : witnessStateOffsetCRC+4])
	sealRecord(record, witnessStateOffsetCRC)
	if state, err := decodeWitnessState(record); err == nil {
		t.Fatalf("decoded %+v: a released grant without a holder", state)
	}
}
