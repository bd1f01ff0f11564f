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
	// unsigned: the witness's last answer came unsigned (v1, accepted over TLS or as
	// allowed); said when it changes (askLease).
	unsigned atomic.Bool
	// refused counts the witness's answers this node did not trust, by reason, apart from
	// the failures above (a renewal refused so is also a failure there): on the primary's
	// renewals and on the standby's and a promotion's acquisitions alike. Any of them
	// means a witness that is not the one expected or an attacker on the path, not a slow
	// network.
	refused [witnessRefusalReasons]atomic.Uint64
	// ratchetStoreLogged: the ratchet's marker could not be written (said once).
	ratchetStoreLogged atomic.Bool
	// probesNotAnnouncedLogged: the witness was not probed (errWitnessProbeNotServed;
	// said once, by the failover watch).
	probesNotAnnouncedLogged atomic.Bool
	// ratchetStoreFailures counts the marker's failed writes (written by the ratchet's
	// writer goroutine).
	ratchetStoreFailures atomic.Uint64
}

// Reasons a witness's answer was not trusted (leaseCounters.refused; WitnessRefusals in
// the status).
const (
	// witnessRefusedForged: a signed answer whose mac did not verify (ErrWitnessReplyForged).
	witnessRefusedForged = iota
	// witnessRefusedIdentity: a witness that does not prove the pinned id
	// (ErrWitnessIdentity).
	witnessRefusedIdentity
	// witnessRefusedUnsigned: a witness that does not sign, unsigned answers not allowed
	// (ErrWitnessUnsigned).
	witnessRefusedUnsigned
	// witnessRefusedDowngrade: a witness that does not sign, after a signed answer (the
	// ratchet, ErrWitnessDowngrade).
	witnessRefusedDowngrade
	witnessRefusalReasons
)

// countRefusal counts err among the refused answers when it says the answer was not
// trusted (any other error is a failure to reach the witness, counted by the caller).
func (c *leaseCounters) countRefusal(err error) {
	if reason := witnessRefusalReason(err); reason >= 0 {
		c.refused[reason].Add(1)
	}
}

// witnessRefusalReason returns the reason err gives not to trust the witness's answer
// (witnessRefusedForged...), or -1 when it gives none (the witness unreachable or slow).
func witnessRefusalReason(err error) int {
	switch {
	case errors.Is(err, ErrWitnessDowngrade): // Before ErrWitnessUnsigned, which it wraps.
		return witnessRefusedDowngrade
	case errors.Is(err, ErrWitnessUnsigned):
		return witnessRefusedUnsigned
	case errors.Is(err, ErrWitnessReplyForged):
		return witnessRefusedForged
	case errors.Is(err, ErrWitnessIdentity):
		return witnessRefusedIdentity
	}
	return -1
}

// askLease asks the witness as this node: its address, TLS, key and name, whether it
// accepts unsigned replies, its ratchet, and the witness id it pins. An answer accepted
// unsigned (from a witness of an earlier build) is logged at Warn when the witness starts
// answering so, and at Info when it signs again (upgraded): every quarter lease would
// flood the log. A signed answer raises the ratchet (witness_ratchet.go); an answer not
// trusted is counted by its reason (leaseCounters.refused).
func (n *Node) askLease(kind byte, epoch uint64, deadline time.Time) (leaseAnswer, error) {
	client := witnessClient{address: n.config.Witness, tls: n.clientTLS(), key: n.config.Key,
		unsignedAllowed: n.config.WitnessUnsignedAllowed,
		signedRequired:  n.ratchet.raised.Load(), pinnedID: n.config.WitnessID}
	answer, err := client.ask(n.lifetime, kind, n.config.NodeName, epoch, deadline)
	if err == nil && !answer.signed && client.tls == nil && n.ratchet.raised.Load() {
		// Raised by another ask while this one ran (the failover watch beside a manual
		// promotion): the ratchet holds for this answer too.
		answer, err = leaseAnswer{}, ErrWitnessDowngrade
	}
	if err != nil {
		n.lease.countRefusal(err)
		return answer, err
	}
	if answer.signed {
		n.raiseRatchet(epoch)
	}
	if unsigned := !answer.signed; n.lease.unsigned.Swap(unsigned) != unsigned {
		if unsigned {
			because := "TLS"
			if client.tls == nil {
				because = "unsigned replies allowed (--witness-allow-unsigned)"
			}
			n.config.Logger.Warn("replication: witness does not sign its replies: upgrade it",
				"accepted_by", because)
		} else {
			n.config.Logger.Info("replication: the witness signs its replies again")
		}
	}
	return answer, nil
}

