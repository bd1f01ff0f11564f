package ops

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/valyala/fasthttp"

	"sequent/netio/httpguard"
	"sequent/netio/httppath"
	"sequent/netio/peer"
)

// Paths of the endpoints.
const (
	PathMetrics    = "/metrics"
	PathHealth     = "/healthz"
	PathReady      = "/readyz"
	PathStatus     = "/v1/status"
	PathPromote    = "/v1/admin/" + ActionPromote
	PathSnapshot   = "/v1/admin/" + ActionSnapshot
	PathReloadKeys = "/v1/admin/" + ActionReloadKeys
	PathLogLevel   = "/v1/admin/" + ActionLogLevel
)

const (
	contentTypeJSON = "application/json"
	allowRead       = "GET, HEAD"
	allowAdmin      = "POST"
	allowClearing   = "GET"
)

// ErrStarted is returned by Start on a server that was already started.
var ErrStarted = errors.New("ops: server already started")

// Server is the operators' HTTP server. Create it with New, then Start; Shutdown stops
// it. Its methods are safe from any goroutine.
type Server struct {
	config  Config         // Immutable after New.
	sources Sources        // Immutable after New.
	allow   []netip.Prefix // Parsed Config.AllowCIDRs; immutable.
	hosts   []string       // Config.Hosts lowercased (ParseHosts); immutable.
	logger  *slog.Logger   // Never nil.
	tls     *tls.Config    // Nil: plain HTTP. Immutable (the certificate is not).
	// certificate is the pair TLS handshakes present and the Host names it makes
	// acceptable; ReloadCertificate replaces both at once.
	certificate atomic.Pointer[servedCertificate]
	http        *fasthttp.Server // Its fields are set by New and never changed.
	registry    *prometheus.Registry
	metrics     *httpMetrics     // Atomic counters.
	refusals    refusalLimiter   // Has its own mutex.
	limiter     *addressLimiter  // Requests per peer address; has its own mutex.
	metricsBody metricsCache     // The rendered /metrics; has its own mutex.
	nodeReads   nodeReads        // What a render reads from the node; under metricsBody's mutex.
	now         func() time.Time // The clock of the limiter and the cache (tests set it).
	timeout     atomic.Int64     // Admin action wait in ns (actionTimeout; tests shorten it).
	acting      atomic.Bool      // An admin action (audit + action) is running.
	reading     atomic.Bool      // A settlement or reconcile read is running.
	chainCheck  atomic.Bool      // A chain check is running (its own slot: see clearing.go).
	actions     sync.WaitGroup   // Admin action goroutines; Shutdown waits for them.
	console     *console         // The live console's sampler and cache (console.go).
	// guard answers 500 to a handler's panic instead of letting it end the process
	// (httpguard); it counts them (sequent_http_panics_total{server="ops"}).
	guard *httpguard.Guard
	// tokenLimiter: the requests bearing an admin token, per peer address, apart from
	// limiter's (admission): a token is looked at only within it; has its own mutex.
	tokenLimiter *addressLimiter

	// refusal serves the peers outside the allow-list apart (accept.go), from refused.
	refusal *fasthttp.Server
	refused *refusedListener // Nil until Start.

	mutex         sync.Mutex   // Guards listener, served, refusalServed and refused.
	listener      net.Listener // Nil until Start.
	served        chan error   // Receives Serve's result; nil until Start.
	refusalServed chan error   // Receives the refusal server's Serve result; nil until Start.
}

