package ledger

import (
	"fmt"
	"runtime"
	"testing"

	"sequent/bench/threadcpu"
	"sequent/core/model"
)

// BenchmarkReservedTotalsGrowth measures the pause of the sparse table of reserved totals
// when it doubles (reservedtable.go): the insert that takes the accounts holding a
// reservation at once past half the table allocates a table twice the size and rehashes
// every entry. It happens only when that number reaches a new high, so these are one-off
// pauses, not a steady-state cost. One op is one such insert (the table is rebuilt,
// untimed, before each); entries=N is the entries moved.
func BenchmarkReservedTotalsGrowth(b *testing.B) {
	for _, entries := range []uint32{1 << 12, 1 << 16, 1 << 20} {
		b.Run(fmt.Sprintf("entries=%d", entries), func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var cpu int64
			for n := 0; n < b.N; n++ {
				b.StopTimer()
				table := newReservedTotals()
				for account := range entries {
					table.set(account, model.U128(1))
				}
				slots := len(table.slots)
				b.StartTimer()
				start := threadcpu.Now()
				table.set(entries, model.U128(1)) // Past half of slots: grows.
				cpu += threadcpu.Now() - start
				if len(table.slots) != 2*slots {
					b.Fatalf("%d entries in %d slots did not grow", entries+1, slots)
				}
			}
			if threadcpu.Supported {
				b.ReportMetric(float64(cpu)/float64(b.N)/1e6, "cpu-ms/growth")
			}
		})
	}
}
