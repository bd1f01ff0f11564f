package api

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sync/semaphore"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/acceptretry"
	"sequent/netio/httpguard"
	"sequent/netio/httppath"
	"sequent/netio/jsonkeys"
	"sequent/netio/peer"
)

// Config configures the API server. Zero fields take the documented defaults.
type Config struct {
	// Address to listen on (host:port; port 0 picks one, see Server.Address).
	Address string
	// Listener, when set, is an already bound listener to serve on (closed by Shutdown).
	Listener net.Listener
	// Keys authenticates clients (required): the same keyring as the binary port, with
	// its HMAC secrets and ECDSA public keys; reloading it applies at once.
	Keys *netio.Keyring
	// Admission applies the binary port's per-client rate limits and its failed
	// authentication limits per (address, client), shared with the binary port (nil:
	// none).
	Admission *netio.Controls
	// AllowedNetworks lists where requests may come from (empty: anywhere); each
	// client's allowed_networks narrow it further.
	AllowedNetworks []netip.Prefix
	// TLS, when set, makes the server speak HTTPS only; with ClientAuth set to
	// tls.RequireAndVerifyClientCert it is mutual TLS (the signature still
	// authenticates every request: the certificate authenticates the connection).
	TLS *tls.Config
	// ClockWindow is how far Sequent-Timestamp may be from the server's clock
	// (default ClockWindowDefault).
	ClockWindow time.Duration
	// NoncesMax bounds the nonce cache (default NoncesMaxDefault).
	NoncesMax int
	// InFlightMax bounds the requests waiting for the shard (default InFlightMaxDefault,
	// at most 250).
	InFlightMax int
	// ReplyTimeout bounds the wait for one reply (default ReplyTimeoutDefault).
	ReplyTimeout time.Duration
	// PrimaryAddress returns the primary's binary address for not_primary answers.
	PrimaryAddress func() string
	// Logger receives refusals (authentication, permission) and server errors.
	Logger *slog.Logger
	// Now is the clock of the timestamp window (tests set it; nil: time.Now).
	Now func() time.Time
	// Started is when the server began taking requests: a request signed before it is
	// refused (timestamp_out_of_window; the nonce cache starts empty, so a previous
	// process may have accepted it). Zero: Now at New. A server given a Listener bound
	// earlier (sequent serve binds it before recovery) gives the time of that bind, or a
	// request that waited on the listener was refused although signed after it.
	Started time.Time
}

func (c Config) withDefaults() Config {
	if c.Address == "" {
		c.Address = AddressDefault
	}
	if c.ClockWindow == 0 {
		c.ClockWindow = ClockWindowDefault
	}
	if c.NoncesMax == 0 {
		c.NoncesMax = NoncesMaxDefault
	}
	if c.InFlightMax == 0 {
		c.InFlightMax = InFlightMaxDefault
	}
	if c.ReplyTimeout == 0 {
		c.ReplyTimeout = ReplyTimeoutDefault
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Keys == nil:
		return errors.New("api: Config.Keys is required")
	case c.ClockWindow < time.Second || c.ClockWindow > ClockWindowMax:
		return fmt.Errorf("api: clock window %v outside 1s..%v", c.ClockWindow, ClockWindowMax)
	case c.NoncesMax < 1024:
		return fmt.Errorf("api: nonce cache of %d entries, want at least 1024", c.NoncesMax)
	case c.InFlightMax < 1 || c.InFlightMax > InFlightMaxLimit:
		return fmt.Errorf("api: in-flight bound %d outside 1..%d", c.InFlightMax, InFlightMaxLimit)
	case c.ReplyTimeout < time.Millisecond:
		return fmt.Errorf("api: reply timeout %v below 1ms", c.ReplyTimeout)
	}
	if c.Listener == nil {
		if _, _, err := net.SplitHostPort(c.Address); err != nil {
			return fmt.Errorf("api: address %q: %w", c.Address, err)
		}
	}
	return nil
}

