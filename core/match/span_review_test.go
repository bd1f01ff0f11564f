package match

import (
	"testing"

	"pgregory.net/rapid"
)

// TestAgainstNaiveRestoredOften is TestAgainstNaive with a snapshot and restore before
// any step at random (about one step in six) instead of once: with a window of 4 to 60
// commands aged by opted-in accounts too, restores land before, inside and after
// opted-in accounts' spans and while the window holds slots without a key, and every
// one must continue exactly as the naive model (which is never restored) and encode
// to the same bytes and digest as the engine it replaces.
func TestAgainstNaiveRestoredOften(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		p := newPropertyRun(rt)
		steps := rapid.IntRange(1, 160).Draw(rt, "steps")
		for step := 0; step < steps; step++ {
			if rapid.IntRange(0, 5).Draw(rt, "restore") == 0 {
				p.h.restoreRoundTrip()
			}
			p.step(step)
		}
	})
}
