package bench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
)

// Kind is a workload: what one request carries.
type Kind uint8

// Workloads.
const (
	KindSingle   Kind = iota // Single-phase transfers between two accounts.
	KindTwoPhase             // Pending transfers, each later posted or voided (50/50).
	KindLinked               // Linked chains of 2 to 4 transfers (all-or-nothing).
	KindOrders               // Orders on one instrument in exchange-core's mix.
	kindCount
)

var kindNames = [kindCount]string{"single", "two-phase", "linked", "orders"}

// String returns the workload's name as --mix spells it.
func (k Kind) String() string {
	if k < kindCount {
		return kindNames[k]
	}
	return "kind_" + strconv.Itoa(int(k))
}

// Mix is the weight of each workload; each request picks one in proportion.
type Mix [kindCount]uint32

// ParseMix reads "single", "orders" or weights such as "single=70,two-phase=20,linked=10".
func ParseMix(text string) (Mix, error) {
	var mix Mix
	for _, part := range strings.Split(text, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, weightText, weighted := strings.Cut(part, "=")
		weight := uint64(1)
		if weighted {
			var err error
			weight, err = strconv.ParseUint(strings.TrimSpace(weightText), 10, 16)
			if err != nil {
				return Mix{}, fmt.Errorf("mix %q: weight %q: want 0 to 65535", text, weightText)
			}
		}
		kind, ok := parseKind(strings.TrimSpace(name))
		if !ok {
			return Mix{}, fmt.Errorf("mix %q: unknown workload %q (want %s)", text, name,
				strings.Join(kindNames[:], ", "))
		}
		mix[kind] += uint32(weight)
	}
	if mix.total() == 0 {
		return Mix{}, fmt.Errorf("mix %q: no workload with a weight above 0", text)
	}
	return mix, nil
}

func parseKind(name string) (Kind, bool) {
	for kind, known := range kindNames {
		if name == known {
			return Kind(kind), true
		}
	}
	return 0, false
}

func (m Mix) total() uint64 {
	var total uint64
	for _, weight := range m {
		total += uint64(weight)
	}
	return total
}

// Has reports whether the mix sends requests of kind.
func (m Mix) Has(kind Kind) bool { return m[kind] > 0 }

// hasTransfers reports whether any transfer workload is in the mix.
func (m Mix) hasTransfers() bool {
	return m.Has(KindSingle) || m.Has(KindTwoPhase) || m.Has(KindLinked)
}

// String renders the mix as ParseMix reads it.
func (m Mix) String() string {
	var parts []string
	for kind, weight := range m {
		if weight > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", Kind(kind), weight))
		}
	}
	return strings.Join(parts, ",")
}

// Choice is how a transfer picks its accounts.
type Choice uint8

// Account choices.
const (
	ChoiceUniform Choice = iota // Every account equally likely.
	ChoiceZipf                  // Zipf-distributed ranks (Config.ZipfSkew).
	ChoiceHot                   // HotFraction of picks among HotAccounts accounts.
)

var choiceNames = []string{"uniform", "zipf", "hot"}

// ParseChoice reads "uniform", "zipf" or "hot".
func ParseChoice(text string) (Choice, error) {
	for choice, name := range choiceNames {
		if text == name {
			return Choice(choice), nil
		}
	}
	return 0, fmt.Errorf("account choice %q: want uniform, zipf or hot", text)
}

// String returns the choice's name.
func (c Choice) String() string {
	if int(c) < len(choiceNames) {
		return choiceNames[c]
	}
	return "choice_" + strconv.Itoa(int(c))
}

// Driver is what drives the measured load over each connection.
type Driver uint8

// Load drivers.
const (
	// DriverClient drives each connection through the Go client library (netio/client):
	// what an application sees, its goroutine hand-offs and per-call objects included.
	DriverClient Driver = iota
	// DriverWire drives each connection with one goroutine that speaks the binary protocol
	// itself (netio/wire): a lean generator, as redis-benchmark is for Redis, so that the
	// machine's CPU goes to the server under test (wire_driver.go). It never reconnects
	// or resends: it is for measuring.
	DriverWire
	driverCount
)