// raiseRatchet raises the node's ratchet after a signed answer (nothing once it is
// raised and stored), and says so: at Info when it rises, at Error (once) when its
// marker cannot be written, in which case it holds in this process only until a later
// write succeeds (tried again at a signed answer, once a lease at most), and at Info when
// a marker that could not be written, or was found damaged at start, is written. The
// marker is written off this goroutine (witnessRatchet.raise): a slow disk delays
// neither a renewal nor a promotion.
func (n *Node) raiseRatchet(epoch uint64) {
	raisedNow := n.ratchet.raise(epoch, time.Now(), n.config.LeaseDuration, n.ratchetStored)
	if raisedNow {
		n.config.Logger.Info("replication: the witness signs its answers: this node refuses "+
			"unsigned ones from now on (without TLS), whatever --witness-allow-unsigned says",
			"marker", n.ratchet.path)
	}
}

// ratchetStored is told, on the ratchet's writer goroutine, how a write of its marker
// ended (see raiseRatchet).
func (n *Node) ratchetStored(err error) {
	if err != nil {
		n.lease.ratchetStoreFailures.Add(1)
		if !n.lease.ratchetStoreLogged.Swap(true) {
			n.config.Logger.Error("replication: the witness ratchet's marker cannot be "+
				"written: it holds until this process ends; retried at a signed answer, "+
				"once a lease at most", "path", n.ratchet.path, "error", err)
		}
		return
	}
	if n.lease.ratchetStoreFailures.Load() > 0 || n.ratchetDamagedAtStart {
		n.config.Logger.Info(ratchetWrittenMessage, "path", n.ratchet.path)
	}
}

// ratchetWrittenMessage is what a node logs when the ratchet's marker is written after a
// failed write or over a marker found damaged at start.
const ratchetWrittenMessage = "replication: the witness ratchet's marker is written"

// witnessNotPinnedMessage is what a node with a witness and no pinned witness id logs
// once, at start (Node.Start): a standby asks the witness only when failing over, too
// late to be told.
const witnessNotPinnedMessage = "replication: the witness's identity is not pinned: any " +
	"witness holding the replication key is believed (a connection redirected to another " +
	"pair's witness could promote this node): pin it on both nodes with --witness-id (the " +
	"id the witness prints at start)"

// leaseClock is how long the primary may count on its witness lease: until a monotonic
// instant, written by the lease goroutine and read by the release path (Primary.
// Acknowledged), which must not release on local durability past it. A nil clock (no
// witness) is always valid.
type leaseClock struct {
	untilNs atomic.Int64 // Monotonic ns since leaseClockBase.
}

// leaseClockBase anchors leaseClock readings on the monotonic clock.
var leaseClockBase = time.Now()

// set records the instant the lease runs out.
func (c *leaseClock) set(until time.Time) { c.untilNs.Store(int64(until.Sub(leaseClockBase))) }

// valid reports whether the lease still holds now.
func (c *leaseClock) valid() bool {
	return c == nil || int64(time.Since(leaseClockBase)) < c.untilNs.Load()
}

// leaseValidFrom is how long a lease granted for valid, asked for at sent, may be counted
// on: shortened by the safety margin for clock rates.
func leaseValidFrom(sent time.Time, valid time.Duration) time.Time {
	return sent.Add(valid * leaseSafetyPercent / 100)
}

