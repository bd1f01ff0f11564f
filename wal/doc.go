// Package wal is Sequent's write-ahead log of sequencer batches, its snapshot files, the
// recovery that reads them back, and the library behind `sequent wal inspect|verify`.
//
// # Role
//
// The shard sequencer appends one Entry per batch of commands (op numbers, timestamp,
// epoch, and the raw body, opaque to wal). The log compresses, checksums, hash-chains and
// writes entries with group commit, and publishes Durable, the highest op on disk. The
// sequencer applies a batch before it is durable but releases no reply before Durable
// covers it (core/doc.go). Start-up is: newest valid snapshot (ListSnapshots,
// OpenSnapshot; fall back to an older one if reading fails), then Open and Read from the
// snapshot's op, applying each entry. A standby writes the primary's entries verbatim
// with AppendStored, so both logs carry the same chain hashes.
//
// # Threading
//
//	appending goroutine (the sequencer, or the standby's receiver) — exactly one:
//	    Append, AppendDeferred, WriteDeferred, AppendStored, StartAfter, TruncateAfter,
//	    Close
//	any goroutine:
//	    Durable, DurableNotify, Err, LastOp, FirstOp, LastChain, ChainAt, Stats,
//	    Read (replication catch-up runs it concurrently with Append), Retire, BytesAfter,
//	    StoredBytesAfter,
//	    Follow (each Tail then belongs to one follower goroutine)
//	background goroutines owned by the Log:
//	    encoders (EncoderCount): compress + CRC32C + SHA-256 of large bodies
//	    writer (one): seals entries in order (chain hash, header), one pwritev per group,
//	        fdatasync per policy, publishes Durable, calls the observer, serves
//	        TruncateAfter/StartAfter/Close; it alone touches the active segment file,
//	        except when the appender writes a deferred entry itself (below): the writing
//	        mutex, held by whichever of the two writes, owns the writer state and the file
//	    preparer (one): creates and zero-fills the next segment ahead of time, retrying
//	        every second after a failure (a full file system), see room.go
//
// Append copies the body into a slot of a ring of PipelineDepth slots and returns; it
// blocks only when the ring is full. Bodies over 64 KiB go to an encoder, smaller ones are
// encoded by the writer itself (a hand-off would cost more than the work). The writer
// takes the oldest slot (waiting for its encoder if needed) plus every later slot already
// encoded: that is one group commit, one write and one fdatasync. Slot buffers grow to the
// largest entry seen and are reused: the steady state allocates nothing (a test checks).
//
// AppendDeferred and WriteDeferred (deferred.go) spare a lone small entry the two
// hand-offs appender → writer → appender: when the pipeline is empty (or holds only
// entries deferred so, which then share one group) and the policy is SyncEvery,
// AppendDeferred leaves the writer asleep, and WriteDeferred, called once the appender
// has nothing left to do but wait for Durable, runs the same group commit (write,
// fdatasync, publish) on the appender if the writer is idle, or wakes the writer if it is
// busy. Durable still advances only after the fdatasync returns; Stats.InlineGroups counts
// the groups written this way.
//
// # Following the log (Tail)
//
// Follow returns a Tail: the public tail reader. Its follower drains every entry after a
// position, in order and once each: from the segments while it is behind (ReadStored),
// then from a bounded queue the writer fills with a copy of each entry as it writes it
// (right after the pwritev, before the fdatasync: TailOptions.Written hands entries over
// then, as replication needs; by default only once durable). A queue that overflows
// empties itself and the follower reads what it missed from the segments, so a slow
// follower costs the writer one copy per entry and never a wait. Replication streams to
// the standby through a Tail; change capture catches up through one.
//
// Locks: maintenanceMutex (Retire, TruncateAfter), then segmentsMutex (segment index),
// then chainsMutex (recent chain hashes). Never held across file I/O except open(2).
//
// # Durability rules
//
//   - Durable only advances after fdatasync returned (SyncEvery, SyncInterval), or after
//     the write (SyncNone, benchmarks only, logged loudly at Open).
//   - A full file system is not a failure: the next segment cannot be prepared, so
//     Append refuses entries that might not fit in the active one with ErrLogFull (no
//     side effect), and takes them again once a preparation succeeds (room.go;
//     PrepareErr). The writer never rolls without a prepared segment.
//   - A failed write or fdatasync is sticky (Err): the log writes nothing more and Durable
//     never advances again. A failed fsync is never retried: the kernel may have dropped
//     the dirty pages and a retry could report success for lost data ("fsyncgate").
//   - A segment is fdatasynced before the first write to the next one, so a segment
//     followed by a non-empty segment is always complete: only the last can be torn.
//   - Segment and snapshot files get their final name only when complete and synced
//     (temporary file, fsync, rename, directory fsync).
//   - Open fdatasyncs the active segment before publishing Durable: entries recovered from
//     a crashed process's page cache were not necessarily on disk yet.
//   - Retire into an archive directory never replaces a file there: an identical one (a
//     crash between a cross-device copy and the delete) is kept and the segment only
//     deleted, a different one (a segment of another history of the log, numbered from 1
//     again after a start over) stops the retirement (ErrArchivedSegmentDiffers). A
//     directory it makes has its parent fsynced. SetArchivedSegmentsAside moves an
//     archive's segments into a subdirectory when the log's history is set aside.
//
// # Directory layout
//
//	DIR/LOCK                             flock held by the process that has the log open
//	DIR/00000000000000000001.wal         segments, numbered from 1, fixed size, preallocated
//	DIR/00000000000000000002.wal         (the last one is usually the prepared, empty next)
//	DIR/*.wal.tmp                        a segment being prepared or rewritten; deleted at Open
//	DIR/*.wal.corrupt                    originals kept aside by Options.TruncateCorrupt
//	SNAPDIR/snapshot-00000000000001234567.snap   a snapshot at op 1234567
//	SNAPDIR/snapshot-*.snap.tmp          a snapshot being written (never listed)
//
// # Segment header (128 bytes at offset 0, little-endian)
//
//	 0       8       12      16              24              32              40
//	+-------+-------+-------+---------------+---------------+---------------+----
//	| magic |version|hdr crc| segment number| segment bytes | created (ns)  | 88 reserved
//	|SQWALSEG  u32  |  u32  |      u64      |      u64      |      u64      | zero bytes
//	+-------+-------+-------+---------------+---------------+---------------+----
//
// The header checksum is CRC32C of the 128 bytes with its own field zero. The number must
// equal the file name's. Entries follow from offset 128; the rest of the file is zeros.
//
// Version 2 of the segment header (and only of it: entries and snapshots stay version 1)
// records the log's base in bytes 40..79: the op the log starts after (u64, not zero) and
// that op's chain hash [32]; bytes 80..127 are zero. StartAfter writes it into the
// active segment, which holds no entry, by an atomic rewrite (copy, fsync, rename,
// directory fsync) before it returns, and TruncateAfter does when it empties the log; a
// torn-tail repair keeps it. Open takes the base as the log's end while no entry follows
// it, and checks that the first entry after it continues it (and that a base in a later
// segment is where the earlier ones end): a log reopened before its first entry after a
// start over still ends at the snapshot's op, while a log that lost its entries records
// no base. Every other segment is written as version 1, so logs without a base read as
// before, and a build that knows version 1 only refuses a log with a base (ErrVersion).
//
// # Entry header (128 bytes, then the stored body; an entry never spans segments)
//
//	  0      4     6     7     8         12        16                24
//	+------+-----+-----+-----+---------+---------+-----------------+-----------------+
//	|magic |vers.|codec|rsvd |hdr crc  |count    |epoch            |segment number * |
//	|"SQWE"| u16 | u8  |  0  |u32      |u32      |u64              |u64              |
//	+------+-----+-----+-----+---------+---------+-----------------+-----------------+
//	 32                40                48        52        56        60        64
//	+-----------------+-----------------+---------+---------+---------+---------+
//	|first op         |timestamp (ns)   |stored   |raw      |body crc |synced   |
//	|u64              |u64              |bytes u32|bytes u32|u32      |offset *u32
//	+-----------------+-----------------+---------+---------+---------+---------+
//	 64                                  96                                  128
//	+-----------------------------------+-----------------------------------+
//	| previous entry's chain hash [32]  | this entry's chain hash [32]      |
//	+-----------------------------------+-----------------------------------+
//
// Fields marked * are local to this log (not chained). In detail:
//
//   - header crc: CRC32C of the 128 bytes with this field zero. body crc: CRC32C
//     (Castagnoli, SSE4.2) of the stored body, checked before any decompression.
//   - codec: 1 raw, 2 s2, 3 zstd (0 never appears, so zeros never decode). s2 bodies are
//     blocks of 64 KiB raw, each preceded by its compressed length (u32).
//   - synced offset: how far this segment was known durable when the entry was written.
//     Recovery uses it to tell a torn write from damage (below).
//   - chain hash = SHA-256(header bytes 0..95 with the fields marked * and the header crc
//     zeroed ‖ SHA-256(stored body)). Bytes 64..95 are the previous chain, so the hash
//     commits to the whole history: editing any entry, even with recomputed CRCs, breaks
//     its own hash or its successor's link. The local fields (*) are left out so that a
//     standby, which numbers its own segments, has the same chain as the primary. The
//     body is hashed separately so that encoders hash bodies in parallel and the writer
//     only chains 128-byte blocks in order.
//
// # Snapshot file (128-byte header, then the state as an s2 stream)
//
//	 0        8       12      16    17       20       24       32       40
//	+--------+-------+-------+-----+--------+--------+--------+--------+---------+
//	| magic  |version|hdr crc|codec|rsvd(3) |body crc|op      |epoch   |timestamp|
//	|SQSNAPSH  u32   |  u32  | u8  |  zero  |  u32   |u64     |u64     |u64      |
//	+--------+-------+-------+-----+--------+--------+--------+--------+---------+
//	 48        56         64                    96                    128
//	+---------+----------+---------------------+---------------------+
//	|raw bytes|stored    | state digest [32]   | log chain at op [32]|
//	|u64      |bytes u64 | (core's)            |                     |
//	+---------+----------+---------------------+---------------------+
//
// The body crc is CRC32C of the stored stream; the s2 stream also checks each chunk. The
// file size must be 128 + stored bytes. The reader from OpenSnapshot returns
// ErrSnapshotCorrupt at or before EOF when anything does not match.
//
// # Recovery (Open)
//
// Every segment is scanned: segment header, each entry's header checksum, fields, body
// checksum and chain hash, and the link to the previous entry (op continuity, previous
// chain, epoch not decreasing, timestamp increasing). Then:
//
//   - Clean end: an all-zero header followed only by zeros (the preallocated tail).
//   - Torn tail: the first problem is in the last segment holding data, is a
//     checksum-level failure (bad magic or header checksum, body checksum, zero header
//     followed by data, file cut short), and no later entry of that segment carries a
//     synced offset beyond it (which would prove the bad bytes had been synced before).
//     The segment is rewritten without the tail (atomically: copy, fsync, rename) and a
//     warning names the segment, offset and bytes discarded. Nothing discarded had been
//     published durable.
//   - Damage, anything else: a checksum or chain failure before the tail, a valid entry
//     that does not link (duplicated, reordered, from another log), a gap in segment
//     numbers (ErrMissingSegment), an unknown version (ErrVersion), an empty segment
//     before a non-empty one. Open fails with a *PositionError naming segment, offset and
//     op, wrapping ErrCorrupt, ErrVersion or ErrMissingSegment, unless
//     Options.TruncateCorrupt, which cuts the log there and keeps the originals as
//     *.wal.corrupt.
//
// A zeroed suffix of the last segment is indistinguishable from a shorter log; Verify
// reports it when a snapshot lies beyond the log's end, and the server should compare
// LastOp with its newest snapshot's op at start-up.
//
// # Zero-fill of the next segment, and recycling (measured; designed, not built)
//
// Each roll asks the preparer for the next segment: 64 MiB of zeros written and synced in
// 70-200 ms, and the log's fdatasyncs in that window queue behind that writeback. Full
// batches store ~190 KB each, so a roll comes every ~350-400 entries (every 1.5-3 s at
// 150-250 requests/s). Issue 15, session 34, `sequent bench --embedded --connections 1
// --inflight 1 --transfers-capacity 41943040 --duration 12s --warmup 8s`, with a
// throwaway build that timed every release, apply, fdatasync and fill (load average 7-9,
// /proc/pressure/cpu "some" 60-95%):
//
//   - 2-3.4% of the requests overlapped a fill (or its next 50 ms), and 1-8 of the
//     slowest 2% did (8-31%); leaving those requests out lowered the run's p99 by 0-24%
//     (20.8 -> 18.7, 36.7 -> 28.0, 24.5 -> 19.3, 82.3 -> 82.3 ms: 4 runs).
//   - A build with every segment of the run prepared before the measured window (which
//     is what recycling would give) against the normal one, 4 rounds alternated: release
//     p99 29.1 (26.3-60.8) against 30.6 (20.8-82.3) ms, per round x1.26, 0.80, 1.18,
//     0.74: no difference above the noise.
//   - The rest of the tail: applies descheduled (in the slowest 2% of applies, 83% of
//     the wall time was off the CPU, with involuntary context switches; 28 of 35 had no
//     page fault: other processes on the 2 vCPUs), and fdatasyncs of 13-170 ms outside
//     any fill (syncs outside fills: p99 13-72 ms; the disk is shared).
//
// Paced writeback of the zeros (issue 15, session 37; tried, not adopted). The fill
// handed each 1 MiB chunk to the disk with sync_file_range(SYNC_FILE_RANGE_WRITE) when
// written and waited for the chunk before (WAIT_BEFORE|WRITE|WAIT_AFTER), so that at
// most 2 MiB of zeros were on their way at once instead of 64 MiB at the final fsync.
// Throwaway builds that timed every fdatasync and fill, alternated, 3 rounds each, the
// bench above with --warmup 2s --driver wire, load average 11-14: the log's
// fdatasyncs during a fill p50 8.2 -> 3.9 ms, p90 57 -> 13 ms, but fills took 150-600 ms
// instead of 80-170 ms, so 250 fdatasyncs overlapped one instead of 54 (1.8 ms median
// outside fills either way); an 8 MiB window instead of 2 (load 20-21): fills 200-570
// ms, in-fill p50 9.2 against 36 ms over only 17 samples. Server p99 over 5 alternated
// rounds per driver (load 14-21) moved by 0.59-1.70x per round either way: no gain above
// the noise, which fdatasyncs of 20-140 ms outside any fill (other work on the shared
// disk) set. Worth measuring again on a quiet machine, where fills may be a larger
// share of the tail (the patch is a dozen lines in zeroFiller.fill).
//
// Recycling would also change nothing in such a run: it needs retired segments, and
// Retire runs after a snapshot (every 5 M ops by default: hours of full batches), so the
// first pass of the log over the disk is zero-filled either way. If it is built:
//
//   - Retire, when it deletes (no archive directory), keeps up to a named number of
//     retired files of the current segment size as DIR/*.wal.free (listSegments and
//     recovery ignore them) instead of deleting them.
//   - The preparer takes a free file when there is one: rename to *.wal.tmp, write the
//     new segment header, fsync, rename to the final name, sync the directory. No zeros:
//     the blocks are allocated and written, so overwriting them costs what writing into
//     a zero-filled segment costs (the Preallocation benchmark above).
//   - Stale entries follow the end of a recycled segment, valid but from an older use.
//     Neither their segment-number field nor the chain link tells them apart:
//     TruncateAfter (cutSegments) deletes later segments and prepares their numbers
//     again, and the suffix it discards links to the prefix it keeps. So a new format
//     version gives each segment header a random per-use salt, and an entry's header
//     checksum is seeded with its segment's salt (local, like the segment number: the
//     chain hash leaves it out, so primary and standby chains stay equal). In a
//     new-version segment the end is the first header that is zero, fails the salted
//     checksum or names another segment; no all-zero tail is required after it; and the torn-or-damaged
//     evidence (tornEvidence) counts only entries whose salted checksum holds.
//     Version-1 segments keep today's rules exactly, so older logs recover as before, and
//     one log may hold both.
//   - Tests to add to crash_test.go, damage_test.go and fuzz_test.go: a stale valid entry
//     right after the end; a torn new entry over a stale one (whole header, half a body;
//     half a header); a free file reused after TruncateAfter reused its number; a crash
//     between taking a free file and renaming it (the *.tmp is deleted at Open: the pool
//     loses a file, the log nothing); fuzzing of new-version segments.
//
// # Measurements (this 2-vCPU VM, shared and noisy: compare ratios within one run)
//
// Compression, on full batches of 8189 transfer records (sequential ids, random accounts
// among 1M, small amounts), `go test ./wal -run '^$' -bench Codecs -benchtime 300x`:
//
//	codec                 compress     decompress   ratio
//	s2, 64 KiB blocks     2.49 GB/s    5.5 GB/s     5.05   <- CodecAuto
//	s2, one 1 MiB block   1.89 GB/s    4.2 GB/s     4.90
//	zstd fastest          0.59 GB/s    2.9 GB/s     8.39
//	zstd default          0.57 GB/s    2.7 GB/s     8.88
//
// s2 was chosen: zstd stores 1.7x fewer bytes but costs 4x the CPU, and at full speed the
// log is CPU-bound (compression and SHA-256), not disk-bound. A body is stored raw when it
// is under 256 bytes or compression saves less than 1/8.
//
// Preallocation, 1 MiB write+fdatasync into fresh space,
// `go test ./wal -run '^$' -bench Preallocation -benchtime 640x`: zero-filled p50 0.30 ms,
// fallocated 0.47-0.50 ms (writing converts unwritten extents: a journal commit per
// sync), appending 0.53-0.55 ms. Segments are zero-filled, in the background.
//
// Append of full batches (8189 transfers, 1,048,192 bytes) with SyncEvery, defaults:
//
//	go test ./wal -run '^$' -bench 'BenchmarkAppend$|RawWrite' -benchtime 2000x -count 3
//	    Append 2.58-2.68 GB/s raw (20-21 M transfers/s, ratio 5.04, ~9 entries per
//	    fdatasync); raw write+fdatasync of the same bytes 3.03-3.27 GB/s: 0.82 of raw
//	go test ./wal -run '^$' -bench AppendVsRaw -benchtime 4096x -count 6
//	    the same, interleaved in rounds of 64 so both see the same load (load average
//	    ~4 on 2 vCPUs at the time): 0.66 to 0.83 of raw, median 0.77
//
// Append is CPU-bound, not disk-bound: per full batch s2 takes ~0.42 ms and SHA-256 of
// the stored bytes ~0.1 ms of one core against ~0.3 ms of write+fdatasync, so it needs
// both encoders (one: 1.6 GB/s) and loses ground when other processes take CPU. Storing
// raw is slower (1.1-1.2 GB/s: SHA-256 over 1 MiB costs as much as s2 plus SHA-256 over
// 207 KB, and five times the bytes go to disk).
//
// One small entry, Append to Durable (BenchmarkAppendLatency): p50 0.10-0.11 ms.
// Read with checksums and decompression, page cache warm (BenchmarkRead): 39 M
// transfers/s (5.0 GB/s raw) with s2, 88-108 M/s for raw bodies. Snapshots of a 256 MiB
// state (BenchmarkSnapshot): written at 1.2 GB/s (one core), read at 3.6 GB/s. Open
// of a cleanly closed log of 10 M transfers (~250 MB stored), every checksum and chain
// hash checked (BenchmarkOpen): 0.15-0.20 s.
//
// Ways of making an append durable (issue 15, session 35), /tmp on ext4 on /dev/vda
// (write_cache "write back", fua 0), `go test ./wal -run '^$' -bench SyncModes
// -benchtime 2000x -count 5`, twice (10 rounds, modes alternated every 16 appends, load
// average 4.5-8.8); p50 median (min-max) and the median per-round change against today:
//
//	                       288 B                  4 KiB                  256 KiB
//	pwritev + fdatasync    213 (177-311) us       197 (165-241) us       484 (357-614) us
//	pwritev2 RWF_DSYNC     206 (173-290)  -1.8%   194 (159-236)  -2.1%   464 (350-567)  +0.6%
//	O_DIRECT|O_DSYNC       196 (164-253)  -7.4%   176 (146-225)  -7.3%   499 (366-666)  +4.0%
//	O_DIRECT + fdatasync   206 (182-269)  -3.0%   187 (147-236)  -2.4%   485 (365-588)  +0.1%
//
// None reaches the 15% that would pay for a second write path, so the log keeps
// pwritev + fdatasync. The disk has no FUA: every mode still sends one cache flush per
// append (counted in /proc/diskstats), and an fdatasync with nothing dirty alone costs
// 50-80 us, so the write and the flush are the floor and the kernel path is ~10% of it.
// The p99s (0.6-46 ms for every mode) are the shared disk's stalls, not the mode's.
//
// Session 52 (issue 15: why Redis's appendfsync always looked cheaper) added Redis's AOF
// pattern and two others; 6 rounds of 1,000 appends per mode, load average 11-17:
//
//	                       288 B                  4 KiB
//	pwritev + fdatasync    173 (146-199) us       183 (169-214) us
//	O_DIRECT|O_DSYNC       157 (134-193)  -7.8%   166 (152-191)  -9.2%
//	O_DIRECT|O_DSYNC, 512  156 (142-178)  -6.4%   167 (154-207)  -7.0%
//	growing file (AOF)     220 (187-272) +30.3%   284 (232-470) +45.2%
//	fallocated space       161 (144-198)  -0.9%   246 (226-324) +35.8%
//
// This file system (ext4 on /dev/vda) has no journal, so fdatasync writes the inode block
// itself whenever it is dirty: on a growing file every time (the size), which is Redis's
// cost (block trace: data write, inode write, flush per append, against the log's data
// write and flush); in fallocated space whenever a write converts an unwritten extent;
// and in a zero-filled segment once per clock tick (4 ms), when a write moves the
// modification time. Zero-filled segments stay the cheapest buffered pattern; sector-sized
// direct writes do not beat whole-block ones.
package wal
