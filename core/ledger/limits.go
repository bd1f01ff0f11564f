package ledger

import "sequent/core/model"

// Bounds of the ledger. Every loop and queue in the package is bounded by one of these.
const (
	// indexNone marks "no record" in 32-bit index links.
	indexNone = ^uint32(0)

	// recordCountMax is the most records of one kind: indexes are 32-bit and index+1 must
	// fit in an idTable slot, and indexNone is reserved.
	recordCountMax = ^uint32(0) - 1

	// AccountsMaxDefault bounds accounts unless Config says otherwise: 2^27 accounts is
	// about 20 GiB of memory, more than this machine class should give the ledger.
	AccountsMaxDefault = 1 << 27

	// TransfersMaxDefault bounds stored transfers unless Config says otherwise (about
	// 22 GiB at ~170 bytes per transfer).
	TransfersMaxDefault = 1 << 27

	// ExpiriesPerPulseMax bounds the pending transfers expired by one call to Expire, so
	// that one entry's work stays bounded; the rest expire on the next entries (and a post
	// or void of an overdue transfer is refused as expired regardless).
	ExpiriesPerPulseMax = model.EventsPerRequestMax

	// prefetchBlockEvents is how many transfers are prefetched and then applied together.
	// Enough independent misses to keep the memory system busy (a core tracks a few dozen
	// at once), few enough that the block's lines (~12 per transfer, 384 KiB) stay in L2
	// until the apply phase reads them. Tried for issue 15 on the shared VM, in one
	// process against this layout: blocks of 32, 64 or 256 within ±2%; a software
	// pipeline that applied block k while PREFETCHT0 fetched the records of block k+1
	// and the slots of k+2 was 9-11% slower at 1 M accounts (3-6% at 1,000).
	prefetchBlockEvents = 128

	// restoreCapacityMax bounds how much Restore preallocates on the word of a snapshot
	// header (4 Mi records: ~0.5 GiB of transfers) before the records are read.
	restoreCapacityMax = 1 << 22

	// chunkRecordCountFirst is the initial length of the first chunk, which doubles up to
	// a full chunk: small ledgers (tests, fuzzing, a fresh server) stay small.
	chunkRecordCountFirst = 64

	// undoRecordsPerEventMax bounds the undo records one transfer event writes: two
	// accounts, one transfer, one pending status and two history records.
	undoRecordsPerEventMax = 6

	// nanosecondsPerSecond converts transfer timeouts (seconds) to timestamps (ns).
	nanosecondsPerSecond = 1_000_000_000

	// timestampMax is the largest valid timestamp or deadline (2^63-1), as in TigerBeetle,
	// so that timestamps stay positive in signed arithmetic everywhere.
	timestampMax = 1<<63 - 1
)