var driverNames = [driverCount]string{"client", "wire"}

// ParseDriver reads "client" or "wire".
func ParseDriver(text string) (Driver, error) {
	for driver, name := range driverNames {
		if text == name {
			return Driver(driver), nil
		}
	}
	return 0, fmt.Errorf("driver %q: want client or wire", text)
}

// String returns the driver's name as --driver spells it.
func (d Driver) String() string {
	if d < driverCount {
		return driverNames[d]
	}
	return "driver_" + strconv.Itoa(int(d))
}

// Config configures a run. Zero values take the defaults noted.
type Config struct {
	Addresses []string // Servers to try, in order (host:port).
	Client    uint64   // Client id.
	Key       uint32   // Key id.
	Secret    []byte   // The key's secret (raw bytes).

	// Driver drives the measured load: the Go client (default) or DriverWire. Setup and
	// the final check use the Go client either way.
	Driver Driver

	Connections int // Sessions, one per connection (default 1).
	// Inflight bounds the requests outstanding per connection (default 1); with Callers,
	// the merged requests the connection's callers share (the client's window). A closed
	// loop with 1 and LoneReads (client driver, no Callers) waits in the client's DoInto
	// for each request (worker.lone).
	Inflight int
	// Callers, when above 0, replaces the connections' request windows with that many
	// goroutines, spread over the connections, each calling client.CreateTransfers with
	// Events transfers and waiting for its results before the next call. The client
	// merges concurrent calls into shared requests; in the report a "request" is then one
	// call. Transfer workloads only.
	Callers int
	// LoneReads is passed to the client (client.Config.LoneReads); with a closed loop of
	// one request in flight per connection, each request is then a DoInto (worker.lone).
	LoneReads bool
	// CoalesceEventsMax is passed to the client (client.Config.CoalesceEventsMax): 0 is
	// the client's default (merging on), -1 turns merging off.
	CoalesceEventsMax int
	// RejoinWait is passed to the client (client.Config.RejoinWait): 0 is the client's
	// default, negative turns the wait off.
	RejoinWait time.Duration
	Events     int // Events per request, 1..8189 (default 1).
	// Accounts is the number of ledger accounts of the transfer workloads, and of traders
	// of the order workload (default AccountsDefault, or TradersDefault for orders only).
	Accounts int

	Choice      Choice  // How transfers pick accounts.
	ZipfSkew    float64 // Zipf exponent: 0 < skew < 1 (YCSB's formula) or skew > 1.
	HotAccounts int     // ChoiceHot: the hot accounts (the first ones).
	HotFraction float64 // ChoiceHot: the share of picks among them, 0..1.

	Mix Mix // Workloads and weights (default: single only).

	// CrossShard, with CrossShardSet, is the share (0..1) of transfers whose debit and
	// credit accounts are on different shards of the server's map (asked with
	// get_shard_map; above 0 the server must have several shards). Without it the account
	// choice alone decides.
	CrossShard    float64
	CrossShardSet bool

	// MarketDataSubscribers, when above 0, opens that many extra connections subscribed
	// to every instrument's market data and reports order → update latency.
	MarketDataSubscribers int

	// Duration of the measured load (after Warmup). With Count set it may be 0: the run
	// then stops after Count requests only.
	Duration time.Duration
	Warmup   time.Duration // Load before measuring; not counted.
	Count    uint64        // Measured requests to send (0: until Duration).
	// Rate is the open loop's offered load in requests per second over all connections;
	// 0 runs a closed loop (each connection keeps Inflight requests outstanding).
	Rate float64

	Seed  uint64 // Seeds every random choice, and the ids of accounts and the instrument.
	RunID uint64 // Makes transfer ids and client order ids unique per run (0: from the clock).
	// ClientOrderIDsIncreasing places every order with the increasing-client-order-ids
	// flag (PROTOCOL.md "Client order ids"), opting the traders' trading accounts in for
	// good; the run's client order ids then take RunID >> 30 as their run part, so RunID
	// must come from the clock's nanoseconds (as cmd/sequent's default does) or otherwise
	// grow by at least 2^30 between runs on one server's data.
	ClientOrderIDsIncreasing bool

	DrainTimeout time.Duration // Wait for outstanding replies at the end (default 30 s).

	Progress    io.Writer    // Receives a progress line per second (nil: none).
	IntervalLog io.Writer    // Receives an HdrHistogram interval log (nil: none).
	Logger      *slog.Logger // Client reconnects and errors (nil: discarded).
	// StatusAddress is the server's HTTP status endpoint (host:port); /v1/status is read
	// before and after the load when it answers (empty: not asked).
	StatusAddress string
	// TransfersCapacity is how many transfers each shard of the server sized its transfer
	// tables for (`serve --transfers-capacity`), when known (the embedded server's); 0:
	// unknown. With it the report says whether the run stored more on a shard than that,
	// so that a figure measured while the tables grew is never taken for one without
	// growth (Report.TransferTable).
	TransfersCapacity uint64

	hooks testHooks // Tests only.
}

