package node

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/node/reconcile"
	"sequent/core/node/router"
	"sequent/core/saga"
	"sequent/core/shard"
	"sequent/core/shardmap"
)

// TickIntervalDefault is how often the node moves the router's time: busy parts are
// resubmitted and saga resends and outbox polls become due at this granularity.
const TickIntervalDefault = 5 * time.Millisecond

// Config assembles a node. Map is required.
type Config struct {
	Map *shardmap.Map
	// Router timings (nanoseconds; zero: the router's defaults).
	SagaResendAfter uint64
	SagaTimeout     uint64
	OutboxInterval  uint64
	TickInterval    time.Duration // Default TickIntervalDefault.
	// StartedAsStandby: the node started as a standby (it serves once promoted). Its
	// router counts the saga timeout from step 1 alone (router.Config.SagaTimeoutFromStep1):
	// a promoted standby's logs may lack a saga's abort and void its former primary
	// released, so a failover longer than the timeout ends the sagas it interrupted with
	// saga_timed_out; a node that started from its own logs counts from when it serves.
	StartedAsStandby bool
	// Clock returns the wall clock in nanoseconds (the router's time; the shards stamp
	// their entries with their own clock, the wall clock by default).
	Clock func() uint64
}

// Groups is the node's shard groups, which the node runs: replication.Node is the real
// one (a log and a replication role per shard, one epoch), Local the unreplicated one over
// given machines and logs (tests, benchmarks, the in-process tools).
type Groups interface {
	// Shards returns the shards, one per shard of the map, in shard order.
	Shards() []*shard.Shard
	// Start runs every shard (shard i's released output going to outputs[i]) and
	// whatever else the groups run (replication).
	Start(outputs []shard.Outputs)
	// Close stops the shards (each answers what it still holds) and the rest.
	Close() error
}

// Node is N shards, their router and the in-process transport between them. Submit,
// ReplayReports and SessionClosed make it the network layer's backend.Backend.
type Node struct {
	config  Config
	groups  Groups
	shards  []*shard.Shard
	router  *router.Router
	replier backend.Replier // The clients' (the network layer's), from Start.
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	started atomic.Bool
}

var _ backend.Backend = (*Node)(nil)

// New builds a node over its shard groups; Start runs it.
func New(config Config, groups Groups) (*Node, error) {
	if config.Map == nil || groups == nil {
		return nil, errors.New("node: a map and the groups are required")
	}
	if err := config.Map.Validate(); err != nil {
		return nil, err
	}
	shards := groups.Shards()
	if len(shards) != int(config.Map.Shards) {
		return nil, fmt.Errorf("node: %d shards for a map of %d", len(shards), config.Map.Shards)
	}
	if config.TickInterval <= 0 {
		config.TickInterval = TickIntervalDefault
	}
	if config.Clock == nil {
		config.Clock = func() uint64 { return uint64(time.Now().UnixNano()) }
	}
	n := &Node{config: config, groups: groups, shards: shards,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	var err error
	n.router, err = router.New(n.routerConfig())
	if err != nil {
		return nil, err
	}
	return n, nil
}

// routerConfig is the node's router's configuration: the node's shards, messages and
// clients, and the router settings of its Config.
func (n *Node) routerConfig() router.Config {
	return router.Config{Map: n.config.Map, Shards: shardPort{n}, Transport: inProcess{n},
		Replier: clients{n}, Wake: n.signal, SagaResendAfter: n.config.SagaResendAfter,
		SagaTimeout: n.config.SagaTimeout, OutboxInterval: n.config.OutboxInterval,
		SagaTimeoutFromStep1: n.config.StartedAsStandby}
}

// Start runs the groups (every shard's sequencer, replication) and the node's ticker;
// replier (required) receives the replies to client requests and execution reports.
func (n *Node) Start(replier backend.Replier) {
	if replier == nil {
		panic("node: Start without a replier")
	}
	if n.started.Swap(true) {
		return
	}
	n.replier = replier
	outputs := make([]shard.Outputs, len(n.shards))
	for index := range outputs {
		outputs[index] = shardOutputs{node: n, index: uint16(index)}
	}
	n.groups.Start(outputs)
	go n.tick()
}

// tick moves the router's time and delivers the replies it made within Submit.
func (n *Node) tick() {
	defer close(n.done)
	ticker := time.NewTicker(n.config.TickInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			n.router.Tick(n.config.Clock())
		case <-n.wake:
			n.router.Flush()
		case <-n.stop:
			n.router.Flush()
			return
		}
	}
}

