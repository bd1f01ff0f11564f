package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// The wire driver (Config.Driver DriverWire): one goroutine per connection speaks the
// binary protocol itself (netio/PROTOCOL.md, encoded with netio/wire) instead of going
// through the Go client. It builds and settles requests with the worker's own code
// (worker.build, worker.settleSlot), so requests, results and latencies are counted
// into the same recorders as with the client driver. Per connection and burst: refill
// every free slot of the window into one buffer, one write; then one read of whatever
// replies arrived (up to the decoder's 64 KiB or more), each checked (checksum, kind,
// session, number, operation) and settled. Any connection loss (a server silent, or not
// reading, past the silence timeout counts as one), error frame, unexpected frame or
// damaged frame ends the run with an error: the driver never reconnects or
// resends, because it is a measuring instrument, not a client to build on.
//
// Differences with the client driver, all of them refusals the client resends and this
// driver counts: busy, log_unavailable and not_primary replies are counted under their
// status in request_statuses (nothing was applied; the client would resend them or
// follow the redirect); outcome_unknown is counted in unknown_outcomes and its
// transfers looked up at the end, as the client's OutcomeUnknownError is.

// Bounds of the wire driver.
const (
	// wireNumberWindow is the server's exactly-once window of request numbers
	// (PROTOCOL.md section 7: never give a new request a number 256 or more above one
	// still without a reply). The driver holds back a new request while its number would
	// be that far above the oldest one without a reply, and keeps the number → slot table
	// as a ring of this size (numbers without a reply span less than it).
	wireNumberWindow = 256
	// wireDialTimeout bounds the dial and login of one connection (as the client's
	// default DialTimeout).
	wireDialTimeout = 10 * time.Second
	// wireHeartbeatIntervalDefault is the heartbeat interval used when a challenge
	// announces 0 (the protocol's default is 1 s).
	wireHeartbeatIntervalDefault = time.Second
	// wireSilenceTimeoutDefault is the silence timeout used when a challenge announces 0
	// (the protocol's default is 15 s). Like the client, the driver never uses less than
	// wireSilenceHeartbeatsMin heartbeat intervals.
	wireSilenceTimeoutDefault = 15 * time.Second
	wireSilenceHeartbeatsMin  = 2
	// wireErrorTextBytesMax bounds the server's explanation quoted from an error frame.
	wireErrorTextBytesMax = wire.ErrorTextBytesMax
)

// Inflight must stay below the number window for a full window always to find a number.
const _ uint = wireNumberWindow - InflightMax - 1

// errWireAbandoned is the outcome of a request still without a reply at the drain
// deadline (or when another connection's failure ended the run).
var errWireAbandoned = errors.New("bench: wire driver: no reply by the drain deadline")

// wireConnection is one logged-in connection of the wire driver. Everything in it
// belongs to its worker's goroutine.
type wireConnection struct {
	index   int // Connection number (error messages).
	conn    net.Conn
	decoder wire.Decoder
	session uint64 // Chosen at random (PROTOCOL.md section 2), never 0.
	// heartbeat is a prebuilt heartbeat frame; heartbeatNs the interval after which one
	// is sent when nothing else was (the challenge's heartbeat_interval_ms).
	heartbeat   []byte
	heartbeatNs int64
	// silenceNs is how long the server may stay silent before the connection counts as
	// lost (the challenge's silence_timeout_ms; PROTOCOL.md section 4, heartbeat). The
	// loop notices silence only when its read deadline fires, so that reading costs no
	// clock: received says bytes arrived since the last time it fired; while it is false,
	// the last bytes arrived at or before quietSinceNs.
	silenceNs    int64
	received     bool
	quietSinceNs int64
	// writeDeadlineNs is the run time the write deadline is set to (0: none): between one
	// and two silence timeouts ahead of each write, so that a write that long unfinished
	// (a server that stopped reading) fails instead of blocking for ever, and re-set only
	// about once per silence timeout rather than per burst. runStart is run time 0.
	writeDeadlineNs int64
	runStart        time.Time

	next       uint64                  // The next request number (numbers start at 1).
	oldest     uint64                  // The oldest number possibly without a reply.
	numbers    [wireNumberWindow]int32 // number % window → slot + 1 (0: no request).
	outbox     []byte                  // The frames of one burst.
	sentNs     int64                   // Run time of the last write (heartbeats).
	armedNs    int64                   // Run time the read deadline is set to (0: none).
	lookupBody [16]byte                // Scratch: the barrier's lookup (one account id).
}

