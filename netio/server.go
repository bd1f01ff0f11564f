package netio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	gnetErrors "github.com/panjf2000/gnet/v2/pkg/errors"

	"sequent/core/backend"
	"sequent/netio/wire"
)

var timeNow = time.Now

// Errors of the server lifecycle.
var (
	// ErrNoBackend is returned by NewServer when no backend was given.
	ErrNoBackend = errors.New("netio: server has no backend")
	// ErrStarted is returned by Start on a server that was already started.
	ErrStarted = errors.New("netio: server already started")
)

// Server is Sequent's binary protocol server. It accepts connections on gnet event loops,
// authenticates sessions, submits requests to a backend.Backend and delivers the backend's
// replies and execution reports (it implements backend.Replier). See doc.go for the
// threading model.
type Server struct {
	config  Config          // With defaults applied; read-only after NewServer.
	backend backend.Backend // Read-only.
	log     *asyncLogger    // Connection-level events; never blocks its callers.
	table   *connectionTable

	// inline is backend's InlineTurner side, nil when it has none or its inline turns
	// are off (InlineTurns): with it, a loop submits with SubmitDeferred and has
	// TurnInline run once its round of events is handled (scheduleTurn, with the loop's
	// loopTurn); without it, with Submit and no task. Read-only.
	inline backend.InlineTurner
	// loopTurns is each event loop's loopTurn (gnet.EventLoop → *loopTurn), made when
	// the loop opens its first connection (OnOpen, which alone takes loopTurnsMutex).
	loopTurns      map[gnet.EventLoop]*loopTurn
	loopTurnsMutex sync.Mutex

	sessions    sync.Map // sessionKey → *connection: the connection holding each session.
	subscribers sync.Map // client id → *subscriberList: connections subscribed to reports.

	replaySlots chan struct{} // Semaphore: report replays under way.
	outbound    sync.Pool     // *outbound: reply buffers lent to AsyncWrite.
	scratch     sync.Pool     // *deliverScratch: per-Deliver grouping by connection.
	deliveries  sync.Pool     // *loopDelivery: one loop task's buffers (flush).
	heartbeat   []byte        // The server's heartbeat frame (immutable, shared).

	// The backend's report streams, one per shard (reports.go): reportShards is its
	// ShardReportReplayer side (nil for a backend of one stream), reportShardCount its
	// shards (1 without it), reportShardDefault the shard of a subscription naming
	// none. Read-only.
	reportShards       backend.ShardReportReplayer
	reportShardCount   uint16
	reportShardDefault uint16

	// loginOverdueCheck is s.loginOverdue, bound once: the callback the ticker lends a
	// connection's loop when its login is overdue.
	loginOverdueCheck gnet.AsyncCallback
	// silenceOverdueCheck is s.silenceOverdue, bound once: the callback the ticker lends
	// a connection's loop when the connection looks silent.
	silenceOverdueCheck gnet.AsyncCallback
	// drainOverdueCheck is s.drainOverdue and heartbeatWrite s.writeHeartbeat, bound
	// once: callbacks the ticker lends a connection's loop (lendTo).
	drainOverdueCheck gnet.AsyncCallback
	heartbeatWrite    gnet.AsyncCallback
	// unsentProbe is s.probeUnsent, bound once: the callback a market-data feed lends a
	// stale subscriber's loop.
	unsentProbe gnet.AsyncCallback

	started  time.Time     // Origin of the connection clocks (monotonic).
	engine   gnet.Engine   // Set in OnBoot, before booted is closed.
	address  string        // Bound host:port, set in OnBoot.
	booted   chan struct{} // Closed when the listener is up.
	done     chan struct{} // Closed when gnet.Run has returned.
	runErr   error         // gnet.Run's result, readable once done is closed.
	starting atomic.Bool   // Start was called.
	stopping atomic.Bool   // Shutdown was called.

	draining    atomic.Bool   // New requests are answered shutting_down.
	inflight    atomic.Int64  // Requests submitted whose reply has not been delivered.
	drained     chan struct{} // Closed when draining and inflight reaches zero.
	drainedOnce sync.Once

	marketData       *marketData   // Shard 0's market-data feed (marketdata.go).
	marketDataShards []*marketData // Every shard's feed, in shard order (read-only).

	counters counters
}

