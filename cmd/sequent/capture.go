package main

import (
	"log/slog"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"sequent/core/shard"
	"sequent/netio/capture"
	"sequent/replication"
)

// captureOptions are serve's change-capture flags.
type captureOptions struct {
	url           string
	stream        string
	subjectPrefix string
	lagWarning    time.Duration
	retainBytes   int64
	duplicates    time.Duration
}

func addCaptureFlags(flags *pflag.FlagSet, o *captureOptions) {
	flags.StringVar(&o.url, "cdc-nats", "", "publish every committed event to NATS JetStream at this URL (change data capture; \"\": off)")
	flags.StringVar(&o.stream, "cdc-stream", capture.StreamDefault, "JetStream stream base name: shard N publishes to NAME_N (created if missing: file storage, --cdc-duplicate-window)")
	flags.StringVar(&o.subjectPrefix, "cdc-subject-prefix", capture.SubjectPrefixDefault, "first token of every capture subject")
	flags.DurationVar(&o.lagWarning, "cdc-lag-warning", capture.LagWarningDefault, "capture lagging longer than this is a /healthz problem")
	flags.DurationVar(&o.duplicates, "cdc-duplicate-window", capture.DuplicatesDefault, "duplicate window of a stream capture creates (at least 100ms): JetStream drops a message whose id it stored this recently; the server keeps every id of the window in memory. An existing stream keeps its own (capture warns when it differs). Capture's exactly-once does not rest on it (each message expects the stream's last sequence and message id)")
	flags.Int64Var(&o.retainBytes, "cdc-retain-bytes", shard.LogHoldBytesMaxDefault, "log kept for a lagging capture, in each shard (a node of N shards may hold N times this); beyond it segments are retired anyway and capture publishes a capture_gap message")
}

// validate refuses capture settings that would be ignored (any --cdc-* without
// --cdc-nats) or that JetStream would refuse later (names), and out-of-range values.
func (o *captureOptions) validate(problem func(string, ...any)) {
	if o.url == "" {
		if o.stream != capture.StreamDefault || o.subjectPrefix != capture.SubjectPrefixDefault ||
			o.lagWarning != capture.LagWarningDefault || o.retainBytes != shard.LogHoldBytesMaxDefault ||
			o.duplicates != capture.DuplicatesDefault {
			problem("--cdc-stream, --cdc-subject-prefix, --cdc-lag-warning, --cdc-retain-bytes and --cdc-duplicate-window need --cdc-nats")
		}
		return
	}
	if err := capture.ValidateNames(o.stream, o.subjectPrefix); err != nil {
		problem("--cdc-stream or --cdc-subject-prefix: %v", err)
	}
	if o.lagWarning <= 0 {
		problem("--cdc-lag-warning %v: want a positive duration", o.lagWarning)
	}
	if o.retainBytes <= 0 {
		problem("--cdc-retain-bytes %d: want a positive size", o.retainBytes)
	}
	if o.duplicates < capture.DuplicatesMin {
		problem("--cdc-duplicate-window %v: want at least %v (JetStream's least)", o.duplicates,
			capture.DuplicatesMin)
	}
}

// start creates the node's captures, one per shard (none when --cdc-nats is empty), each
// hooked to its own shard's release and publishing to its own stream <stream>_<shard>:
// every shard has its own ops, log, snapshots and machine, so each capture rebuilds,
// resumes and holds its shard's log on its own, and a stream that refuses or lags holds
// up only its own shard's capture (a capture never blocks its shard: Consume drops into
// a rebuild). RecoveredOp is left to its default, the shard's log's last op when New
// runs (before the shard starts), which is that shard's recovered op. Each publishes only
// while its shard is primary; roles change for every shard together (failover is
// node-wide), and each capture reads its own shard's role and epoch. Call it before the
// shards start (AddConsumer requires it).
func (o *captureOptions) start(node *replication.Node, config replication.NodeConfig,
	logger *slog.Logger) []*capture.Capture {
	if o.url == "" {
		return nil
	}
	groups := node.Groups()
	captures := make([]*capture.Capture, 0, len(groups))
	for _, group := range groups {
		s, index := group.Shard(), group.Index()
		c := capture.New(capture.Config{URL: o.url, Stream: o.stream,
			SubjectPrefix: o.subjectPrefix, Shard: uint32(index), LagWarning: o.lagWarning,
			Duplicates: o.duplicates, Log: group.Log(), SnapshotDir: config.Groups[index].SnapshotDir,
			Machine: config.Groups[index].Machine, Released: s.Released,
			Serving: func() bool { return s.Role() == shard.RolePrimary }, Epoch: s.Epoch,
			Logger: logger})
		s.AddConsumer(c, c)
		captures = append(captures, c)
	}
	for _, c := range captures {
		c.Start()
	}
	return captures
}

// closeCaptures stops every capture (what they have not published stays in their
// shards' logs for the next start).
func closeCaptures(captures []*capture.Capture) {
	// In parallel: a capture's publisher may be inside a NATS call that does not watch
	// its stop (connect, reading the stream's last message: up to a few seconds each), so
	// closing N one after another could take N times that and pass a service manager's
	// stop timeout (systemd's 30 s) on a node of many shards with NATS unreachable.
	var wait sync.WaitGroup
	for _, c := range captures {
		wait.Go(c.Close)
	}
	wait.Wait()
}
