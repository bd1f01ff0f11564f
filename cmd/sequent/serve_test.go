package main

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sequent/core/node"
	"sequent/core/node/router"
	"sequent/core/shardmap"
	"sequent/netio/ops"
	"sequent/replication"
	"sequent/tools/testcert"
)

// TestServeRetentionFlags checks that the snapshot and log retention flags reach the
// node's configuration, and that contradictory or useless values are refused.
func TestServeRetentionFlags(t *testing.T) {
	base := func() *serveOptions {
		o := defaultServeOptions()
		o.data, o.snapshotEvery = t.TempDir(), 1000
		return &o
	}
	logger := slog.New(slog.DiscardHandler)

	o := base()
	config, err := configOf(o, logger)
	if err != nil {
		t.Fatal(err)
	}
	if s := config.Snapshots; s.Keep != 2 || !s.RetireLog || s.ArchiveDir != "" || s.EveryOps != 1000 {
		t.Fatalf("defaults: %+v", *s)
	}

	o = base()
	o.snapshotsKept, o.walArchive = 3, "/archive"
	if config, err = configOf(o, logger); err != nil {
		t.Fatal(err)
	}
	if s := config.Snapshots; s.Keep != 3 || !s.RetireLog || s.ArchiveDir != "/archive" {
		t.Fatalf("--snapshots-keep 3 --wal-archive /archive: %+v", *s)
	}

	o = base()
	o.walKeepAll = true
	if config, err = configOf(o, logger); err != nil || config.Snapshots.RetireLog {
		t.Fatalf("--wal-keep-all: retire %v, error %v", config.Snapshots.RetireLog, err)
	}

	for _, test := range []struct {
		name   string
		change func(o *serveOptions)
		want   string
	}{
		{"keep 0", func(o *serveOptions) { o.snapshotsKept = 0 }, "--snapshots-keep"},
		{"archive and keep all", func(o *serveOptions) { o.walArchive, o.walKeepAll = "/a", true },
			"exclude each other"},
	} {
		o := base()
		test.change(o)
		if _, err := configOf(o, logger); err == nil || !strings.Contains(err.Error(), test.want) {
			t.Errorf("%s: error %v, want one naming %q", test.name, err, test.want)
		}
	}
}

// TestServeReplicationTLSFlags: the three replication TLS flags together give the node a
// TLS configuration; one or two of them, unreadable files, or TLS without replication are
// refused with a message naming the problem.
func TestServeReplicationTLSFlags(t *testing.T) {
	files := testcert.NewAuthority(t, "serve test CA").IssueFiles(t)
	logger := slog.New(slog.DiscardHandler)
	base := func() *serveOptions {
		o := defaultServeOptions()
		o.data, o.replicationListen, o.replicationKey = t.TempDir(), "127.0.0.1:0", "k"
		o.replicationTLS = [3]string{files.Certificate, files.Key, files.Authority}
		return &o
	}
	config, err := configOf(base(), logger)
	if err != nil || config.TLS == nil || config.TLS.Server == nil || config.TLS.Client == nil {
		t.Fatalf("all three flags: TLS %+v, error %v", config.TLS, err)
	}
	o := base()
	o.replicationTLS = [3]string{}
	if config, err = configOf(o, logger); err != nil || config.TLS != nil {
		t.Fatalf("no TLS flags: TLS %+v, error %v", config.TLS, err)
	}
	for _, test := range []struct {
		name   string
		change func(o *serveOptions)
		want   string
	}{
		{"certificate only", func(o *serveOptions) { o.replicationTLS[1], o.replicationTLS[2] = "", "" },
			"all three"},
		{"no CA", func(o *serveOptions) { o.replicationTLS[2] = "" }, "all three"},
		{"missing CA file", func(o *serveOptions) { o.replicationTLS[2] = files.Authority + ".missing" },
			"CA"},
		{"key is not a CA", func(o *serveOptions) { o.replicationTLS[2] = files.Key }, "no PEM certificate"},
		{"without replication", func(o *serveOptions) { o.replicationListen, o.replicationKey = "", "" },
			"without replication"},
	} {
		o := base()
		test.change(o)
		if _, err := configOf(o, logger); err == nil || !strings.Contains(err.Error(), test.want) {
			t.Errorf("%s: error %v, want one naming %q", test.name, err, test.want)
		}
	}
}

