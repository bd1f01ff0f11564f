package e2e

import (
	"math/rand/v2"
	"testing"
	"time"
)

// crashloop53: TestCrashLoop says it SIGKILLs the server under load, but its workers sent
// a fixed 50 batches each per cycle and stopped: on an idle machine they were often done
// before the cycle's 20-220 ms sleep ended, so the kill hit an idle server with every
// request answered (6 or 7 kills of 20 landed under load in three runs here), and the
// resend of unanswered requests across a crash went mostly untested. crashLoopUnderLoad
// runs the workers until the server is back from each kill and counts the kills that
// landed while the load was still running.

// crashBatchesPerCycleMax bounds the batches one worker of crashLoopUnderLoad sends in
// one cycle, so that the transfers the final exactly-once check looks up (and `sequent
// wal verify` replays) stay bounded however fast the machine is and however long a
// restart takes under load: at most 80 000 a cycle (two workers of 100-transfer
// batches). In practice a cycle sends about half that (crashBatchesBeforeKill): about
// 40 000 at most, 590 000 in the 20 cycles, against 205 000 before, for a run time about
// the same as before (7.3 s here, 5.6 to 7.3 s before: the idle cycles waited too).
const crashBatchesPerCycleMax = 400

// crashBatchesBeforeKill: once the two workers of a cycle have together had this many
// batches answered, the kill comes without waiting for the rest of the random sleep. A
// fast machine would otherwise reach crashBatchesPerCycleMax within a long sleep (with a
// cap of 200 and no early kill, only 15 to 18 kills of 20 landed under load here) and
// the kill would land after the load; this way each worker still has about half of its
// cap to send when the kill comes. On an idle machine here 6 kills of 20 come early.
const crashBatchesBeforeKill = crashBatchesPerCycleMax

// crashKillsUnderLoadPercentMin is the share of crashLoopUnderLoad's kills that must land
// while a worker is still sending. Not necessarily all (a worker whose batch failed stops
// early), but most, or the test tests crashes of an idle server.
const crashKillsUnderLoadPercentMin = 90

// crashProgressPoll is how often crashLoopUnderLoad looks at the load's progress while it
// waits for the moment of a kill.
const crashProgressPoll = time.Millisecond

// crashLoopUnderLoad is crashLoop for a load of transfers whose workers send until they
// are halted after each restart (at most crashBatchesPerCycleMax batches each), so that
// the kills land under load: cycles of start two workers, wait a random 20-220 ms (less
// once crashBatchesBeforeKill batches were answered), SIGKILL the server and restart it,
// halt the workers (each finishes the batch it had in flight, resent after the
// reconnect); then one last round of 50 batches with the server up. A load error fails
// the test, and so do fewer than crashKillsUnderLoadPercentMin percent of the kills
// landing while a worker was still sending.
func crashLoopUnderLoad(t *testing.T, s *server, cycles int, random *rand.Rand, l *load) {
	t.Helper()
	l.batches = crashBatchesPerCycleMax
	underLoad, early, sentMost := 0, 0, 0
	for cycle := range cycles {
		sentBefore, answeredBefore := len(l.sent), l.answered.Load()
		l.run(2)
		watch := watchLoad(l)
		killAt := time.Now().Add(time.Duration(20+random.IntN(200)) * time.Millisecond)
		for time.Now().Before(killAt) {
			if l.answered.Load()-answeredBefore >= crashBatchesBeforeKill {
				early++
				break
			}
			time.Sleep(crashProgressPoll)
		}
		if watch.running() {
			underLoad++
		}
		s.kill()
		s.restart()
		l.halt()
		watch.done()
		if l.err != nil {
			t.Fatalf("cycle %d: %v", cycle, l.err)
		}
		l.mutex.Lock()
		sentMost = max(sentMost, len(l.sent)-sentBefore)
		l.mutex.Unlock()
	}
	l.batches = 50
	l.run(1)
	l.wait()
	if l.err != nil {
		t.Fatalf("after the crashes: %v", l.err)
	}
	t.Logf("%d of %d kills landed under load (%d before the end of their sleep); at most "+
		"%d transfers sent in a cycle", underLoad, cycles, early, sentMost)
	if underLoad*100 < cycles*crashKillsUnderLoadPercentMin {
		t.Fatalf("only %d of %d kills landed while the load was running (at least %d%% must)",
			underLoad, cycles, crashKillsUnderLoadPercentMin)
	}
}
