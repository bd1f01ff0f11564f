package risk

import (
	"math/bits"

	"sequent/core/model"
)

// window is a rolling window of model.RiskWindowBuckets buckets of bucketNs each: at time
// t it holds the transfers of buckets t/bucketNs−3 … t/bucketNs. Time only moves forward
// (entry timestamps), so advancing drops whole buckets and never looks back. The window
// keeps its running totals, so that checking it is one compare per limit and moving it
// on costs a compare until its newest bucket ends.
//
// The newest bucket (the one a transfer adds to) is kept in fixed fields and the older
// ones by age, and the fields are in the order they are used: what every transfer reads
// and writes (end, the totals, the newest bucket) first, then what only moving on to a
// later bucket touches (the older buckets and the newest bucket's number). In an account
// cell that puts everything a transfer touches in the cell's first two cache lines
// (accountCell). The snapshot writes the buckets by slot (bucket number modulo
// model.RiskWindowBuckets), as the layout before this one kept them (encodeWindow).
type window struct {
	end          uint64        // When the newest bucket ends ((newest+1) × bucketNs; 0: not known yet).
	amount       model.Uint128 // Σ amounts (saturating at 2^128−1).
	count        uint64        // Σ counts.
	newestAmount model.Uint128 // The newest bucket's amount and count.
	newestCount  uint32
	olderCounts  [windowOlderBuckets]uint32 // Bucket newest−1−i at i.
	newest       uint64                     // Number of the newest bucket (timestamp / bucketNs).
	olderAmounts [windowOlderBuckets]model.Uint128
}

// windowOlderBuckets is the buckets of a window before its newest.
const windowOlderBuckets = model.RiskWindowBuckets - 1

// advance moves the window to the bucket holding timestamp, emptying the buckets it
// passes. Small enough to inline: nearly always the newest bucket still holds timestamp,
// and then the check is all it costs.
func (w *window) advance(timestamp uint64, bucketNs uint64) {
	if timestamp < w.end {
		return
	}
	w.moveTo(timestamp, bucketNs)
}

// moveTo is advance past the newest bucket's end.
func (w *window) moveTo(timestamp uint64, bucketNs uint64) {
	if bucket := timestamp / bucketNs; bucket > w.newest {
		w.age(bucket - w.newest)
		w.newest = bucket
		w.total()
	}
	w.end = (w.newest + 1) * bucketNs
}

// age makes every bucket steps (at least 1) buckets older, dropping those that leave the
// window, and starts an empty newest bucket. The older buckets are rewritten oldest
// first, so that each reads a younger one not yet rewritten.
func (w *window) age(steps uint64) {
	if steps >= model.RiskWindowBuckets {
		w.olderAmounts, w.olderCounts = [windowOlderBuckets]model.Uint128{},
			[windowOlderBuckets]uint32{}
	} else {
		for older := windowOlderBuckets - 1; older >= 0; older-- {
			// Bucket newest−1−older after the move was newest−1−older+steps before it.
			switch before := uint64(older+1) - steps; {
			case uint64(older+1) < steps:
				w.olderAmounts[older], w.olderCounts[older] = model.Uint128{}, 0
			case before == 0:
				w.olderAmounts[older], w.olderCounts[older] = w.newestAmount, w.newestCount
			default:
				w.olderAmounts[older], w.olderCounts[older] = w.olderAmounts[before-1],
					w.olderCounts[before-1]
			}
		}
	}
	w.newestAmount, w.newestCount = model.Uint128{}, 0
}

// total recomputes the running totals from the buckets.
func (w *window) total() {
	w.amount, w.count = w.newestAmount, uint64(w.newestCount)
	for i := range w.olderAmounts {
		w.amount = saturatingAdd(w.amount, w.olderAmounts[i]) // Order does not matter: see add.
		w.count += uint64(w.olderCounts[i])
	}
}

