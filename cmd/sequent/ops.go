package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio/ops"
	"sequent/replication"
	"sequent/tools/clearing"
	"sequent/wal"
)

// auditFileName is where a node that cannot write to its log (a standby) keeps the audit
// records of admin actions, one JSON object per line, fsynced.
const auditFileName = "audit-local.jsonl"

// auditTimeout bounds waiting for an audit record to become durable.
const auditTimeout = 5 * time.Second

// dataUsageCacheTime bounds how often the data directory is walked for its size.
const dataUsageCacheTime = 10 * time.Second

// startOps starts the HTTP operations server for a running node. adjust, if any, changes
// the server's configuration first (a benchmark turns the per-address limits off).
func startOps(o *serveOptions, r *runningNode, adjust ...func(*ops.Config)) (*ops.Server, error) {
	if _, err := ops.ParseAllowCIDRs(o.httpAllow); err != nil {
		return nil, usageError{err}
	}
	if _, err := ops.ParseHosts(o.httpHost); err != nil {
		return nil, usageError{fmt.Errorf("--http-host: %w", err)}
	}
	sources := ops.Sources{
		Snapshot: r.opsSnapshot,
		Audit:    r.audit,
		Promote: func() (uint64, error) {
			epoch, err := r.groups.Promote()
			if err != nil {
				return 0, fmt.Errorf("%w: %v", ops.ErrRefused, err)
			}
			record := ops.AuditRecord{Who: "sequent", Action: "promoted",
				Detail: fmt.Sprintf("epoch %d", epoch), TimeUnixNs: time.Now().UnixNano()}
			if err := r.audit(record); err != nil {
				r.logger.Warn("sequent: promotion not audited in the log", "error", err)
			}
			return epoch, nil
		},
		SnapshotNow: func() error {
			if r.groups.Role() != shard.RolePrimary {
				return fmt.Errorf("%w: snapshots are requested on the primary", ops.ErrRefused)
			}
			for _, s := range r.groups.Shards() {
				s.RequestSnapshot()
			}
			return nil
		},
		ReloadKeys:  r.reloadKeys,
		SetLogLevel: func(level string) error { return setLogLevel(r.level, level) },
		Console: ops.ConsoleSources{
			LatencyHistograms: r.latencyHistograms,
			Depth:             r.depth,
		},
	}
	ledgers, err := clearing.LoadLedgers(o.ledgers)
	if err != nil {
		return nil, usageError{fmt.Errorf("--ledgers: %w", err)}
	}
	r.clearingSources(&sources, ledgers)
	r.riskSources(&sources)
	config := ops.Config{Address: o.http, Listener: o.httpListener,
		TLSCertFile: o.httpTLSCert,
		TLSKeyFile:  o.httpTLSKey, AllowCIDRs: o.httpAllow, Hosts: o.httpHost,
		Logger: r.logger,
		Tokens: func(token string) (string, bool) {
			return ops.TokenChecker(r.keyring.AdminTokens())(token)
		}}
	for _, change := range adjust {
		change(&config)
	}
	server, err := ops.New(config, sources)
	if err != nil {
		return nil, err
	}
	return server, server.Start()
}