// Server is the integrators' JSON HTTP API. It authenticates every request, submits it
// to the shard (backend.Submitter: the contract netio uses, so a node router can take the
// shard's place) and answers once the shard released the reply, i.e. once it is durable
// (and acknowledged by the standby in sync mode). See doc.go.
type Server struct {
	config   Config
	backend  backend.Submitter
	http     *fasthttp.Server
	nonces   *nonceCache
	waiters  *waiters
	inFlight chan struct{}       // Semaphore of InFlightMax.
	bodies   *semaphore.Weighted // Bytes of request bodies being read or served.
	// peers counts the same bytes per peer address (peer.Bucket), so that no peer
	// holds more than bodyBytesPerPeerMax: bodies are read before their signature can be
	// checked, and one peer with no credentials, sending bodies slowly on a few
	// connections, could otherwise hold the whole budget and leave every request with a
	// body, anyone's, refused busy.
	peers    *peer.Shares
	sessions sync.Map // Client id → *autoSession.
	listener net.Listener
	address  string
	served   chan error
	counters counters
	// guard answers 500 to a handler's panic instead of letting it end the process
	// (httpguard); it counts them (Stats.Panics).
	guard *httpguard.Guard
	// startedMs is the server's clock at New (Unix ms). The nonce cache starts empty, so a
	// request signed before then could be one a previous process accepted: it is refused
	// (timestamp_out_of_window), which makes a replay across a restart impossible.
	startedMs int64
	// draining counts the connections discardBodyAfterAnswer is draining (hijacked:
	// fasthttp's Concurrency no longer counts them); at most drainingMax.
	draining atomic.Int64
}

type counters struct {
	requests       atomic.Uint64
	authFailures   atomic.Uint64
	refused        atomic.Uint64
	busy           atomic.Uint64
	rateLimited    atomic.Uint64
	repliesDropped atomic.Uint64
	timeouts       atomic.Uint64
}

// Stats are the server's counters since start.
type Stats struct {
	Requests       uint64 // Requests answered (any outcome).
	AuthFailures   uint64 // Refused for their authentication (401, 429 too_many_attempts).
	Refused        uint64 // Refused after authentication (403, 400, 429, 503 at once).
	Busy           uint64 // Of those, 503 busy (in-flight bound or the shard's ring).
	RateLimited    uint64 // Of those, 429 rate_limited (the client's configured rate).
	Timeouts       uint64 // 503 outcome_unknown: no reply within ReplyTimeout.
	Panics         uint64 // 500 internal: a handler panicked (recovered, logged).
	RepliesDropped uint64 // Replies that came after their handler gave up.
	InFlight       int    // Requests waiting for the shard now.
}

// Stats returns the counters. Any goroutine.
func (s *Server) Stats() Stats {
	return Stats{Requests: s.counters.requests.Load(), AuthFailures: s.counters.authFailures.Load(),
		Refused: s.counters.refused.Load(), Busy: s.counters.busy.Load(),
		RateLimited: s.counters.rateLimited.Load(),
		Timeouts:    s.counters.timeouts.Load(), RepliesDropped: s.counters.repliesDropped.Load(),
		Panics: s.guard.Panics(), InFlight: len(s.inFlight)}
}

// autoSession is the exactly-once session the server uses for a client's requests that
// carry no Idempotency-Key: a random session id per server process and client, numbered
// in order. The in-flight bound keeps its outstanding numbers within the core's window.
type autoSession struct {
	id     uint64
	number atomic.Uint64
}

