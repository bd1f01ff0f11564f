package risk

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unsafe"

	"pgregory.net/rapid"

	"sequent/core/model"
)

// slotWindow is the window as the engine kept it before the account cell (session 44):
// the buckets in an array indexed by bucket number modulo model.RiskWindowBuckets, the
// layout the snapshot still lists them in. It is the reference TestWindowMatchesSlotLayout
// holds the age-ordered window to.
type slotWindow struct {
	newest  uint64
	end     uint64
	amount  model.Uint128
	count   uint64
	amounts [model.RiskWindowBuckets]model.Uint128
	counts  [model.RiskWindowBuckets]uint32
}

func (w *slotWindow) advance(timestamp uint64, bucketNs uint64) {
	if timestamp < w.end {
		return
	}
	bucket := timestamp / bucketNs
	if bucket > w.newest {
		if bucket-w.newest >= model.RiskWindowBuckets {
			w.amounts, w.counts = [model.RiskWindowBuckets]model.Uint128{},
				[model.RiskWindowBuckets]uint32{}
		} else {
			for b := w.newest + 1; b <= bucket; b++ {
				w.amounts[b%model.RiskWindowBuckets] = model.Uint128{}
				w.counts[b%model.RiskWindowBuckets] = 0
			}
		}
		w.newest = bucket
		w.total()
	}
	w.end = (w.newest + 1) * bucketNs
}

func (w *slotWindow) total() {
	w.amount, w.count = model.Uint128{}, 0
	for i := range w.amounts {
		w.amount = saturatingAdd(w.amount, w.amounts[i])
		w.count += uint64(w.counts[i])
	}
}

func (w *slotWindow) add(amount model.Uint128) {
	slot := w.newest % model.RiskWindowBuckets
	w.amounts[slot] = saturatingAdd(w.amounts[slot], amount)
	w.amount = saturatingAdd(w.amount, amount)
	if w.counts[slot] != ^uint32(0) {
		w.counts[slot]++
		w.count++
	}
}

// encode writes the slot window as the snapshot's window record.
func (w *slotWindow) encode() []byte {
	b := make([]byte, windowSize)
	binary.LittleEndian.PutUint64(b[0:], w.newest)
	for i := range w.amounts {
		w.amounts[i].PutLE(b[8+16*i:])
		binary.LittleEndian.PutUint32(b[8+16*model.RiskWindowBuckets+4*i:], w.counts[i])
	}
	return b
}

func (w *slotWindow) decode(b []byte) {
	w.newest, w.end = binary.LittleEndian.Uint64(b[0:]), 0
	for i := range w.amounts {
		w.amounts[i] = model.Uint128LE(b[8+16*i:])
		w.counts[i] = binary.LittleEndian.Uint32(b[8+16*model.RiskWindowBuckets+4*i:])
	}
	w.total()
}