// holdLease renews the primary's witness lease every quarter of its duration. If no
// renewal succeeds before the last granted lease (counted from when its request was sent,
// shortened by a safety margin for clock rates) runs out, the primary fences itself: a
// standby may be promoted from then on, and two primaries must never both acknowledge.
// The fence runs on time even while the witness hangs: each request is bounded by the
// lease time left, and the wait between requests ends when the lease does.
// n.leaseClock mirrors the granted lease for the release path, which closes on time even
// if this goroutine runs late (a process stopped and resumed). validUntil is when to
// fence if no renewal succeeds: the promotion's grant, or at start one lease from now
// (the release path counts on nothing until a grant: see Start). Every group's release
// path is woken when a grant opens it, so that what waits for it goes out.
func (n *Node) holdLease(stop <-chan struct{}, validUntil time.Time) {
	interval := n.config.LeaseDuration / 4
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	expiry := time.NewTimer(time.Until(validUntil))
	defer expiry.Stop()
	var lastErr error // The last renewal's failure, named when the lease runs out.
	for first := true; ; first = false {
		// The first renewal is asked even if the lease has run out already: a promotion
		// slower than the lease (a slow fsync of the epoch) must not fence the new primary
		// at once and for good while the witness would still renew the lease it granted.
		// Meanwhile the release path counts on no lease, and the witness renews it only
		// if nobody took it since.
		if err := n.shardErr(); err != nil {
			// A shard's log failed: that shard takes no write until the node is restarted.
			// Holding the lease (and heartbeating the standby) would keep the standby from
			// taking over, as it would from a dead primary: let both go, the whole node
			// (it fails over as one).
			n.config.Logger.Error("replication: a log failed: giving up the lease and "+
				"fencing, so that the standby takes over", "error", err)
			n.lease.lost.Add(1)
			n.fenceBecause(n.Epoch()+1, "", "this node gave its witness lease up: a log failed")
			return
		}
		if !first && !time.Now().Before(validUntil) {
			n.config.Logger.Error("replication: witness unreachable and the lease ran out: fencing",
				"last_error", lastErr)
			n.lease.lost.Add(1)
			n.fenceBecause(n.Epoch()+1, "", "this node's witness lease ran out unrenewed")
			return
		}
		sent := time.Now()
		deadline := sent.Add(interval)
		if validUntil.After(sent) && validUntil.Before(deadline) {
			deadline = validUntil
		}
		answer, err := n.askLease(leaseRenew, n.Epoch(), deadline)
		switch {
		case err == nil && answer.granted:
			validUntil = leaseValidFrom(sent, answer.valid)
			// Counted before the replies it lets go are woken: whoever sees one of them
			// released sees the renewal counted too.
			n.lease.renewals.Add(1)
			wasValid := n.leaseClock.valid()
			n.leaseClock.set(validUntil)
			if !wasValid {
				n.wakeReleases() // Acknowledged may have risen.
			}
			expiry.Reset(time.Until(validUntil))
		case err == nil && answer.holder == "":
			// Refused with no holder: the witness could not store the grant (its log
			// says why: state file, name length). Nobody else holds the lease, but this
			// node's is not renewed either, so it fences as on any refusal; the reason
			// must not send the operator looking for another primary.
			n.config.Logger.Error("replication: the witness refused the renewal without a holder "+
				"(it could not store the grant: see the witness's log): fencing", "epoch", answer.epoch)
			n.lease.lost.Add(1)
			n.fenceBecause(max(answer.epoch, n.Epoch()+1), "",
				"the witness refused this node's lease renewal (it could not store the grant)")
			return
		case err == nil:
			n.config.Logger.Error("replication: the witness gave the lease to another node: fencing",
				"holder", answer.holder, "epoch", answer.epoch)
			n.lease.lost.Add(1)
			n.fenceBecause(max(answer.epoch, n.Epoch()+1), "",
				"the witness gave this node's lease to another node")
			return
		default:
			lastErr = err
			n.lease.failures.Add(1)
			n.config.Logger.Warn("replication: lease renewal failed", "error", err,
				"lease_left", time.Until(validUntil))
		}
		select {
		case <-stop:
			return
		case <-ticker.C:
		case <-expiry.C: // The loop's check fences.
		}
	}
}