// New checks config and returns a server ready to Start.
func New(config Config, backend backend.Submitter) (*Server, error) {
	if err := config.Validate(); err != nil {
		return nil, err
	}
	if backend == nil {
		return nil, errors.New("api: no backend")
	}
	config = config.withDefaults()
	if config.Started.IsZero() {
		config.Started = config.Now()
	}
	s := &Server{config: config, backend: backend,
		nonces:    newNonceCache(config.ClockWindow, config.NoncesMax),
		waiters:   newWaiters(),
		inFlight:  make(chan struct{}, config.InFlightMax),
		bodies:    semaphore.NewWeighted(bodyBytesInFlightMax),
		peers:     peer.NewShares(bodyBytesPerPeerMax),
		served:    make(chan error, 1),
		startedMs: config.Started.UnixMilli()}
	s.guard = httpguard.New("api", config.Logger, s.answerPanic)
	s.http = &fasthttp.Server{
		Handler:            s.handle,
		ErrorHandler:       s.handleError,
		Name:               "sequent",
		Concurrency:        connectionsMax,
		ReadBufferSize:     headerBytesMax,
		MaxRequestBodySize: requestBodyBytesMax,
		// Bodies are read by readBody, within the server-wide budget of body bytes, so
		// that many connections announcing large bodies cannot make the server hold
		// connectionsMax × requestBodyBytesMax; fasthttp pre-reads at most 8 KiB of one.
		StreamRequestBody: true,
		// The API takes JSON only: never let fasthttp spool multipart forms to disk.
		DisablePreParseMultipartForm:  true,
		ReadTimeout:                   readTimeout,
		WriteTimeout:                  writeTimeout,
		IdleTimeout:                   idleTimeout,
		DisableHeaderNamesNormalizing: false,
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		// fasthttp's errors about a request it cannot parse would otherwise quote the
		// request's bytes (signatures, keys) in the log.
		SecureErrorLogMessage: true,
		Logger:                fasthttpLogger{logger: config.Logger},
	}
	return s, nil
}

// Start binds (unless given a listener) and serves in the background.
func (s *Server) Start() error {
	listener := s.config.Listener
	if listener == nil {
		var err error
		if listener, err = net.Listen("tcp", s.config.Address); err != nil {
			return fmt.Errorf("api: listen: %w", err)
		}
	}
	// fasthttp's Serve returns on an accept error other than a timeout: one EMFILE
	// ended the API for good (TestLeft49bOutOfFileDescriptorsDoesNotStopTheAPI).
	listener = newPeerListener(acceptretry.NewListener(listener, s.config.Logger, "api"))
	if s.config.TLS != nil {
		listener = tls.NewListener(listener, s.config.TLS)
	}
	s.listener, s.address = listener, listener.Addr().String()
	go func() { s.served <- s.http.Serve(listener) }()
	return nil
}

// Address returns the bound host:port (after Start).
func (s *Server) Address() string { return s.address }

// Shutdown stops accepting, lets handlers finish (until ctx ends) and closes.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.listener == nil {
		return nil
	}
	err := s.http.ShutdownWithContext(ctx)
	select {
	case <-s.served:
	case <-ctx.Done():
	}
	return err
}

// fasthttpLogger sends fasthttp's own messages to the logger at debug level.
type fasthttpLogger struct{ logger *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.logger.Debug("api: " + fmt.Sprintf(format, args...))
}

// now is the server's clock.
func (s *Server) now() time.Time { return s.config.Now() }

// answerPanic is the answer to a request whose handler panicked (httpguard.Guard). A
// write may have reached the shard before the panic, so the message says the outcome is
// unknown; the code is not the protocol's internal_error (212), which means "not
// applied".
func (s *Server) answerPanic(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set(HeaderServerTime, strconv.FormatInt(s.now().UnixMilli(), 10))
	writeError(ctx, fasthttp.StatusInternalServerError, codeInternal,
		"the server failed while handling the request; a write may or may not have been "+
			"applied: retry it with the same Idempotency-Key or the same ids to learn the outcome")
}

// handleError answers a request fasthttp could not read.
func (s *Server) handleError(ctx *fasthttp.RequestCtx, err error) {
	defer s.guard.Recover(ctx)
	s.counters.requests.Add(1)
	var small *fasthttp.ErrSmallBuffer
	var network *net.OpError
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "too_large",
			"request body over "+strconv.Itoa(requestBodyBytesMax)+" bytes")
	case errors.As(err, &small):
		writeError(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "too_large",
			"request headers over "+strconv.Itoa(headerBytesMax)+" bytes")
	case errors.As(err, &network) && network.Timeout():
		writeError(ctx, fasthttp.StatusRequestTimeout, "request_timeout", "request not received in time")
	default:
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "malformed request")
	}
}

