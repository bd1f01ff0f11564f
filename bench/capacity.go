package bench

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"sequent/core/model"
)

// The server sizes each shard's transfer tables (the id table, the records, their links)
// for a capacity given at start (`serve --transfers-capacity`). A shard that stores more
// grows them while it runs: the id table allocates and faults in one twice its size and
// migrates into it a few slots per insert (core/ledger/idtable.go), which costs each
// insert some hundreds of instructions meanwhile (bench/PERFORMANCE.md). A throughput or
// latency figure measured while that happens is not the server's steady state, so the
// embedded server is sized for the run it serves (TransfersCapacityFor) and the report
// says when a run stored more than the server was sized for (TransferTableReport).
const (
	// TransfersCapacityMin is the least TransfersCapacityFor gives: `sequent serve`'s
	// default (2 Mi transfers per shard, ~300 MiB), which short runs stay far below.
	TransfersCapacityMin = 1 << 21
	// TransfersCapacityMax is the most TransfersCapacityFor gives over all shards (but
	// never less than TransfersCapacityMin a shard): 8 Mi transfers, twice what a 12-s
	// run of 512 callers inserts here (3 to 4 M; 5 to 6 M in session 40's runs). The
	// server preallocates and faults in ~150 bytes per transfer of capacity at start (the
	// 128-byte record, 8 bytes of links, a status byte and 16 to 32 bytes of id table):
	// 15 M took 2.3 GiB of RSS and 11 s more to start at load average 30, so a default
	// stops at ~1.2 GiB. Full batches (2 to 3.4 M transfers/s) pass it within seconds,
	// as they passed the old default; their rows size the server explicitly, and a run
	// that stores more is reported (Report.TransferTable), not hidden.
	TransfersCapacityMax = 1 << 23
	// transfersCapacityHeadroomPercent is added to the run's estimate, for a machine
	// somewhat faster than the estimate's rates assume.
	transfersCapacityHeadroomPercent = 25
	// closedLoopTransfersPerSecondMax is the closed loop's assumed ceiling: about three
	// times what 512 callers of one transfer each reach on this project's 2-core machine
	// (300 k/s: 3 to 4 M transfers in 12 s). Full batches go faster (2 to 3.4 M/s,
	// bench/PERFORMANCE.md), and its rows size the server explicitly
	// (--transfers-capacity 41943040): sizing every default run for them would
	// preallocate gigabytes; a run past the estimate is reported instead.
	closedLoopTransfersPerSecondMax = 1_000_000
	// roundTripsPerSecondMax is how often one request in flight can complete at most:
	// one loopback round trip through the server's log takes 50 µs or more, so a closed
	// loop with few events in flight stays far below the ceiling above.
	roundTripsPerSecondMax = 20_000
	// crossShardRecords is what one cross-shard transfer stores: step 1's pending
	// transfer and its post (or void) on the debit shard, the credit on the credit shard.
	crossShardRecords = 3
)

// TransfersCapacityFor returns the transfer capacity per shard to start a server of
// shards shards with for the run config describes: the transfers it can create (every
// event of the transfer workloads stores one record; an order event is counted as one
// too), at the open loop's offered rate or the closed loop's assumed ceiling, over the
// warm-up and the measured time (or Count requests, when that comes first), spread over
// the shards as if every transfer crossed them, with orders the traders' funding at
// setup (two transfers each; TestReview50CapacityCoversTradersFunding), plus
// transfersCapacityHeadroomPercent; at most TransfersCapacityMax over all shards, but never below
// TransfersCapacityMin a shard (which wins on more than four shards).
func TransfersCapacityFor(config Config, shards int) uint64 {
	config = config.WithDefaults()
	events := float64(config.Events)
	perSecond := config.Rate * events
	if perSecond <= 0 {
		inFlight := float64(config.Connections * config.Inflight)
		if config.Callers > 0 {
			inFlight = float64(config.Callers)
		}
		perSecond = min(closedLoopTransfersPerSecondMax,
			inFlight*events*roundTripsPerSecondMax)
	}
	measured := perSecond * config.Duration.Seconds()
	if config.Count > 0 {
		byCount := float64(config.Count) * events
		if config.Duration <= 0 || byCount < measured {
			measured = byCount
		}
	}
	transfers := perSecond*config.Warmup.Seconds() + measured
	if shards > 1 {
		transfers = transfers * crossShardRecords / float64(shards)
	}
	if config.Mix.Has(KindOrders) {
		// The setup funds every trader with two transfers (fundTraders), all debited from
		// the two issuers: on several shards an issuer's shard may take step 1 and the
		// post of each (crossShardRecords - 1), and both issuers may share a shard.
		funding := float64(2 * config.Accounts)
		if shards > 1 {
			funding *= crossShardRecords - 1
		}
		transfers += funding
	}
	transfers *= 1 + transfersCapacityHeadroomPercent/100.0
	most := max(TransfersCapacityMax/uint64(max(shards, 1)), TransfersCapacityMin)
	if math.IsNaN(transfers) || transfers >= float64(most) {
		return most
	}
	return max(uint64(math.Ceil(transfers)), TransfersCapacityMin)
}

