//go:build !race

package router

// sessionOrderSeedsDefault: TestSessionOrderPerShard's seeds (fewer under the race
// detector: race_on_test.go says why).
const sessionOrderSeedsDefault = 16

// allocationsCounted: allocation counts hold only without the race detector, whose
// instrumentation allocates too (TestReleasedMakesRoomForWhatItSendsOnOnce).
const allocationsCounted = true
