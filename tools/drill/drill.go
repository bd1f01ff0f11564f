package drill

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/client"
	"sequent/replication"
)

// Config configures a drill.
type Config struct {
	Binary    string  // The sequent executable to run the nodes with.
	Directory string  // Where the nodes' data and logs go (created).
	Cycles    int     // Failovers to perform.
	Automatic bool    // Failover by the witness instead of `admin promote`.
	Fault     Fault   // What happens to the primary each cycle (default FaultKill).
	Seed      uint64  // Drives the kill moments.
	Workers   int     // Concurrent batches of load.
	BatchSize int     // Transfers per batch.
	Rate      float64 // Most transfers per second sent (0: as fast as replies allow).
	Accounts  int     // Accounts the load moves money between.
	// Shards is the nodes' shard count (hash placement): with more than one, about
	// (Shards-1)/Shards of the transfers cross shards.
	Shards int
	// Lease is the witness lease in automatic mode (0: LeaseDefault). A primary that gets
	// no renewal through for most of a lease fences itself, so on a loaded machine (a
	// busy CI runner) a short lease fails nodes over that are merely slow, and the drill
	// then finds the roles changed under it; failover takes about one lease.
	Lease        time.Duration
	KillAfterMin time.Duration // Each cycle kills the primary after a random time in
	KillAfterMax time.Duration // [KillAfterMin, KillAfterMax] of load.
	Progress     io.Writer     // One line per cycle (nil: quiet).
}

// Fault is what a cycle does to the primary.
type Fault string

const (
	// FaultKill is SIGKILL: the process dies and its connections are reset at once.
	FaultKill Fault = "kill"
	// FaultStop is SIGSTOP, then SIGCONT once the standby has taken over: a hung process
	// (a GC pause, a stuck disk, a paused VM), whose connections stay open and silent. It
	// must be replaced as fast as a dead one, and find itself fenced, acknowledging
	// nothing, when it resumes.
	FaultStop Fault = "stop"
)

// ParseFault checks a fault name.
func ParseFault(name string) (Fault, error) {
	switch Fault(name) {
	case FaultKill, FaultStop:
		return Fault(name), nil
	}
	return "", fmt.Errorf("unknown fault %q: want kill or stop", name)
}

// Cycle is one failover.
type Cycle struct {
	Cycle      int     `json:"cycle"`
	Fault      Fault   `json:"fault"`       // What was done to the primary.
	Killed     string  `json:"killed"`      // The node SIGKILLed or SIGSTOPped (the primary).
	Promoted   string  `json:"promoted"`    // The node that took over.
	Epoch      uint64  `json:"epoch"`       // The new primary's epoch.
	RTOMs      float64 `json:"rto_ms"`      // Fault → first acknowledged write sent after it.
	PromotedMs float64 `json:"promoted_ms"` // Fault → the standby reports itself primary.
	CatchUpMs  float64 `json:"catch_up_ms"` // Old primary restart → caught up as standby.
	// FencedMs (stop only): SIGCONT → the resumed old primary reports itself fenced.
	FencedMs float64 `json:"fenced_ms,omitempty"`
	// ResumedReleasedOp and ResumedAcknowledgedOp (stop only): the resumed old
	// primary's released op and the op its standby had acknowledged, once fenced; a
	// released op above the acknowledged one would be a write acknowledged alone.
	ResumedReleasedOp     uint64 `json:"resumed_released_op,omitempty"`
	ResumedAcknowledgedOp uint64 `json:"resumed_acknowledged_op,omitempty"`
	Acknowledged          int    `json:"acknowledged_so_far"`
}

// Distribution summarizes durations in milliseconds.
type Distribution struct {
	P50 float64 `json:"p50"`
	Max float64 `json:"max"`
}

// Report is the drill's outcome.
type Report struct {
	Mode         string         `json:"mode"`
	Fault        Fault          `json:"fault"`
	Cycles       int            `json:"cycles"`
	CycleReports []Cycle        `json:"cycle_reports"`
	Sent         int            `json:"sent"`         // Transfers sent.
	Acknowledged int            `json:"acknowledged"` // Transfers whose reply arrived.
	Lost         int            `json:"lost"`         // Acknowledged but missing afterwards.
	Duplicated   int            `json:"duplicated"`   // Accounts whose balances show a transfer applied twice.
	Refused      map[string]int `json:"refused"`      // Event statuses other than created/exists.
	RTOMs        Distribution   `json:"rto_ms"`
	PromotedMs   Distribution   `json:"promoted_ms"`
	CatchUpMs    Distribution   `json:"catch_up_ms"`
	Shards       int            `json:"shards"`
	// RefusedButStored counts transfers stored afterwards although their client was told,
	// definitely, that they were not applied (an event refusal, or a request-level status
	// PROTOCOL.md §6 defines as not applied): a client told "failed" for a write that
	// committed. Must be 0.
	RefusedButStored int `json:"refused_but_stored"`
	// Unknown counts transfers whose client could not learn the outcome (outcome_unknown,
	// a copy lost with a connection, the batch's deadline): stored or not, both are right.
	Unknown int `json:"unknown"`
	// SettlementNets and SagasInFlight are the final primary's cross-shard state once the
	// load stopped and every saga had time to finish (GET /v1/reconcile): pairs that do
	// not net to zero, and sagas still running. Both must be zero.
	SettlementUnsettled int      `json:"settlement_pairs_not_netting"`
	SagasInFlight       int      `json:"sagas_in_flight"`
	Reconciled          bool     `json:"reconciled"`    // Every cross-shard invariant held.
	DigestsEqual        bool     `json:"digests_equal"` // Both replicas replay to one state.
	FinalDigest         string   `json:"final_digest"`
	OK                  bool     `json:"ok"`
	Directory           string   `json:"directory"`
	Problems            []string `json:"problems,omitempty"`
}

