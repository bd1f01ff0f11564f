package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"sequent/bench"
	"sequent/core/node"
	"sequent/netio"
	"sequent/wal"
)

// benchOptions are `sequent bench`'s flags.
type benchOptions struct {
	credentials              clientOptions // --addr, --client-id, --key-id, --secret, --keys.
	embedded                 bool
	sync                     string
	transfers                uint32
	walSegmentBytes          int64
	driver                   string
	connections              int
	inflight                 int
	callers                  int
	coalesceEventsMax        int
	rejoinWait               time.Duration
	loneReads                bool
	events                   int
	accounts                 int
	choice                   string
	zipfSkew                 float64
	hotAccounts              int
	hotFraction              float64
	mix                      string
	marketDataSubscribers    int
	duration                 time.Duration
	warmup                   time.Duration
	count                    uint64
	rate                     float64
	seed                     uint64
	runID                    uint64
	clientOrderIDsIncreasing bool
	drainTimeout             time.Duration
	asJSON                   bool
	hlog                     string
	plot                     string
	http                     string
	quiet                    bool
	shards                   int
	crossShard               float64 // Percent; negative: not given.
	cpuProfile               string
	trace                    string
}

// Defaults of `sequent bench`.
const (
	benchConnectionsDefault = 2
	benchInflightDefault    = 4
	benchEventsDefault      = 8189
	benchDurationDefault    = 10 * time.Second
	benchWarmupDefault      = 2 * time.Second
	benchHTTPPortDefault    = "7401"
	// benchHTTPAuto marks --http as not given: the target's host on port 7401, or the
	// embedded server's own endpoint.
	benchHTTPAuto = "auto"
)

func newBenchCommand() *cobra.Command {
	o := &benchOptions{}
	command := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a server (or an embedded one) and report throughput and latency",
		Long: `Drive a Sequent server with transfers or orders over the binary protocol and report
events/s, requests/s, latency percentiles (HdrHistogram; per request and per event) and a
count of every result code. At the end it reads its accounts back and checks the ledger
invariant over them; a mismatch exits 1.

Closed loop by default (each connection keeps --inflight requests outstanding); with
--rate, an open loop at that many requests/s over all connections, each latency measured
from the request's intended send time (no coordinated omission). A closed loop with
--inflight 1 and --lone-reads (the client driver) sends each request with the client's
DoInto and waits in it, as an application issuing one request at a time does, and the
client reads the reply on the sending goroutine (client.Config.LoneReads).

--embedded starts a server in this process (temporary data directory, free loopback port,
generated key; removed at the end), so one command gives a number on a fresh machine.
It raises GOMAXPROCS as 'sequent serve' does (unless GOMAXPROCS is set).
Otherwise credentials come from flags, SEQUENT_* variables or the keys file, as for
'sequent client'.

--embedded sizes each shard's transfer tables for the run unless --transfers-capacity
is given: the transfers the run can create over the warm-up and the measured time (at
--rate, or in a closed loop at 20,000 round trips/s per request in flight, at most
1,000,000 transfers/s; with --count, at most that many requests), spread over the shards
as if every transfer crossed them, with orders two transfers per trader (their funding),
plus 25%: at most 8,388,608 over all shards but at least 2,097,152 transfers per shard
(so 2,097,152 each on more than 4 shards; about 150 bytes each, allocated at start). A
shard that stores more grows its tables while the load runs, and the report says so
("transfer table: GREW"): the figures then include that growth. A run with orders has
no such line: the traders' funding and the fills store transfers the generator does not
count.

Workloads (--mix, weights per request): single, two-phase (pending, then post or void),
linked (chains of 2-4), orders (one instrument, exchange-core's mix: 9% GTC, 3% IOC,
6% cancel, 82% move). Accounts, traders and the instrument derive from --seed and are
created idempotently; transfer and order ids also derive from --run-id (default: the
clock), so reruns never collide.

--driver wire drives the measured load with one goroutine per connection that speaks the
binary protocol itself (a lean generator, as redis-benchmark is for Redis, so that the
machine's CPU goes to the server under test rather than to the Go client library): it
refills the window in one write, reads replies in bulk and checks each one (checksum,
session, number). It is for measuring: it never reconnects or resends, so a lost
connection, an error frame, an unexpected or damaged frame ends the run with an error,
and busy, log_unavailable and not_primary replies are counted as refusals. Closed loop of
the transfer workloads only (not --rate, --callers, orders or --md-subscribers); setup and
the final check use the Go client on a connection of their own.

Exit codes: 0 done and the invariant holds; 1 the invariant check failed or the run
could not set up; 2 bad flags or no server reachable.`,
		Example: `  sequent bench --embedded                        # 10 s of full batches, self-contained
  sequent bench --addr 127.0.0.1:7400 --keys sequent-data/keys.json --duration 30s
  sequent bench --embedded --events 1 --connections 32 --inflight 16 --driver wire
  sequent bench --embedded --events 1 --rate 5000 --plot latency.svg   # open loop
  sequent bench --embedded --mix single=70,two-phase=20,linked=10 --json
  sequent bench --embedded --mix orders --events 1 --md-subscribers 8 --rate 2000`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usage(cmd, "unexpected argument %q: bench takes flags only", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runBench(ctx, cmd, o)
		},
	}
	o.addFlags(command)
	return command
}