// add counts one transfer of amount in the newest bucket.
func (w *window) add(amount model.Uint128) {
	w.newestAmount = saturatingAdd(w.newestAmount, amount)
	w.amount = saturatingAdd(w.amount, amount) // Saturating sums of non-negatives associate.
	if w.newestCount != ^uint32(0) {
		w.newestCount++
		w.count++
	}
}

// passes reports whether one more transfer of amount stays within rule's limits: the
// window's amount plus amount within the amount limit, and its count plus one within the
// count limit (a zero limit is none). The window must have been moved to the transfer's
// time.
func (w *window) passes(rule *model.RiskRule, amount model.Uint128) bool {
	return w.amountPasses(rule, amount) && (rule.Count == 0 || w.count < rule.Count)
}

// amountPasses is passes' amount limit alone.
func (w *window) amountPasses(rule *model.RiskRule, amount model.Uint128) bool {
	return rule.Amount.IsZero() || !rule.Amount.Less(saturatingAdd(w.amount, amount))
}

// slot returns the amount and count of the bucket in slot (bucket number modulo
// model.RiskWindowBuckets), the order the snapshot lists them in.
func (w *window) slot(slot int) (*model.Uint128, *uint32) {
	// Its age; 2^64 is a multiple of the bucket count, so wrapping below 0 keeps it exact.
	age := (w.newest - uint64(slot)) % model.RiskWindowBuckets
	if age == 0 {
		return &w.newestAmount, &w.newestCount
	}
	return &w.olderAmounts[age-1], &w.olderCounts[age-1]
}

// daily is one UTC day's total.
type daily struct {
	day    uint64 // timestamp / model.RiskDayNs of the day counted.
	amount model.Uint128
}

// advance starts a new day's total when timestamp is in a later day.
func (d *daily) advance(timestamp uint64) {
	if day := timestamp / model.RiskDayNs; day != d.day {
		d.day, d.amount = day, model.Uint128{}
	}
}

// averages are the exponentially weighted mean and mean absolute deviation of amounts,
// in integer arithmetic (each update moves them by the difference shifted right by the
// rule's Shift, truncating), so every machine computes the same values.
type averages struct {
	count     uint32 // Amounts seen (saturating).
	mean      model.Uint128
	deviation model.Uint128
}

// limit returns the largest amount that does not score above threshold (sixteenths of a
// deviation above the mean; the deviation is at least the mean >> deviationFloorShift,
// and at least 1).
func (a *averages) limit(threshold uint32) model.Uint128 {
	if a.mean.Hi|a.deviation.Hi == 0 {
		return limit64(a.mean.Lo, a.deviation.Lo, threshold)
	}
	return limit128(a.mean, a.deviation, threshold)
}

// limit128 is limit in 128-bit arithmetic, for any mean and deviation.
func limit128(mean, deviation model.Uint128, threshold uint32) model.Uint128 {
	if floor := shiftRight(mean, deviationFloorShift); deviation.Less(floor) {
		deviation = floor
	}
	if deviation.IsZero() {
		deviation = model.U128(1)
	}
	// threshold/16 × deviation, rounded down: a 128×32-bit product shifted right by four
	// (thresholdUnit is 2^4), exact as long as the product fits 128 bits.
	product, overflow := deviation.Mul64(uint64(threshold))
	if overflow {
		return maxUint128
	}
	return saturatingAdd(mean, shiftRight(product, thresholdShift))
}

// limit64 is limit for a mean and a deviation below 2^64 (the usual case), in 64-bit
// words: the same value, since the product (below 2^96) cannot overflow and the sum
// (below 2^93) cannot saturate.
func limit64(mean, deviation uint64, threshold uint32) model.Uint128 {
	deviation = max(deviation, mean>>deviationFloorShift, 1)
	high, low := bits.Mul64(deviation, uint64(threshold))
	scaled := low>>thresholdShift | high<<(64-thresholdShift)
	sum, carry := bits.Add64(mean, scaled, 0)
	return model.Uint128{Lo: sum, Hi: high>>thresholdShift + carry}
}

