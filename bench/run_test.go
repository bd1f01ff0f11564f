package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// runOrFail runs the configuration and fails the test on a run error.
func runOrFail(t *testing.T, config Config) *Result {
	t.Helper()
	result, err := Run(context.Background(), config)
	if err != nil {
		t.Fatal(err)
	}
	return result
}

// checkCounts checks that a finished run's counts add up: every request sent either
// completed or failed, each completed request carries events results, every result is
// counted once, and every created transfer is accounted for by the invariant check.
func checkCounts(t *testing.T, report *Report, events int) {
	t.Helper()
	if report.RequestsSent != report.RequestsCompleted+report.RequestsFailed {
		t.Errorf("sent %d ≠ completed %d + failed %d", report.RequestsSent,
			report.RequestsCompleted, report.RequestsFailed)
	}
	if report.EventsSent != report.RequestsSent*uint64(events) ||
		report.EventsCompleted != report.RequestsCompleted*uint64(events) {
		t.Errorf("events sent %d, completed %d for %d and %d requests of %d events",
			report.EventsSent, report.EventsCompleted, report.RequestsSent,
			report.RequestsCompleted, events)
	}
	var results, workloads uint64
	for _, count := range report.Results {
		results += count
	}
	for _, count := range report.Workloads {
		workloads += count
	}
	if results != report.EventsCompleted || workloads != report.RequestsCompleted {
		t.Errorf("results add up to %d (want %d), workloads to %d (want %d)", results,
			report.EventsCompleted, workloads, report.RequestsCompleted)
	}
	if uint64(report.LatencyUs.Count) != report.RequestsCompleted ||
		uint64(report.EventLatencyUs.Count) != report.EventsCompleted {
		t.Errorf("latency counts %d and %d for %d requests and %d events",
			report.LatencyUs.Count, report.EventLatencyUs.Count, report.RequestsCompleted,
			report.EventsCompleted)
	}
	if !report.InvariantOK {
		t.Errorf("invariant: %v", report.Invariant.Problems)
	}
}

// TestClosedLoopCountsAddUp runs each transfer workload (and a mix of them) for a fixed
// count of requests against the fake shard, which applies everything, and checks the
// bookkeeping: exactly count requests sent and completed, events = requests × events
// per request, all results ok, every transfer accounted for by the final check.
func TestClosedLoopCountsAddUp(t *testing.T) {
	h := newHarness(t, lieNone)
	for i, mix := range []string{"single", "two-phase", "linked",
		"single=1,two-phase=1,linked=1"} {
		t.Run(mix, func(t *testing.T) {
			config := h.config()
			config.Mix, _ = ParseMix(mix)
			config.Connections, config.Inflight, config.Events = 3, 4, 6
			config.Count, config.RunID = 120, uint64(100+i)
			config.Choice, config.ZipfSkew = ChoiceZipf, 0.99
			report := &runOrFail(t, config).Report
			checkCounts(t, report, 6)
			if report.Mode != "closed" || report.RequestsSent != 120 ||
				report.RequestsCompleted != 120 || report.Results["ok"] != 720 {
				t.Fatalf("mode %s, sent %d, completed %d, results %v", report.Mode,
					report.RequestsSent, report.RequestsCompleted, report.Results)
			}
			if report.Invariant.TransfersAccounted != 720 {
				t.Fatalf("%d transfers accounted for, want 720",
					report.Invariant.TransfersAccounted)
			}
		})
	}
}

// TestWarmupIsNotCounted runs a warm-up before a counted load: the measured requests are
// exactly the count, the warm-up's are reported apart, and the invariant check still
// accounts for both (warm-up transfers are real).
func TestWarmupIsNotCounted(t *testing.T) {
	h := newHarness(t, lieNone)
	config := h.config()
	config.Warmup, config.Count, config.Events = 150*time.Millisecond, 40, 2
	report := &runOrFail(t, config).Report
	checkCounts(t, report, 2)
	if report.RequestsSent != 40 {
		t.Fatalf("%d measured requests, want 40", report.RequestsSent)
	}
	accounted := report.Invariant.TransfersAccounted
	if accounted != 2*(40+report.WarmupRequests) {
		t.Fatalf("%d transfers accounted for, want %d", accounted,
			2*(40+report.WarmupRequests))
	}
}

