package netio

import "testing"

// ReportReplaysConcurrentMax exposes the replay-slot bound to the external tests.
const ReportReplaysConcurrentMax = reportReplaysConcurrentMax

// SetTestHookLoginOverdue has hook run on the ticker each time it finds a connection's
// login overdue, before it acts on it, until the test ends.
func SetTestHookLoginOverdue(t testing.TB, hook func()) {
	testHookLoginOverdue.Store(&hook)
	t.Cleanup(func() { testHookLoginOverdue.Store(nil) })
}

// SetTestHookMarketDataOrder has hook run on the market-data publisher before it takes
// each subscription change, until the test ends.
func SetTestHookMarketDataOrder(t testing.TB, hook func()) {
	testHookMarketDataOrder.Store(&hook)
	t.Cleanup(func() { testHookMarketDataOrder.Store(nil) })
}

// LoopTasks returns how many tasks replies and reports have handed to event loops.
func (s *Server) LoopTasks() uint64 { return s.counters.loopTasks.Load() }
