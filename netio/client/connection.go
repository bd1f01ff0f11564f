package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// established is a connection that has logged in.
type established struct {
	conn     net.Conn
	decoder  *wire.Decoder
	accepted wire.LoginAccepted
	address  string
	timers   wire.Challenge
}

// connectAny tries the redirect target first, then each address in order (an address
// that just refused market data not_primary last: leaveNotPrimary), and returns
// the first connection that logs in. A login refusal that stops the client
// (loginRefusal: unknown key, bad signature, damage in a row past its bound) is
// returned at once, final true; a protocol version the server does not speak
// (bad_version, the second with no login accepted between) only once no other address
// accepts the login.
func (c *Client) connectAny(ctx context.Context) (e *established, final bool, err error) {
	c.mu.Lock()
	addresses := slices.Clone(c.config.Addresses)
	if c.primary != "" {
		addresses = append([]string{c.primary}, addresses...)
	}
	if last := c.triedLast; last != "" {
		// A node that refused market data not_primary (leaveNotPrimary): the others
		// first, once; it stays in the list, as the only one perhaps reachable.
		c.triedLast = ""
		addresses = slices.DeleteFunc(addresses, func(a string) bool { return a == last })
		addresses = append(addresses, last)
	}
	for _, left := range c.leftAddresses {
		// Every node left since a subscription was last accepted (leaveAddressLocked),
		// not only the last: with two deposed nodes listed before the primary, moving
		// one of them last left the other first every time, and the primary was never
		// dialed. Oldest first, so that they are taken in turn when none other logs in.
		if slices.Contains(addresses, left) {
			addresses = slices.DeleteFunc(addresses, func(a string) bool { return a == left })
			addresses = append(addresses, left)
		}
	}
	c.mu.Unlock()
	var reasons []string
	var last, versionRefused error
	for i := 0; i < len(addresses); i++ {
		address := addresses[i]
		e, err := c.connect(ctx, address)
		if err == nil {
			return e, false, nil
		}
		var serverError *ServerError
		if errors.As(err, &serverError) {
			stop := c.loginRefusal(serverError)
			versionCode := wire.ErrorCode(serverError.Code) == wire.ErrorBadVersion
			switch {
			case stop != nil && stop == error(serverError) && versionCode:
				// This server does not speak version 1; another address may (a cluster
				// in the middle of an upgrade): the client stops once none of them does.
				versionRefused = stop
			case stop != nil:
				return nil, true, stop
			case versionCode:
				// The first bad_version since a login was accepted, taken for damage:
				// the same address at once tells damage (accepted) from a server that
				// means it (refused again, the second: final). Without it Dial, which
				// has no later round, would return ErrUnreachable, which an application
				// retries on, for ever against that server. Once per call: the next
				// bad_version is the second (loginsRefusedBadVersion).
				addresses = slices.Insert(addresses, i+1, address)
			}
		}
		reasons = append(reasons, fmt.Sprintf("%s: %v", address, err))
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	if versionRefused != nil {
		return nil, true, versionRefused
	}
	return nil, false, &unreachableError{reasons: strings.Join(reasons, "; "), last: last}
}

// unreachableError is connectAny's error when no address logged in. Its text is one
// line, so that a command-line tool can print it as is, and names each address's error
// once (the last one used to follow the list again); it still wraps ErrUnreachable and
// the last address's error (errors.Is context.Canceled, errors.As *ServerError, ...).
type unreachableError struct {
	reasons string // "address: error" for each address tried, in order, "; " between.
	last    error  // The last address's error (nil when there was none to try).
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("%v (%s)", ErrUnreachable, e.reasons)
}

func (e *unreachableError) Unwrap() []error {
	if e.last == nil {
		return []error{ErrUnreachable}
	}
	return []error{ErrUnreachable, e.last}
}

// loginRefusal decides what a handshake's error frame means (PROTOCOL.md section 13),
// counting it where it counts, and returns nil to log in again (at the next address,
// or in the reconnector's next round, with its back-off) or the error that stops the
// client. A code that is not Retryable stops it (unknown key, bad signature, ...:
// logging in again fails the same way until something changes), except the damage
// codes of loginDamaged. The login frame is built afresh by the client's own encoder
// for every attempt, in protocol version 1, and the server has just sent a challenge
// (and this error frame) in version 1 that the client verified: a login refused as
// malformed arrived damaged (a link, a middlebox), and about 14 of its 96 bytes are
// checked before its checksum. These count with the damaged frames of waitAfterDamage,
// in the same row (damageRefused: reset by a reply, or a connection healthy for a
// while: damageForgotten), and stop the client at the same bound, damageRefusalsMax.
// bad_version is the one a real disagreement gives too (a server that frames its
// challenge in version 1 but no longer accepts it): taken for damage once, it is final
// the second time a login is refused with it with no login accepted between
// (loginBadVersionRefusalsMax), since damage landing on the version byte of two logins
// is far less likely than a server that means it.
func (c *Client) loginRefusal(refused *ServerError) error {
	code := wire.ErrorCode(refused.Code)
	if !loginDamaged(code) {
		if code.Retryable() {
			return nil
		}
		return refused
	}
	c.mu.Lock()
	c.refusedAsDamaged++
	refusals := c.refusedAsDamaged
	if code == wire.ErrorBadVersion {
		c.loginsRefusedBadVersion++
	}
	versionRefusals := c.loginsRefusedBadVersion
	c.mu.Unlock()
	switch {
	case code == wire.ErrorBadVersion && versionRefusals >= loginBadVersionRefusalsMax:
		return refused // The server does not speak version 1.
	case refusals >= damageRefusalsMax:
		return damageRefusalsError(refusals, refused)
	}
	c.log.Warn("client: login refused as damaged, logging in again", "error", refused,
		"refusals", refusals)
	return nil
}

// loginBadVersionRefusalsMax is the number of logins refused bad_version, with no login
// accepted between, at which the client stops (loginRefusal): the first may be damage
// to the version byte, a second is the server's protocol.
const loginBadVersionRefusalsMax = 2

// loginDamaged reports whether an error frame with code refusing a login says that the
// login arrived damaged: the codes of damagedFrame, and unexpected_frame, which the
// server decides from the header alone before the login (PROTOCOL.md section 3, step
// 4), so a flipped bit in the login's kind byte (login, 2, read as request, 6) gets it.
// The client sends nothing else on a connection before its login is accepted.
func loginDamaged(code wire.ErrorCode) bool {
	return damagedFrame(code) || code == wire.ErrorUnexpectedFrame
}

// connect dials one address and runs the login handshake: read the challenge, sign its
// nonce, send the login, read the acceptance (or the error frame). ctx ending (Close,
// during a reconnect) interrupts the handshake too, not only the dial: a server that
// accepts the connection and stays silent would otherwise hold Close for up to
// DialTimeout.
func (c *Client) connect(ctx context.Context, address string) (*established, error) {
	ctx, cancel := context.WithTimeout(ctx, c.config.DialTimeout)
	defer cancel()
	dialer := net.Dialer{}
	conn, err := dialer.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	// Ends the handshake's reads and writes at once when ctx ends first.
	interrupt := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	e := &established{conn: conn, decoder: &wire.Decoder{}, address: address}
	err = c.login(e)
	if !interrupt() && err == nil {
		err = ctx.Err() // Logged in as ctx ended: the deadline may be set, or about to be.
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = loginInterrupted(ctx)
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return e, nil
}

// loginInterrupted is the error of a handshake whose read or write hit the connection's
// deadline: the only deadlines set on it are ctx's own and the one set in the past when
// ctx ends (connect), so ctx ended or its deadline passed (the connection's timer may
// fire before ctx's own does). The caller is told that (errors.Is context.Canceled or
// context.DeadlineExceeded), not of an i/o timeout it never set.
func loginInterrupted(ctx context.Context) error {
	cause := ctx.Err()
	if cause == nil {
		cause = context.DeadlineExceeded
	}
	return fmt.Errorf("client: login interrupted: %w", cause)
}

func (c *Client) login(e *established) error {
	frame, err := readFrame(e.conn, e.decoder)
	if err != nil {
		return err
	}
	if frame.Kind == wire.KindError {
		return serverError(&frame)
	}
	if frame.Kind != wire.KindChallenge {
		return fmt.Errorf("client: expected a challenge, got %s", frame.Kind)
	}
	e.timers.Decode(frame.Body)
	login := wire.Login{Client: c.config.Client, Key: c.config.Key}
	if c.config.CancelOnDisconnect {
		login.Options |= wire.LoginCancelOnDisconnect
	}
	if c.config.UncheckedFrames {
		login.Options |= wire.LoginUncheckedFrames
	}
	login.Signature = wire.Sign(c.config.Secret, &e.timers.Nonce, login.Client, login.Key,
		login.Options, c.session)
	body := make([]byte, wire.LoginSize)
	login.Encode(body)
	if _, err := e.conn.Write(wire.AppendFrame(nil,
		&wire.Frame{Kind: wire.KindLogin, Session: c.session}, body)); err != nil {
		return err
	}
	frame, err = readFrame(e.conn, e.decoder)
	if err != nil {
		return err
	}
	switch frame.Kind {
	case wire.KindError:
		return serverError(&frame)
	case wire.KindLoginAccepted:
		e.accepted.Decode(frame.Body)
		return nil
	}
	return fmt.Errorf("client: expected login_accepted, got %s", frame.Kind)
}

// readFrame reads until the decoder yields one frame (used during the handshake only).
func readFrame(conn net.Conn, decoder *wire.Decoder) (wire.Frame, error) {
	for {
		frame, ok, err := decoder.Next()
		if err != nil {
			return wire.Frame{}, err
		}
		if ok {
			return frame, nil
		}
		if _, err := decoder.ReadFrom(conn); err != nil {
			if frame, ok, _ := decoder.Next(); ok {
				return frame, nil
			}
			return wire.Frame{}, err
		}
	}
}

func serverError(frame *wire.Frame) *ServerError {
	code := wire.ErrorCode(frame.Status)
	refused := &ServerError{Code: frame.Status, Name: code.String(), Message: string(frame.Body)}
	if code.Retry() == wire.RetryLater {
		refused.RetryAfter = min(time.Duration(frame.Aux)*time.Millisecond, RetryAfterMax)
	}
	return refused
}

// install makes e the current connection: it queues every pending request (in number
// order, with the original numbers), the resumed subscriptions (settling the market-data
// calls the replaced connection left unanswered: resume), and starts the reader.
// Called with mu held.
func (c *Client) install(e *established) {
	c.generation++
	c.conn, c.dialed = e.conn, e.address
	// Reached by following a not_primary naming this address (connectAny tries it first),
	// no other reply in between (namesConnectedLocked).
	c.dialedFollowed = c.redirects > 0 && e.address == c.primary
	c.permissions, c.epoch = e.accepted.Permissions, e.accepted.Epoch
	// A bad_checksum the old connection's reader handled after waitAfterDamage ran for
	// its loss says nothing of how this one ends (it still counts in refusedAsDamaged).
	c.damagedLoss = false
	c.loginsRefusedBadVersion = 0 // This server speaks version 1 (loginRefusal).
	c.heartbeat = c.config.HeartbeatInterval
	if c.heartbeat == 0 {
		c.heartbeat = time.Duration(e.timers.HeartbeatIntervalMs) * time.Millisecond
	}
	c.silence = c.config.SilenceTimeout
	if c.silence == 0 {
		c.silence = time.Duration(e.timers.SilenceTimeoutMs) * time.Millisecond
	}
	c.heartbeat = max(c.heartbeat, time.Millisecond)
	c.silence = max(c.silence, 2*c.heartbeat)
	now := time.Now().UnixNano()
	c.lastRead.Store(now)
	c.lastWrite.Store(now)
	c.sealAllLocked() // Requests formed while disconnected are resent with the rest.
	numbers := make([]uint64, 0, len(c.pending))
	for number := range c.pending {
		numbers = append(numbers, number)
	}
	slices.Sort(numbers)
	c.outbox = c.outbox[:0]
	if c.subscription != nil {
		c.outbox = append(c.outbox, c.subscription.frame(c.session))
	}
	// Each resumes after its own shard's last; the default instrument shard's first, so
	// that a server before streams per shard (known from its answer) carries it, the
	// others waiting for that answer (sendNamedLocked).
	c.resetShardStreamsLocked()
	if shard, known := c.defaultShardLocked(); known {
		if s := c.shardSubscriptionLocked(shard); s != nil {
			c.sendNamedLocked(s)
		}
	}
	for _, s := range c.shardSubscriptions {
		if s != c.shardProbe {
			c.sendNamedLocked(s)
		}
	}
	if c.marketData != nil {
		c.outbox = append(c.outbox, c.marketData.resume(c.session)...)
	}
	for _, number := range numbers {
		call := c.pending[number]
		call.unanswered = 0 // Copies queued while disconnected were never written.
		c.queueLocked(call, call.frame)
	}
	if len(numbers) > 0 {
		c.log.Info("client: resending", "requests", len(numbers), "address", e.address)
	}
	c.startReaderLocked(e.conn, e.decoder)
	c.writeLocked()
}

// maintain reconnects after a lost connection, with backoff, until Close.
func (c *Client) maintain() {
	defer c.done.Done()
	for {
		select {
		case <-c.stop:
			return
		case <-c.lost:
		}
		if !c.waitBeforeFollowing() || !c.waitAfterDamage() || !c.waitAfterReportsShutDown() {
			return
		}
		delay := ReconnectDelayMin
		for {
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-c.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			e, final, err := c.connectAny(ctx)
			cancel()
			if err == nil {
				c.mu.Lock()
				if c.closed {
					c.mu.Unlock()
					_ = e.conn.Close()
					return
				}
				c.install(e)
				c.mu.Unlock()
				c.log.Info("client: reconnected", "address", e.address)
				break
			}
			if final {
				c.failFatal(err)
				return
			}
			var refused *ServerError
			errors.As(err, &refused)
			wait := delay
			if refused != nil {
				wait = max(wait, refused.RetryAfter) // too_many_attempts: wait as asked.
			}
			c.log.Warn("client: reconnect failed", "error", err, "retry_in", wait)
			if !c.sleep(wait) {
				return
			}
			delay = min(2*delay, ReconnectDelayMax)
		}
	}
}

// waitBeforeFollowing delays a reconnect that follows the second and later consecutive
// not_primary redirects (no other reply in between), doubling from RedirectDelayMin up
// to RedirectDelayMax. The first redirect is followed at once, so a failover costs no
// extra latency; but two nodes that name each other during an election (or a stale
// address) would otherwise be reconnected to and logged in to as fast as loopback
// allows. A connection lost for another reason reconnects at once as before. It reports
// false when the client is closed while waiting.
func (c *Client) waitBeforeFollowing() bool {
	c.mu.Lock()
	redirects, redirected := c.redirects, c.redirectedLoss
	c.redirectedLoss = false
	c.mu.Unlock()
	if !redirected {
		return true
	}
	return c.backOffAfterRepeats(redirects, RedirectDelayMin, RedirectDelayMax,
		"client: redirected again, waiting before following", "redirects")
}

// backOffAfterRepeats waits before a reconnect that follows the second and later of
// repeats losses of one kind in a row, doubling from first up to limit (the first loss
// reconnects at once), logging message with the count under countKey. It reports false
// when the client is closed while waiting.
func (c *Client) backOffAfterRepeats(repeats int, first, limit time.Duration, message,
	countKey string) bool {
	if repeats < 2 {
		return true
	}
	delay := doubling(first, limit, repeats-2)
	c.log.Warn(message, countKey, repeats, "wait", delay)
	return c.sleep(delay)
}

// sleep waits for delay, or less if the client is closed meanwhile: it reports false
// then.
func (c *Client) sleep(delay time.Duration) bool {
	select {
	case <-c.stop:
		return false
	case <-time.After(delay):
		return true
	}
}

// startReaderLocked starts the reader of conn, the current connection (generation).
// Called with mu held.
func (c *Client) startReaderLocked(conn net.Conn, decoder *wire.Decoder) {
	c.readers++
	c.readRole, c.readBack, c.readDecoder = roleReader, make(chan struct{}, 1), decoder
	go c.readLending(conn, decoder, c.generation, c.readBack)
}

// readerReturned notes that a reader returned, waking shutdown if it waits for that.
func (c *Client) readerReturned() {
	c.mu.Lock()
	c.readers--
	if c.readersChanged != nil {
		close(c.readersChanged)
		c.readersChanged = nil
	}
	c.mu.Unlock()
}

// read is the connection's reader goroutine: it decodes frames and completes calls.
// shutdown waits for it to return unless it is running a handler (readers, handlers).
// However it ends, the connection is marked lost (readFailed, deferred): a report or
// market-data handler may leave by runtime.Goexit (t.Fatal inside a handler in an
// application's test), which ends this goroutine inside readFrames; without the mark
// the connection would stay current with no one reading it, and the pending calls would
// wait for the silence timeout before the reconnect resent them (or Close failed them).
func (c *Client) read(conn net.Conn, decoder *wire.Decoder, generation uint64) {
	c.readLending(conn, decoder, generation, nil)
}

// readLending is read; while back is not nil, the reader may lend the connection to lone
// waiters between requests, waiting on back meanwhile (lone_read.go).
func (c *Client) readLending(conn net.Conn, decoder *wire.Decoder, generation uint64,
	back chan struct{}) {
	defer c.readerReturned()
	err := errReaderLeft // Kept only if readFrames never returns (runtime.Goexit).
	defer func() { c.readFailed(generation, err) }()
	err = c.readFrames(conn, decoder, generation, back)
}

// errReaderLeft is why a connection is lost when its reader's goroutine ended inside a
// handler (runtime.Goexit) rather than on an error of its own.
var errReaderLeft = errors.New("client: a report or market-data handler ended the " +
	"connection's reader goroutine (runtime.Goexit)")

// readFrames decodes frames from conn and handles them until the connection fails or
// a frame ends it, and returns why. The first frame handled once the connection has
// lived damageForgottenAfter resets the count of damage in a row (damageForgotten).
func (c *Client) readFrames(conn net.Conn, decoder *wire.Decoder, generation uint64,
	back chan struct{}) error {
	started := time.Now().UnixNano()
	readAt, healthy := started, false
	for {
		for {
			frame, ok, err := decoder.Next()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if err := c.handle(&frame, generation); err != nil {
				return err
			}
			if !healthy && readAt-started >= int64(damageForgottenAfter) {
				healthy = true
				c.damageForgotten(generation)
			}
		}
		if c.lend(generation, decoder, back) { // Lent to lone waiters, and back.
			if frame, held := c.takeHeld(generation); held {
				if err := c.handle(&frame, generation); err != nil {
					return err
				}
			}
			continue
		}
		if _, err := decoder.ReadFrom(conn); err != nil {
			for {
				frame, ok, _ := decoder.Next()
				if !ok {
					break
				}
				_ = c.handle(&frame, generation)
			}
			return err
		}
		readAt = time.Now().UnixNano()
		c.lastRead.Store(readAt)
	}
}

func (c *Client) readFailed(generation uint64, err error) {
	c.mu.Lock()
	c.lostLocked(generation, err)
	c.mu.Unlock()
}

// handle acts on one frame from the server.
func (c *Client) handle(frame *wire.Frame, generation uint64) error {
	switch frame.Kind {
	case wire.KindReply:
		c.complete(frame, generation)
	case wire.KindHeartbeat:
	case wire.KindReport:
		c.report(frame, generation)
	case wire.KindSubscribed:
		c.subscribed(frame, generation)
	case wire.KindMarketData, wire.KindMarketDataStale, wire.KindMarketDataSubscribed:
		c.marketDataFrame(frame, generation)
	case wire.KindLogout:
		c.mu.Lock()
		select {
		case <-c.logoutSeen:
		default:
			close(c.logoutSeen)
		}
		c.mu.Unlock()
	case wire.KindError:
		refused := serverError(frame)
		code := wire.ErrorCode(frame.Status)
		switch {
		case damagedFrame(code) || c.config.UncheckedFrames && uncheckedDamage(code):
			// A frame of ours arrived damaged: the connection is (a link, a middlebox),
			// not the request. The number is read from the damaged frame (PROTOCOL.md
			// section 4, error): unverified, it may name another pending request, whose
			// own frame was fine and may be applied. So it names none: the client
			// reconnects with its session and resends every pending request with its
			// number, as after any lost connection (exactly-once answers a copy already
			// applied from the server's cache). Never a definite "not applied"; a stop
			// only once damage is all the server has seen from this client for
			// damageRefusalsMax connections in a row (a frame it refuses every time would
			// otherwise be resent for ever, blocking the calls queued with it).
			if refusals := c.damageRefused(generation); refusals >= damageRefusalsMax {
				c.failFatal(damageRefusalsError(refusals, refused))
			}
		case sessionFatal(code):
			c.failFatal(refused)
		case !code.Retryable() && !c.failCall(frame.Number, refused):
			c.failFatal(refused) // A protocol error not tied to one request.
		case code == wire.ErrorShuttingDown:
			c.leaveShuttingDown(generation)
		}
		// The server closes the connection; the reconnect resends the other requests.
		return refused
	default:
		return fmt.Errorf("client: unexpected %s frame from the server", frame.Kind)
	}
	return nil
}

// damagedFrame reports whether an error frame with code, read on a connection whose
// login was accepted (handle: its reader starts only then), says that a frame of the
// client's arrived damaged. bad_checksum does, and so do the checks the server makes of
// a header before the checksum (PROTOCOL.md section 3: magic, version, length bounds,
// kind, reserved bytes): the same damage lands in a header byte as well as in a body
// byte, and a damaged body_length has the server read the next frame from the wrong
// offset (bad_magic, most likely). None of them is the client's own doing there: every
// frame on the connection comes from the encoder (wire.AppendFrame) that has just
// produced a login the server accepted, in protocol version 1; GoInto refuses a request
// body above model.RequestBodyBytesMax before it is framed. reserved_not_zero is also
// the code of a check made after the checksum (header fields a kind does not use), with
// the request's number: the client writes them zero, so from an intact frame it would
// be a fault of the client's, which the back-off of waitAfterDamage keeps from looping
// fast; it is never taken as a definite refusal of the request named. truncated_frame
// (the stream ended inside a frame) is the connection's too, should the client ever
// read it. unexpected_frame is not here: the server decides it from the kind of a frame
// whose checksum it verified (unless the session negotiated unchecked frames:
// uncheckedDamage). A login refused with these codes is damaged too, with
// one reserve for bad_version (loginRefusal).
func damagedFrame(code wire.ErrorCode) bool {
	switch code {
	case wire.ErrorBadChecksum, wire.ErrorBadMagic, wire.ErrorBadVersion,
		wire.ErrorFrameTooLarge, wire.ErrorBadBodyLength, wire.ErrorUnknownKind,
		wire.ErrorReservedNotZero, wire.ErrorTruncatedFrame:
		return true
	}
	return false
}

// uncheckedDamage reports whether an error frame with code, on a connection whose login
// negotiated unchecked frames (Config.UncheckedFrames), says that a frame of the
// client's arrived damaged, beyond damagedFrame's codes. The server verifies nothing of
// such a frame, so header fields it checks after the checksum's place are unverified
// too: a kind read as one a client may not send (a request or heartbeat as reply:
// unexpected_frame), a session that is not the login's (session_mismatch), a request
// number 0 (bad_request_number). The client's encoder never produces them (it sends
// only the kinds a client sends, each subscription once per connection, its session in
// every request, numbers from 1), so the link did; and the number such an error carries
// is as unverified as bad_checksum's, so session_mismatch's may name another request.
// With checked frames the server verified the frame first: these are the client's own
// doing, a protocol error. unknown_operation is not here: an application may send an
// undefined operation, and the call it names fails alone.
func uncheckedDamage(code wire.ErrorCode) bool {
	switch code {
	case wire.ErrorUnexpectedFrame, wire.ErrorSessionMismatch, wire.ErrorBadRequestNumber:
		return true
	}
	return false
}

// damageRefused counts a refusal of a damaged frame (damagedFrame) on connection
// generation (if not replaced yet) among those in a row (no reply in between, and no
// connection that lived damageForgottenAfter: damageForgotten), which
// space the reconnects out (waitAfterDamage): frames damaged again and again on every
// connection (a broken link, or a client fault that corrupts its own frames) would
// otherwise have the client reconnect and resend as fast as the server refuses. Counted
// even once the connection is dropped (conn nil): the writer of a pipelining client may
// meet the socket the server closed (EPIPE) before the reader handles the error frame it
// read. It returns the count (0 for a replaced connection's refusal).
func (c *Client) damageRefused(generation uint64) (refusals int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.generation != generation {
		return 0
	}
	c.refusedAsDamaged++
	c.damagedLoss = true
	return c.refusedAsDamaged
}

// damageForgotten resets the count of frames refused as damaged in a row
// (refusedAsDamaged) once connection generation, if still current, has carried the
// server's frames, verified, for damageForgottenAfter since its login without an error.
// A reply resets the count at once (complete: a frame of the client's got through); a
// client that only receives (reports, market data, heartbeats: no calls, no replies)
// would otherwise add up damage spread over hours, its back-off growing to
// ReconnectDelayMax, and stop at damageRefusalsMax. The server's frames do not show
// that the client's get through (the refusal of a damaged one may be on its way behind
// them): what resets the count is the connection's age. A frame refused each time it
// is resent, or a link that damages every connection, is refused within a round trip
// of the login, usually long before; so the reconnects after it still back off and stop
// at the bound, even when answers to other frames (a resubscription's subscribed,
// reports) arrive before each refusal. A request resent at the login and still
// unanswered then keeps the count (copiesUnansweredLocked): its refusal may just be late.
func (c *Client) damageForgotten(generation uint64) {
	c.mu.Lock()
	if c.generation == generation && !c.copiesUnansweredLocked() {
		c.refusedAsDamaged = 0
	}
	c.mu.Unlock()
}

// copiesUnansweredLocked reports whether a pending call has a copy queued or written on
// the current connection that it has not answered (unanswered). damageForgotten does
// not forget damage then: the server has not yet answered every request install resent
// at the login, one of which may be the frame it refuses each time, refused late (a
// loaded server, a round trip above damageForgottenAfter); the replies reset the count
// once they come. Called with mu held, once per connection (damageForgotten).
func (c *Client) copiesUnansweredLocked() bool {
	for _, call := range c.pending {
		if call.unanswered > 0 {
			return true
		}
	}
	return false
}

// damageForgottenAfter is how long a connection carries the server's frames, with none
// refused, before damage in a row is forgotten (damageForgotten): the longest wait of the
// back-off after damage, so a link that damages a frame on every connection after it has
// lived that long is reconnected to no more often than the capped back-off allows. The
// server sends a heartbeat after a second without sending (PROTOCOL.md section 4), so a
// healthy connection with nothing else to carry still has a frame to count.
const damageForgottenAfter = ReconnectDelayMax

// damageRefusalsError is the error that stops the client after refusals frames (logins
// included) in a row refused as damaged, the last with refused.
func damageRefusalsError(refusals int, refused *ServerError) error {
	return fmt.Errorf("client: %d frames in a row refused as damaged, no reply between "+
		"(the link, or this client, corrupts frames): %w", refusals, refused)
}

// damageRefusalsMax bounds the frames refused as damaged in a row (damageRefused),
// after which the client stops (failFatal): about 9 s of reconnects spaced out by
// waitAfterDamage. Damage in passing is answered by the next connection; sixteen in a row
// is a link or a client that corrupts every frame, or one frame the server refuses each
// time it is resent.
const damageRefusalsMax = 16

// waitAfterDamage delays the reconnect that follows the second and later refusal of a
// damaged frame (bad_checksum, or a header's: damagedFrame) in a row (no reply in
// between: damageRefused), doubling from ReconnectDelayMin up to
// ReconnectDelayMax as failed reconnects do; a first one reconnects at once (damage in
// passing). A connection lost for another reason (closed by the server, a failover)
// reconnects at once, whatever the count (damagedLoss), as in waitBeforeFollowing. It
// reports false when the client is closed while waiting.
func (c *Client) waitAfterDamage() bool {
	c.mu.Lock()
	refusals, damaged := c.refusedAsDamaged, c.damagedLoss
	c.damagedLoss = false
	c.mu.Unlock()
	if !damaged {
		return true
	}
	return c.backOffAfterRepeats(refusals, ReconnectDelayMin, ReconnectDelayMax,
		"client: frames refused as damaged again, waiting before reconnecting", "refusals")
}

// sessionFatal reports error codes that end the session whatever request caused them.
func sessionFatal(code wire.ErrorCode) bool {
	switch code {
	case wire.ErrorLoginUnknownKey, wire.ErrorLoginBadSignature, wire.ErrorLoginNonceUsed,
		wire.ErrorLoginBadOptions, wire.ErrorKeyRevoked, wire.ErrorConnectionRefused:
		return true
	}
	return false
}

// failCall fails the pending request a protocol error names (so that it is not resent
// into the same error) and reports whether there was one. The error refuses the copy it
// answers; for a write an earlier copy of which may have been applied (a resend refused
// unexpected_frame, say) the call fails with an *OutcomeUnknownError
// wrapping it (endedErrorLocked).
func (c *Client) failCall(number uint64, err error) bool {
	c.mu.Lock()
	call := c.pending[number]
	if call != nil {
		err = c.endedErrorLocked(call, err, 1)
		delete(c.pending, number)
		c.leftPendingLocked()
	}
	c.mu.Unlock()
	if call == nil {
		return false
	}
	if call.abandoned {
		call.release() // Its callers were answered already.
	}
	call.fail(err)
	return true
}

// complete matches a reply to its pending call. busy, log_unavailable and
// outcome_unknown are resent (same number) after a backoff unless retries are off and no
// earlier copy may have been applied (see resentStatus); not_primary switches to the
// named primary and resends.
func (c *Client) complete(frame *wire.Frame, generation uint64) {
	status := model.Status(frame.Status)
	c.mu.Lock()
	if generation == c.generation {
		c.refusedAsDamaged = 0 // A frame of ours got through intact (waitAfterDamage).
	}
	call := c.pending[frame.Number]
	if call == nil {
		if len(c.departed) != 0 && generation == c.generation && c.conn != nil {
			c.departedAnsweredLocked(frame.Number) // It will not be applied late (window.go).
		}
		c.mu.Unlock()
		return // Abandoned, or a second answer to a resent request.
	}
	if generation == c.generation && c.conn != nil && call.unanswered > 0 {
		call.unanswered-- // A copy of an ended connection was counted as lost instead.
	}
	c.lastAnsweredLone = call.lone
	if status == model.StatusOutcomeUnknown {
		call.answeredUnknown = true
	}
	if c.dialedFollowed && generation == c.generation &&
		(status == model.StatusOK || resentStatus(status)) && call.write() {
		// The node took a write (only a primary does): a not_primary from it now naming
		// the dialed address is news, the name perhaps moved (namesConnectedLocked).
		c.dialedFollowed = false
	}
	switch {
	case resentStatus(status) && (c.config.BusyRetryDelay > 0 || call.outcomeUnknownLocked()):
		// With retries off (a negative BusyRetryDelay) busy and log_unavailable go to the
		// caller only for a request no earlier copy of which may have been applied: for
		// one whose outcome is unknown they say nothing of that copy (they refuse this
		// one before its number is looked up), and outcome_unknown says nothing either.
		c.redirects = 0 // Only a primary answers these: the redirects led somewhere.
		c.resendOrDropLocked(call, generation, status)
		return
	case status == model.StatusNotPrimary && generation != c.generation:
		// From a connection already replaced: install resent the request on the current
		// one, whose answer is the call's (this one may name the node now connected).
		c.mu.Unlock()
		return
	case call.splittable(status) && !c.closed:
		// A merged request refused for its events, none of it applied: each caller's
		// events go again in a request of their own (coalesce.go, splitLocked).
		c.redirects = 0
		c.splitLocked(call)
		c.mu.Unlock()
		call.succeed(Reply{Operation: frame.Operation, Number: frame.Number, Status: status})
		return
	case call.write() && call.mayApplyLateLocked() && (status == model.StatusShuttingDown ||
		status == model.StatusRateLimited ||
		status == model.StatusNotPrimary && (len(frame.Body) == 0 ||
			c.namesConnectedLocked(string(frame.Body)))):
		// A resend of a request whose outcome is unknown (outcome_unknown, busy after a
		// lost reply, or a copy left unanswered by an ended connection) refused without
		// being queued: by a server stopping (draining), by the client's rate limit
		// (checked before the number is looked up; a reconnect's resends come in a
		// burst), or by a node fenced before it learned the new primary (a lease that ran
		// out), or naming as the primary the node already connected to (a node naming
		// itself, or a proxy's address: no redirect to follow; namesConnectedLocked).
		// That says nothing of an earlier attempt, which may be in that server's log
		// (applied at its restart) or on the new primary: resent until a not_primary
		// names another node, the connection ends (then after the reconnect) or a
		// definite reply comes. A read is recorded nowhere: no earlier copy of it can be
		// applied, so its refusal is its outcome, after a busy as without one (resent, it
		// looped on a draining server until its caller left).
		c.resendOrDropLocked(call, generation, status)
		return
	case status == model.StatusNotPrimary && len(frame.Body) > 0 &&
		!c.namesConnectedLocked(string(frame.Body)):
		c.primary = string(frame.Body)
		if c.generation == generation && c.conn != nil {
			// One redirect per connection it ends: pipelined requests all come back
			// not_primary from the same node, and the reader still handles the replies
			// it has decoded after this one closed the connection.
			c.redirects++
			c.redirectedLoss = true
			c.lostLocked(generation, fmt.Errorf("client: not primary, following %s", c.primary))
		}
		c.mu.Unlock()
		return
	}
	c.redirects = 0
	// Any other refusal of a resend of a write whose earlier copy may have been applied
	// says nothing of that copy, and resending does not cure it: permission_denied is
	// checked before the number is looked up (PROTOCOL.md §6; the client's permissions
	// changed meanwhile), internal_error is a fault on this attempt, request_too_old says
	// the server no longer knows the number (§7), request_number_reused that another
	// request holds it; even a shape refusal (invalid_body, ...) comes from the server now
	// answering, which need not check as the one that took the earlier copy did. The
	// caller is told the outcome is unknown, never that the write was refused, by the one
	// error type it checks for that (errors.As).
	unknown := status != model.StatusOK && call.outcomeUnknownLocked()
	c.leavePendingLocked(call) // frame.Number is call's.
	if call.abandoned {
		c.mu.Unlock()
		call.release() // Its callers were answered already (frame left to the collector).
		return
	}
	c.recycleFrameLocked(call) // The one point where a frame is reused (frames.go).
	c.keepPartsLocked(call)
	if c.rejoinTimer != nil && call.holdsOpen.Load() {
		// Read by the next merged request's admission, which counts the callers back
		// and waits at most RejoinWait from now (rejoin on: rejoinTimer).
		c.rejoinReleased, c.rejoinArrived = call.waiters, 0
		if call.waiters >= rejoinCallersMin {
			c.rejoinAnsweredAt = c.now()
		}
	}
	c.mu.Unlock()
	if unknown {
		call.fail(&OutcomeUnknownError{Operation: call.Operation, Number: call.Number,
			Status: status})
		return
	}
	call.succeedCopying(Reply{Operation: frame.Operation, Number: frame.Number, Status: status,
		Op: frame.Aux, Duplicate: frame.Flags&wire.ReplyFlagDuplicate != 0}, frame.Body)
}

// resentStatus reports whether a reply with this status is resent with the same number
// rather than returned: busy and log_unavailable (nothing was applied: later, it may be),
// and outcome_unknown (the server cannot say whether it was applied: a resend is answered
// from its exactly-once cache if it was, applied once if not). A resend answered
// log_unavailable after outcome_unknown is resent again, so a caller never mistakes an
// unknown outcome for "not applied"; the call ends with a definite reply or with its
// context (outcome unknown, as for any abandoned call).
func resentStatus(status model.Status) bool {
	switch status {
	case model.StatusBusy, model.StatusLogUnavailable, model.StatusOutcomeUnknown:
		return true
	}
	return false
}

// namesConnectedLocked reports whether address, from a not_primary, names the node the
// client is connected to: it is the connection's remote address (the IP and port), or
// the address dialed for it when that was to follow a not_primary naming it and the
// node has taken no write since (dialedFollowed). A node may name itself otherwise than
// the client reached it (localhost:7400 for 127.0.0.1:7400, a host name for its IP),
// and the client does not resolve names to compare them (a lookup under mu, on the
// reader): it follows such a redirect once, to the name, and the node then names the
// address it was just dialed by. Without the second comparison it would be followed back
// to itself again and again, with back-off, until the callers gave up. But a name may
// also follow the primary (a floating DNS name, a service in front of the current
// primary): the old primary, reached by that name before a failover, names it after,
// and the name now reaches another node. So a dialed name counts only when the client
// dialed it on being told it and has seen no write taken since: otherwise the redirect
// is followed (a new connection resolves the name afresh), once more at worst for a
// node naming itself. Called with mu held.
func (c *Client) namesConnectedLocked(address string) bool {
	return c.conn != nil && (address == c.conn.RemoteAddr().String() ||
		c.dialedFollowed && address == c.dialed)
}

// doubling is the wait before retry number step (from 0) of an exponential back-off:
// first, doubled per step, never above limit.
func doubling(first, limit time.Duration, step int) time.Duration {
	return min(first<<min(step, 16), limit)
}

// resendOrDropLocked resends a call the server refused, on connection generation, with a
// status it is resent after (retryLocked); or, when its callers have all left and no copy of it is on its way any
// more (abandonPendingLocked), drops it: nobody waits for its outcome, and a resend
// would only hold a window slot and load a server that is refusing. Called with mu
// held; returns with it released.
//
// A call a copy of which was lost with a connection is resent until a definite reply
// even then (PROTOCOL.md §7: the server may still hold that copy in its queue, and the
// definite reply says it will not be applied after later requests), except after
// rate_limited: that refusal depends on the request's own size, and one of more events
// than the client's events_per_second gets it at every attempt, so resending it for no
// caller held its window slot and, as the oldest pending number, the exactly-once window
// for good (TestLostMergedRequestAboveTheBurstIsNotResentForEver). The lost copy may
// still be applied, after requests numbered since: it leaves as a stray too (strayLocked,
// window.go), counted in the window for every pending request numbered above it until
// none may be applied before it. It leaves as a late reply (leavePendingLocked), as one
// refused busy does.
func (c *Client) resendOrDropLocked(call *Call, generation uint64, status model.Status) {
	call.busyRetries++ // Counted before the check: this refusal makes a dropped call late.
	// Refused, it is no longer on its way: the next merged request may go (coalesce.go).
	call.releaseOpenSlot()
	if !call.abandoned || call.unanswered > 0 ||
		call.lostCopy && status != model.StatusRateLimited {
		c.retryLocked(call, generation)
		c.mu.Unlock()
		return
	}
	if call.lostCopy {
		c.strayLocked(call) // Given up after rate_limited: its lost copy may come later.
	}
	c.leavePendingLocked(call) // Late: busyRetries counts this refusal.
	c.mu.Unlock()
	call.release() // Its callers were answered already (frame left to the collector).
}

// retryDelay is the wait before the resend that follows the retries-th refusal (from 1).
// With busy retries off (a negative BusyRetryDelay) some refusals are still resent (an
// unknown outcome must not be reported as refused): they back off from the default delay,
// where the negative setting would resend at once, again and again, against a server that
// is refusing.
func (c *Client) retryDelay(retries int) time.Duration {
	first := c.config.BusyRetryDelay
	if first <= 0 {
		first = BusyRetryDelayDefault
	}
	return doubling(first, busyRetryDelayMax, retries-1)
}

// retryLocked resends a call (see resentStatus), refused on connection generation, after
// an exponential backoff, keeping its number (resendAfterBackoff). busyRetries counts
// this refusal already (resendOrDropLocked).
func (c *Client) retryLocked(call *Call, generation uint64) {
	time.AfterFunc(c.retryDelay(call.busyRetries), func() {
		c.resendAfterBackoff(call, generation)
	})
}

// resendAfterBackoff queues call again once its backoff after a refusal on connection
// generation is over, unless it has left the pending set, the client is closed, or a
// later connection has been installed since: install resent every pending call, this
// one with them, and another copy would only cost the server a duplicate to answer (or,
// for a call abandoned meanwhile, hold its window slot until that copy is answered).
func (c *Client) resendAfterBackoff(call *Call, generation uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending[call.Number] != call || c.closed || c.generation != generation {
		return
	}
	c.queueLocked(call, call.frame)
	c.writeLocked()
}
