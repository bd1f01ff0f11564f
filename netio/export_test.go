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

// SetTestHookDeliveryAdmitted has hook run on the delivering goroutine in each Deliver
// and DeliverReports call, once the call's frames are admitted and before they are lent
// to the event loops, until the test ends.
func SetTestHookDeliveryAdmitted(t testing.TB, hook func()) {
	testHookDeliveryAdmitted.Store(&hook)
	t.Cleanup(func() { testHookDeliveryAdmitted.Store(nil) })
}

// LoopTasks returns how many tasks replies and reports have handed to event loops.
func (s *Server) LoopTasks() uint64 { return s.counters.loopTasks.Load() }

// UnsentSeen sums, over the open connections, the bytes lent to their loops and not yet
// written (queuedBytes) and gnet's outbound buffer as last seen (bufferedSeen): what the
// market-data feed counts against SubscriberBytesMax.
func (s *Server) UnsentSeen() (queued, buffered int64) {
	for i := range s.table.slots {
		if conn := s.table.slots[i].Load(); conn != nil {
			queued += conn.queuedBytes.Load()
			buffered += conn.bufferedSeen.Load()
		}
	}
	return queued, buffered
}