// NewServer checks config and returns a server ready to Start, submitting to served (a
// shard, or a node of several: required). The backend learns of the server's Replier
// when it starts (shard.Start, node.Start), so no wiring order needs a backend later.
func NewServer(config Config, served backend.Backend) (*Server, error) {
	if served == nil {
		return nil, ErrNoBackend
	}
	if err := config.Validate(); err != nil {
		return nil, err
	}
	config = config.withDefaults()
	s := &Server{
		config:      config,
		backend:     served,
		table:       newConnectionTable(config.ConnectionsMax),
		replaySlots: make(chan struct{}, reportReplaysConcurrentMax),
		heartbeat:   wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat}, nil),
		started:     time.Now(),
		booted:      make(chan struct{}),
		done:        make(chan struct{}),
		drained:     make(chan struct{}),
	}
	if inline, ok := served.(backend.InlineTurner); ok && inline.InlineTurns() {
		s.inline, s.loopTurns = inline, map[gnet.EventLoop]*loopTurn{}
	}
	s.reportShardCount = 1
	if sharded, ok := served.(backend.ShardReportReplayer); ok {
		count, defaultShard := sharded.ReportShards()
		if count == 0 || defaultShard >= count {
			return nil, fmt.Errorf("netio: backend of %d report shards, default %d",
				count, defaultShard)
		}
		s.reportShards, s.reportShardCount, s.reportShardDefault = sharded, count,
			defaultShard
	}
	s.loginOverdueCheck, s.silenceOverdueCheck = s.loginOverdue, s.silenceOverdue
	s.drainOverdueCheck, s.heartbeatWrite = s.drainOverdue, s.writeHeartbeat
	s.unsentProbe = s.probeUnsent
	for index, feed := range config.MarketData.feedConfigs() {
		s.marketDataShards = append(s.marketDataShards, newMarketData(s, feed, uint16(index)))
	}
	s.marketData = s.marketDataShards[0]
	s.outbound.New = func() any { return newOutbound(s) }
	s.scratch.New = func() any { return &deliverScratch{index: make(map[uint64]int)} }
	s.deliveries.New = func() any {
		d := &loopDelivery{server: s}
		d.written = d.afterWrite
		return d
	}
	return s, nil
}

// Replier returns the server as the shard's Replier.
func (s *Server) Replier() backend.Replier { return s }

// Keys returns the keyring the server authenticates with (reload it to rotate keys).
func (s *Server) Keys() *Keyring { return s.config.Keys }

// now reads the connection clock: monotonic nanoseconds since the server was made.
func (s *Server) now() int64 { return int64(time.Since(s.started)) }

// Start binds the listener and serves in the background. It returns once the listener is
// up (Address is then valid) or binding failed.
func (s *Server) Start() error {
	if !s.starting.CompareAndSwap(false, true) {
		return ErrStarted
	}
	s.log = newAsyncLogger(s.config.Logger)
	for _, feed := range s.marketDataShards {
		feed.start()
	}
	handler := &eventHandler{server: s}
	go func() {
		s.runErr = gnet.Run(handler, "tcp://"+s.config.Address, s.gnetOptions()...)
		close(s.done)
	}()
	select {
	case <-s.booted:
		s.log.log(slog.LevelInfo, "netio: listening", slog.String("address", s.address),
			slog.Int("event_loops", s.config.EventLoops))
		return nil
	case <-s.done:
		// Stopped already: a Shutdown after this failure has nothing left to stop (it
		// closed the feeds a second time: a panic on their stop channel).
		s.stopping.Store(true)
		s.closeMarketData()
		s.log.close()
		return fmt.Errorf("netio: listen on %s: %w", s.config.Address, s.runErr)
	}
}

// gnetOptions passes every option that matters explicitly rather than relying on gnet's
// defaults (style.md, gnet pitfall 10).
func (s *Server) gnetOptions() []gnet.Option {
	return []gnet.Option{
		gnet.WithMulticore(s.config.EventLoops > 1),
		gnet.WithNumEventLoop(s.config.EventLoops),
		gnet.WithLoadBalancing(gnet.RoundRobin),
		gnet.WithReadBufferCap(s.config.ReadBufferBytes),
		gnet.WithWriteBufferCap(s.config.WriteBufferBytes),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithTicker(true),
		gnet.WithLockOSThread(false),
		gnet.WithReuseAddr(true),
		gnet.WithReusePort(false),
		gnet.WithEdgeTriggeredIO(false),
		gnet.WithTCPKeepAlive(0),
		gnet.WithLogger(gnetLogger{logger: s.log}),
	}
}

// Run starts the server and blocks until it stops.
func (s *Server) Run() error {
	if err := s.Start(); err != nil {
		return err
	}
	return s.Wait()
}

// Wait blocks until the server has stopped and returns why.
func (s *Server) Wait() error {
	<-s.done
	return s.runErr
}

// Address returns the bound host:port (valid after Start).
func (s *Server) Address() string { return s.address }

