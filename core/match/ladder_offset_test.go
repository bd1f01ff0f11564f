package match

import "testing"

// TestLadderOffsetMatchesDivision checks offset's shift path (ticks that are powers of
// two) against the division it replaces, and the division path for other ticks: the
// entry of every price on the tick in and around the span, and outside for the rest.
func TestLadderOffsetMatchesDivision(t *testing.T) {
	for _, tick := range []uint64{1, 2, 3, 4, 5, 8, 10, 64, 1000, 1 << 20, 3 << 20} {
		d := newLadder(tick)
		if d.tickIsPowerOfTwo != (tick&(tick-1) == 0) {
			t.Fatalf("tick %d: tickIsPowerOfTwo %v", tick, d.tickIsPowerOfTwo)
		}
		for _, base := range []uint64{0, tick, 777 * tick} {
			d.base = base
			for step := uint64(0); step < ladderTicks+3; step++ {
				for _, below := range []bool{false, true} {
					if below && step > base/tick {
						continue
					}
					price, wantOffset, wantInside := base+step*tick, int(step), step < ladderTicks
					if below {
						price, wantOffset, wantInside = base-step*tick, 0, step == 0
					}
					if !wantInside {
						wantOffset = 0
					}
					offset, inside := d.offset(price)
					if offset != wantOffset || inside != wantInside {
						t.Fatalf("tick %d, base %d, price %d: offset %d, %v; want %d, %v",
							tick, base, price, offset, inside, wantOffset, wantInside)
					}
				}
			}
		}
	}
}
