package shard

import (
	"time"

	"sequent/core"
	"sequent/core/model"
)

// Bounds of the shard runtime.
const (
	// RingBytesDefault is the input ring (64 MiB): enough for ~60 maximal requests or
	// ~400,000 one-transfer requests to wait while the sequencer works. Past it, Submit
	// answers busy at once; nothing queues without bound.
	RingBytesDefault = 64 << 20

	// RingRequestsDefault bounds queued requests regardless of size.
	RingRequestsDefault = 1 << 16

	// EntryBytesMaxDefault bounds one entry body: two maximal requests (2 × ~1 MiB), so a
	// full entry of 16,378 transfers costs one write and one fdatasync.
	EntryBytesMaxDefault = 2 * (core.RequestHeaderSize + model.RequestBodyBytesMax)

	// InFlightEntriesMaxDefault bounds entries applied but not yet durable: with ~0.35 ms
	// per group commit and entries of up to 2 MiB, 64 in flight cover a slow disk hiccup
	// without letting memory for parked replies grow without bound (64 × ~2.4 MiB worst).
	InFlightEntriesMaxDefault = 64

	// UndurableEntriesMaxDefault is group commit at the sequencer (Config.
	// UndurableEntriesMax): while an entry is being synced, what arrives waits in the ring
	// and becomes one entry when the sync ends, instead of an entry per turn that would
	// wait for the same next sync anyway. Small requests under load then share entries by
	// the hundred instead of a few per entry (each entry costs an append, an apply and a
	// release); a full entry's worth of input is never held back. 2 (one entry waiting
	// behind the sync) measured worse: its requests wait one more sync
	// (bench/PERFORMANCE.md, issue 15).
	UndurableEntriesMaxDefault = 1

	// SnapshotMinimumIntervalDefault spaces snapshot requests: each costs a background
	// pass over the whole state, so they are taken every few seconds at most.
	SnapshotMinimumIntervalDefault = 10 * time.Second

	// SnapshotsKeptDefault keeps the newest two snapshots, so a damaged newest one still
	// leaves an older one to start from.
	SnapshotsKeptDefault = 2

	// reportsKeptPerClient is how many recent execution reports a client can ask to be
	// replayed after a reconnect (128 bytes each: 512 KiB per client with reports).
	reportsKeptPerClient = 4096

	// reportReplayBatch is how many reports a replay hands over at once.
	reportReplayBatch = 256

	// cancelSessionRetryInterval spaces the retries of a cancel-on-disconnect that found
	// cancelsPendingMax others waiting (SessionClosed): each retry takes the ring's mutex.
	cancelSessionRetryInterval = 10 * time.Millisecond

	// CloseTimeoutDefault bounds the wait for releases at shutdown.
	CloseTimeoutDefault = 5 * time.Second

	// LogHoldBytesMaxDefault bounds the log kept for a lagging consumer (change capture
	// with its sink down): 64 GiB, hours of full load, before retention goes on without it.
	LogHoldBytesMaxDefault = 64 << 30

	// freshRangesQueuedMax bounds the fresh ranges offered to the populater and not yet
	// taken (populate.go): a ledger offers at most one spare chunk for each of its four
	// transfer-path arrays and one successor for each of its three id tables at a time,
	// so eight hold them all; past it, offers are refused at once, never waited for.
	freshRangesQueuedMax = 8

	// populateStepBytes is how much the populater faults in per system call: one huge
	// page (2 MiB). After each step it publishes its progress (which a growing id table
	// reads to skip the part done) and checks for a stop, so stopping waits one step at
	// most: ~0.85 ms in 4 KiB pages (medians of two runs of 32 steps on fresh mappings,
	// load ~6; the slowest step 12 ms).
	populateStepBytes = 2 << 20

	// PulseIntervalDefault is how often an idle sequencer checks for due expiries.
	PulseIntervalDefault = 100 * time.Millisecond
)