// TestWindowMatchesSlotLayout holds the window (newest bucket in fixed fields, older
// ones by age) to the slot-indexed window it replaced: from the same start (an empty
// window, or any snapshot record, with bucket counts near 2^32 and amounts near 2^128
// so that both saturations are reached), the same moves (times within a bucket, to the
// next bucket, a few buckets on, past the whole window) and adds must leave the same
// totals and end after every step and write the same snapshot record. A bucket shifted
// to the wrong age, a total missing one, or a record written in another slot order
// fails here.
func TestWindowMatchesSlotLayout(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var aged window
		var slotted slotWindow
		// The cold amounts start as garbage: while the window keeps none (olderKept) they
		// must not be read.
		older := olderAmounts{{Lo: 5}, {Hi: 7}, {Lo: 1, Hi: 1}}
		if rapid.Bool().Draw(t, "fromRecord") {
			record := make([]byte, windowSize)
			binary.LittleEndian.PutUint64(record, rapid.Uint64Range(0, 1<<20).Draw(t, "newest"))
			for i := range model.RiskWindowBuckets {
				amount := model.Uint128{Lo: rapid.Uint64().Draw(t, "lo"),
					Hi: rapid.SampledFrom([]uint64{0, 1, ^uint64(0) >> 1, ^uint64(0)}).Draw(t, "hi")}
				amount.PutLE(record[8+16*i:])
				count := rapid.OneOf(rapid.Uint32Range(0, 100),
					rapid.Uint32Range(^uint32(0)-3, ^uint32(0))).Draw(t, "count")
				binary.LittleEndian.PutUint32(record[8+16*model.RiskWindowBuckets+4*i:], count)
			}
			if amounts := decodeWindow(record, &aged); aged.olderKept {
				older = amounts
			}
			slotted.decode(record)
			encoded := make([]byte, windowSize)
			encodeWindow(encoded, &aged, &older)
			if !bytes.Equal(encoded, record) {
				t.Fatalf("record %x read and written again as %x", record, encoded)
			}
		}
		bucketNs := rapid.SampledFrom([]uint64{1, 3, 1_000, 1 << 40}).Draw(t, "bucketNs")
		now := slotted.newest * bucketNs
		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for step := range steps {
			if rapid.Bool().Draw(t, "move") {
				switch rapid.IntRange(0, 3).Draw(t, "how") {
				case 0:
					now += rapid.Uint64Range(0, bucketNs-1).Draw(t, "within")
				case 1:
					now += bucketNs
				case 2:
					now += bucketNs * rapid.Uint64Range(2, model.RiskWindowBuckets).Draw(t, "buckets")
				default:
					now += bucketNs * rapid.Uint64Range(model.RiskWindowBuckets+1, 50).Draw(t, "far")
				}
				aged.advance(now, bucketNs, &older)
				slotted.advance(now, bucketNs)
			} else {
				amount := model.Uint128{Lo: rapid.Uint64().Draw(t, "addLo"),
					Hi: rapid.SampledFrom([]uint64{0, 0, 0, 1 << 62}).Draw(t, "addHi")}
				aged.add(amount)
				slotted.add(amount)
			}
			if aged.newest != slotted.newest || aged.end != slotted.end ||
				aged.amount != slotted.amount || aged.count != slotted.count {
				t.Fatalf("step %d: newest %d/%d end %d/%d amount %s/%s count %d/%d", step,
					aged.newest, slotted.newest, aged.end, slotted.end, aged.amount,
					slotted.amount, aged.count, slotted.count)
			}
			encoded := make([]byte, windowSize)
			encodeWindow(encoded, &aged, &older)
			if want := slotted.encode(); !bytes.Equal(encoded, want) {
				t.Fatalf("step %d: record %x, the slot layout writes %x", step, encoded, want)
			}
		}
	})
}

// TestAccountCellLayout pins what the cell's layout is for: everything a transfer under
// the velocity and anomaly rules reads or writes (generations, averages, the window but
// its older amounts) in two cache lines per account, the two Prefetch asks for. A field
// added to the cell or the window that takes it past two lines fails here.
func TestAccountCellLayout(t *testing.T) {
	size := unsafe.Sizeof(accountCell{})
	// 64-bit platforms align the 128-bit amounts to 8 bytes and fill the two lines
	// exactly; 32-bit ones (GOARCH=386) align them to 4 and need less.
	if unsafe.Sizeof(uintptr(0)) == 8 && size != accountCellHotBytes || size > accountCellHotBytes {
		t.Fatalf("accountCell is %d bytes, want %d (two lines, prefetched as a pair)", size,
			accountCellHotBytes)
	}
}

// TestLimit64MatchesLimit128: the anomaly limit's 64-bit path gives the 128-bit path's
// value for every mean and deviation below 2^64, at the edges (zero deviation, a
// deviation under the mean's floor, the largest words and thresholds) and at random.
func TestLimit64MatchesLimit128(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		word := rapid.OneOf(rapid.Uint64(), rapid.Uint64Range(0, 1<<20),
			rapid.SampledFrom([]uint64{0, 1, 15, 16, 17, 1 << 63, ^uint64(0) - 1, ^uint64(0)}))
		mean, deviation := word.Draw(t, "mean"), word.Draw(t, "deviation")
		threshold := rapid.OneOf(rapid.Uint32(),
			rapid.SampledFrom([]uint32{0, 1, 15, 16, 17, 1 << 20, ^uint32(0)})).Draw(t, "threshold")
		got := limit64(mean, deviation, threshold)
		if want := limit128(model.U128(mean), model.U128(deviation), threshold); got != want {
			t.Fatalf("mean %d deviation %d threshold %d: 64-bit %s, 128-bit %s", mean, deviation,
				threshold, got, want)
		}
	})
}
