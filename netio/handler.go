package netio

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/wire"
)

// eventHandler is the gnet event handler. Its only field is read-only; everything that
// changes lives in the per-connection state (loop-owned or atomic) or in Server atomics,
// so several loops may run it at once.
type eventHandler struct {
	gnet.BuiltinEventEngine
	server *Server
}

// OnBoot records the engine and the bound address, then lets Start return.
func (h *eventHandler) OnBoot(engine gnet.Engine) gnet.Action {
	s := h.server
	s.engine = engine
	address, err := boundAddress(engine)
	if err != nil {
		address = s.config.Address
	}
	s.address = address
	close(s.booted)
	return gnet.None
}

// OnOpen admits the connection, publishes it in the table and sends the challenge.
func (h *eventHandler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	s := h.server
	now := s.now()
	conn := &connection{conn: c, remote: copyAddress(c.RemoteAddr()), opened: now}
	conn.received.Store(now)
	conn.sent.Store(now)
	refusal, retryAfter := wire.ErrorCode(0), time.Duration(0)
	switch {
	case s.draining.Load():
		refusal = wire.ErrorShuttingDown
	case !s.table.insert(conn):
		// Before the admission: a connection refused for want of a slot never could send
		// a login, so it must not count against its address's connections without one
		// (PROTOCOL.md section 5). Counted, a client retrying while the server was full
		// was refused too_many_attempts for the rest of the minute (hunt52d). An address
		// outside the allow-list still gets connection_refused, not a retryable code that
		// tells it the server is full (section 5; review52d), and an address locked out
		// for its connections without a login too_many_attempts with its wait, not a
		// code that has it retry at once (api53).
		refusal = wire.ErrorConnectionLimit
		if check, ok := s.config.Admission.(addressAdmission); ok {
			if code, wait := check.refuseAddress(conn.remote); code != 0 {
				refusal, retryAfter = code, wait
			}
		}
	case s.config.Admission != nil:
		refusal, retryAfter = s.config.Admission.AdmitConnection(conn.remote)
		if refusal != 0 {
			s.table.remove(conn) // Published by insert; nothing knows its id yet.
		}
	}
	if refusal != 0 {
		s.counters.connectionsRefused.Add(1)
		s.log.log(slog.LevelWarn, "netio: connection refused",
			slog.String("remote", addressString(conn.remote)),
			slog.String("code", refusal.String()))
		return appendError(nil, &wire.Frame{Kind: wire.KindError, Status: uint32(refusal),
				Aux: retryAfterAux(retryAfter)}, "connection refused: "+refusal.String()),
			gnet.Close
	}
	s.counters.connectionsAccepted.Add(1)
	if _, err := rand.Read(conn.nonce[:]); err != nil {
		panic("netio: crypto/rand failed: " + err.Error()) // Never fails on Linux.
	}
	conn.loopTurn = s.loopTurnOf(c.EventLoop())
	c.SetContext(conn)
	challenge := wire.Challenge{Nonce: conn.nonce,
		HeartbeatIntervalMs: uint32(s.config.HeartbeatInterval / time.Millisecond),
		SilenceTimeoutMs:    uint32(s.config.SilenceTimeout / time.Millisecond)}
	body := make([]byte, wire.ChallengeSize)
	challenge.Encode(body)
	return wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindChallenge}, body), gnet.None
}

// OnTraffic drains every complete frame (gnet fires no new event for bytes left
// buffered), answers what can be answered at once with a single write, and enforces the
// outbound bound.
func (h *eventHandler) OnTraffic(c gnet.Conn) gnet.Action {
	s := h.server
	conn, _ := c.Context().(*connection)
	if conn == nil || conn.closing.Load() {
		discardInbound(c) // Closing: what the peer sends now is not read.
		return gnet.None
	}
	// One clock read for the connection's clock and every request of this read, which
	// the shard would otherwise read once per request it queues.
	now := time.Now()
	conn.received.Store(int64(now.Sub(s.started)))
	conn.request.Received = now
	action := s.drainFrames(conn, c)
	if len(conn.immediate) > 0 {
		_, _ = c.Write(conn.immediate) // Copies what the socket does not take.
		conn.immediate = conn.immediate[:0]
		if cap(conn.immediate) > immediateBytesRetainedMax {
			conn.immediate = nil // A burst of refusals; do not keep its buffer.
		}
		conn.sent.Store(s.now())
	}
	if conn.turnDue {
		conn.turnDue = false
		s.scheduleTurn(c, conn.loopTurn)
	}
	if action != gnet.None {
		// The connection's last frame (fail, logout) is written above.
		return s.closeOrDrain(c, conn)
	}
	buffered := c.OutboundBuffered()
	conn.bufferedSeen.Store(int64(buffered))
	if buffered > s.config.OutboundBytesMax {
		s.slowConsumer(conn, buffered, c)
		return gnet.Close
	}
	return gnet.None
}

// scheduleTurn has c's event loop call the backend's TurnInline once it has handled every
// connection of this round of events (gnet runs the loop's tasks after them): the shard,
// if idle, then sequences what all of them queued as one entry with one sync, on this
// loop, and its replies' AsyncWrites join the same round of tasks (no other thread is
// woken). Run at the end of each OnTraffic instead, the turns of connections read in
// one round would each wait for the previous one's sync, one entry per connection. One
// task per loop suffices until it runs (loopTurn), whichever connections queued: it
// takes everything they queued. If the engine is stopping the turn runs now: its
// wake-up must not be lost.
func (s *Server) scheduleTurn(c gnet.Conn, turn *loopTurn) {
	if turn.scheduled {
		return
	}
	if err := c.EventLoop().Execute(context.Background(), turn); err != nil {
		s.inline.TurnInline()
		return
	}
	turn.scheduled = true
}

