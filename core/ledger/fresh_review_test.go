package ledger

import (
	"bytes"
	"crypto/sha256"
	"sync"
	"testing"
)

// TestPopulaterBesideSnapshotWritersAndRestore grows a ledger with a real populater
// (faulting ranges in on its own goroutine) beside a plain twin, and every few batches
// takes a snapshot view of the populated one and writes it on a third goroutine while
// the growth goes on (run it with -race: the view reads chunks the populater may be
// advising, and the sequencer takes spares into use meanwhile). Each view's bytes must
// hash to the twin's digest at the same point. Then both are restored from their
// snapshots, the populated one gets a fresh populater, and the growth goes on: results
// batch by batch, and the final digests, must match.
func TestPopulaterBesideSnapshotWritersAndRestore(t *testing.T) {
	plain := New(Config{HashSeed: 21})
	populated := New(Config{HashSeed: 21})
	populater := newConcurrentPopulater()
	populated.SetPopulater(populater)
	workload := newFreshWorkload(t, plain, populated)

	var writers sync.WaitGroup
	mismatches := make(chan int, 64)
	for round := range 20 {
		workload.run(chunkRecordCount / 8)
		view, want := populated.Snapshot(), plain.Digest()
		writers.Add(1)
		go func() {
			defer writers.Done()
			defer view.Release()
			hash := sha256.New()
			if _, err := view.WriteTo(hash); err != nil {
				panic(err)
			}
			if [32]byte(hash.Sum(nil)) != want {
				mismatches <- round
			}
		}()
	}
	writers.Wait()
	close(mismatches)
	for round := range mismatches {
		t.Errorf("round %d: the populated ledger's snapshot differs from its twin's", round)
	}

	var plainBytes, populatedBytes bytes.Buffer
	if _, err := plain.Snapshot().WriteTo(&plainBytes); err != nil {
		t.Fatal(err)
	}
	if _, err := populated.Snapshot().WriteTo(&populatedBytes); err != nil {
		t.Fatal(err)
	}
	populated.SetPopulater(nil)
	populater.stop()
	if !bytes.Equal(plainBytes.Bytes(), populatedBytes.Bytes()) {
		t.Fatal("snapshots differ before the restore")
	}
	plainRestored, err := Restore(Config{HashSeed: 21}, &plainBytes)
	if err != nil {
		t.Fatal(err)
	}
	populatedRestored, err := Restore(Config{HashSeed: 21}, &populatedBytes)
	if err != nil {
		t.Fatal(err)
	}
	restoredPopulater := newConcurrentPopulater()
	populatedRestored.SetPopulater(restoredPopulater)
	workload.ledgers = []*Ledger{plainRestored, populatedRestored}
	workload.run(chunkRecordCount + chunkRecordCount/2)
	populatedRestored.SetPopulater(nil)
	restoredPopulater.stop()
	if plainRestored.Digest() != populatedRestored.Digest() {
		t.Fatal("a restored ledger with a populater drifted from its plain twin")
	}
	if restoredPopulater.offered == 0 {
		t.Fatal("the restored ledger offered nothing: the comparison covers no populating")
	}
}