// drill is one run's state.
type drill struct {
	config  Config
	nodes   [2]*node
	primary int // Index of the current primary.
	token   string
	load    *load
	witness *replication.Witness
	random  *rand.Rand
	report  Report
	kills   []string // When each primary was killed, for diagnostics.
}

// Run performs the drill: start a primary and a standby as separate processes, drive
// transfer load through the Go client, and for each cycle SIGKILL (or SIGSTOP) the
// primary, promote the standby (or let the witness do it), measure the recovery time,
// (SIGCONT a stopped primary and check that it finds itself fenced, having acknowledged
// nothing alone,) restart the old primary as the new standby and measure its catch-up;
// then check that nothing acknowledged was lost or applied twice and that both replicas
// hold the same state.
func Run(ctx context.Context, config Config) (Report, error) {
	if config.Fault == "" {
		config.Fault = FaultKill
	}
	if config.Lease == 0 {
		config.Lease = LeaseDefault
	}
	d := &drill{config: config, random: rand.New(rand.NewPCG(config.Seed, config.Seed^0x5eed))}
	d.report = Report{Mode: map[bool]string{false: "manual", true: "automatic"}[config.Automatic],
		Fault: config.Fault, Cycles: config.Cycles, Refused: map[string]int{},
		Directory: config.Directory, Shards: max(config.Shards, 1)}
	if err := d.setUp(ctx); err != nil {
		d.tearDown()
		return d.report, err
	}
	defer d.tearDown()
	d.load.start(config.Workers)
	for cycle := 1; cycle <= config.Cycles; cycle++ {
		if err := d.cycle(ctx, cycle); err != nil {
			d.load.halt()
			return d.report, fmt.Errorf("cycle %d: %w%s", cycle, err, d.logTails())
		}
	}
	time.Sleep(config.KillAfterMin) // Some load on the final pair too.
	d.load.halt()
	if err := d.check(ctx); err != nil {
		return d.report, fmt.Errorf("%w%s", err, d.logTails())
	}
	return d.report, nil
}

// logTails returns the last lines of each node's log, so that a failed drill says what
// the nodes said even when its directory is removed afterwards.
func (d *drill) logTails() string {
	var tails strings.Builder
	for _, n := range d.nodes {
		if n == nil {
			continue
		}
		raw, err := os.ReadFile(n.logPath)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
		lines = lines[max(0, len(lines)-logTailLines):]
		fmt.Fprintf(&tails, "\n--- last %d lines of %s:\n%s", len(lines), n.logPath,
			strings.Join(lines, "\n"))
	}
	return tails.String()
}

// setUp writes the shared keys, starts the witness (automatic mode), the primary and the
// standby, and creates the accounts.
func (d *drill) setUp(ctx context.Context) error {
	if err := os.MkdirAll(d.config.Directory, 0o755); err != nil {
		return err
	}
	secret, replicationKey, token := randomHex(32), randomHex(32), randomHex(32)
	d.token = token
	keys := filepath.Join(d.config.Directory, "keys.json")
	file := netio.KeysFile{Version: netio.KeysFileVersion, Clients: []netio.KeysFileClient{{
		ID: 1, Name: "drill", Permissions: []string{"read", "transfer"},
		Keys: []netio.KeysFileKey{{ID: 1, Secret: secret}},
		// Single tenant: its bank account may go negative (package ledger, "Ownership").
		Grants: []netio.KeysFileGrant{{Scopes: []string{"operator"}}}}},
		AdminTokens: []netio.KeysFileAdminToken{{Name: "drill", Token: token}}}
	if err := netio.WriteKeysFile(keys, file, true); err != nil {
		return err
	}
	witnessAddress, err := d.startWitness(replicationKey)
	if err != nil {
		return err
	}
	for i, name := range []string{"a", "b"} {
		if d.nodes[i], err = newNode(name, d.config.Binary, d.config.Directory, keys,
			replicationKey, witnessAddress, d.config.Lease, d.config.Shards); err != nil {
			return err
		}
		if d.witness != nil {
			d.nodes[i].witnessID = d.witness.ID()
		}
	}
	waitContext, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := d.nodes[0].startServing(waitContext, ""); err != nil {
		return err
	}
	if err := d.nodes[1].startServing(waitContext, d.nodes[0].replication); err != nil {
		return err
	}
	if err := d.nodes[0].waitFor(waitContext, "a standby", func(s status) bool {
		return s.Role == "primary" && s.Replication.StandbyAttached
	}); err != nil {
		return err
	}
	if err := d.nodes[1].waitFor(waitContext, "its primary", func(s status) bool {
		return s.Role == "standby" && s.Replication.PrimaryConnected
	}); err != nil {
		return err
	}
	return d.connect(ctx, secret)
}