func (o *benchOptions) addFlags(command *cobra.Command) {
	flags := command.Flags()
	o.credentials.addConnectionFlags(flags)
	flags.BoolVar(&o.embedded, "embedded", false,
		"start a server in this process (temporary data dir, loopback, generated key)")
	flags.StringVar(&o.sync, "sync", "every",
		"--embedded: log sync policy (every, interval, none)")
	flags.Uint32Var(&o.transfers, "transfers-capacity", 0,
		"--embedded: transfers each shard preallocates for, as 'sequent serve' (more still "+
			"fit; growth costs some throughput while it runs); 0: sized for the run (above)")
	flags.Int64Var(&o.walSegmentBytes, "wal-segment-bytes", wal.SegmentBytesDefault,
		fmt.Sprintf("--embedded: size of each log segment file, as 'sequent serve' (%d to %d): "+
			"sets how often, and how much, the next segment's zero-fill writes during a run",
			wal.SegmentBytesMin, wal.SegmentBytesMax))
	flags.StringVar(&o.driver, "driver", "client",
		"what drives the load: client (the Go client library) or wire (one goroutine per "+
			"connection speaking the protocol, no resends: for measuring; see above)")
	flags.IntVar(&o.connections, "connections", benchConnectionsDefault,
		"connections (one session each)")
	flags.IntVar(&o.inflight, "inflight", benchInflightDefault,
		"requests outstanding per connection (closed loop: always; open loop: at most)")
	flags.IntVar(&o.callers, "callers", 0,
		"goroutines each calling CreateTransfers with --events transfers, one call at a "+
			"time, spread over --connections (the client merges concurrent calls; "+
			"--inflight is then each connection's window of merged requests); 0: off")
	flags.IntVar(&o.coalesceEventsMax, "coalesce-events-max", 0,
		"client merging of concurrent create calls: most events per merged request "+
			"(0: the client's default, 8189; -1: off)")
	flags.DurationVar(&o.rejoinWait, "rejoin-wait", 0,
		"client merging: most time the next merged request waits for the callers the "+
			"last answer released to join it (0: the client's default, 1ms; negative: off)")
	flags.BoolVar(&o.loneReads, "lone-reads", false,
		"client.Config.LoneReads: with --inflight 1 (closed loop, client driver) each "+
			"request is a DoInto whose caller reads its own reply")
	flags.IntVar(&o.events, "events", benchEventsDefault, "events per request (1 to 8189)")
	flags.IntVar(&o.accounts, "accounts", 0,
		"ledger accounts, or traders for orders (default 10000; 1000 for orders only)")
	flags.StringVar(&o.choice, "account-choice", "uniform",
		"how transfers pick accounts: uniform, zipf or hot")
	flags.Float64Var(&o.zipfSkew, "zipf-skew", 0.99, "zipf: exponent (0 < s < 1, or s > 1)")
	flags.IntVar(&o.hotAccounts, "hot-accounts", 100, "hot: number of hot accounts")
	flags.Float64Var(&o.hotFraction, "hot-fraction", 0.9,
		"hot: share of picks among the hot accounts (0 to 1)")
	flags.StringVar(&o.mix, "mix", "single",
		"workloads and weights, e.g. single=70,two-phase=20,linked=10 or orders")
	flags.DurationVar(&o.duration, "duration", benchDurationDefault,
		"measured load time, after --warmup (with --count: 0 unless given)")
	flags.DurationVar(&o.warmup, "warmup", benchWarmupDefault,
		"load before measuring (not counted)")
	flags.Uint64Var(&o.count, "count", 0,
		"stop after this many measured requests (0: run for --duration)")
	flags.IntVar(&o.marketDataSubscribers, "md-subscribers", 0,
		"extra connections subscribed to all market data; reports order → market-data update latency (use with --mix orders)")
	flags.Float64Var(&o.rate, "rate", 0,
		"open loop: requests/s over all connections (0: closed loop)")
	flags.Uint64Var(&o.seed, "seed", 1,
		"random seed; also names the accounts and the instrument")
	flags.Uint64Var(&o.runID, "run-id", 0,
		"makes transfer and order ids unique (0: from the clock)")
	flags.BoolVar(&o.clientOrderIDsIncreasing, "client-order-ids-increasing", false,
		"orders: place with the increasing-client-order-ids flag, opting the traders' "+
			"trading accounts in for good (PROTOCOL.md \"Client order ids\"); the ids then "+
			"climb with --run-id, so a later run must have a larger one (the clock's, by default)")
	flags.DurationVar(&o.drainTimeout, "drain-timeout", bench.DrainTimeoutDefault,
		"wait this long for outstanding replies at the end")
	flags.BoolVar(&o.asJSON, "json", false, "print the report as one JSON object")
	flags.StringVar(&o.hlog, "hlog", "", "write an HdrHistogram interval log to this file")
	flags.StringVar(&o.plot, "plot", "",
		"write a latency-by-percentile chart to this .svg file")
	flags.StringVar(&o.http, "http", "",
		"server's HTTP status endpoint, read before and after if it answers (default: "+
			"the --addr host, port 7401; --embedded: its own, on a free port; \"\": off); "+
			"a host name must be in the server's --http-host, or it answers 421 and no "+
			"status is read")
	flags.BoolVar(&o.quiet, "quiet", false, "no progress line on stderr")
	flags.IntVar(&o.shards, "shards", 1, "--embedded: shards of the embedded server (hash placement)")
	flags.StringVar(&o.cpuProfile, "cpuprofile", "",
		"write a pprof CPU profile of this process (load generator and, with --embedded, "+
			"the server) over the run, setup and warm-up included, to this file")
	flags.StringVar(&o.trace, "trace", "",
		"write a runtime execution trace of the run (as --cpuprofile) to this file")
	flags.Float64Var(&o.crossShard, "cross-shard", -1, "percent (0-100) of the transfers whose debit and credit accounts are on different shards of the server (default: as the account choice falls)")
}