// TestServeRefusesMeaninglessFlags: every flag that only matters with another one, or
// outside its range, is refused at start with a message naming it (they used to be
// accepted silently: --witness without replication fenced itself after one lease and
// stayed up "fenced"). The defaults, and each flag used as intended, pass.
func TestServeRefusesMeaninglessFlags(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	base := func() *serveOptions {
		o := defaultServeOptions()
		o.data = t.TempDir()
		return &o
	}
	replicated := func(o *serveOptions) {
		o.replicationListen, o.replicationKey = "127.0.0.1:0", "k"
	}
	for _, good := range []struct {
		name   string
		change func(o *serveOptions)
	}{
		{"defaults", func(*serveOptions) {}},
		{"witness with replication", func(o *serveOptions) {
			replicated(o)
			o.witness, o.nodeName, o.lease = "127.0.0.1:9", "a", 500*time.Millisecond
		}},
		{"witness with a pinned id", func(o *serveOptions) {
			replicated(o)
			o.witness, o.witnessID = "127.0.0.1:9", "pair-a-witness"
		}},
		{"witness with the longest node name", func(o *serveOptions) {
			replicated(o)
			o.witness = "127.0.0.1:9"
			o.nodeName = strings.Repeat("n", replication.NodeNameBytesMax)
		}},
		{"degrade with sync replication", func(o *serveOptions) {
			replicated(o)
			o.degradeAfter = time.Second
		}},
		{"async standby", func(o *serveOptions) {
			o.standbyOf, o.replicationKey, o.replicationMode = "127.0.0.1:9", "k", "async"
		}},
		{"sync interval", func(o *serveOptions) { o.sync, o.syncInterval = "interval", time.Millisecond }},
		{"saga timeout at its least", func(o *serveOptions) { o.sagaTimeout = sagaTimeoutMin }},
		{"saga timeout at its most", func(o *serveOptions) { o.sagaTimeout = sagaTimeoutMax }},
		{"capture", func(o *serveOptions) {
			o.capture.url, o.capture.stream, o.capture.subjectPrefix = "nats://127.0.0.1:9", "CDC-1", "acme.ledger"
		}},
		{"capture of several shards", func(o *serveOptions) {
			o.capture.url, o.placement.Shards = "nats://127.0.0.1:9", 2
		}},
	} {
		o := base()
		good.change(o)
		config, err := configOf(o, logger)
		if err != nil {
			t.Errorf("%s: refused: %v", good.name, err)
		}
		if config.WitnessID != o.witnessID {
			t.Errorf("%s: the node pins %q, --witness-id was %q", good.name, config.WitnessID,
				o.witnessID)
		}
		// The ratchet's marker lives in the data directory, beside the epoch file: a
		// restart must find it (an empty path keeps it in memory only), under the name
		// replication's errors tell the operator to remove.
		if want := filepath.Join(o.data, replication.WitnessRatchetFileName); config.
			WitnessRatchetPath != want || filepath.Dir(config.EpochPath) != o.data {
			t.Errorf("%s: ratchet marker %q (epoch file %q), want %q", good.name,
				config.WitnessRatchetPath, config.EpochPath, want)
		}
	}
	for _, bad := range []struct {
		name   string
		change func(o *serveOptions)
		want   string
	}{
		{"witness alone", func(o *serveOptions) { o.witness = "127.0.0.1:9" }, "--witness without replication"},
		// Promoted by the witness, such a node would have no release path gated by the
		// lease (no replication primary): resumed after a hang past its lease, it would
		// acknowledge alone until its lease goroutine fenced it.
		{"witness standby without listen", func(o *serveOptions) {
			o.standbyOf, o.replicationKey, o.witness = "127.0.0.1:9", "k", "127.0.0.1:8"
		}, "--witness needs --replication-listen"},
		{"degrade alone", func(o *serveOptions) { o.degradeAfter = time.Second },
			"--replication-degrade-after without replication"},
		{"degrade negative", func(o *serveOptions) { replicated(o); o.degradeAfter = -time.Second },
			"--replication-degrade-after -1s"},
		{"degrade async", func(o *serveOptions) {
			replicated(o)
			o.degradeAfter, o.replicationMode = time.Second, "async"
		}, "async never waits"},
		{"login attempts -1", func(o *serveOptions) { o.loginAttempts = -1 },
			"--login-attempts-per-minute -1"},
		{"login attempts 0", func(o *serveOptions) { o.loginAttempts = 0 },
			"--login-attempts-per-minute 0"},
		// A node of several shards captures every shard (one stream each); the names are
		// still checked, for every shard's stream alike.
		{"capture names of several shards", func(o *serveOptions) {
			o.capture.url, o.capture.stream, o.placement.Shards = "nats://127.0.0.1:9", "CDC.1", 2
		}, "--cdc-stream or --cdc-subject-prefix"},
		{"capture settings without capture, several shards", func(o *serveOptions) {
			o.capture.retainBytes, o.placement.Shards = 1<<20, 2
		}, "need --cdc-nats"},
		{"async alone", func(o *serveOptions) { o.replicationMode = "async" }, "async without replication"},
		{"mode unknown", func(o *serveOptions) { o.replicationMode = "semi" }, "want sync or async"},
		{"key alone", func(o *serveOptions) { o.replicationKey = "k" }, "--replication-key without replication"},
		{"replication without key", func(o *serveOptions) { o.replicationListen = "127.0.0.1:0" },
			"needs --replication-key"},
		{"peer alone", func(o *serveOptions) { o.peer = "127.0.0.1:9" }, "--peer without replication"},
		{"standby of itself", func(o *serveOptions) {
			replicated(o)
			o.standbyOf = o.replicationListen
		}, "own --replication-listen"},
		{"node name alone", func(o *serveOptions) { o.nodeName = "a" }, "--node-name without --witness"},
		{"witness id alone", func(o *serveOptions) { o.witnessID = "w" }, "--witness-id without --witness"},
		{"witness id with a space", func(o *serveOptions) {
			replicated(o)
			o.witness, o.witnessID = "127.0.0.1:9", "pair a"
		}, "--witness-id: replication: witness id"},
		{"unsigned witness replies alone", func(o *serveOptions) { o.witnessUnsigned = true },
			"--witness-allow-unsigned without --witness"},
		// A witness with a state file refuses to grant the lease to a longer name: the node
		// would learn it only when failing over.
		{"node name too long", func(o *serveOptions) {
			replicated(o)
			o.witness = "127.0.0.1:9"
			o.nodeName = strings.Repeat("n", replication.NodeNameBytesMax+1)
		}, "--node-name is 257 bytes: the witness records node names of at most 256 bytes"},
		{"advertise too long for the default node name", func(o *serveOptions) {
			replicated(o)
			o.witness = "127.0.0.1:9"
			o.advertise = strings.Repeat("h", replication.NodeNameBytesMax-4) + ":7400"
		}, "--advertise (the default --node-name) is 257 bytes"},
		{"addr too long for the default node name", func(o *serveOptions) {
			replicated(o)
			o.witness = "127.0.0.1:9"
			o.address = strings.Repeat("h", replication.NodeNameBytesMax-4) + ":7400"
		}, "--addr (the default --node-name) is 257 bytes"},
		{"lease alone", func(o *serveOptions) { o.lease = 2 * time.Second }, "--lease without --witness"},
		{"lease tiny", func(o *serveOptions) { o.lease = time.Millisecond }, "--lease 1ms"},
		{"sync interval without interval", func(o *serveOptions) { o.syncInterval = time.Millisecond },
			"--sync-interval without --sync interval"},
		{"sync interval negative", func(o *serveOptions) {
			o.sync, o.syncInterval = "interval", -time.Millisecond
		}, "--sync-interval -1ms"},
		{"sync unknown", func(o *serveOptions) { o.sync = "sometimes" }, "--sync \"sometimes\""},
		{"saga timeout too short", func(o *serveOptions) { o.sagaTimeout = sagaTimeoutMin - time.Millisecond },
			"--saga-timeout 999ms: want 1s to 10m0s"},
		{"saga timeout too long", func(o *serveOptions) { o.sagaTimeout = sagaTimeoutMax + time.Second },
			"--saga-timeout 10m1s: want 1s to 10m0s"},
		{"saga timeout 0", func(o *serveOptions) { o.sagaTimeout = 0 }, "--saga-timeout 0s"},
		{"segment too small", func(o *serveOptions) { o.walSegmentBytes = 4096 }, "--wal-segment-bytes 4096"},
		{"free bytes negative", func(o *serveOptions) { o.dataFreeBytesWarn = -1 }, "--data-free-bytes-warn -1"},
		{"event loops 0", func(o *serveOptions) { o.eventLoops = 0 }, "--event-loops 0"},
		{"ring 0", func(o *serveOptions) { o.ringBytes = 0 }, "--input-ring-bytes 0"},
		{"in flight 0", func(o *serveOptions) { o.inFlightEntries = 0 }, "--in-flight-entries 0"},
		{"http tls without http", func(o *serveOptions) {
			o.http, o.httpTLSCert, o.httpTLSKey = "", "c", "k"
		}, "need --http"},
		{"http allow without http", func(o *serveOptions) { o.http, o.httpAllow = "", []string{"10.0.0.0/8"} },
			"need --http"},
		{"http host without http", func(o *serveOptions) { o.http, o.httpHost = "", []string{"node1"} },
			"need --http"},
		{"http host with a port", func(o *serveOptions) { o.httpHost = []string{"node1:7401"} },
			`--http-host: ops: bad configuration: host name "node1:7401"`},
		{"http cert without key", func(o *serveOptions) { o.httpTLSCert = "c" }, "go together"},
		{"api tls without api", func(o *serveOptions) { o.api.tlsCert, o.api.tlsKey = "c", "k" }, "need --api"},
		{"api allow without api", func(o *serveOptions) { o.api.allow = []string{"10.0.0.0/8"} }, "need --api"},
		{"api cert without key", func(o *serveOptions) {
			o.api.address, o.api.tlsCert = "127.0.0.1:0", "c"
		}, "--api-tls-cert and --api-tls-key go together"},
		{"api client CA without cert", func(o *serveOptions) {
			o.api.address, o.api.tlsClientCA = "127.0.0.1:0", "ca.pem"
		}, "--api-tls-client-ca needs"},
		{"api address", func(o *serveOptions) { o.api.address = "nohost" }, "--api \"nohost\""},
		{"api clock window", func(o *serveOptions) { o.api.clockWindow = time.Hour }, "--api-clock-window 1h0m0s"},
		{"api in flight", func(o *serveOptions) { o.api.inFlight = 251 }, "--api-in-flight 251"},
		{"no address", func(o *serveOptions) { o.address = "" }, "--addr"},
		{"bad advertise", func(o *serveOptions) { o.advertise = "nohost" }, "--advertise"},
		{"no data", func(o *serveOptions) { o.data = "" }, "--data is empty"},
		{"capture stream without nats", func(o *serveOptions) { o.capture.stream = "X" }, "need --cdc-nats"},
		{"capture retain without nats", func(o *serveOptions) { o.capture.retainBytes = 1 << 20 }, "need --cdc-nats"},
		{"capture stream with a dot", func(o *serveOptions) {
			o.capture.url, o.capture.stream = "nats://127.0.0.1:9", "A.B"
		}, "stream name \"A.B\""},
		{"capture prefix wildcard", func(o *serveOptions) {
			o.capture.url, o.capture.subjectPrefix = "nats://127.0.0.1:9", "acme.*"
		}, "subject prefix"},
		{"capture prefix empty token", func(o *serveOptions) {
			o.capture.url, o.capture.subjectPrefix = "nats://127.0.0.1:9", "acme..x"
		}, "subject prefix"},
		{"capture lag warning 0", func(o *serveOptions) {
			o.capture.url, o.capture.lagWarning = "nats://127.0.0.1:9", 0
		}, "--cdc-lag-warning 0s"},
		{"capture retain 0", func(o *serveOptions) {
			o.capture.url, o.capture.retainBytes = "nats://127.0.0.1:9", 0
		}, "--cdc-retain-bytes 0"},
		{"capture duplicate window below JetStream's least", func(o *serveOptions) {
			o.capture.url, o.capture.duplicates = "nats://127.0.0.1:9", 50*time.Millisecond
		}, "--cdc-duplicate-window 50ms"},
		{"capture duplicate window without capture", func(o *serveOptions) {
			o.capture.duplicates = time.Second
		}, "need --cdc-nats"},
	} {
		o := base()
		bad.change(o)
		if _, err := configOf(o, logger); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: error %v, want one naming %q", bad.name, err, bad.want)
		}
	}
}

