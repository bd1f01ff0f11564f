package client

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// TestCloseWaitsForALogoutOnlyWhenOneWasSent: Close sends a logout and waits up to
// logoutWait for the server's acknowledgement. With no connection (the client
// reconnecting, or its server down) nothing is sent and no acknowledgement can come:
// Close must return at once, not after logoutWait. The control: connected to a server
// that never acknowledges, Close waits the full logoutWait. Run in a synctest bubble, so
// the times compared are the bubble's fake clock, exact: no timing assertion.
func TestCloseWaitsForALogoutOnlyWhenOneWasSent(t *testing.T) {
	for _, connected := range []bool{false, true} {
		name := map[bool]string{false: "disconnected", true: "connected"}[connected]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := &Client{log: slog.New(slog.DiscardHandler), pending: map[uint64]*Call{},
					lost: make(chan struct{}, 1), stop: make(chan struct{}),
					logoutSeen: make(chan struct{}), silence: time.Minute}
				c.lifetime, c.endLifetime = context.WithCancel(context.Background())
				want := time.Duration(0)
				if connected {
					ours, theirs := net.Pipe()
					go func() { _, _ = io.Copy(io.Discard, theirs) }() // Never acknowledges.
					c.conn, c.generation = ours, 1
					want = logoutWait
				}
				start := time.Now()
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				if waited := time.Since(start); waited != want {
					t.Fatalf("Close took %s of the bubble's clock, want %s", waited, want)
				}
			})
		})
	}
}
