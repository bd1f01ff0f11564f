package ledger

import "testing"

// BenchmarkRecordLinePrefetch compares, in one process, the pipeline prefetching the
// first line of each account record (prefetchRecords, what the ledger does) with it
// prefetching both lines (bothRecordLinesPrefetched, what it did before): two ledgers of
// 1,000,000 accounts (ids 1..1,000,000, no pending balances, so a plain transfer reads
// first lines only), differing only in that, apply the same batches of 8,189 transfers
// between random accounts, alternating which goes first every op, each batch timed by
// the thread's CPU clock, as BenchmarkAccountTableHash does. It reports cpu-ns per
// transfer of each and first-line-change-% (negative: first lines only is faster).
//
//	go test ./core/ledger -run '^$' -bench RecordLinePrefetch -benchtime 300x -count 5
func BenchmarkRecordLinePrefetch(b *testing.B) {
	// 0: first lines (the ledger's), 1: both lines.
	benchmarkAlternatedLedgers(b, func(i int, l *Ledger) {
		l.bothRecordLinesPrefetched = i == 1
	}, "cpu-ns/transfer-first-line", "cpu-ns/transfer-both-lines", "first-line-change-%")
}