// loopTurn is the task scheduleTurn lends to one event loop, and whether it is lent. A
// task per connection that queued a request cost two gnet allocations, an enqueue and a
// TurnInline (a try of the shard's turns mutex, whose line the sequencer shares) each;
// all but the first of a round found the ring empty. Only its loop reads or writes
// scheduled (OnTraffic and the task both run there).
type loopTurn struct {
	turner    backend.InlineTurner
	scheduled bool
}

// Run clears scheduled before the turn: a request queued after this point, which the
// turn may not take, schedules another.
func (t *loopTurn) Run(context.Context) error {
	t.scheduled = false
	t.turner.TurnInline()
	return nil
}

// loopTurnOf returns loop's loopTurn, making it on the loop's first connection; nil when
// the server takes no inline turns.
func (s *Server) loopTurnOf(loop gnet.EventLoop) *loopTurn {
	if s.inline == nil {
		return nil
	}
	s.loopTurnsMutex.Lock()
	defer s.loopTurnsMutex.Unlock()
	turn := s.loopTurns[loop]
	if turn == nil {
		turn = &loopTurn{turner: s.inline}
		s.loopTurns[loop] = turn
	}
	return turn
}

// inboundBuffer is the part of gnet.Conn that drainFrames reads (a seam for the fuzz
// test, which feeds frames split at arbitrary points).
type inboundBuffer interface {
	InboundBuffered() int
	Peek(n int) ([]byte, error)
	Discard(n int) (int, error)
}

var _ inboundBuffer = gnet.Conn(nil)

// discardInbound drops everything buffered from the peer, with an explicit count: gnet
// reads a Discard of 0 as "everything", which is wanted only when something is there.
func discardInbound(c inboundBuffer) {
	if buffered := c.InboundBuffered(); buffered > 0 {
		_, _ = c.Discard(buffered)
	}
}

// drainFrames handles each complete frame in the inbound buffer, in order. It copies
// nothing it keeps: the frame bytes are used (and Submit copies the request) before the
// Discard that releases them.
func (s *Server) drainFrames(conn *connection, c inboundBuffer) gnet.Action {
	var bytesReceived int
	defer func() { s.counters.bytesReceived.Add(uint64(bytesReceived)) }()
	var frame wire.Frame // Every field but Body is decoded anew for each frame.
	for {
		buffered := c.InboundBuffered()
		if conn.closing.Load() {
			// Closed by another goroutine while this loop handled the previous frame (a
			// takeover, a revoked key, a timeout during the login): the frames pipelined
			// behind it must not be applied, their replies would be dropped. The closer
			// has queued the error frame and the close; returning gnet.Close here would
			// lose that frame.
			discardInbound(c)
			return gnet.None
		}
		if buffered < wire.HeaderSize {
			return gnet.None
		}
		head, err := c.Peek(wire.HeaderSize)
		if err != nil {
			return gnet.None
		}
		if err := wire.DecodeHeaderInto(head, &frame); err != nil {
			return s.fail(conn, wire.CodeOf(err), 0, err.Error())
		}
		if conn.phase == phaseChallenged && frame.Kind != wire.KindLogin &&
			frame.Kind != wire.KindHeartbeat {
			// Refused from the header alone: a stranger must not make the server buffer
			// a 1 MiB body per connection before it has proved who it is.
			return s.fail(conn, wire.ErrorUnexpectedFrame, requestNumber(&frame),
				frame.Kind.String()+" before login")
		}
		size := frame.FrameSize() // At least HeaderSize: never 0 (gnet pitfall 2).
		if buffered < size {
			return gnet.None
		}
		whole, err := c.Peek(size)
		if err != nil {
			return gnet.None
		}
		unchecked := conn.phase == phaseActive && conn.options&wire.LoginUncheckedFrames != 0
		if !unchecked {
			if err := wire.CheckChecksum(whole); err != nil {
				return s.fail(conn, wire.ErrorBadChecksum, requestNumber(&frame), err.Error())
			}
		}
		frame.Body = whole[wire.HeaderSize:]
		action := s.handleFrame(conn, &frame)
		frame.Body = nil
		_, _ = c.Discard(size)
		bytesReceived += size
		if action != gnet.None {
			return action
		}
	}
}

// requestNumber is the number an error frame caused by frame carries (PROTOCOL.md section
// 4): a request's number, else 0. Other kinds' number fields name nothing a client
// waits for, and echoing them could make a client fail the request that happens to
// hold that number.
func requestNumber(frame *wire.Frame) uint64 {
	if frame.Kind == wire.KindRequest {
		return frame.Number
	}
	return 0
}

