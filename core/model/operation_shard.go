package model

// Operations of sharded nodes (issue 13). 7..9 are client-visible queries; 90..99 are
// internal: the router writes them into a shard's log (or asks them as reads) for the
// steps of cross-shard transfers (package core/saga has the records).
const (
	// OperationGetShardMap returns the node's shard map (core/shardmap's encoding), so a
	// client can route by it. No events; one variable-length result.
	OperationGetShardMap Operation = 7

	// OperationSagaCredit is step 2 of a saga, on the credit shard. Events: SagaCredit.
	OperationSagaCredit Operation = 90
	// OperationSagaFinish is step 3 of a saga, on the debit shard: the credit shard's
	// decision, which posts or voids step 1. Events: SagaDecision.
	OperationSagaFinish Operation = 91
	// OperationSagaForget lets a credit shard forget the decisions of one debit shard's
	// sagas below a watermark. Events: SagaForget.
	OperationSagaForget Operation = 92
	// OperationSagaLookup (read) returns the state of the sagas started by transfer ids.
	// Events: 16-byte transfer ids. Results: SagaState.
	OperationSagaLookup Operation = 93
	// OperationSagaOutbox (read) returns the sagas of this shard still waiting for their
	// credit shard's decision, from a sequence number on, after a 32-byte summary.
	// Event: SagaOutboxQuery.
	OperationSagaOutbox Operation = 94
)

// Sizes of the saga records (see package core/saga for their layouts).
const (
	SagaCreditSize        = 160
	SagaDecisionSize      = 128
	SagaForgetSize        = 16
	SagaStateSize         = 160
	SagaOutboxQuerySize   = 16
	SagaOutboxSummarySize = 32
	// SagaOutboxPageMax bounds the sagas one saga_outbox reply lists.
	SagaOutboxPageMax = 4096
	// SagaLookupEventsMax bounds the ids of one saga_lookup (its results fill a reply).
	SagaLookupEventsMax = 4096
)

func init() {
	registerOperation(OperationGetShardMap, OperationInfo{Name: "get_shard_map",
		ResultsMax: 1})
	registerOperation(OperationSagaCredit, OperationInfo{Name: "saga_credit",
		EventSize: SagaCreditSize, Write: true, Internal: true,
		EventsMax: RequestBodyBytesMax / SagaCreditSize})
	registerOperation(OperationSagaFinish, OperationInfo{Name: "saga_finish",
		EventSize: SagaDecisionSize, Write: true, Internal: true,
		EventsMax: RequestBodyBytesMax / SagaDecisionSize})
	registerOperation(OperationSagaForget, OperationInfo{Name: "saga_forget",
		EventSize: SagaForgetSize, Write: true, Internal: true, EventsMax: 1})
	registerOperation(OperationSagaLookup, OperationInfo{Name: "saga_lookup",
		EventSize: IDSize, ResultSize: SagaStateSize, Internal: true,
		EventsMax: SagaLookupEventsMax, ResultsMax: SagaLookupEventsMax})
	registerOperation(OperationSagaOutbox, OperationInfo{Name: "saga_outbox",
		EventSize: SagaOutboxQuerySize, Internal: true, EventsMax: 1,
		ResultsMax: SagaOutboxPageMax})
}