// testHooks let tests act at fixed points of a run: beforeLoad after the setup,
// afterLoad once every worker has stopped, beforeVerify after the leftovers are settled
// and before the final read-back.
type testHooks struct {
	beforeLoad, afterLoad, beforeVerify func()
}

func (h *testHooks) run(hook func()) {
	if hook != nil {
		hook()
	}
}

// WithDefaults returns the configuration with its zero values filled in.
func (c Config) WithDefaults() Config {
	if c.Connections == 0 {
		c.Connections = 1
	}
	if c.Inflight == 0 {
		c.Inflight = 1
	}
	if c.Events == 0 {
		c.Events = 1
	}
	if c.Mix.total() == 0 {
		c.Mix[KindSingle] = 1
	}
	if c.Accounts == 0 {
		c.Accounts = AccountsDefault
		if !c.Mix.hasTransfers() {
			c.Accounts = TradersDefault
		}
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DrainTimeoutDefault
	}
	if c.Choice == ChoiceZipf && c.ZipfSkew == 0 {
		c.ZipfSkew = 0.99
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first unusable setting (after defaults).
func (c Config) Validate() error {
	switch {
	case len(c.Addresses) == 0:
		return errors.New("bench: no server address")
	case c.Connections < 1 || c.Connections > ConnectionsMax:
		return fmt.Errorf("bench: connections %d: want 1 to %d", c.Connections, ConnectionsMax)
	case c.Inflight < 1 || c.Inflight > InflightMax:
		return fmt.Errorf("bench: inflight %d: want 1 to %d", c.Inflight, InflightMax)
	case c.Events < 1 || c.Events > EventsMax:
		return fmt.Errorf("bench: events %d: want 1 to %d", c.Events, EventsMax)
	case c.Connections*c.Inflight*c.Events > outstandingEventsMax:
		return fmt.Errorf("bench: connections × inflight × events = %d: want at most %d",
			c.Connections*c.Inflight*c.Events, outstandingEventsMax)
	case c.Callers < 0 || c.Callers > CallersMax:
		return fmt.Errorf("bench: callers %d: want 0 (off) to %d", c.Callers, CallersMax)
	case c.Callers*c.Events > outstandingEventsMax:
		return fmt.Errorf("bench: callers × events = %d: want at most %d",
			c.Callers*c.Events, outstandingEventsMax)
	case c.Callers > 0 && c.Mix.Has(KindOrders):
		return errors.New("bench: callers call CreateTransfers: transfer workloads only")
	case c.CoalesceEventsMax < -1 || c.CoalesceEventsMax > EventsMax:
		return fmt.Errorf("bench: coalesce events max %d: want -1 (off), 0 (default) or up "+
			"to %d", c.CoalesceEventsMax, EventsMax)
	case c.Accounts < 2 || c.Accounts > AccountsMax:
		return fmt.Errorf("bench: accounts %d: want 2 to %d", c.Accounts, AccountsMax)
	case c.Mix.Has(KindOrders) && c.Accounts < c.Connections:
		return fmt.Errorf("bench: the order workload needs a trader per connection "+
			"(accounts %d < connections %d)", c.Accounts, c.Connections)
	case c.Mix.Has(KindLinked) && c.Events < chainLengthMin:
		return fmt.Errorf("bench: linked chains need at least %d events per request",
			chainLengthMin)
	case c.Duration < 0 || c.Warmup < 0 || c.DrainTimeout < 0:
		return errors.New("bench: negative duration")
	case c.Duration == 0 && c.Count == 0:
		return errors.New("bench: give a duration or a count (the run must stop by itself)")
	case c.Rate < 0 || math.IsInf(c.Rate, 0) || math.IsNaN(c.Rate):
		return fmt.Errorf("bench: rate %v: want 0 (closed loop) or a positive rate", c.Rate)
	case c.Rate > 0 && c.Rate < 1e-3:
		return fmt.Errorf("bench: rate %v: want at least 0.001 requests/s", c.Rate)
	case c.LoneReads && (c.Inflight != 1 || c.Callers > 0 || c.Rate > 0 ||
		c.Driver == DriverWire):
		// Only the closed loop's lone request is a DoInto; elsewhere the option would do
		// nothing, and a run measured with it on would be a plain run under its name.
		return errors.New("bench: lone reads are a lone request's reply read by its " +
			"caller: give --inflight 1, in the closed loop (no --rate) of the client " +
			"driver, without --callers")
	case c.ClientOrderIDsIncreasing && !c.Mix.Has(KindOrders):
		return errors.New("bench: increasing client order ids need the order workload")
	case c.ClientOrderIDsIncreasing && c.RunID>>increasingRunShift == 0:
		return fmt.Errorf("bench: run id %d with increasing client order ids: want at "+
			"least 2^%d (the ids' run part is run id >> %d; the default, the clock's "+
			"nanoseconds, climbs by itself)", c.RunID, increasingRunShift, increasingRunShift)
	}
	if err := c.validateDriver(); err != nil {
		return err
	}
	return c.validateChoice()
}

// validateDriver refuses what the wire driver does not do: it keeps Inflight requests of
// a transfer workload outstanding per connection (closed loop), nothing else.
func (c Config) validateDriver() error {
	const supported = "the wire driver runs the closed loop of the transfer workloads " +
		"(single, two-phase, linked)"
	switch {
	case c.Driver >= driverCount:
		return fmt.Errorf("bench: unknown driver %d", c.Driver)
	case c.Driver != DriverWire:
		return nil
	case c.Callers > 0:
		return fmt.Errorf("bench: %s: not callers mode (use --driver client)", supported)
	case c.Rate > 0:
		return fmt.Errorf("bench: %s: not the open loop (--rate; use --driver client)",
			supported)
	case c.Mix.Has(KindOrders):
		return fmt.Errorf("bench: %s: not orders (use --driver client)", supported)
	case c.MarketDataSubscribers > 0:
		return fmt.Errorf("bench: %s: no market-data subscribers (use --driver client)",
			supported)
	}
	return nil
}

func (c Config) validateChoice() error {
	if c.CrossShardSet && !(c.CrossShard >= 0 && c.CrossShard <= 1) {
		return fmt.Errorf("bench: cross-shard share %v: want 0..1", c.CrossShard)
	}
	switch c.Choice {
	case ChoiceUniform:
	case ChoiceZipf:
		if !(c.ZipfSkew > 0) || c.ZipfSkew == 1 || c.ZipfSkew > 100 {
			return fmt.Errorf("bench: zipf skew %v: want 0 < skew < 1 or 1 < skew ≤ 100",
				c.ZipfSkew)
		}
	case ChoiceHot:
		if c.HotAccounts < 1 || c.HotAccounts >= c.Accounts {
			return fmt.Errorf("bench: hot accounts %d: want 1 to %d (below accounts)",
				c.HotAccounts, c.Accounts-1)
		}
		if !(c.HotFraction >= 0 && c.HotFraction <= 1) {
			return fmt.Errorf("bench: hot fraction %v: want 0 to 1", c.HotFraction)
		}
	default:
		return fmt.Errorf("bench: unknown account choice %d", c.Choice)
	}
	return nil
}
