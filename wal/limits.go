package wal

import "time"

// Bounds of the write-ahead log. Each is a named constant with the reason for its value;
// Options.validate checks every configurable one at Open.
const (
	// EntryBodyBytesMax bounds one entry's raw body. The largest sequencer batch is 8189
	// records of 128 bytes (1,048,192 bytes) plus its framing; 2 MiB leaves room for a
	// batch of larger records without letting one entry dominate a segment.
	EntryBodyBytesMax = 2 << 20

	// SegmentBytesDefault is the size of a segment file. 64 MiB holds ~300 full batches
	// after s2 compression (~215 KB each) or ~32 uncompressed ones, so rolling over
	// (one extra fdatasync) happens at most every few hundred milliseconds at full speed,
	// while recovery re-reads at most 64 MiB of tail per segment (~30 ms of SHA-256).
	SegmentBytesDefault = 64 << 20

	// SegmentBytesMin is the smallest segment that holds the largest possible entry: an
	// entry never spans segments, and stored bytes never exceed raw bytes (a body that does
	// not shrink is stored raw).
	SegmentBytesMin = segmentHeaderSize + entryHeaderSize + EntryBodyBytesMax

	// SegmentBytesMax keeps offsets inside a segment below 2^32, because the entry header
	// stores the synced offset in 32 bits, and bounds the work of scanning one segment.
	SegmentBytesMax = 1 << 30

	// PipelineDepthDefault is how many entries Append may queue ahead of the disk. Full
	// batches cost ~0.5 ms of CPU each to compress and hash against ~0.3 ms of
	// write+fdatasync, so the encoders need work queued while the writer syncs: measured
	// with full batches, 16 slots give ~2.6 GB/s where 8 give ~2.3 GB/s (groups of ~9
	// entries instead of ~6 absorb fdatasync jitter). Memory is bounded by 16 × ~4.5 MiB
	// for maximum-size bodies, ~36 MiB for full batches.
	PipelineDepthDefault = 16

	// pipelineDepthMax bounds the memory the pipeline may hold (64 × ~4.5 MiB) and the
	// number of iovecs in one group write (well under IOV_MAX, 1024).
	pipelineDepthMax = 64

	// EncoderCountDefault is how many goroutines compress and hash large bodies. One full
	// batch costs ~0.52 ms of CPU (s2 0.42 ms, SHA-256 of the stored bytes 0.1 ms)
	// against ~0.3 ms of write+fdatasync: one encoder reaches ~1.6 GB/s, two ~2.6 GB/s
	// on this 2-core machine; more than the cores only adds switching.
	EncoderCountDefault = 2

	// encoderCountMax bounds the goroutines Open starts.
	encoderCountMax = 16

	// encodeInlineBytesMax is the body size up to which the writer goroutine compresses
	// and hashes the entry itself: 64 KiB costs ~35 µs, about one cross-core hand-off
	// (~20 µs on this VM), so handing small bodies to an encoder would only add latency.
	encodeInlineBytesMax = 64 << 10

	// deferBytesMax is the largest body AppendDeferred leaves for the appender to write
	// itself (deferred.go). Deferring saves two goroutine wake-ups (appender → writer,
	// writer → appender: ~20 µs each on this 2-vCPU VM) but gives up the overlap of the
	// entry's encoding, write and fdatasync with its apply. On paper that pays only while
	// the apply is shorter than the two wake-ups (~130-285 transfers, 17-36 KB, at
	// ~140-300 ns a transfer). In the server it is bounded by the inline-encoding bound
	// instead, because that overlap needs a second P, and the network event loop holds
	// one while it blocks in epoll_wait (gnet calls it as a plain syscall), so the writer
	// woken for a mid-size entry runs only once the sequencer sleeps, after the apply:
	// measured with 200-transfer requests (25.6 KB, one in flight, interleaved, shared
	// VM, medians of 4), a 16 KiB bound gave server p50 0.49 ms and p99 24 ms against
	// 0.435 and 11 ms with this one; only with GOMAXPROCS=3 was it better (p99 0.67 against
	// 2.3 ms, p50 equal; medians of 3). bench/PERFORMANCE.md. A full batch (1 MiB) is never
	// deferred: the encoders get the event loop's P back from sysmon within a few ms at
	// worst, so part of their work overlaps the ~3-4 ms apply (all of it when a P is free).
	deferBytesMax = encodeInlineBytesMax

	// s2BlockBytes is the raw size of each s2 block of a compressed body. Measured on
	// full batches of transfer records: one 1 MiB block compresses at ~1.8 GB/s (ratio
	// 4.84), 64 KiB blocks at ~2.5 GB/s (ratio 5.06), because the encoder's tables stay
	// in L1/L2 and offsets fit 16 bits; smaller blocks gain nothing more.
	s2BlockBytes = 64 << 10

	// compressBytesMin is the raw size below which a body is stored raw without trying:
	// a body of one or two records saves a few dozen bytes at best.
	compressBytesMin = 256

	// compressSavingsDivisor: a compressed body is kept only if it saves at least
	// 1/compressSavingsDivisor of the raw size; otherwise decompressing on every read
	// costs more than the bytes saved.
	compressSavingsDivisor = 8

	// SyncIntervalDefault is the fdatasync period under SyncInterval: 2 ms bounds the loss
	// window to a few batches while cutting syncs by an order of magnitude under load.
	SyncIntervalDefault = 2 * time.Millisecond

	// syncIntervalMax bounds the loss window an operator can configure.
	syncIntervalMax = time.Second

	// readBufferBytes is the window a segment reader keeps: it must hold one whole entry
	// (header plus the largest stored body) and is large enough that reading a segment
	// costs few syscalls.
	readBufferBytes = 4 << 20

	// zeroFillChunkBytes is the write size used to zero-fill a new segment: large enough
	// for few syscalls, small enough to stay in cache.
	zeroFillChunkBytes = 1 << 20

	// recentChainCountMax is how many (op, chain) pairs ChainAt answers from memory. A
	// demoted primary looks for the last op it shares with the new primary, which is at
	// most a pipeline or a replication window behind; 4096 entries (160 KiB) covers it,
	// and older ops are found by scanning segment headers.
	recentChainCountMax = 4096

	// snapshotBufferBytes is the write and read buffer size for snapshot files.
	snapshotBufferBytes = 1 << 20

	// TailQueueBytesMaxDefault bounds the entries a Tail keeps queued for its follower
	// (64 MiB: tens of full entries). Beyond it the follower is lagging: the queue is
	// dropped and the follower reads the log instead, so it costs memory never past this.
	TailQueueBytesMaxDefault = 64 << 20
)

// Relations between the constants, checked at compile time: each line fails to build
// (constant underflow) if the relation breaks.
const (
	_ uint = readBufferBytes - (entryHeaderSize + EntryBodyBytesMax) // a window holds an entry
	_ uint = SegmentBytesDefault - SegmentBytesMin                   // the default is usable
	_ uint = SegmentBytesMax - SegmentBytesDefault                   // and allowed
	_ uint = pipelineDepthMax - PipelineDepthDefault
	_ uint = encoderCountMax - EncoderCountDefault
	_ uint = EntryBodyBytesMax - encodeInlineBytesMax
	_ uint = encodeInlineBytesMax - deferBytesMax // a deferred body is encoded by its writer
	_ uint = 1<<32 - 1 - SegmentBytesMax          // synced offsets fit in 32 bits
)