// dialWire opens and logs in one wire connection per Config.Connections.
func dialWire(ctx context.Context, config *Config) ([]*wireConnection, error) {
	connections := make([]*wireConnection, 0, config.Connections)
	for index := range config.Connections {
		c, err := dialWireConnection(ctx, config, index)
		if err != nil {
			closeWire(connections)
			return nil, fmt.Errorf("%w: wire driver: connection %d: %w", ErrUnreachable,
				index, err)
		}
		connections = append(connections, c)
	}
	return connections, nil
}

func closeWire(connections []*wireConnection) {
	for _, c := range connections {
		_ = c.conn.Close()
	}
}

// dialWireConnection tries the addresses in order and logs in on the first that
// answers.
func dialWireConnection(ctx context.Context, config *Config, index int) (*wireConnection,
	error) {
	var failures []error
	for _, address := range config.Addresses {
		c, err := loginWire(ctx, config, address)
		if err == nil {
			c.index = index
			return c, nil
		}
		failures = append(failures, fmt.Errorf("%s: %w", address, err))
	}
	return nil, errors.Join(failures...)
}

// loginWire connects and logs in as PROTOCOL.md section 5 says: read the challenge, sign
// nonce ‖ client ‖ key ‖ options ‖ session, send the login, expect login_accepted.
func loginWire(ctx context.Context, config *Config, address string) (*wireConnection,
	error) {
	ctx, cancel := context.WithTimeout(ctx, wireDialTimeout)
	defer cancel()
	dialer := net.Dialer{}
	conn, err := dialer.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	c := &wireConnection{conn: conn, next: 1, oldest: 1}
	for c.session == 0 {
		c.session = rand.Uint64()
	}
	if err := c.login(config); err != nil {
		_ = conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	bodyBytes := config.Events * model.TransferSize
	c.outbox = make([]byte, 0, config.Inflight*(wire.HeaderSize+bodyBytes))
	return c, nil
}

func (c *wireConnection) login(config *Config) error {
	frame, err := c.readFrame()
	if err != nil {
		return err
	}
	if frame.Kind != wire.KindChallenge {
		return c.unexpected(&frame, "a challenge")
	}
	var challenge wire.Challenge
	challenge.Decode(frame.Body)
	c.heartbeatNs = int64(time.Duration(challenge.HeartbeatIntervalMs) * time.Millisecond)
	if c.heartbeatNs <= 0 {
		c.heartbeatNs = int64(wireHeartbeatIntervalDefault)
	}
	c.silenceNs = int64(time.Duration(challenge.SilenceTimeoutMs) * time.Millisecond)
	if c.silenceNs <= 0 {
		c.silenceNs = int64(wireSilenceTimeoutDefault)
	}
	c.silenceNs = max(c.silenceNs, wireSilenceHeartbeatsMin*c.heartbeatNs)
	c.heartbeat = wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat,
		Session: c.session}, nil)
	login := wire.Login{Client: config.Client, Key: config.Key}
	login.Signature = wire.Sign(config.Secret, &challenge.Nonce, login.Client, login.Key,
		login.Options, c.session)
	body := make([]byte, wire.LoginSize)
	login.Encode(body)
	if _, err := c.conn.Write(wire.AppendFrame(nil,
		&wire.Frame{Kind: wire.KindLogin, Session: c.session}, body)); err != nil {
		return err
	}
	if frame, err = c.readFrame(); err != nil {
		return err
	}
	if frame.Kind != wire.KindLoginAccepted {
		return c.unexpected(&frame, "login_accepted")
	}
	return nil
}

