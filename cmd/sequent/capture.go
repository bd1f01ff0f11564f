package main

import (
	"log/slog"
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
}

func addCaptureFlags(flags *pflag.FlagSet, o *captureOptions) {
	flags.StringVar(&o.url, "cdc-nats", "", "publish every committed event to NATS JetStream at this URL (change data capture; \"\": off)")
	flags.StringVar(&o.stream, "cdc-stream", capture.StreamDefault, "JetStream stream base name: shard N publishes to NAME_N (created if missing: file storage, 2 min duplicate window)")
	flags.StringVar(&o.subjectPrefix, "cdc-subject-prefix", capture.SubjectPrefixDefault, "first token of every capture subject")
	flags.DurationVar(&o.lagWarning, "cdc-lag-warning", capture.LagWarningDefault, "capture lagging longer than this is a /healthz problem")
	flags.Int64Var(&o.retainBytes, "cdc-retain-bytes", shard.LogHoldBytesMaxDefault, "log kept for a lagging capture; beyond it segments are retired anyway and capture publishes a capture_gap message")
}

// validate refuses capture settings that would be ignored (any --cdc-* without
// --cdc-nats) or that JetStream would refuse later (names), and out-of-range values.
func (o *captureOptions) validate(problem func(string, ...any)) {
	if o.url == "" {
		if o.stream != capture.StreamDefault || o.subjectPrefix != capture.SubjectPrefixDefault ||
			o.lagWarning != capture.LagWarningDefault || o.retainBytes != shard.LogHoldBytesMaxDefault {
			problem("--cdc-stream, --cdc-subject-prefix, --cdc-lag-warning and --cdc-retain-bytes need --cdc-nats")
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
}

// start creates the node's capture (nil when --cdc-nats is empty) and hooks it to the
// shard's release; it publishes only while the node is primary. A node has one shard
// when capture runs (startNode refuses --cdc-nats with several: not built).
func (o *captureOptions) start(node *replication.Node, config replication.NodeConfig,
	logger *slog.Logger) *capture.Capture {
	if o.url == "" {
		return nil
	}
	s := node.Shard()
	c := capture.New(capture.Config{URL: o.url, Stream: o.stream, SubjectPrefix: o.subjectPrefix,
		LagWarning: o.lagWarning, Log: node.Log(), SnapshotDir: config.Groups[0].SnapshotDir,
		Machine: config.Groups[0].Machine, Released: s.Released,
		Serving: func() bool { return s.Role() == shard.RolePrimary }, Epoch: s.Epoch, Logger: logger})
	s.AddConsumer(c, c)
	c.Start()
	return c
}
