package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"sequent/netio/client"
)

// ErrUnreachable is returned (wrapped) by Run when a connection could not be opened or
// its login was refused.
var ErrUnreachable = errors.New("bench: cannot connect")

// Result is a finished run: the report and the latency histograms behind it.
type Result struct {
	Report         Report
	RequestLatency *hdrhistogram.Histogram // Per completed request, ns.
	EventLatency   *hdrhistogram.Histogram // The same, weighted by events per request.
	IntervalLogErr error                   // The first failed write to Config.IntervalLog.
}

// run is the state shared by one run's goroutines. Everything is set before the
// workers start and read-only afterwards, except remaining and the atomics of expected.
type run struct {
	config       Config
	ids          idSpace
	zipf         *zipfTable        // ChoiceZipf with skew < 1.
	expected     *expectedBalances // Transfer workloads: the balances' expected movement.
	start        time.Time         // Start of the load (run time 0).
	cpuStart     cpuMark           // CPU counters at the start of the load (LoadCPU).
	cpuEnd       cpuMark           // And once every worker returned.
	warmupEndNs  int64             // Run time at which measuring starts.
	endNs        int64             // Run time at which sending stops (MaxInt64: by count).
	nsPerRequest float64           // Open loop: intended spacing over all connections.
	marketData   *marketDataProbe  // Set with Config.MarketDataSubscribers.
	remaining    atomic.Int64      // Count mode: measured requests still to send.
	shards       int               // The server's shard count (setup).
	shardOf      []uint16          // Each transfer account's shard (setup; nil: not asked).
}

func newRun(config Config) *run {
	r := &run{config: config, ids: newIDSpace(config.Seed, config.RunID, config.ClientOrderIDsIncreasing)}
	if config.Choice == ChoiceZipf && config.ZipfSkew < 1 {
		r.zipf = newZipfTable(config.Accounts, config.ZipfSkew)
	}
	if config.Mix.hasTransfers() {
		r.expected = newExpectedBalances(config.Accounts)
	}
	r.warmupEndNs = int64(config.Warmup)
	r.endNs = math.MaxInt64
	if config.Duration > 0 {
		r.endNs = r.warmupEndNs + int64(config.Duration)
	}
	if config.Rate > 0 {
		r.nsPerRequest = float64(time.Second) / config.Rate
	}
	r.remaining.Store(int64(min(config.Count, math.MaxInt64)))
	return r
}

// streams is the number of workers: one per connection, or one per caller.
func (r *run) streams() int {
	if r.config.Callers > 0 {
		return r.config.Callers
	}
	return r.config.Connections
}

// since returns the run time: nanoseconds since the load started (monotonic).
func (r *run) since() int64 { return int64(time.Since(r.start)) }

func (r *run) openLoop() bool { return r.config.Rate > 0 }

// intended returns the run time at which a worker's k-th request is due: the workers
// (connections, or callers) interleave on one grid of spacing 1/Rate.
func (r *run) intended(connection int, k int64) int64 {
	position := float64(k)*float64(r.streams()) + float64(connection)
	return int64(position * r.nsPerRequest)
}

// gridIndexAt returns the first k whose intended time is at or after atNs.
func (r *run) gridIndexAt(connection int, atNs int64) int64 {
	if atNs <= 0 {
		return 0
	}
	estimate := (float64(atNs)/r.nsPerRequest - float64(connection)) /
		float64(r.streams())
	k := max(int64(estimate)-1, 0)
	for r.intended(connection, k) < atNs {
		k++
	}
	for k > 0 && r.intended(connection, k-1) >= atNs {
		k--
	}
	return k
}

// claim takes one measured request from the count (always true without a count).
func (r *run) claim() bool {
	return r.config.Count == 0 || r.remaining.Add(-1) >= 0
}

// Run connects, creates what the workload needs (idempotently), runs the load, checks the
// ledger invariant over the bench's accounts and returns the result. Dial failures wrap
// ErrUnreachable; a run whose invariant check fails still returns its result, with
// Report.InvariantOK false and nil error. ctx interrupts the load (the run then reports
// what was done).
func Run(ctx context.Context, config Config) (*Result, error) {
	config = config.WithDefaults()
	if err := config.Validate(); err != nil {
		return nil, err
	}
	r := newRun(config)
	clients, err := dialAll(ctx, &config)
	if err != nil {
		return nil, err
	}
	defer closeAll(clients)
	setupContext, cancel := context.WithTimeout(ctx, verifyTimeout)
	before, err := r.setup(setupContext, clients[0])
	cancel()
	if err != nil {
		return nil, fmt.Errorf("bench: setup: %w", err)
	}
	if r.marketData, err = startMarketData(ctx, r); err != nil {
		return nil, err
	}
	defer r.marketData.close()
	statusBefore := fetchStatus(ctx, config.StatusAddress)
	loadBefore := readLoadAverage()
	// The wire connections log in only now: nothing sends their heartbeats before the
	// load, and the setup may outlast the server's silence timeout.
	var wires []*wireConnection
	if config.Driver == DriverWire {
		if wires, err = dialWire(ctx, &config); err != nil {
			return nil, err
		}
		defer closeWire(wires)
	}
	config.hooks.run(config.hooks.beforeLoad)
	workers, collected, err := r.load(ctx, clients, wires)
	config.hooks.run(config.hooks.afterLoad)
	if err != nil {
		return nil, err
	}
	total := collected.total
	report := r.report(workers, total)
	report.LoadAverage = loadAverages(loadBefore, readLoadAverage())
	report.CPU = loadCPU(r.cpuStart, r.cpuEnd, total.eventsSent+total.warmEvents)
	report.MarketData = r.marketData.report()
	verifyContext, cancel := context.WithTimeout(context.WithoutCancel(ctx), verifyTimeout)
	defer cancel()
	report.Invariant = r.verify(verifyContext, clients, workers, before)
	report.InvariantOK = report.Invariant.OK
	statusAfter := fetchStatus(verifyContext, config.StatusAddress)
	report.ServerStatus = serverStatus(config.StatusAddress, statusBefore, statusAfter)
	report.ShardFigures = shardFigures(statusBefore, statusAfter, loadSeconds(&config))
	return &Result{Report: report, RequestLatency: total.requestLatency,
		EventLatency: total.eventLatency, IntervalLogErr: collected.logErr}, nil
}

