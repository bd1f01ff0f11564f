package ledger

import (
	"fmt"
	"testing"

	"sequent/core/model"
)

// Review of ledger52 (review52l): prefetchNewTransfers computes the address of a record
// in the transfer store only when it lies inside a chunk already allocated. These tests
// pin that claim (they passed when written: evidence, not a bug).

// TestReview52lPrefetchNewTransfersStaysInsideTheStore calls prefetchNewTransfers on
// transfer stores of every shape it can meet: empty, the growing first chunk (64 and
// 128 records) at every count, a full first chunk with and without a spare, two chunks
// at the second one's end, and a count next to 2^32 (its chunk table full of empty
// chunks, so any record address taken would panic): with aheads and counts of 0, 1, 16,
// a whole chunk and more, and negative ones. Any index past a chunk's length panics.
func TestReview52lPrefetchNewTransfersStaysInsideTheStore(t *testing.T) {
	type store struct {
		name   string
		chunks [][]model.Transfer
		counts []uint32
	}
	every := func(from, to uint32) []uint32 {
		var counts []uint32
		for c := from; c <= to; c++ {
			counts = append(counts, c)
		}
		return counts
	}
	full := make([]model.Transfer, chunkRecordCount)
	second := make([]model.Transfer, chunkRecordCount)
	stores := []store{
		{"empty", nil, []uint32{0}},
		{"first chunk of 64", [][]model.Transfer{make([]model.Transfer, 64)}, every(0, 64)},
		{"first chunk of 128", [][]model.Transfer{make([]model.Transfer, 128)}, every(0, 128)},
		{"one full chunk", [][]model.Transfer{full}, every(chunkRecordCount-40, chunkRecordCount)},
		{"two full chunks", [][]model.Transfer{full, second},
			append(every(chunkRecordCount-40, chunkRecordCount+40),
				every(2*chunkRecordCount-40, 2*chunkRecordCount)...)},
		{"chunk table of 2^16 empty chunks", make([][]model.Transfer, 1<<16),
			[]uint32{0, 1<<32 - 17, 1<<32 - 16, 1<<32 - 1}},
	}
	aheads := []int{0, 1, 15, 16, 17, chunkRecordCount - 1, chunkRecordCount, -1}
	counts := []int{0, 1, 3, 4, 5, 16, 17, chunkRecordCount, chunkRecordCount + 1, -1}
	for _, s := range stores {
		for _, spare := range []bool{false, true} {
			l := New(Config{HashSeed: 52})
			l.transfers.chunks = s.chunks
			if spare {
				l.transfers.spare = make([]model.Transfer, chunkRecordCount)
			}
			for _, storeCount := range s.counts {
				l.transfers.count = storeCount
				for _, ahead := range aheads {
					for _, count := range counts {
						func() {
							defer func() {
								if r := recover(); r != nil {
									t.Fatalf("%s (spare %v), %d records, ahead %d, count %d: %v",
										s.name, spare, storeCount, ahead, count, r)
								}
							}()
							l.prefetchNewTransfers(ahead, count)
						}()
					}
				}
			}
		}
	}
}

// TestReview52lPrefetchesChangeNoBatch applies the same batches to a ledger with
// session 52's prefetches (account records' first lines into L2, the next block's
// transfer records) and to one prefetching as before (both record lines into L1, no
// transfer records), of sizes 1, 2, 15, 16, 17, 33, 8189 and a batch ending exactly at
// the first chunk's end, across the first chunk's growth (64 records doubling), the
// first chunk's end (65,536) and, in the second pair, a reserved store full at 65,536
// with a transfers limit reached in the middle of a batch: the results and digests must
// be the same after every batch.
func TestReview52lPrefetchesChangeNoBatch(t *testing.T) {
	for _, config := range []Config{
		{HashSeed: 52},
		{HashSeed: 52, TransfersCapacity: chunkRecordCount, TransfersMax: chunkRecordCount + 100},
	} {
		t.Run(fmt.Sprintf("capacity=%d/max=%d", config.TransfersCapacity, config.TransfersMax),
			func(t *testing.T) {
				now, before := New(config), New(config)
				before.recordPrefetch = recordBothLinesIntoL1
				before.newTransfersUnprefetched = true
				const accountCount = 64
				timestamp := uint64(1_000 * second)
				accounts := make([]model.Account, accountCount)
				for i := range accounts {
					accounts[i] = model.Account{ID: model.U128(uint64(i) + 1), Ledger: 1, Code: 1}
				}
				for _, l := range []*Ledger{now, before} {
					results := make([]model.EventResult, len(accounts))
					l.CreateAccounts(timestamp, accounts, results)
					for i := range results {
						if results[i].Status != model.StatusOK {
							t.Fatalf("account %d: %s", i+1, results[i].Status)
						}
					}
				}
				timestamp += 100
				sizes := []int{1, 2, 15, 16, 17, 33, 8189, 8189, 8189, 8189, 8189, 8189, 8189}
				total := 0
				for _, size := range sizes {
					total += size
				}
				// A batch ending exactly at the first chunk's end, then more across it.
				sizes = append(sizes, chunkRecordCount-total, 16, 17, 1, 8189)
				id := uint64(1)
				for b, size := range sizes {
					events := make([]model.Transfer, size)
					for i := range events {
						debit := id*7%accountCount + 1
						credit := (debit+id*13%(accountCount-1))%accountCount + 1
						if credit == debit {
							credit = debit%accountCount + 1
						}
						events[i] = model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(debit),
							CreditAccountID: model.U128(credit), Amount: model.U128(id%1000 + 1),
							Ledger: 1, Code: 1}
						if id%97 == 0 { // A duplicate now and then: exists, nothing stored.
							events[i].ID = model.U128(id - 1)
						}
						id++
					}
					nowResults := make([]model.TransferResult, size)
					beforeResults := make([]model.TransferResult, size)
					now.CreateTransfers(timestamp, append([]model.Transfer(nil), events...), nowResults)
					before.CreateTransfers(timestamp, append([]model.Transfer(nil), events...), beforeResults)
					timestamp += uint64(size) + 1
					for i := range nowResults {
						if nowResults[i] != beforeResults[i] {
							t.Fatalf("batch %d (%d events), event %d: %+v against %+v", b, size, i,
								nowResults[i], beforeResults[i])
						}
					}
					if now.Digest() != before.Digest() {
						t.Fatalf("batch %d (%d events): digests differ", b, size)
					}
				}
				if now.transfers.count < chunkRecordCount {
					t.Fatalf("only %d transfers stored: the first chunk's end not crossed",
						now.transfers.count)
				}
			})
	}
}