// handle is every request's entry: the allow-list, public routes, authentication, then
// the route's handler.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	// Deferred first, so it runs last: the calls deferred below (body bytes, the
	// in-flight slot) give back what the request held before the 500 is written. Only
	// this server's code is guarded: the shard's Submit is called Unguarded, and the
	// binary port's event loops and the sequencer have no guard (a panic there means
	// corrupt state: the process ends; see httpguard).
	defer s.guard.Recover(ctx)
	s.counters.requests.Add(1)
	ctx.Response.Header.Set(HeaderServerTime, strconv.FormatInt(s.now().UnixMilli(), 10))
	address, ok := peer.AddressOf(ctx.RemoteAddr())
	if !ok || !netio.AddressAllowed(address, s.config.AllowedNetworks) {
		ctx.SetConnectionClose() // Nothing more from here.
		s.refuse(ctx, fasthttp.StatusForbidden, "address_not_allowed",
			"this address may not use the API")
		return
	}
	path := httppath.AsSent(ctx)
	route, parameters, status := match(string(ctx.Method()), path)
	if status != fasthttp.StatusOK && ctx.Request.Header.ContentLength() != 0 {
		ctx.SetConnectionClose() // Its body is not read.
	}
	switch status {
	case fasthttp.StatusNotFound:
		s.refuse(ctx, status, "not_found", "no such route")
		return
	case fasthttp.StatusMethodNotAllowed:
		ctx.Response.Header.Set(fasthttp.HeaderAllow, allowedMethods(path))
		s.refuse(ctx, status, "method_not_allowed", "this route does not take "+string(ctx.Method()))
		return
	}
	length, release, ok := s.takeBody(ctx, peer.Bucket(address))
	if !ok {
		return
	}
	defer release()
	// What the headers alone can refuse is refused before the body is read, so that an
	// unauthenticated peer cannot make the server read and hold its body; the answers
	// and their order are those of the checks made after the read before session 45.
	var c credentials
	var client *netio.Client
	if !route.public {
		if c, client, ok = s.authenticateHeaders(ctx); !ok {
			s.discardBodyAfterAnswer(ctx, length)
			return
		}
	}
	body, ok := s.readBody(ctx, length)
	if !ok {
		return
	}
	request := &request{ctx: ctx, server: s, parameters: parameters, body: body}
	if !route.public {
		// The body may have taken up to readTimeout to arrive: the checks against the
		// server's state (admitCredentials) are made again next to the signature and the
		// nonce, as they were before session 45; the credentials parsed before still stand
		// (the headers have not changed). The nonce cache forgets a nonce once its
		// timestamp leaves the window, so a copy whose window was checked before a slow
		// body would be accepted after it (TestReviewLF45ReplayHeldPastTheWindowIsRefused);
		// and a key removed by a reload meanwhile refuses the request
		// (TestReviewLF45KeyRemovedWhileTheBodyIsReadIsRefused).
		if length > 0 {
			if client, ok = s.admitCredentials(ctx, &c); !ok {
				return
			}
		}
		if !s.authenticateBody(ctx, &c, client, body) {
			return
		}
		if !netio.AddressAllowed(address, client.AllowedNetworks) {
			s.refuse(ctx, fasthttp.StatusForbidden, "address_not_allowed",
				"this client may not connect from this address")
			return
		}
		// The signature covers the first Idempotency-Key: a copy a relay adds before the
		// client's is bad_signature above, one added after it, or two the client sent,
		// means two things to two readers and is refused here (idempotencyKeyRepeated;
		// TestReview2Netio53RelayCopyBeforeOrAfterIsRefused).
		if idempotencyKeyRepeated(&ctx.Request.Header) {
			s.refuse(ctx, fasthttp.StatusBadRequest, "bad_idempotency_key",
				"Idempotency-Key given more than once (or also as Idempotency_Key): "+
					"send it once")
			return
		}
		request.client = client
	}
	route.handler(request)
}