// readFrame reads until one whole frame is buffered (the handshake and the barrier).
func (c *wireConnection) readFrame() (wire.Frame, error) {
	for {
		frame, ok, err := c.decoder.Next()
		if err != nil {
			return wire.Frame{}, err
		}
		if ok {
			return frame, nil
		}
		if _, err := c.decoder.ReadFrom(c.conn); err != nil {
			return wire.Frame{}, err
		}
	}
}

// unexpected describes a frame that the protocol does not allow here; an error frame
// is quoted (code, the request number it names, the server's explanation).
func (c *wireConnection) unexpected(frame *wire.Frame, want string) error {
	if frame.Kind == wire.KindError {
		text := frame.Body[:min(len(frame.Body), wireErrorTextBytesMax)]
		return fmt.Errorf("error frame %s (request %d): %q", wire.ErrorCode(frame.Status),
			frame.Number, text)
	}
	return fmt.Errorf("unexpected %s frame (number %d, status %d) where %s was due",
		frame.Kind, frame.Number, frame.Status, want)
}

// wireLoop is the worker's loop with the wire driver: send a burst, read replies,
// settle them, until the load stops and every reply is in (or the drain deadline
// passes). It returns the error that ended the run (nil: it ended normally).
func (w *worker) wireLoop(ctx context.Context) error {
	defer w.flushAccounted()
	c, r := w.wire, w.run
	// Interrupting the run wakes a blocked read (a read deadline in the past); the loop
	// checks ctx after each re-arm, so an interrupt between the two is not lost, and a
	// read woken by it is a timeout like any other. Writes are not interrupted: they
	// block only while the server does not read, which the server bounds.
	interrupted := false
	stopInterrupt := context.AfterFunc(ctx, func() {
		_ = c.conn.SetReadDeadline(time.Unix(1, 0))
	})
	defer stopInterrupt()
	var drainEndNs int64 // Run time the drain ends, once sending has stopped.
	c.quietSinceNs = r.since()
	c.runStart = r.start
	for {
		if !w.stopped && !interrupted {
			if err := w.sendBurst(); err != nil {
				return w.wireFailed(err)
			}
		}
		if w.stopped && drainEndNs == 0 {
			drainEndNs = r.since() + int64(r.config.DrainTimeout)
		}
		if w.stopped && w.outstanding == 0 {
			return nil
		}
		if err := c.arm(w, drainEndNs); err != nil {
			return w.wireFailed(err)
		}
		if ctx.Err() != nil && !interrupted {
			// Stop sending; the replies still come (drained up to the drain deadline).
			interrupted = true
			w.stop(false)
			c.armedNs = 0 // The interrupt moved the deadline: re-arm.
			continue
		}
		read, readErr := c.decoder.ReadFrom(c.conn)
		if read > 0 {
			c.received = true
		}
		if err := w.settleReplies(); err != nil {
			return w.wireFailed(err)
		}
		switch {
		case readErr == nil:
		case errors.Is(readErr, os.ErrDeadlineExceeded):
			c.armedNs = 0
			now := r.since()
			if err := c.checkSilence(now); err != nil {
				return w.wireFailed(err)
			}
			if w.stopped && now >= drainEndNs {
				w.abandonWire()
				return nil
			}
			if !w.stopped && now >= r.endNs {
				w.stop(false)
			}
			if now-c.sentNs >= c.heartbeatNs {
				if err := c.write(c.heartbeat, now); err != nil {
					return w.wireFailed(err)
				}
			}
		default:
			return w.wireFailed(fmt.Errorf("read: %w", readErr))
		}
	}
}

// checkSilence ends the connection when nothing was received for the silence timeout
// (never sooner: the last bytes arrived at or before quietSinceNs). It runs each time
// the read deadline fires, which an idle connection's heartbeats make at least once per
// heartbeat interval, so a silence is noticed within about the timeout and two
// intervals.
func (c *wireConnection) checkSilence(nowNs int64) error {
	if c.received {
		c.received = false
		c.quietSinceNs = nowNs
		return nil
	}
	if nowNs-c.quietSinceNs >= c.silenceNs {
		return fmt.Errorf("server silent for at least %s (silence timeout %s): connection lost",
			time.Duration(nowNs-c.quietSinceNs), time.Duration(c.silenceNs))
	}
	return nil
}