// handleFrame dispatches one checked frame from a client.
func (s *Server) handleFrame(conn *connection, frame *wire.Frame) gnet.Action {
	switch frame.Kind {
	case wire.KindHeartbeat, wire.KindRequest, wire.KindLogin, wire.KindSubscribe,
		wire.KindLogout, wire.KindMarketDataSubscribe:
		if !clientFrameReservedZero(frame) {
			return s.fail(conn, wire.ErrorReservedNotZero, requestNumber(frame),
				"header fields unused by a "+frame.Kind.String()+" frame must be zero")
		}
	default:
		return s.fail(conn, wire.ErrorUnexpectedFrame, requestNumber(frame),
			"a client may not send "+frame.Kind.String())
	}
	switch frame.Kind {
	case wire.KindHeartbeat:
		return gnet.None
	case wire.KindRequest:
		return s.handleRequest(conn, frame)
	case wire.KindLogin:
		return s.handleLogin(conn, frame)
	case wire.KindSubscribe:
		return s.handleSubscribe(conn, frame)
	case wire.KindMarketDataSubscribe:
		return s.handleMarketDataSubscribe(conn, frame)
	case wire.KindLogout:
		if conn.phase != phaseActive {
			return s.fail(conn, wire.ErrorUnexpectedFrame, 0, "logout before login")
		}
		conn.immediate = wire.AppendFrame(conn.immediate,
			&wire.Frame{Kind: wire.KindLogout, Session: conn.session}, nil)
		conn.phase = phaseClosing
		conn.active.Store(false)
		conn.closing.Store(true)
		return gnet.Close
	}
	return gnet.None // Unreachable: the kinds were checked above.
}

// clientFrameReservedZero reports whether the header fields a client frame does not use
// are zero: status and aux always; operation, flags and number outside requests.
func clientFrameReservedZero(frame *wire.Frame) bool {
	if frame.Status != 0 || frame.Aux != 0 {
		return false
	}
	return frame.Kind == wire.KindRequest ||
		(frame.Operation == 0 && frame.Flags == 0 && frame.Number == 0)
}

// handleLogin checks a login against the challenge and the keys in force. Whatever the
// outcome, the nonce is spent: a second login on the connection fails. The order of the
// checks is PROTOCOL.md's (section 5).
func (s *Server) handleLogin(conn *connection, frame *wire.Frame) gnet.Action {
	if conn.phase != phaseChallenged {
		return s.loginFailed(conn, wire.ErrorLoginNonceUsed, 0, 0, "login nonce already used")
	}
	conn.phase = phaseClosing // Until the login succeeds; the nonce is spent either way.
	var login wire.Login
	login.Decode(frame.Body)
	client, known := s.config.Keys.Client(login.Client)
	if s.config.Admission != nil {
		refusal, retryAfter := s.config.Admission.AdmitLoginAttempt(conn.remote, login.Client, known)
		if refusal != 0 {
			return s.loginFailed(conn, refusal, login.Client, retryAfter,
				"too many failed logins for this client from this address: retry after the "+
					"delay in aux (ms)")
		}
	}
	failed := func(code wire.ErrorCode, message string) gnet.Action {
		if s.config.Admission != nil {
			s.config.Admission.LoginFailed(conn.remote, login.Client, known)
		}
		return s.loginFailed(conn, code, login.Client, 0, message)
	}
	if frame.Session == 0 || login.Options&^wire.LoginOptionsKnown != 0 {
		return failed(wire.ErrorLoginBadOptions, "session 0 or undefined login options")
	}
	var secret []byte
	ok := known
	if ok {
		secret, ok = client.Secret(login.Key)
	}
	if !ok {
		return failed(wire.ErrorLoginUnknownKey, "unknown client or key id")
	}
	expected := wire.Sign(secret, &conn.nonce, login.Client, login.Key, login.Options,
		frame.Session)
	if !hmac.Equal(expected[:], login.Signature[:]) {
		return failed(wire.ErrorLoginBadSignature, "signature does not verify")
	}
	key := sessionKey{client: client.ID, session: frame.Session}
	if s.config.Admission != nil {
		_, takeover := s.sessions.Load(key)
		if refusal := s.config.Admission.AdmitLogin(client, conn.remote, takeover); refusal != 0 {
			return s.loginFailed(conn, refusal, login.Client, 0, "login not admitted")
		}
	}
	conn.phase = phaseActive
	conn.client, conn.session, conn.key, conn.options = client, frame.Session, login.Key,
		login.Options
	conn.secret = secret
	// Active before the connection is published as the session's holder: a login on
	// another loop may take it over as soon as it is in s.sessions, and closeAsync puts
	// the session in its error frame only if it sees active true (stored after the
	// fields above, so that any goroutine that sees it may read them). The silence clock
	// starts again here: the login was received, and a loop stalled inside it (an
	// Admission that blocks) is the server's delay, not the client's silence; a ticker
	// that sees active must not find the connection silent and end the session it is
	// about to take.
	conn.received.Store(s.now())
	conn.active.Store(true)
	// A guard: no other goroutine is known to close a connection that is not yet
	// active and in s.sessions (the silence clock restarts above; the login timeout and
	// a shutdown are decided on this loop; a takeover and report delivery go through
	// the session table), but should one ever do so while the login ran, a dying
	// connection must not take the session over from a live holder, whose close would
	// then end the session (and cancel its orders) although its client is alive. Stop
	// quietly: whoever closed it
	// sends the error frame. The fields above are set, so OnClose matches AdmitLogin with
	// LoginEnded; the session table never held this connection, so no SessionClosed.
	if conn.closing.Load() {
		conn.phase = phaseClosing
		conn.active.Store(false)
		return gnet.None
	}
	if previous, loaded := s.sessions.Swap(key, conn); loaded && previous != conn {
		s.closeAsync(previous.(*connection), wire.ErrorSessionTakenOver,
			"another connection logged in to this session")
	}
	s.counters.loginsAccepted.Add(1)
	s.log.log(slog.LevelInfo, "netio: login", slog.Uint64("client", client.ID),
		slog.Uint64("session", frame.Session), slog.Uint64("key", uint64(login.Key)),
		slog.String("remote", addressString(conn.remote)))
	accepted := wire.LoginAccepted{Client: client.ID, Permissions: client.PermissionsInForce(),
		Options: login.Options}
	if s.config.Epoch != nil {
		accepted.Epoch = s.config.Epoch()
	}
	var body [wire.LoginAcceptedSize]byte
	accepted.Encode(body[:])
	conn.immediate = wire.AppendFrame(conn.immediate,
		&wire.Frame{Kind: wire.KindLoginAccepted, Session: frame.Session}, body[:])
	return gnet.None
}