// configOf is o's node configuration for a one-shard node in o's data directory.
func configOf(o *serveOptions, logger *slog.Logger) (replication.NodeConfig, error) {
	return o.nodeConfig(logger, node.Layout{Dir: o.data}, shardmap.Single())
}

// TestReplicationStatsShowsTheWitness: /v1/status and the metrics get the node's witness
// status as it is (the pin, the flag, the ratchet, the refusals by reason and the pending
// release), and no witness section without a witness.
func TestReplicationStatsShowsTheWitness(t *testing.T) {
	status := replication.NodeStatus{Witness: &replication.WitnessStatus{Pinned: true,
		PinnedID: "pair-a-witness", UnsignedAllowed: true, SignedRequired: true,
		SignedRequiredSinceUnixMs: 1234, RatchetPath: "/data/witness-signed",
		Refused: replication.WitnessRefusals{Forged: 1, Identity: 2, Unsigned: 3,
			Downgrade: 4}, ReleasePendingEpoch: 5}}
	stats := replicationStats(&status, ops.ModeSync)
	want := ops.WitnessStats{Pinned: true, PinnedID: "pair-a-witness", UnsignedAllowed: true,
		SignedRequired: true, SignedRequiredSinceUnixMs: 1234,
		RatchetPath: "/data/witness-signed", ReleasePendingEpoch: 5}
	if stats.Witness == nil || *stats.Witness != want || stats.WitnessRefused !=
		(ops.WitnessRefusals{Forged: 1, Identity: 2, Unsigned: 3, Downgrade: 4}) {
		t.Fatalf("witness %+v, refused %+v; want %+v and the node's counts", stats.Witness,
			stats.WitnessRefused, want)
	}
	if stats := replicationStats(&replication.NodeStatus{}, ops.ModeSync); stats.Witness != nil {
		t.Fatalf("no witness, yet %+v", stats.Witness)
	}
}