// discardBodyAfterAnswer lets the body of length bytes of a request answered from its
// headers arrive after the answer, and drops it unread by the handler and unheld: a
// connection closed with bytes unread makes the kernel reset it, and a client still
// sending its body could lose the answer. Up to fasthttpUnreadBodyMax (length, which is
// above what is left after fasthttp's pre-read), fasthttp itself drops the rest once the
// answer is flushed and keeps the connection; above it, a hijack drops it through a
// small buffer (io.Discard), for at most readTimeout, then closes the connection. That
// answer says Connection: close, so that a keep-alive client does not send its next
// request on a connection that ends unread (TestReviewLF45DrainedConnectionSaysItCloses);
// fasthttp would close at once, the body unread, on a response saying so, so the hijack
// writes the answer itself (within writeTimeout) before the drain. At most drainingMax
// connections drain at once (counted inside the hijack); past it one is closed after
// its answer, its rest unread.
func (s *Server) discardBodyAfterAnswer(ctx *fasthttp.RequestCtx, length int) {
	stream := ctx.RequestBodyStream()
	if length <= fasthttpUnreadBodyMax || stream == nil {
		return
	}
	ctx.Response.Header.SetConnectionClose()
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(conn net.Conn) {
		defer s.draining.Add(-1)
		over := s.draining.Add(1) > drainingMax
		writer := bufio.NewWriter(conn)
		if conn.SetWriteDeadline(time.Now().Add(writeTimeout)) != nil ||
			ctx.Response.Write(writer) != nil || writer.Flush() != nil || over {
			return
		}
		if conn.SetReadDeadline(time.Now().Add(readTimeout)) == nil {
			_, _ = io.Copy(io.Discard, stream) // The stream ends at the body's length.
		}
	})
}

// authenticateHeaders makes the checks of a request's authentication that need no body,
// answering a refusal itself: the headers' form (parseCredentials), then admitCredentials.
// authenticateBody then makes the rest.
func (s *Server) authenticateHeaders(ctx *fasthttp.RequestCtx) (credentials, *netio.Client, bool) {
	c, err := parseCredentials(&ctx.Request.Header)
	if err != nil {
		s.authFailed(ctx, err, 0, false)
		return c, nil, false
	}
	client, ok := s.admitCredentials(ctx, &c)
	return c, client, ok
}

// admitCredentials checks parsed credentials against the server's state now, answering a
// refusal itself: the failed-attempts limit, the key, the timestamp's window and the
// key's oldest signature version.
func (s *Server) admitCredentials(ctx *fasthttp.RequestCtx, c *credentials) (*netio.Client, bool) {
	client, known := s.config.Keys.Client(c.client)
	if admission := s.config.Admission; admission != nil {
		if refusal, wait := admission.AdmitAuthentication(ctx.RemoteAddr(), c.client, known); refusal != 0 {
			s.counters.authFailures.Add(1)
			retryAfter(ctx, wait)
			writeError(ctx, fasthttp.StatusTooManyRequests, "too_many_attempts",
				"too many failed authentications for this client from this address")
			return nil, false
		}
	}
	if !known {
		s.authFailed(ctx, errUnknownKey, c.client, true)
		return nil, false
	}
	if !inWindow(c.timestamp, s.now(), s.config.ClockWindow) || c.timestamp < s.startedMs {
		s.authFailed(ctx, errClockWindow, c.client, false)
		return nil, false
	}
	// A key that asks for a newer signature refuses an older one before checking it: its
	// operator has said that version 1, which leaves the Idempotency-Key unsigned, is no
	// longer to be trusted from this key. Not counted: nothing was guessed.
	if versionMin, ok := client.SignatureVersionMin(c.key); ok && c.version < versionMin {
		s.authFailed(ctx, errSignatureVersionTooOld, c.client, false)
		return nil, false
	}
	return client, true
}

// authenticateBody checks the signature of a request whose headers passed
// authenticateHeaders, then its nonce (in that order of cost), answering a refusal
// itself.
func (s *Server) authenticateBody(ctx *fasthttp.RequestCtx, c *credentials, client *netio.Client,
	body []byte) bool {
	// The Idempotency-Key signed is the one sessionAndNumber reads (handle refused a
	// request carrying two).
	stringToSign := appendStringToSign(make([]byte, 0, stringToSignBytesHint), c.version, ctx.Method(),
		ctx.RequestURI(), c.client, c.key, c.timestamp, c.nonce, body,
		ctx.Request.Header.Peek(HeaderIdempotencyKey))
	if err := verify(client, c, stringToSign); err != nil {
		s.authFailed(ctx, err, c.client, true)
		return false
	}
	wait, err := s.nonces.useWithin(c.client, s.nonces.shareOf(client.Limits.RequestsPerSecond),
		c.nonce, c.timestamp, s.now())
	switch {
	case errors.Is(err, errNonceCacheFull):
		s.counters.busy.Add(1)
		retryAfter(ctx, wait)
		writeError(ctx, fasthttp.StatusServiceUnavailable, err.Error(),
			"too many recent requests to remember their nonces; retry later")
		return false
	case err != nil:
		s.authFailed(ctx, err, c.client, true)
		return false
	}
	return true
}

