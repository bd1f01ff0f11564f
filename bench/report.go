package bench

import (
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"sequent/core/model"
)

// Report is a run's outcome; its JSON form is what `sequent bench --json` prints (the
// field list is documented in bench/README.md).
type Report struct {
	Mode      string       `json:"mode"` // "closed" or "open".
	Config    ReportConfig `json:"config"`
	DurationS float64      `json:"duration_s"` // Measured: warm-up end to last reply.

	RequestsSent      uint64 `json:"requests_sent"`
	RequestsCompleted uint64 `json:"requests_completed"`
	RequestsFailed    uint64 `json:"requests_failed"`
	RequestsUnsent    uint64 `json:"requests_unsent"`
	EventsSent        uint64 `json:"events_sent"`
	EventsCompleted   uint64 `json:"events_completed"`
	WarmupRequests    uint64 `json:"warmup_requests"`

	EventsPerS          float64 `json:"events_per_s"`
	RequestsPerS        float64 `json:"requests_per_s"`
	OfferedRequestsPerS float64 `json:"offered_requests_per_s"`

	LatencyUs      Latency `json:"latency_us"`
	EventLatencyUs Latency `json:"event_latency_us"`

	Results         map[string]uint64 `json:"results"`
	RequestStatuses map[string]uint64 `json:"request_statuses"`
	// UnknownOutcomes counts the calls whose write may have been applied but whose
	// outcome the client could not learn (client.OutcomeUnknownError), by the status that
	// ended them (e.g. permission_denied to a resend): not refusals.
	UnknownOutcomes map[string]uint64 `json:"unknown_outcomes,omitempty"`
	Workloads       map[string]uint64 `json:"workloads"`
	OrderCommands   map[string]uint64 `json:"order_commands,omitempty"`
	FirstError      string            `json:"first_error,omitempty"`

	InvariantOK bool            `json:"invariant_ok"`
	Invariant   InvariantReport `json:"invariant"`

	// Shards is the server's shard count; CrossShardShare the share of the transfers
	// drawn (warm-up included) whose accounts are on different shards; ShardFigures what
	// each shard did during the run (from the server's status, when it answers).
	Shards          int           `json:"shards"`
	CrossShardShare float64       `json:"cross_shard_share"`
	ShardFigures    []ShardFigure `json:"shard_figures,omitempty"`

	// TransferTable says whether the run stored more transfers on a shard than the server
	// was sized for (Config.TransfersCapacity; absent when unknown, and with orders,
	// whose funding and fills store transfers the generator does not count).
	TransferTable *TransferTableReport `json:"transfer_table,omitempty"`

	// MarketData is order → market-data update latency (--md-subscribers).
	MarketData *MarketDataReport `json:"market_data,omitempty"`

	ServerStatus *ServerStatus `json:"server_status,omitempty"`
	LoadAverage  *LoadAverage  `json:"load_average,omitempty"`
	CPU          *LoadCPU      `json:"cpu,omitempty"`
	Machine      Machine       `json:"machine"`
}

// ReportConfig echoes the settings of the run.
type ReportConfig struct {
	Target      string  `json:"target"`
	Driver      string  `json:"driver"` // What drove the load: "client" or "wire".
	Connections int     `json:"connections"`
	Inflight    int     `json:"inflight"`
	Callers     int     `json:"callers,omitempty"`
	CoalesceMax int     `json:"coalesce_events_max,omitempty"`
	LoneReads   bool    `json:"lone_reads,omitempty"` // --lone-reads (client.Config.LoneReads).
	Events      int     `json:"events_per_request"`
	Accounts    int     `json:"accounts"`
	Choice      string  `json:"account_choice"`
	ZipfSkew    float64 `json:"zipf_skew,omitempty"`
	HotAccounts int     `json:"hot_accounts,omitempty"`
	HotFraction float64 `json:"hot_fraction,omitempty"`
	Mix         string  `json:"mix"`
	DurationS   float64 `json:"duration_s"`
	WarmupS     float64 `json:"warmup_s"`
	Count       uint64  `json:"count"`
	Rate        float64 `json:"rate"`
	Seed        uint64  `json:"seed"`
	RunID       uint64  `json:"run_id"`
}