// TestRerunWithSameRunIDAppliesNothing reruns with the same seed and run id: accounts
// answer exists (idempotent setup), every transfer answers exists_with_... or exists,
// nothing moves, and the invariant still holds.
func TestRerunWithSameRunIDAppliesNothing(t *testing.T) {
	h := newHarness(t, lieNone)
	config := h.config()
	config.Connections = 1 // The same requests in the same order.
	runOrFail(t, config)
	report := &runOrFail(t, config).Report
	if report.Results["ok"] != 0 || report.Invariant.TransfersAccounted != 0 {
		t.Fatalf("rerun applied transfers: %v", report.Results)
	}
	if !report.InvariantOK {
		t.Fatalf("invariant: %v", report.Invariant.Problems)
	}
}

// TestUnknownOutcomesAreLookedUp stalls the server so that every request is still
// outstanding at the drain deadline: the requests are abandoned (failed, no reply), the
// server then applies them, and the final check finds them by lookup and accounts for
// them, so the invariant holds with no transfer unaccounted.
func TestUnknownOutcomesAreLookedUp(t *testing.T) {
	h := newHarness(t, lieNone)
	config := h.config()
	config.Count, config.Duration = 0, 300*time.Millisecond
	config.DrainTimeout = 100 * time.Millisecond
	config.hooks.beforeLoad, config.hooks.afterLoad = h.backend.Pause, h.backend.Resume
	report := &runOrFail(t, config).Report
	checkCounts(t, report, config.Events)
	want := uint64(config.Connections * config.Inflight)
	if report.RequestsSent != want || report.RequestStatuses["no_reply"] != want {
		t.Fatalf("sent %d, no reply %d: want %d each", report.RequestsSent,
			report.RequestStatuses["no_reply"], want)
	}
	events := want * uint64(config.Events)
	if report.Invariant.UnknownOutcomes != events ||
		report.Invariant.TransfersAccounted != events {
		t.Fatalf("%d looked up, %d accounted for: want %d each",
			report.Invariant.UnknownOutcomes, report.Invariant.TransfersAccounted, events)
	}
}

// TestInvariantCatchesPlantedMismatch makes the server misreport the final read-back in
// three ways; each must fail the check (and the honest control must pass): a balance
// off by one (Σ debits ≠ Σ credits), one unit moved between two accounts (sums agree,
// per-account accounting does not), an account missing from the reply.
func TestInvariantCatchesPlantedMismatch(t *testing.T) {
	for _, test := range []struct {
		name string
		lie  lie
		ok   bool
	}{
		{"honest", lieNone, true},
		{"debits off by one", lieDebitsPosted, false},
		{"one unit moved", lieMovedOneUnit, false},
		{"account missing", lieLookupMissing, false},
	} {
		t.Run(test.name, func(t *testing.T) {
			h := newHarness(t, test.lie)
			config := h.config()
			config.Mix, _ = ParseMix("single=1,two-phase=1")
			config.hooks.beforeVerify = func() { h.replier.armed.Store(true) }
			report := &runOrFail(t, config).Report
			if report.InvariantOK != test.ok || report.Invariant.OK != test.ok ||
				(test.ok != (len(report.Invariant.Problems) == 0)) {
				t.Fatalf("invariant ok %v, want %v; problems %v", report.InvariantOK,
					test.ok, report.Invariant.Problems)
			}
		})
	}
}

