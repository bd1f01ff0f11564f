package bench

import (
	"time"

	"sequent/core/model"
	"sequent/netio/client"
)

// Bounds of the load generator. Each is a named constant with the arithmetic that
// justifies it; Config.Validate rejects settings outside them.
const (
	// ConnectionsMax bounds Config.Connections. Each connection is one session, one
	// goroutine here and two latency histograms of ~190 KiB (plus its share of the
	// collector's), so 128 connections cost ~50 MiB of histograms; the server accepts 1024
	// connections by default and a 2-core machine saturates long before.
	ConnectionsMax = 128

	// CallersMax bounds Config.Callers: each caller is a goroutine with its own generator
	// state (~1 KiB plus its pending-transfer queue when two-phase is in the mix); the
	// callers of one connection share its latency histograms.
	CallersMax = 4096

	// InflightMax bounds requests outstanding per connection: the client's default window
	// (128), which stays below the server's exactly-once window of 256 request numbers.
	InflightMax = client.InflightMaxDefault

	// EventsMax is the most events in one request (8189 records of 128 bytes fill the
	// protocol's 1 MiB request).
	EventsMax = model.EventsPerRequestMax

	// AccountsMax bounds Config.Accounts. The expected-balance arrays take 4 × 8 bytes per
	// account (32 MiB at the bound); setup creates and reads every account back (123
	// requests per million accounts).
	AccountsMax = 1 << 20

	// outstandingEventsMax bounds connections × inflight × events: every outstanding event
	// keeps its metadata here (64 bytes) and its encoded frame in the client (≤ 128 bytes),
	// so the bound costs at most ~200 MiB: 128 requests of 8189 events.
	outstandingEventsMax = 128 * EventsMax

	// latencyNsMin and latencyNsMax are the histograms' range: 1 µs (loopback round trips
	// take tens) to one hour (longer latencies are recorded as one hour). Three significant
	// digits keep every percentile within 0.1%; the counts array is ~190 KiB.
	latencyNsMin             = int64(time.Microsecond)
	latencyNsMax             = int64(time.Hour)
	latencySignificantDigits = 3

	// progressInterval is the period of the progress line and of the interval log.
	progressInterval = time.Second

	// DrainTimeoutDefault bounds the wait for outstanding replies once the load stops;
	// requests still unanswered then are abandoned and counted as failed.
	DrainTimeoutDefault = 30 * time.Second
	// verifyTimeout bounds setup and the final read-back (each request pipelined; a
	// million accounts is 123 lookups).
	verifyTimeout = 2 * time.Minute

	// unknownEventsMax bounds the transfers of failed requests (outcome unknown) kept for
	// the final lookup; past it the invariant check cannot account for every transfer.
	unknownEventsMax = 1 << 20

	// pendingQueueMax bounds the pending transfers per connection waiting for their post
	// or void; when full, every two-phase event resolves one.
	pendingQueueMax = 1 << 16
	// callerPendingQueueMax is the same bound per caller (Config.Callers): a caller has
	// one call outstanding, so a short queue keeps thousands of callers small.
	callerPendingQueueMax = 256

	// settledEffectsMax is how many created transfers a worker (a connection, or a
	// caller) holds before adding them to the expected balances in one go
	// (expectedBalances.applyBatch): 64 × 24 bytes, 1.5 KiB per caller.
	settledEffectsMax = 64

	// statusSlots is the number of result-code counters: every defined status is below
	// 300; larger ones are counted in the last slot.
	statusSlots = 512

	// problemsMax bounds the invariant problems listed in the report.
	problemsMax = 16

	// statusBodyBytesMax bounds the server status document read; statusTimeout bounds the
	// request for it.
	statusBodyBytesMax = 1 << 20
	statusTimeout      = time.Second
	// statusLinesMax bounds the changed status fields the text report lists (the JSON
	// report has them all).
	statusLinesMax = 40
)

// Workload shapes.
const (
	// transferLedger is the ledger of the transfer workloads' accounts; orderBaseLedger
	// and orderQuoteLedger are the order workload's assets.
	transferLedger   = 1
	orderBaseLedger  = 2
	orderQuoteLedger = 3
	accountCode      = 1
	transferCode     = 1

	// transferAmountMax bounds a transfer's amount (1..100): sums over any run fit in 64
	// bits by a factor of millions.
	transferAmountMax = 100

	// chainLengthMin and chainLengthMax bound linked chains (all-or-nothing groups).
	chainLengthMin = 2
	chainLengthMax = 4

	// AccountsDefault and TradersDefault are the account counts when Config.Accounts is
	// 0: 10,000 ledger accounts, or exchange-core's 1,000 traders for the order mix.
	AccountsDefault = 10_000
	TradersDefault  = 1_000

	// ordersRestingTarget is the book size the order mix keeps (exchange-core: ~1,000
	// resting orders); each connection keeps its share.
	ordersRestingTarget = 1_000
	// liveOrdersMax bounds the open orders one connection tracks.
	liveOrdersMax = 1 << 16
	// orderCenterPrice, orderSpreadTicks: passive orders rest within 300 ticks of the
	// center (tick 1, lot 1); aggressive ones cross by up to the spread.
	orderCenterPrice = 100_000
	orderSpreadTicks = 300
	// orderQuantityMax is the instrument's largest order (lots).
	orderQuantityMax = 1_000_000
	// fundsBase and fundsQuote fund each trader once: 2^40 base units and 2^52 quote
	// units cover 10^8 of the largest holds (100 lots at 100,300).
	fundsBase  = 1 << 40
	fundsQuote = 1 << 52
	// orderPickTries bounds the random probes for an open order that is not busy.
	orderPickTries = 8
)
