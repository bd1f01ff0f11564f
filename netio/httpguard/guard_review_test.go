package httpguard

import (
	"bytes"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestPanicLogBoundHoldsOverAnyMinute (review of session 39's bounded panic log): the
// README, the alert's runbook and the brief promise "at most 10 panic stacks a minute per
// server". With a window that restarts when the previous one ends, a panic that opens a
// window, nine more just before it ends and ten just after log twenty stacks within one
// second. Whatever minute one looks at, at most panicStacksPerIntervalMax stacks may be in
// it.
func TestPanicLogBoundHoldsOverAnyMinute(t *testing.T) {
	var log bytes.Buffer
	guard := newGuard(&log)
	start := time.Unix(2_000_000, 0)
	clock := &manualClock{now: start}
	guard.now = clock.Now
	panicAt := func(at time.Time, count int) {
		clock.now = at
		for range count {
			serve(guard, newRequest("/v1/accounts"), func(*fasthttp.RequestCtx) {
				panic("boom")
			})
		}
	}
	panicAt(start, 1)                                                             // Opens a window.
	panicAt(start.Add(panicLogInterval-time.Second), panicStacksPerIntervalMax-1) // Its end.
	log.Reset()
	panicAt(start.Add(panicLogInterval-time.Second), 1) // Over the limit: not logged.
	panicAt(start.Add(panicLogInterval), panicStacksPerIntervalMax)
	// The last panicStacksPerIntervalMax-1 stacks before the log was reset, and these, all
	// fall within [start+interval-1s, start+interval]: one second.
	stacks := logLines(&log, "stack=") + panicStacksPerIntervalMax - 1
	if stacks > panicStacksPerIntervalMax {
		t.Fatalf("%d panic stacks logged within one second, want at most %d a minute",
			stacks, panicStacksPerIntervalMax)
	}
	if panics := guard.Panics(); panics != 2*panicStacksPerIntervalMax+1 {
		t.Fatalf("Panics() = %d, want every panic counted: %d", panics,
			2*panicStacksPerIntervalMax+1)
	}
}