// TestUnreachable dials a port nobody listens on.
func TestUnreachable(t *testing.T) {
	config := Config{Addresses: []string{"127.0.0.1:1"}, Client: 1, Key: 1,
		Secret: testSecret, Count: 1}
	_, err := Run(context.Background(), config)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("error %v, want ErrUnreachable", err)
	}
}

// TestNoGoroutineLeak: once Run returns, every goroutine it started (workers, the
// collector, the clients') is gone: a second run leaves as many goroutines as the first.
// The wait is a guard against exiting goroutines still being scheduled, not a timing
// assertion.
func TestNoGoroutineLeak(t *testing.T) {
	h := newHarness(t, lieNone)
	config := h.config()
	config.Mix, _ = ParseMix("single=1,two-phase=1,linked=1")
	runOrFail(t, config) // The server's own goroutines are all up after a first run.
	baseline := runtime.NumGoroutine()
	config.RunID++
	runOrFail(t, config)
	deadline := time.Now().Add(time.Minute)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if count := runtime.NumGoroutine(); count > baseline {
		stacks := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after the run, %d before:\n%s", count, baseline,
			stacks[:runtime.Stack(stacks, true)])
	}
}

// TestCallersCountsAddUp runs the callers mode (goroutines each calling CreateTransfers
// one call at a time, merged by the client) for each transfer workload and checks the
// same bookkeeping as the closed loop: every call counted once, events = calls × events
// per call, every transfer accounted for by the final check; and the same with the
// client's merging off.
func TestCallersCountsAddUp(t *testing.T) {
	h := newHarness(t, lieNone)
	for i, mix := range []string{"single", "two-phase", "single=1,two-phase=1,linked=1"} {
		for _, coalesce := range []int{0, -1} {
			t.Run(fmt.Sprintf("%s/coalesce=%d", mix, coalesce), func(t *testing.T) {
				config := h.config()
				config.Mix, _ = ParseMix(mix)
				config.Connections, config.Callers, config.Inflight = 2, 24, 4
				config.Events, config.CoalesceEventsMax = 2, coalesce
				config.Count, config.RunID = 480, uint64(200+2*i)+uint64(-coalesce)
				report := &runOrFail(t, config).Report
				checkCounts(t, report, 2)
				if report.RequestsSent != 480 || report.RequestsCompleted != 480 ||
					report.Results["ok"] != 960 || report.Invariant.TransfersAccounted != 960 {
					t.Fatalf("sent %d, completed %d, results %v, accounted %d",
						report.RequestsSent, report.RequestsCompleted, report.Results,
						report.Invariant.TransfersAccounted)
				}
			})
		}
	}
}

// TestRecordersOfTheCallersMode checks how many recorders a load measures into: one per
// connection without callers; with callers about callerRecordersMin, a multiple of the
// connections (so that worker i's recorder, i % recorders, serves callers of its
// connection, i % connections, only), never more than the callers when there are at
// least as many callers as connections (fewer callers leave some connections, and their
// recorders, idle).
func TestRecordersOfTheCallersMode(t *testing.T) {
	for _, c := range []struct{ connections, callers, want int }{
		{1, 0, 1}, {32, 0, 32}, {1, 512, callerRecordersMin}, {1, 4, 4}, {2, 512, callerRecordersMin},
		{3, 512, 15}, {32, 512, 32}, {64, 64, 64}, {4, 8, 8}, {3, 4, 3}, {8, 4, 8},
	} {
		got := recordersOf(c.connections, c.callers)
		if got != c.want {
			t.Errorf("%d connections, %d callers: %d recorders, want %d", c.connections,
				c.callers, got, c.want)
		}
		if c.callers >= c.connections && got > c.callers {
			t.Errorf("%d connections, %d callers: %d recorders, more than the callers",
				c.connections, c.callers, got)
		}
		for i := range max(c.callers, c.connections) {
			if i%got%c.connections != i%c.connections {
				t.Fatalf("%d connections, %d recorders: worker %d's recorder serves another connection",
					c.connections, got, i)
			}
		}
	}
}