// takeBody takes a request's body's length out of the budget of body bytes in flight
// (bodyBytesInFlightMax) and the share of it that one peer may hold
// (bodyBytesPerPeerMax), before readBody reads it: a body must announce its length (no
// chunked encoding: 411), at most requestBodyBytesMax (413); when the budget or the
// peer's share is spent the request is refused at once (503 busy, Retry-After). release
// gives both back.
func (s *Server) takeBody(ctx *fasthttp.RequestCtx, bucket netip.Addr) (length int,
	release func(), ok bool) {
	length = ctx.Request.Header.ContentLength()
	nothing := func() {}
	switch {
	case length == 0 || length == -2: // -2: neither length nor chunked: no body.
		return 0, nothing, true
	case length < 0:
		ctx.SetConnectionClose()
		s.refuse(ctx, fasthttp.StatusLengthRequired, "length_required",
			"send the body with a Content-Length (chunked bodies are not accepted)")
		return 0, nothing, false
	case length > requestBodyBytesMax:
		ctx.SetConnectionClose()
		s.refuse(ctx, fasthttp.StatusRequestEntityTooLarge, "too_large",
			"request body over "+strconv.Itoa(requestBodyBytesMax)+" bytes")
		return 0, nothing, false
	}
	if !s.peers.Take(bucket, int64(length)) {
		ctx.SetConnectionClose()
		s.counters.busy.Add(1)
		retryAfter(ctx, time.Second)
		s.refuse(ctx, fasthttp.StatusServiceUnavailable, model.StatusBusy.String(),
			"this address is sending as many request bodies as one address may at once; "+
				"retry after Retry-After")
		return 0, nothing, false
	}
	if !s.bodies.TryAcquire(int64(length)) {
		s.peers.Give(bucket, int64(length))
		ctx.SetConnectionClose()
		s.counters.busy.Add(1)
		retryAfter(ctx, time.Second)
		s.refuse(ctx, fasthttp.StatusServiceUnavailable, model.StatusBusy.String(),
			"the server is reading as many request bodies as it holds at once; retry after Retry-After")
		return 0, nothing, false
	}
	return length, func() {
		s.bodies.Release(int64(length))
		s.peers.Give(bucket, int64(length))
	}, true
}

// readBody reads the body of length bytes takeBody took (nil for none); a body that
// ends early or is not received in time is refused (400).
func (s *Server) readBody(ctx *fasthttp.RequestCtx, length int) ([]byte, bool) {
	if length == 0 {
		return nil, true
	}
	body := make([]byte, length)
	var err error
	if stream := ctx.RequestBodyStream(); stream != nil {
		_, err = io.ReadFull(stream, body)
	} else if copied := copy(body, ctx.PostBody()); copied != length { // Already read (ServeConn, tests).
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		ctx.SetConnectionClose()
		s.refuse(ctx, fasthttp.StatusBadRequest, "bad_request",
			"the body ended before its Content-Length or was not received in time")
		return nil, false
	}
	return body, true
}

// authMessages are the documented authentication errors.
var authMessages = map[error]string{
	errAuthMissing:   "this route needs the Sequent-Client, -Key, -Timestamp, -Nonce and -Signature headers",
	errAuthMalformed: "an authentication header is malformed",
	errUnknownKey:    "unknown client or key id",
	errBadSignature:  "the signature does not verify",
	errClockWindow:   "Sequent-Timestamp is outside the server's window (see Sequent-Server-Time)",
	errNonceReplayed: "this nonce was already used: a replayed request",
	errSignatureVersionTooOld: "this key refuses this Sequent-Signature-Version (its keys " +
		"file entry sets signature_version_min): sign with a newer one",
}

