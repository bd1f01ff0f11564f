package ledger

import "testing"

// BenchmarkRecordLinePrefetch compares, in one process, the pipeline prefetching the
// first line of each account record (prefetchRecords, what the ledger does: into L2)
// with it prefetching both lines into L1 (recordBothLinesIntoL1, what it did before
// session 44): two ledgers of 1,000,000 accounts (ids 1..1,000,000, no pending balances,
// so a plain transfer reads first lines only), differing only in that, apply the same
// batches of 8,189 transfers between random accounts, alternating which goes first every
// op, each batch timed by the thread's CPU clock, as BenchmarkAccountTableHash did. It
// reports cpu-ns per transfer of each and first-line-change-% (negative: first lines
// only is faster).
//
//	go test ./core/ledger -run '^$' -bench RecordLinePrefetch -benchtime 300x -count 5
func BenchmarkRecordLinePrefetch(b *testing.B) {
	// 0: first lines (the ledger's), 1: both lines.
	benchmarkAlternatedLedgers(b, func(i int, l *Ledger) {
		if i == 1 {
			l.recordPrefetch = recordBothLinesIntoL1
		}
	}, "cpu-ns/transfer-first-line", "cpu-ns/transfer-both-lines", "first-line-change-%")
}

// BenchmarkRecordPrefetchLevel compares, in one process and as BenchmarkRecordLinePrefetch
// does, the pipeline prefetching the first line of each account record into L2 (what
// the ledger does since session 52) with it prefetching them into L1 (sessions 44-51).
// It reports cpu-ns per transfer of each and into-l2-change-% (negative: into L2 is
// faster).
//
//	go test ./core/ledger -run '^$' -bench RecordPrefetchLevel -benchtime 200x -count 5
func BenchmarkRecordPrefetchLevel(b *testing.B) {
	// 0: into L2 (the ledger's), 1: into L1.
	benchmarkAlternatedLedgers(b, func(i int, l *Ledger) {
		if i == 1 {
			l.recordPrefetch = recordFirstLinesIntoL1
		}
	}, "cpu-ns/transfer-into-l2", "cpu-ns/transfer-into-l1", "into-l2-change-%")
}

// BenchmarkNewTransferPrefetch compares, in one process and as BenchmarkRecordLinePrefetch
// does, the pipeline prefetching the transfer records the next block will store
// (prefetchNewTransfers, what the ledger does since session 52) with it leaving them to
// the hardware (newTransfersUnprefetched). It reports cpu-ns per transfer of each and
// prefetched-change-% (negative: prefetching them is faster).
//
//	go test ./core/ledger -run '^$' -bench NewTransferPrefetch -benchtime 200x -count 5
func BenchmarkNewTransferPrefetch(b *testing.B) {
	// 0: prefetched (the ledger's), 1: not.
	benchmarkAlternatedLedgers(b, func(i int, l *Ledger) {
		l.newTransfersUnprefetched = i == 1
	}, "cpu-ns/transfer-prefetched", "cpu-ns/transfer-unprefetched", "prefetched-change-%")
}
