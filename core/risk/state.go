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
// ones by age. Their amounts, touched only when the window moves on to a later bucket
// with amounts to carry, live apart (olderAmounts: beside a rule's window, in a cold
// per-account array for an account's), so that an account cell holds only what a
// transfer touches (accountCell). olderKept says whether they hold anything: when not,
// they are all zero whatever the array holds, so a window is emptied (a rule replaced,
// or every bucket passed) without writing them. The snapshot writes the buckets by slot
// (bucket number modulo model.RiskWindowBuckets), as the layout before this one kept
// them (encodeWindow).
type window struct {
	end          uint64        // When the newest bucket ends ((newest+1) × bucketNs; 0: not known yet).
	amount       model.Uint128 // Σ amounts (saturating at 2^128−1).
	count        uint64        // Σ counts.
	newestAmount model.Uint128 // The newest bucket's amount and count.
	newestCount  uint32
	olderCounts  [windowOlderBuckets]uint32 // Bucket newest−1−i at i.
	newest       uint64                     // Number of the newest bucket (timestamp / bucketNs).
	olderKept    bool                       // The olderAmounts hold the older buckets' amounts (else all zero).
}

// olderAmounts are the amounts of a window's older buckets, bucket newest−1−i at i.
type olderAmounts [windowOlderBuckets]model.Uint128

// windowOlderBuckets is the buckets of a window before its newest.
const windowOlderBuckets = model.RiskWindowBuckets - 1

// due reports whether timestamp is past the newest bucket's end: moveTo must run before
// the window is checked or added to.
func (w *window) due(timestamp uint64) bool { return timestamp >= w.end }

// advance moves the window to the bucket holding timestamp (see moveTo). Small enough to
// inline: nearly always the newest bucket still holds timestamp, and then the check is
// all it costs.
func (w *window) advance(timestamp uint64, bucketNs uint64, older *olderAmounts) {
	if w.due(timestamp) {
		w.moveTo(timestamp, bucketNs, older)
	}
}

// moveTo moves the window to the bucket holding timestamp, emptying the buckets it
// passes; older holds its older buckets' amounts (it may be nil when the window keeps
// none and its newest amount is zero: then the move reads and writes none).
func (w *window) moveTo(timestamp uint64, bucketNs uint64, older *olderAmounts) {
	if bucket := timestamp / bucketNs; bucket > w.newest {
		w.age(bucket-w.newest, older)
		w.newest = bucket
		w.total(older)
	}
	w.end = (w.newest + 1) * bucketNs
}

// olderAmount returns the amount of the bucket newest−1−i.
func (w *window) olderAmount(i int, older *olderAmounts) model.Uint128 {
	if !w.olderKept {
		return model.Uint128{}
	}
	return older[i]
}

// age makes every bucket steps (at least 1) buckets older, dropping those that leave the
// window, and starts an empty newest bucket. The older buckets are rewritten oldest
// first, so that each reads a younger one not yet rewritten; their amounts are written
// only when one is not zero.
func (w *window) age(steps uint64, older *olderAmounts) {
	var amounts olderAmounts
	if steps < model.RiskWindowBuckets {
		for i := windowOlderBuckets - 1; i >= 0; i-- {
			// Bucket newest−1−i after the move was newest−1−i+steps before it.
			switch before := uint64(i+1) - steps; {
			case uint64(i+1) < steps:
				amounts[i], w.olderCounts[i] = model.Uint128{}, 0
			case before == 0:
				amounts[i], w.olderCounts[i] = w.newestAmount, w.newestCount
			default:
				amounts[i], w.olderCounts[i] = w.olderAmount(int(before-1), older),
					w.olderCounts[before-1]
			}
		}
	} else {
		w.olderCounts = [windowOlderBuckets]uint32{}
	}
	w.olderKept = amounts != olderAmounts{}
	if w.olderKept {
		*older = amounts
	}
	w.newestAmount, w.newestCount = model.Uint128{}, 0
}

// total recomputes the running totals from the buckets.
func (w *window) total(older *olderAmounts) {
	w.amount, w.count = w.newestAmount, uint64(w.newestCount)
	for i := range windowOlderBuckets {
		// Order does not matter: see add.
		w.amount = saturatingAdd(w.amount, w.olderAmount(i, older))
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

// slot returns the age of the bucket in slot (bucket number modulo
// model.RiskWindowBuckets, the order the snapshot lists them in): 0 for the newest,
// i+1 for older bucket i.
func (w *window) slot(slot int) int {
	// 2^64 is a multiple of the bucket count, so wrapping below 0 keeps it exact.
	return int((w.newest - uint64(slot)) % model.RiskWindowBuckets)
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
// part of another generation is empty). One record per account of two cache lines
// (chunks start on a page), what a transfer under both rules touches; its window's older
// amounts, written only when the window moves on with amounts to carry, are in the
// engine's cold array (TestAccountCellLayout).
type accountCell struct {
	velocityGeneration uint32
	anomalyGeneration  uint32
	averages           averages
	window             window
}

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
