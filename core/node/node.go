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
	"sequent/core/node/router"
	"sequent/core/saga"
	"sequent/core/shard"
	"sequent/core/shardmap"
	"sequent/wal"
)

// TickIntervalDefault is how often the node moves the router's time: busy parts are
// resubmitted and saga resends and outbox polls become due at this granularity.
const TickIntervalDefault = 5 * time.Millisecond

// Config assembles a node. Map is required.
type Config struct {
	Map *shardmap.Map
	// Shard configures every shard (Epoch, Role, ring sizes, snapshots...). The node sets
	// OnRelease itself; a Snapshots directory must differ per shard, so Snapshots, when
	// set, is given per shard by SnapshotDirs.
	Shard        shard.Config
	SnapshotDirs []string // Per shard, when Shard.Snapshots is set.
	// Router timings (nanoseconds; zero: the router's defaults).
	SagaResendAfter uint64
	SagaTimeout     uint64
	OutboxInterval  uint64
	TickInterval    time.Duration // Default TickIntervalDefault.
	// Clock returns the wall clock in nanoseconds (the shards' timestamps use the same).
	Clock  func() uint64
	Logger *slog.Logger
}

// Part is one shard's recovered state: its machine (built for its index of the map) and
// its open log, whose last op is the machine's.
type Part struct {
	Machine *core.Machine
	Log     wal.Appender
}

// Node is N shards, their router and the in-process transport between them. Submit,
// ReplayReports and SessionClosed make it the network layer's backend.Backend.
type Node struct {
	config  Config
	shards  []*shard.Shard
	router  *router.Router
	replier backend.Replier
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	started atomic.Bool
}

var _ backend.Backend = (*Node)(nil)

// New builds a node over recovered parts, one per shard of the map, in shard order.
// replier receives the replies to client requests (and execution reports).
func New(config Config, parts []Part, replier backend.Replier) (*Node, error) {
	if config.Map == nil || replier == nil {
		return nil, errors.New("node: a map and a replier are required")
	}
	if err := config.Map.Validate(); err != nil {
		return nil, err
	}
	if len(parts) != int(config.Map.Shards) {
		return nil, fmt.Errorf("node: %d parts for %d shards", len(parts), config.Map.Shards)
	}
	if config.Shard.Snapshots != nil && len(config.SnapshotDirs) != len(parts) {
		return nil, errors.New("node: snapshots need one directory per shard")
	}
	if config.TickInterval <= 0 {
		config.TickInterval = TickIntervalDefault
	}
	if config.Clock == nil {
		config.Clock = func() uint64 { return uint64(time.Now().UnixNano()) }
	}
	if config.Logger == nil {
		config.Logger = slog.Default()
	}
	n := &Node{config: config, replier: replier, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	var err error
	n.router, err = router.New(router.Config{Map: config.Map, Shards: shardPort{n},
		Transport: inProcess{n}, Replier: replier, Wake: n.signal,
		SagaResendAfter: config.SagaResendAfter, SagaTimeout: config.SagaTimeout,
		OutboxInterval: config.OutboxInterval})
	if err != nil {
		return nil, err
	}
	for index, part := range parts {
		book := part.Machine.Sagas()
		if book.Self() != uint16(index) || !book.Map().Equal(config.Map) {
			return nil, fmt.Errorf("node: part %d holds the machine of shard %d of %s, "+
				"not of shard %d of %s", index, book.Self(), book.Map(), index, config.Map)
		}
		shardConfig := config.Shard
		shardConfig.Clock = config.Clock
		if shardConfig.Snapshots != nil {
			snapshots := *shardConfig.Snapshots
			snapshots.Dir = config.SnapshotDirs[index]
			shardConfig.Snapshots = &snapshots
		}
		shardIndex := uint16(index)
		shardConfig.OnRelease = func(output *core.Output) {
			n.router.Released(shardIndex, output.Messages)
		}
		s, err := shard.New(shardConfig, part.Machine, part.Log)
		if err != nil {
			return nil, fmt.Errorf("node: shard %d: %w", index, err)
		}
		n.shards = append(n.shards, s)
	}
	return n, nil
}

// Start runs every shard's sequencer and the node's ticker.
func (n *Node) Start() {
	if n.started.Swap(true) {
		return
	}
	for index, s := range n.shards {
		s.Start(shardReplier{node: n, index: uint16(index)})
	}
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

// Close stops the shards (each answers what it still holds), answers the split requests
// still open (waiting for a saga, say) with shutting_down, and stops the ticker.
func (n *Node) Close() error {
	errs := make([]error, len(n.shards))
	var group sync.WaitGroup
	for index, s := range n.shards {
		group.Go(func() { errs[index] = s.Close() })
	}
	group.Wait()
	n.router.Abandon()
	n.once.Do(func() { close(n.stop) })
	if n.started.Load() {
		<-n.done
	}
	return errors.Join(errs...)
}

// Submit implements backend.Submitter through the router.
func (n *Node) Submit(request *backend.Request) model.Status { return n.router.Submit(request) }

// SessionClosed tells every shard (each cancels the client's orders it holds when asked).
func (n *Node) SessionClosed(client uint64, session uint64, cancelOrders bool) {
	for _, s := range n.shards {
		s.SessionClosed(client, session, cancelOrders)
	}
}

// ReplayReports replays a client's execution reports from the shard of the instruments.
// Report sequences are per shard: with instruments on several shards this covers only the
// default instrument shard's (phase 2: per-shard report streams).
func (n *Node) ReplayReports(client uint64, fromSequence uint64,
	fn func(reports []backend.Report)) uint64 {
	shardIndex, _ := n.config.Map.InstrumentsShard()
	return n.shards[shardIndex].ReplayReports(client, fromSequence, fn)
}

// Shards returns the node's shards, in index order (for status and operations).
func (n *Node) Shards() []*shard.Shard { return n.shards }

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

// shardReplier passes a shard's released replies to the router (which forwards clients'
// at once) and its execution reports to the client replier.
type shardReplier struct {
	node  *Node
	index uint16
}

func (r shardReplier) Deliver(replies []backend.Reply) { r.node.router.Deliver(r.index, replies) }

func (r shardReplier) DeliverReports(reports []backend.Report) {
	r.node.replier.DeliverReports(reports)
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
