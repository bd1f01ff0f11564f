package ops

// Snapshot is everything /metrics, /healthz, /readyz and /v1/status show, copied at one
// moment from the values that the shards, the logs, replication and the network server
// publish. Sources.Snapshot builds one per request; the server only reads it. The JSON
// names are /v1/status's field names; units are the last word of each name.
type Snapshot struct {
	// Version is the build version ("sequent v1.2.3 (revision …)").
	Version string `json:"version"`
	// UptimeSeconds is the time since the process started.
	UptimeSeconds float64 `json:"uptime_seconds"`
	// Role is what the node does with writes: RolePrimary, RoleStandby or RoleFenced.
	Role string `json:"role"`
	// Epoch is the node's current replication epoch (raised by every promotion).
	Epoch uint64 `json:"epoch"`
	// PrimaryAddress is the client address of the primary, as a standby or fenced node
	// knows it (what clients are redirected to); empty on the primary.
	PrimaryAddress string `json:"primary_address,omitempty"`
	// DataDirectory is the path of the node's data directory.
	DataDirectory string `json:"data_directory"`
	// DataDirectoryUsageBytes is the size of the files in the data directory (logs,
	// snapshots, keys).
	DataDirectoryUsageBytes uint64 `json:"data_directory_usage_bytes"`
	// DataDirectoryAvailableBytes is the space left on the data directory's file system
	// for an unprivileged process (what the log's next segment can use); 0 with a
	// DataDirectoryFilesystemBytes of 0: unknown, else the file system is full.
	DataDirectoryAvailableBytes uint64 `json:"data_directory_available_bytes"`
	// DataDirectoryFilesystemBytes is the size of that file system; 0: unknown.
	DataDirectoryFilesystemBytes uint64 `json:"data_directory_filesystem_bytes"`
	// Shards are the node's shards, each with its own sequencer and log (one for now).
	Shards []ShardStats `json:"shards"`
	// Replication is the state of the link to the standby (on a primary) or to the
	// primary (on a standby).
	Replication ReplicationStats `json:"replication"`
	// Network is the binary protocol server's counters.
	Network NetworkStats `json:"network"`
	// APIPanics counts the integrators' HTTP API's handler panics, each recovered and
	// answered 500 (netio/api Stats.Panics); 0 without an API.
	APIPanics uint64 `json:"api_panics"`
	// API is the integrators' HTTP API's counters (netio/api Stats); nil without an API.
	API *APIStats `json:"api,omitempty"`
	// RequestLatencyUs is the latency of requests by operation name ("create_transfers"),
	// from arrival at the server to the reply leaving, in microseconds.
	RequestLatencyUs map[string]Quantiles `json:"request_latency_us"`
	// Problems are the conditions an operator must look at; any makes /healthz answer
	// 503. Empty when all is well.
	Problems []Problem `json:"problems"`
	// Streams are the outbound streams fed from the release (streams.go).
	Streams []StreamStats `json:"streams"`
	// Capture is shard 0's change capture into JetStream, when configured (the only one
	// of a node of one shard; kept for readers written before Captures).
	Capture *CaptureStats `json:"capture,omitempty"`
	// Captures is every shard's change capture, in shard order, when configured.
	Captures []CaptureStats `json:"captures,omitempty"`
}

// Role names, as Snapshot.Role carries them (shard.Role's String).
const (
	RolePrimary = "primary" // Sequences client writes into the log.
	RoleStandby = "standby" // Applies entries streamed from the primary; refuses writes.
	RoleFenced  = "fenced"  // Has seen a higher epoch; refuses every request.
)

// Replication modes, as ReplicationStats.Mode carries them.
const (
	ModeNone  = "none"  // No replication configured (a single node).
	ModeSync  = "sync"  // A reply waits for the standby's acknowledgement.
	ModeAsync = "async" // A reply waits only for the local sync.
)

