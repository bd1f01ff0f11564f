package ops

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// TestReviewHN49ShutdownRightAfterStartClosesThePort: fasthttp's Shutdown returns at once
// when Serve has not yet registered its listener; the main server's Serve may then start
// after it and accept on the port for ever.
func TestReviewHN49ShutdownRightAfterStartClosesThePort(t *testing.T) {
	for round := 0; round < 200; round++ {
		server, err := New(Config{Address: "127.0.0.1:0",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, newFakeSources().sources())
		if err != nil {
			t.Fatal(err)
		}
		if err := server.Start(); err != nil {
			t.Fatal(err)
		}
		address := server.Address()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = server.Shutdown(ctx)
		cancel()
		if err != nil {
			t.Fatalf("round %d: Shutdown: %v", round, err)
		}
		if conn, err := net.Dial("tcp", address); err == nil {
			conn.Close()
			t.Fatalf("round %d: port %s still accepts after Shutdown", round, address)
		}
	}
}