// until returns the instant the lease runs out.
func (c *leaseClock) until() time.Time {
	return leaseClockBase.Add(time.Duration(c.untilNs.Load()))
}

// watchPrimary promotes this standby automatically once it has lost its primary: nothing
// heard from it for a whole lease (it died, it hangs, or the link is down; a hung
// process keeps its connection open, so waiting for the connection to break would add
// silenceTimeout) and the witness grants the lease. The witness grants only after the
// primary's lease expired, which the primary lets happen only by fencing itself or by
// being gone (or stopped: then it finds its lease expired when it resumes, and releases
// nothing on its own, see leaseClock), so the standby never becomes a second
// acknowledging primary. Failover therefore takes about one lease after the primary's
// last renewal, plus up to a quarter lease for this loop's tick. A promotion that fails
// once granted (the epoch cannot be stored) leaves the node a following standby and this
// loop running: it tries again at every tick while the primary stays lost, and says so
// at Error (once per cause, not every tick). After failedPromotionsPerGrantMax failures
// under one grant the node gives the grant up (grantGivenUpError), and this loop asks the
// witness nothing for releasedGrantHoldOffLeases leases (holdingOff, even when a manual
// Promote gave it up), so that the other node, if it is back, takes the lease instead of
// racing this one for it; the grant given up is released at the witness (session 52), and
// a release that got no answer is sent again at each tick before anything else
// (releasePendingGrant).
func (n *Node) watchPrimary(stop <-chan struct{}) {
	ticker := time.NewTicker(n.config.LeaseDuration / 4)
	defer ticker.Stop()
	refusalLogged, stoppedLogged, staleLogged := false, false, false
	// Each cause of an untrusted witness answer is said once (one line per cause at most, whatever
	// an attacker alternates): an unsigned witness said during an upgrade must not
	// silence forged replies, nor a downgrade refused by the ratchet, later.
	var untrustedLogged [witnessRefusalReasons]bool
	failedCause, failures := "", 0 // The last failed promotion's error; failures in all.
	// nextProbe is when probeWitness may ask again (zero: at once).
	var nextProbe time.Time
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
		}
		if n.Role() == shard.RoleStandby && n.releasePendingGrant() {
			// A grant given up whose release got no answer: nothing else on this tick, so
			// that an acquisition never overtakes it (the witness's written epoch would
			// then stay at the grant given up, and keep a node below it waiting).
			continue
		}
		if n.Role() != shard.RoleStandby || n.holdingOff() {
			continue
		}
		if n.primaryHeardWithin(n.config.LeaseDuration) {
			nextProbe = n.probeWitness(nextProbe, n.Epoch())
			continue
		}
		if err := n.Err(); err != nil {
			// Stopped for a reason no reconnection cures (a state digest that differs, a
			// log to resync, a refused key, a failed log): this node is known not to hold
			// the primary's state, so it must not take over on its own. An operator may
			// still promote it (Node.Promote). Said once.
			if !stoppedLogged {
				n.config.Logger.Error("replication: this standby stopped following: automatic "+
					"failover will not promote it", "error", err)
				stoppedLogged = true
			}
			continue
		}
		// A probe that failed (unreachable, a timeout, an untrusted reply) is no answer:
		// no acquisition on this tick, which could be granted without the check (the
		// holder's lease ran out) to a node that never followed the holder; its error is
		// said as an acquisition's would be, and the next tick asks again.
		holder, behind, err := n.behindTheWitness()
		if err == nil && behind {
			// The lease was last granted to another node at an epoch this node never
			// reached: it never followed that node, whose writes it lacks. Said once.
			if !staleLogged {
				n.config.Logger.Error(staleStandbyMessage, "epoch", n.Epoch(),
					"witness_epoch", holder.epoch, "holder", holder.holder,
					"released", holder.released, "written_epoch", holder.writtenEpoch)
				staleLogged = true
			}
			continue
		}
		var epoch uint64
		if err == nil {
			epoch, err = n.promote(true)
		}
		if errors.Is(err, errPromotionFailed) {
			failures++
			if cause := err.Error(); cause != failedCause {
				n.config.Logger.Error(automaticFailoverFailedMessage, "error", err)
				failedCause = cause
			} else {
				n.config.Logger.Debug(automaticFailoverFailedMessage, "error", err,
					"failures", failures)
			}
			continue
		}
		if errors.Is(err, ErrEpochFileAhead) {
			return // The node stopped, and said why (stopWithEpochFileAhead).
		}
		if reason := witnessRefusalReason(err); reason >= 0 && !untrustedLogged[reason] {
			// The witness's answer cannot be trusted (or cannot be had without trusting an
			// unsigned one): this standby will not promote on it. Said once per cause,
			// loudly: it may be an attack on the path to the witness, or an upgrade done
			// in the wrong order (the witness goes first).
			n.config.Logger.Error("replication: automatic failover refused the witness's "+
				"answer", "error", err)
			untrustedLogged[reason] = true
			continue
		}
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
		n.config.Logger.Warn("replication: AUTOMATIC FAILOVER: promoted", "epoch", epoch,
			"failed_attempts", failures)
		return
	}
}

