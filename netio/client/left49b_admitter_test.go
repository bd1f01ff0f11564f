package client

import (
	"context"
	"testing"
	"time"
)

// TestLeft49bAdmitterStopsWithTheLifetime: the admitter waited on the client's lifetime
// and returned only once the client was closed. A hand-made test client whose lifetime
// ended without being closed left its admitter selecting on a closed channel for good,
// runnable for ever: three such, left by earlier tests, made
// TestWeightedReleaseAsWaiterArrives take 103 s instead of 0.01 s in a package run on two
// cores (each of its hand-offs waited out a spinning goroutine's time slice), and about
// 6 minutes at load 29. With its queue empty, the admitter now returns once the lifetime
// is over too.
func TestLeft49bAdmitterStopsWithTheLifetime(t *testing.T) {
	c := newConnClient(&recordingConn{})
	c.lifetime, c.endLifetime = context.WithCancel(context.Background())
	c.mu.Lock()
	c.admitWake = make(chan struct{}, 1)
	c.admitterRunning = true
	c.done.Add(1)
	go c.admitter()
	c.mu.Unlock()
	c.endLifetime()
	stopped := make(chan struct{})
	go func() {
		c.done.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(time.Minute): // Generous: it never stops without the fix.
		t.Fatal("the admitter still runs after the client's lifetime ended")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.admitterRunning {
		t.Fatal("admitterRunning still set")
	}
}
