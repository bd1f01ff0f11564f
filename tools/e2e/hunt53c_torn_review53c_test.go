package e2e

// review-hunt53c: TestHunt53cKillAndTearTheLastWrite says its SIGKILLs land under load,
// where an entry is written but not yet answered (the only kind it may tear). Its
// workers sent 50 batches each and stopped: on an idle machine they were done within
// the cycle's 20-520 ms, so most kills hit an idle server whose newest entry was
// acknowledged (a run here: 9 of 10 kills, 1 entry torn). loadRunning records, at each
// kill, whether the load was still running; the test fails on a kill after the load
// ended.

// loadWatch reports when every worker of one run of a load has returned.
type loadWatch struct{ finished chan struct{} }

// watchLoad starts watching the workers that l.run just started. Call done after the
// workers were waited for (halt or wait), before the load's next run.
func watchLoad(l *load) *loadWatch {
	w := &loadWatch{finished: make(chan struct{})}
	go func() { l.wait(); close(w.finished) }()
	return w
}

// running reports whether a worker of the run is still sending.
func (w *loadWatch) running() bool {
	select {
	case <-w.finished:
		return false
	default:
		return true
	}
}

// done waits for the watcher (the load's WaitGroup must not be reused before every Wait
// on it returned).
func (w *loadWatch) done() { <-w.finished }
