package bench

import (
	"testing"
	"time"
)

// timerTestBound bounds each wait for the worker's timer in these tests (a timer armed
// for 1 ns fires long before, however loaded the machine).
const timerTestBound = time.Minute

// TestWorkerTimerReArmedAfterFiring: armTimer skips re-arming the loop's timer for the
// time it is armed for already (a closed loop asks for the run's end after every call),
// but once the timer fired and loop took it (timerFired) the same time arms it again:
// a worker asking for a time already passed is woken, not left waiting for a completion.
func TestWorkerTimerReArmedAfterFiring(t *testing.T) {
	w := &worker{timer: time.NewTimer(time.Hour), timerAtNs: timerUnarmed}
	defer w.timer.Stop()
	for round := range 3 {
		w.armTimer(0, 1)
		w.armTimer(0, 1) // Armed for that time already: left as it is.
		select {
		case <-w.timer.C:
			w.timerFired()
		case <-time.After(timerTestBound):
			t.Fatalf("round %d: the timer armed for 1 ns did not fire", round)
		}
		if w.timerAtNs != timerUnarmed {
			t.Fatalf("round %d: after firing, armed for %d", round, w.timerAtNs)
		}
	}
}
