package drill

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// cycle performs one failover: kill (or stop) the primary at a random moment, promote the
// standby (or wait for the witness to), measure the recovery, (resume a stopped primary
// and check it is fenced,) restart the old primary as the new standby and wait for it to
// catch up.
func (d *drill) cycle(ctx context.Context, number int) error {
	wait := d.config.KillAfterMin
	if spread := d.config.KillAfterMax - d.config.KillAfterMin; spread > 0 {
		wait += time.Duration(d.random.Int64N(int64(spread)))
	}
	time.Sleep(wait)
	if err := d.checkRoles(ctx); err != nil {
		return err
	}
	old, next := d.nodes[d.primary], d.nodes[1-d.primary]
	if d.config.Fault == FaultStop {
		old.suspend()
	} else {
		old.kill()
	}
	faulted := time.Now()
	d.kills = append(d.kills, faulted.Format("15:04:05.000000"))
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
	promoted := time.Now()
	acknowledged, err := d.waitForAck(bounded, faulted)
	if err != nil {
		return err
	}
	result := Cycle{Cycle: number, Fault: d.config.Fault, Killed: old.name, Promoted: next.name,
		Epoch: epoch, RTOMs: milliseconds(acknowledged.Sub(faulted)),
		PromotedMs: milliseconds(promoted.Sub(faulted))}
	if d.config.Fault == FaultStop {
		if err := d.resumeFenced(bounded, old, &result); err != nil {
			return err
		}
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
		return s.Role == "standby" && s.caughtUp(&target)
	}); err != nil {
		return err
	}
	result.CatchUpMs = milliseconds(time.Since(restart))
	result.Acknowledged = d.load.acknowledgedCount()
	d.report.CycleReports = append(d.report.CycleReports, result)
	d.primary = 1 - d.primary
	d.progress(result)
	return nil
}

// resumeFenced sends SIGCONT to the stopped old primary and waits until it reports itself
// fenced (its lease expired while it was stopped, or the new primary's fence reached
// it). It must not have released anything its standby had not acknowledged (in sync
// mode, a release beyond that would be a write acknowledged by this node alone); then it
// is stopped, to be restarted as the new standby.
func (d *drill) resumeFenced(ctx context.Context, old *node, result *Cycle) error {
	resumed := time.Now()
	old.resume()
	var fenced status
	if err := old.waitFor(ctx, "the resumed old primary to find itself fenced",
		func(s status) bool {
			fenced = s
			return s.Role == "fenced"
		}); err != nil {
		return err
	}
	result.FencedMs = milliseconds(time.Since(resumed))
	shard, released, acknowledged, alone := fenced.releasedAlone()
	result.ResumedReleasedOp, result.ResumedAcknowledgedOp = released, acknowledged
	if !alone && len(fenced.Shards) > 0 {
		result.ResumedReleasedOp = fenced.Shards[0].ReleasedOp
		result.ResumedAcknowledgedOp = fenced.Shards[0].AcknowledgedOp
	}
	if !fenced.Replication.Degraded && alone {
		d.report.Problems = append(d.report.Problems, fmt.Sprintf("cycle %d: the resumed old "+
			"primary %s released op %d of shard %d, beyond the op %d its standby acknowledged",
			result.Cycle, old.name, released, shard, acknowledged))
	}
	old.stop(stopTimeout)
	return nil
}

// progress prints one line per cycle.
func (d *drill) progress(result Cycle) {
	if d.config.Progress == nil {
		return
	}
	fenced := ""
	if result.Fault == FaultStop {
		fenced = fmt.Sprintf(", resumed and fenced in %.0f ms", result.FencedMs)
	}
	fmt.Fprintf(d.config.Progress, "drill: cycle %d: %s %s, %s promoted at epoch %d after "+
		"%.0f ms, RTO %.0f ms%s, catch-up %.0f ms, %d acknowledged so far\n", result.Cycle,
		map[Fault]string{FaultKill: "killed", FaultStop: "stopped"}[result.Fault], result.Killed,
		result.Promoted, result.Epoch, result.PromotedMs, result.RTOMs, fenced,
		result.CatchUpMs, result.Acknowledged)
}

// waitForAck waits for the first write sent after the fault and acknowledged: the end of
// the outage as a client sees it.
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
