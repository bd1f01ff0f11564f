package ops

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestReviewHN49ShutdownStopsTheRefusalServerWhenTheMainOneOverruns: Shutdown's doc says
// that if ctx ends first, what remains ends on its own. hunt49's Shutdown returned as soon
// as the main server's shutdown did with ctx's error, before it shut the refusal server
// down or closed its listener: that server's Serve then waited in Accept for ever (a
// goroutine and its worker pool per Shutdown that overran, for the life of the process).
// Here an allowed request is held in its handler, so the main server cannot stop within
// an ended ctx; the refusal server's listener must still be closed when Shutdown returns
// and its Serve must return once the held request ends.
func TestReviewHN49ShutdownStopsTheRefusalServerWhenTheMainOneOverruns(t *testing.T) {
	fake := newFakeSources()
	sources := fake.sources()
	entered, release := make(chan struct{}), make(chan struct{})
	var holding atomic.Bool
	snapshot := sources.Snapshot
	sources.Snapshot = func() Snapshot {
		if holding.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
		return snapshot()
	}
	server, err := New(Config{Address: "127.0.0.1:0", AllowCIDRs: []string{"127.0.0.1/32"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, sources)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	answered := make(chan error, 1)
	go func() {
		client := &http.Client{Timeout: waitMax}
		result, err := client.Get("http://" + server.Address() + PathStatus)
		if err == nil {
			_ = result.Body.Close()
		}
		answered <- err
	}()
	<-entered
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if err := server.Shutdown(ended); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with a request held and ctx ended: %v, want context.Canceled", err)
	}
	select {
	case <-server.refused.closed:
	default:
		t.Error("Shutdown returned with the refusal server's listener still open")
	}
	close(release)
	released = true
	<-answered
	select {
	case err := <-server.refusalServed:
		server.refusalServed <- err // Kept for the second Shutdown, as Shutdown does.
		if err != nil {
			t.Errorf("refusal server's Serve: %v", err)
		}
	case <-time.After(waitMax):
		t.Fatalf("the refusal server still serves %v after Shutdown", waitMax)
	}
	ctx, cancelShutdown := context.WithTimeout(context.Background(), waitMax)
	defer cancelShutdown()
	if err := server.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}
