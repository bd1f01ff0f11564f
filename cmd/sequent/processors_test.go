package main

import (
	"runtime"
	"testing"
)

// Serve raises GOMAXPROCS above the default by one per event loop and per shard, the
// same on every call, and leaves an explicit GOMAXPROCS alone.
func TestRaiseProcessors(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })

	if got := raiseProcessors(true, 1, 1); got != 0 || runtime.GOMAXPROCS(0) != before {
		t.Fatalf("explicit GOMAXPROCS: set %d, now %d, want untouched %d", got,
			runtime.GOMAXPROCS(0), before)
	}
	for range 2 {
		want := defaultProcessors + 2 + 3
		if got := raiseProcessors(false, 2, 3); got != want || runtime.GOMAXPROCS(0) != want {
			t.Fatalf("raised to %d, now %d, want %d", got, runtime.GOMAXPROCS(0), want)
		}
	}
	if got, want := raiseProcessors(false, 0, 0), defaultProcessors+2; got != want {
		t.Fatalf("zero loops and shards count as one each: got %d, want %d", got, want)
	}
}