// TransferTableReport compares what the run stored on the server's shards with the
// capacity the server sized them for (Config.TransfersCapacity; transfer workloads
// without orders: the traders' funding and every fill store transfers too, which the
// generator does not see, so a run with orders has no report rather than a wrong one).
type TransferTableReport struct {
	// CapacityPerShard is Config.TransfersCapacity.
	CapacityPerShard uint64 `json:"capacity_per_shard"`
	// StoredMost is the most transfer records the run may have stored on one shard, an
	// upper bound: every created transfer, every event of a linked chain (an undone one
	// leaves its id slot taken), two records on the debit shard for every cross-shard
	// transfer tried, and every transfer whose outcome is unknown; not the events a
	// node's router refused before any shard saw them (routerRefused).
	StoredMost uint64 `json:"stored_most"`
	// Grew says that StoredMost passed the capacity: the shard's tables grew during the
	// run (warm-up or measured time), and the figures may include that growth.
	Grew bool `json:"grew"`
}

// countStoredOnShards counts, on a server of several shards, the records each event of a
// request with a reply may have stored (countStored): an event of a linked chain undone
// leaves its id slot taken (a tombstone). On one shard settleTransfers counts only the
// undone linked events, and transferTable takes the created transfers from
// expectedBalances.transfers, which the workers count anyway: an event created costs the
// generator nothing more (callgrind, BenchmarkSettleOneTransfer). An event the router
// refused before any shard saw it (routerRefused) stored nothing.
func (w *worker) countStoredOnShards(body []byte, s *slot) {
	for i := range s.events {
		status := model.Status(binary.LittleEndian.Uint32(body[i*model.EventResultSize+8:]))
		if status != model.StatusOK && w.routerRefused(&s.meta[i], s.kind, status) {
			continue
		}
		w.countStored(&s.meta[i], status == model.StatusOK || s.kind == KindLinked)
	}
}

// routerRefused reports whether an event that failed with status was refused by the
// node's router before any shard saw it: a pending transfer across shards, a post or void
// it cannot place, and every event of a linked chain that spans shards or holds a
// cross-shard transfer (linked_chain_spans_shards, the others linked_event_failed), so
// that a failed linked event that crosses shards was refused with its chain
// (TestReview50RouterRefusalsStoreNothing).
func (w *worker) routerRefused(m *eventMeta, kind Kind, status model.Status) bool {
	switch status {
	case model.StatusLinkedChainSpansShards, model.StatusPendingTransferSpansShards,
		model.StatusPlacementFieldMissing:
		return true
	}
	shardOf := w.run.shardOf
	return kind == KindLinked && shardOf[m.debit] != shardOf[m.credit]
}

// countStored counts the records one transfer event may have stored on each shard;
// created says the event was applied (or may have been). A cross-shard transfer stores
// its step 1 and its post or void on the debit shard even when the credit side
// refused it, so those two count whatever the event's result.
func (w *worker) countStored(m *eventMeta, created bool) {
	shardOf := w.run.shardOf
	if shardOf == nil {
		if created {
			w.stored[0]++
		}
		return
	}
	debit, credit := shardOf[m.debit], shardOf[m.credit]
	if debit == credit {
		if created {
			w.stored[debit]++
		}
		return
	}
	w.stored[debit] += crossShardRecords - 1
	if created {
		w.stored[credit]++
	}
}

// transferTable sums what the workers stored per shard and compares the fullest shard
// with the server's capacity (nil when the capacity is unknown, nothing stores
// transfers, or the run has orders: their setup funds the traders with two transfers
// each and every fill stores transfers, neither seen by the generator, so no bound of
// what a shard stored is known; TestReview50TransferTableCountsWhatTheServerStores).
func (r *run) transferTable(workers []*worker) *TransferTableReport {
	if r.config.TransfersCapacity == 0 || !r.config.Mix.hasTransfers() ||
		r.config.Mix.Has(KindOrders) {
		return nil
	}
	perShard := make([]uint64, max(r.shards, 1))
	if r.shardOf == nil {
		// Every worker has flushed its count (flushAccounted), and verify's resolveUnknown
		// has not yet added the transfers of unknown outcome it finds, which stored counts
		// already (outcomeUnknown): report runs before verify.
		perShard[0] = r.expected.transfers.Load()
	}
	for _, w := range workers {
		for shard, count := range w.stored {
			perShard[shard] += count
		}
	}
	report := &TransferTableReport{CapacityPerShard: r.config.TransfersCapacity}
	for _, count := range perShard {
		report.StoredMost = max(report.StoredMost, count)
	}
	report.Grew = report.StoredMost > report.CapacityPerShard
	return report
}

// writeTransferTable prints the comparison; a run that grew the tables says so first.
func writeTransferTable(w io.Writer, t *TransferTableReport) {
	if t == nil {
		return
	}
	if t.Grew {
		fmt.Fprintf(w, "transfer table: GREW during the run: up to %s transfers stored on a "+
			"shard, above the %s transfers per shard the server was sized for; the figures "+
			"above include that growth (size the server for more: --transfers-capacity)\n",
			grouped(t.StoredMost), grouped(t.CapacityPerShard))
		return
	}
	fmt.Fprintf(w, "transfer table: up to %s transfers stored on a shard, within the %s "+
		"transfers per shard the server was sized for (no growth)\n", grouped(t.StoredMost),
		grouped(t.CapacityPerShard))
}
