package ops

import "strconv"

// Health is /healthz's body: {"status":"ok"} with 200, or {"status":"unhealthy",
// "problems":[...]} with 503.
type Health struct {
	// Status is HealthOK or HealthUnhealthy.
	Status string `json:"status"`
	// Problems are Snapshot.Problems; absent when healthy.
	Problems []Problem `json:"problems,omitempty"`
}

// Health statuses.
const (
	HealthOK        = "ok"
	HealthUnhealthy = "unhealthy"
)

// Readiness is /readyz's body: {"status":"ready","role":"primary"} with 200, or
// {"status":"not_ready","role":…,"reasons":[...]} with 503.
type Readiness struct {
	// Status is ReadinessReady or ReadinessNotReady.
	Status string `json:"status"`
	// Role is Snapshot.Role.
	Role string `json:"role"`
	// Reasons are why the node cannot take writes (Ready* codes); absent when ready.
	Reasons []Problem `json:"reasons,omitempty"`
}

// Readiness statuses.
const (
	ReadinessReady    = "ready"
	ReadinessNotReady = "not_ready"
)

// Status is /v1/status's body: every field of the Snapshot (at the top level of the
// object) plus the verdicts of /healthz and /readyz, so one request shows everything.
type Status struct {
	Snapshot
	// Healthy is true when Problems is empty (what /healthz answers 200 to).
	Healthy bool `json:"healthy"`
	// Ready is true when the node can take writes (what /readyz answers 200 to).
	Ready bool `json:"ready"`
	// NotReady are the reasons Ready is false (Ready* codes); empty when ready.
	NotReady []Problem `json:"not_ready"`
}

// NotReadyReasons returns why a node in this snapshot would not take a write sent now
// and answer it as configured; none means it is ready. A node is ready when it is the
// primary; every shard's log is open, has not failed and can prepare its next segment;
// and, in sync mode, a standby is acknowledging (StandbyAttached: attached and heard from
// within the last second) or the primary releases on its own durability (ReleasingAlone:
// degraded; it takes writes, and the loss window is reported by /healthz as
// replication_degraded). A sync primary whose standby is gone or hung and that does not
// release alone (not degraded yet, or ever: no --replication-degrade-after; or back to
// waiting for its standby with the loss window still open) holds every reply: not ready.
// The order of reasons is fixed: role, shards, logs by shard, replication.
func NotReadyReasons(snapshot *Snapshot) []Problem {
	var reasons []Problem
	if snapshot.Role != RolePrimary {
		reasons = append(reasons, Problem{Code: ReadyNotPrimary, Detail: "role " + snapshot.Role})
	}
	if len(snapshot.Shards) == 0 {
		reasons = append(reasons, Problem{Code: ReadyNoShards})
	}
	for i := range snapshot.Shards {
		reasons = append(reasons, logNotReadyReasons(&snapshot.Shards[i])...)
	}
	replication := &snapshot.Replication
	if replication.Mode == ModeSync && snapshot.Role == RolePrimary &&
		!replication.StandbyAttached && !replication.ReleasingAlone {
		reasons = append(reasons, Problem{Code: ReadyStandbyNotAcknowledging,
			Detail: "no standby acknowledging, and not degraded"})
	}
	return reasons
}

// logNotReadyReasons lists why one shard's log would not take a write.
func logNotReadyReasons(shard *ShardStats) []Problem {
	var reasons []Problem
	name := "shard " + strconv.FormatUint(uint64(shard.ID), 10)
	if !shard.Log.Open {
		reasons = append(reasons, Problem{Code: ReadyLogNotOpen, Detail: name})
	}
	if shard.Log.Failure != "" {
		reasons = append(reasons, Problem{Code: ReadyLogFailed,
			Detail: name + ": " + shard.Log.Failure})
	}
	if shard.Log.NextSegmentFailure != "" {
		reasons = append(reasons, Problem{Code: ReadyLogFull,
			Detail: name + ": " + shard.Log.NextSegmentFailure})
	}
	return reasons
}

// health builds /healthz's body from a snapshot.
func health(snapshot *Snapshot) Health {
	if len(snapshot.Problems) == 0 {
		return Health{Status: HealthOK}
	}
	return Health{Status: HealthUnhealthy, Problems: snapshot.Problems}
}

// readiness builds /readyz's body from a snapshot.
func readiness(snapshot *Snapshot) Readiness {
	reasons := NotReadyReasons(snapshot)
	if len(reasons) == 0 {
		return Readiness{Status: ReadinessReady, Role: snapshot.Role}
	}
	return Readiness{Status: ReadinessNotReady, Role: snapshot.Role, Reasons: reasons}
}

// status builds /v1/status's body from a snapshot. Lists and maps are never null, so a
// script can index them without checking.
func status(snapshot *Snapshot) Status {
	reasons := NotReadyReasons(snapshot)
	if reasons == nil {
		reasons = []Problem{}
	}
	result := Status{Snapshot: *snapshot, Healthy: len(snapshot.Problems) == 0,
		Ready: len(reasons) == 0, NotReady: reasons}
	if result.Problems == nil {
		result.Problems = []Problem{}
	}
	if result.RequestLatencyUs == nil {
		result.RequestLatencyUs = map[string]Quantiles{}
	}
	// Copy the shards before filling in empty maps, so the caller's snapshot (which may
	// share them with whatever built it) is never written.
	result.Shards = append([]ShardStats{}, snapshot.Shards...)
	for i := range result.Shards {
		if result.Shards[i].Operations == nil {
			result.Shards[i].Operations = map[string]uint64{}
		}
		if result.Shards[i].Results == nil {
			result.Shards[i].Results = map[string]uint64{}
		}
	}
	return result
}
