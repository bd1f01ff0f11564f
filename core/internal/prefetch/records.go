package prefetch

import "unsafe"

// RecordPairs is LinePairs for a list of pointers to records of LinePairBytes (ledger
// accounts): a pointer is the address LinePairs wants, so a caller that keeps the
// records it will read as pointers passes that list as it is, where building a list of
// addresses beside it took a store (and an append's checks) per record. A nil pointer
// is allowed: a prefetch of an unmapped address is dropped (see the package comment).
func RecordPairs[T any](records []*T) {
	LinePairs(unsafe.Slice((*uintptr)(unsafe.Pointer(unsafe.SliceData(records))), len(records)))
}

// RecordLines is Lines for a list of pointers to records: the first cache line of each
// (a ledger account's hot line, which a plain transfer reads alone), as RecordPairs
// passes the list as it is.
func RecordLines[T any](records []*T) {
	Lines(unsafe.Slice((*uintptr)(unsafe.Pointer(unsafe.SliceData(records))), len(records)))
}

// RecordLinesIntoL2 is RecordLines with LinesIntoL2: the first line of each record into
// the second-level cache.
func RecordLinesIntoL2[T any](records []*T) {
	LinesIntoL2(unsafe.Slice((*uintptr)(unsafe.Pointer(unsafe.SliceData(records))), len(records)))
}