// ShardStats is one shard's counters and positions.
type ShardStats struct {
	// ID is the shard's number (0 for the only shard).
	ID uint32 `json:"id"`
	// OpsApplied counts ops (requests) applied to the core since the process started.
	OpsApplied uint64 `json:"ops_applied"`
	// Entries counts log entries the sequencer wrote (one per batch).
	Entries uint64 `json:"entries"`
	// Requests counts the requests written into the log, one op each: clients' writes and
	// the server's own (grant tables, pulses, snapshot markers, audit records, saga steps).
	Requests uint64 `json:"requests"`
	// Queries counts clients' read requests answered (a read split across shards counts
	// once on each shard it asked). The server's own reads (the node's saga outbox polls
	// and lookups, this console's order books, reconciliation, risk rules) are not
	// counted: an idle node's stays 0.
	Queries uint64 `json:"queries"`
	// BusyReplies counts submissions refused at once because the input ring was full.
	BusyReplies uint64 `json:"busy_replies"`
	// LogFullRefusals counts writes answered log_unavailable because the log had no room
	// for them (the next segment could not be prepared); none of them was applied.
	LogFullRefusals uint64 `json:"log_full_refusals"`
	// RingDepth is the number of requests waiting in the input ring now.
	RingDepth uint64 `json:"ring_depth"`
	// InlineTurns counts the sequencer turns a network event loop ran itself because the
	// shard was idle (a lone request then wakes no other goroutine); the sequencer
	// goroutine ran the other Entries.
	InlineTurns uint64 `json:"inline_turns"`
	// AppliedOp is the last op applied to the core.
	AppliedOp uint64 `json:"applied_op"`
	// DurableOp is the last op the log has synced to disk.
	DurableOp uint64 `json:"durable_op"`
	// ReleasedOp is the last op whose replies have been released to clients.
	ReleasedOp uint64 `json:"released_op"`
	// Snapshots counts state snapshots taken.
	Snapshots uint64 `json:"snapshots"`
	// SnapshotErrors counts snapshots that failed to write.
	SnapshotErrors uint64 `json:"snapshot_errors"`
	// Operations counts requests by operation name ("create_transfers", "place_order").
	Operations map[string]uint64 `json:"operations"`
	// Results counts event results by result code name ("ok", "exceeds_credits").
	Results map[string]uint64 `json:"results"`
	// BatchRequests is the distribution of requests per log entry (batch size).
	BatchRequests Quantiles `json:"batch_requests"`
	// ApplyLatencyUs is the time the state machine took to apply one log entry, in
	// microseconds: the sequencer's part of a write's latency. The log's part (its
	// EncodeLatencyUs, WriteLatencyUs and SyncLatencyUs, one after the other) runs beside
	// it, and a reply leaves when both are done.
	ApplyLatencyUs Quantiles `json:"apply_latency_us"`
	// Log is the shard's write-ahead log.
	Log LogStats `json:"log"`
	// ReplicationAcknowledgedOp is, on a primary, the last op of this shard its standby
	// has acknowledged; on a standby, the last op it acknowledged (0 without replication).
	// Every shard replicates over its own link (Replication sums them up).
	ReplicationAcknowledgedOp uint64 `json:"replication_acknowledged_op"`
	// SetAsideStates counts the states this shard set aside and keeps on disk (a standby's
	// start over from its primary's snapshot, a truncation that would leave no state, a
	// snapshot of another history): replaced-<stamp> in its snapshot directory and
	// <log>.replaced-<stamp> beside its log, never used again (only the newest three are
	// kept, replication's setAsideKept).
	SetAsideStates uint64 `json:"set_aside_states"`
	// SetAsideBytes is the size of the files of those set-aside states.
	SetAsideBytes uint64 `json:"set_aside_bytes"`
}

// LogStats is one write-ahead log's state and counters.
type LogStats struct {
	// Open is true while the log accepts appends.
	Open bool `json:"open"`
	// Failure is the error that stopped the log (a failed write or sync); empty while
	// the log is healthy.
	Failure string `json:"failure,omitempty"`
	// NextSegmentFailure is why the next segment could not be prepared (a full file
	// system), while that lasts: once the active segment is full, writes are refused
	// with log_unavailable until a preparation succeeds (retried every second).
	NextSegmentFailure string `json:"next_segment_failure,omitempty"`
	// Entries counts entries written.
	Entries uint64 `json:"entries"`
	// Groups counts group commits (one vectored write per segment touched).
	Groups uint64 `json:"groups"`
	// Syncs counts fdatasync calls.
	Syncs uint64 `json:"syncs"`
	// InlineGroups counts the group commits the sequencer ran itself, without waking the
	// log's writer (a lone entry with the writer idle; also counted in Groups).
	InlineGroups uint64 `json:"inline_groups"`
	// Rolls counts switches to a new segment.
	Rolls uint64 `json:"rolls"`
	// StoredBytes counts entry bytes written, headers included, after compression.
	StoredBytes uint64 `json:"stored_bytes"`
	// RawBytes counts entry body bytes before compression.
	RawBytes uint64 `json:"raw_bytes"`
	// EncodeLatencyUs is the time one large entry's encoding took (compression, CRC32C
	// and SHA-256 of its body), in microseconds: entries above 64 KiB, which the log's
	// encoders take while the sequencer applies them (smaller ones are not counted).
	EncodeLatencyUs Quantiles `json:"encode_latency_us"`
	// WriteLatencyUs is the latency of one group commit's write, in microseconds.
	WriteLatencyUs Quantiles `json:"write_latency_us"`
	// SyncLatencyUs is the latency of one fdatasync, in microseconds.
	SyncLatencyUs Quantiles `json:"sync_latency_us"`
}