// audit records an admin action before it is carried out: in the log on a primary (the
// tamper-evident audit trail), else in a local fsynced file (a standby cannot write its
// log; the promotion itself is audited in the log right after).
func (r *runningNode) audit(record ops.AuditRecord) error {
	encoded := record.Encode()
	if r.groups.Role() == shard.RolePrimary {
		return r.groups.Shard().Audit(encoded, auditTimeout) // Shard 0's log holds the trail.
	}
	r.auditMutex.Lock()
	defer r.auditMutex.Unlock()
	file, err := os.OpenFile(filepath.Join(r.data, auditFileName),
		os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, err = file.Write(append(encoded, '\n'))
	if err == nil {
		err = file.Sync()
	}
	return errors.Join(err, file.Close())
}

// depthTimeout bounds the console's wait for an order book read: the sequencer answers
// reads every turn (microseconds to a few ms); longer means it is stuck or far behind.
const depthTimeout = 2 * time.Second

// depth reads an instrument's book for the console through the shard, like a client's
// get_depth.
func (r *runningNode) depth(instrument, levels uint32) ([]model.DepthLevel, model.Status,
	error) {
	filter := model.DepthFilter{Instrument: instrument, Levels: levels}
	body := make([]byte, model.DepthFilterSize)
	filter.Encode(body)
	shardIndex := r.node.Map().InstrumentShard(instrument)
	status, reply, err := r.groups.Shards()[shardIndex].Query(model.OperationGetDepth, body,
		depthTimeout)
	if err != nil || status != model.StatusOK {
		return nil, status, err
	}
	found := make([]model.DepthLevel, len(reply)/model.DepthLevelSize)
	for i := range found {
		found[i].Decode(reply[i*model.DepthLevelSize:])
	}
	return found, status, nil
}

// opsSnapshot gathers what the HTTP server shows from the published stats of every
// shard, its log, replication and the network server. Nothing here touches core state.
// The request latencies are shard 0's (every request that reaches a node of several
// shards is counted by the shards it reaches; shard 0's are a sample of them all).
func (r *runningNode) opsSnapshot() ops.Snapshot {
	status, replicationTotals := r.replicationCounters.read(r.groups.Status)
	snapshot := ops.Snapshot{Version: versionString(),
		UptimeSeconds: time.Since(r.started).Seconds(), Role: status.Role, Epoch: status.Epoch,
		PrimaryAddress: status.PrimaryAt, DataDirectory: r.data,
		RequestLatencyUs: map[string]ops.Quantiles{}, Problems: []ops.Problem{}}
	snapshot.DataDirectoryUsageBytes, snapshot.DataDirectoryAvailableBytes,
		snapshot.DataDirectoryFilesystemBytes = r.dataUsage()
	for _, group := range r.groups.Groups() {
		stats := r.shardStats(group, snapshot.RequestLatencyUs)
		replication := status.Groups[group.Index()]
		stats.SetAsideStates, stats.SetAsideBytes = replication.SetAside.Count,
			replication.SetAside.Bytes
		if replication.Primary != nil {
			stats.ReplicationAcknowledgedOp = replication.Primary.AcknowledgedOp
		} else if replication.Standby != nil {
			stats.ReplicationAcknowledgedOp = replication.Standby.AcknowledgedOp
		}
		snapshot.Shards = append(snapshot.Shards, stats)
	}
	snapshot.Replication = replicationStats(&status, r.replicationMode)
	snapshot.Replication.EntriesSent, snapshot.Replication.BytesSent,
		snapshot.Replication.Degradations = replicationTotals.entriesSent,
		replicationTotals.bytesSent, replicationTotals.degradations
	snapshot.Network = r.networkStats()
	if r.api != nil {
		stats := r.api.Stats()
		snapshot.APIPanics = stats.Panics
		snapshot.API = &ops.APIStats{Requests: stats.Requests,
			AuthFailures: stats.AuthFailures, Refused: stats.Refused, Busy: stats.Busy,
			RateLimited: stats.RateLimited, Timeouts: stats.Timeouts,
			InFlight: uint64(stats.InFlight)}
	}
	snapshot.Problems = r.problems(&snapshot, &status)
	r.streamsSnapshot(&snapshot)
	return snapshot
}

// shardStats is one shard's part of the snapshot; shard 0 also fills the latencies.
func (r *runningNode) shardStats(group *replication.Group,
	latencyUs map[string]ops.Quantiles) ops.ShardStats {
	s := group.Shard()
	stats := s.Stats()
	latencies, _ := s.Latencies()
	operations := map[string]uint64{}
	for name, summary := range latencies {
		if group.Index() == 0 {
			latencyUs[name] = quantiles(summary)
		}
		operations[name] = uint64(summary.Count)
	}
	return ops.ShardStats{ID: uint32(group.Index()), OpsApplied: stats.OpLast,
		Entries: stats.Entries, Requests: stats.Requests, Queries: stats.Queries,
		BusyReplies: stats.BusyReplies, LogFullRefusals: stats.LogFullRefusals,
		RingDepth: uint64(stats.RingDepth), InlineTurns: stats.InlineTurns, AppliedOp: stats.OpLast,
		DurableOp: group.Log().Durable(), ReleasedOp: stats.Released,
		Snapshots: stats.Snapshots, SnapshotErrors: stats.SnapshotErrors,
		Operations: operations, Results: s.EventStatusCounts(),
		BatchRequests: quantiles(s.BatchRequests()), ApplyLatencyUs: quantiles(s.ApplyLatency()),
		Log: logStats(group.Log())}
}

// latencyHistograms merges every shard's latency histograms, per operation (the
// console's view of the node).
func (r *runningNode) latencyHistograms() map[string]*hdrhistogram.Snapshot {
	merged := map[string]*hdrhistogram.Histogram{}
	for _, s := range r.groups.Shards() {
		for name, snapshot := range s.LatencyHistograms() {
			histogram := hdrhistogram.Import(snapshot)
			if into, ok := merged[name]; ok {
				into.Merge(histogram)
			} else {
				merged[name] = histogram
			}
		}
	}
	result := make(map[string]*hdrhistogram.Snapshot, len(merged))
	for name, histogram := range merged {
		result[name] = histogram.Export()
	}
	return result

}

// streamsSnapshot adds the outbound streams of every shard (market data and capture run
// one per shard) and each shard's capture state and lag problem (naming the shard on a
// node of several).
func (r *runningNode) streamsSnapshot(snapshot *ops.Snapshot) {
	snapshot.Streams = []ops.StreamStats{}
	for _, group := range r.groups.Groups() {
		for _, c := range group.Shard().ConsumerStats() {
			snapshot.Streams = append(snapshot.Streams, ops.StreamStats{Name: c.Name,
				Shard: uint32(group.Index()), HandledOp: c.HandledOp, LagOps: c.LagOps,
				Buffered: c.Buffered, BufferMax: c.BufferMax, FellBehind: c.FellBehind})
		}
	}
	if len(r.captures) == 0 {
		return
	}
	snapshot.Captures = make([]ops.CaptureStats, 0, len(r.captures))
	for index, capture := range r.captures {
		c := capture.Stats()
		snapshot.Captures = append(snapshot.Captures, ops.CaptureStats{Shard: uint32(index),
			Stream: c.Stream, Connected: c.Connected, Publishing: c.Publishing,
			PublishedOp: c.PublishedOp, StreamSequence: c.StreamSequence, LagOps: c.LagOps,
			LagSeconds: c.LagSeconds, Lagging: c.Lagging, Published: c.Published,
			Rebuilds: c.Rebuilds, Gaps: c.Gaps, Superseded: c.Superseded,
			LastError: c.LastError})
		if c.Lagging {
			detail := fmt.Sprintf("%d ops (%.0f s) not yet in %s: %s", c.LagOps, c.LagSeconds,
				c.Stream, c.LastError)
			if len(r.captures) > 1 {
				detail = fmt.Sprintf("shard %d: %s", index, detail)
			}
			snapshot.Problems = append(snapshot.Problems,
				ops.Problem{Code: ops.ProblemCaptureLagging, Detail: detail})
		}
	}
	snapshot.Capture = &snapshot.Captures[0]
}

// quantiles converts a shard summary; the sum (which a Prometheus summary needs for a
// windowed mean) is mean × count.
func quantiles(s shard.LatencySummary) ops.Quantiles {
	return ops.Quantiles{Count: uint64(s.Count), Sum: s.Mean * float64(s.Count),
		P50: float64(s.P50), P90: float64(s.P90), P99: float64(s.P99), P999: float64(s.P999),
		Max: float64(s.Max)}
}

// logQuantiles converts a log latency summary the same way.
func logQuantiles(q wal.LatencyQuantiles) ops.Quantiles {
	return ops.Quantiles{Count: uint64(q.Count), Sum: q.Mean * float64(q.Count),
		P50: float64(q.P50), P90: float64(q.P90), P99: float64(q.P99), P999: float64(q.P999),
		Max: float64(q.Max)}
}

func logStats(log *wal.Log) ops.LogStats {
	stats := log.Stats()
	write, sync := log.Latencies()
	result := ops.LogStats{Open: log.Err() == nil, Entries: stats.Entries, Groups: stats.Groups,
		Syncs: stats.Syncs, InlineGroups: stats.InlineGroups, Rolls: stats.Rolls,
		StoredBytes: stats.StoredBytes, RawBytes: stats.RawBytes,
		EncodeLatencyUs: logQuantiles(log.EncodeLatency()), WriteLatencyUs: logQuantiles(write),
		SyncLatencyUs: logQuantiles(sync)}
	if err := log.Err(); err != nil {
		result.Failure = err.Error()
	}
	if err := log.PrepareErr(); err != nil {
		result.NextSegmentFailure = err.Error()
	}
	return result
}

func replicationStats(status *replication.NodeStatus, mode string) ops.ReplicationStats {
	result := ops.ReplicationStats{Mode: ops.ModeNone, Failure: status.Failure,
		LeaseRenewals: status.Lease.Renewals, LeaseRenewalFailures: status.Lease.RenewalFailures,
		LeaseLosses: status.Lease.Losses}
	if w := status.Witness; w != nil {
		result.WitnessRefused = ops.WitnessRefusals{Forged: w.Refused.Forged,
			Identity: w.Refused.Identity, Unsigned: w.Refused.Unsigned,
			Downgrade: w.Refused.Downgrade}
		result.Witness = &ops.WitnessStats{Pinned: w.Pinned, PinnedID: w.PinnedID,
			UnsignedAllowed: w.UnsignedAllowed, SignedRequired: w.SignedRequired,
			SignedRequiredSinceUnixMs: w.SignedRequiredSinceUnixMs, RatchetPath: w.RatchetPath,
			ReleasePendingEpoch: w.ReleasePendingEpoch}
	}
	if status.Replicated {
		result.Mode = mode
	}
	if p := status.Primary; p != nil {
		result.StandbyAttached, result.AcknowledgedOp, result.LagOps = p.Attached,
			p.AcknowledgedOp, p.LagOps
		result.LagMs, result.Degraded, result.Degradations = uint64(max(p.LagMs, 0)),
			p.Degraded, p.Degradations
		result.ReleasingAlone = p.ReleasingAlone
		result.EntriesSent, result.BytesSent = p.EntriesSent, p.BytesSent
		result.LagBytes = p.LagBytes
	}
	if s := status.Standby; s != nil {
		result.PrimaryConnected, result.AcknowledgedOp, result.LagOps = s.Connected,
			s.AcknowledgedOp, s.LagOps
		result.LagMs = uint64(max(s.LastHeardMs, 0))
	}
	return result
}

func (r *runningNode) networkStats() ops.NetworkStats {
	n := r.server.Stats()
	return ops.NetworkStats{ConnectionsOpen: uint64(max(n.ConnectionsOpen, 0)),
		ConnectionsAccepted: n.ConnectionsAccepted, ConnectionsRefused: n.ConnectionsRefused,
		LoginsAccepted: n.LoginsAccepted, LoginsRejected: n.LoginsRejected,
		BytesReceived: n.BytesReceived, BytesSent: n.BytesQueued, BusyReplies: n.BusyReplies,
		RateLimitedReplies: n.RateLimitedReplies,
		ProtocolErrors:     n.ProtocolErrors, SlowConsumers: n.SlowConsumers,
		RequestsInflight: uint64(max(n.RequestsInflight, 0))}
}

// appendDiskSpaceLow appends disk_space_low to list when the snapshot's data directory
// has fewer than warningBytes left (0: never), for the running node and for a standby
// waiting for its primary alike. The space is unknown when the file system's size is (no
// statfs); a known size with 0 left is a full file system, the lowest of all.
func appendDiskSpaceLow(list []ops.Problem, snapshot *ops.Snapshot, warningBytes uint64) []ops.Problem {
	if available := snapshot.DataDirectoryAvailableBytes; snapshot.DataDirectoryFilesystemBytes != 0 &&
		available < warningBytes {
		list = append(list, ops.Problem{Code: ops.ProblemDiskSpaceLow,
			Detail: fmt.Sprintf("%d bytes left on the data directory's file system, warning below %d",
				available, warningBytes)})
	}
	return list
}

// problems lists the conditions an operator must look at, for the node and every shard
// (a shard's problem names it).
func (r *runningNode) problems(snapshot *ops.Snapshot, status *replication.NodeStatus) []ops.Problem {
	var list []ops.Problem
	freeBytesWarning := r.freeBytesWarning
	shards := r.groups.Shards()
	name := func(index int, detail string) string {
		if len(shards) == 1 {
			return detail
		}
		return fmt.Sprintf("shard %d: %s", index, detail)
	}
	for index, s := range shards {
		if failure := snapshot.Shards[index].Log.Failure; failure != "" {
			list = append(list, ops.Problem{Code: ops.ProblemLogFailed, Detail: name(index, failure)})
		} else if err := s.Err(); err != nil {
			list = append(list, ops.Problem{Code: ops.ProblemLogFailed,
				Detail: name(index, err.Error())})
		}
		// The latest snapshot, not any since start: one that succeeds after a failure
		// (space freed) clears the problem; sequent_shard_snapshot_errors_total keeps count.
		if s.Stats().SnapshotFailing {
			list = append(list, ops.Problem{Code: ops.ProblemSnapshotFailed,
				Detail: name(index, fmt.Sprintf("the latest snapshot failed (%d since start)",
					snapshot.Shards[index].SnapshotErrors))})
		}
	}
	list = appendDiskSpaceLow(list, snapshot, freeBytesWarning)
	if status.Failure != "" {
		list = append(list, ops.Problem{Code: ops.ProblemReplicationFailed, Detail: status.Failure})
	}
	if snapshot.Replication.Degraded {
		list = append(list, ops.Problem{Code: ops.ProblemReplicationDegraded})
	}
	if status.Role == ops.RoleFenced {
		list = append(list, ops.Problem{Code: ops.ProblemFenced, Detail: status.PrimaryAt})
	}
	return list
}

// dataUsage returns the data directory's size and the space left and the size of its
// file system, measured at most every dataUsageCacheTime.
func (r *runningNode) dataUsage() (usage, available, filesystem uint64) {
	r.usageMutex.Lock()
	defer r.usageMutex.Unlock()
	if time.Since(r.usageAt) < dataUsageCacheTime {
		return r.usageBytes, r.availableBytes, r.filesystemBytes
	}
	r.availableBytes, r.filesystemBytes = filesystemSpace(r.data)
	var total uint64
	filepath.WalkDir(r.data, func(_ string, entry fs.DirEntry, err error) error {
		if err == nil && !entry.IsDir() {
			if info, err := entry.Info(); err == nil {
				total += uint64(info.Size())
			}
		}
		return nil
	})
	r.usageBytes, r.usageAt = total, time.Now()
	return total, r.availableBytes, r.filesystemBytes
}

// opsState is the part of runningNode the HTTP side uses.
type opsState struct {
	data            string
	started         time.Time
	level           *slog.LevelVar
	replicationMode string
	// freeBytesWarning: below this many bytes left on the data directory's file system,
	// the node reports disk_space_low (0: never).
	freeBytesWarning uint64
	auditMutex       sync.Mutex
	usageMutex       sync.Mutex
	usageAt          time.Time
	usageBytes       uint64
	availableBytes   uint64
	filesystemBytes  uint64
	// replicationCounters keeps the exported replication counters monotonic.
	replicationCounters replicationCounters
}

// replicationCounters keeps the replication counters exported as Prometheus counters
// (entries and bytes sent, degradations) monotonic for the process's life. Each group's
// live in its replication.Primary and start at 0 with a new one, and a counter that goes
// back reads to rate() as a reset followed by a burst. Today a process has one Primary
// per group at most (made at start or at the one standby-to-primary promotion, kept when
// fenced: replication/group.go startPrimary, node.go promote's role check), so this
// only guards: a group whose primary is gone (none, or one counting anew: any counter
// lower than last seen) adds what it was last seen at to retired. Counts a retired
// primary made after it was last seen are lost; the sums never go back.
type replicationCounters struct {
	mutex   sync.Mutex
	retired primaryCounters   // Summed over the primaries no longer shown.
	shown   []primaryCounters // Per group: its primary's counters when last seen.
}

type primaryCounters struct{ entriesSent, bytesSent, degradations uint64 }

func (c *primaryCounters) add(other primaryCounters) {
	c.entriesSent += other.entriesSent
	c.bytesSent += other.bytesSent
	c.degradations += other.degradations
}

// read reads the node's status with readStatus and returns it with the process's
// replication totals. Reading and counting are one step under the mutex: two snapshots
// counted in the other order than read would take the older one's lower counters for a
// new primary and count the last one twice.
func (c *replicationCounters) read(readStatus func() replication.NodeStatus) (
	replication.NodeStatus, primaryCounters) {
	c.mutex.Lock()
	defer c.mutex.Unlock()
	status := readStatus()
	for len(c.shown) < len(status.Groups) {
		c.shown = append(c.shown, primaryCounters{})
	}
	totals := c.retired
	for index, group := range status.Groups {
		var now primaryCounters
		if p := group.Primary; p != nil {
			now = primaryCounters{p.EntriesSent, p.BytesSent, p.Degradations}
		}
		if last := c.shown[index]; now.entriesSent < last.entriesSent ||
			now.bytesSent < last.bytesSent || now.degradations < last.degradations {
			c.retired.add(last)
			totals.add(last)
		}
		c.shown[index] = now
		totals.add(now)
	}
	return status, totals
}
