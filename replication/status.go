package replication

import "time"

// NodeStatus is what the admin API shows about a node.
type NodeStatus struct {
	Role       string         `json:"role"`
	Epoch      uint64         `json:"epoch"`
	PrimaryAt  string         `json:"primary_address,omitempty"` // For a standby or fenced node.
	LastOp     uint64         `json:"last_op"`
	DurableOp  uint64         `json:"durable_op"`
	Primary    *PrimaryStats  `json:"replication_primary,omitempty"`
	Standby    *StandbyStatus `json:"replication_standby,omitempty"`
	Failure    string         `json:"failure,omitempty"`
	Replicated bool           `json:"replicated"`
	Groups     []GroupStatus  `json:"shards"`
	// Lease counts this node's witness lease renewals as a primary since the process
	// started (all zero without a witness).
	Lease LeaseStats `json:"lease"`
	// Witness is how this node treats its witness (nil without one).
	Witness *WitnessStatus `json:"witness,omitempty"`
	// SetAside sums the groups' set-aside states (their SetAside).
	SetAside SetAsideStatus `json:"set_aside"`
}

// WitnessStatus shows how a node with a witness authenticates it: the pin, the
// signed-replies ratchet and the answers it did not trust. The pinned id is no secret:
// the witness announces it in clear in every challenge, to anyone who connects, and
// prints it at start; what a witness proves it with is the replication key.
type WitnessStatus struct {
	// Pinned: the node takes answers only from the witness of PinnedID (--witness-id).
	Pinned   bool   `json:"pinned"`
	PinnedID string `json:"pinned_id,omitempty"`
	// UnsignedAllowed is --witness-allow-unsigned as configured.
	UnsignedAllowed bool `json:"unsigned_allowed"`
	// SignedRequired: the ratchet is raised (a signed answer arrived, now or before a
	// restart): unsigned answers are refused without TLS, whatever UnsignedAllowed says.
	SignedRequired bool `json:"signed_required"`
	// SignedRequiredSinceUnixMs is when the ratchet rose (0: not raised, or a damaged
	// marker that counts as raised).
	SignedRequiredSinceUnixMs int64 `json:"signed_required_since_unix_ms,omitempty"`
	// RatchetPath is the ratchet's marker file (remove it, the node stopped, to lower
	// the ratchet; "": kept in memory only).
	RatchetPath string `json:"ratchet_path,omitempty"`
	// Refused counts the witness's answers this node did not trust, by reason, since the
	// process started.
	Refused WitnessRefusals `json:"refused"`
	// ReleasePendingEpoch is the epoch of a grant this node released (given up, or run
	// out under promotions that failed) whose release the witness has not answered yet
	// (0: none): the failover watch sends it again at every tick. While it is pending
	// the witness still counts the grant as written, so that the other node, below it,
	// may be taken for stale.
	ReleasePendingEpoch uint64 `json:"release_pending_epoch,omitempty"`
}

// WitnessRefusals counts untrusted witness answers by reason (leaseCounters.refused).
type WitnessRefusals struct {
	Forged    uint64 `json:"forged"`    // A signed answer whose mac failed.
	Identity  uint64 `json:"identity"`  // Not the pinned witness.
	Unsigned  uint64 `json:"unsigned"`  // Unsigned, not allowed.
	Downgrade uint64 `json:"downgrade"` // Unsigned after a signed one (the ratchet).
}

// witnessStatus returns the node's WitnessStatus (nil without a witness).
func (n *Node) witnessStatus() *WitnessStatus {
	if n.config.Witness == "" {
		return nil
	}
	status := &WitnessStatus{Pinned: n.config.WitnessID != "", PinnedID: n.config.WitnessID,
		UnsignedAllowed: n.config.WitnessUnsignedAllowed,
		SignedRequired:  n.ratchet.raised.Load(), RatchetPath: n.ratchet.path,
		Refused: WitnessRefusals{Forged: n.lease.refused[witnessRefusedForged].Load(),
			Identity:  n.lease.refused[witnessRefusedIdentity].Load(),
			Unsigned:  n.lease.refused[witnessRefusedUnsigned].Load(),
			Downgrade: n.lease.refused[witnessRefusedDowngrade].Load()}}
	if raisedNs := n.ratchet.raisedNs.Load(); raisedNs != 0 {
		status.SignedRequiredSinceUnixMs = raisedNs / int64(time.Millisecond)
	}
	n.mutex.Lock() // Never held across a request to the witness (releaseGrantLocked).
	status.ReleasePendingEpoch = n.releasePending
	n.mutex.Unlock()
	return status
}

// LeaseStats counts a primary's witness lease renewals. A few failures in a row are
// survivable (renewals come every quarter lease); repeated failures or losses mean the
// witness link flaps and the pair is close to (or in) an automatic failover.
type LeaseStats struct {
	Renewals        uint64 `json:"renewals"`         // Granted by the witness.
	RenewalFailures uint64 `json:"renewal_failures"` // No answer in time, or one not trusted.
	Losses          uint64 `json:"losses"`           // Ran out or went to the other node: fenced.
}

// StandbyStatus describes replication from a standby's side.
type StandbyStatus struct {
	PrimaryReplication string `json:"primary_replication_address"`
	Connected          bool   `json:"connected"`
	AcknowledgedOp     uint64 `json:"acknowledged_op"`
	PrimaryLastOp      uint64 `json:"primary_last_op"`
	LagOps             uint64 `json:"lag_ops"`
	LastHeardMs        int64  `json:"last_heard_ms"`
	EntriesReceived    uint64 `json:"entries_received"`
	BytesReceived      uint64 `json:"bytes_received"`
}