// runBench resolves the target, runs the load and prints the report.
func runBench(ctx context.Context, cmd *cobra.Command, o *benchOptions) error {
	config, err := o.config(cmd)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	if o.embedded {
		embedded, err := startEmbedded(o, &config, stderr)
		if err != nil {
			return err
		}
		defer embedded.close()
	} else if err := o.resolveCredentials(cmd, &config); err != nil {
		return err
	}
	closeLog, err := o.openIntervalLog(cmd, &config)
	if err != nil {
		return err
	}
	stopProfiles, err := o.startProfiles(cmd)
	if err != nil {
		_ = closeLog()
		return err
	}
	result, err := bench.Run(ctx, config)
	logErr := closeLog()
	if profileErr := stopProfiles(); profileErr != nil {
		fmt.Fprintf(stderr, "sequent bench: profile: %v\n", profileErr)
	}
	if errors.Is(err, bench.ErrUnreachable) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	if o.embedded {
		result.Report.Config.Target = fmt.Sprintf(
			"embedded server (%s, --sync %s, --shards %d, --transfers-capacity %d)",
			result.Report.Config.Target, o.sync, o.shards, config.TransfersCapacity)
	}
	return o.output(cmd, result, errors.Join(result.IntervalLogErr, logErr))
}

// config builds the bench configuration from the flags (usage errors exit 2).
func (o *benchOptions) config(cmd *cobra.Command) (bench.Config, error) {
	mix, err := bench.ParseMix(o.mix)
	if err != nil {
		return bench.Config{}, usage(cmd, "--mix: %v", err)
	}
	driver, err := bench.ParseDriver(o.driver)
	if err != nil {
		return bench.Config{}, usage(cmd, "--driver: %v", err)
	}
	choice, err := bench.ParseChoice(o.choice)
	if err != nil {
		return bench.Config{}, usage(cmd, "--account-choice: %v", err)
	}
	for _, flag := range []struct {
		name  string
		value int
	}{{"connections", o.connections}, {"inflight", o.inflight}, {"events", o.events}} {
		if flag.value < 1 { // The library reads 0 as "default": the command does not.
			return bench.Config{}, usage(cmd, "--%s %d: want at least 1", flag.name,
				flag.value)
		}
	}
	if o.plot != "" && strings.ToLower(filepath.Ext(o.plot)) != ".svg" {
		return bench.Config{}, usage(cmd, "--plot %q: the chart is SVG: name it *.svg", o.plot)
	}
	if o.embedded && o.credentials.secret != "" {
		return bench.Config{}, usage(cmd, "--embedded generates its own key: drop --secret")
	}
	if o.walSegmentBytes < wal.SegmentBytesMin || o.walSegmentBytes > wal.SegmentBytesMax {
		return bench.Config{}, usage(cmd, "--wal-segment-bytes %d: want %d to %d",
			o.walSegmentBytes, wal.SegmentBytesMin, wal.SegmentBytesMax)
	}
	duration := o.duration
	if o.count > 0 && !cmd.Flags().Changed("duration") {
		duration = 0
	}
	runID := o.runID
	if runID == 0 {
		runID = uint64(time.Now().UnixNano())
	}
	statusAddress := o.http
	if !cmd.Flags().Changed("http") {
		statusAddress = benchHTTPAuto // Resolved once the target is known.
	}
	if o.shards < 1 || (o.shards > 1 && !o.embedded) {
		return bench.Config{}, usage(cmd, "--shards %d: want at least 1, and more only with "+
			"--embedded (a server's shards are its own)", o.shards)
	}
	if o.crossShard > 100 || (o.crossShard < 0 && cmd.Flags().Changed("cross-shard")) {
		return bench.Config{}, usage(cmd, "--cross-shard %v: want a percent, 0 to 100", o.crossShard)
	}
	config := bench.Config{Driver: driver, Connections: o.connections, Inflight: o.inflight, Events: o.events,
		Callers: o.callers, CoalesceEventsMax: o.coalesceEventsMax, RejoinWait: o.rejoinWait,
		LoneReads: o.loneReads, Accounts: o.accounts, Choice: choice, ZipfSkew: o.zipfSkew, HotAccounts: o.hotAccounts,
		HotFraction: o.hotFraction, Mix: mix, Duration: duration, Warmup: o.warmup,
		Count: o.count, Rate: o.rate, Seed: o.seed, RunID: runID,
		ClientOrderIDsIncreasing: o.clientOrderIDsIncreasing,
		MarketDataSubscribers:    o.marketDataSubscribers,
		DrainTimeout:             o.drainTimeout, StatusAddress: statusAddress,
		Addresses: []string{"embedded"}, Client: 1, Key: 1, Secret: []byte{1},
		CrossShard: o.crossShard / 100, CrossShardSet: o.crossShard >= 0}
	if !o.quiet {
		config.Progress = cmd.ErrOrStderr()
	}
	config.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(),
		&slog.HandlerOptions{Level: slog.LevelWarn}))
	config = config.WithDefaults()
	if err := config.Validate(); err != nil {
		return bench.Config{}, usage(cmd, "%v", err)
	}
	return config, nil
}