// behindTheWitness asks the witness, by a probe (which changes nothing), whether it last
// granted the lease to another node at an epoch above this node's, and returns its
// answer. Such a node never followed that holder (a follower stores its primary's epoch
// when it aligns): an old primary restarted as the promoted node's standby while that
// node is down starts from its own log after PrimaryWaitAtStart, without the writes the
// promoted node acknowledged alone, and the lease runs out as that node is down, so the
// witness would grant it. A witness that does not answer probes (errWitnessProbeNotServed:
// an older build) says nothing: the acquisition decides as before. Any other failure of
// the probe (unreachable, a timeout, an untrusted reply) is returned, and the watch does
// not acquire on that tick: the acquisition, a request of its own, may reach the witness
// when the probe did not, and be granted to a stale node (review2-repl51: seen in the
// automatic drill under load).
//
// Since session 52 the probe asks for the written epoch too (leaseProbeWritten): when the
// witness's last grant was released by its grantee (a promotion that failed for good,
// given up before anything was written under it), the node compares its epoch with the
// highest epoch whose grantee may have written instead, so an old primary restarted as
// the standby of a node that gave its grant up is promoted again. A grant not released
// counts as written (a grantee that stored its epoch never releases it: see witness.go's
// Releases), and a witness before session 52 answers a plain probe (ask sends one): the
// check as before. A grant released by this node itself exempts it, as a grant not
// released does (the lease last granted to this node: nobody was granted it since, and
// this node passed the check when it acquired): the written epoch may be an earlier grant
// to this node that it never stored nor released (it restarted before it acquired again,
// or the release it sends before acquiring afresh, Node.releaseRunOutGrantLocked, was
// lost), and without the exemption the release would keep
// it waiting where session 51 promoted it (review-grant52).
func (n *Node) behindTheWitness() (leaseAnswer, bool, error) {
	epoch := n.Epoch()
	// The acquisition's bound (promote), not a quarter lease: a probe that times out
	// defers the acquisition, and a witness slow to answer (a loaded machine) must not
	// keep a lost primary from being replaced.
	answer, err := n.askLease(leaseProbeWritten, epoch, time.Now().Add(handshakeTimeout))
	if errors.Is(err, errWitnessProbeNotServed) {
		return answer, false, nil
	}
	if err != nil {
		return answer, false, err
	}
	if answer.writtenKnown && answer.released {
		return answer, answer.writtenEpoch > epoch && answer.holder != n.config.NodeName, nil
	}
	return answer, answer.epoch > epoch && answer.holder != n.config.NodeName, nil
}

