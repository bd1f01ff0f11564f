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

	// prefetchBlockEvents is how many transfers Restore resolves together
	// (resolveTransfers) before storing them: enough independent misses to keep the
	// memory system busy (a core tracks a few dozen at once), few enough that the
	// block's lines (~12 per transfer, 384 KiB) stay in L2 until they are read. A
	// multiple of pipelineBlockEvents. (When CreateTransfers used these blocks too, 32,
	// 64 or 256 measured within ±2% of 128; it now has its own pipeline.)
	prefetchBlockEvents = 128

	// pipelineBlockEvents is the block of CreateTransfersAs's software pipeline: while a
	// block is applied, the records of the next one are prefetched (their first lines
	// into L2 since session 52, see prefetchRecords) and the id-table slots of the one
	// after (into L1). A block's apply (~1-2 µs) outlasts a miss, and its prefetched
	// lines (~100 per stage) stay in the cache until used. Measured for issue 15
	// (cpu-ns/transfer at 1 M accounts, shared VM, medians of 3 alternated rounds against
	// the two-phase blocks of 128): blocks of 8, 16, 32 and 64 all 20-30% faster, 16 the
	// best by a margin within the noise. (An earlier trial of such a pipeline, whose code
	// was not kept, had measured 9-11% slower; this one issues each stage's prefetches in
	// one assembly call per block.) Since session 53 the pipeline runs in shorter steps
	// (pipelineStepEvents); this stays the block of resolveShort and resolveTransfers,
	// and the longest step the scratch's addresses hold.
	pipelineBlockEvents = 16
	// pipelineStepEvents, pipelineSlotsAheadEvents and pipelineRecordsAheadEvents are
	// the shape of CreateTransfersAs's pipeline (pipelineShape) since session 53: steps
	// of 4 events, the slots 12 events ahead and the records 8, where it had blocks of
	// pipelineBlockEvents with the slots 32 ahead and the records 16. Each step asks for
	// about 20 lines, not a block's 48 slots and 32 records at once, and they arrive a
	// few hundred nanoseconds before they are read rather than microseconds. It costs
	// instructions (the stages' per-call work 4 times as often: callgrind 660.0 -> 771.7
	// per transfer at 1,000 accounts), yet in one process (BenchmarkPipelineShape, both
	// sides, session 53, load 3-16) it was faster: -6.4% and -6.8% cpu-ns per transfer
	// at 1 M accounts; at 1,000 -3.7% and +5.5% (one +52% outlier; median -1.6%). 4/8/4 measured alike; steps of 2
	// cost +3 to +12% at 1,000 accounts, steps of 8 gained less, steps of 1 lost; a
	// schedule keeping blocks of 16 for the stages' work but issuing their prefetches 4
	// events at a time gained nothing (bench/PERFORMANCE.md, session 53).
	pipelineStepEvents         = 4
	pipelineSlotsAheadEvents   = 12
	pipelineRecordsAheadEvents = 8
	// shortBatchEventsMax is the longest batch CreateTransfersAs resolves without its
	// pipeline (resolveShort): one block, where the pipeline has nothing to overlap its
	// stages with. Resolving such a batch's accounts one lookup after another instead
	// (without prefetching) was 2.6-4.9x slower per transfer at 8 and 16 events on a
	// million accounts (one round against main, load average ~9, cpu-ns/transfer), so
	// resolveShort keeps the stages' prefetches.
	shortBatchEventsMax = pipelineBlockEvents
	// pipelineLinesPerEventMax is the most lines one pipeline stage prefetches per event:
	// two records of two lines each, and the two accounts' owners.
	pipelineLinesPerEventMax = 6

	// restoreCapacityMax bounds how much Restore preallocates on the word of a snapshot
	// header (4 Mi records: ~0.5 GiB of transfers) before the records are read.
	restoreCapacityMax = 1 << 22

	// chunkRecordCountFirst is the initial length of the first chunk, which doubles up to
	// a full chunk: small ledgers (tests, fuzzing, a fresh server) stay small.
	chunkRecordCountFirst = 64

	// chunkSparesMax is how many chunks an array that allocates ahead holds beyond the
	// ones in use (chunked.spare): one, allocated when the array takes the previous spare
	// into use, so that a populater (Ledger.SetPopulater) has a whole chunk's appends
	// (65,536) to fault it in before the sequencer writes it.
	chunkSparesMax = 1

	// freshChunkBytesAheadMax is the most storage a ledger holds ahead of need while a
	// populater is attached: chunkSparesMax chunk of each array a transfer appends to
	// (128-byte transfers, 8-byte links, 1-byte pending statuses, 88-byte balance
	// history records), 14,745,600 bytes (~14.1 MiB). The history spare exists only once
	// history has filled its first chunk. Without a populater nothing is allocated ahead.
	// (A growing id table's next table is allocated ahead with or without one: idTable.)
	freshChunkBytesAheadMax = chunkSparesMax * chunkRecordCount *
		(model.TransferSize + 8 + 1 + 88)

	// undoRecordsPerEventMax bounds the undo records one transfer event writes: two
	// accounts, one transfer, one pending status and two history records.
	undoRecordsPerEventMax = 6

	// nanosecondsPerSecond converts transfer timeouts (seconds) to timestamps (ns).
	nanosecondsPerSecond = 1_000_000_000

	// timestampMax is the largest valid timestamp or deadline (2^63-1), as in TigerBeetle,
	// so that timestamps stay positive in signed arithmetic everywhere.
	timestampMax = 1<<63 - 1
)