// New checks the configuration, loads the TLS certificate if any and builds the server.
// It does not listen (Start does).
func New(config Config, sources Sources) (*Server, error) {
	allow, err := validate(&config, &sources)
	if err != nil {
		return nil, err
	}
	if config.Address == "" {
		config.Address = AddressDefault
	}
	config = config.withLimitDefaults()
	hosts, err := ParseHosts(config.Hosts)
	if err != nil {
		return nil, err
	}
	s := &Server{config: config, sources: sources, allow: allow, hosts: hosts,
		logger: config.Logger, console: newConsole(sources.Console),
		limiter:      newAddressLimiter(config.RequestsPerSecondPerAddress),
		tokenLimiter: newAddressLimiter(config.RequestsPerSecondPerAddress), now: time.Now}
	s.metricsBody.interval = config.MetricsCacheInterval
	s.timeout.Store(int64(actionTimeout))
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.guard = httpguard.New("ops", s.logger, answerPanic)
	if config.TLSCertFile != "" {
		if err := s.ReloadCertificate(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrConfig, err)
		}
		// Each handshake takes the current certificate, so a reload needs no restart.
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return &s.certificate.Load().pair, nil
			}}
	}
	// The collectors read what nodeReads took from the node before the gather (see
	// handleMetrics), never the node itself.
	s.nodeReads.sources = sources
	s.registry, s.metrics, err = newRegistry(s.nodeReads.takenSnapshot, s.guard.Panics)
	if err == nil && sources.Console.LatencyHistograms != nil {
		err = s.registry.Register(newLatencyHistogramCollector(s.nodeReads.takenHistograms))
	}
	if err != nil {
		return nil, fmt.Errorf("ops: metrics registry: %w", err)
	}
	s.http = &fasthttp.Server{
		Handler:               s.handle,
		ErrorHandler:          s.handleError,
		Name:                  "",
		NoDefaultServerHeader: true, // Do not advertise the software to scanners.
		Concurrency:           connectionsMax,
		ReadBufferSize:        headerBytesMax,
		WriteBufferSize:       headerBytesMax,
		MaxRequestBodySize:    requestBodyBytesMax,
		ReadTimeout:           readTimeout,
		WriteTimeout:          writeTimeout,
		IdleTimeout:           idleTimeout,
		CloseOnShutdown:       true,
		SecureErrorLogMessage: true,
		Logger:                fasthttpLogger{s.logger},
	}
	s.refusal = s.newRefusalServer()
	return s, nil
}

// Start listens on Config.Address and serves in the background. When it returns nil the
// listener is bound (Address names it), so a client may connect at once.
func (s *Server) Start() error {
	s.mutex.Lock()
	defer s.mutex.Unlock()
	if s.listener != nil {
		return ErrStarted
	}
	listener := s.config.Listener
	if listener == nil {
		var err error
		if listener, err = net.Listen("tcp", s.config.Address); err != nil {
			return fmt.Errorf("ops: listen: %w", err)
		}
	}
	s.listener = listener
	s.served, s.refusalServed = make(chan error, 1), make(chan error, 1)
	s.refused = newRefusedListener(listener.Addr())
	var served net.Listener = &allowListener{Listener: listener, server: s, refused: s.refused}
	var refusing net.Listener = s.refused
	if max := s.config.ConnectionsPerAddressMax; max > 0 {
		// Counted here rather than by fasthttp's MaxConnsPerIP, which counts an IPv6
		// peer per address: a host may send from any address of its /64.
		served = peer.NewListener(served, int64(max), s.refuseConnection)
	}
	if s.tls != nil {
		served = tls.NewListener(served, s.tls) // Over the cap: refused before a handshake.
		refusing = tls.NewListener(refusing, s.tls)
	}
	go func() { s.served <- s.http.Serve(served) }()
	go func() { s.refusalServed <- s.refusal.Serve(refusing) }()
	s.console.start()
	s.logger.Info("ops: serving", "address", listener.Addr().String(), "tls", s.tls != nil,
		"allowed_networks", len(s.allow))
	return nil
}

// tooManyConnectionsBody and tooManyConnections are the answer to a connection past its
// peer's ConnectionsPerAddressMax on a plain HTTP port.
const tooManyConnectionsBody = `{"ok":false,"code":"` + CodeRateLimited +
	`","error":"this address holds as many connections as one address may"}`

