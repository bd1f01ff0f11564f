package model

// Matching operations (20..39). Write operations go through the log; their events are
// applied in order by package match, each with its own result.
const (
	OperationCreateInstruments Operation = 20 // Events: Instrument. Results: EventResult.
	OperationPlaceOrders       Operation = 21 // Events: Order. Results: OrderResult.
	OperationCancelOrders      Operation = 22 // Events: OrderCancel. Results: OrderResult.
	OperationReplaceOrders     Operation = 23 // Events: OrderReplace. Results: OrderResult.
	OperationMassCancel        Operation = 24 // Events: MassCancel. Results: MassCancelResult.
	OperationLookupInstruments Operation = 25 // Events: instrument id. Results: Instrument.
	OperationLookupOrders      Operation = 26 // Events: order id. Results: OrderState found.
	OperationGetAccountOrders  Operation = 27 // Event: one OrderFilter. Results: OrderState.
	OperationGetDepth          Operation = 28 // Event: one DepthFilter. Results: DepthLevel.
	// OperationGetBook is the market-data snapshot: one DepthFilter in, a BookHeader (the
	// instrument's market-data sequence and the op the book reflects) then DepthLevels out.
	OperationGetBook Operation = 29
)

// DepthLevelsPerSideMax bounds the levels per side of one get_depth reply: both sides
// together (8,188 levels of 32 bytes) stay within one request's worth of results.
const DepthLevelsPerSideMax = EventsPerRequestMax / 2

func init() {
	registerOperation(OperationCreateInstruments, OperationInfo{Name: "create_instruments",
		EventSize: InstrumentSize, ResultSize: EventResultSize, Write: true, Matching: true,
		EventsMax: EventsPerRequestMax, ResultsMax: EventsPerRequestMax})
	registerOperation(OperationPlaceOrders, OperationInfo{Name: "place_orders",
		EventSize: OrderSize, ResultSize: OrderResultSize, Write: true, Matching: true,
		EventsMax: EventsPerRequestMax, ResultsMax: EventsPerRequestMax})
	registerOperation(OperationCancelOrders, OperationInfo{Name: "cancel_orders",
		EventSize: OrderCancelSize, ResultSize: OrderResultSize, Write: true, Matching: true,
		EventsMax: EventsPerRequestMax, ResultsMax: EventsPerRequestMax})
	registerOperation(OperationReplaceOrders, OperationInfo{Name: "replace_orders",
		EventSize: OrderReplaceSize, ResultSize: OrderResultSize, Write: true, Matching: true,
		EventsMax: EventsPerRequestMax, ResultsMax: EventsPerRequestMax})
	registerOperation(OperationMassCancel, OperationInfo{Name: "mass_cancel",
		EventSize: MassCancelSize, ResultSize: MassCancelResultSize, Write: true,
		Matching: true, EventsMax: EventsPerRequestMax, ResultsMax: EventsPerRequestMax})
	registerOperation(OperationLookupInstruments, OperationInfo{Name: "lookup_instruments",
		EventSize: InstrumentIDSize, ResultSize: InstrumentSize, Matching: true,
		EventsMax: EventsPerRequestMax, ResultsMax: EventsPerRequestMax})
	registerOperation(OperationLookupOrders, OperationInfo{Name: "lookup_orders",
		EventSize: OrderIDSize, ResultSize: OrderStateSize, Matching: true,
		EventsMax: EventsPerRequestMax, ResultsMax: EventsPerRequestMax})
	registerOperation(OperationGetAccountOrders, OperationInfo{Name: "get_account_orders",
		EventSize: OrderFilterSize, ResultSize: OrderStateSize, Query: true, Matching: true,
		EventsMax: 1, ResultsMax: EventsPerRequestMax})
	registerOperation(OperationGetDepth, OperationInfo{Name: "get_depth",
		EventSize: DepthFilterSize, ResultSize: DepthLevelSize, Query: true, Matching: true,
		EventsMax: 1, ResultsMax: 2 * DepthLevelsPerSideMax})
	registerOperation(OperationGetBook, OperationInfo{Name: "get_book",
		EventSize: DepthFilterSize, ResultSize: DepthLevelSize, Query: true, Matching: true,
		EventsMax: 1, ResultsMax: 1 + 2*DepthLevelsPerSideMax})
}