// loginFailed refuses a login with an error frame (retryAfter, when not zero, goes into
// its aux field in milliseconds) and closes the connection.
func (s *Server) loginFailed(conn *connection, code wire.ErrorCode, client uint64,
	retryAfter time.Duration, message string) gnet.Action {
	s.counters.loginsRejected.Add(1)
	s.log.log(slog.LevelWarn, "netio: login rejected", slog.String("code", code.String()),
		slog.Uint64("client", client), slog.String("remote", addressString(conn.remote)))
	return s.failWith(conn, &wire.Frame{Kind: wire.KindError, Status: uint32(code),
		Session: conn.session, Aux: retryAfterAux(retryAfter)}, message)
}

// handleRequest checks a request (session, number, operation, permission, shape,
// admission) and submits it. Anything refused is answered at once with its status.
func (s *Server) handleRequest(conn *connection, frame *wire.Frame) gnet.Action {
	switch {
	case conn.phase != phaseActive:
		return s.fail(conn, wire.ErrorUnexpectedFrame, frame.Number, "request before login")
	case frame.Session != conn.session:
		return s.fail(conn, wire.ErrorSessionMismatch, frame.Number,
			"frame session differs from the login's")
	case frame.Number == 0:
		return s.fail(conn, wire.ErrorBadRequestNumber, 0, "request numbers start at 1")
	}
	info := frame.Operation.Description()
	if info == nil || info.Internal {
		return s.fail(conn, wire.ErrorUnknownOperation, frame.Number,
			"unknown operation "+frame.Operation.String())
	}
	client, ok := s.keyInForce(conn)
	if !ok {
		return s.fail(conn, wire.ErrorKeyRevoked, frame.Number, keyRevokedMessage)
	}
	status := s.admitRequest(client, info, frame)
	if status == model.StatusOK {
		status = s.submit(conn, client, frame)
	}
	if status != model.StatusOK {
		s.refuse(conn, frame, status)
	}
	return gnet.None
}

// keyInForce returns conn's client as the keys in force have it, and whether the key
// conn logged in with is still among them (a reload may have removed it or its client,
// or given it a new secret). Every request, subscription, report and market-data update
// asks it: nothing may keep flowing to a revoked key. The caller must have seen
// conn.active set (or be the loop), which orders the login's writes of conn.client,
// conn.key and conn.secret (never changed afterwards) before these reads; any goroutine
// may call it. The client is looked up and the secret compared once per key set:
// against the set already checked it is two atomic loads and a compare (the report and
// market-data fan-outs ask it per subscriber per batch).
func (s *Server) keyInForce(conn *connection) (*Client, bool) {
	set := s.config.Keys.current.Load()
	if checked := conn.keysChecked.Load(); checked != nil && checked.set == set {
		return checked.client, true
	}
	client, ok := set.clients[conn.client.ID]
	if !ok || !conn.hasLoginKey(client) {
		return nil, false
	}
	conn.keysChecked.Store(&checkedKey{set: set, client: client})
	return client, true
}

// checkedKey is a key set in which keyInForce found a connection's login key, and the
// connection's client in it.
type checkedKey struct {
	set    *keySet
	client *Client
}

// keyRevokedMessage is the error text of a connection closed because its key was revoked.
const keyRevokedMessage = "the session's key was removed from the keys file or given a new secret"

// requestFlagsKnown is every defined request flag (backend.RequestFlag*); other bits make
// the request invalid_body, as the state machine would answer.
const requestFlagsKnown = backend.RequestFlagReplyBalances

// admitRequest returns the status that refuses a request before submission, or ok.
func (s *Server) admitRequest(client *Client, info *model.OperationInfo,
	frame *wire.Frame) model.Status {
	length := len(frame.Body)
	events := 0
	switch {
	case !client.Allows(frame.Operation):
		return model.StatusPermissionDenied
	case frame.Flags&^requestFlagsKnown != 0:
		return model.StatusInvalidBody
	case frame.Flags&backend.RequestFlagReplyBalances != 0 && !info.BalancesResult:
		return model.StatusInvalidBody // Balances mean something for create_transfers only.
	case info.EventSize == 0 && length != 0:
		return model.StatusInvalidBody
	case info.EventSize == 0:
	case length%info.EventSize != 0:
		return model.StatusInvalidBody
	case length == 0:
		return model.StatusEmptyRequest
	case length/info.EventSize > info.EventsMax:
		return model.StatusTooManyEvents
	default:
		events = length / info.EventSize
	}
	if s.config.Admission != nil {
		return s.config.Admission.AdmitRequest(client, frame.Operation, events)
	}
	return model.StatusOK
}

