package client

import (
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestUnknownOutcomeThenRateLimitedIsResent: a write whose outcome is unknown (its
// reply lost with a connection, or answered outcome_unknown) is resent with its number;
// the server checks a client's rate before it looks the number up (PROTOCOL.md §6: the
// order of the checks), so a resend answered rate_limited says only that
// this attempt was not queued, nothing of the earlier one, which may have been applied.
// A reconnect resends every pending request at once, the burst a rate limit refuses.
// The call must stay pending and be resent (PROTOCOL.md §7: never report it as
// refused), as after shutting_down or an empty not_primary, not handed to its caller as
// a refusal.
func TestUnknownOutcomeThenRateLimitedIsResent(t *testing.T) {
	for _, unknown := range []string{"lost", "outcome_unknown"} {
		t.Run(unknown, func(t *testing.T) {
			first, firstPeer := net.Pipe()
			second, secondPeer := net.Pipe()
			for _, end := range []net.Conn{first, firstPeer, second, secondPeer} {
				defer end.Close()
			}
			c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
				lost: make(chan struct{}, 1), stop: make(chan struct{}), conn: first,
				generation: 1,
				config:     Config{BusyRetryDelay: time.Hour}} // The resends never fire here.
			call := &Call{Operation: model.OperationCreateTransfers, Number: 1,
				complete: make(chan struct{}), client: c, frame: []byte("request 1")}
			c.mu.Lock()
			c.pending[1] = call
			c.queueLocked(call, call.frame)
			c.outbox = c.outbox[:0] // A writer took it.
			c.mu.Unlock()
			if unknown == "lost" {
				c.mu.Lock()
				c.lostLocked(1, errors.New("connection ended")) // The reply is lost.
				c.conn, c.generation = second, 2                // Reconnected.
				c.queueLocked(call, call.frame)                 // install resent it.
				c.outbox = c.outbox[:0]
				c.mu.Unlock()
			} else {
				c.complete(&wire.Frame{Kind: wire.KindReply, Number: 1,
					Status: uint32(model.StatusOutcomeUnknown)}, c.generation)
			}
			c.complete(&wire.Frame{Kind: wire.KindReply, Number: 1,
				Status: uint32(model.StatusRateLimited)}, c.generation)
			select {
			case <-call.complete:
				t.Errorf("a write of unknown outcome was handed to its caller as %s",
					call.Reply.Status)
			default:
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.pending[1] != call {
				t.Error("the write of unknown outcome left the pending set: never resent")
			}
			c.closed = true // The scheduled resends, were they to fire, do nothing.
		})
	}
}
