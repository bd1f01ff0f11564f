package netio

import (
	"time"

	"sequent/netio/wire"
)

// Bounds of the network layer. Each is a default that Config may lower or raise within
// what Validate accepts; the rationale is the arithmetic beside it.
const (
	// OutboundBytesMaxDefault bounds the bytes queued for one connection and not yet
	// accepted by its socket. The largest reply is 1.18 MB (8189 results with balances),
	// so 4 MiB lets a client keep three of the largest replies in flight; a client that
	// stops reading costs at most this plus its kernel socket buffer before it is cut off.
	// 1024 connections × 4 MiB = 4 GiB is the worst case, reached only if every client
	// stalls with full pipelines at once.
	OutboundBytesMaxDefault = 4 << 20
	// outboundBytesMaxLeast is one largest reply frame: a smaller bound would cut off
	// every client that asks for one.
	outboundBytesMaxLeast = wire.HeaderSize + wire.BodyBytesMax

	// ConnectionsMaxDefault bounds open connections (logged in or not). The connection
	// table is allocated at start with this many slots (8 bytes each).
	ConnectionsMaxDefault = 1024
	// connectionsMaxLimit keeps connection ids (slot in the low 32 bits) well formed.
	connectionsMaxLimit = 1 << 20

	// HeartbeatIntervalDefault: each side sends a heartbeat after one second without
	// sending anything, as SoupBinTCP does.
	HeartbeatIntervalDefault = time.Second
	// SilenceTimeoutDefault: the server closes a connection after 15 s without receiving
	// anything: fifteen missed heartbeats, SoupBinTCP's customary dead-peer timeout.
	SilenceTimeoutDefault = 15 * time.Second
	// LoginTimeoutDefault: a connection must log in within 5 s of its challenge, so idle
	// unauthenticated sockets cannot hold connection slots.
	LoginTimeoutDefault = 5 * time.Second
	// DrainTimeoutDefault bounds how long a connection whose last frame (an error frame or
	// the logout answer) waits in gnet's outbound buffer behind unsent replies stays open
	// for its client to read them (closeOrDrain): the buffer holds at most
	// OutboundBytesMax, which a client reading at all takes well within it. Past it the
	// connection is aborted; so is a client that has stopped reading, which would
	// otherwise hold a connection slot and its buffer for ever.
	DrainTimeoutDefault = 5 * time.Second

	// ReadBufferBytesDefault is gnet's per-loop read buffer: 1 MiB lets one read take a
	// whole largest request (1,048,192 bytes + header) in one syscall.
	ReadBufferBytesDefault = 1 << 20
	// WriteBufferBytesDefault is gnet's static per-connection outbound ring before its
	// elastic overflow list: 64 KiB holds ~1000 small replies.
	WriteBufferBytesDefault = 64 << 10

	// reportReplaysConcurrentMax bounds goroutines serving report replays at once; a
	// subscription beyond it is answered busy. Replays are rare (a reconnect), and each
	// holds a window of retained reports in flight.
	reportReplaysConcurrentMax = 16

	// logQueueLength bounds log records waiting for the logging goroutine. Event loops
	// never wait for the logger: when the queue is full the record is dropped and counted.
	logQueueLength = 1024

	// tickIntervalMax is the ticker's longest period: heartbeats go out at most 100 ms
	// late, a tenth of the default interval.
	tickIntervalMax = 100 * time.Millisecond
	// tickIntervalMin keeps tests with tiny heartbeat intervals from spinning.
	tickIntervalMin = 5 * time.Millisecond

	// immediateBytesRetainedMax: a connection keeps its buffer of immediate answers
	// between reads up to this size (a thousand 64-byte answers).
	immediateBytesRetainedMax = 64 << 10

	// outboundPooledBytesMax: buffers larger than this are not kept in the reply pool, so
	// one huge reply does not pin its memory forever.
	outboundPooledBytesMax = 2 << 20

	// outboundSpareBytesMax: a connection keeps its last reply buffer as its spare
	// (recycle) when the buffer's capacity is at most this: 32 one-event replies, a lone
	// caller's or 16 pipelined callers' batch. At most this plus the outbound itself per
	// open connection, kept while it is idle (gnet gives an idle connection's read and
	// write ring buffers back to its pool): 2 MiB at ConnectionsMaxDefault.
	outboundSpareBytesMax = 2 << 10

	// LoginAttemptsPerMinuteDefault bounds, per minute, failed logins per (remote
	// address, client id) and connections that never log in per remote address (see
	// Controls): generous for clients that reconnect often (a successful login costs
	// nothing), slow for a guessing script.
	LoginAttemptsPerMinuteDefault = 120

	// attemptAddressesMax bounds the entries each attempt limit tracks (addresses, and
	// (address, client) pairs); when full, new ones are refused until a minute passes.
	attemptAddressesMax = 1 << 16

	// MarketDataQueueUpdatesMaxDefault bounds the updates between the sequencer and the
	// market-data publisher (8 MiB): far more than one entry makes. Past it the feed
	// drops updates and every subscriber is told to resnapshot.
	MarketDataQueueUpdatesMaxDefault = 1 << 16

	// MarketDataHistoryUpdatesMaxDefault bounds the updates kept for subscribers that
	// resume by op after a reconnect or a failover (32 MiB).
	MarketDataHistoryUpdatesMaxDefault = 1 << 18

	// MarketDataSubscriberBytesMaxDefault: a subscriber with more unsent bytes is skipped
	// (then told to resnapshot), well below OutboundBytesMaxDefault so that market data
	// alone never gets a connection closed as a slow consumer.
	MarketDataSubscriberBytesMaxDefault = 1 << 20

	// MarketDataInstrumentsPerConnectionMax bounds the instruments one connection
	// subscribes to one by one (instrument 0 takes every instrument at once): each costs
	// the publisher a map entry, and instrument ids need not exist. Four times the
	// engine's default instrument bound; past it md_subscribe answers session_limit.
	MarketDataInstrumentsPerConnectionMax = 4096

	// marketDataInstrumentsLeftMax bounds the instruments whose newest update that left
	// the market-data history is kept one by one (marketDataHistory.leftOp), so that a
	// resume of a quiet instrument is not refused for other instruments' updates: the
	// engine's default instrument bound (match.InstrumentsMaxDefault, a test keeps them
	// equal), so every instrument of a shard so configured has its own entry. Past it,
	// the instruments without one share a single figure (conservative: they may be
	// answered market_data_resume_gap where their own updates were all held).
	marketDataInstrumentsLeftMax = 1024

	// marketDataCommandsMax bounds subscription changes waiting for a feed's publisher,
	// every connection's together; past it md_subscribe answers busy, except to a
	// connection with fewer than marketDataCommandsPerConnectionReserved waiting.
	marketDataCommandsMax = 1024

	// marketDataCommandsPerConnectionReserved: a connection may have this many
	// md_subscribe frames waiting whatever the others have queued, so that one
	// connection's flood cannot get every other's answered busy. Sixteen lets a client
	// change a few instruments at once without waiting for answers; it makes what may
	// wait at most marketDataCommandsMax plus sixteen per connection slot (ConnectionsMax;
	// 32 bytes each): counted per slot, so that a closed connection's frames still
	// queued count against the next connection in its slot (review53b).
	marketDataCommandsPerConnectionReserved = 16

	// marketDataRecheckInterval is how often the publisher looks at stale subscribers
	// when no update arrives (so a drained one gets its md_stale notice).
	marketDataRecheckInterval = 100 * time.Millisecond
)