// submit hands the request to the backend. The inflight count is raised before draining
// is read so that Shutdown, which sets draining before reading the count, either sees
// this request or makes it refuse.
func (s *Server) submit(conn *connection, client *Client, frame *wire.Frame) model.Status {
	s.inflight.Add(1)
	if s.draining.Load() {
		s.requestsDone(1)
		return model.StatusShuttingDown
	}
	conn.request.Connection = conn.id
	conn.request.Client = client.ID
	conn.request.Session = conn.session
	conn.request.Number = frame.Number
	conn.request.Operation = frame.Operation
	conn.request.Flags = frame.Flags
	conn.request.Body = frame.Body
	var status model.Status
	if s.inline != nil {
		status = s.inline.SubmitDeferred(&conn.request)
		conn.turnDue = conn.turnDue || status == model.StatusOK
	} else {
		status = s.backend.Submit(&conn.request)
	}
	conn.request.Body = nil // The peeked bytes must not outlive this callback.
	if status != model.StatusOK {
		s.requestsDone(1)
		return status
	}
	s.counters.requestsSubmitted.Add(1)
	return model.StatusOK
}

// refuse answers a request at once with a non-ok status (and the primary's address for
// not_primary).
func (s *Server) refuse(conn *connection, frame *wire.Frame, status model.Status) {
	s.counters.requestsRefused.Add(1)
	if status == model.StatusBusy {
		s.counters.busyReplies.Add(1)
	}
	s.countRateLimited(status)
	reply := wire.Frame{Kind: wire.KindReply, Operation: frame.Operation,
		Status: uint32(status), Session: conn.session, Number: frame.Number}
	conn.immediate = wire.AppendFrame(conn.immediate, &reply, s.redirect(status))
}

// redirect returns the body of a reply with this status: the primary's address for
// not_primary, nothing otherwise.
func (s *Server) redirect(status model.Status) []byte {
	if status != model.StatusNotPrimary || s.config.PrimaryAddress == nil {
		return nil
	}
	address := s.config.PrimaryAddress()
	if len(address) > wire.AddressBytesMax {
		return nil
	}
	return []byte(address)
}

// fail queues an error frame and marks the connection closing; the caller returns
// gnet.Close, which OnTraffic turns, once the frame is written, into a close or a drain
// (closeOrDrain): gnet's close would drop what its buffer holds, the frame included.
func (s *Server) fail(conn *connection, code wire.ErrorCode, number uint64,
	message string) gnet.Action {
	return s.failWith(conn, &wire.Frame{Kind: wire.KindError, Status: uint32(code),
		Session: conn.session, Number: number}, message)
}

// failWith is fail with the error frame's header given.
func (s *Server) failWith(conn *connection, frame *wire.Frame, message string) gnet.Action {
	code := wire.ErrorCode(frame.Status)
	if code != wire.ErrorLoginUnknownKey && code != wire.ErrorLoginBadSignature &&
		code != wire.ErrorLoginNonceUsed && code != wire.ErrorLoginBadOptions {
		s.counters.protocolErrors.Add(1)
		s.log.log(slog.LevelWarn, "netio: protocol error, closing",
			slog.String("code", code.String()), slog.String("detail", message),
			slog.String("remote", addressString(conn.remote)))
	}
	conn.immediate = appendError(conn.immediate, frame, message)
	conn.phase = phaseClosing
	conn.active.Store(false)
	conn.closing.Store(true)
	return gnet.Close
}

// errorFrame appends an error frame with a message cut to the protocol's bound.
func errorFrame(dst []byte, code wire.ErrorCode, session uint64, number uint64,
	message string) []byte {
	return appendError(dst, &wire.Frame{Kind: wire.KindError, Status: uint32(code),
		Session: session, Number: number}, message)
}

// appendError appends the error frame with a message cut to the protocol's bound.
func appendError(dst []byte, frame *wire.Frame, message string) []byte {
	if len(message) > wire.ErrorTextBytesMax {
		message = message[:wire.ErrorTextBytesMax]
	}
	return wire.AppendFrame(dst, frame, []byte(message))
}

// retryAfterAux is an error frame's aux for a retry delay: whole milliseconds, rounded
// up, so that a client that waits exactly that long is never early.
func retryAfterAux(retryAfter time.Duration) uint64 {
	return uint64((retryAfter + time.Millisecond - 1) / time.Millisecond)
}

// OnClose retracts the connection everywhere, ends its session with the backend, and
// tells a peer that stopped sending inside a frame why its last bytes were ignored. A
// server that stops closes every connection itself, cutting the frames its clients were
// sending: that is no fault of theirs, and truncated_frame, which a client may not retry,
// would stop a client that should reconnect (to this server restarted, or another) and
// resend.
func (h *eventHandler) OnClose(c gnet.Conn, _ error) gnet.Action {
	s := h.server
	conn, _ := c.Context().(*connection)
	if conn == nil {
		return gnet.None
	}
	truncated := !conn.closing.Load() && !s.stopping.Load() && c.InboundBuffered() > 0
	conn.active.Store(false)
	conn.closing.Store(true)
	if truncated {
		s.counters.protocolErrors.Add(1)
		_, _ = c.Write(errorFrame(nil, wire.ErrorTruncatedFrame, conn.session, 0,
			"the connection ended inside a frame"))
	}
	s.table.remove(conn)
	s.endSession(conn)
	return gnet.None
}