// update folds amount into the averages with weight 2^-shift.
func (a *averages) update(amount model.Uint128, shift uint8) {
	switch {
	case a.count == 0:
		a.mean, a.deviation = amount, model.Uint128{}
	case amount.Hi|a.mean.Hi|a.deviation.Hi == 0:
		// The usual case, in 64-bit arithmetic (the same values as the general one).
		mean, deviation, value := a.mean.Lo, a.deviation.Lo, amount.Lo
		difference := value - mean
		if value < mean {
			difference = mean - value
			a.mean.Lo = mean - difference>>shift
		} else {
			a.mean.Lo = mean + difference>>shift
		}
		if difference < deviation {
			a.deviation.Lo = deviation - (deviation-difference)>>shift
		} else {
			a.deviation.Lo = deviation + (difference-deviation)>>shift
		}
	default:
		difference := absoluteDifference(amount, a.mean)
		a.mean = moveToward(a.mean, amount, shift)
		a.deviation = moveToward(a.deviation, difference, shift)
	}
	if a.count != ^uint32(0) {
		a.count++
	}
}

// moveToward returns value moved toward target by (target − value) >> shift.
func moveToward(value, target model.Uint128, shift uint8) model.Uint128 {
	if value.Less(target) {
		return value.MustAdd(shiftRight(target.MustSub(value), shift))
	}
	return value.MustSub(shiftRight(value.MustSub(target), shift))
}

func absoluteDifference(x, y model.Uint128) model.Uint128 {
	if x.Less(y) {
		return y.MustSub(x)
	}
	return x.MustSub(y)
}

var maxUint128 = model.Uint128{Lo: ^uint64(0), Hi: ^uint64(0)}

func saturatingAdd(x, y model.Uint128) model.Uint128 {
	sum, overflow := x.Add(y)
	if overflow {
		return maxUint128
	}
	return sum
}

// shiftRight returns x >> shift (shift below 64).
func shiftRight(x model.Uint128, shift uint8) model.Uint128 {
	if shift == 0 {
		return x
	}
	return model.Uint128{Lo: x.Lo>>shift | x.Hi<<(64-shift), Hi: x.Hi >> shift}
}

// accountCell is one account's counters under the velocity and anomaly rules that apply
// to it: its window and its averages, each stamped with the generation of its rule (a
// part of another generation is empty). One record per account, 192 bytes (three cache
// lines, chunks start on a page): the generations, the averages and the window's hot
// fields (its end, totals and newest bucket) fill the first two lines, so a transfer
// under both rules touches two lines; the window's older buckets, read and written only
// when it moves on to a later bucket, fill the third (TestAccountCellLayout).
type accountCell struct {
	velocityGeneration uint32
	anomalyGeneration  uint32
	averages           averages
	window             window
	_                  [accountCellPadding]byte
}

// accountCellPadding rounds accountCell (168 bytes of fields) up to three cache lines, so
// that every record starts on a line.
const accountCellPadding = 24

// cells is a per-account array in chunks of 2^cellChunkShift, grown to cover an index
// when needed (growth allocates one chunk; records never move, so a snapshot can copy
// them).
type cells[T any] struct {
	chunks [][]T
	count  uint32 // Accounts covered.
}

// at returns the cell of account index, growing the array to cover it.
func (c *cells[T]) at(index uint32) *T {
	if index >= c.count {
		c.grow(index + 1)
	}
	return &c.chunks[index>>cellChunkShift][index&cellChunkMask]
}

// peek returns the cell of account index if the array covers it, else nil.
func (c *cells[T]) peek(index uint32) *T {
	if index >= c.count {
		return nil
	}
	return &c.chunks[index>>cellChunkShift][index&cellChunkMask]
}

// grow covers count accounts.
func (c *cells[T]) grow(count uint32) {
	for uint64(len(c.chunks))<<cellChunkShift < uint64(count) {
		c.chunks = append(c.chunks, make([]T, 1<<cellChunkShift))
	}
	c.count = max(c.count, count)
}
