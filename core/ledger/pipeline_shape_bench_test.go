package ledger

import (
	"fmt"
	"testing"
)

// pipelineShapesCompared are the shapes BenchmarkPipelineShape sets against the blocks
// of sessions 27-52 (pipelineShapeBlocks), named step/slots ahead/records ahead in
// events.
var pipelineShapesCompared = []pipelineShape{
	pipelineShapeDefault,
	{stepEvents: 4, slotsAheadEvents: 8, recordsAheadEvents: 4},
	pipelineShapeBlocks, // The same on both sides: the comparison's own bias.
}

// BenchmarkPipelineShape compares, in one process and as BenchmarkRecordLinePrefetch
// does, each shape of pipelineShapesCompared with the blocks of 16 of sessions 27-52
// (pipelineShapeBlocks), at 1,000 accounts (every account in cache: the steps' own cost)
// and at 1,000,000. Each comparison runs twice, the shape in the first ledger created
// (side=0) and in the second (side=1): the two ledgers are not placed alike in memory,
// and with the same shape on both sides (16/32/16, the control) the first measured up to
// 11% slower than the second at 1,000 accounts; the mean of the two sides' changes
// cancels that. It reports cpu-ns per transfer of each and shape-change-% or
// blocks-change-% (the first ledger's time against the second's: negative, it is
// faster).
//
//	go test ./core/ledger -run '^$' -bench 'PipelineShape/accounts=1000000/shape=4/8/4/' -benchtime 200x -count 5
func BenchmarkPipelineShape(b *testing.B) {
	for _, accounts := range []uint32{1_000, benchAccountCount} {
		for _, shape := range pipelineShapesCompared {
			checkPipelineShape(shape)
			for side := range 2 {
				name := fmt.Sprintf("accounts=%d/shape=%d/%d/%d/side=%d", accounts,
					shape.stepEvents, shape.slotsAheadEvents, shape.recordsAheadEvents, side)
				first, second, change := "cpu-ns/transfer-shape", "cpu-ns/transfer-blocks-of-16",
					"shape-change-%"
				if side == 1 {
					first, second, change = second, first, "blocks-change-%"
				}
				b.Run(name, func(b *testing.B) {
					benchmarkAlternatedLedgersOf(b, accounts, func(i int, l *Ledger) {
						l.pipelineShape = pipelineShapeBlocks
						if i == side {
							l.pipelineShape = shape
						}
					}, first, second, change)
				})
			}
		}
	}
}