// dialAll opens one client per connection (sessions are independent); with the wire
// driver, one client only, for the setup and the final check.
func dialAll(ctx context.Context, config *Config) ([]*client.Client, error) {
	count := config.Connections
	if config.Driver == DriverWire {
		count = 1
	}
	clients := make([]*client.Client, 0, count)
	for range count {
		c, err := client.Dial(ctx, client.Config{Addresses: config.Addresses,
			Client: config.Client, Key: config.Key, Secret: config.Secret,
			InflightMax: max(config.Inflight, 1), CoalesceEventsMax: config.CoalesceEventsMax,
			RejoinWait: config.RejoinWait, LoneReads: config.LoneReads, Logger: config.Logger})
		if err != nil {
			closeAll(clients)
			return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
		}
		clients = append(clients, c)
	}
	return clients, nil
}

func closeAll(clients []*client.Client) {
	var group sync.WaitGroup
	for _, c := range clients {
		group.Go(func() { _ = c.Close() })
	}
	group.Wait()
}

// load runs one worker per connection and the collector, and returns the workers (for
// their leftovers) and the measured total once every worker has finished. With the wire
// driver (wires not nil) each worker drives its wire connection, and the first
// connection's failure stops the others and is returned.
func (r *run) load(ctx context.Context, clients []*client.Client,
	wires []*wireConnection) ([]*worker, *collector, error) {
	connections := len(clients)
	if wires != nil {
		connections = len(wires)
	}
	recorders := make([]*recorder, recordersOf(connections, r.config.Callers))
	for i := range recorders {
		recorders[i] = &recorder{interval: newSample()}
	}
	workers := make([]*worker, r.streams())
	for i := range workers {
		// i % len(recorders) is i % connections modulo connections: a recorder serves
		// callers of one connection.
		connection, rec := i%connections, recorders[i%len(recorders)]
		if wires != nil {
			workers[i] = newWorker(i, r, clients[0], rec)
			workers[i].wire = wires[connection]
			continue
		}
		workers[i] = newWorker(i, r, clients[connection], rec)
	}
	collector := newCollector(r, recorders)
	r.cpuStart = readCPUMark()
	r.start = time.Now()
	if r.marketData != nil {
		r.marketData.started.Store(true)
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go collector.loop(stop, stopped)
	loadContext, cancel := context.WithCancel(ctx)
	defer cancel()
	failures := make([]error, len(workers))
	var group sync.WaitGroup
	for i, w := range workers {
		if w.wire == nil {
			group.Go(func() { w.loop(loadContext) })
			continue
		}
		group.Go(func() {
			if failures[i] = w.wireLoop(loadContext); failures[i] != nil {
				cancel() // The run ends: the other connections stop and drain.
			}
		})
	}
	group.Wait()
	r.cpuEnd = readCPUMark()
	close(stop)
	<-stopped
	return workers, collector, errors.Join(failures...)
}

// recordersOf is how many recorders a load of connections and callers (0: not the
// callers mode) measures into: one per connection, and in the callers mode a multiple of
// connections, near callerRecordersMin, each serving some of one connection's callers.
// With 512 callers sharing one recorder, a caller blocked on its lock while the holder's
// thread was descheduled (the machine shared, and the process's Ps outnumbering its
// CPUs): 14,400 parks on the recorder's and the client's locks per 626,000 calls, ~1 ms
// each (session 51's trace, and mutex_wait_ns_per_event 27–50 µs per call), a caller that
// then misses the merged request forming without it.
func recordersOf(connections, callers int) int {
	if callers == 0 {
		return connections
	}
	return connections * max(1, min(callerRecordersMin/connections, callers/connections))
}

// callerRecordersMin is about how many recorders the callers mode spreads its callers
// over (recordersOf): each is two latency histograms (~190 KB each), merged by the
// collector once per interval.
const callerRecordersMin = 16

// loadSeconds is the load's planned length (warm-up and measured), 0 when it ends by
// count.
func loadSeconds(config *Config) float64 {
	return (config.Warmup + config.Duration).Seconds()
}
