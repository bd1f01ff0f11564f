package client

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// TestPipelinedRedirectCountsOnce: a standby answers not_primary to three pipelined
// requests of one connection (a server answers a batch in one write, and the reader
// handles every frame it decoded even after the first closed the connection). That is
// one redirect: counting three would make the very first follow wait.
func TestPipelinedRedirectCountsOnce(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
		lost: make(chan struct{}, 1), stop: make(chan struct{}), conn: a, generation: 1}
	for number := uint64(1); number <= 3; number++ {
		c.pending[number] = &Call{Number: number, complete: make(chan struct{})}
	}
	for number := uint64(1); number <= 3; number++ {
		c.complete(&wire.Frame{Kind: wire.KindReply, Number: number,
			Status: uint32(model.StatusNotPrimary), Body: []byte("10.0.0.2:7400")}, 1)
	}
	if c.redirects != 1 || !c.redirectedLoss {
		t.Fatalf("one redirect counted as %d (connection ended by it: %v)", c.redirects,
			c.redirectedLoss)
	}
	if len(c.pending) != 3 {
		t.Fatalf("%d calls pending, want all 3 kept for the resend", len(c.pending))
	}
}

// TestUnknownOutcomesAreResent: outcome_unknown (the server's log failed after the
// request was sequenced) and log_unavailable (not applied) are not answers to hand the
// caller: the call stays pending, to be resent with its number (exactly-once makes the
// resend safe), as busy is. Returning outcome_unknown would leave the caller guessing;
// returning log_unavailable after it would wrongly say "not applied".
func TestUnknownOutcomesAreResent(t *testing.T) {
	for _, status := range []model.Status{model.StatusOutcomeUnknown, model.StatusLogUnavailable,
		model.StatusBusy} {
		a, b := net.Pipe()
		c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
			lost: make(chan struct{}, 1), stop: make(chan struct{}), conn: a, generation: 1,
			config: Config{BusyRetryDelay: time.Hour}} // The resend itself never fires here.
		call := &Call{Number: 1, complete: make(chan struct{})}
		c.pending[1] = call
		c.complete(&wire.Frame{Kind: wire.KindReply, Number: 1, Status: uint32(status)}, 1)
		select {
		case <-call.complete:
			t.Fatalf("%s was returned to the caller instead of resent", status)
		default:
		}
		if c.pending[1] != call || call.busyRetries != 1 {
			t.Fatalf("%s: call pending %v, resends scheduled %d; want pending and 1", status,
				c.pending[1] == call, call.busyRetries)
		}
		c.mu.Lock()
		c.closed = true // The scheduled resend, were it to fire, does nothing.
		c.mu.Unlock()
		a.Close()
		b.Close()
	}
}

// addressConn is a connection to a fixed remote address (nothing is read or written).
type addressConn struct {
	recordingConn
	remote string
}

func (a *addressConn) RemoteAddr() net.Addr { return fakeAddr(a.remote) }

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

// TestStaleNotPrimaryAfterFailoverKeepsCall: a standby answers not_primary, naming the
// primary, to two pipelined requests. The first reply ends the connection; the client
// reconnects to the primary and resends both. If the old connection's reader hands over
// the second not_primary only now, it names the node the client is connected to: that
// reply belongs to a connection already replaced, and the request has been resent to
// the primary, which applies it. The call must stay pending for the primary's answer;
// completing it with not_primary tells the caller "refused" for a request that is
// applied (a caller retrying it as a new request moves the money twice).
func TestStaleNotPrimaryAfterFailoverKeepsCall(t *testing.T) {
	const primary = "10.0.0.2:7400"
	c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
		lost: make(chan struct{}, 1), stop: make(chan struct{}),
		conn: &addressConn{remote: primary}, generation: 2} // Connected to the primary.
	call := &Call{Number: 1, complete: make(chan struct{})}
	c.pending[1] = call
	c.complete(&wire.Frame{Kind: wire.KindReply, Number: 1,
		Status: uint32(model.StatusNotPrimary), Body: []byte(primary)}, 1) // From the standby.
	select {
	case <-call.complete:
		t.Fatalf("a not_primary from the replaced connection completed the call (%v)",
			call.Reply.Status)
	default:
	}
	if c.pending[1] != call {
		t.Fatal("the call left the pending set: its resend's answer would be dropped")
	}
}