// admission takes the request's share of its address's budgets at now and returns ""
// (served) or why it is answered 429: "rate_limited", or "wrong_token" for a token looked
// at and refused (counted so, as authorize counts one, in the refusals the dashboard
// shows: TestReview52oTokenGuessesLookedAtAreCountedWrongToken). A request bearing one
// admin token draws on its address's token budget, and only within it is the token looked
// at: accepted, the request is served; refused, it draws on the shared budget too, as
// every other request does. One console tab polls about 2.5 requests a second, so eight
// behind one bastion used up that address's 20 a second, and `sequent admin promote`
// from the same address, in the incident the consoles were open for, got 429
// (TestOpsleft52AdminTokenHasItsOwnBudget). The token is not looked at past the token
// budget: a guesser past the shared one had every guess checked and answered (429 wrong,
// served right) at any rate, each costing Config.Tokens before any limit
// (TestReview52oTokenGuessesPastTheBudgetAreNotLookedAt); now guesses are looked at no
// faster than one budget allows, as before opsleft52, and a holder of a real token, who
// can run the actions anyway, has at most twice the rate.
func (s *Server) admission(ctx *fasthttp.RequestCtx, address netip.Addr, now time.Time) string {
	token := s.singleBearerToken(ctx)
	switch {
	case token == "":
		if !s.limiter.allow(address, now) {
			return "rate_limited"
		}
	case !s.tokenLimiter.allow(address, now):
		return "rate_limited"
	case s.tokenAccepted(token): // Served.
	case !s.limiter.allow(address, now):
		return "wrong_token"
	}
	return ""
}

// singleBearerToken returns the token of the request's one Authorization header when
// admin tokens are configured and it is a well-formed Bearer credential, else "" (none,
// two headers, malformed: such a request draws on the shared budget only).
func (s *Server) singleBearerToken(ctx *fasthttp.RequestCtx) string {
	if s.config.Tokens == nil || len(ctx.Request.Header.PeekAll(fasthttp.HeaderAuthorization)) != 1 {
		return ""
	}
	token, _ := bearerToken(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization))
	return token
}

// tokenAccepted reports whether Config.Tokens accepts token, a checker's panic counting
// as no: the endpoint's authorize calls it again, where the guard answers the panic 500
// and counts it under its endpoint (TestHandlerPanicAnswers500).
func (s *Server) tokenAccepted(token string) (accepted bool) {
	defer func() {
		if recover() != nil {
			accepted = false
		}
	}()
	_, accepted = s.config.Tokens(token)
	return accepted
}

var tooManyConnections = []byte("HTTP/1.1 429 Too Many Requests\r\n" +
	"Content-Type: application/json\r\nRetry-After: " + retryAfterSeconds + "\r\n" +
	"Connection: close\r\nContent-Length: " + strconv.Itoa(len(tooManyConnectionsBody)) +
	"\r\n\r\n" + tooManyConnectionsBody)

// refuseConnection closes a connection past its peer's share (peer.Listener, on the
// accepting goroutine). Without TLS it first answers 429, as for a request past the
// rate, written with a short deadline so that a peer that does not read cannot hold the
// accept loop; with TLS nothing can be written before a handshake, so it just closes.
func (s *Server) refuseConnection(conn net.Conn) {
	if s.tls == nil {
		_ = conn.SetWriteDeadline(time.Now().Add(refusalWriteTimeout))
		_, _ = conn.Write(tooManyConnections)
	}
	_ = conn.Close()
}

// Address returns the address the server listens on once started (with the port the
// system picked for port 0), else Config.Address.
func (s *Server) Address() string {
	s.mutex.Lock()
	defer s.mutex.Unlock()
	if s.listener != nil {
		return s.listener.Addr().String()
	}
	return s.config.Address
}