// Outcomes of a release (askRelease), as the give-up's log says them.
const (
	releaseRecorded   = "recorded"
	releaseNoAnswer   = "no answer (or not stored): sent again at the failover watch's ticks"
	releaseNotServed  = "not taken: the witness predates releases, the grant counts as written"
	releaseMovedOn    = "refused: the witness granted the lease again since"
	releaseNotTrusted = "not sent: the witness is not trusted (pin, signing), the grant " +
		"counts as written"
)

// askRelease releases the witness grant of epoch, which this node gave up before writing
// anything under it (see witness.go's Releases), waiting for the answer until deadline,
// and returns the outcome: releaseNoAnswer when it should be sent again (unreachable,
// timed out, or not stored).
func (n *Node) askRelease(epoch uint64, deadline time.Time) string {
	answer, err := n.askLease(leaseRelease, epoch, deadline)
	switch {
	case errors.Is(err, errWitnessReleaseNotServed):
		return releaseNotServed
	case witnessRefusalReason(err) >= 0 && !errors.Is(err, ErrWitnessReplyForged):
		// A witness this node does not trust (a pin, signing, the ratchet) is sent
		// nothing: the grant counts as written, the safe side. A forged reply is no
		// answer (dropped, the release is sent again).
		return releaseNotTrusted
	case err != nil:
		n.config.Logger.Debug("replication: grant release", "epoch", epoch, "error", err)
		return releaseNoAnswer
	case answer.granted:
		return releaseRecorded
	case answer.holder == n.config.NodeName && answer.epoch == epoch:
		// Refused while the grant is still this node's: the witness could not store the
		// release (its log says why). Sent again, as one without an answer.
		return releaseNoAnswer
	}
	return releaseMovedOn
}

// releasePendingGrant sends again the release of a grant given up that got no answer
// (Node.releasePending), if any, and reports whether one is still pending. Called by the
// failover watch. witnessTurn is held across the request, as a promotion holds it across
// its own: no promotion (a manual one beside the watch) is granted the lease meanwhile,
// so a release is never sent for an epoch this node was granted again since (a witness
// keeping its state in memory, restarted, can grant an epoch twice) and may write under;
// the node's mutex is not (releaseGrantLocked), so Status and the followers do not wait
// for a witness that hangs. Close still ends the request at once (the node's lifetime).
// Bounded by the watch's tick (a quarter lease), as a probe is.
func (n *Node) releasePendingGrant() bool {
	n.witnessTurn.Lock()
	defer n.witnessTurn.Unlock()
	n.mutex.Lock()
	defer n.mutex.Unlock()
	epoch := n.releasePending
	if epoch == 0 {
		return false
	}
	outcome := n.releaseGrantLocked(epoch, time.Now().Add(n.config.LeaseDuration/4))
	if outcome == releaseNoAnswer {
		return true
	}
	n.config.Logger.Warn("replication: the grant given up is released at the witness",
		"epoch", epoch, "release", outcome)
	return false
}

// staleStandbyMessage is what the failover watch logs once when the witness's epoch shows
// that this node never followed the lease's holder (behindTheWitness).
const staleStandbyMessage = "replication: automatic failover will not promote this node: " +
	"the witness last granted the lease to another node at an epoch this node never " +
	"reached, so it lacks that node's writes; bring that node back (this one then follows " +
	"it), or promote this one by hand accepting their loss"

