package client

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestUnknownOutcomeThenEmptyNotPrimaryIsResent: a primary that fences itself (its
// witness lease ran out, or its log failed) answers the writes it had parked
// outcome_unknown; their resends on the same connection are answered not_primary with an
// empty body, since a self-fenced node does not know the new primary yet. That says
// nothing about the first attempt, which the standby may hold and, promoted, keeps
// (PROTOCOL.md §7: never report an unknown outcome as failed). The call must stay pending
// and be resent, until a not_primary names the new primary or a definite reply comes;
// handing the caller not_primary tells it "refused" for a write that may be applied.
func TestUnknownOutcomeThenEmptyNotPrimaryIsResent(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
		lost: make(chan struct{}, 1), stop: make(chan struct{}), conn: a, generation: 1,
		config: Config{BusyRetryDelay: time.Hour}} // The resend itself never fires here.
	call := &Call{Number: 1, complete: make(chan struct{})}
	c.pending[1] = call
	c.complete(&wire.Frame{Kind: wire.KindReply, Number: 1,
		Status: uint32(model.StatusOutcomeUnknown)}, 1) // The fence answers the parked write.
	c.complete(&wire.Frame{Kind: wire.KindReply, Number: 1,
		Status: uint32(model.StatusNotPrimary)}, 1) // Its resend: fenced, primary unknown.
	select {
	case <-call.complete:
		t.Fatalf("a write of unknown outcome was handed to its caller as %s", call.Reply.Status)
	default:
	}
	if c.pending[1] != call || call.busyRetries != 2 {
		t.Fatalf("call pending %v, resends scheduled %d; want pending and 2",
			c.pending[1] == call, call.busyRetries)
	}
	c.mu.Lock()
	c.closed = true // The scheduled resends, were they to fire, do nothing.
	c.mu.Unlock()
}
