package ledger

import (
	"fmt"
	"testing"

	"sequent/core/model"
)

// TestPipelineShapesMatchTwoPhase is TestPipelineMatchesTwoPhase for pipeline shapes
// other than the ledger's: the blocks of sessions 27-52, steps of one event, steps that
// do not divide the blocks of 16 and records as far ahead as the slots allow. Each must
// leave the results, events, digest and risk state of the two-phase reference after
// every batch: a schedule that confirmed or applied an event before its stages had run
// for it, or let a resolved index go stale, would not.
func TestPipelineShapesMatchTwoPhase(t *testing.T) {
	shapes := []pipelineShape{
		pipelineShapeDefault,
		pipelineShapeBlocks,
		{stepEvents: 1, slotsAheadEvents: 2, recordsAheadEvents: 1},
		{stepEvents: 3, slotsAheadEvents: 9, recordsAheadEvents: 6},
		{stepEvents: 2, slotsAheadEvents: 8, recordsAheadEvents: 4},
		{stepEvents: 5, slotsAheadEvents: 30, recordsAheadEvents: 25},
	}
	steps := 30
	if testing.Short() {
		steps = 8
	}
	for n, shape := range shapes {
		checkPipelineShape(shape)
		for _, accounts := range []int{40, 520} { // 520: the account table is migrating.
			t.Run(fmt.Sprintf("shape=%d/%d/%d/accounts=%d", shape.stepEvents,
				shape.slotsAheadEvents, shape.recordsAheadEvents, accounts), func(t *testing.T) {
				d := newPipelineDiff(t, uint64(100+n), accounts, true, true)
				d.pipe.pipelineShape = shape
				for step := range steps {
					count := 0
					if step == steps/2 {
						count = model.EventsPerRequestMax
					}
					d.step(fmt.Sprintf("step %d", step), count)
				}
			})
		}
	}
}

// TestCheckPipelineShapeRefuses checks that checkPipelineShape panics on each kind of
// shape pipelineTransfers cannot run, and accepts the two shapes the ledger has had.
func TestCheckPipelineShapeRefuses(t *testing.T) {
	checkPipelineShape(pipelineShapeDefault)
	checkPipelineShape(pipelineShapeBlocks)
	for _, shape := range []pipelineShape{
		{},
		{stepEvents: pipelineBlockEvents + 1, slotsAheadEvents: 4 * pipelineBlockEvents,
			recordsAheadEvents: 2 * pipelineBlockEvents}, // Beyond the scratch's addresses.
		{stepEvents: 2, slotsAheadEvents: 4, recordsAheadEvents: 4}, // Slots not ahead of records.
		{stepEvents: 2, slotsAheadEvents: 8, recordsAheadEvents: 0}, // Records not ahead.
		{stepEvents: 2, slotsAheadEvents: 8, recordsAheadEvents: 3}, // Not a multiple.
		{stepEvents: 2, slotsAheadEvents: 7, recordsAheadEvents: 4},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("shape %+v accepted", shape)
				}
			}()
			checkPipelineShape(shape)
		}()
	}
}

// pipelineShapeBlocks is the shape of sessions 27-52: blocks of pipelineBlockEvents, the
// slots two blocks ahead and the records one.
var pipelineShapeBlocks = pipelineShape{stepEvents: pipelineBlockEvents,
	slotsAheadEvents: 2 * pipelineBlockEvents, recordsAheadEvents: pipelineBlockEvents}

// checkPipelineShape panics on a shape pipelineTransfers cannot run (pipelineShape).
func checkPipelineShape(shape pipelineShape) {
	step := shape.stepEvents
	if step < 1 || step > pipelineBlockEvents || shape.recordsAheadEvents < step ||
		shape.slotsAheadEvents <= shape.recordsAheadEvents ||
		shape.recordsAheadEvents%step != 0 || shape.slotsAheadEvents%step != 0 {
		panic(fmt.Sprintf("ledger: pipeline shape %+v", shape))
	}
}
