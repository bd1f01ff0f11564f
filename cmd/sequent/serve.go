package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"sequent/core"
	"sequent/core/ledger"
	"sequent/core/node"
	"sequent/core/shard"
	"sequent/core/shardmap"
	"sequent/netio"
	"sequent/netio/api"
	"sequent/netio/capture"
	"sequent/netio/ops"
	"sequent/replication"
	"sequent/wal"
)

// dataFreeBytesWarnDefault is --data-free-bytes-warn's default: 1 GiB is sixteen default
// segments, minutes of writing even at full speed, time enough for an operator to act
// before writes are refused.
const dataFreeBytesWarnDefault = 1 << 30

// serveOptions are `sequent serve`'s settings (flags, or SEQUENT_* environment variables).
type serveOptions struct {
	data              string
	address           string
	advertise         string
	keys              string
	keysAllowOpenMode bool
	sync              string
	syncInterval      time.Duration
	snapshotEvery     uint64
	snapshotsKept     int
	walArchive        string
	walSegmentBytes   int64
	walKeepAll        bool
	dataFreeBytesWarn int64
	accountsCapacity  uint32
	transfersCapacity uint32
	eventLoops        int
	logLevel          string
	replicationListen string
	standbyOf         string
	peer              string
	replicationMode   string
	degradeAfter      time.Duration
	replicationKey    string
	replicationTLS    [3]string // Certificate, key and CA files of the replication link.
	truncateCorrupt   bool
	ringBytes         int
	inFlightEntries   int
	witness           string
	nodeName          string
	lease             time.Duration
	sagaTimeout       time.Duration
	witnessUnsigned   bool // --witness-allow-unsigned
	witnessID         string
	http              string
	httpTLSCert       string
	httpTLSKey        string
	httpAllow         []string
	httpHost          []string
	httpListener      net.Listener // Bound by runServe before the node starts; nil: listen on http.
	allow             []string
	loginAttempts     int
	ledgers           string // Ledger registry for the clearing endpoints (names, scales).
	api               apiOptions
	placement         shardmap.Spec
	capture           captureOptions

	// listenChecked: runServe has checked every address serve listens on
	// (checkListenAddressesFree) before listening on --http and --api, so startNode does
	// not check again (it checks --addr and --replication-listen when run without it).
	listenChecked bool
}