// authFailed answers 401 with the error's code; failures that may be guessing (counted
// is set) count against the (address, client) limit.
func (s *Server) authFailed(ctx *fasthttp.RequestCtx, err error, client uint64, counted bool) {
	s.counters.authFailures.Add(1)
	if counted && s.config.Admission != nil {
		_, known := s.config.Keys.Client(client)
		s.config.Admission.LoginFailed(ctx.RemoteAddr(), client, known)
	}
	s.config.Logger.Warn("api: request not authenticated", "code", err.Error(),
		"client", client, "remote", ctx.RemoteAddr().String(),
		"path", jsonkeys.Truncate(httppath.AsSent(ctx), 128))
	if err == errAuthMissing {
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Sequent realm="sequent"`)
	}
	writeError(ctx, fasthttp.StatusUnauthorized, err.Error(), authMessages[err])
}

// refuse answers a refusal after (or without) authentication, counted and logged at
// debug level.
func (s *Server) refuse(ctx *fasthttp.RequestCtx, statusCode int, code, message string) {
	s.counters.refused.Add(1)
	s.config.Logger.Debug("api: request refused", "code", code, "remote",
		ctx.RemoteAddr().String(), "path", jsonkeys.Truncate(httppath.AsSent(ctx), 128))
	writeError(ctx, statusCode, code, message)
}

func retryAfter(ctx *fasthttp.RequestCtx, wait time.Duration) {
	seconds := max(1, int64((wait+time.Second-1)/time.Second))
	ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.FormatInt(seconds, 10))
}

// submit hands one request to the shard and waits for its reply. It answers the
// request's refusals itself (permission, rate limited, busy, not primary, timeout) and
// returns ok only with a reply to render.
func (r *request) submit(operation model.Operation, flags uint8, body []byte,
	events int) (answer, bool) {
	if !r.admit(operation, events) {
		return answer{}, false
	}
	return r.submitAdmitted(operation, flags, body)
}

// admit checks the client's permission for operation and charges its rate limits with
// one request of events events, answering a refusal itself.
func (r *request) admit(operation model.Operation, events int) bool {
	s := r.server
	if !r.client.Allows(operation) {
		s.refuse(r.ctx, fasthttp.StatusForbidden, "permission_denied",
			"the client's permissions do not allow "+operation.String())
		return false
	}
	if admission := s.config.Admission; admission != nil {
		if status := admission.AdmitRequest(r.client, operation, events); status != model.StatusOK {
			r.statusRefusal(status)
			return false
		}
	}
	return true
}

// submitAdmitted is submit once admit has passed: it takes a place among the requests in
// flight (InFlightMax), hands the request to the shard and waits for its reply.
func (r *request) submitAdmitted(operation model.Operation, flags uint8, body []byte) (
	answer, bool) {
	s := r.server
	select {
	case s.inFlight <- struct{}{}:
	default:
		r.statusRefusal(model.StatusBusy)
		return answer{}, false
	}
	defer func() { <-s.inFlight }()
	session, number, auto, ok := r.sessionAndNumber()
	if !ok {
		return answer{}, false
	}
	timer := time.NewTimer(s.config.ReplyTimeout)
	defer timer.Stop()
	for resubmits := 0; ; resubmits++ {
		id, channel := s.waiters.add()
		submitted := &backend.Request{Connection: id, Client: r.client.ID,
			Session: session, Number: number, Operation: operation, Flags: flags, Body: body}
		var status model.Status
		// Unguarded: a panic in the shard's Submit may leave its input ring locked (its
		// mutex is not released by defer on that path); recovering it would hang every
		// client of the node, the binary ones too, so it ends the process instead.
		httpguard.Unguarded(func() { status = s.backend.Submit(submitted) })
		if status != model.StatusOK {
			s.waiters.take(id)
			if resubmits > 0 {
				r.resubmissionRefused(operation, status)
			} else {
				r.statusRefusal(status)
			}
			return answer{}, false
		}
		var reply answer
		select {
		case reply = <-channel:
		case <-timer.C:
			if _, pending := s.waiters.take(id); !pending {
				return <-channel, true // Delivered as the timer fired.
			}
			s.counters.timeouts.Add(1)
			retryAfter(r.ctx, time.Second)
			writeError(r.ctx, fasthttp.StatusServiceUnavailable, "outcome_unknown",
				timeoutMessage(operation, s.config.ReplyTimeout))
			return answer{}, false
		}
		// A number of the server's own session is used once, so request_too_old means
		// this request reached the shard after 256 later ones of its client (its handler
		// was descheduled between numbering and submitting it) and was not applied
		// there: it is submitted again under a new number (a part another shard of a
		// node applied answers by its ids, exists, as any keyless retry does), rather
		// than answered "applied too long ago" (TestHunt44aKeylessRequestNeverAnsweredTooOld).
		if resubmits > 0 && reply.status != model.StatusOK &&
			reply.status != model.StatusRequestTooOld &&
			reply.status != model.StatusOutcomeUnknown {
			r.resubmissionRefused(operation, reply.status)
			return answer{}, false
		}
		if auto == nil || reply.status != model.StatusRequestTooOld ||
			resubmits == autoResubmitsMax {
			return reply, true
		}
		number = auto.number.Add(1)
	}
}

// timeoutMessage is the message of the 503 outcome_unknown that answers a submit of
// operation left without a reply for timeout: a write may yet be applied, so its outcome
// is learned by a retry under the same key or ids; a read (a lookup or a query, resolve's
// lookup of the pending transfer too) applies nothing, so it is only sent again.
func timeoutMessage(operation model.Operation, timeout time.Duration) string {
	if info := operation.Description(); info != nil && !info.Write {
		return "no reply within " + timeout.String() + " to " + operation.String() +
			", a read, which applies nothing: send the request again"
	}
	return "no reply within " + timeout.String() + ": the request may yet be applied; " +
		"retry it with the same Idempotency-Key or the same ids"
}

// resubmissionRefused answers a request of operation submitted again after
// request_too_old whose resubmission was refused (busy, log_unavailable, not_primary…):
// such a refusal says "not applied" of the resubmission only. On a node of several
// shards the first submission's request_too_old may come from one shard while another
// applied its part of a write (core/node/router mergedStatus), so the outcome is unknown,
// never "not applied" (TestReviewa44ResubmissionNeverSaysNotAppliedOfAnAppliedPart). A
// read applies nothing on any shard: its message says so (the status and error code are
// a write's, which a client may already handle; TestResubmittedReadRefusedSaysItAppliedNothing).
func (r *request) resubmissionRefused(operation model.Operation, status model.Status) {
	r.server.counters.refused.Add(1)
	retryAfter(r.ctx, time.Second)
	message := "submitted again after request_too_old and then refused (" +
		status.String() + "); a part of the first submission may have been applied " +
		"on a shard of this node: retry with the same ids to learn the outcome"
	if info := operation.Description(); info != nil && !info.Write {
		message = "submitted again after request_too_old and then refused (" +
			status.String() + "): " + operation.String() + ", a read, which applies " +
			"nothing: send the request again"
	}
	writeJSON(r.ctx, fasthttp.StatusServiceUnavailable, Error{
		Error: model.StatusOutcomeUnknown.String(), Code: uint32(model.StatusOutcomeUnknown),
		Message: message})
}

// sessionAndNumber returns the exactly-once session and number of a request: those of
// its Idempotency-Key, or the next of the server's own session for the client (auto, nil
// for a key).
func (r *request) sessionAndNumber() (session, number uint64, auto *autoSession, ok bool) {
	if key := r.ctx.Request.Header.Peek(HeaderIdempotencyKey); len(key) != 0 {
		session, number, ok := parseIdempotencyKey(key)
		if !ok {
			r.server.refuse(r.ctx, fasthttp.StatusBadRequest, "bad_idempotency_key",
				"Idempotency-Key must be SESSION:NUMBER, two decimal numbers above 0")
		}
		return session, number, nil, ok
	}
	s := r.server
	value, ok := s.sessions.Load(r.client.ID)
	if !ok {
		value, _ = s.sessions.LoadOrStore(r.client.ID, &autoSession{id: randomSession()})
	}
	auto = value.(*autoSession)
	return auto.id, auto.number.Add(1), auto, true
}