// endSession ends conn's part in its session, once, on conn's loop: at OnClose, or
// earlier, when the connection starts draining (closeOrDrain): its last frame is
// written, so for its client the connection has ended, and a client that reads that
// frame and logs in again at once must find the session ended (with
// cancel-on-disconnect, its orders canceled; PROTOCOL.md section 5), not still held by
// the draining connection (a takeover, which ends nothing).
func (s *Server) endSession(conn *connection) {
	if conn.client == nil || conn.sessionEnded {
		return
	}
	conn.sessionEnded = true
	s.unsubscribe(conn)
	// A session taken over by another connection has not ended: only the connection
	// still holding it reports the end (and may cancel orders).
	if s.sessions.CompareAndDelete(sessionKey{client: conn.client.ID,
		session: conn.session}, conn) {
		s.backend.SessionClosed(conn.client.ID, conn.session,
			conn.options&wire.LoginCancelOnDisconnect != 0)
	}
	if s.config.Admission != nil {
		s.config.Admission.LoginEnded(conn.client, conn.remote)
	}
}

// OnTick runs on gnet's ticker goroutine, not on a loop: it reads atomics only and acts
// through AsyncWrite and Close, which are safe from any goroutine.
func (h *eventHandler) OnTick() (time.Duration, gnet.Action) {
	h.server.tick()
	return h.server.config.tickInterval(), gnet.None
}

// tick sends heartbeats to connections idle for HeartbeatInterval, and lends the loop of
// each connection silent for SilenceTimeout or not logged in within LoginTimeout the
// check that decides whether to close it (silenceOverdue, loginOverdue).
func (s *Server) tick() {
	now := s.now()
	heartbeat := int64(s.config.HeartbeatInterval)
	for i := range s.table.slots {
		conn := s.table.slots[i].Load()
		if conn == nil {
			continue
		}
		if conn.closing.Load() {
			// Draining: the loop closes the connection once gnet has sent its last frame
			// (drainOverdue), one check at a time.
			if conn.draining.Load() && conn.drainCheckLent.CompareAndSwap(false, true) {
				_ = lendTo(conn, s.drainOverdueCheck)
			}
			continue
		}
		if !conn.active.Load() {
			// Only the connection's loop may decide that its login came too late: decided
			// here, a login completing on the loop between this load of active and the
			// close would be closed just after taking its session over (ending it, with
			// cancel-on-disconnect, under a live client). One check at a time per
			// connection (lent again only if a check spared it: loginOverdue).
			if now-conn.opened > int64(s.config.LoginTimeout) &&
				conn.loginCheckLent.CompareAndSwap(false, true) {
				if hook := testHookLoginOverdue.Load(); hook != nil {
					(*hook)()
				}
				// On a closed connection the callback gets the error (loginOverdue then
				// does nothing); an error returned here means the engine is stopping,
				// which closes every connection: nothing to time out.
				_ = conn.conn.AsyncWrite(nil, s.loginOverdueCheck)
			}
			continue
		}
		if now-conn.received.Load() > int64(s.config.SilenceTimeout) {
			// Decided on the connection's loop, as the login timeout is: received is
			// stored only when the loop reads, so a loop that stalled (an inline turn on a
			// stalled disk, an Admission that blocks) makes every connection on it look
			// silent although their heartbeats wait unread in the kernel; closed from
			// here, each would end its session (with cancel-on-disconnect) under a live
			// client. The loop looks at the socket too (silenceOverdue).
			if conn.silenceCheckLent.CompareAndSwap(false, true) {
				_ = conn.conn.AsyncWrite(nil, s.silenceOverdueCheck)
			}
			continue
		}
		if now-conn.sent.Load() >= heartbeat {
			conn.sent.Store(now)
			_ = lendTo(conn, s.heartbeatWrite)
		}
	}
}

// writeHeartbeat runs on a connection's loop, the callback of the ticker's lendTo: it
// writes the heartbeat (shared, never modified) unless the connection is closed (err) or
// its last frame is written (draining: a heartbeat lent just before the close was
// claimed would follow it).
func (s *Server) writeHeartbeat(c gnet.Conn, err error) error {
	if err != nil {
		return nil
	}
	if conn, _ := c.Context().(*connection); conn != nil && conn.draining.Load() {
		return nil
	}
	_, _ = c.Write(s.heartbeat)
	return nil
}

// loginOverdue runs on a connection's loop (s.loginOverdueCheck, the callback of an empty
// AsyncWrite from the ticker) once the connection's login is overdue: err is nil only if
// the connection is still open. It closes the connection for login_timeout unless a
// login was handled first, or bytes wait unread in the socket (they may be the login,
// sent in time: the check is then lent again, a bounded number of times). On the loop nothing interleaves: a login handled before this
// runs has left phaseChallenged (accepted or refused), and one read after it finds the
// connection closing.
func (s *Server) loginOverdue(c gnet.Conn, err error) error {
	if err != nil {
		return nil
	}
	conn, _ := c.Context().(*connection)
	if conn == nil || conn.phase != phaseChallenged || conn.closing.Load() {
		return nil
	}
	// Bytes waiting in the socket may be the login, sent in time: a loop stalled inside
	// a task (an inline turn on a stalled disk) runs the check lent meanwhile in the same
	// round of tasks, before it polls and reads them. Spared, the check is lent again by
	// a later tick, by when the loop has read them. Bounded: a peer that keeps bytes
	// coming without a login (heartbeats) gains a few ticks, not a connection for ever.
	if conn.loginChecksSpared < loginChecksSparedMax && unreadBytes(c.Fd()) > 0 {
		conn.loginChecksSpared++
		conn.loginCheckLent.Store(false)
		return nil
	}
	conn.phase = phaseClosing
	if s.closeAsync(conn, wire.ErrorLoginTimeout, "no login within the timeout") {
		s.counters.silenceTimeouts.Add(1)
	}
	return nil
}