// Latency is a latency distribution in microseconds.
type Latency struct {
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	P9999 float64 `json:"p9999"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
	Count int64   `json:"count"`
}

// Machine describes where the generator ran.
type Machine struct {
	CPUs int    `json:"cpus"`
	OS   string `json:"os"`
	Arch string `json:"arch"`
	Go   string `json:"go"`
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return Latency{P50: us(h.ValueAtQuantile(50)), P90: us(h.ValueAtQuantile(90)),
		P99: us(h.ValueAtQuantile(99)), P999: us(h.ValueAtQuantile(99.9)),
		P9999: us(h.ValueAtQuantile(99.99)), Max: us(h.Max()), Mean: h.Mean() / 1e3,
		Count: h.TotalCount()}
}

// report builds the report of the load from the workers and the collector's total.
func (r *run) report(workers []*worker, total *sample) Report {
	config := &r.config
	report := Report{Mode: "closed", Config: reportConfig(config),
		RequestsSent: total.requestsSent, RequestsCompleted: total.requestsCompleted,
		RequestsFailed: total.requestsFailed, EventsSent: total.eventsSent,
		EventsCompleted: total.eventsCompleted, WarmupRequests: total.warmRequests,
		LatencyUs:       latencyOf(total.requestLatency),
		EventLatencyUs:  latencyOf(total.eventLatency),
		Results:         statusCounts(&total.results),
		RequestStatuses: statusCounts(&total.requestStatuses),
		Workloads:       map[string]uint64{},
		Machine: Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH,
			Go: runtime.Version()}}
	if r.openLoop() {
		report.Mode, report.OfferedRequestsPerS = "open", config.Rate
	}
	if unknown := statusCounts(&total.unknownOutcomes); len(unknown) > 0 {
		report.UnknownOutcomes = unknown
	}
	if total.noReply > 0 {
		report.RequestStatuses["no_reply"] = total.noReply
	}
	if total.malformed > 0 {
		report.RequestStatuses["malformed_reply"] = total.malformed
	}
	for kind, count := range total.kinds {
		if config.Mix[kind] > 0 {
			report.Workloads[Kind(kind).String()] = count
		}
	}
	if config.Mix.Has(KindOrders) {
		report.OrderCommands = map[string]uint64{}
		for command, count := range total.commands {
			report.OrderCommands[commandNames[command]] = count
		}
	}
	report.Shards = r.shards
	report.TransferTable = r.transferTable(workers)
	var pairs, crossing uint64
	for _, w := range workers {
		pairs, crossing = pairs+w.chooser.pairs, crossing+w.chooser.crossing
	}
	if pairs > 0 {
		report.CrossShardShare = float64(crossing) / float64(pairs)
	}
	for _, w := range workers {
		report.RequestsUnsent += w.unsent
		if w.failure != nil && report.FirstError == "" {
			report.FirstError = w.failure.Error()
		}
	}
	if end := total.lastCompletionNs; end > r.warmupEndNs {
		report.DurationS = float64(end-r.warmupEndNs) / float64(time.Second)
		report.EventsPerS = float64(total.eventsCompleted) / report.DurationS
		report.RequestsPerS = float64(total.requestsCompleted) / report.DurationS
	}
	return report
}

func reportConfig(config *Config) ReportConfig {
	c := ReportConfig{Target: strings.Join(config.Addresses, ","), Driver: config.Driver.String(),
		Connections: config.Connections, Inflight: config.Inflight, Events: config.Events,
		Callers: config.Callers, CoalesceMax: config.CoalesceEventsMax,
		LoneReads: config.LoneReads, Accounts: config.Accounts, Choice: config.Choice.String(),
		Mix: config.Mix.String(), DurationS: config.Duration.Seconds(),
		WarmupS: config.Warmup.Seconds(), Count: config.Count, Rate: config.Rate,
		Seed: config.Seed, RunID: config.RunID}
	switch config.Choice {
	case ChoiceZipf:
		c.ZipfSkew = config.ZipfSkew
	case ChoiceHot:
		c.HotAccounts, c.HotFraction = config.HotAccounts, config.HotFraction
	}
	return c
}

// coalesceName describes the client's merging setting.
func coalesceName(coalesceEventsMax int) string {
	switch coalesceEventsMax {
	case -1:
		return "off"
	case 0:
		return "on"
	}
	return fmt.Sprintf("on, up to %d events per request", coalesceEventsMax)
}

// statusCounts names every counted status.
func statusCounts(counts *[statusSlots]uint64) map[string]uint64 {
	named := map[string]uint64{}
	for status, count := range counts {
		if count > 0 {
			named[model.Status(status).String()] = count
		}
	}
	return named
}

// WriteText writes the report for a person to read.
func WriteText(w io.Writer, report *Report) {
	c := &report.Config
	fmt.Fprintf(w, "sequent bench: %s loop against %s; mix %s; %d connections x %d in flight; "+
		"%d events/request; %d accounts (%s); seed %d, run %d\n", report.Mode, c.Target, c.Mix,
		c.Connections, c.Inflight, c.Events, c.Accounts, c.Choice, c.Seed, c.RunID)
	if c.Driver == DriverWire.String() {
		fmt.Fprintln(w, "driver: wire (one goroutine per connection speaks the protocol; "+
			"no resends: busy, log_unavailable and not_primary are counted as refusals)")
	}
	if c.Callers > 0 {
		fmt.Fprintf(w, "callers: %d goroutines, each one CreateTransfers call of %d transfers at a time "+
			"(a \"request\" below is one call; client merging %s)\n", c.Callers, c.Events,
			coalesceName(c.CoalesceMax))
	}
	fmt.Fprintf(w, "measured %.2f s after %.1f s of warm-up (%s warm-up requests)\n",
		report.DurationS, c.WarmupS, grouped(report.WarmupRequests))
	fmt.Fprintf(w, "requests: %s sent, %s completed, %s failed", grouped(report.RequestsSent),
		grouped(report.RequestsCompleted), grouped(report.RequestsFailed))
	if report.Mode == "open" {
		fmt.Fprintf(w, ", %s due but never sent", grouped(report.RequestsUnsent))
	}
	fmt.Fprintf(w, "\nthroughput: %s events/s, %s requests/s", grouped(uint64(report.EventsPerS)),
		grouped(uint64(report.RequestsPerS)))
	if report.Mode == "open" {
		fmt.Fprintf(w, " (offered %g requests/s)", report.OfferedRequestsPerS)
	}
	fmt.Fprintf(w, "\nlatency        %9s %9s %9s %9s %9s %9s\n", "p50", "p90", "p99", "p99.9",
		"p99.99", "max")
	writeLatencyRow(w, "per request", &report.LatencyUs)
	writeLatencyRow(w, "per event", &report.EventLatencyUs)
	if md := report.MarketData; md != nil {
		writeLatencyRow(w, "order → md", &md.LatencyUs)
		fmt.Fprintf(w, "market data: %d subscribers, %s updates received, %d stale notices, "+
			"%s measured arrivals\n", md.Subscribers, grouped(md.Updates), md.Stale,
			grouped(uint64(md.LatencyUs.Count)))
	}
	if report.Mode == "open" {
		fmt.Fprintln(w, "(latency is measured from each request's intended send time)")
	}
	fmt.Fprintf(w, "request statuses: %s\n", countsText(report.RequestStatuses))
	if report.UnknownOutcomes != nil {
		fmt.Fprintf(w, "unknown outcomes (may be applied; looked up at the end): %s\n",
			countsText(report.UnknownOutcomes))
	}
	fmt.Fprintf(w, "event results: %s\n", countsText(report.Results))
	if report.OrderCommands != nil {
		fmt.Fprintf(w, "order commands (requests): %s\n", countsText(report.OrderCommands))
	}
	if report.FirstError != "" {
		fmt.Fprintf(w, "first error: %s\n", report.FirstError)
	}
	if report.Shards > 1 {
		fmt.Fprintf(w, "shards: %d; %.1f%% of the transfers crossed shards\n", report.Shards,
			100*report.CrossShardShare)
		for _, f := range report.ShardFigures {
			fmt.Fprintf(w, "  shard %d: %s requests (%s requests/s), %s log entries, %s busy "+
				"replies\n", f.Shard,
				grouped(uint64(f.Requests)), grouped(uint64(f.RequestsPerS)),
				grouped(uint64(f.Entries)), grouped(uint64(f.BusyReplies)))
		}
	}
	writeTransferTable(w, report.TransferTable)
	writeInvariant(w, &report.Invariant)
	writeServerStatus(w, report.ServerStatus)
	if l := report.LoadAverage; l != nil {
		fmt.Fprintf(w, "load average (1, 5, 15 min): %.2f %.2f %.2f at start, %.2f %.2f %.2f "+
			"at end\n", l.Start[0], l.Start[1], l.Start[2], l.End[0], l.End[1], l.End[2])
	}
	if c := report.CPU; c != nil {
		fmt.Fprintf(w, "cpu over the load: this process %.2f s (%s per event sent)", c.ProcessS,
			formatNs(int64(c.ProcessNsPerEvent)))
		if c.MachineIdleShare != nil {
			fmt.Fprintf(w, ", machine idle %.0f%%", *c.MachineIdleShare*100)
		}
		fmt.Fprintln(w)
	}
}

func writeLatencyRow(w io.Writer, name string, l *Latency) {
	cell := func(us float64) string { return formatNs(int64(us * 1e3)) }
	fmt.Fprintf(w, "  %-12s %9s %9s %9s %9s %9s %9s\n", name, cell(l.P50), cell(l.P90),
		cell(l.P99), cell(l.P999), cell(l.P9999), cell(l.Max))
}

// countsText renders name → count pairs, largest first.
func countsText(counts map[string]uint64) string {
	if len(counts) == 0 {
		return "none"
	}
	names := make([]string, 0, len(counts))
	for name := range counts {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		if counts[names[i]] != counts[names[j]] {
			return counts[names[i]] > counts[names[j]]
		}
		return names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = name + " " + grouped(counts[name])
	}
	return strings.Join(parts, ", ")
}

func writeInvariant(w io.Writer, v *InvariantReport) {
	verdict := "ok"
	if !v.OK {
		verdict = fmt.Sprintf("FAILED (%d problems)", v.ProblemCount)
	}
	fmt.Fprintf(w, "invariant: %s over %s accounts", verdict, grouped(uint64(v.Accounts)))
	if v.TransfersAccounted > 0 {
		fmt.Fprintf(w, "; %s transfers accounted for", grouped(v.TransfersAccounted))
	}
	if v.UnknownOutcomes > 0 {
		fmt.Fprintf(w, " (%s looked up after no reply)", grouped(v.UnknownOutcomes))
	}
	if v.OrdersCanceled > 0 {
		fmt.Fprintf(w, "; %s open orders canceled at the end", grouped(v.OrdersCanceled))
	}
	fmt.Fprintln(w)
	for _, l := range v.Ledgers {
		fmt.Fprintf(w, "  ledger %d: %d accounts, debits posted %s, credits posted %s, "+
			"debits pending %s, credits pending %s\n", l.Ledger, l.Accounts, l.DebitsPosted,
			l.CreditsPosted, l.DebitsPending, l.CreditsPending)
	}
	for _, problem := range v.Problems {
		fmt.Fprintf(w, "  problem: %s\n", problem)
	}
}