// arm sets the read deadline to the next moment the loop must wake without a reply:
// the end of the load or of the drain, or the next heartbeat. It sets it only when it
// is not set already (a system call and a timer update per read would cost the
// generator CPU for nothing): the deadline is reset after it fires.
func (c *wireConnection) arm(w *worker, drainEndNs int64) error {
	if c.armedNs != 0 {
		return nil
	}
	r := w.run
	wake := c.sentNs + c.heartbeatNs
	if w.stopped {
		wake = min(wake, drainEndNs)
	} else {
		wake = min(wake, r.endNs)
	}
	c.armedNs = max(wake, 1)
	return c.conn.SetReadDeadline(r.start.Add(time.Duration(c.armedNs)))
}

// sendBurst fills every free slot of the window (as the run allows) and writes the
// requests in one write.
func (w *worker) sendBurst() error {
	c, r := w.wire, w.run
	c.outbox = c.outbox[:0]
	// One clock read for the burst: its requests leave together, in the one write below.
	now := r.since()
	for !w.stopped && w.outstanding < len(w.slots) && c.next-c.oldest < wireNumberWindow {
		if now >= r.endNs {
			w.stop(false)
			break
		}
		measured := now >= r.warmupEndNs
		if measured && !r.claim() {
			w.stop(false)
			break
		}
		w.sendWire(now, measured)
	}
	if len(c.outbox) == 0 {
		return nil
	}
	return c.write(c.outbox, now)
}

// sendWire builds the next request into a free slot and appends its frame to the burst.
func (w *worker) sendWire(nowNs int64, measured bool) {
	c := w.wire
	index, s, operation, body := w.take(measured)
	s.intendedNs = nowNs
	start := len(c.outbox)
	c.outbox = append(c.outbox, make([]byte, wire.HeaderSize)...)
	c.outbox = append(c.outbox, body...)
	wire.PutFrame(c.outbox[start:], &wire.Frame{Kind: wire.KindRequest,
		Operation: operation, Session: c.session, Number: c.next}, len(body))
	c.numbers[c.next%wireNumberWindow] = index + 1
	c.next++
	w.outstanding++
}

// write writes b whole (one system call for a burst that fits the socket buffer), or
// fails once it has taken between one and two silence timeouts.
func (c *wireConnection) write(b []byte, nowNs int64) error {
	if c.writeDeadlineNs-nowNs < c.silenceNs {
		c.writeDeadlineNs = nowNs + 2*c.silenceNs
		if err := c.conn.SetWriteDeadline(c.runStart.Add(
			time.Duration(c.writeDeadlineNs))); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	if _, err := c.conn.Write(b); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("write: unfinished after at least the silence timeout %s "+
				"(the server reads nothing, or far too slowly): connection lost: %w",
				time.Duration(c.silenceNs), err)
		}
		return fmt.Errorf("write: %w", err)
	}
	c.sentNs = nowNs
	return nil
}

// settleReplies settles every whole frame buffered. Only replies to requests without
// a reply and heartbeats may arrive; anything else ends the run. The clock is read once
// and the recorder locked once for all of them: they arrived together, by the read that
// just returned.
func (w *worker) settleReplies() error {
	c := w.wire
	if c.decoder.Buffered() < wire.HeaderSize {
		return nil
	}
	nowNs := w.run.since()
	w.recorder.mu.Lock()
	defer w.recorder.mu.Unlock()
	for {
		frame, ok, err := c.decoder.Next()
		if err != nil {
			return fmt.Errorf("damaged frame from the server: %w", err)
		}
		if !ok {
			return nil
		}
		switch frame.Kind {
		case wire.KindHeartbeat:
			continue
		case wire.KindReply:
		default:
			return c.unexpected(&frame, "a reply")
		}
		index, err := c.take(&frame)
		if err != nil {
			return err
		}
		if frame.Operation != model.OperationCreateTransfers {
			return fmt.Errorf("reply to request %d names operation %s, not %s",
				frame.Number, frame.Operation, model.OperationCreateTransfers)
		}
		status := model.Status(frame.Status)
		if status == model.StatusOutcomeUnknown {
			// May be applied: looked up at the end, as the client's OutcomeUnknownError.
			w.settleSlotLocked(index, outcome{err: fmt.Errorf("bench: wire driver: "+
				"request %d: %s", frame.Number, status), status: status}, nowNs)
			continue
		}
		w.settleSlotLocked(index, outcome{status: status, body: frame.Body, op: frame.Aux},
			nowNs)
	}
}

