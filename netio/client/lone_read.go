package client

import (
	"context"
	"errors"
	"net"
	"os"
	"time"

	"sequent/netio/wire"
)

// A caller waiting for the only pending request reads the connection itself (a leader
// and its follower): the netpoller then readies the caller when the reply arrives,
// instead of readying the connection's reader goroutine, which readied the caller in turn.
// That second hand-off cost ~16 µs p50 per request on the 2-vCPU machine: the runtime,
// readying a goroutine while Ps are idle, wakes an idle thread with a futex first
// (bench/PERFORMANCE.md, session 52, client52).
//
// The reader goroutine lends the connection only between requests: when it has handled
// every frame it read, nothing is pending, nothing else arrives unasked (no report or
// market-data subscription, no handler running, no copy of a departed write unanswered),
// and the last reply it handled was a lone waiter's (DoInto, Do): a client used through Go
// never lends, so its reader is never woken just to read. It then parks on its
// connection's readBack channel, the role free. A caller in DoInto or Do whose request is
// then the only pending one takes the role, reads and handles frames until its own call
// completes, and leaves the role free again, or gives it back to the reader goroutine when
// anything else is pending or buffered. Every other write, a lost or closing connection,
// and the heartbeat's ticker (when nothing was read for a heartbeat interval, so the
// server's heartbeats are read and the silence timeout does not fire) give the role back
// to the reader goroutine first.

// readRole says who reads the current connection. Guarded by the client's mu.
type readRole uint8

const (
	roleReader readRole = iota // The connection's reader goroutine (the default).
	roleFree                   // Nobody: the reader waits on readBack (lend).
	roleCaller                 // A lone waiter (readOwnReply).
)

// errHandedOver ends a caller's read at a frame only the reader goroutine handles (a
// report, say): the frame is left in heldFrame for it.
var errHandedOver = errors.New("client: frame handed to the reader")

// longAgo is a read deadline already past: it ends a caller's blocked read at once.
var longAgo = time.Unix(1, 0)

// lendableLocked reports whether the connection of generation may be left unread
// between requests (above). Called with mu held.
func (c *Client) lendableLocked(generation uint64, decoder *wire.Decoder) bool {
	return c.lastAnsweredLone && generation == c.generation && c.conn != nil && !c.closed &&
		len(c.pending) == 0 && len(c.departed) == 0 && c.handlers == 0 && !c.holding &&
		c.subscription == nil && len(c.shardSubscriptions) == 0 && c.shardProbe == nil &&
		len(c.shardDeferred) == 0 && c.marketData == nil && decoder.Buffered() == 0
}

// wakeReaderLocked gives a free role back to the reader goroutine. Called with mu held.
func (c *Client) wakeReaderLocked() {
	if c.readRole != roleFree {
		return
	}
	c.readRole = roleReader
	select {
	case c.readBack <- struct{}{}:
	default:
	}
}

// lend leaves the connection to lone waiters when it may (lendableLocked), and returns
// once the role is back (true), or at once (false) when it may not. back is the
// connection's own readBack.
func (c *Client) lend(generation uint64, decoder *wire.Decoder, back chan struct{}) bool {
	if back == nil || !c.config.LoneReads {
		// A reader started without one (tests) never lends, nor one of a client without
		// lone reads: it reads on without taking mu, as before lone reads existed.
		return false
	}
	c.mu.Lock()
	if !c.lendableLocked(generation, decoder) {
		c.mu.Unlock()
		return false
	}
	c.readRole = roleFree
	c.mu.Unlock()
	for {
		<-back
		c.mu.Lock()
		returned := generation != c.generation || c.conn == nil || c.closed ||
			c.readRole == roleReader
		c.mu.Unlock()
		if returned {
			return true
		}
	}
}

// takeHeld returns the frame a caller's read of connection generation left for its
// reader goroutine, if any. A frame held for another connection is left: the reader of a
// replaced connection, woken late by its last caller, must not take (and drop, as an old
// generation's) a frame a caller of the new connection left for the new reader.
func (c *Client) takeHeld(generation uint64) (wire.Frame, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.holding || c.heldGeneration != generation {
		return wire.Frame{}, false
	}
	frame := c.heldFrame
	c.heldFrame, c.holding = wire.Frame{}, false
	return frame, true
}

// readOwnReply reads the connection on the caller's goroutine until call, a lone
// waiter's request, completes, when it is the only pending request and the role is free;
// else, or once ctx ends, it returns and the caller waits as any other (Wait).
func (c *Client) readOwnReply(ctx context.Context, call *Call) {
	c.mu.Lock()
	if c.readRole != roleFree || c.conn == nil || c.closed || len(c.pending) != 1 ||
		c.pending[call.Number] != call || call.finished.Load() {
		c.mu.Unlock()
		return
	}
	c.readRole = roleCaller
	c.callerReads++
	c.readers++ // shutdown waits for this read as for the reader's.
	conn, decoder, generation, back := c.conn, c.readDecoder, c.generation, c.readBack
	c.mu.Unlock()
	var stop func() bool
	var interrupted chan struct{}
	if ctx.Done() != nil {
		interrupted = make(chan struct{})
		stop = context.AfterFunc(ctx, func() {
			_ = conn.SetReadDeadline(longAgo)
			close(interrupted)
		})
	}
	err := c.readUntil(conn, decoder, generation, call)
	if stop != nil && !stop() {
		<-interrupted
		_ = conn.SetReadDeadline(time.Time{}) // The reader goroutine reads on.
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = nil // The context ended, not the connection.
		}
	}
	var failed error
	if err != nil && !errors.Is(err, errHandedOver) && !readError(err) {
		failed = err // A frame ended the connection (handle).
	}
	if failed != nil {
		c.readFailed(generation, failed)
	}
	c.mu.Lock()
	if generation == c.generation && c.readRole == roleCaller &&
		c.lendableLocked(generation, decoder) {
		c.readRole = roleFree
	} else {
		if generation == c.generation && c.readRole == roleCaller {
			c.readRole = roleReader
		}
		select { // The reader reads on, or meets the error, or leaves.
		case back <- struct{}{}:
		default:
		}
	}
	c.mu.Unlock()
	c.readerReturned()
}

// readTrouble marks the errors of the connection's read itself (readError); handle's
// errors are not.
type readTrouble struct{ err error }

func (r readTrouble) Error() string { return r.err.Error() }
func (r readTrouble) Unwrap() error { return r.err }

// readError reports whether err came from reading the connection: the reader goroutine,
// reading on, meets it again and ends the connection itself, once it has handled what it
// read before (read).
func readError(err error) bool {
	var trouble readTrouble
	return errors.As(err, &trouble)
}

// readUntil handles frames and reads conn until call completes (nil), a frame the reader
// goroutine must handle comes (errHandedOver), a frame ends the connection (handle's
// error), or the read fails (a readTrouble).
func (c *Client) readUntil(conn net.Conn, decoder *wire.Decoder, generation uint64,
	call *Call) error {
	for {
		for !call.finished.Load() {
			frame, ok, err := decoder.Next()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			switch frame.Kind {
			case wire.KindReply, wire.KindHeartbeat, wire.KindError, wire.KindLogout:
				if err := c.handle(&frame, generation); err != nil {
					return err
				}
			default:
				c.mu.Lock()
				c.heldFrame, c.heldGeneration, c.holding = frame, generation, true
				c.mu.Unlock()
				return errHandedOver
			}
		}
		if call.finished.Load() {
			return nil
		}
		if _, err := decoder.ReadFrom(conn); err != nil {
			return readTrouble{err}
		}
		c.lastRead.Store(time.Now().UnixNano())
	}
}