// Shutdown stops listening, lets requests in progress finish, closes connections and
// waits for a running admin action, all within ctx. A server never started returns nil.
// If ctx ends first, Shutdown returns its error and what remains ends on its own (every
// wait is bounded by the read, write and action timeouts).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mutex.Lock()
	served, refusalServed, refused, listener := s.served, s.refusalServed, s.refused,
		s.listener
	s.mutex.Unlock()
	if served == nil {
		return nil
	}
	s.console.stop()
	// Both servers are shut down whatever the first's result: the refusal server left
	// running when the main one overran ctx would wait in Accept for ever
	// (TestReviewHN49ShutdownStopsTheRefusalServerWhenTheMainOneOverruns).
	mainErr := s.http.ShutdownWithContext(ctx)
	refusalErr := s.refusal.ShutdownWithContext(ctx)
	// Closed here too: a Shutdown right after Start may come before a server's Serve has
	// registered its listener, which fasthttp's Shutdown then does not close; that Serve
	// would accept on the port for ever and Shutdown wait for it until ctx ended
	// (TestReviewHN49ShutdownRightAfterStartClosesThePort).
	_ = listener.Close()
	_ = refused.Close()
	if mainErr == nil {
		mainErr = refusalErr
	}
	if mainErr != nil {
		return fmt.Errorf("ops: shutdown: %w", mainErr)
	}
	for _, result := range []chan error{served, refusalServed} {
		select {
		case err := <-result:
			result <- err // Keep the result for a second Shutdown.
			if err != nil {
				return fmt.Errorf("ops: serve: %w", err)
			}
		case <-ctx.Done():
			return fmt.Errorf("ops: shutdown: %w", ctx.Err())
		}
	}
	actionsDone := make(chan struct{})
	go func() { s.actions.Wait(); close(actionsDone) }()
	select {
	case <-actionsDone:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ops: shutdown: admin action still running: %w", ctx.Err())
	}
}

// handle is every request's entry: the allow-list first, then the endpoint.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	endpoint := "other"
	defer func() {
		s.metrics.requests.WithLabelValues(endpoint,
			strconv.Itoa(ctx.Response.StatusCode())).Inc()
	}()
	// Deferred after the count above, so it runs before it: a recovered panic is
	// counted with its 500. Only this server's code is guarded: sources that read the
	// node are called Unguarded, and the binary port's event loops and the sequencer
	// have no guard (a panic there means corrupt state: the process ends; see httpguard).
	defer s.guard.Recover(ctx)
	// The path as sent, not fasthttp's normalized ctx.Path(): see routeOf.
	sent := httppath.AsSent(ctx)
	address, ok := peerAddress(ctx)
	if !ok || !allowed(s.allow, address) {
		s.refuse(ctx, "address_not_allowed")
		reply(ctx, fasthttp.StatusForbidden, Reply{Code: CodeAddressNotAllowed,
			Error: "this address may not use the operators' server"})
		return
	}
	// Before the rate limiter, so that a rebinding page's requests do not use up the
	// operator's own budget (they come from the operator's address).
	// Both the header and the request line's host (an absolute-form target names one).
	// Under TLS, the certificate's own DNS names are accepted too (servedCertificate).
	hosts := s.hosts
	if served := s.certificate.Load(); served != nil {
		hosts = served.hosts
	}
	if refused, ok := refusedHost(hosts, ctx.Request.Header.Host(), ctx.URI().Host()); !ok {
		s.refuseHost(ctx, refused)
		reply(ctx, fasthttp.StatusMisdirectedRequest, Reply{Code: CodeHostNotAllowed,
			Error: hostNotAllowedMessage})
		return
	}
	if refused := s.admission(ctx, address, s.now()); refused != "" {
		s.refuse(ctx, refused)
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, retryAfterSeconds)
		reply(ctx, fasthttp.StatusTooManyRequests, Reply{Code: CodeRateLimited,
			Error: "too many requests from this address; retry later"})
		return
	}
	switch path := routeOf(sent); path {
	case PathMetrics, PathHealth, PathReady, PathStatus:
		endpoint = path
		if !ctx.IsGet() && !ctx.IsHead() {
			methodNotAllowed(ctx, allowRead)
			return
		}
		s.handleRead(ctx, path)
	case PathSettlement, PathChain, PathReconcile:
		endpoint = path
		if !ctx.IsGet() {
			methodNotAllowed(ctx, allowClearing)
			return
		}
		s.handleClearing(ctx, path)
	case PathRiskRules, PathRiskSet, PathRiskRemove:
		endpoint = path
		s.handleRisk(ctx, path)
	case PathPromote, PathSnapshot, PathReloadKeys, PathLogLevel:
		endpoint = path
		if !ctx.IsPost() {
			methodNotAllowed(ctx, allowAdmin)
			return
		}
		s.handleAdmin(ctx, path[len("/v1/admin/"):])
	default:
		if endpoint = s.handleConsole(ctx, path); endpoint == "" {
			endpoint = "other"
			reply(ctx, fasthttp.StatusNotFound, Reply{Code: CodeNotFound,
				Error: "no such endpoint"})
		}
	}
}