// take checks a reply's header against the request it answers and returns that
// request's slot, forgetting its number.
func (c *wireConnection) take(frame *wire.Frame) (int32, error) {
	n := frame.Number
	if frame.Session != c.session {
		return 0, fmt.Errorf("reply to request %d carries session %d, not %d", n,
			frame.Session, c.session)
	}
	if n < c.oldest || n >= c.next || c.numbers[n%wireNumberWindow] == 0 {
		return 0, fmt.Errorf("reply to request %d, which is not waiting for one", n)
	}
	if frame.Flags&wire.ReplyFlagDuplicate != 0 {
		return 0, fmt.Errorf("reply to request %d flagged duplicate, but it was sent once", n)
	}
	index := c.numbers[n%wireNumberWindow] - 1
	c.numbers[n%wireNumberWindow] = 0
	for c.oldest < c.next && c.numbers[c.oldest%wireNumberWindow] == 0 {
		c.oldest++
	}
	return index, nil
}

// abandonWire gives up on every request still without a reply: each fails without a
// reply and its transfers are looked up at the end (after the barrier).
func (w *worker) abandonWire() {
	c := w.wire
	for n := c.oldest; n < c.next; n++ {
		if slot := c.numbers[n%wireNumberWindow]; slot != 0 {
			c.numbers[n%wireNumberWindow] = 0
			w.settleSlot(slot-1, outcome{err: errWireAbandoned})
		}
	}
	c.oldest = c.next
}

// wireFailed ends the worker's load on a fatal error: its requests without a reply are
// abandoned (their transfers looked up, should the run go on to its check) and the
// error is returned, naming the connection.
func (w *worker) wireFailed(err error) error {
	w.stop(false)
	w.abandonWire()
	return fmt.Errorf("bench: wire driver: connection %d: %w", w.wire.index, err)
}

// barrier sends one lookup on the connection for each account (one on each shard) and
// waits for their replies: the server handles the requests a connection hands whole to
// a shard in order, so every request of unknown outcome that reached it has been applied
// by then (see run.barrier). Late replies to abandoned requests are skipped.
func (c *wireConnection) barrier(ctx context.Context, accounts []model.Uint128) error {
	deadline, _ := ctx.Deadline()
	if err := c.conn.SetDeadline(deadline); err != nil {
		return err
	}
	first := c.next
	for _, account := range accounts {
		account.PutLE(c.lookupBody[:])
		frame := wire.AppendFrame(c.outbox[:0], &wire.Frame{Kind: wire.KindRequest,
			Operation: model.OperationLookupAccounts, Session: c.session, Number: c.next},
			c.lookupBody[:])
		c.next++
		if _, err := c.conn.Write(frame); err != nil {
			return err
		}
	}
	// On several shards the replies may come in any order: count them.
	for waiting := len(accounts); waiting > 0; {
		reply, err := c.readFrame()
		if err != nil {
			return err
		}
		switch {
		case reply.Kind == wire.KindHeartbeat:
		case reply.Kind == wire.KindReply && reply.Number >= first && reply.Number < c.next:
			waiting--
		case reply.Kind == wire.KindReply && reply.Number < first:
		default:
			return c.unexpected(&reply, "the barrier's reply")
		}
	}
	return nil
}
