package netio

import (
	"math/bits"
	"math/rand/v2"
)

// marketDataLeftOps maps an instrument to the op of its newest update that left the
// market-data history (marketDataHistory.holdsFrom; publisher-owned). It is written at
// every eviction, so it is a fixed open-addressing table rather than a Go map: with a map
// an evicting add cost 51.4 cpu-ns against 32.9 before per-instrument tracking, with this
// table 37.1 (BenchmarkMarketDataHistoryAdd, medians of 10 alternated rounds, session
// 39, load average 4.4-5.0). It holds at most entriesMax instruments in twice
// as many slots (probes stay short), never deletes (clear empties it), and hashes with a
// per-process seed so that chosen instrument ids cannot line up in one probe run.
type marketDataLeftOps struct {
	slots      []marketDataLeftSlot
	mask       uint64
	seed       uint64
	count      int // Instruments held.
	entriesMax int
}

type marketDataLeftSlot struct {
	key uint64 // Instrument + 1; 0: empty.
	op  uint64
}

func (t *marketDataLeftOps) init(entriesMax int) {
	size := 2
	for size < 2*entriesMax {
		size *= 2
	}
	t.slots, t.mask = make([]marketDataLeftSlot, size), uint64(size-1)
	t.seed, t.count, t.entriesMax = rand.Uint64(), 0, entriesMax
}

// slot returns where instrument is, or the empty slot where it would go.
func (t *marketDataLeftOps) slot(instrument uint32) *marketDataLeftSlot {
	key := uint64(instrument) + 1
	hi, lo := bits.Mul64(key^t.seed, 0x9e3779b97f4a7c15)
	for index := (hi ^ lo) & t.mask; ; index = (index + 1) & t.mask {
		// Ends: at most half the slots are taken.
		if s := &t.slots[index]; s.key == key || s.key == 0 {
			return s
		}
	}
}

// set records op for instrument and reports true, or reports false when the instrument
// is not held and the table is full.
func (t *marketDataLeftOps) set(instrument uint32, op uint64) bool {
	s := t.slot(instrument)
	if s.key == 0 {
		if t.count == t.entriesMax {
			return false
		}
		s.key = uint64(instrument) + 1
		t.count++
	}
	s.op = op
	return true
}

// get returns instrument's op, and whether it is held.
func (t *marketDataLeftOps) get(instrument uint32) (op uint64, held bool) {
	s := t.slot(instrument)
	return s.op, s.key != 0
}

func (t *marketDataLeftOps) clear() {
	clear(t.slots)
	t.count = 0
}
