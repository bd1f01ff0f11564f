package netio_test

import (
	"testing"
	"time"
)

// TestReview50StalledLoopTestOutlivesItsGoroutineHeld (review of flake50, which made
// TestStalledLoopDoesNotCloseConnectionsThatSpoke robust to its goroutine being held past
// the silence timeout by having P go on speaking): X, whose login parked the loop, was
// silent once logged in, so the same delay, coming after X's login instead of during the
// stall, had the server close X for silence_timeout (rightly: X said nothing for a
// second) and the test fail on "silence timeouts 1, want 0". The test's body runs here
// with its goroutine held for two silence timeouts after X's login.
func TestReview50StalledLoopTestOutlivesItsGoroutineHeld(t *testing.T) {
	stalledLoopDoesNotCloseConnectionsThatSpoke(t, 2*time.Second)
}
