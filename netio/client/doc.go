// Package client is the Go client of Sequent's binary protocol (../PROTOCOL.md). It
// imports only core/model, core/shardmap (pure placement functions) and netio/wire, so
// load generators and applications link no server code.
//
// # Shards
//
// A server may run several shards; it routes whatever it receives, so a client that
// ignores shards gets correct results. ShardMap returns the server's map (get_shard_map).
// With Config.RouteByShard, CreateTransfers and CreateTransfersWithBalances send a batch
// of several transfers as one request per debit shard (more than one for a shard with
// more than 8189 of them), each with that shard's transfers in the batch's order, and
// return the results in the batch's order. The server hands each such request to its
// debit shard whole, without splitting it (a transfer whose credit account is on another
// shard also involves that shard, through its saga). A batch with a linked event is not
// routed: it is sent whole, and the server splits it when its events live on several
// shards.
//
// On several shards an id may have a record on each (a transfer id two shards use), and
// a lookup reply holding more than 8189 records is cut (PROTOCOL.md section 18, "Lookups
// on several shards"): LookupAccounts and LookupTransfers ask again for the ids it left
// out, at most LookupRepeatsPerRequestMax times per request of ids (enough for any ids
// on two shards), and past that fail with ErrLookupTooManyRecords: ask fewer ids at a
// time. Each shard numbers its own orders, so a node whose instruments are on several
// shards refuses LookupOrders, and GetAccountOrders of every instrument, whole (status
// 85): their error matches ErrOrderReadNeedsInstrument (errors.Is), never an empty list;
// ask GetAccountOrders per instrument there.
//
//	c, err := client.Dial(ctx, client.Config{
//		Addresses: []string{"10.0.0.1:7400", "10.0.0.2:7400"},
//		Client:    1, Key: 1, Secret: secret,
//	})
//	results, err := c.CreateTransfers(ctx, transfers) // split into 8189-event requests
//	defer c.Close()
//
// # Pipelining
//
// One Client is one session on one connection, safe for concurrent use. Requests are
// numbered in the order they are issued and written without waiting for earlier replies
// (Go returns a Call at once; Do waits). Concurrent callers share write syscalls: whoever
// finds the writer idle writes everything queued. The window is bounded by InflightMax
// requests and by InflightBytesMax of expected reply bytes, so the server never has to
// cut the client off as a slow consumer; and no request is numbered 256 or more above
// one still pending, or with 2 MiB of expected reply bodies from that one's on (a
// request answered busy, say, resent while the others go on), so resent requests stay
// inside the server's exactly-once window and cache of replies (window.go). A request
// answered busy (or log_unavailable, outcome_unknown), or whose copy was left
// unanswered by a connection that ended (refused busy perhaps, the answer lost), may be
// applied after requests numbered above it, its reply cached after theirs: it counts in
// the window until they are answered. When its callers stop waiting while a copy of it
// sent on the current connection is unanswered, it stays pending without them, holding
// its slot, until that copy is answered; then it leaves and is not resent. With nothing of it on its way
// (waiting out its backoff) it leaves at once, so abandoned requests do not hold the
// window against live callers while a server refuses them. One whose copy was left
// unanswered by a connection that ended (the server may still apply it, after later
// requests) stays pending, resent until a definite reply, which says it will not be
// applied after them; except that a resend of it refused rate_limited, with no other
// copy on its way, gives it up: that refusal depends on the request's own size, so it
// may come at every attempt (a merged request of more events than events_per_second),
// and resending it for no caller would hold its slot and the exactly-once window for
// good. The lost copy, admitted before the bucket ran low, may still wait in a server's
// queue and be applied after later requests, its reply cached after theirs, until the
// server applies a request numbered 256 above it; so may the only copy of a write whose
// callers left while it was on its way (it leaves at once, never refused and never
// lost), once that connection ends unanswered. Such a stray counts in the window for
// every pending request numbered above it, less than 256 above: its reply bytes, so
// that request's reply stays within the 2 MiB cached for its resend (window.go,
// strayReply). A request numbered while nothing is pending is not held back for a stray
// (nothing would end the wait), and a stray's entry is not counted against the cache's
// 256 replies: a resend after a lost reply may still be answered request_too_old when
// a request's own reply and the strays' exceed 2 MiB, or when s strays applied after a
// request 256 - s numbers behind the next evict it (an *OutcomeUnknownError, never a
// wrong outcome). A number given up is never used again, and the server needs nothing
// of it (numbers may have gaps; PROTOCOL.md §7). All this holds for writes: a read is
// recorded nowhere, so it is never applied late and its reply is not cached; its callers
// leaving, it leaves.
//
// One goroutine issuing many requests in a row (a load generator refilling its
// pipeline, a gateway forwarding a burst) has no one to share syscalls with: each Go
// writes alone. Cork and Uncork around the burst make its requests leave in one write,
// as TCP_CORK does in the kernel; a caller that would wait inside the client while
// corked writes first, so a cork never makes a caller wait for itself. On loopback a
// write cost ~5 µs of CPU in sequent bench's profile (bench/PERFORMANCE.md, "Corked
// pipeline refills").
//
// Replies are read by the connection's reader goroutine, which completes the calls and
// wakes their callers. With Config.LoneReads, a caller issuing one request at a time with
// Do or DoInto reads its own reply instead, on its goroutine, whenever its request is the only one pending and
// the connection has nothing else to read (no report or market-data subscription): the
// reply then wakes the caller directly, sparing the hand-off from the reader (~16 µs p50
// on a 2-vCPU machine, where readying a goroutine wakes an idle thread first;
// bench/PERFORMANCE.md, session 52). The reader lends the connection that way only after
// answering such a call, so a client used through Go never lends; any other request,
// subscription or lost connection takes the read back, and so does the heartbeat's ticker
// when nothing was read for a heartbeat interval. A Do whose context ends while it reads
// returns at once, as any other (lone_read.go). While the connection is lent between
// requests nobody reads it: a connection the server closed then is noticed by the next
// request, or by the ticker's read within about a heartbeat interval, rather than at once.
//
// # Merging concurrent calls (client-side batching)
//
// Concurrent CreateAccounts, CreateTransfers and CreateTransfersWithBalances calls on one
// Client share requests, as TigerBeetle's clients do (coalesce.go): a request of one
// operation and flags (and, with RouteByShard, one debit shard: a batch sent whole whose
// transfers debit several shards shares only with batches like it) stays open for more
// callers' events until a writer takes it (or, with the window full, until a slot
// frees; or, while an earlier request formed open is unanswered, until that one is
// answered: one such request on its way at a time, as TigerBeetle's clients, so that
// hundreds of one-event callers share a request rather than take a window slot each),
// up to CoalesceEventsMax events; each caller gets its own results. Outcomes are those of the same calls sent one request each in
// the merged order: events are evaluated in order, request-level statuses of these
// operations do not depend on the events, and a call whose events end inside a linked
// chain closes its request (its chain fails at the request's end, as alone). The one
// exception, the client's events_per_second limit (a request's events charged whole to
// one second of burst), is undone: a merged request refused rate_limited, no copy of it
// possibly applied, is sent again one request per caller still waiting, in the merged
// order, under new numbers (the refused one was not recorded), and each caller gets its
// own request's outcome, rate_limited included (coalesce.go, splitLocked); a batch's
// run followed by more of its runs is not sent again (they went ahead of it): its caller
// gets rate_limited, so a batch's requests stay applied in its order. A merged
// request has one number and is resent whole, so exactly-once holds per call across
// reconnects and failover; one whose outcome is unknown (a copy lost with a connection,
// or answered outcome_unknown) is never split, and a resend of it refused rate_limited is
// resent whole after a back-off while a caller waits. With more events than the
// limit's burst it is never admitted: a caller waiting with no deadline waits for ever,
// its request holding a window slot and, as the oldest pending number, the exactly-once
// window, so the client stalls after about 256 more requests until that caller leaves (a
// known limit: README, "Limits and known gaps"). Once every caller has left, the next
// rate_limited refusal of it with no copy on its way gives it up (connection.go,
// resendOrDropLocked; Pipelining). A caller whose context ends stops waiting (its
// outcome is unknown: an *OutcomeUnknownError, see Context deadlines); the request goes
// on for the others. Lookups, queries, the matching operations and Go/Do are never
// merged. CoalesceEventsMax -1 turns merging off. A merged call of one transfer (the
// common caller) skips the batching of several runs (ledger.go, createTransfer): same
// request, same outcome and errors, about 560 fewer instructions per call.
//
// After a merged request of many callers (rejoinCallersMin) is answered, the next one
// is not sent until as many callers have called again (they rejoin it), it is full, or
// RejoinWait passes (default 1 ms; negative: off): otherwise the callers woken by each
// answer miss the request being sent and ride in the one after, splitting into two
// groups that take turns. The wait runs on the client's admission goroutine (admitter),
// holding the open-request slot (not yet a window slot), before it is numbered; the
// callers waiting in it meanwhile wait longer by at most RejoinWait. Callers of any
// merged operation count as back, not only those of the request held: the client
// cannot tell a released caller from another, and a released caller may come back with
// another operation (accounts, then transfers). Counting only the held request's would
// make every such hold last its whole bound, paid by each caller in it; counting all
// may end a hold early when callers of another operation arrive, which costs batching
// (the held request leaves with fewer callers), never latency.
//
// Each caller of a merged request waits with one receive where it can (coalesce.go,
// watchLocked). The first caller of a request that passes a context able to end, and
// whose call is that one request, is its watcher: it selects on the request's
// completion and its context's end, then closes the request's watch channel (only the
// watcher closes it, once, on its own goroutine). Later callers whose context ends with
// the same channel are followers: they receive from the watch channel alone and then
// look at the completion to know whether the request was answered or their context
// ended (then they leave as any caller does: same errors, same exactly-once). A watcher
// about to flush a cork (its write may last as long as the socket takes) resigns first:
// it closes the watch channel, and its followers, finding neither an answer nor an ended
// context, select on their own. Callers of any other context select on their own.
// Before this, 512 callers of one context (sequent bench's) each queued on and locked
// that context's one channel: about a tenth of the process's CPU. The price: a follower
// is woken by the watcher's close, one hand-off after the answer rather than directly by
// it.
//
// Tried in session 39 and not paying on its own: the steady-state allocations of a
// one-transfer call went from 4 to 1 (its results; escape analysis moved the error
// variables of batch and mayBeAppliedError to the heap where declared, and the frame
// header passed to a function value escaped), and the CPU per call did not go down
// (in process higher in 5 of 6 alternated rounds, inside the shared machine's spread;
// bench/PERFORMANCE.md, session 39); kept for the house rule (no allocation on hot paths),
// guarded by TestMergedCallerAllocations. Session 40 took the last one, for callers that
// pass their own results slice (CreateTransfersInto; TestMergedCallerIntoAllocations):
// such a call allocates nothing of its own, only its share of its request's three
// objects (the Call, its completion channel, the reply body's copy). The bound of the
// shared wait was measured first with a throwaway build whose wait ignored the context
// (not correct): CPU per transfer 7–14% lower in 4 of 4 rounds, what the shared select
// cost.
//
// # Reconnects and exactly-once
//
// When the connection fails (or goes silent past the silence timeout, or the server
// answers not_primary naming another address), a background goroutine reconnects —
// trying the primary named by the last not_primary first, then Addresses in order, with
// backoff — logs in with the same session id and resends every request still waiting
// for a reply, in number order, with its original number. A first not_primary redirect
// is followed at once; consecutive ones with no other reply in between wait with backoff
// too, so two nodes naming each other are not hammered. A not_primary naming the node
// connected to — its address, or the address the client dialed to reach it on being
// told that address, no write taken since — is no redirect: a node naming itself by a
// host name (localhost:7400, reached as 127.0.0.1:7400) is followed once, to the name,
// and not again; a name that follows the primary (a floating DNS name) is followed
// after each failover. The server applies each
// number at most once and answers resends of applied requests from its cache (Reply.
// Duplicate). Requests answered busy or log_unavailable (not applied) or outcome_unknown
// (the server's log failed before confirming it) are resent with their number after a
// short backoff (BusyRetryDelay) until a definite reply or the context ends; so is such a
// write, or one resent after a reconnect whose earlier copy's reply was lost with its
// connection, answered shutting_down (a server draining: an earlier attempt may be in its
// log), rate_limited (the rate is checked before the number is looked up) or not_primary
// with no address (a node fenced before it learned the new primary: an earlier attempt
// may be applied there) or naming the node connected to (no redirect to follow),
// until a redirect names another. A read has no earlier attempt to be applied (it is
// recorded nowhere): answered so, after a busy or a reconnect as on its first copy, it
// gets the refusal (*StatusError). With retries off (a negative
// BusyRetryDelay) busy, log_unavailable and outcome_unknown still resend such a write
// rather than reach its caller. A resend of such a write answered with any other
// refusal — permission_denied (the client's permissions changed meanwhile; checked
// before the number is looked up, and no resend cures it), request_too_old (the server
// no longer knows the number), internal_error (a fault on that attempt), or any other
// request-level status but ok — fails the call with an *OutcomeUnknownError naming it,
// never a *StatusError: the earlier attempt may have been applied (look its ids up).
// Callers see one reply per request, whatever happened underneath.
//
// A login refused for its credentials, a revoked key, or a protocol error not tied to one
// request stops the client: pending and later calls fail with the *ServerError. A
// protocol error naming one request (an undefined operation, say) fails that call only;
// the client reconnects and resends the others. bad_checksum is neither: a frame of the
// client's arrived damaged, and the number the error carries is read from that frame,
// unverified (it may name another request, whose own frame was fine). The client takes
// it as a damaged connection: it reconnects and resends every pending request, the one
// named included (exactly-once answers a copy already applied from the cache); after a
// second one in a row (no reply in between, and no connection that carried the
// server's frames for a second before its damage) it waits before reconnecting,
// doubling from ReconnectDelayMin to ReconnectDelayMax. The server checks a frame's header
// before its checksum, so the same damage in a header byte is refused bad_magic,
// bad_version, frame_too_large, bad_body_length, unknown_kind or reserved_not_zero (or
// truncated_frame): once the connection's login was accepted (the client's own frames
// got through on it), these are taken as bad_checksum is, whatever number they carry.
// With UncheckedFrames the server verifies nothing of the client's frames, so
// unexpected_frame, session_mismatch and bad_request_number after the login (decided
// from header fields the client always writes right) are damage too; unknown_operation
// still fails the call it names.
// A login refused bad_checksum, one of the header codes, or unexpected_frame (decided
// from the header alone before a login: the login's kind byte damaged) arrived damaged
// too: the client built it afresh in protocol version 1 and has just verified the
// server's version-1 challenge. Dial tries the next address (having tried them all, it
// returns ErrUnreachable wrapping the refusal); a reconnect logs in again as after a
// failed reconnect, with its back-off. These refusals count in the same row of damage
// as those after a login and stop the client at the same bound, 16.
// bad_version is also what a server answers when it does not accept version 1: taken
// for damage once, a second login refused bad_version with none accepted between stops
// the client with the *ServerError, once no other address accepts the login; after
// the first the client logs in again at once to the same address, so Dial to a single
// address returns the *ServerError too, not ErrUnreachable. Close fails the pending calls with
// ErrClosed (with the *ServerError instead once a fatal one stopped the client, even if
// Close runs before the calls were failed with it). In each case a write a copy of which may have been applied — sent and not
// answered, lost with a connection, or answered outcome_unknown — fails with an
// *OutcomeUnknownError wrapping that error (errors.Is and errors.As still find it), never
// with the bare error, which would not tell its caller that the write may be applied; a
// write never written, or only refused (busy) so far, gets the bare error.
//
// # Frame memory
//
// Go copies the body into the request's frame (the caller's slice is never kept), and the
// frame is resent as is after reconnects, restarts and failover. Frames of large requests
// (a quarter of a full batch and up) are built in 1 MiB buffers reused across calls,
// from a small per-client free list (frames.go: at most 4 buffers); smaller ones are
// allocated per call, except those of merged requests, which reuse buffers of a second
// list (at most 8, each below the large size; a forming request that outgrows its buffer
// moves to a larger one and leaves the old one on the list, as nothing else refers to a
// frame before it is sealed). The rule that keeps resends intact: a frame belongs to its call
// until the call completes with a reply, and returns to the free list only then, at
// one point (complete, under the client's mutex, right after the call left the pending
// set, so nothing can queue it again) and only if no copy of it is still queued in the
// outbox or in the batch a writer is writing. A call that ends any other way (abandoned
// by its context, failed, closed) never returns its frame: the collector takes it once
// the last queued copy is written.
//
// A reply's body is copied out of the reader's buffer into memory the caller owns: a new
// slice, or with GoInto a buffer the caller passes in (and may pass to its next call, as
// sequent bench does, instead of touching 131 KB of new memory per full batch). The copy
// is made only once the reply has won the call's completion, so a call that ended
// otherwise (abandoned, failed) never writes into a buffer its caller has taken back.
//
// # Context deadlines
//
// Go and Do take a context: it bounds the wait for window space and for the reply. When it
// ends first, the call is abandoned; the request may still be applied, once (ledger ids
// make a retry with a new request safe: an identical object answers exists). A write
// that may have been applied, or may still be — written (or queued on the connection,
// to be written) and not answered, a copy lost with a connection, or answered
// outcome_unknown — fails with an *OutcomeUnknownError (Status outcome_unknown) wrapping
// the context's error: errors.Is(err, context.DeadlineExceeded) (or Canceled) and
// errors.As(err, &outcomeUnknown) both hold. A write never written (waiting for window
// space, or queued while disconnected) or only refused so far (busy, waiting to be
// resent), and any read, fail with the context's error itself: not applied. A caller of
// a merged request who leaves while others still wait for it gets the
// *OutcomeUnknownError (its events go on in the request); CreateTransfers and the other
// batching calls return it rather than the context's error (or ErrClosed) when any of
// their requests may be applied, or was. A request the server answered busy, log_unavailable or
// outcome_unknown before, with a copy still on its way, is not dropped then but kept
// until that copy is answered (Pipelining).
//
// # Clearing
//
// Convert books a currency conversion between two ledgers as one linked chain of two
// transfers through the operator's liquidity accounts (convert.go: the exact arithmetic,
// the rounding rule and the user data layout); Conversion.Plan computes the chain without
// sending it. LedgerTotals reads the trial balance (get_ledger_totals).
//
// # Results
//
// Request-level outcomes other than ok come back as *StatusError (with the model.Status);
// per-event outcomes are in the typed results (model.EventResult per event, in order).
// Execution reports arrive through Subscribe, in sequence order, once each, resumed after
// reconnects. On a node of several shards each shard numbers a client's reports on its
// own: Subscribe gets the default instrument shard's, SubscribeShard one shard's and
// SubscribeEveryShard every shard's (PROTOCOL.md section 18), each shard's subscription
// with its own last report handled, duplicate filter and resumption (Report.Shard says
// which). Frames are matched to their subscription by the header number, the label the
// subscribe frame sent (0 for Subscribe, shard+1 for SubscribeShard). A named
// subscription answered with 0 tells a server before streams per shard (known per
// connection: shardStreams, reset by install): it carries the default instrument
// shard's reports only, kept if that is the shard named, else the subscription fails
// with ErrShardReportsUnsupported and those reports are ignored; no other subscribe is
// sent on that connection. Until a named answer has told which kind of server a
// connection reached, one named subscribe is outstanding (the default instrument
// shard's first after a reconnect) and the others wait for it (sendNamedLocked). A
// resumption that such a server cannot carry waits for a later connection.
//
// # Subscriptions across reconnects
//
// install (on the reconnector, under the client's mutex) builds the resumptions of the
// report and market-data subscriptions from their state (the last report handled, per
// report subscription (one per shard subscribed); per
// instrument, the op its updates are known complete through) and settles the market-data calls the replaced connection left
// unanswered (the resumption's answer, or ErrReconnected). A reader applies a
// subscribed or md_subscribed answer, and moves that state, only in a locked block that
// also checks that its connection is still the current one (generation): the two are
// ordered, never interleaved. The gaps an answer finds (ReportsLost, ReportsReused)
// wait in the subscription and are told once, by the answer's reader or by the reader
// handing over the next report, whichever comes first; a reader that finds another
// telling them waits for it (or for the client to stop).
//
// Handler calls (reports, market data, ReportsLost and ReportsReused) run one at a time
// per client, ordered per client, not per connection: one of connection k+1 starts
// only once every one of connection k has returned, and none of k starts once k+1 is
// current. A reader waits for its turn (handlerTurnLocked) with no lock held, until
// the running call returns or the client stops; an md_subscribed is applied before that wait (a caller inside an
// older handler is answered), an update only after it, so that the ops moved are those
// of updates the handler is given. A gap callback counts with the connection current
// when it starts, whichever reader tells it. A refused resumption is retried on the connection that
// refused it, never on a later one (which sent its own), except a market-data
// resumption refused not_primary when the client knows another address: only the
// primary serves market data, and a deposed node's refusal names nobody, so that
// connection ends as after a redirect and the next one tries the refusing address last
// (leaveNotPrimary; a deposed node closes its subscribers with shutting_down, and the
// reconnect may reach it first). Likewise a connection ended by the error frame
// shutting_down while the client holds a report subscription makes the next connectAny
// try that address last (leaveShuttingDown). Either way every address so left since a
// subscription was last accepted is tried last, not only the latest
// (leaveAddressLocked: two deposed nodes would otherwise take turns being first, and
// the primary after them never be dialed): a fenced node closes its report
// subscribers, and answers a report subscribe, so (and for ever); from the second such
// loss in a row the reconnect waits (waitAfterReportsShutDown). Subscribe and
// SubscribeMarketData end with ErrClosed once the client is closed.
package client
