package bench

import (
	"context"
	"testing"
	"time"
)

// TestOpenLoopPacing offers 400 requests/s for one second over two connections. The
// schedule holds exactly 400 due requests; each was sent or counted unsent, never more
// were sent (a closed loop would send thousands), the achieved rate cannot exceed the
// offered one, and the run cannot end before its last request was due.
func TestOpenLoopPacing(t *testing.T) {
	h := newHarness(t, lieNone)
	config := h.config()
	config.Count, config.Duration, config.Rate = 0, time.Second, 400
	config.Connections, config.Inflight, config.Events = 2, 8, 1
	started := time.Now()
	report := &runOrFail(t, config).Report
	elapsed := time.Since(started)
	checkCounts(t, report, 1)
	if report.Mode != "open" || report.RequestsSent+report.RequestsUnsent != 400 ||
		report.RequestsSent > 400 {
		t.Fatalf("mode %s: %d sent + %d unsent, want 400 due", report.Mode,
			report.RequestsSent, report.RequestsUnsent)
	}
	if report.RequestsPerS > 420 {
		t.Fatalf("%.0f requests/s achieved for 400 offered", report.RequestsPerS)
	}
	if lastDue := 399 * time.Second / 400; elapsed < lastDue {
		t.Fatalf("the run took %v, less than the last request's due time %v", elapsed,
			lastDue)
	}
}

// TestOpenLoopMeasuresFromIntendedTime stalls the server for stall in the middle of an
// open-loop run with one request in flight. The request due right after the stall began
// waits for all of it, so the maximum latency is at least stall − one spacing; and every
// request due during the stall's first half waited at least half of it, so at least
// that many latencies are ≥ stall/2. Measured from the actual send, only one request
// would show the stall (coordinated omission).
func TestOpenLoopMeasuresFromIntendedTime(t *testing.T) {
	const rate, stall = 200, 500 * time.Millisecond
	h := newHarness(t, lieNone)
	config := h.config()
	config.Count, config.Duration, config.Rate = 0, 1500*time.Millisecond, rate
	config.Connections, config.Inflight, config.Events = 1, 1, 1
	ran := make(chan struct{})
	go func() {
		// Pause once the run has sent about 0.3 s of its requests (a few of the count are
		// the set-up's), not 300 ms after this goroutine started: on a loaded machine the
		// run can start late, and a stall that falls after its last request shows nothing.
		for h.backend.Submitted() < rate*3/10 {
			select {
			case <-ran:
				return
			case <-time.After(time.Millisecond):
			}
		}
		h.backend.Pause()
		time.Sleep(stall)
		h.backend.Resume()
	}()
	result, err := Run(context.Background(), config)
	close(ran)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, &result.Report, 1)
	spacing := time.Second / rate
	if maximum := time.Duration(result.RequestLatency.Max()); maximum < stall-2*spacing {
		t.Fatalf("maximum latency %v, want at least %v", maximum, stall-2*spacing)
	}
	var waited int64
	for _, bar := range result.RequestLatency.Distribution() {
		if bar.From >= int64(stall/2) {
			waited += bar.Count
		}
	}
	if want := int64(rate*stall/2/time.Second) / 2; waited < want {
		t.Fatalf("%d requests waited ≥ %v, want at least %d", waited, stall/2, want)
	}
}

// TestInterruptReportsWhatWasDone cancels a long run: it stops at once, drains and still
// verifies.
func TestInterruptReportsWhatWasDone(t *testing.T) {
	h := newHarness(t, lieNone)
	config := h.config()
	config.Count, config.Duration = 0, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	result, err := Run(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, &result.Report, config.Events)
	if result.Report.RequestsCompleted == 0 {
		t.Fatal("nothing completed before the interrupt")
	}
}