// Shutdown stops the server: new requests are answered shutting_down at once, requests
// already submitted get their replies (until ctx expires), then the listener and every
// connection close (sessions end as on disconnect) and the event loops stop. Call it
// before stopping the backend, so that the last replies can still be delivered.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.starting.Load() {
		return nil
	}
	if !s.stopping.CompareAndSwap(false, true) {
		select {
		case <-s.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.draining.Store(true)
	if s.inflight.Load() > 0 {
		select {
		case <-s.drained:
		case <-ctx.Done():
		}
	}
	s.closeMarketData()
	err := s.engine.Stop(ctx)
	select {
	case <-s.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.log.log(slog.LevelInfo, "netio: stopped", slog.String("address", s.address))
	s.log.close()
	// ErrEngineInShutdown: the engine had stopped on its own (gnet ends it on one accept
	// error such as EMFILE); nothing was left to stop.
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, gnetErrors.ErrEngineInShutdown) {
		return fmt.Errorf("netio: stop: %w", err)
	}
	return nil
}

// closeMarketData stops every feed's publisher.
func (s *Server) closeMarketData() {
	for _, feed := range s.marketDataShards {
		feed.close()
	}
}

// requestsDone accounts for submitted requests whose replies were delivered (or whose
// submission failed), and signals Shutdown when the last one is in.
func (s *Server) requestsDone(count int) {
	if s.inflight.Add(-int64(count)) <= 0 && s.draining.Load() {
		s.drainedOnce.Do(func() { close(s.drained) })
	}
}

// boundAddress reads the listener's address from a duplicate of its descriptor.
func boundAddress(engine gnet.Engine) (string, error) {
	fd, err := engine.Dup()
	if err != nil {
		return "", err
	}
	defer syscall.Close(fd)
	sockaddr, err := syscall.Getsockname(fd)
	if err != nil {
		return "", err
	}
	switch address := sockaddr.(type) {
	case *syscall.SockaddrInet4:
		return net.JoinHostPort(net.IP(address.Addr[:]).String(), strconv.Itoa(address.Port)),
			nil
	case *syscall.SockaddrInet6:
		return net.JoinHostPort(net.IP(address.Addr[:]).String(), strconv.Itoa(address.Port)),
			nil
	}
	return "", fmt.Errorf("netio: unexpected listener address %T", sockaddr)
}

// counters are the server's statistics; every field is updated atomically.
type counters struct {
	connectionsAccepted atomic.Uint64
	connectionsRefused  atomic.Uint64
	loginsAccepted      atomic.Uint64
	loginsRejected      atomic.Uint64
	requestsSubmitted   atomic.Uint64
	requestsRefused     atomic.Uint64
	busyReplies         atomic.Uint64
	rateLimitedReplies  atomic.Uint64
	protocolErrors      atomic.Uint64
	slowConsumers       atomic.Uint64
	silenceTimeouts     atomic.Uint64
	repliesSent         atomic.Uint64
	repliesDropped      atomic.Uint64
	reportsSent         atomic.Uint64
	bytesReceived       atomic.Uint64
	bytesQueued         atomic.Uint64
	// loopTasks counts the tasks replies and reports handed to event loops (AsyncWrite
	// calls of send and flush): tests check flush's one per loop per call.
	loopTasks atomic.Uint64
}

// Stats is a snapshot of the server's counters (monotonic since start, except
// ConnectionsOpen and RequestsInflight).
type Stats struct {
	ConnectionsOpen     int64  // Connections in the table now.
	ConnectionsAccepted uint64 // Connections admitted since start.
	ConnectionsRefused  uint64 // Connections refused (limit, admission, shutting down).
	LoginsAccepted      uint64
	LoginsRejected      uint64 // Unknown key, bad signature, reused nonce, bad options.
	RequestsSubmitted   uint64 // Requests the backend accepted.
	RequestsRefused     uint64 // Requests answered at once with a non-ok status.
	BusyReplies         uint64 // Of those, answered busy.
	RateLimitedReplies  uint64 // Requests and subscriptions answered rate_limited (client limits).
	RequestsInflight    int64  // Submitted, reply not yet delivered.
	ProtocolErrors      uint64 // Error frames sent for malformed or unexpected frames.
	SlowConsumers       uint64 // Connections closed for exceeding OutboundBytesMax.
	SilenceTimeouts     uint64 // Connections closed for silence or missing login.
	RepliesSent         uint64 // Replies from the backend queued to a connection.
	RepliesDropped      uint64 // Replies whose connection had gone.
	ReportsSent         uint64 // Execution reports queued to a connection.
	BytesReceived       uint64 // Bytes of complete frames received.
	BytesQueued         uint64 // Bytes of replies and reports queued for sending.
	LogRecordsDropped   uint64 // Log records dropped because the log queue was full.
}

// Stats returns a snapshot of the counters. Safe from any goroutine.
func (s *Server) Stats() Stats {
	c := &s.counters
	stats := Stats{
		ConnectionsOpen:     s.table.count.Load(),
		ConnectionsAccepted: c.connectionsAccepted.Load(),
		ConnectionsRefused:  c.connectionsRefused.Load(),
		LoginsAccepted:      c.loginsAccepted.Load(),
		LoginsRejected:      c.loginsRejected.Load(),
		RequestsSubmitted:   c.requestsSubmitted.Load(),
		RequestsRefused:     c.requestsRefused.Load(),
		BusyReplies:         c.busyReplies.Load(),
		RateLimitedReplies:  c.rateLimitedReplies.Load(),
		RequestsInflight:    s.inflight.Load(),
		ProtocolErrors:      c.protocolErrors.Load(),
		SlowConsumers:       c.slowConsumers.Load(),
		SilenceTimeouts:     c.silenceTimeouts.Load(),
		RepliesSent:         c.repliesSent.Load(),
		RepliesDropped:      c.repliesDropped.Load(),
		ReportsSent:         c.reportsSent.Load(),
		BytesReceived:       c.bytesReceived.Load(),
		BytesQueued:         c.bytesQueued.Load(),
	}
	if s.log != nil {
		stats.LogRecordsDropped = s.log.dropped.Load()
	}
	return stats
}
