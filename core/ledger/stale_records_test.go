package ledger

import (
	"runtime"
	"testing"
	"weak"

	"sequent/core/model"
)

// TestPipelineKeepsNoMovedAccountChunk: the transfer pipeline keeps each event's account
// record pointers in its scratch (batchScratch.accounts) after the batch. In a ledger
// sized for fewer accounts than it holds, the first chunk of records doubles by copying
// as accounts are created; the pointers of an earlier batch then pointed into the old
// copy and kept it alive (the garbage collector follows them), up to 4 MiB per growth
// until a batch as long overwrote them. Creating an account that moves the chunk must
// drop them.
func TestPipelineKeepsNoMovedAccountChunk(t *testing.T) {
	l := New(Config{}) // No capacity: the first chunk starts at chunkRecordCountFirst.
	var timestamp uint64 = 1
	create := func(first, count uint64) {
		t.Helper()
		accounts := make([]model.Account, count)
		for i := range accounts {
			accounts[i] = model.Account{ID: model.U128(first + uint64(i)), Ledger: 1, Code: 1}
		}
		results := make([]model.EventResult, count)
		l.CreateAccounts(timestamp, accounts, results)
		timestamp += count
		for i := range results {
			if results[i].Status != model.StatusOK {
				t.Fatalf("account %d: %s", first+uint64(i), results[i].Status)
			}
		}
	}
	create(1, chunkRecordCountFirst) // The first chunk is full.
	// A pipelined batch (longer than shortBatchEventsMax) between all of them.
	events := make([]model.Transfer, 4*pipelineBlockEvents)
	for i := range events {
		debit := uint64(i)%chunkRecordCountFirst + 1
		events[i] = transfer(1000+uint64(i), debit, debit%chunkRecordCountFirst+1, 1)
	}
	results := make([]model.TransferResult, len(events))
	l.CreateTransfers(timestamp, events, results)
	timestamp += uint64(len(events))
	for i := range results {
		if results[i].Status != model.StatusOK {
			t.Fatalf("transfer %d: %s", i, results[i].Status)
		}
	}
	old := weak.Make(l.accounts.firstChunk())
	create(chunkRecordCountFirst+1, 1) // Moves the first chunk.
	if l.accounts.firstChunk() == old.Value() {
		t.Fatal("the first chunk did not move: the test does not test anything")
	}
	runtime.GC()
	runtime.GC()
	if old.Value() != nil {
		t.Fatal("the first chunk's old copy is still reachable after it moved")
	}
	// The ledger must be alive through the collections: dead, it takes the copy along.
	runtime.KeepAlive(l)
}