// ReplicationStats is the state of replication, seen from this node.
type ReplicationStats struct {
	// Mode is ModeNone, ModeSync or ModeAsync.
	Mode string `json:"mode"`
	// StandbyAttached is true on a primary while a standby is connected and acknowledging:
	// heard from within the last second, and, while entries wait for it, acknowledging
	// them (a hung standby keeps its connection open: it is not counted as attached).
	StandbyAttached bool `json:"standby_attached"`
	// PrimaryConnected is true on a standby while it is connected to its primary.
	PrimaryConnected bool `json:"primary_connected"`
	// WaitingForPrimary is true on a standby still starting: opening its log and waiting
	// for its primary (up to 10 s with a log of its own, without limit with an empty
	// one). Its shards are not open yet, so Shards is empty. Absent once started.
	WaitingForPrimary bool `json:"waiting_for_primary,omitempty"`
	// AcknowledgedOp is the last op the standby has acknowledged as durable (on a
	// standby: the last op it has acknowledged).
	AcknowledgedOp uint64 `json:"acknowledged_op"`
	// LagOps is how many ops the standby is behind the primary's log.
	LagOps uint64 `json:"lag_ops"`
	// LagBytes is how many stored log bytes the standby is behind: on a primary, its log's
	// entry bytes (as stored, headers included) written after the op the standby
	// acknowledged (or holds, if it attached holding less), summed over the shards; 0 on
	// a standby.
	LagBytes uint64 `json:"lag_bytes"`
	// LagMs is the time since the other side was last heard from, in milliseconds.
	LagMs uint64 `json:"lag_ms"`
	// Degraded is true while a sync-mode primary has stopped waiting for its standby
	// (degraded to async after the configured timeout), and after it went back to
	// waiting until the standby has acknowledged what was released alone (the loss
	// window).
	Degraded bool `json:"degraded"`
	// ReleasingAlone is true while the primary releases replies on its own durability
	// (async, or sync degraded): it takes writes without a standby acknowledging.
	ReleasingAlone bool `json:"releasing_alone"`
	// Degradations counts switches from sync to degraded since the process started.
	Degradations uint64 `json:"degradations"`
	// EntriesSent counts log entries sent to the standby.
	EntriesSent uint64 `json:"entries_sent"`
	// BytesSent counts log bytes sent to the standby.
	BytesSent uint64 `json:"bytes_sent"`
	// Failure is the error that stopped replication; empty while it runs.
	Failure string `json:"failure,omitempty"`
	// LeaseRenewals counts the witness lease renewals granted to this node as a primary
	// (0 without a witness).
	LeaseRenewals uint64 `json:"lease_renewals"`
	// LeaseRenewalFailures counts renewals that failed: no answer in time (the witness
	// unreachable or slow), or an answer not trusted (WitnessRefused says which); the
	// primary fences itself if none succeeds within a lease.
	LeaseRenewalFailures uint64 `json:"lease_renewal_failures"`
	// LeaseLosses counts leases this node lost (ran out, or given to the other node):
	// each one fenced it.
	LeaseLosses uint64 `json:"lease_losses"`
	// WitnessRefused counts the witness's answers this node did not trust, by reason,
	// as a primary or a standby (all zero without a witness). A renewal refused so also
	// counts in LeaseRenewalFailures; these say it was no slow network.
	WitnessRefused WitnessRefusals `json:"witness_refused"`
	// Witness shows how the node authenticates its witness (absent without one).
	Witness *WitnessStats `json:"witness,omitempty"`
}

