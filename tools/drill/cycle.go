package drill

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// cycle performs one failover: kill the primary at a random moment, promote the standby
// (or wait for the witness to), measure the recovery, restart the old primary as the new
// standby and wait for it to catch up.
func (d *drill) cycle(ctx context.Context, number int) error {
	wait := d.config.KillAfterMin
	if spread := d.config.KillAfterMax - d.config.KillAfterMin; spread > 0 {
		wait += time.Duration(d.random.Int64N(int64(spread)))
	}
	time.Sleep(wait)
	old, next := d.nodes[d.primary], d.nodes[1-d.primary]
	old.kill()
	killed := time.Now()
	d.kills = append(d.kills, killed.Format("15:04:05.000000"))
	bounded, cancel := context.WithTimeout(ctx, failoverTimeout)
	defer cancel()
	if !d.config.Automatic {
		if err := retry(bounded, func() error {
			if !next.running() {
				return errStop{fmt.Errorf("%s, the standby to promote, is not running", next.name)}
			}
			return next.promote(bounded, d.token)
		}); err != nil {
			return err
		}
	}
	var epoch uint64
	if err := next.waitFor(bounded, "promotion", func(s status) bool {
		epoch = s.Epoch
		return s.Role == "primary"
	}); err != nil {
		return err
	}
	acknowledged, err := d.waitForAck(bounded, killed)
	if err != nil {
		return err
	}
	restart := time.Now()
	if err := old.startServing(bounded, next.replication); err != nil {
		return err
	}
	target, err := next.status(bounded)
	if err != nil {
		return err
	}
	if err := old.waitFor(bounded, "catch-up", func(s status) bool {
		return s.Role == "standby" && s.durableOp() >= target.durableOp()
	}); err != nil {
		return err
	}
	result := Cycle{Cycle: number, Killed: old.name, Promoted: next.name, Epoch: epoch,
		RTOMs:        milliseconds(acknowledged.Sub(killed)),
		CatchUpMs:    milliseconds(time.Since(restart)),
		Acknowledged: d.load.acknowledgedCount()}
	d.report.CycleReports = append(d.report.CycleReports, result)
	d.primary = 1 - d.primary
	if d.config.Progress != nil {
		fmt.Fprintf(d.config.Progress, "drill: cycle %d: killed %s, %s promoted at epoch %d, "+
			"RTO %.0f ms, catch-up %.0f ms, %d acknowledged so far\n", number, result.Killed,
			result.Promoted, epoch, result.RTOMs, result.CatchUpMs, result.Acknowledged)
	}
	return nil
}

// waitForAck waits for the first write acknowledged after the kill: the end of the
// outage as a client sees it.
func (d *drill) waitForAck(ctx context.Context, killed time.Time) (time.Time, error) {
	for {
		if at, ok := d.load.firstAckAfter(killed); ok {
			return at, nil
		}
		select {
		case <-ctx.Done():
			d.load.mutex.Lock()
			defer d.load.mutex.Unlock()
			return time.Time{}, fmt.Errorf("%w (last load error: %v)", errNoProgress, d.load.failure)
		case <-time.After(time.Millisecond):
		}
	}
}

// retry calls action until it succeeds or ctx ends.
func retry(ctx context.Context, action func() error) error {
	for {
		err := action()
		if err == nil {
			return nil
		}
		var stop errStop
		if errors.As(err, &stop) {
			return stop.err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// errStop ends a retry at once: retrying cannot help.
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }

func milliseconds(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