// silenceOverdue runs on a connection's loop (s.silenceOverdueCheck, the callback of an
// empty AsyncWrite from the ticker) once the connection has looked silent for longer than
// SilenceTimeout: err is nil only if the connection is still open. It closes the
// connection for silence_timeout only if nothing was read meanwhile and nothing waits in
// the socket unread: gnet may run this task before it reads what arrived while the loop
// was stalled, and bytes the kernel holds for us were received, whatever the loop has
// done with them yet.
func (s *Server) silenceOverdue(c gnet.Conn, err error) error {
	if err != nil {
		return nil
	}
	conn, _ := c.Context().(*connection)
	if conn == nil || conn.closing.Load() {
		return nil
	}
	now := s.now()
	if now-conn.received.Load() <= int64(s.config.SilenceTimeout) {
		conn.silenceCheckLent.Store(false)
		return nil
	}
	if unreadBytes(c.Fd()) > 0 {
		conn.received.Store(now)
		conn.silenceCheckLent.Store(false)
		return nil
	}
	if s.closeAsync(conn, wire.ErrorSilenceTimeout, "nothing received within the timeout") {
		s.counters.silenceTimeouts.Add(1) // Not when another close (a takeover) won.
	}
	return nil
}

// loginChecksSparedMax bounds the login checks that find bytes unread in the socket and
// leave the decision to a later tick (loginOverdue): one suffices unless the ticker lends
// the next check while the loop still runs the round of tasks that spared the last. A
// connection that never logs in but keeps sending (heartbeats) gets at most this many
// checks more than one that stays silent, a tick (at most 100 ms) apart or more.
const loginChecksSparedMax = 4

// testHookLoginOverdue, when set by a test, runs on the ticker once it has found a
// connection's login overdue, before it acts on it. One atomic load per overdue login.
var testHookLoginOverdue atomic.Pointer[func()]

// closeAsync sends an error frame and closes the connection, from any goroutine. Only
// the first close of a connection does anything: claimed says whether this one did.
func (s *Server) closeAsync(conn *connection, code wire.ErrorCode, message string) (claimed bool) {
	if !conn.closing.CompareAndSwap(false, true) {
		return false
	}
	// The session id is set on the loop before active is stored true (login), so it
	// may be read here, on any goroutine, once active has been seen true; before login
	// the frame carries 0 (PROTOCOL.md section 3).
	var session uint64
	if conn.active.Swap(false) {
		session = conn.session
	}
	s.log.log(slog.LevelInfo, "netio: closing connection", slog.String("code", code.String()),
		slog.String("detail", message), slog.String("remote", addressString(conn.remote)))
	frame := errorFrame(nil, code, session, 0, message)
	writeLast := func(c gnet.Conn, err error) error { return s.writeLastFrame(c, err, frame) }
	if err := lendTo(conn, writeLast); err != nil {
		_ = conn.conn.Close()
	}
	return true
}

// writeLastFrame runs on the connection's loop, the callback of closeAsync's lendTo (err:
// the connection is closed already): it writes the error frame, then closes the
// connection there and then, or lets it drain first (closeOrDrain), so that the error
// frame is its last (PROTOCOL.md section 9). gnet's Close would only queue the close as
// one more loop task, behind whatever was lent to the loop meanwhile: a reply, report,
// market-data update or heartbeat admitted while the connection still looked active,
// just before closeAsync claimed the close, and lent after the error frame. Closed here,
// OnClose takes the connection out of the table (a write carried by another connection's
// task skips it) and gnet hands every later task of it the error; draining, every later
// write finds draining set and skips it: those frames are dropped, and the client
// resends what is left unanswered (section 7). A connection whose loop has written its
// own last frame meanwhile (fail, logout: it drains) gets no second one.
func (s *Server) writeLastFrame(c gnet.Conn, err error, frame []byte) error {
	if err != nil {
		return nil
	}
	conn, _ := c.Context().(*connection)
	if conn != nil && conn.draining.Load() {
		return nil
	}
	if _, err := c.Write(frame); err != nil {
		return nil // gnet has closed the connection.
	}
	if conn != nil && s.closeOrDrain(c, conn) == gnet.None {
		return nil
	}
	return c.EventLoop().Close(c)
}

// closeOrDrain runs on c's loop once conn's last frame (an error frame, or the logout
// answer) is written, and answers gnet.Close when the connection may close now: gnet's
// close sends what the socket takes at once and drops the rest of its buffer, the last
// frame with it, whereas PROTOCOL.md (section 6) loses an error frame only past the
// outbound bound. So when gnet still holds unsent bytes within the bound, the connection
// drains instead (answer gnet.None): nothing more is read (OnTraffic returns early on a
// closing connection) or written (every write on the loop checks draining first), and
// the ticker lends the loop a check that closes it once the client has everything, or
// aborts it after Config.DrainTimeout (drainOverdue). Past the bound it is aborted as a
// slow consumer, as before: its buffers are what is full.
func (s *Server) closeOrDrain(c gnet.Conn, conn *connection) gnet.Action {
	buffered := c.OutboundBuffered()
	switch {
	case buffered == 0:
		return gnet.Close
	case buffered > s.config.OutboundBytesMax:
		s.slowConsumer(conn, buffered, c)
		return gnet.Close
	}
	conn.drainingSince = s.now()
	conn.draining.Store(true)
	s.endSession(conn)
	return gnet.None
}