func newServeCommand() *cobra.Command {
	var o serveOptions
	command := &cobra.Command{
		Use:   "serve",
		Short: "Run a Sequent node: binary protocol server, log, state machine, replication",
		Long: `Run a Sequent node.

With no flags it works out of the box: data in ./sequent-data, the binary protocol on
127.0.0.1:7400, fdatasync on every group commit. On first start, if no keys file exists,
a development key is generated into the data directory and printed once; it has every
permission and the operator scope (it sees and moves every account). Other clients own
the accounts they create and reach others' only through grants in the keys file.

Every flag can also be set with an environment variable: SEQUENT_ followed by the flag
name in capitals with dashes as underscores (for example SEQUENT_DATA, SEQUENT_ADDR,
SEQUENT_STANDBY_OF). Flags win over the environment.

Unless GOMAXPROCS is set, serve runs the Go scheduler with one processor per CPU plus one
per event loop and per shard: those goroutines spend much of their time blocked in system
calls (epoll_wait, fdatasync), and without spare processors the runtime keeps taking
them back (16-26% of the server's CPU per small request on 2 CPUs).

Replication: give a primary --replication-listen (and a --replication-key); start a
standby with --standby-of PRIMARY_REPLICATION_ADDRESS, its own --replication-listen,
the same key and a copy of the primary's keys file (else it generates a development key
of its own, which the primary's clients and admin tokens do not match). Promote a standby with 'sequent admin promote'. The link is authenticated
with the key; to encrypt it as well and verify both ends' certificates, give both nodes
--replication-tls-cert, --replication-tls-key and --replication-tls-ca (one CA for both;
each certificate must name the address the other node dials, e.g. an IP SAN).

SIGINT/SIGTERM stop accepting, release what can be released, sync and exit; SIGHUP
rereads the keys file and the HTTP TLS certificate and key (a failed reload keeps the
old ones and logs why) once the node runs; before (a standby waiting for its primary)
it is ignored.

Exit codes: 0 stopped by a signal; 1 the node failed to start or to stop cleanly (a port
taken, a damaged log, a disk error; the reason is printed), or its binary protocol server
stopped on its own (one accept error such as EMFILE, file descriptors exhausted, ends it:
the node then stops in order for its supervisor or standby to take over); 2 bad flags, or a file they
name that cannot be used (a keys file missing, open to others or malformed; a data
directory made with another shard map). A start refused for its flags or for a port
already taken creates nothing: no data directory, no development key.`,
		Example: `  sequent serve                                   # ./sequent-data, 127.0.0.1:7400 and :7401
  sequent serve --data /var/lib/sequent --addr 127.0.0.1:7410 --http 127.0.0.1:7411
  sequent serve --api 127.0.0.1:7402              # also the signed JSON HTTP API
  sequent serve --shards 4 --placement hash       # a node of 4 shards (new data directory)
  sequent serve --addr 10.0.0.2:7400 --replication-listen 10.0.0.2:7500 \
      --replication-key "$KEY" --standby-of 10.0.0.1:7500   # standby of 10.0.0.1's node`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnvironment(cmd); err != nil {
				return usageError{err}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// SIGHUP is caught from the start: its default action ends the process, and
			// waitAndStop handles it only once the node runs, so a reload sent to a
			// standby still waiting for its primary killed it
			// (TestReviewHC49WaitingStandbySurvivesSIGHUP). Until then a SIGHUP
			// reloads nothing; send it again once the node runs.
			startingHangup := make(chan os.Signal, 1)
			signal.Notify(startingHangup, syscall.SIGHUP)
			defer signal.Stop(startingHangup)
			return runServe(ctx, &o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addServeFlags(command.Flags(), &o)
	return command
}

// defaultServeOptions returns serve's settings as its flags default them (for callers
// that run a node in process, such as bench --embedded, and for tests).
func defaultServeOptions() serveOptions {
	var o serveOptions
	addServeFlags(pflag.NewFlagSet("serve", pflag.ContinueOnError), &o)
	return o
}

// addServeFlags defines serve's flags on flags, bound to o.
func addServeFlags(flags *pflag.FlagSet, o *serveOptions) {
	flags.StringVar(&o.data, "data", "./sequent-data", "data directory (log, snapshots, epoch, generated keys; files made 0600, directories 0700)")
	flags.StringVar(&o.address, "addr", "127.0.0.1:7400", "binary protocol listen address")
	flags.StringVar(&o.advertise, "advertise", "", "client address other nodes send in not_primary redirects (default: --addr)")
	flags.StringVar(&o.keys, "keys", "", "keys file, mode 0600 (default: DATA/keys.json, generated with a development key if missing)")
	flags.BoolVar(&o.keysAllowOpenMode, "keys-allow-open-mode", false, "accept a keys file its group or others may read (logged loudly at every load); refused otherwise")
	flags.StringVar(&o.sync, "sync", "every", "log sync policy: every (fdatasync each group commit), interval, none (benchmarks only)")
	flags.DurationVar(&o.syncInterval, "sync-interval", 0, "with --sync interval: the sync period (default 2ms)")
	flags.Uint64Var(&o.snapshotEvery, "snapshot-every", 5_000_000, "ops between snapshots (0: only on demand)")
	flags.IntVar(&o.snapshotsKept, "snapshots-keep", 2, "snapshot files kept (older ones are deleted)")
	flags.StringVar(&o.walArchive, "wal-archive", "", "move log segments fully covered by the oldest kept snapshot here instead of deleting them (shard n ≥ 1 of a node of several: into DIR/shard-n)")
	flags.BoolVar(&o.walKeepAll, "wal-keep-all", false, "never retire log segments (the log grows without bound)")
	flags.Int64Var(&o.dataFreeBytesWarn, "data-free-bytes-warn", dataFreeBytesWarnDefault, "report the problem disk_space_low (/healthz 503) when the data directory's file system has fewer bytes left than this (0: never); writes are refused with log_unavailable once the next log segment cannot be created")
	flags.Int64Var(&o.walSegmentBytes, "wal-segment-bytes", wal.SegmentBytesDefault, fmt.Sprintf("tuning: size of each preallocated log segment file, from %d (one largest entry) to %d; applies to segments created from now on", wal.SegmentBytesMin, wal.SegmentBytesMax))
	flags.Uint32Var(&o.accountsCapacity, "accounts-capacity", 1<<18, "accounts to preallocate for (more still fit)")
	flags.Uint32Var(&o.transfersCapacity, "transfers-capacity", 1<<21, "transfers to preallocate for (more still fit)")
	flags.IntVar(&o.eventLoops, "event-loops", 1, "gnet event loops for the binary protocol")
	flags.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	flags.StringVar(&o.replicationListen, "replication-listen", "", "replication listen address (enables replication)")
	flags.StringVar(&o.standbyOf, "standby-of", "", "start as the standby of this primary's replication address")
	flags.StringVar(&o.peer, "peer", "", "the other node's replication address, fenced on promotion (default: --standby-of)")
	flags.StringVar(&o.replicationMode, "replication-mode", "sync", "sync (replies wait for the standby) or async")
	flags.DurationVar(&o.degradeAfter, "replication-degrade-after", 0, "sync mode: release without the standby once it has been gone this long (0: never; acknowledged writes may then be lost)")
	flags.StringVar(&o.replicationKey, "replication-key", "", "shared secret of the replication link (required with replication)")
	addReplicationTLSFlags(flags, &o.replicationTLS, "this node's")
	flags.StringSliceVar(&o.allow, "allow", nil, "CIDRs allowed to connect to the binary port (default: anyone who can connect)")
	flags.IntVar(&o.loginAttempts, "login-attempts-per-minute", netio.LoginAttemptsPerMinuteDefault, "failed logins allowed per minute per (remote address, client id), and connections without a login per remote address")
	flags.StringVar(&o.http, "http", "127.0.0.1:7401", "HTTP address of metrics, health, status and admin (\"\" to disable)")
	flags.StringVar(&o.httpTLSCert, "http-tls-cert", "", "TLS certificate file for the HTTP server (with --http-tls-key)")
	flags.StringVar(&o.httpTLSKey, "http-tls-key", "", "TLS key file for the HTTP server")
	flags.StringSliceVar(&o.httpAllow, "http-allow", nil, "CIDRs allowed to reach the HTTP server (default: anyone who can connect)")
	flags.StringSliceVar(&o.httpHost, "http-host", nil, "host names the HTTP server answers for (repeatable, comma-separated; any port): a request whose Host header names anything but an IP address, localhost or one of these gets 421, so that a web page re-pointing its DNS name at the node (DNS rebinding) cannot read it through an operator's browser. Add the names Prometheus, load balancers and operators use in their URLs; with --http-tls-cert the certificate's DNS names (a wildcard: one label) are accepted without listing them")
	flags.StringVar(&o.ledgers, "ledgers", "", "ledger registry (JSON: each ledger's currency name and scale, each key once and lower case) for the settlement endpoint's amounts")
	flags.StringVar(&o.witness, "witness", "", "lease witness address: enables automatic failover (see 'sequent witness')")
	flags.StringVar(&o.nodeName, "node-name", "", "this node's name at the witness (default: --advertise)")
	flags.DurationVar(&o.lease, "lease", replication.LeaseDurationDefault, "witness lease duration")
	flags.StringVar(&o.witnessID, "witness-id", "", "the witness's id, as 'sequent witness' prints it at start (the same on both nodes): the node then believes only a witness that proves that id, so that another witness holding the same replication key (another pair's, an old one left running) cannot grant it the lease. Empty: any witness holding the key is believed (said once at warn level). Needs a witness of session 38 or later")
	flags.BoolVar(&o.witnessUnsigned, "witness-allow-unsigned", false, "DANGER, off by default: without --replication-tls-*, accept the unsigned answers of a witness older than this build (it does not sign its replies); anyone on the path to the witness can then forge a grant (two primaries) or a refusal (a fence). Only for an upgrade done nodes first: upgrade the witness first instead")
	flags.DurationVar(&o.sagaTimeout, "saga-timeout", sagaTimeoutDefault, fmt.Sprintf("nodes of several shards: a cross-shard transfer whose credit shard has not decided this long after the later of its step 1 and the node's start (in sync mode: once its standby has caught up; after step 1 alone on a node started with --standby-of, once promoted) is refused saga_timed_out (nothing moves); %v to %v", sagaTimeoutMin, sagaTimeoutMax))
	flags.IntVar(&o.ringBytes, "input-ring-bytes", shard.RingBytesDefault, "tuning: bytes of requests queued before the server answers busy")
	flags.IntVar(&o.inFlightEntries, "in-flight-entries", shard.InFlightEntriesMaxDefault, "tuning: log entries applied but not yet durable before the sequencer waits")
	addPlacementFlags(flags, &o.placement)
	flags.BoolVar(&o.truncateCorrupt, "wal-truncate-corrupt", false, "DANGER: cut the log at the first damaged entry instead of refusing to start")
	addAPIFlags(flags, &o.api)
	addCaptureFlags(flags, &o.capture)
}

// applyEnvironment sets every flag not given on the command line from its SEQUENT_*
// environment variable.
func applyEnvironment(cmd *cobra.Command) error {
	var problems []error
	cmd.Flags().VisitAll(func(flag *pflag.Flag) {
		if flag.Changed {
			return
		}
		name := "SEQUENT_" + strings.ToUpper(strings.ReplaceAll(flag.Name, "-", "_"))
		if value, ok := os.LookupEnv(name); ok {
			if err := flag.Value.Set(value); err != nil {
				problems = append(problems, fmt.Errorf("%s=%q: %w", name, value, err))
			}
		}
	})
	return errors.Join(problems...)
}

func runServe(ctx context.Context, o *serveOptions, stdout, stderr io.Writer) error {
	// Every port serve listens on is checked, bound without listening, before any is
	// listened on: --http and --api were listened on here unchecked, so one of them taken
	// by another process said "ops: listen" or "api: listen" without naming the flag, and
	// --http or --api naming --addr's port, or each other's, said that port was in use
	// (by this process) rather than that one port was given twice
	// (TestServePortCheckCoversEveryListener).
	var err error
	if o.address, err = zoneByName(o.address); err != nil {
		return usageError{err}
	}
	if err := checkListenAddressesFree(o.listenFlags()...); err != nil {
		return err
	}
	o.listenChecked = true
	if o.http != "" {
		// Bind the HTTP port before anything starts: a taken port must fail the start
		// before the node serves or a standby attaches to its primary, not after.
		listener, err := net.Listen("tcp", o.http)
		if err != nil {
			return fmt.Errorf("ops: listen: %w", err)
		}
		o.httpListener = listener
	}
	if err := o.api.bind(); err != nil {
		if o.httpListener != nil {
			o.httpListener.Close()
		}
		return err
	}
	running, err := startNode(ctx, o, stdout, stderr)
	if err != nil {
		if o.httpListener != nil {
			o.httpListener.Close()
		}
		if o.api.listener != nil {
			o.api.listener.Close()
		}
		return err
	}
	running.processors = raiseProcessors(os.Getenv("GOMAXPROCS") != "", o.eventLoops,
		len(running.groups.Groups()))
	if o.http != "" {
		if running.ops, err = startOps(o, running); err != nil {
			o.httpListener.Close()
			return errors.Join(err, running.stop())
		}
	}
	printStartup(stdout, o, running)
	return running.waitAndStop(ctx)
}

// runningNode is a started node with its protocol server: what `serve` runs, and what
// `bench --embedded` runs in-process.
type runningNode struct {
	node    *node.Node        // The shards, their router, the outputs.
	groups  *replication.Node // The shard groups: logs, replication, roles.
	server  *netio.Server
	api     *api.Server // Nil when --api is "".
	ops     *ops.Server // Nil when --http is "".
	keyring *netio.Keyring
	logger  *slog.Logger
	// captures are change capture, one per shard in shard order (none without --cdc-nats).
	captures []*capture.Capture
	// processors is GOMAXPROCS as serve left it (raiseProcessors); 0 when not set by serve.
	processors int
	opsState
}

// startNode opens the node (recovering it) and starts serving. Stop it with stop(). ctx
// ends a standby's wait for its primary at start (a shutdown signal).
func startNode(ctx context.Context, o *serveOptions, stdout, stderr io.Writer) (*runningNode, error) {
	logger, level, err := newLogger(o.logLevel, stderr)
	if err != nil {
		return nil, usageError{err}
	}
	layout := node.Layout{Dir: o.data}
	placement, err := o.shardMap(layout)
	if err != nil {
		return nil, usageError{err}
	}
	nodeConfig, err := o.nodeConfig(logger, layout, placement) // Flags first: nothing is created on a usage error.
	if err != nil {
		return nil, usageError{err}
	}
	allow, err := parsePrefixes(o.allow)
	if err != nil {
		return nil, usageError{fmt.Errorf("--allow: %w", err)}
	}
	if o.address, err = zoneByName(o.address); err != nil {
		return nil, usageError{err}
	}
	if !o.listenChecked { // A node run in process (bench --embedded, tests): no --http, --api.
		if err := checkListenAddressesFree(o.listenFlags()[:2]...); err != nil {
			return nil, err
		}
	}
	var keyring *netio.Keyring
	if o.keys != "" { // A keys file given that cannot be used leaves no data directory behind.
		if keyring, err = loadOrGenerateKeys(o, stdout, logger); err != nil {
			return nil, err
		}
	}
	if err := layout.RecordShardMap(placement); err != nil {
		if errors.Is(err, node.ErrShardMapMismatch) { // --shards or --placement* differ.
			return nil, usageError{err}
		}
		return nil, err
	}
	if keyring == nil {
		if keyring, err = loadOrGenerateKeys(o, stdout, logger); err != nil {
			return nil, err
		}
	}
	waiting := startWaitingOps(o, keyring, logger) // A standby's wait: probes answered.
	groups, err := replication.OpenNode(ctx, nodeConfig)
	waiting.stop(logger)
	if err != nil {
		return nil, err
	}
	running := &runningNode{groups: groups, keyring: keyring, logger: logger,
		opsState: opsState{data: o.data, started: time.Now(), level: level,
			replicationMode: o.replicationMode, freeBytesWarning: uint64(o.dataFreeBytesWarn)}}
	// The keys file's grants reach the core through the log, in every shard's: each
	// primary shard writes them before the first request it sequences (a standby's when
	// it is promoted).
	if err := running.setGrants(); err != nil {
		groups.Close()
		return nil, err
	}
	if running.node, err = node.New(o.nodeSettings(placement), groups); err != nil {
		groups.Close()
		return nil, err
	}
	controls := netio.NewControls(netio.ControlsConfig{AllowedNetworks: allow,
		LoginAttemptsPerMinute: o.loginAttempts})
	first := groups.Shard()
	running.server, err = netio.NewServer(netio.Config{Address: o.address, Keys: keyring,
		Logger: logger, EventLoops: o.eventLoops, PrimaryAddress: first.PrimaryAddress,
		Epoch: first.Epoch, Admission: controls, MarketData: marketDataConfig(groups, placement)},
		running.node)
	if err != nil {
		groups.Close()
		return nil, err
	}
	if running.api, err = newAPIServer(&o.api, running.node, first.PrimaryAddress, keyring,
		controls, logger); err != nil {
		groups.Close()
		return nil, err
	}
	for _, group := range groups.Groups() { // Each shard's feed follows its release.
		group.Shard().AddConsumer(running.server.MarketDataOf(int(group.Index())), nil)
	}
	running.captures = o.capture.start(groups, nodeConfig, logger)
	if err := running.server.Start(); err != nil {
		closeCaptures(running.captures)
		groups.Close()
		return nil, err
	}
	replier := running.server.Replier()
	if running.api != nil {
		replier = api.NewReplier(replier, running.api)
		if err := running.api.Start(); err != nil {
			closeCaptures(running.captures)
			// The protocol server is running by now: stop it, or its event loops and
			// listener outlive the failed start (an in-process caller, bench --embedded).
			stopping, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = errors.Join(err, running.server.Shutdown(stopping))
			cancel()
			groups.Close()
			return nil, err
		}
	}
	running.node.Start(replier)
	return running, nil
}

// marketDataConfig gives each shard its own market-data feed: from the op after its
// recovered log, serving while the node is primary (failover is node-wide), fenced
// while its shard is (a deposed primary, not a standby), with the instruments'
// subscriptions routed by the shard map.
func marketDataConfig(groups *replication.Node, placement *shardmap.Map) netio.MarketDataConfig {
	config := netio.MarketDataConfig{InstrumentShard: placement.InstrumentShard}
	for _, group := range groups.Groups() {
		s := group.Shard()
		config.Shards = append(config.Shards, netio.MarketDataShard{
			StartOp: group.Recovery().OpLast + 1,
			Serving: func() bool { return s.Role() == shard.RolePrimary },
			// Fenced, unlike a standby: its report streams are dead (netio closes them).
			Fenced: func() bool { return s.Role() == shard.RoleFenced }})
	}
	return config
}

// setGrants hands the keys file's grant table to every shard.
func (r *runningNode) setGrants() error {
	body := r.keyring.GrantsBody()
	for _, s := range r.groups.Shards() {
		if err := s.SetGrants(body); err != nil {
			return err
		}
	}
	return nil
}

// errProtocolServerStopped is serve's error when the binary protocol server stopped
// without being asked to (exit 1).
var errProtocolServerStopped = errors.New("the binary protocol server stopped on its own; the node stops (restart it)")

// waitAndStop serves until a signal, reloading keys on SIGHUP, then stops. A failed log
// does not stop the process: the shard goes on refusing writes (log_unavailable) and the
// operators' HTTP shows log_failed until an operator restarts the node (core/shard's
// doc.go says why it is not resumed in process).
//
// A protocol server that stops on its own does stop the process, in the same order as a
// signal, with errProtocolServerStopped (exit 1): gnet v2.9.7 ends its engine on any
// accept error but EINTR, EAGAIN, ECONNRESET and ECONNABORTED (acceptor_unix.go, accept0
// and accept; reactor_default.go, rotate), so one EMFILE (file descriptors exhausted)
// ended the binary port while the process, its /healthz and its replication ran on: a
// node no client could reach that no supervisor or standby saw as down. Exiting lets the
// supervisor restart it and a standby take over, as on any crash.
func (r *runningNode) waitAndStop(ctx context.Context) error {
	hangup := make(chan os.Signal, 1)
	signal.Notify(hangup, syscall.SIGHUP)
	defer signal.Stop(hangup)
	serverEnded := make(chan error, 1)
	go func() { serverEnded <- r.server.Wait() }()
	for {
		select {
		case err := <-serverEnded:
			// gnet.Run returns nil even when an accept error ended it (its own log says which).
			attributes := []any{"address", r.server.Address()}
			if err != nil {
				attributes = append(attributes, "error", err)
			}
			r.logger.Error("sequent: the binary protocol server stopped on its own; stopping the node",
				attributes...)
			return errors.Join(errProtocolServerStopped, r.stop())
		case <-hangup:
			if err := r.reloadKeys(); err != nil {
				r.logger.Error("sequent: keys reload failed; keeping the old keys", "error", err)
			} else {
				r.logger.Info("sequent: keys reloaded")
			}
			if r.ops != nil && r.ops.TLSEnabled() {
				if err := r.ops.ReloadCertificate(); err != nil {
					r.logger.Error("sequent: HTTP certificate reload failed; keeping the old one",
						"error", err)
				} else {
					r.logger.Info("sequent: HTTP certificate reloaded")
				}
			}
			continue
		case <-ctx.Done():
			r.logger.Info("sequent: shutting down")
		}
		return r.stop()
	}
}

// reloadKeys rereads the keys file (logins and permissions change at once) and hands its
// grant table to the shard, which logs it before the next requests it sequences.
func (r *runningNode) reloadKeys() error {
	if err := r.keyring.Reload(); err != nil {
		return err
	}
	return r.setGrants()
}

// stop stops in order: refuse new requests, release what can be, close the log.
func (r *runningNode) stop() error {
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var opsErr, apiErr error
	if r.ops != nil {
		opsErr = r.ops.Shutdown(shutdown)
	}
	if r.api != nil {
		apiErr = r.api.Shutdown(shutdown)
	}
	serverErr := r.server.Shutdown(shutdown)
	closeCaptures(r.captures) // What they have not published stays in the logs.
	nodeErr := r.node.Close()
	errs := []error{opsErr, apiErr, serverErr, nodeErr}
	for _, s := range r.groups.Shards() {
		errs = append(errs, s.Err())
	}
	return errors.Join(errs...)
}

// nodeSettings is the node's configuration from the options (validated): its map, the
// router's saga timeout, and whether it started as a standby (--standby-of: it serves
// once promoted, and then counts the saga timeout from step 1, node.Config).
func (o *serveOptions) nodeSettings(placement *shardmap.Map) node.Config {
	return node.Config{Map: placement, SagaTimeout: uint64(o.sagaTimeout),
		StartedAsStandby: o.standbyOf != ""}
}

// nodeConfig checks the options (validate) and translates them into the node's
// configuration: one group per shard of placement, in the layout's directories.
func (o *serveOptions) nodeConfig(logger *slog.Logger, layout node.Layout,
	placement *shardmap.Map) (replication.NodeConfig, error) {
	if err := o.validate(); err != nil {
		return replication.NodeConfig{}, err
	}
	policy, _ := parseSyncPolicy(o.sync) // Checked by validate.
	mode := replication.ModeSync
	if o.replicationMode == "async" {
		mode = replication.ModeAsync
	}
	replicationTLS, err := loadReplicationTLS(o.replicationTLS)
	if err != nil {
		return replication.NodeConfig{}, err
	}
	advertise := o.advertise
	if advertise == "" {
		advertise = o.address
	}
	groups := make([]replication.GroupConfig, placement.Shards)
	for index := range groups {
		groups[index] = replication.GroupConfig{LogDir: layout.LogDir(index),
			SnapshotDir: layout.SnapshotDir(index),
			Machine: core.Config{Ledger: ledger.Config{AccountsCapacity: o.accountsCapacity,
				TransfersCapacity: o.transfersCapacity, HashSeed: randomSeed()},
				Shard: core.ShardConfig{Map: placement, Index: uint16(index)}}}
	}
	return replication.NodeConfig{
		Groups: groups, Map: placement, EpochPath: layout.EpochPath(),
		WAL: wal.Options{Sync: policy, SyncInterval: o.syncInterval,
			TruncateCorrupt: o.truncateCorrupt, SegmentBytes: o.walSegmentBytes},
		Shard: shard.Config{RingBytes: o.ringBytes, InFlightEntriesMax: o.inFlightEntries,
			LogHoldBytesMax: o.capture.retainBytes},
		Snapshots: &shard.SnapshotConfig{EveryOps: o.snapshotEvery, Keep: o.snapshotsKept,
			RetireLog: !o.walKeepAll, ArchiveDir: o.walArchive},
		Listen:        o.replicationListen,
		StandbyOf:     o.standbyOf,
		Peer:          o.peer,
		Mode:          mode,
		DegradeAfter:  o.degradeAfter,
		Key:           []byte(o.replicationKey),
		TLS:           replicationTLS,
		ClientAddress: advertise,
		Witness:       o.witness,
		NodeName:      o.nodeName,
		LeaseDuration: o.lease,
		// Without TLS, a witness that does not sign its replies is refused unless allowed.
		WitnessUnsignedAllowed: o.witnessUnsigned,
		WitnessID:              o.witnessID,
		// The signed-replies ratchet survives restarts beside the epoch file.
		WitnessRatchetPath: layout.WitnessRatchetPath(),
		Logger:             logger,
	}, nil
}

// parsePrefixes parses CIDRs (a bare address means just that address).
func parsePrefixes(texts []string) ([]netip.Prefix, error) {
	var prefixes []netip.Prefix
	for _, text := range texts {
		prefix, err := netip.ParsePrefix(text)
		if err != nil {
			address, addressErr := netip.ParseAddr(text)
			if addressErr != nil {
				return nil, err
			}
			prefix = netip.PrefixFrom(address, address.BitLen())
		}
		prefixes = append(prefixes, prefix.Masked())
	}
	return prefixes, nil
}

func parseSyncPolicy(text string) (wal.SyncPolicy, error) {
	switch text {
	case "every":
		return wal.SyncEvery, nil
	case "interval":
		return wal.SyncInterval, nil
	case "none":
		return wal.SyncNone, nil
	}
	return 0, fmt.Errorf("--sync %q: want every, interval or none", text)
}

// loadOrGenerateKeys loads the keys file, generating a development one on first start. A
// keys file its group or others may access is refused unless --keys-allow-open-mode.
func loadOrGenerateKeys(o *serveOptions, stdout io.Writer, logger *slog.Logger) (*netio.Keyring, error) {
	path := o.keys
	if path == "" {
		path = node.Layout{Dir: o.data}.KeysPath()
		if err := os.MkdirAll(o.data, wal.DirectoryMode); err != nil {
			return nil, err
		}
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			dev, err := netio.GenerateDevKeys(path)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(stdout, "WARNING: generated a DEVELOPMENT key in %s (shown once; do not use in production):\n"+
				"  client id %d (every permission, operator scope), key id %d, secret %s\n"+
				"  admin token %s\n", path, dev.Client, dev.Key, dev.Secret, dev.AdminToken)
			if o.standbyOf != "" {
				// Clients and operators log in to whichever node is primary, so a standby
				// with a key of its own refuses them all once promoted.
				fmt.Fprintf(stdout, "WARNING: this node starts as a standby: its keys file "+
					"must be its primary's, or the primary's clients and admin tokens are "+
					"refused here (after a promotion too): stop it, copy the primary's keys "+
					"file to %s (mode 0600) or give --keys, and start it again\n", path)
			}
		}
	}
	keyring, err := netio.LoadKeysWith(path, netio.KeysOptions{AllowOpenMode: o.keysAllowOpenMode,
		Logger: logger})
	if err != nil {
		// Missing, open to others or malformed: the operator fixes the file or the flag
		// (exit 2), as the client commands answer a keys file they cannot use.
		return nil, usageError{err}
	}
	return keyring, nil
}

// defaultProcessors is the runtime's GOMAXPROCS at start (CPUs, or the container's CPU
// limit), read before serve changes it, so that raising it twice (tests run serve many
// times in one process) gives the same setting.
var defaultProcessors = runtime.GOMAXPROCS(0)

// raiseProcessors gives the Go scheduler one processor (P) more than the runtime's
// default for each goroutine that spends much of its life blocked in a system call while
// holding one: every gnet event loop (epoll_wait) and every shard (its sequencer or log
// writer in fdatasync). With all Ps held that way, the runtime's monitor thread (sysmon)
// must take a P back from a blocked goroutine every time another goroutine is runnable,
// polling every 20 µs: a profile of one-transfer requests (32 connections x 16 in flight,
// 2 vCPUs) had 16% of the server's CPU in sysmon, and GOMAXPROCS=4 (2 + 1 loop + 1
// shard) cut the server's CPU per request by 16-26% (bench/PERFORMANCE.md, issue 15, session 33).
// GOMAXPROCS=3 did not. Idle Ps cost nothing; the OS still runs at most as many threads
// at once as it has CPUs. An explicit GOMAXPROCS in the environment is left alone. It
// returns the setting made, or 0 when it made none.
func raiseProcessors(explicit bool, eventLoops int, shards int) int {
	if explicit {
		return 0
	}
	processors := defaultProcessors + max(eventLoops, 1) + max(shards, 1)
	runtime.GOMAXPROCS(processors)
	return processors
}

func printStartup(stdout io.Writer, o *serveOptions, r *runningNode) {
	groups, address := r.groups, r.server.Address()
	status := groups.Status()
	fmt.Fprintf(stdout, "sequent serve: %s at epoch %d, binary protocol on %s, data in %s\n",
		status.Role, status.Epoch, address, o.data)
	if r.processors > 0 {
		fmt.Fprintf(stdout, "sequent serve: GOMAXPROCS %d (one per CPU, plus one per event "+
			"loop and per shard, which block in system calls; set GOMAXPROCS to choose)\n",
			r.processors)
	}
	if shards := len(groups.Groups()); shards > 1 {
		fmt.Fprintf(stdout, "sequent serve: %d shards: %s\n", shards, r.node.Map())
	}
	for _, group := range groups.Groups() {
		recovery := group.Recovery()
		from := "empty state"
		if recovery.SnapshotPath != "" {
			from = fmt.Sprintf("snapshot at op %d (%s)", recovery.SnapshotOp, recovery.SnapshotPath)
		}
		which := ""
		if len(groups.Groups()) > 1 {
			which = fmt.Sprintf("shard %d ", group.Index())
		}
		fmt.Fprintf(stdout, "sequent serve: %srecovered op %d from %s + %d log entries in %v\n",
			which, recovery.OpLast, from, recovery.ReplayedEntries,
			recovery.Replay.Round(time.Millisecond))
	}
	if r.ops != nil {
		fmt.Fprintf(stdout, "sequent serve: metrics, health, status and admin on http://%s\n",
			r.ops.Address())
	}
	if r.api != nil {
		scheme := "http"
		if o.api.tlsCert != "" {
			scheme = "https"
		}
		fmt.Fprintf(stdout, "sequent serve: JSON API on %s://%s (OpenAPI at /v1/openapi.json)\n",
			scheme, r.api.Address())
	}
	if warning := openFilesWarning(openFilesLimit()); warning != "" {
		fmt.Fprintln(stdout, warning)
	}
	if o.sync == "none" {
		fmt.Fprintln(stdout, "sequent serve: WARNING: --sync none: NOTHING IS FSYNCED, a crash loses acknowledged writes (benchmarks only)")
	}
}

// openFilesWarningBelow is the open-files limit (RLIMIT_NOFILE) under which serve warns at
// start: every binary protocol, API, HTTP and replication connection holds a descriptor,
// and the binary protocol server stops for good on the first accept that finds none left
// (the node then exits 1, waitAndStop). 4096 leaves room for a few thousand clients beside
// the node's own logs and listeners; the systemd units set 65536.
const openFilesWarningBelow = 4096

// openFilesWarning is serve's start-up warning for an open-files limit below
// openFilesWarningBelow, or "" (also when the limit is unknown: 0).
func openFilesWarning(limit uint64) string {
	if limit == 0 || limit >= openFilesWarningBelow {
		return ""
	}
	return fmt.Sprintf("sequent serve: WARNING: open files limit %d (RLIMIT_NOFILE, below %d): "+
		"the node exits (1) once connections use them all; raise it (ulimit -n, systemd LimitNOFILE)",
		limit, openFilesWarningBelow)
}

// countNonEmpty counts the non-empty strings.
func countNonEmpty(texts []string) int {
	count := 0
	for _, text := range texts {
		if text != "" {
			count++
		}
	}
	return count
}

// addReplicationTLSFlags defines the three replication TLS flags (serve and witness share
// them: the witness link uses the replication link's TLS). whose names the certificate's
// owner in the help text.
func addReplicationTLSFlags(flags *pflag.FlagSet, files *[3]string, whose string) {
	flags.StringVar(&files[0], "replication-tls-cert", "", "mutual TLS on the replication and witness links: "+whose+" certificate (PEM; with --replication-tls-key and --replication-tls-ca; needs the serverAuth and clientAuth key usages, and the address peers dial as a SAN)")
	flags.StringVar(&files[1], "replication-tls-key", "", "mutual TLS on the replication and witness links: "+whose+" private key (PEM)")
	flags.StringVar(&files[2], "replication-tls-ca", "", "mutual TLS on the replication and witness links: CA certificate(s) that signed the nodes' and the witness's certificates (PEM)")
}

// loadReplicationTLS loads the TLS settings from the certificate, key and CA files: nil
// when none is given, an error when only some are.
func loadReplicationTLS(files [3]string) (*replication.TLS, error) {
	switch countNonEmpty(files[:]) {
	case 0:
		return nil, nil
	case 3:
		return replication.LoadTLS(files[0], files[1], files[2])
	}
	return nil, errors.New("replication TLS needs all three of --replication-tls-cert, --replication-tls-key and --replication-tls-ca")
}
