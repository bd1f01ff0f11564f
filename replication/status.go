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
	// Lease counts this node's witness lease renewals as a primary since the process
	// started (all zero without a witness).
	Lease LeaseStats `json:"lease"`
}

// LeaseStats counts a primary's witness lease renewals. A few failures in a row are
// survivable (renewals come every quarter lease); repeated failures or losses mean the
// witness link flaps and the pair is close to (or in) an automatic failover.
type LeaseStats struct {
	Renewals        uint64 `json:"renewals"`         // Granted by the witness.
	RenewalFailures uint64 `json:"renewal_failures"` // No answer in time.
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

// Status returns the node's status. Any goroutine.
func (n *Node) Status() NodeStatus {
	n.mutex.Lock()
	primary, failure := n.primary, n.failure
	n.mutex.Unlock()
	status := NodeStatus{Role: n.shard.Role().String(), Epoch: n.shard.Epoch(),
		PrimaryAt: n.shard.PrimaryAddress(), LastOp: n.log.LastOp(), DurableOp: n.log.Durable(),
		Replicated: n.config.Listen != "" || n.config.StandbyOf != "",
		Lease: LeaseStats{Renewals: n.lease.renewals.Load(),
			RenewalFailures: n.lease.failures.Load(), Losses: n.lease.lost.Load()}}
	if failure != nil {
		status.Failure = failure.Error()
	}
	if primary != nil {
		stats := primary.Stats()
		status.Primary = &stats
	}
	if n.config.StandbyOf != "" && primary == nil {
		standby := &StandbyStatus{PrimaryReplication: n.config.StandbyOf,
			Connected:       n.standby.connected.Load(),
			AcknowledgedOp:  n.standby.acknowledged.Load(),
			PrimaryLastOp:   n.standby.primaryLastOp.Load(),
			EntriesReceived: n.standby.entries.Load(), BytesReceived: n.standby.bytes.Load()}
		if standby.PrimaryLastOp > status.DurableOp {
			standby.LagOps = standby.PrimaryLastOp - status.DurableOp
		}
		if heard := n.standby.lastHeard.Load(); heard != 0 {
			standby.LastHeardMs = time.Since(time.Unix(0, heard)).Milliseconds()
		}
		status.Standby = standby
	}
	return status
}
