// Package netio is Sequent's binary TCP server, built on gnet v2: it accepts client
// connections, authenticates sessions against a keys file (HMAC-SHA256 over a server
// nonce), checks each request's shape and the client's permission, hands requests to a
// shard (backend.Backend) and delivers the shard's replies and execution reports back to
// the right connections (it implements backend.Replier). The byte format lives in
// netio/wire, the Go client in netio/client, and the complete protocol specification in
// PROTOCOL.md. The other outbound network stream, change data capture into NATS
// JetStream, is netio/capture (a backend.Consumer like the market-data feed here, but with
// no client of this server involved); the operators' HTTP is netio/ops.
//
// What netio does not decide: which accounts and orders a client may touch. That is
// ownership, decided by the deterministic core from logged inputs (package core): netio
// stamps each request with the session's authenticated client id (never a field the
// client sends), and hands the keys file's grants over as an encoded table
// (Keyring.GrantsBody), which the shard writes into the log. netio checks the coarse
// permissions (read, transfer, trade, admin) and the admission controls (Controls:
// allow-lists, login limits per address and per (address, client), connection and rate
// limits).
//
// # Wiring
//
//	keys, _ := netio.LoadKeys(path)                 // or GenerateDevKeys on first start
//	server, _ := netio.NewServer(netio.Config{Address: "127.0.0.1:7400", Keys: keys}, shard)
//	shard.Start(server)                              // the server is the shard's Replier
//	_ = server.Start()                               // listening; server.Address() is bound
//	...
//	_ = keys.Reload()                                // on SIGHUP
//	_ = server.Shutdown(ctx)                         // drain, then close; then stop the shard
//
// # Threading model
//
// Four kinds of goroutine touch the server, each with its own territory:
//
//   - gnet event loops (Config.EventLoops of them) run OnOpen, OnTraffic and OnClose and
//     AsyncWrite callbacks. A connection belongs to one loop; its loop-owned state
//     (phase, login, the reusable backend.Request, the buffer of immediate answers) is
//     touched by no one else. A loop decodes, authenticates, calls Backend.Submit (which
//     copies and never blocks), appends immediate answers and writes them with one Write
//     at the end of OnTraffic. The one exception to "a loop never blocks": when the
//     backend is a backend.InlineTurner whose inline turns are on (a one-shard primary,
//     the default) and the shard is idle, the loop submits with SubmitDeferred and, once
//     its round of events is handled, runs the shard's turn itself as a loop task
//     (TurnInline: apply, write and fdatasync the entry, release the replies), so a lone
//     request wakes no other goroutine (core/shard/inline.go). The loop then waits for
//     that fdatasync, and so do its other connections: a stalled disk stalls the loop's
//     heartbeats and logins as well as its replies (the shard's goroutine would stall the
//     replies only).
//   - whichever goroutine holds the shard's turn (the sequencer goroutine, or an event
//     loop running an inline turn) calls Deliver and DeliverReports. It finds connections through
//     the lock-free connection table (one atomic load), copies reply bodies into
//     buffers, one per connection (the connection's spare, else one from the pool:
//     takeOutbound), and hands each event loop one task per call: an
//     empty AsyncWritev lent for one connection's buffer, whose callback, on that loop,
//     writes it and the other connections' buffers of the same loop (deliver.go,
//     loopDelivery; one task per connection woke the loop's eventfd several times per
//     release). Every write to a connection is made so, by a callback on its loop
//     (lendTo), never by gnet from an AsyncWrite's bytes: only the loop knows whether the
//     connection's last frame is out (draining).
//     It never touches a loop-owned field.
//   - gnet's ticker goroutine runs OnTick (it is not an event loop): it reads per-connection
//     atomics and sends heartbeats through AsyncWritev's callbacks (lendTo), which gnet
//     makes safe from any goroutine; to a draining connection it lends the check that
//     closes it (drainOverdue). A login timeout or a silence it only suspects: it lends the connection's
//     loop a check (loginOverdue, silenceOverdue: one at a time per connection), which
//     decides in order with what the loop reads, and looks at the bytes waiting unread
//     in the socket too (a loop stalled inside a task runs the check before it reads).
//   - report replay goroutines (at most reportReplaysConcurrentMax) serve subscriptions
//     that ask for retained reports, because Backend.ReplayReports may wait on the shard.
//     A live subscription (from 0), and a resumption on a node that is not primary
//     (refused busy while the node is behind the client), reads its next_sequence on
//     the event loop with a from-sequence above any report: that replays nothing and
//     allocates nothing, but takes the shard's report store lock (one for all clients),
//     which a replay holds only while it copies one batch of up to 256 reports out
//     (never while they are encoded and queued) and the sequencer while it adds: a short
//     bounded wait.
//   - the market-data publishers (marketdata.go), one per shard of the node (a feed per
//     shard: MarketDataConfig.Shards), each own their feed's history and subscribers:
//     a shard's sequencer only copies its updates into its feed's bounded queue
//     (Consume), event loops only queue a subscription change to the feed of the
//     instrument's shard when the md_subscribe sets channel bit 3 (shard_ops: the client
//     keeps a resume op per shard), to shard 0's otherwise (as before per-shard market
//     data: no update of another shard's instrument) and for instrument 0, and the
//     publishers alone write md_* frames. What a connection holds across feeds (which
//     feed's subscriber holds each instrument subscribed one by one, the instruments and
//     tops of its subscriber on every feed, its unsent bytes) is read and changed under
//     connection.marketDataMutex, which a publisher holds while it changes a subscription
//     (an instrument moved between feeds by bit 3 leaves the other feed's subscriber
//     then) and from reading the connection's unsent bytes until it has handed its write
//     over: one feed's write to a connection at a time, each seeing the others'.
//     A publisher also checks, every marketDataRecheckInterval, that its node still
//     serves (MarketDataConfig.Serving): once it does not (deposed), it closes each of
//     its subscribers' connections with shutting_down (closeAsync) and forgets them.
//     While its node is fenced (MarketDataConfig.Fenced: deposed for good, unlike a
//     standby, whose report streams stay live) it also closes, the same way, every
//     connection subscribed to its shard's execution reports (with one feed for a node
//     of several report shards, every shard's: reportFeed), read from the client
//     subscriber lists (closeFencedReportSubscribers; it changes no report state), and
//     the event loops answer a report subscribe there with shutting_down too.
//
// Shared state is atomic or immutable: the connection table (atomic pointers), the session
// and subscriber maps (sync.Map of values replaced by compare-and-swap), the keyring (an
// atomic pointer to an immutable set), the counters. connection.mu guards a connection's
// report subscriptions (one stream per shard of the backend, reports.go) between the
// shards' goroutines (each delivers its own shard's reports) and the replay goroutines;
// an event loop never takes it: it makes the connection's fixed table of streams (one
// slot per shard) before publishing the connection as a subscriber, and stores each
// shard's stream in its slot, fully set up, with one atomic store when that subscription
// is accepted, reading the slots alone to refuse a second subscription of a shard. connection.marketDataMutex is taken by market-data publishers only (above),
// never with connection.mu. The logger runs on its own goroutine behind a bounded queue, so no
// callback waits for a log handler.
//
// # Invariants
//
//   - Peeked bytes never outlive the frame they belong to: each frame is handled (and
//     Submit copies it) before the Discard that releases it; Peek and Discard are always
//     called with a length of at least wire.HeaderSize (never 0, which gnet reads as
//     "everything").
//   - Every complete frame in the inbound buffer is handled in the OnTraffic call that
//     sees it.
//   - A malformed frame gets an error frame and closes its own connection only; no client
//     input can stop the engine.
//   - Unsent bytes per connection stay within Config.OutboundBytesMax in gnet's buffer plus
//     Config.OutboundBytesMax lent to AsyncWrite; beyond either, the connection is closed
//     as a slow consumer with a logged reason.
//   - A buffer lent to AsyncWrite is not reused until its callback has run, nor one
//     carried by another connection's AsyncWrite until that callback has written it.
//   - A carried buffer is written only to a connection still in the table, checked on its
//     loop, where OnClose removes it before gnet closes the socket: never to a closed
//     connection's file descriptor, which a later connection may be reusing.
//   - An error frame (or the logout answer) is the last frame written to its
//     connection, and reaches a client that is behind on its reading within the outbound
//     bound. Written by the loop itself (fail, logout) or by a callback on it for a close
//     decided elsewhere (closeAsync, writeLastFrame), it is followed by closeOrDrain: the
//     connection closes at once when gnet's buffer is empty (gnet's close would drop what
//     the socket does not take at once, the frame with it); otherwise it drains: draining
//     is set, every later write on the loop (a reply, report, market-data update or
//     heartbeat admitted just before the close and lent behind the frame) checks it and
//     drops its bytes, nothing more is read, and the ticker's check (drainOverdue)
//     closes the connection once gnet's buffer is empty and the client has acknowledged
//     what the kernel took (unsentBytes), or aborts it after
//     Config.DrainTimeout. A frame lent after a close finds the connection closed (gnet
//     refuses the task, a carried buffer finds it out of the table) or draining, and is
//     dropped.
//   - Every submitted request is counted in flight until its reply is delivered, so
//     Shutdown can let the last replies out before closing connections.
//   - A login spends its connection's nonce whatever the outcome; a connection logs in at
//     most once.
//
// Backend.SessionClosed is called from the event loop (endSession: OnClose, or when a
// connection starts draining) and must not block.
package netio