// routeOf returns the route a path as sent names: the path itself, compared byte for
// byte with the fixed routes, or "" (no route: 404) for one with a percent-escape.
// fasthttp's normalized ctx.Path() decodes "%2F" into a separator and resolves ".", ".."
// and repeated slashes, so "/v1/admin%2Fsnapshot" or "//v1/admin/snapshot" — another
// path to a proxy refusing "/v1/admin/", to its logs and to the refusal log here — ran
// the snapshot action (TestOpsRaw50PathIsRoutedAsSent). Decoding each segment (as the
// JSON API then did) still ran it for "/v1/%61dmin/snapshot", which a proxy matching
// the raw path ("path_beg /v1/admin/") does not refuse; no route here has a character
// that needs an escape, so a path with one is no route: a proxy that decodes sees the
// route and refuses it, one that does not passes a path this port does not serve
// (TestReview50EscapedRouteIsNotARoute).
func routeOf(sent string) string {
	if strings.IndexByte(sent, '%') >= 0 {
		return ""
	}
	return sent
}

// hostNotAllowedMessage is the error of a 421: the remedy for an operator who reaches the
// node by a name.
const hostNotAllowedMessage = "this server does not answer for the host this request " +
	"names; use an IP address or localhost, or start the node with --http-host NAME"

// handleError answers a request fasthttp could not read (too large, too slow, malformed),
// in the same JSON shape as every other error; a disallowed peer still gets 403.
func (s *Server) handleError(ctx *fasthttp.RequestCtx, err error) {
	defer func() {
		s.metrics.requests.WithLabelValues("other",
			strconv.Itoa(ctx.Response.StatusCode())).Inc()
	}()
	defer s.guard.Recover(ctx)
	if address, ok := peerAddress(ctx); !ok || !allowed(s.allow, address) {
		s.refuse(ctx, "address_not_allowed")
		reply(ctx, fasthttp.StatusForbidden, Reply{Code: CodeAddressNotAllowed,
			Error: "this address may not use the operators' server"})
		return
	}
	var small *fasthttp.ErrSmallBuffer
	var network *net.OpError
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		reply(ctx, fasthttp.StatusRequestEntityTooLarge, Reply{Code: CodeTooLarge,
			Error: "request body over " + strconv.Itoa(requestBodyBytesMax) + " bytes"})
	case errors.As(err, &small):
		reply(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, Reply{Code: CodeTooLarge,
			Error: "request headers over " + strconv.Itoa(headerBytesMax) + " bytes"})
	case errors.As(err, &network) && network.Timeout():
		reply(ctx, fasthttp.StatusRequestTimeout, Reply{Code: CodeRequestTimeout,
			Error: "request not received in time"})
	default:
		reply(ctx, fasthttp.StatusBadRequest, Reply{Code: CodeBadRequest,
			Error: "malformed request"})
	}
}

// handleRead serves the read-only endpoints from one snapshot.
func (s *Server) handleRead(ctx *fasthttp.RequestCtx, path string) {
	if path == PathMetrics {
		s.handleMetrics(ctx)
		return
	}
	var snapshot Snapshot
	// Unguarded: the source reads the node's shards, log and replication, whose locks a
	// panic could leave held (see httpguard).
	httpguard.Unguarded(func() { snapshot = s.sources.Snapshot() })
	switch path {
	case PathHealth:
		body := health(&snapshot)
		writeJSON(ctx, statusFor(body.Status == HealthOK), body)
	case PathReady:
		body := readiness(&snapshot)
		writeJSON(ctx, statusFor(body.Status == ReadinessReady), body)
	case PathStatus:
		writeJSON(ctx, fasthttp.StatusOK, status(&snapshot))
	}
}