func (n *Node) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Close stops the groups (each shard answers what it still holds), answers the split
// requests still open (waiting for a saga, say: Router.Abandon), and stops the ticker.
func (n *Node) Close() error {
	err := n.groups.Close()
	n.router.Abandon()
	n.once.Do(func() { close(n.stop) })
	if n.started.Load() {
		<-n.done
	}
	return err
}

// Submit implements backend.Submitter through the router.
func (n *Node) Submit(request *backend.Request) model.Status { return n.router.Submit(request) }

var _ backend.InlineTurner = (*Node)(nil)

// SubmitDeferred implements backend.InlineTurner: a one-shard node hands the request to
// its shard as the router would (a pass-through), leaving the sequencer asleep for
// TurnInline; a node of several routes it with Submit, which wakes what it must.
func (n *Node) SubmitDeferred(request *backend.Request) model.Status {
	if len(n.shards) != 1 {
		return n.Submit(request)
	}
	if request.Connection == 0 || request.Connection >= router.ClientConnectionLimit {
		return model.StatusInternalError // As Router.Submit: the reply could not be routed.
	}
	return n.shards[0].SubmitDeferred(request)
}

// InlineTurns implements backend.InlineTurner: only a node of one shard, whose own
// inline turns are on, runs turns on its callers.
func (n *Node) InlineTurns() bool { return len(n.shards) == 1 && n.shards[0].InlineTurns() }

// TurnInline implements backend.InlineTurner (one shard only; see SubmitDeferred).
func (n *Node) TurnInline() {
	if len(n.shards) == 1 {
		n.shards[0].TurnInline()
	}
}

// SessionClosed tells every shard (each cancels the client's orders it holds when asked).
func (n *Node) SessionClosed(client uint64, session uint64, cancelOrders bool) {
	for _, s := range n.shards {
		s.SessionClosed(client, session, cancelOrders)
	}
}

// ReplayReports replays a client's execution reports from the default instrument
// shard (backend.ReportReplayer: what a subscription that names no shard gets).
func (n *Node) ReplayReports(client uint64, fromSequence uint64,
	fn func(reports []backend.Report)) (oldest uint64, next uint64) {
	return n.ReplayShardReports(n.reportShardDefault(), client, fromSequence, fn)
}

var _ backend.ShardReportReplayer = (*Node)(nil)

// ReportShards implements backend.ShardReportReplayer: every shard's execution reports
// reach the clients, each shard's a stream of its own (each shard numbers a client's
// reports itself, from 1: PROTOCOL.md sections 8 and 18), subscribed to one by one.
func (n *Node) ReportShards() (count uint16, defaultShard uint16) {
	return uint16(len(n.shards)), n.reportShardDefault()
}

// ReplayShardReports implements backend.ShardReportReplayer from shard's store. fn is
// handed to the shard as it is (no wrapper tags the reports: a closure would allocate on
// every live subscription, whose replay asks for nothing), so the reports' Shard is 0:
// the caller knows the shard it asked for.
func (n *Node) ReplayShardReports(shard uint16, client uint64, fromSequence uint64,
	fn func(reports []backend.Report)) (oldest uint64, next uint64) {
	return n.shards[shard].ReplayReports(client, fromSequence, fn)
}

// reportShardDefault is the shard whose reports a subscription naming none gets: the
// default instrument shard (every instrument's, unless the map lists some on other
// shards), the one shard whose reports reached clients before streams per shard.
func (n *Node) reportShardDefault() uint16 { return n.config.Map.InstrumentDefault }

// Shards returns the node's shards, in index order (for status and operations).
func (n *Node) Shards() []*shard.Shard { return n.shards }

// Map returns the node's shard map.
func (n *Node) Map() *shardmap.Map { return n.config.Map }

// Router returns the node's router.
func (n *Node) Router() *router.Router { return n.router }

// shardPort lets the router submit to the node's shards.
type shardPort struct{ node *Node }

func (p shardPort) Submit(index uint16, request *backend.Request) model.Status {
	return p.node.shards[index].Submit(request)
}

