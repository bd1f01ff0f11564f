package client

import (
	"log/slog"
	"net"
	"testing"

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