// resolveCredentials fills the target and credentials from the client flags.
func (o *benchOptions) resolveCredentials(cmd *cobra.Command, config *bench.Config) error {
	clientID, keyID, secret, err := o.credentials.credentials(cmd)
	if err != nil {
		return err
	}
	config.Addresses = config.Addresses[:0]
	for _, address := range strings.Split(o.credentials.addresses, ",") {
		if address = strings.TrimSpace(address); address != "" {
			config.Addresses = append(config.Addresses, address)
		}
	}
	if len(config.Addresses) == 0 {
		return usage(cmd, "--addr is empty")
	}
	config.Client, config.Key, config.Secret = clientID, keyID, secret
	if config.StatusAddress == benchHTTPAuto {
		// The status endpoint of the server under test: its host, the default port.
		config.StatusAddress = ""
		if host, _, err := net.SplitHostPort(config.Addresses[0]); err == nil {
			config.StatusAddress = net.JoinHostPort(host, benchHTTPPortDefault)
		}
	}
	return nil
}

// openIntervalLog opens --hlog and returns its closer (a no-op without it).
func (o *benchOptions) openIntervalLog(cmd *cobra.Command, config *bench.Config) (
	func() error, error) {
	if o.hlog == "" {
		return func() error { return nil }, nil
	}
	file, err := os.Create(o.hlog)
	if err != nil {
		return nil, usage(cmd, "--hlog: %v", err)
	}
	config.IntervalLog = file
	return file.Close, nil
}

