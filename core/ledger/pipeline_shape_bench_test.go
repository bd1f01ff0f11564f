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
	{stepEvents: 4, slotsAheadEvents: 12, recordsAheadEvents: 4},
	{stepEvents: 4, slotsAheadEvents: 12, recordsAheadEvents: 8},
	{stepEvents: 2, slotsAheadEvents: 8, recordsAheadEvents: 4},
}

// BenchmarkPipelineShape compares, in one process and as BenchmarkRecordLinePrefetch
// does, each shape of pipelineShapesCompared (ledger 0) with the blocks of 16 of
// sessions 27-52 (ledger 1), at 1,000 accounts (every line in cache: the steps' own
// cost) and at 1,000,000. It reports cpu-ns per transfer of each and shape-change-%
// (negative: the shape is faster).
//
//	go test ./core/ledger -run '^$' -bench 'PipelineShape/accounts=1000000/shape=4/8/4$' -benchtime 200x -count 5
func BenchmarkPipelineShape(b *testing.B) {
	for _, accounts := range []uint32{1_000, benchAccountCount} {
		for _, shape := range pipelineShapesCompared {
			checkPipelineShape(shape)
			name := fmt.Sprintf("accounts=%d/shape=%d/%d/%d", accounts, shape.stepEvents,
				shape.slotsAheadEvents, shape.recordsAheadEvents)
			b.Run(name, func(b *testing.B) {
				benchmarkAlternatedLedgersOf(b, accounts, func(i int, l *Ledger) {
					l.pipelineShape = shape
					if i == 1 {
						l.pipelineShape = pipelineShapeBlocks
					}
				}, "cpu-ns/transfer-shape", "cpu-ns/transfer-blocks-of-16", "shape-change-%")
			})
		}
	}
}