// GroupStatus is one shard group's part of a NodeStatus.
type GroupStatus struct {
	Shard     uint16         `json:"shard"`
	LastOp    uint64         `json:"last_op"`
	DurableOp uint64         `json:"durable_op"`
	Primary   *PrimaryStats  `json:"replication_primary,omitempty"`
	Standby   *StandbyStatus `json:"replication_standby,omitempty"`
	// SetAside: the states this group set aside and keeps on disk (never used again; an
	// operator may inspect or remove them).
	SetAside SetAsideStatus `json:"set_aside"`
}

// Status returns the node's status: the node as a whole (role, epoch, lease), shard 0's
// log positions and replication at the top level (a one-shard node's as before), every
// group's in Groups, and in Primary and Standby the node's replication summed up: attached
// or connected only if every group is, degraded if any is, releasing alone if every group
// is attached or releasing alone and one is releasing alone, lags and counters the worst
// or the sum. Any goroutine.
func (n *Node) Status() NodeStatus {
	n.mutex.Lock()
	failure := n.failure
	n.mutex.Unlock()
	role, epoch := n.Shard().RoleAndEpoch() // One load: never a role with another's epoch.
	status := NodeStatus{Role: role.String(), Epoch: epoch,
		PrimaryAt: n.Shard().PrimaryAddress(), LastOp: n.Log().LastOp(),
		DurableOp:  n.Log().Durable(),
		Replicated: n.config.Listen != "" || n.config.StandbyOf != "",
		Lease: LeaseStats{Renewals: n.lease.renewals.Load(),
			RenewalFailures: n.lease.failures.Load(), Losses: n.lease.lost.Load()},
		Witness: n.witnessStatus()}
	if failure != nil {
		status.Failure = failure.Error()
	}
	for _, g := range n.groups {
		group := g.status(n.config.StandbyOf)
		status.Groups = append(status.Groups, group)
		if group.Primary != nil {
			status.Primary = sumPrimary(status.Primary, group.Primary)
		}
		if group.Standby != nil {
			status.Standby = sumStandby(status.Standby, group.Standby)
		}
		status.SetAside.Count += group.SetAside.Count
		status.SetAside.Bytes += group.SetAside.Bytes
	}
	return status
}

func (g *Group) status(standbyOf string) GroupStatus {
	status := GroupStatus{Shard: g.index, LastOp: g.log.LastOp(), DurableOp: g.log.Durable(),
		SetAside: g.setAsideCache.get(g.config.SnapshotDir, g.config.LogDir, time.Now())}
	primary := g.primary.Load()
	if primary != nil {
		stats := primary.Stats()
		status.Primary = &stats
	}
	if standbyOf != "" && primary == nil {
		standby := &StandbyStatus{PrimaryReplication: standbyOf,
			Connected:       g.standby.connected.Load(),
			AcknowledgedOp:  g.standby.acknowledged.Load(),
			PrimaryLastOp:   g.standby.primaryLastOp.Load(),
			EntriesReceived: g.standby.entries.Load(), BytesReceived: g.standby.bytes.Load()}
		if standby.PrimaryLastOp > status.DurableOp {
			standby.LagOps = standby.PrimaryLastOp - status.DurableOp
		}
		if heard := g.standby.lastHeard.Load(); heard != 0 {
			standby.LastHeardMs = time.Since(time.Unix(0, heard)).Milliseconds()
		}
		status.Standby = standby
	}
	return status
}

// sumPrimary adds one group's primary stats to the node's (nil: the first group's).
func sumPrimary(sum, group *PrimaryStats) *PrimaryStats {
	if sum == nil {
		copied := *group
		return &copied
	}
	// Releasing alone, for the node: every group takes writes (attached or releasing
	// alone) and one at least releases alone, so that Attached || ReleasingAlone (what
	// /readyz reads) holds exactly when no group's replies wait for a standby.
	sum.ReleasingAlone = (sum.Attached || sum.ReleasingAlone) &&
		(group.Attached || group.ReleasingAlone) && (sum.ReleasingAlone || group.ReleasingAlone)
	sum.Attached = sum.Attached && group.Attached
	sum.Degraded = sum.Degraded || group.Degraded
	sum.LagOps, sum.LagMs = max(sum.LagOps, group.LagOps), max(sum.LagMs, group.LagMs)
	sum.LagBytes += group.LagBytes // Every shard's standby holds its own bytes: they add up.
	sum.EntriesSent += group.EntriesSent
	sum.BytesSent += group.BytesSent
	sum.Sessions += group.Sessions
	sum.Degradations += group.Degradations
	sum.QueueOverflows += group.QueueOverflows
	return sum
}

// sumStandby adds one group's standby status to the node's (nil: the first group's).
func sumStandby(sum, group *StandbyStatus) *StandbyStatus {
	if sum == nil {
		copied := *group
		return &copied
	}
	sum.Connected = sum.Connected && group.Connected
	sum.LagOps = max(sum.LagOps, group.LagOps)
	sum.LastHeardMs = max(sum.LastHeardMs, group.LastHeardMs)
	sum.EntriesReceived += group.EntriesReceived
	sum.BytesReceived += group.BytesReceived
	return sum
}