// Reasons a witness's answer was not trusted: the label values of
// sequent_replication_witness_refused_total, in WitnessRefusals' order.
const (
	WitnessRefusedForged    = "forged"
	WitnessRefusedIdentity  = "identity"
	WitnessRefusedUnsigned  = "unsigned"
	WitnessRefusedDowngrade = "downgrade"
)

// WitnessRefusals counts untrusted witness answers by reason.
type WitnessRefusals struct {
	// Forged: a signed answer whose signature failed (altered, forged or replayed on the
	// way, or another witness's key).
	Forged uint64 `json:"forged"`
	// Identity: a witness that does not prove the pinned id (another witness, or an
	// earlier build).
	Identity uint64 `json:"identity"`
	// Unsigned: a witness that does not sign, unsigned answers not allowed.
	Unsigned uint64 `json:"unsigned"`
	// Downgrade: a witness that does not sign (or whose signing bit was cleared on the
	// way) after this node had received a signed answer: the ratchet refused it.
	Downgrade uint64 `json:"downgrade"`
}

// WitnessStats shows how a node authenticates its witness. The pinned id is not a
// secret: the witness announces it in clear to anyone who connects and prints it at
// start; it proves it with the replication key, which is never shown.
type WitnessStats struct {
	// Pinned: the node takes answers only from the witness of PinnedID (--witness-id).
	Pinned bool `json:"pinned"`
	// PinnedID is the pinned id (absent when not pinned).
	PinnedID string `json:"pinned_id,omitempty"`
	// UnsignedAllowed is --witness-allow-unsigned as configured.
	UnsignedAllowed bool `json:"unsigned_allowed"`
	// SignedRequired: the signed-replies ratchet is raised (a signed answer arrived, in
	// this run or before a restart): unsigned answers are refused without TLS, whatever
	// UnsignedAllowed says.
	SignedRequired bool `json:"signed_required"`
	// SignedRequiredSinceUnixMs is when the ratchet rose (absent: not raised, or raised by
	// a damaged marker).
	SignedRequiredSinceUnixMs int64 `json:"signed_required_since_unix_ms,omitempty"`
	// RatchetPath is the ratchet's marker: stop the node and remove it to lower the
	// ratchet (absent: kept in memory only).
	RatchetPath string `json:"ratchet_path,omitempty"`
	// ReleasePendingEpoch is the epoch of a grant the node released (its promotions
	// under it failed) whose release the witness has not answered yet; the failover
	// watch sends it again (absent: none).
	ReleasePendingEpoch uint64 `json:"release_pending_epoch,omitempty"`
}

// APIStats are the integrators' HTTP API's counters since the process started (netio/api
// Stats), for operators: how many requests it answered, and how many it refused, by kind.
type APIStats struct {
	// Requests counts requests answered, whatever the outcome.
	Requests uint64 `json:"requests"`
	// AuthFailures counts requests refused for their authentication (401, and 429
	// too_many_attempts after repeated failures).
	AuthFailures uint64 `json:"auth_failures"`
	// Refused counts requests refused after authentication (403, 4xx, 429, 503 at once).
	Refused uint64 `json:"refused"`
	// Busy counts the refusals answered 503 busy (of Refused): the API's in-flight bound,
	// the bodies' budget or the shard's input ring.
	Busy uint64 `json:"busy"`
	// RateLimited counts the refusals answered 429 rate_limited (of Refused): the
	// client's configured rate.
	RateLimited uint64 `json:"rate_limited"`
	// Timeouts counts requests answered 503 outcome_unknown because their reply did not
	// come within the API's reply timeout.
	Timeouts uint64 `json:"timeouts"`
	// InFlight is the number of requests waiting for their shard now.
	InFlight uint64 `json:"in_flight"`
}