// answerPanic is the answer to a request whose handler panicked (httpguard.Guard); the
// panic's value and stack go to the log only.
func answerPanic(ctx *fasthttp.RequestCtx) {
	reply(ctx, fasthttp.StatusInternalServerError, Reply{Code: CodeInternal,
		Error: "the server failed while handling the request; its log has the details"})
}

func statusFor(good bool) int {
	if good {
		return fasthttp.StatusOK
	}
	return fasthttp.StatusServiceUnavailable
}

// handleMetrics writes the Prometheus text exposition, rendered at most once per
// MetricsCacheInterval (metricsCache). A series the registry cannot gather (a label
// value that is not UTF-8, a duplicate) is left out and logged; the rest is still
// served, so one bad value cannot blind monitoring.
func (s *Server) handleMetrics(ctx *fasthttp.RequestCtx) {
	gatherErr, encoded := s.metricsBody.render(s.registry, s.now(), s.nodeReads.take, func(body []byte) {
		ctx.SetContentType(string(expfmt.NewFormat(expfmt.TypeTextPlain)))
		ctx.SetStatusCode(fasthttp.StatusOK)
		ctx.SetBody(body)
	})
	if gatherErr != nil {
		s.logger.Warn("ops: metrics gathered with errors", "error", gatherErr.Error())
	}
	if !encoded {
		s.logger.Error("ops: metrics encoding failed")
		reply(ctx, fasthttp.StatusInternalServerError, Reply{Code: CodeInternal,
			Error: "metrics encoding failed"})
	}
}

// peerAddress returns the TCP peer's address (never a forwarded one).
func peerAddress(ctx *fasthttp.RequestCtx) (netip.Addr, bool) {
	if tcp, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		address, ok := netip.AddrFromSlice(tcp.IP)
		return address, ok
	}
	addressPort, err := netip.ParseAddrPort(ctx.RemoteAddr().String())
	return addressPort.Addr(), err == nil
}

func methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) {
	ctx.Response.Header.Set(fasthttp.HeaderAllow, allow)
	reply(ctx, fasthttp.StatusMethodNotAllowed, Reply{Code: CodeMethodNotAllowed,
		Error: "method not allowed; use " + allow})
}

// writeJSON writes a JSON body. The values are plain structs of strings and numbers, so
// marshaling cannot fail unless a float is not finite, which is the caller's bug made
// visible as a 500.
func writeJSON(ctx *fasthttp.RequestCtx, statusCode int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		ctx.SetContentType(contentTypeJSON)
		ctx.SetBodyString(`{"ok":false,"code":"internal","error":"encoding the response failed"}`)
		return
	}
	ctx.SetStatusCode(statusCode)
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBody(data)
}

// refuseHost logs and counts a refusal for the Host named: the log line carries the
// refused name (hostLogBytesMax bytes at most, control and non-ASCII bytes escaped by
// loggableHost), so that an operator sees which name to give with --http-host.
func (s *Server) refuseHost(ctx *fasthttp.RequestCtx, host []byte) {
	s.refuse(ctx, "host_not_allowed", slog.Any("host", refusedHostLog(host)))
}

// refusedHostLog renders a refused Host (loggableHost) only when refuse writes a line:
// the Host check comes before the rate limiter, and refuse drops most lines of a flood.
type refusedHostLog []byte

func (host refusedHostLog) LogValue() slog.Value {
	return slog.StringValue(loggableHost(host))
}