// drainOverdue runs on a draining connection's loop (s.drainOverdueCheck, lent by the
// ticker): err is nil only if the connection is still open. It closes the connection
// once the client has everything, the last frame included: gnet's buffer is empty and
// the client has acknowledged every byte the kernel took (unsentBytes). Closed while the
// kernel still holds some, a socket answers whatever the client sends next (a heartbeat,
// a request; it may not yet know it is closing) with a reset that drops them, the last
// frame with them. It aborts the connection once Config.DrainTimeout has passed: a client
// that has stopped reading must not hold its connection slot and buffer for ever.
func (s *Server) drainOverdue(c gnet.Conn, err error) error {
	if err != nil {
		return nil
	}
	conn, _ := c.Context().(*connection)
	if conn == nil || (c.OutboundBuffered() == 0 && unsentBytes(c.Fd()) == 0) {
		return c.EventLoop().Close(c)
	}
	if s.now()-conn.drainingSince > int64(s.config.DrainTimeout) {
		s.log.log(slog.LevelWarn, "netio: last frame unread within the drain timeout, aborting",
			slog.Int("unsent_bytes", c.OutboundBuffered()),
			slog.String("remote", addressString(conn.remote)))
		abort(c)
		return c.EventLoop().Close(c)
	}
	conn.drainCheckLent.Store(false)
	return nil
}

// slowConsumer closes a connection whose unsent bytes exceed the bound. Nothing more is
// queued for it, not even an error frame: its buffers are what is full. onLoop is the
// connection when the caller runs on its event loop (and then returns gnet.Close or
// closes it itself), nil from any other goroutine.
//
// The connection is aborted rather than closed gracefully: gnet's close flushes the
// outbound buffer in a loop that only stops on a full socket, so a peer that keeps reading
// a trickle would hold the event loop (and every connection on it) for as long as it takes
// to drain megabytes. Shutting the socket for writing first makes that flush fail at once,
// and linger 0 discards what the kernel still holds: closed gracefully, the socket stays
// with the kernel (an orphan in FIN_WAIT1) with up to its send buffer of unsent bytes
// until its zero-window probes give up (3.9 MB for 1 min 46 s on loopback here).
func (s *Server) slowConsumer(conn *connection, unsent int, onLoop gnet.Conn) {
	// Claim the close before clearing active: cleared first, a closeAsync winning in
	// between would read active false and send its frame with session 0. A loser leaves
	// active to the winner (closeAsync swaps it, OnClose clears it): the bounds in send
	// still hold meanwhile.
	claimed := conn.closing.CompareAndSwap(false, true)
	if claimed {
		conn.active.Store(false)
		s.counters.slowConsumers.Add(1)
		s.log.log(slog.LevelWarn, "netio: slow consumer, closing",
			slog.Int("unsent_bytes", unsent), slog.Int("bound", s.config.OutboundBytesMax),
			slog.String("remote", addressString(conn.remote)))
	}
	switch {
	case onLoop != nil:
		// Aborted even when another goroutine claimed the close (a takeover, a timeout, a
		// revoked key): that close is graceful, and these bytes are past the bound. Its
		// error frame, queued behind them, is lost with them.
		abort(onLoop)
	case claimed:
		// Run the abort on the connection's loop: there gnet knows whether the descriptor
		// is still this connection's (an empty AsyncWrite fails with an error once it is
		// closed).
		if err := conn.conn.AsyncWrite(nil, abortAfterWrite); err != nil {
			_ = conn.conn.Close()
		}
	}
	// Off the loop after another close claimed it: nothing was queued past the bound
	// (the caller drops its bytes), and the loop's own check after each write
	// (afterWrite) aborts the connection if the bytes already lent to it pass the bound
	// in gnet's buffer (OnTraffic returns early on a closing connection).
}

// abort stops all sending on an open connection; call it on the connection's loop.
func abort(c gnet.Conn) {
	_ = c.SetLinger(0)
	_ = syscall.Shutdown(c.Fd(), syscall.SHUT_WR)
}

// abortAfterWrite runs on the loop after an empty AsyncWrite: err is nil only if the
// connection is still open.
func abortAfterWrite(c gnet.Conn, err error) error {
	if err != nil {
		return nil
	}
	abort(c)
	return c.Close()
}

// copyAddress returns a copy of a gnet address, which may be recycled after close.
func copyAddress(address net.Addr) net.Addr {
	switch a := address.(type) {
	case *net.TCPAddr:
		return &net.TCPAddr{IP: append(net.IP(nil), a.IP...), Port: a.Port,
			Zone: strings.Clone(a.Zone)}
	case nil:
		return &net.TCPAddr{}
	}
	return address
}

func addressString(address net.Addr) string {
	if address == nil {
		return ""
	}
	return address.String()
}

// countRateLimited counts an answer of rate_limited (Stats.RateLimitedReplies: a request
// or subscription frame refused by the client's limits), so that operators see the
// limits at work (sequent_network_rate_limited_replies_total).
func (s *Server) countRateLimited(status model.Status) {
	if status == model.StatusRateLimited {
		s.counters.rateLimitedReplies.Add(1)
	}
}
