package model

// Shard and saga statuses (issue 13): 80..89 per event (ledger area), 225..229 reserved
// for request-level statuses of sharded nodes (none defined yet). See package node's doc
// for the design behind them and PROTOCOL.md for what a client does with each.
const (
	// StatusLinkedChainSpansShards: a linked chain whose events are not all on one shard
	// (or that holds a cross-shard transfer). The router refuses the whole chain before
	// any shard sees it: this event left the chain's shard, the others get
	// linked_event_failed.
	StatusLinkedChainSpansShards Status = 80
	// StatusPendingTransferSpansShards: a two-phase (pending) transfer whose accounts are
	// on different shards. Not supported: see package node's doc.
	StatusPendingTransferSpansShards Status = 81
	// StatusPlacementFieldMissing: a post or void on a sharded node names neither its
	// debit account (range or hash placement) nor its ledger (ledger placement), so the
	// router cannot tell which shard holds its pending transfer.
	StatusPlacementFieldMissing Status = 82
	// StatusAccountOnOtherShard: an order's base or quote account is not on the shard of
	// its instrument (its hold would have to cross shards).
	StatusAccountOnOtherShard Status = 83
	// StatusWrongShard: an account sent to a shard that the map does not place it on. The
	// router never does that; a shard refuses it rather than break the placement.
	StatusWrongShard Status = 84
	// StatusInstrumentShardUnknown: a matching command that names only an order (cancel,
	// replace, order lookups, a mass cancel of every instrument) on a node whose map puts
	// instruments on several shards.
	StatusInstrumentShardUnknown Status = 85
	// StatusSagaTimedOut: a cross-shard transfer whose credit shard did not take it within
	// the saga timeout; the debit was released and nothing moved. Like a transient
	// failure, a retry of the same transfer id answers id_already_failed.
	StatusSagaTimedOut Status = 86
	// StatusSagaDecisionUnknown: after a failover that lost part of the debit shard's log
	// (async or degraded replication), the credit shard holds no decision it can match to
	// this saga: its number holds another transfer's decision (a lost saga had it), or its
	// decision was forgotten and no credit was made. Nothing moved; like a transient
	// failure, a retry of the same transfer id answers id_already_failed.
	StatusSagaDecisionUnknown Status = 87
	// StatusSagaInFlight is internal: the provisional result of a transfer that started a
	// saga, in the debit shard's log and session cache. The router replaces it with the
	// saga's final result; it is never sent to a client.
	StatusSagaInFlight Status = 88
	// StatusSagaInFlightRetry is internal: the provisional result of an identical retry of
	// a transfer whose saga is still running. The router replaces it with what the final
	// result means for a retry (exists, id_already_failed or the same failure).
	StatusSagaInFlightRetry Status = 89

	shardStatusStart Status = 80
	shardStatusEnd   Status = 90
)

var shardStatusNames = [shardStatusEnd - shardStatusStart]string{
	StatusLinkedChainSpansShards - shardStatusStart:     "linked_chain_spans_shards",
	StatusPendingTransferSpansShards - shardStatusStart: "pending_transfer_spans_shards",
	StatusPlacementFieldMissing - shardStatusStart:      "placement_field_missing",
	StatusAccountOnOtherShard - shardStatusStart:        "account_on_other_shard",
	StatusWrongShard - shardStatusStart:                 "wrong_shard",
	StatusInstrumentShardUnknown - shardStatusStart:     "instrument_shard_unknown",
	StatusSagaTimedOut - shardStatusStart:               "saga_timed_out",
	StatusSagaDecisionUnknown - shardStatusStart:        "saga_decision_unknown",
	StatusSagaInFlight - shardStatusStart:               "saga_in_flight",
	StatusSagaInFlightRetry - shardStatusStart:          "saga_in_flight_retry",
}

func init() {
	statusNameTables = append(statusNameTables, func(s Status) (string, bool) {
		if s < shardStatusStart || s >= shardStatusEnd {
			return "", false
		}
		name := shardStatusNames[s-shardStatusStart]
		return name, name != ""
	})
}

// Provisional reports whether s is one of the internal saga statuses that a router
// replaces before a client sees the result.
func (s Status) Provisional() bool {
	return s == StatusSagaInFlight || s == StatusSagaInFlightRetry
}