// probeWitness, called by the failover watch while the primary is heard, probes the
// witness at the node's epoch (leaseProbe: a request that changes nothing) when next has
// come and either the ratchet is not settled (raised and its marker stored) or the node
// pins its witness's id, and returns when it may probe again (witnessProbeIntervalLeases
// leases on). A signed answer raises the ratchet
// (askLease), so that a standby does not meet its witness for the first time at a
// failover, where a stripped signing bit would be believed with WitnessUnsignedAllowed.
// A pinned standby goes on probing once it is raised (for it the ratchet decides
// nothing: it takes v3 answers only): its probe is what tells it, while its primary
// lives, that the witness no longer announces the pinned id (a witness restarted without
// its id, a pin changed at a restart), which it would otherwise learn only at a failover,
// the marker keeping the ratchet raised for good. Its failures are counted as any ask's
// (refusals by reason) and said at Debug only, the standby needing nothing from the
// witness yet, except a witness that is not probed (it does not announce probes, or does
// not sign), said once at Warn: a probe bit cleared on the way leaves no other trace. A
// probe is bounded by the watch's tick (a quarter lease), so that a witness that hangs
// delays the watch's noticing a lost primary by one tick at most, once per probe.
func (n *Node) probeWitness(next time.Time, epoch uint64) time.Time {
	now := time.Now()
	// An unpinned standby stops only once the marker is stored too: its probes are the only
	// signed answers it receives while its primary lives, so a marker whose write failed,
	// or found damaged at start, would otherwise not be written before a failover.
	if (n.ratchet.settled() && n.config.WitnessID == "") || now.Before(next) {
		return next
	}
	deadline := now.Add(n.config.LeaseDuration / 4)
	_, err := n.askLease(leaseProbe, epoch, deadline)
	switch {
	case errors.Is(err, errWitnessProbeNotServed):
		// Said once at Warn: cleared on the way, a bit keeps an unpinned standby's ratchet
		// down with nothing else to show it (no answer is refused, nothing is counted).
		if !n.lease.probesNotAnnouncedLogged.Swap(true) {
			n.config.Logger.Warn(witnessNotProbedMessage, "error", err)
		}
	case err != nil:
		n.config.Logger.Debug("replication: witness probe", "error", err)
	}
	return now.Add(witnessProbeIntervalLeases * n.config.LeaseDuration)
}

// witnessNotProbedMessage is what a standby logs once when its witness does not announce
// probes, or does not sign (so it is sent none).
const witnessNotProbedMessage = "replication: the witness is not probed: a ratchet not " +
	"raised yet rises, and a marker not stored yet is written, only at this standby's first " +
	"signed answer, a failover's (until the ratchet rises, with --witness-allow-unsigned " +
	"and no pin, a challenge stripped of its signing bit is believed)"

// holdingOff reports whether the failover watch must still ask the witness nothing, the
// node having given a grant up less than releasedGrantHoldOffLeases leases ago.
func (n *Node) holdingOff() bool {
	n.mutex.Lock()
	defer n.mutex.Unlock()
	return time.Now().Before(n.holdOffUntil)
}

// automaticFailoverFailedMessage is what the failover watch logs when a promotion it was
// granted fails.
const automaticFailoverFailedMessage = "replication: AUTOMATIC FAILOVER FAILED: still a " +
	"standby, following again; retrying while the primary is lost"

// primaryHeardWithin reports whether any of the standby's links to its primary is up and
// brought a frame within the last window: the primary process is alive (a single link
// that breaks is reconnected; the whole node fails over only when the primary is silent
// on all of them).
func (n *Node) primaryHeardWithin(window time.Duration) bool {
	for _, g := range n.groups {
		if g.heardWithin(window) {
			return true
		}
	}
	return false
}

// shardErr returns the first shard's failure (a failed log), if any.
func (n *Node) shardErr() error {
	for _, g := range n.groups {
		if err := g.shard.Err(); err != nil {
			return err
		}
	}
	return nil
}

// wakeReleases wakes every group's release path (its Acknowledger's notification).
func (n *Node) wakeReleases() {
	for _, g := range n.groups {
		select {
		case g.notify <- struct{}{}:
		default:
		}
	}
}
