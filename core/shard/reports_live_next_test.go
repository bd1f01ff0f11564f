package shard

import (
	"math"
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
)

// TestReplayFromTheTopReadsNextWithoutAllocating: the network layer answers every live
// subscription (from 0) with the client's next sequence, read on its event loop by
// ReplayReports from math.MaxUint64. That must hand over no report and allocate nothing
// (before, the replay's batch was allocated whatever it would hold).
func TestReplayFromTheTopReadsNextWithoutAllocating(t *testing.T) {
	const client = 7
	store := NewReportStore()
	store.clients[client] = &clientReports{first: 1, last: 3,
		records: make([][model.ExecutionReportSize]byte, reportsKeptPerClient)}
	handed := 0
	fn := func(reports []backend.Report) { handed += len(reports) }
	var next uint64
	allocations := testing.AllocsPerRun(100, func() {
		_, next = store.replay(client, math.MaxUint64, fn)
	})
	if next != 4 || handed != 0 || allocations != 0 {
		t.Fatalf("replay from the top: next %d, %d reports handed over, %.0f allocations; "+
			"want next 4, none, none", next, handed, allocations)
	}
}
