package bench

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
)

// TestLoneInterruptedCallsBarrierPrecedesLookup_review52c — review of client52, claim
// (3) in the bench: a lone worker (--inflight 1 --lone-reads) waits inside DoInto, and an
// interrupt ends its call at once (its context is the run's), as the callers mode's:
// its outcome is unknown, and the final lookup must still come after the barrier so
// that the invariant holds. Method: TestInterruptedCallsBarrierPrecedesLookup with lone
// workers instead of callers.
func TestLoneInterruptedCallsBarrierPrecedesLookup_review52c(t *testing.T) {
	const guard = 20 * time.Second // Hang guards, not timing assertions.
	h := newHarness(t, lieNone)
	proxy := startHoldingProxy(t, h.address)
	config := h.config()
	config.Addresses = []string{proxy.address()}
	config.Connections, config.Inflight, config.LoneReads = 2, 1, true
	config.Count, config.Duration = 0, time.Minute // Ended by the interrupt.
	var guardExpired atomic.Bool
	hook := func(replies []backend.Reply) {
		for _, reply := range replies {
			if reply.Operation == model.OperationLookupTransfers {
				submitted := h.backend.Submitted()
				released := proxy.release()
				waitUntil(guard, &guardExpired,
					func() bool { return h.backend.Submitted() >= submitted+released })
			}
		}
	}
	h.replier.beforeDeliver.Store(&hook)
	ctx, cancel := context.WithTimeout(context.Background(), wireRunLimit)
	defer cancel()
	interrupt, interrupted := context.WithCancel(ctx)
	config.hooks.beforeLoad = func() {
		go func() {
			waitUntil(guard, &guardExpired, func() bool { return proxy.heldCount() > 0 })
			interrupted()
		}()
	}
	result, err := Run(interrupt, config)
	if err != nil {
		t.Fatal(err)
	}
	if guardExpired.Load() {
		t.Fatal("a guard expired: no call held, or the held ones never submitted")
	}
	report := &result.Report
	if report.Invariant.UnknownOutcomes < uint64(config.Events) || !report.InvariantOK {
		t.Fatalf("invariant ok %v %v; %d looked up (want at least the held call's %d)",
			report.InvariantOK, report.Invariant.Problems, report.Invariant.UnknownOutcomes,
			config.Events)
	}
}