// output prints the report, writes the plot and turns a failed invariant into exit 1.
func (o *benchOptions) output(cmd *cobra.Command, result *bench.Result, logErr error) error {
	stdout := cmd.OutOrStdout()
	if o.asJSON {
		encoder := json.NewEncoder(stdout)
		encoder.SetIndent("", "  ")
		if err := encoder.Encode(&result.Report); err != nil {
			return err
		}
	} else {
		bench.WriteText(stdout, &result.Report)
	}
	var problems []error
	if logErr != nil {
		problems = append(problems, fmt.Errorf("--hlog %s: %w", o.hlog, logErr))
	}
	if o.plot != "" {
		if err := writePlotFile(o.plot, result); err != nil {
			problems = append(problems, fmt.Errorf("--plot %s: %w", o.plot, err))
		}
	}
	if !result.Report.InvariantOK {
		first := "see the report"
		if problems := result.Report.Invariant.Problems; len(problems) > 0 {
			first = problems[0]
		}
		problems = append(problems, fmt.Errorf("invariant check failed (%d problems; first: %s)",
			result.Report.Invariant.ProblemCount, first))
	}
	return errors.Join(problems...)
}

func writePlotFile(path string, result *bench.Result) error {
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := bench.WritePlot(file, result); err != nil {
		_ = file.Close()
		return err
	}
	return file.Close()
}

// embeddedServer is a node started in this process for --embedded.
type embeddedServer struct {
	node *runningNode
	dir  string
}