// TestServeSagaTimeoutReachesTheNode: --saga-timeout is the node's SagaTimeout (the
// router's), and its default is the router's own.
func TestServeSagaTimeoutReachesTheNode(t *testing.T) {
	placement := shardmap.Hashed(2)
	o := defaultServeOptions()
	if got := o.nodeSettings(placement); got.SagaTimeout != router.SagaTimeoutDefault ||
		got.Map != placement {
		t.Fatalf("defaults: node config %+v, want the map and SagaTimeout %d", got,
			uint64(router.SagaTimeoutDefault))
	}
	o.sagaTimeout = 3 * time.Second
	if got := o.nodeSettings(placement).SagaTimeout; got != 3_000_000_000 {
		t.Fatalf("--saga-timeout 3s: node SagaTimeout %d ns, want 3,000,000,000", got)
	}
}

// TestServeStandbyCountsTheSagaTimeoutFromStep1: a node started with --standby-of tells
// its node it started as a standby (its router, once promoted, counts the saga timeout
// from step 1: its logs may lack an abort its former primary answered); a node started
// from its own logs does not.
func TestServeStandbyCountsTheSagaTimeoutFromStep1(t *testing.T) {
	placement := shardmap.Hashed(2)
	o := defaultServeOptions()
	if o.nodeSettings(placement).StartedAsStandby {
		t.Fatal("no --standby-of: StartedAsStandby set")
	}
	o.standbyOf = "127.0.0.1:7500"
	if !o.nodeSettings(placement).StartedAsStandby {
		t.Fatal("--standby-of 127.0.0.1:7500: StartedAsStandby not set")
	}
}