// NetworkStats is the binary protocol server's counters.
type NetworkStats struct {
	// ConnectionsOpen is the number of client connections open now.
	ConnectionsOpen uint64 `json:"connections_open"`
	// ConnectionsAccepted counts connections admitted since the process started.
	ConnectionsAccepted uint64 `json:"connections_accepted"`
	// ConnectionsRefused counts connections refused (limits, allow-list, shutdown).
	ConnectionsRefused uint64 `json:"connections_refused"`
	// LoginsAccepted counts successful logins.
	LoginsAccepted uint64 `json:"logins_accepted"`
	// LoginsRejected counts refused logins (unknown key, bad signature, reused nonce,
	// too many attempts).
	LoginsRejected uint64 `json:"logins_rejected"`
	// BytesReceived counts bytes of complete frames received from clients.
	BytesReceived uint64 `json:"bytes_received"`
	// BytesSent counts bytes of replies and reports queued to clients.
	BytesSent uint64 `json:"bytes_sent"`
	// BusyReplies counts requests answered busy (the shard's ring was full).
	BusyReplies uint64 `json:"busy_replies"`
	// RateLimitedReplies counts requests answered rate_limited (a client's limit).
	RateLimitedReplies uint64 `json:"rate_limited_replies"`
	// ProtocolErrors counts error frames sent for malformed or unexpected frames.
	ProtocolErrors uint64 `json:"protocol_errors"`
	// SlowConsumers counts connections closed for not reading their replies.
	SlowConsumers uint64 `json:"slow_consumers"`
	// RequestsInflight is the number of requests submitted whose reply has not left.
	RequestsInflight uint64 `json:"requests_inflight"`
}

// Quantiles summarizes a distribution kept in an HdrHistogram. The unit is the one named
// by the field that holds it (microseconds for a …Us field, requests for BatchRequests).
type Quantiles struct {
	// Count is the number of values recorded.
	Count uint64 `json:"count"`
	// Sum is the total of the values recorded (mean × count).
	Sum float64 `json:"sum"`
	// P50 is the median.
	P50 float64 `json:"p50"`
	// P90 is the 90th percentile.
	P90 float64 `json:"p90"`
	// P99 is the 99th percentile.
	P99 float64 `json:"p99"`
	// P999 is the 99.9th percentile.
	P999 float64 `json:"p999"`
	// Max is the largest value recorded.
	Max float64 `json:"max"`
}

// Problem is one condition that makes /healthz answer 503, or one reason /readyz does.
type Problem struct {
	// Code names the condition: a Problem* or Ready* constant.
	Code string `json:"code"`
	// Detail says more (the error, the shard, the figure); may be empty.
	Detail string `json:"detail,omitempty"`
}

// Problem codes for Snapshot.Problems. The wiring lists the ones that hold; each needs an
// operator. Codes are stable: alerts match on them.
const (
	// ProblemLogFailed: a log write or sync failed; the shard stopped taking writes.
	ProblemLogFailed = "log_failed"
	// ProblemDiskSpaceLow: the data directory's file system has less space left than the
	// warning threshold (serve's --data-free-bytes-warn).
	ProblemDiskSpaceLow = "disk_space_low"
	// ProblemSnapshotFailed: the latest snapshot failed to write.
	ProblemSnapshotFailed = "snapshot_failed"
	// ProblemReplicationFailed: replication stopped with an error.
	ProblemReplicationFailed = "replication_failed"
	// ProblemReplicationDegraded: a sync-mode primary stopped waiting for its standby.
	ProblemReplicationDegraded = "replication_degraded"
	// ProblemDivergence: the standby's state digest differs from the primary's.
	ProblemDivergence = "divergence"
	// ProblemFenced: the node saw a higher epoch and refuses writes until it rejoins.
	ProblemFenced = "fenced"
	// ProblemNetworkStopped: the binary protocol server is not accepting connections.
	ProblemNetworkStopped = "network_stopped"
)

// Readiness reasons: why /readyz answers 503 (the server derives them from a Snapshot).
const (
	// ReadyNotPrimary: the node is a standby or fenced; it does not take writes.
	ReadyNotPrimary = "not_primary"
	// ReadyNoShards: the snapshot lists no shard (the node is still starting).
	ReadyNoShards = "no_shards"
	// ReadyLogNotOpen: a shard's log is not open.
	ReadyLogNotOpen = "log_not_open"
	// ReadyLogFailed: a shard's log has failed.
	ReadyLogFailed = "log_failed"
	// ReadyLogFull: a shard's log cannot prepare its next segment (the file system is
	// full): it refuses writes as soon as its active segment is full, if not already.
	ReadyLogFull = "log_full"
	// ReadyStandbyNotAcknowledging: in sync mode, no standby is acknowledging and the
	// primary has not degraded: replies wait for a standby.
	ReadyStandbyNotAcknowledging = "standby_not_acknowledging"
)
