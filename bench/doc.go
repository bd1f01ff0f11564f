// Package bench is `sequent bench`: a load generator that speaks the public protocol
// only (netio/client and core/model; no server internals), measures every latency into
// HdrHistograms and checks the ledger's invariant over its own accounts at the end.
//
// # What a run does
//
//  1. Opens Config.Connections sessions (one client.Client each).
//  2. Creates what the workload needs, idempotently (create answers created or exists):
//     the transfer workloads' accounts; for orders an instrument, one base and one
//     quote account per trader and their funding from two issuers. Ids derive from the
//     seed, so a rerun with the same seed reuses them; transfer ids and client order ids
//     also derive from the run id, so reruns never collide. It then reads every account's
//     balances.
//  3. Runs the load for the warm-up plus Duration (or until Count measured requests):
//     closed loop (each connection keeps Inflight requests outstanding and sends the next
//     as soon as one completes) or open loop (requests are due on a fixed grid at Rate
//     requests/s over all connections; each request's latency runs from the time it was
//     due, not from when it could be sent, so a stalled server shows up in every request
//     that waited — no coordinated omission). A due request that finds the window full
//     waits and is sent late; due requests never sent by the end are counted
//     (requests_unsent), not hidden.
//  4. Settles what is left: on each connection with a request of unknown outcome, one
//     lookup per shard (and, with orders, one of the instrument), answered once the
//     requests sent before it are applied (run.barrier); then requests without a reply
//     are looked up by id, open orders are mass-canceled. Then it reads every account
//     back and checks, per ledger over the bench's accounts, Σ debits = Σ credits
//     (posted and pending), and for the transfer workloads that each account moved by
//     exactly what the transfers the server reported created add up to. Any mismatch
//     makes Report.InvariantOK false.
//
// # Workloads (Config.Mix, chosen per request by weight)
//
//   - single: single-phase transfers between two accounts picked uniformly, by Zipf
//     rank, or from a hot set (Config.Choice).
//   - two-phase: each event creates a pending transfer or, half the time when one is
//     waiting, resolves the oldest created one: post or void, 50/50.
//   - linked: chains of 2 to 4 linked transfers filling the request (all-or-nothing).
//   - orders: one instrument, exchange-core's mix: 9% GTC (passive within 300 ticks of
//     the center while the connection's book is below its share of ~1,000 resting
//     orders, else small and crossing), 3% IOC (small, crossing), 6% cancel, 82% move
//     (cancel-replace by 1 to 3 ticks; one in 200 crosses). A request carries Events
//     commands of one kind (fewer cancels or moves when fewer orders are open).
//
// Every per-event result code and every request-level status is counted. A request's
// latency ends when its worker takes the reply off its channel (at most one request build
// after it arrived); each event's latency is its request's, so the per-event histogram
// is the per-request one weighted by events per request.
//
// # Callers mode
//
// With Config.Callers, the load is that many goroutines ("callers"), spread round-robin
// over the connections, each calling client.CreateTransfers with Events transfers and
// waiting for its results before the next call — how a payment gateway's request
// handlers call a ledger. The client merges concurrent calls of one connection into
// shared requests (client.Config.CoalesceEventsMax; Config.CoalesceEventsMax -1 turns
// that off, for comparison). A caller is a worker with one slot whose send is the
// blocking call; the report's "requests" are calls and their latency is per call. The
// callers of one connection share a few recorders (their histograms; recordersOf). A caller
// calls client.CreateTransfersInto with a results slice of its own and settles from a
// reply buffer of its own, so that in steady state it allocates nothing per call.
// Per call, a caller reads the clock once (when it settles) and takes its recorder's
// lock once (the call is counted as sent then, with its outcome): the closed
// loop's next call starts at that reading, so a call's latency also holds the caller's
// own build and settle before it (worker.settleCall; BenchmarkCallerBookkeeping). With one
// event per call a caller's worker and buffers are one allocation (oneEventCaller), and
// its latency is recorded once for both histograms (sample.oneEventLatency): each of
// hundreds of callers comes back to its state cold after every call
// (BenchmarkCallerBookkeepingYielding).
//
// # Wire driver
//
// With Config.Driver DriverWire (`--driver wire`) the measured load is driven without the
// Go client: one goroutine per connection speaks the binary protocol itself
// (netio/PROTOCOL.md, encoded and checked with netio/wire; wire_driver.go). It logs in as
// section 5 says (challenge, HMAC-signed login, login_accepted; a random session id,
// checked frames) and then repeats: refill every free slot of the Inflight window, the
// frames of the burst encoded into one buffer and written with one write; one read of
// whatever replies arrived (at least 64 KiB of room); each reply checked (checksum, kind,
// session, a number waiting for a reply, the operation) and settled by the same code as
// the client driver's (worker.settleSlot), into the same recorders. A request's latency
// runs from the moment it is built into the burst to the moment its reply is decoded.
// Request numbers stay within the server's exactly-once window (section 7) and are mapped
// to slots by a ring of that size, so steady state allocates nothing.
//
// Why: at 32 connections × 16 in flight the Go client costs the generator about as much
// CPU per request as the server spends, on the same machine; redis-benchmark, which the
// bench/PERFORMANCE.md compares with, is a lean event loop. The wire driver is the like-for-like
// generator.
//
// It is a measuring instrument, not a client: it never reconnects or resends. A lost
// connection, an error frame, a frame it does not expect (a kind other than reply or
// heartbeat, a reply to a number not waiting for one, a duplicate) or a damaged frame
// ends the run with an error naming the connection (the others stop and drain first).
// Replies the client would resend or follow (busy, log_unavailable, not_primary) are
// counted under their status as refusals (nothing was applied); outcome_unknown is
// counted in unknown_outcomes and its transfers looked up at the end, as the client's
// OutcomeUnknownError is. An interrupt stops sending and drains the replies still on
// their way; requests without a reply at the drain deadline are abandoned, barrier
// lookups on their connection (one on each shard) wait for the server to have handled
// them, and the final check looks their transfers up. Closed loop of the transfer
// workloads only (no open loop, callers, orders or market-data subscribers: Validate
// refuses them). The setup (accounts, balances) and the final check use the Go client
// on one extra connection.
//
// # Threading
//
// One worker goroutine per connection (or per caller) owns everything about its
// requests (slots, the random source, pending transfers, open orders); its client's
// reader goroutine only hands completed calls back over a channel with room for every
// call in flight. A worker records each measured completion into its connection's
// recorder, or in the callers mode one of its connection's few (recordersOf), a sample
// under a mutex; the collector goroutine swaps each recorder's
// sample out once a second (and at the end of the warm-up), merges it into the run's
// total, writes the interval log and prints the
// progress line. Expected balances are shared atomics, which each worker adds its
// created transfers to in batches of settledEffectsMax, and the rest when it stops
// (flushAccounted), before the final check reads them. Run returns after every worker
// and the collector have stopped; nothing outlives it. Every queue, slot array and
// buffer is bounded (limits.go).
//
// # Outputs
//
// The report also gives the CPU time of the load (cpu.go): the process's own (getrusage),
// per event sent, and the machine's idle share (/proc/stat), read when the load starts
// and once every worker has returned, so that runs on a shared machine compare by CPU
// per event and show whether the machine had cores to spare; over the same window, the
// scheduler's figures (runtime/metrics): how long goroutines waited, runnable, for a
// processor, and the mutex wait per event sent.
//
// Run returns a Result: the Report (its JSON fields are listed in bench/README.md) and
// the total per-request and per-event histograms. WriteText prints the report for
// people, WritePlot draws the latency-by-percentile chart as SVG, and Config.IntervalLog
// receives an HdrHistogram interval log (one untagged per-request histogram and one
// "events" histogram per second; values in ns).
package bench