func (p shardPort) SubmitInternal(index uint16, request *backend.Request) model.Status {
	return p.node.shards[index].SubmitInternal(request)
}

// inProcess is the transport between shards of one process: messages go straight to the
// router, which writes them into the destination shards' rings (never blocking).
type inProcess struct{ node *Node }

func (t inProcess) Send(messages []saga.Message) { t.node.router.Receive(messages) }

// clients passes the router's replies to the clients' replier (set by Start, before any
// shard runs).
type clients struct{ node *Node }

func (c clients) Deliver(replies []backend.Reply) { c.node.replier.Deliver(replies) }

func (c clients) DeliverReports(reports []backend.Report) {
	c.node.replier.DeliverReports(reports)
}

// shardOutputs passes a shard's released replies to the router (which forwards clients'
// at once), its execution reports to the client replier (tagged with the shard), and its saga messages to the
// router (which sends them on).
type shardOutputs struct {
	node  *Node
	index uint16
}

func (o shardOutputs) Deliver(replies []backend.Reply) { o.node.router.Deliver(o.index, replies) }

// DeliverReports tags each report with the shard (the slice is the shard's, handed over
// for this call only) and passes them on: each shard's reports are a stream of their
// own, which the network layer delivers to the connections subscribed to that shard.
func (o shardOutputs) DeliverReports(reports []backend.Report) {
	for i := range reports {
		reports[i].Shard = o.index
	}
	o.node.replier.DeliverReports(reports)
}

func (o shardOutputs) Released(messages []saga.Message) {
	o.node.router.Released(o.index, messages)
}

// Recover rebuilds every shard's machine from its newest usable snapshot and its log, all
// shards in parallel. snapshotDirs may be nil (no snapshots).
func Recover(placement *shardmap.Map, config core.Config, logs []shard.LogReader,
	snapshotDirs []string, logger *slog.Logger) ([]*core.Machine, error) {
	if len(logs) != int(placement.Shards) {
		return nil, fmt.Errorf("node: %d logs for %d shards", len(logs), placement.Shards)
	}
	machines := make([]*core.Machine, len(logs))
	errs := make([]error, len(logs))
	var group sync.WaitGroup
	for index := range logs {
		group.Go(func() {
			shardConfig := config
			shardConfig.Shard = core.ShardConfig{Map: placement, Index: uint16(index)}
			dir := ""
			if snapshotDirs != nil {
				dir = snapshotDirs[index]
			}
			machine, _, err := shard.Recover(shardConfig, logs[index], dir, logger, nil)
			if err != nil {
				err = fmt.Errorf("node: shard %d: %w", index, err)
			}
			machines[index], errs[index] = machine, err
		})
	}
	group.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return machines, nil
}

// Reconcile reconciles the running node (reconcile.Gather over every shard's internal
// read path) by deadline: each read waits at most what remains until it, so the one
// deadline bounds the whole reconciliation, two readings of every shard page by page.
// (Each read was given the caller's whole timeout, so a 60 s request could run for 60 s
// times the reads.) Past the deadline the error wraps shard.ErrQueryTimeout.
func (n *Node) Reconcile(deadline time.Time) (*reconcile.Reconciliation, error) {
	return reconcile.Gather(deadlineReads{shards: len(n.shards), deadline: deadline,
		now: time.Now, query: func(index int, operation model.Operation, body []byte,
			timeout time.Duration) (model.Status, []byte, error) {
			return n.shards[index].Query(operation, body, timeout)
		}})
}

// deadlineReads is reconcile.Reader over reads that each take a timeout (a shard's
// Query): every read is given what remains until deadline, and none is asked once it has
// passed. now is the clock (time.Now; a test's own).
type deadlineReads struct {
	shards   int
	deadline time.Time
	now      func() time.Time
	query    func(index int, operation model.Operation, body []byte,
		timeout time.Duration) (model.Status, []byte, error)
}

func (r deadlineReads) Shards() int { return r.shards }

func (r deadlineReads) Query(index int, operation model.Operation, body []byte) (model.Status,
	[]byte, error) {
	remaining := r.deadline.Sub(r.now())
	if remaining <= 0 {
		return 0, nil, fmt.Errorf("%w: the reconciliation's deadline passed", shard.ErrQueryTimeout)
	}
	return r.query(index, operation, body, remaining)
}
