package risk_test

import (
	"runtime"
	"testing"

	"sequent/core/model"
	"sequent/core/risk"
)

// TestVelocityCountersHeapPerAccount holds the engine to what bench/PERFORMANCE.md
// (session 45) says an account under the rules costs: the 128-byte account cell, plus
// 48 bytes of older amounts only where a window moved on with amounts to carry. Every
// account here pays once under a velocity rule, so each window's first move (from its
// empty start) carries nothing: the heap must grow by the cells alone. The engine before
// session 45 kept 128 bytes per account under a velocity rule; asking the cold array for
// an account's older amounts on every move, carried or not, allocates them for every
// account judged (176 bytes each), which fails here.
func TestVelocityCountersHeapPerAccount(t *testing.T) {
	const (
		accountCount = 2 << 16 // Two chunks of cells.
		bucketNs     = uint64(1_000_000_000)
		cellBytes    = 128
		slackBytes   = 8 // Per account: the test's own allocations are a few kilobytes.
	)
	resolve := func(id model.Uint128) (uint32, uint32, bool) {
		return uint32(id.Lo - 1), 1, id.Hi == 0 && id.Lo >= 1 && id.Lo <= accountCount
	}
	engine := risk.New(resolve)
	statuses := make([]model.Status, 1)
	engine.Set([]model.RiskRule{{ID: 1, Kind: model.RiskVelocity, Scope: model.RiskScopeLedger,
		Ledger: 1, WindowNs: 4 * bucketNs, Amount: model.U128(1_000)}}, 1, statuses)
	if statuses[0] != model.StatusOK {
		t.Fatal(statuses[0])
	}
	engine.Begin(7)
	before := heapBytes()
	now := 1_000 * bucketNs
	for index := uint32(0); index < accountCount; index++ {
		transfer := risk.Transfer{DebitIndex: index, CreditIndex: (index + 1) % accountCount,
			DebitID: model.U128(uint64(index) + 1), CreditID: model.U128(uint64(index+1)%accountCount + 1),
			Ledger: 1, Amount: model.U128(10), Timestamp: now}
		var detail model.RiskDetail
		if status := engine.Evaluate(&transfer, &detail); status != model.StatusOK {
			t.Fatalf("account %d: %s", index, status)
		}
		engine.Commit()
		now++
	}
	perAccount := float64(heapBytes()-before) / accountCount
	runtime.KeepAlive(engine)
	t.Logf("%.1f heap bytes per account", perAccount)
	if perAccount > cellBytes+slackBytes {
		t.Fatalf("%.1f heap bytes per account after one transfer each, want at most %d "+
			"(the account cell; no window carried older amounts)", perAccount,
			cellBytes+slackBytes)
	}
	if perAccount < cellBytes/2 {
		// The cells are 128 bytes on 64-bit machines (120 where a 128-bit amount is
		// 4-byte aligned): far less means the test measured nothing.
		t.Fatalf("%.1f heap bytes per account: the cells were not allocated as this test "+
			"expects (about %d bytes each)", perAccount, cellBytes)
	}
}

func heapBytes() uint64 {
	runtime.GC()
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	return stats.HeapAlloc
}
