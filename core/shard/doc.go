// Package shard is the runtime that drives one shard's deterministic core: a bounded input
// ring filled by the network layer, and one sequencer goroutine that drains it in
// batches, stamps op numbers and timestamps, hands each batch to the write-ahead log,
// applies it to the core, and releases the replies once the log (and, in sync mode, the
// standby) has made the batch durable.
//
// Unlike the rest of core/, this package owns goroutines and reads the clock; it reaches
// the disk and the network only through small interfaces (wal.Appender, Replier).
//
// # Every accepted request is answered once
//
// Submit either refuses a request at once (busy, shutting_down, log_unavailable, a bad
// shape) or accepts it, and an accepted request gets exactly one reply, in log order per
// shard: its result once durable; or, when the shard stops, shutting_down (Close: after
// CloseTimeout, counted from the Close call); or, when the log fails, outcome_unknown (its
// entry was written but not confirmed durable: it may be applied at the restart) or
// log_unavailable (it was never appended: not applied). That holds wherever the request
// is at that moment: parked after its entry was written, in the turn whose append failed,
// or still in the ring (including one whose producer was copying it in when the ring
// closed). shutting_down means "outcome unknown" for a written request and "not applied"
// for one still queued; either way the client resends with the same number, and
// exactly-once sessions make the resend safe.
//
// # A failed or full log
//
// A full log (wal.ErrLogFull: the disk has no room for the next segment) is not a failure:
// the turn's writes are answered log_unavailable, nothing of them appended or applied,
// and writes go through again once the log has room. A new grant table that finds no
// room is retried every turn and pulse; until it is logged, every request taken from the
// ring (reads included, since nothing may be decided under the old table) is answered
// log_unavailable. These refusals are parked like an entry's replies, in the order the
// turn took the requests, so they leave after the replies parked before them: a
// connection's replies keep its requests' order (PROTOCOL.md section 6). They stay
// log_unavailable if the log fails or Close gives up before then (a fence answers them
// outcome_unknown, as everything it holds). A failed log (a sticky I/O error)
// is final for this process, which stays up to say so: release first hands out every
// reply the log had made durable (and the standby acknowledged) before failing, the rest
// of the parked replies get outcome_unknown, and from then on the sequencer answers
// writes with log_unavailable and reads from the state only when it holds nothing of
// unknown outcome (every applied entry had been released) and the read gate allows reads
// (a primary past its witness lease answers them log_unavailable), until Close. Done closes only
// after Close; Err reports the failure. The log is never resumed in process: an operator
// fixes the cause and restarts, and recovery decides what the log holds.
//
// # The server's own entries
//
// Besides client requests the primary writes internal requests of its own: pulses (time
// moves, so pending transfers and orders expire), snapshot markers, audit records,
// cancel_session (cancel-on-disconnect) and set_grants (the keys file's grant table and
// client limits, logged before the requests it decides: at start, after a reload, after
// a promotion; grants.go), and upgrade_rules, the first request of the first write entry
// of a primary whose machine is below the current rules version (rules.go; package core,
// "Rules version"), or of a set_grants entry carrying client limits, which need version
// 3. Replicas apply them like any entry.
//
// A cancel_session goes into the ring when its session ends (SessionClosed, on an event
// loop), so it comes after every request queued before and before every request queued
// after. With the ring full it waits in the ring (inputRing.pushCancel, at most
// cancelsPendingMax clients) and the ring refuses every other request (busy) until the
// sequencer's next release has made room and queued it: it cannot cancel what the client
// placed after (PROTOCOL.md section 5), and is dropped only when the ring closes or the
// log fails (nothing more is logged then). Past cancelsPendingMax waiting clients, more
// than a keys file names, a goroutine of its own retries the push every
// cancelSessionRetryInterval, and that ordering is not kept. A cancel_session a full log
// refuses (its turn answered log_unavailable) is kept by the holder of turns
// (Shard.cancelsRefused, one per client, at most cancelsPendingMax) and logged before any
// other write of a later turn; while one is kept and the log refuses it, that turn's
// writes are refused log_unavailable without trying the log, so none is logged ahead of
// it. Reads are answered as before. A standby drops kept cancels. A fenced shard logs
// nothing more of its own (refuseFenced, and appendAndApply, for a fence that lands
// after the turn's check) and releases nothing (release): every turn answers what is
// parked, then what the ring holds, outcome_unknown without logging it, and drops the
// kept cancels. A cancel_session
// dropped when the shard closes, its log fails or it is fenced (waiting for room, queued,
// in the failed turn, or kept) or kept when it becomes a standby is logged at error
// level: its client's orders stay open, and nothing else records it.
//
// The sequencer checks this promise: the ring counts the requests it accepts, the
// sequencer the answers it gives, and the two must match when it stops; with the
// invariants (or race) build tag every request is also tracked from the moment it is taken,
// so a second answer stops the shard at once. It also asserts op continuity (an entry's
// requests get exactly the next ops and one reply each) and that releases never go back.
//
// # Sharded nodes
//
// In a node with several shards (package node), the node's router submits the saga steps
// and its reads of saga state with SubmitInternal, and OnRelease hands it each released
// output, whose saga messages may leave only then (the same rule as replies).
//
// # Group commit
//
// The log writes every entry waiting when it starts a group (one write, one fdatasync),
// so entries appended during a sync cost one sync; but every entry still costs an
// append, an apply and a release. With UndurableEntriesMax (1) entry appended and not yet
// durable, the sequencer therefore leaves the ring alone until the log syncs (unless a
// full entry's bytes are queued): what arrives meanwhile becomes one entry when the sync
// ends, written by the next sync as it would have been anyway; the cost is the wake-up
// and append between two syncs. Under load with small requests an entry then holds
// ~140 requests instead of ~4 (bench/PERFORMANCE.md, issue 15 figures).
//
// Not built (session 38): a hold after a large release, the sequencer leaving the ring
// alone until as many requests as it just released are back or a short bound passes,
// so that the callers a release wakes join the next sync. With the Go client's merged
// requests there is nothing for it to wait for: at most one merged request is on its
// way per client (netio/client, openRequestsPendingMax), so with 512 one-transfer
// callers every entry held exactly one request (`sequent bench --embedded --callers 512
// --events 1 --connections 1 --inflight 4`: 9,679 entries for 9,679 requests, ~261
// transfers each), and the callers a release wakes are held in the client, behind the
// request formed meanwhile, not in the ring. The same wait is done where they are: the
// client holds its next merged request for them (netio/client coalesce.go, "Rejoin").
//
// # One request at a time (who writes the log)
//
// A request costs a goroutine hand-off (a wake-up, ~20 µs on a 2-vCPU VM when the other
// core is idle) each time it passes from one goroutine to another. With a real log
// (wal.Log) and nothing else waiting in the ring, the sequencer does not hand its entry
// to the log's writer goroutine: it appends with AppendDeferred, applies the entry, and
// at the start of release calls WriteDeferred, which writes and fdatasyncs the entry on
// the sequencer's own goroutine when the writer is idle (the writer wakes for it only
// when it is busy with an earlier group), so release finds it durable in the same turn.
// One request then costs two hand-offs instead of four: event loop → sequencer (Submit's
// wake) and sequencer → event loop (the reply's AsyncWrite); the writer → sequencer wake
// (DurableNotify) and sequencer → writer wake are gone (bench/PERFORMANCE.md). The
// sequencer does nothing else during that fdatasync; it would otherwise sleep until it
// ends. With input waiting in the ring (load), the entry goes to the writer at once with
// Append, as before, so that the sync overlaps the entry's apply and the ring's hold
// (group commit above) is unchanged; so does a large entry (above wal's deferBytesMax,
// 64 KiB: a full batch's ~0.5 ms of compression, hashing, write and fdatasync then
// overlaps its apply instead of following it). One exception: the input waiting behind a
// take's order stop (a connection's write after its read, inputRing.takeUpTo) is the next
// turn's entry, which the sequencer appends at once; the stopped turn's entry is then
// deferred too, and so is the next, so that both go to the disk in one group (one
// fdatasync) when the last is released or the sequencer waits (session 47: requests per
// sync 192 → 374 in BenchmarkMixedReadWriteSynced). Durability is decided as before: release
// compares with Durable (and the Acknowledger), which the log advances only after the
// fdatasync returned, whichever goroutine ran it.
//
// Measured in session 39: under load with one transfer per request the ring is mostly
// empty right after a turn's take, so most loaded entries still go to AppendDeferred and
// are synced by the sequencer after their apply (`sequent bench --embedded --events 1
// --connections 32 --inflight 16 --driver wire`: 21,020 of 25,753 groups, ~220 requests
// each, apply ~100 µs). Tried and not kept, no gain above the noise on a machine loaded
// by other work (load 3-7): (a) an entry of more than 64 requests to the writer
// regardless, so that its sync overlaps its apply; (b) with (a), the durable entries'
// replies released between the append and the apply instead of after it. `sequent
// serve` + `sequent bench --driver wire` 32 × 16, alternated with the previous binary,
// requests/s new ÷ old per round: (a) median 1.09 (0.81-1.45) over 8 rounds, then 1.00
// (0.64-1.43) over 10; (a)+(b) 1.03 (0.75-1.51), then 1.05 (0.65-1.18). In one process
// (two shards on real logs, 32 clients × 16 one-account requests, slices alternated)
// (a)+(b) ÷ old 0.93, 1.05, 1.08 (medians of 6 slice pairs). Worth repeating on a quiet
// machine, where the overlap has a free core.
//
// The two hand-offs left are gone too when the shard is idle (inline.go): a network
// event loop submits with SubmitDeferred, which does not wake the sequencer, and once it
// has handled its round of events calls TurnInline, which runs the sequencer's own body
// (turn, release with WriteDeferred) on the loop if the sequencer waits with nothing
// parked and at most inlineTurnRequestsMax requests are waiting; the replies' writes
// then run on the same loop. Otherwise (a busy shard, several clients at once, a sync
// standby, a snapshot due) the sequencer is woken as before. Config.InlineTurnsOff turns
// this off.
//
// # Fresh memory
//
// The sequencer writes memory the kernel has not backed yet whenever the ledger grows past
// the capacity it was sized for: each 8 MiB chunk of transfer records (every 65,536
// transfers) and a growing id table's successor fault in page by page on first touch,
// about 6% of the sequencer's CPU at 32 connections × 16 one-transfer requests (issue
// 15, session 40), and inside a full batch's receive → release time. The shard therefore
// runs a populater (populate.go): Start attaches it to the ledger (ledger.SetPopulater),
// which then allocates its next chunks a chunk ahead and offers them, and offers each
// growing table's successor; the populater's goroutine faults them in with
// MADV_POPULATE_WRITE, which writes nothing, so there is no data race and no change of
// state (ledger, "Storage"). The hand-off is a channel of freshRangesQueuedMax ranges:
// a full one (the populater behind or stuck) refuses the offer at once and the sequencer
// faults that memory in itself, as it did before; a kernel without MADV_POPULATE_WRITE
// (older than 5.14) turns every later offer away the same way. The populater stops with
// the sequencer: run detaches it and waits for it (one step, populateStepBytes, at most)
// before Done closes. At most freshChunkBytesAheadMax (ledger, ~14.1 MiB) is allocated
// ahead. Config.PopulateOff turns all of this off.
//
// # Goroutines
//
// Producers (the network event loops, admin actions) call Submit concurrently; the ring
// serialises them with a mutex held only to reserve and to publish, never while copying.
// The sequencer owns everything else: the machine, the parked replies, the timestamps,
// and the calls into the Replier and the Consumers. It also runs the log's group commit
// for the entries it deferred (above), holding the log's writing mutex. "The sequencer"
// is whoever holds Shard.turns: the sequencer goroutine, which lets it go only while it
// waits, or an event loop running an idle shard's turn (TurnInline), which only ever
// tries it; so exactly one goroutine at a time changes the state, in log order. The
// populater's goroutine (above) owns nothing but its queue: it reads and writes no byte
// of the ledger, only asks the kernel to back the ranges it is offered.
//
// # Outbound streams (the release as a Ready)
//
// Besides replies and execution reports, every applied entry's events (package event)
// are handed, once the entry is released, to each Consumer in log order (Ready; market
// data and change capture are consumers). A consumer copies what it keeps into its own
// bounded buffer and returns; when that is full it falls behind on its own (market data
// tells its subscribers to resnapshot; capture rebuilds from the log through wal.Follow)
// and never slows the sequencer or another consumer. ConsumerStats gives each one's lag
// behind Released. A consumer that may need old log to catch up registers a LogHold:
// snapshot pruning and log retirement keep the newest snapshot at or before its held op
// and the log after it, within Config.LogHoldBytesMax. A standby hands out its replicated
// entries the same way, so its consumers are current when it is promoted. Only release
// feeds the consumers: what a log failure answers outcome_unknown, or Close abandons with
// shutting_down, is never handed out (a restart that finds it in the log hands it out
// then, as committed). The entries a restart recovers count as released only once the
// release condition covers them (in sync mode the standby may never have had them: the
// previous process died first); they are never handed to the consumers (capture rebuilds
// them from the log up to Released, market data starts after them).
package shard
