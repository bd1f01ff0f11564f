package replication

import (
	"errors"
	"sync/atomic"
	"time"

	"sequent/core/shard"
)

// leaseCounters count a primary's witness lease renewals, since the process started
// (they survive a promotion and a fence). Written by the lease goroutine; any goroutine
// reads them.
type leaseCounters struct {
	renewals atomic.Uint64 // Renewals the witness granted.
	failures atomic.Uint64 // Renewals that got no answer (witness unreachable or slow).
	lost     atomic.Uint64 // Leases lost: ran out, or the witness gave them to the other node.
}

// holdLease renews the primary's witness lease every quarter of its duration. If no
// renewal succeeds before the last granted lease (counted from when its request was sent,
// shortened by a safety margin for clock rates) runs out, the primary fences itself: a
// standby may be promoted from then on, and two primaries must never both acknowledge.
// The fence runs on time even while the witness hangs: each request is bounded by the
// lease time left, and the wait between requests ends when the lease does.
func (n *Node) holdLease(stop <-chan struct{}) {
	interval := n.config.LeaseDuration / 4
	validUntil := time.Now().Add(n.config.LeaseDuration * leaseSafetyPercent / 100)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	expiry := time.NewTimer(time.Until(validUntil))
	defer expiry.Stop()
	for {
		if !time.Now().Before(validUntil) {
			n.config.Logger.Error("replication: witness unreachable and the lease ran out: fencing")
			n.lease.lost.Add(1)
			n.shard.Fence(n.shard.Epoch()+1, "")
			return
		}
		sent := time.Now()
		deadline := sent.Add(interval)
		if validUntil.Before(deadline) {
			deadline = validUntil
		}
		answer, err := askWitness(n.config.Witness, n.clientTLS(), n.config.Key, leaseRenew,
			n.config.NodeName, n.shard.Epoch(), deadline)
		switch {
		case err == nil && answer.granted:
			validUntil = sent.Add(answer.valid * leaseSafetyPercent / 100)
			expiry.Reset(time.Until(validUntil))
			n.lease.renewals.Add(1)
		case err == nil:
			n.config.Logger.Error("replication: the witness gave the lease to another node: fencing",
				"holder", answer.holder, "epoch", answer.epoch)
			n.lease.lost.Add(1)
			n.shard.Fence(max(answer.epoch, n.shard.Epoch()+1), "")
			return
		default:
			n.lease.failures.Add(1)
			n.config.Logger.Warn("replication: lease renewal failed", "error", err,
				"lease_left", time.Until(validUntil))
		}
		select {
		case <-stop:
			return
		case <-ticker.C:
		case <-expiry.C: // The loop's first check fences.
		}
	}
}

// watchPrimary promotes this standby automatically once it has lost its primary (the
// stream broke and reconnecting fails, or the primary went silent past silenceTimeout)
// and the witness grants it the lease. The witness grants only after the primary's lease
// expired, which the primary lets happen only by fencing itself or by being gone, so the
// standby never becomes a second acknowledging primary. Failover therefore takes about
// one lease after the primary's last renewal.
func (n *Node) watchPrimary(stop <-chan struct{}) {
	ticker := time.NewTicker(n.config.LeaseDuration / 4)
	defer ticker.Stop()
	refusalLogged := false
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
		}
		if n.standby.connected.Load() || n.shard.Role() != shard.RoleStandby {
			continue
		}
		epoch, err := n.Promote()
		if errors.Is(err, ErrUnauthenticated) && !refusalLogged {
			// Not a matter of waiting: the witness refuses this node (a TLS mismatch), so
			// automatic failover cannot happen until that is fixed. Said once, loudly.
			n.config.Logger.Error("replication: the witness refuses this node: automatic failover is impossible",
				"error", err)
			refusalLogged = true
			continue
		}
		if err != nil {
			n.config.Logger.Debug("replication: automatic failover not possible yet", "error", err)
			continue
		}
		n.config.Logger.Warn("replication: AUTOMATIC FAILOVER: promoted", "epoch", epoch)
		return
	}
}
