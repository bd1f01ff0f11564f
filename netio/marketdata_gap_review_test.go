package netio

import (
	"math/rand/v2"
	"testing"

	"sequent/core/backend"
	"sequent/core/event"
	"sequent/core/model"
)

// TestReviewResumeExactMeansEveryUpdateReplayed (review of the per-instrument resume
// gap): drives the feed as the shard does (Consume with entries of several ops, several
// updates of one instrument per op, queue overflows) and the publisher by hand, and after
// each publish checks every resumption the rule answers 0 against what was released: the
// held updates of the instrument with op >= from_op (what a replay sends) must be every
// update of it released with such an op. Instrument ids include 2^32-1, and the table of
// what left has room for 3 instruments (the shared figure is used).
func TestReviewResumeExactMeansEveryUpdateReplayed(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		random := rand.New(rand.NewPCG(seed, 7))
		m := newMarketData(nil, MarketDataConfig{QueueUpdatesMax: 40, HistoryUpdatesMax: 29,
			StartOp: 5}, 0)
		m.history.init(29, 5, 3)
		instruments := []uint32{1, 2, 3, 4, 5, 6, 1<<32 - 1}
		var released []model.MarketDataUpdate
		op, identity := uint64(4), uint64(0)
		exactBelowOldest := 0
		for step := range 3000 {
			var buffer event.Buffer
			first := op + 1
			for range 1 + random.IntN(3) {
				op++
				buffer.BeginOp(op)
				for range random.IntN(4) {
					identity++
					u := model.MarketDataUpdate{Op: op, Sequence: identity,
						Instrument: instruments[random.IntN(len(instruments))]}
					if random.IntN(2) == 0 {
						u.Instrument = 1 // Busy.
					}
					buffer.AppendMarketData(&u)
					released = append(released, u)
				}
			}
			m.Consume(&backend.Ready{FirstOp: first, LastOp: op, Events: &buffer})
			if random.IntN(4) != 0 {
				continue
			}
			m.publish()
			for range 8 {
				instrument := instruments[random.IntN(len(instruments))]
				if random.IntN(8) == 0 {
					instrument = 0
				}
				from := op - uint64(random.IntN(60))
				if from == 0 || !m.history.holdsFrom(instrument, from) {
					continue
				}
				if from < m.history.fromOp {
					exactBelowOldest++
				}
				replayed := map[uint64]bool{}
				m.history.newestFirst(instrument, from, func(position uint64) bool {
					replayed[m.history.at(position).Sequence] = true
					return true
				})
				for _, u := range released {
					if u.Op >= from && (instrument == 0 || u.Instrument == instrument) &&
						!replayed[u.Sequence] {
						t.Fatalf("seed %d step %d: resume of instrument %d from op %d "+
							"answered 0 (oldest %d, since %d) but its update %+v is not "+
							"replayed", seed, step, instrument, from, m.history.fromOp,
							m.history.sinceOp, u)
					}
				}
			}
		}
		if exactBelowOldest == 0 || m.fellBehind.Load() == 0 {
			t.Fatalf("seed %d: %d exact resumes below oldest_op, %d feed losses: the walk "+
				"missed a case", seed, exactBelowOldest, m.fellBehind.Load())
		}
	}
}