// startEmbedded starts a node on a free loopback port with a temporary data directory
// and a generated development key, and points config at it. Its log goes to stderr at
// warn level (nothing on stdout, which --json keeps for the report).
func startEmbedded(o *benchOptions, config *bench.Config, stderr io.Writer) (
	*embeddedServer, error) {
	if _, err := parseSyncPolicy(o.sync); err != nil {
		return nil, usageError{fmt.Errorf("--sync: %w", err)}
	}
	dir, err := os.MkdirTemp("", "sequent-bench-")
	if err != nil {
		return nil, err
	}
	dev, err := netio.GenerateDevKeys(node.Layout{Dir: dir}.KeysPath())
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	secret, _ := hex.DecodeString(dev.Secret) // GenerateDevKeys writes valid hex.
	options := defaultServeOptions()
	options.data, options.address, options.sync, options.logLevel = dir, "127.0.0.1:0", o.sync, "warn"
	options.accountsCapacity = max(1<<18, 2*uint32(config.Accounts)+64)
	options.placement.Shards = o.shards
	// Sized for the run, so that its figures do not include the tables' growth (a run
	// that still outgrows them is reported as such: bench.TransferTableReport).
	capacity := uint64(o.transfers)
	if capacity == 0 {
		capacity = bench.TransfersCapacityFor(*config, o.shards)
	}
	options.transfersCapacity = uint32(capacity) // At most bench.TransfersCapacityMax.
	config.TransfersCapacity = capacity
	options.walSegmentBytes = o.walSegmentBytes
	node, err := startNode(context.Background(), &options, io.Discard, stderr)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("embedded server: %w", err)
	}
	// The same spare Ps as serve gives itself (raiseProcessors): the embedded node's event
	// loop and sequencer block in system calls holding Ps as they do in serve, and the
	// load generator needs Ps of its own besides.
	raiseProcessors(os.Getenv("GOMAXPROCS") != "", options.eventLoops, len(node.groups.Groups()))
	embedded := &embeddedServer{node: node, dir: dir}
	if config.StatusAddress != "" {
		// Its own status endpoint, on a free port unless --http names one.
		address := o.http
		if config.StatusAddress == benchHTTPAuto {
			address = "127.0.0.1:0"
		}
		if node.ops, err = startOps(&serveOptions{http: address}, node); err != nil {
			embedded.close()
			return nil, fmt.Errorf("embedded server: --http: %w", err)
		}
		config.StatusAddress = node.ops.Address()
	}
	config.Addresses = []string{node.server.Address()}
	config.Client, config.Key, config.Secret = dev.Client, dev.Key, secret
	return embedded, nil
}

func (e *embeddedServer) close() {
	_ = e.node.stop()
	_ = os.RemoveAll(e.dir)
}

// startProfiles starts --cpuprofile and --trace and returns what stops and closes them
// (a no-op without either).
func (o *benchOptions) startProfiles(cmd *cobra.Command) (func() error, error) {
	var stops []func() error
	stopAll := func() error {
		var problems []error
		for _, stop := range stops {
			problems = append(problems, stop())
		}
		return errors.Join(problems...)
	}
	if o.cpuProfile != "" {
		file, err := os.Create(o.cpuProfile)
		if err != nil {
			return nil, usage(cmd, "--cpuprofile: %v", err)
		}
		if err := pprof.StartCPUProfile(file); err != nil {
			_ = file.Close()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		stops = append(stops, func() error { pprof.StopCPUProfile(); return file.Close() })
	}
	if o.trace != "" {
		file, err := os.Create(o.trace)
		if err != nil {
			_ = stopAll()
			return nil, usage(cmd, "--trace: %v", err)
		}
		if err := trace.Start(file); err != nil {
			_ = file.Close()
			_ = stopAll()
			return nil, fmt.Errorf("--trace: %w", err)
		}
		stops = append(stops, func() error { trace.Stop(); return file.Close() })
	}
	return stopAll, nil
}