// refuse counts a refusal and logs it with the path as sent (httppath.AsSent, truncated
// to pathLogBytesMax: what a proxy in front and its logs saw) and the extra attributes,
// at most refusalLogsPerSecondMax lines a second. It reads the path from ctx itself, so
// that no caller can log another (the token refusals logged the action's name, and a
// request fasthttp could not read logged none: TestOpsLog50EveryRefusalLogsThePathAsSent).
func (s *Server) refuse(ctx *fasthttp.RequestCtx, reason string, extra ...slog.Attr) {
	s.metrics.refusals.WithLabelValues(reason).Inc()
	log, suppressed := s.refusals.allow(time.Now())
	if !log {
		return
	}
	attributes := make([]any, 0, 4+len(extra))
	attributes = append(attributes, slog.String("reason", reason),
		slog.String("remote", ctx.RemoteAddr().String()),
		slog.String("path", truncate(httppath.AsSent(ctx), pathLogBytesMax)))
	for _, attribute := range extra {
		attributes = append(attributes, attribute)
	}
	attributes = append(attributes, slog.Uint64("suppressed_before", suppressed))
	s.logger.Warn("ops: request refused", attributes...)
}

// refusalLimiter spaces refusal log lines: at most refusalLogsPerSecondMax per second,
// counting those it suppresses.
type refusalLimiter struct {
	mutex       sync.Mutex
	windowStart time.Time // Start of the current one-second window.
	logged      int       // Lines logged in the current window.
	suppressed  uint64    // Lines suppressed since the last line logged.
}

// allow reports whether to log a refusal now, and how many were suppressed before it.
func (l *refusalLimiter) allow(now time.Time) (bool, uint64) {
	l.mutex.Lock()
	defer l.mutex.Unlock()
	if now.Sub(l.windowStart) >= time.Second {
		l.windowStart, l.logged = now, 0
	}
	if l.logged >= refusalLogsPerSecondMax {
		l.suppressed++
		return false, 0
	}
	l.logged++
	suppressed := l.suppressed
	l.suppressed = 0
	return true, suppressed
}

// fasthttpLogger sends fasthttp's own messages (connection errors) to the slog logger.
type fasthttpLogger struct{ logger *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.logger.Warn("ops: http: " + fmt.Sprintf(format, args...))
}

// ReloadCertificate rereads the TLS certificate and key files; later handshakes use the
// new pair, connections already open keep theirs, and from then on the Host check
// accepts the new certificate's DNS names instead of the old one's. On error the old
// pair (and its names) stays in use. Without TLS it does nothing.
func (s *Server) ReloadCertificate() error {
	if s.config.TLSCertFile == "" {
		return nil
	}
	certificate, err := tls.LoadX509KeyPair(s.config.TLSCertFile, s.config.TLSKeyFile)
	if err != nil {
		return fmt.Errorf("ops: TLS certificate: %w", err)
	}
	names, err := certificateHostNames(&certificate)
	if err != nil {
		return fmt.Errorf("ops: TLS certificate: %w", err)
	}
	hosts := make([]string, 0, len(s.hosts)+len(names))
	hosts = append(append(hosts, s.hosts...), names...)
	s.certificate.Store(&servedCertificate{pair: certificate, hosts: hosts})
	return nil
}

// TLSEnabled reports whether the server speaks HTTPS.
func (s *Server) TLSEnabled() bool { return s.tls != nil }

// nodeReads holds what one /metrics render reads from the node, taken before the registry
// gathers. The registry recovers every panic inside a collector (client_golang turns it
// into a gather error and serves the rest), so a collector that read the node itself
// would hide a panic there behind a Warn line and a 200 — where the same read for
// /v1/status ends the process (httpguard.Unguarded: the node may hold a lock the panic
// skipped). take runs the reads Unguarded, outside the gather; the collectors only copy
// the values out. All of it runs under the metricsCache mutex (render), which orders
// take before the gather and one render after another.
type nodeReads struct {
	sources    Sources
	snapshot   Snapshot
	histograms map[string]*hdrhistogram.Snapshot
}

// take reads the node for the render that follows.
func (s *nodeReads) take() {
	httpguard.Unguarded(func() {
		s.snapshot = s.sources.Snapshot()
		if s.sources.Console.LatencyHistograms != nil {
			s.histograms = s.sources.Console.LatencyHistograms()
		}
	})
}

func (s *nodeReads) takenSnapshot() Snapshot { return s.snapshot }

func (s *nodeReads) takenHistograms() map[string]*hdrhistogram.Snapshot { return s.histograms }