// checkRoles confirms, before a fault, that the pair is as the drill left it: the node
// it is about to fault is the primary and the other its standby. With a witness, a
// primary that got no renewal through for most of a lease (on a loaded machine, a
// scheduling delay longer than that) fences itself and its standby takes over on its
// own; the drill's cycle would then fault the wrong node and fail later on a confusing
// wait, so it says what happened instead.
func (d *drill) checkRoles(ctx context.Context) error {
	bounded, cancel := context.WithTimeout(ctx, failoverTimeout)
	defer cancel()
	primary, standby := d.nodes[d.primary], d.nodes[1-d.primary]
	var primaryStatus, standbyStatus status
	// waitFor polls until a status is read: one slow answer on a loaded machine is no
	// reason to stop the drill.
	if err := primary.waitFor(bounded, "its status", func(s status) bool {
		primaryStatus = s
		return true
	}); err != nil {
		return err
	}
	if err := standby.waitFor(bounded, "its status", func(s status) bool {
		standbyStatus = s
		return true
	}); err != nil {
		return err
	}
	if primaryStatus.Role == "primary" && standbyStatus.Role == "standby" {
		return nil
	}
	hint := ""
	if d.config.Automatic {
		hint = fmt.Sprintf(" (a lease of %s too short for this machine's scheduling delays? "+
			"see --lease)", d.config.Lease)
	}
	return fmt.Errorf("before the fault %s is %s (%d leases lost) and %s is %s (%d leases "+
		"lost), not primary and standby: a failover the drill did not cause%s", primary.name,
		primaryStatus.Role, primaryStatus.Replication.LeaseLosses, standby.name,
		standbyStatus.Role, standbyStatus.Replication.LeaseLosses, hint)
}

func (d *drill) startWitness(key string) (string, error) {
	if !d.config.Automatic {
		return "", nil
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	d.witness = replication.StartWitness(replication.WitnessConfig{Listener: listener,
		Key: []byte(key), LeaseDuration: d.config.Lease})
	return listener.Addr().String(), nil
}

// connect opens the load's client session (both nodes listed: it follows the primary)
// and creates the accounts.
func (d *drill) connect(ctx context.Context, secret string) error {
	raw, _ := hex.DecodeString(secret)
	dialContext, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	// A hung primary keeps the client's connection open and silent: the client notices
	// only by its silence timeout (the server's default is 15 s) and must not wait long
	// on a dial to it, so the drill measures failover as a client tuned for it sees it.
	c, err := client.Dial(dialContext, client.Config{Client: 1, Key: 1, Secret: raw,
		Addresses:         []string{d.nodes[0].client, d.nodes[1].client},
		HeartbeatInterval: clientHeartbeatInterval, SilenceTimeout: clientSilenceTimeout,
		DialTimeout: clientDialTimeout})
	if err != nil {
		return err
	}
	accounts := make([]model.Account, d.config.Accounts)
	for i := range accounts {
		accounts[i] = model.Account{ID: model.U128(uint64(i + 1)), Ledger: 1, Code: 1}
	}
	results, err := c.CreateAccounts(dialContext, accounts)
	if err != nil {
		return err
	}
	for _, result := range results {
		if result.Status != model.StatusOK && result.Status != model.StatusExists {
			return fmt.Errorf("creating accounts: %s", result.Status)
		}
	}
	d.load = newLoad(c, uint64(d.config.Accounts), d.config.BatchSize, 1_000_000,
		d.config.Rate)
	return nil
}

func randomHex(bytes int) string {
	b := make([]byte, bytes)
	if _, err := cryptoRead(b); err != nil {
		panic("drill: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b)
}

var cryptoRead = cryptorand.Read

func (d *drill) tearDown() {
	for _, n := range d.nodes {
		if n != nil {
			n.stop(stopTimeout)
		}
	}
	if d.load != nil {
		d.load.client.Close()
	}
	if d.witness != nil {
		d.witness.Close()
	}
}

var errNoProgress = errors.New("no acknowledged write after the failover")
