package replication

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"sequent/core/shard"
	"sequent/core/shardmap"
	"sequent/netio/peer"
	"sequent/wal"
)

// NodeConfig describes one Sequent node: its shard groups (one log and snapshot
// directory each), its log and shard settings, and its place in a primary/standby pair.
type NodeConfig struct {
	// Groups holds one entry per shard of Map, in shard order (at least one).
	Groups []GroupConfig
	// Map is the node's shard map (nil: one shard). A standby's must be its primary's: the
	// hello of every link carries the map's checksum, and a mismatch is refused
	// (ErrShardMapMismatch).
	Map           *shardmap.Map
	EpochPath     string                // File holding the persisted epoch (one per node).
	WAL           wal.Options           // Log options (Dir is each group's LogDir).
	Shard         shard.Config          // Shard options (Epoch, Role and Acknowledger are the node's).
	Snapshots     *shard.SnapshotConfig // Snapshot policy (Dir: each group's SnapshotDir; shard n ≥ 1 archives in ArchiveDir/shard-n); nil = off.
	Listen        string                // Replication listen address ("" = no replication).
	StandbyOf     string                // Start as the standby of this replication address.
	Peer          string                // The other node's replication address, fenced on promotion.
	Mode          Mode                  // Sync (default) or async.
	DegradeAfter  time.Duration         // See PrimaryConfig.
	Key           []byte                // Replication secret (required with Listen or StandbyOf).
	TLS           *TLS                  // Mutual TLS on the replication link; nil = plain TCP.
	ClientAddress string                // This node's client address, for redirects.
	// Witness, when set, is the lease service that makes automatic failover safe: the
	// primary renews a lease and fences itself when it cannot; a standby whose primary is
	// silent for longer than the lease asks for the lease and promotes itself if granted.
	Witness       string
	NodeName      string        // Name of this node at the witness (default ClientAddress).
	LeaseDuration time.Duration // Lease length (default LeaseDurationDefault).
	// WitnessUnsignedAllowed lets the node, without TLS, accept the unsigned answers of a
	// witness of an earlier build (one that does not sign its replies, witness.go): anyone
	// on the path to the witness can then forge a grant (split brain) or a refusal (a
	// fence). Off by default: such a witness is refused (ErrWitnessUnsigned). Meant for
	// the window of an upgrade done nodes first; upgrade the witness first instead.
	WitnessUnsignedAllowed bool
	// WitnessID pins the witness's identity (WitnessConfig.ID, printed by the witness at
	// start): the node then takes answers only from a witness that proves that id (v3,
	// witness.go), so that another witness holding the same key cannot grant this node a
	// lease. Empty: any witness holding the key is believed (said once at Warn).
	WitnessID string
	// WitnessRatchetPath is the signed-replies ratchet's marker (witness_ratchet.go: once
	// a signed answer arrived, unsigned ones are refused without TLS, whatever
	// WitnessUnsignedAllowed says), beside the epoch file. Empty: the ratchet is kept in
	// memory only and lowered at every start (tests, the drill).
	WitnessRatchetPath string
	// PrimaryWaitAtStart bounds the wait for the primary when a standby with a non-empty
	// log starts (default PrimaryWaitAtStartDefault); see that constant.
	PrimaryWaitAtStart time.Duration
	Logger             *slog.Logger
	// gateHandshakeTimeout replaces handshakeTimeout for the connections this node's
	// replication port accepts (0: handshakeTimeout). Tests only: one that opens a
	// thousand unauthenticated connections must not see the first ones end before the
	// last are open on a slow machine (TestGateBoundsThePeersConnections).
	gateHandshakeTimeout time.Duration
}

// Node is the replicated half of a Sequent node: its shard groups (log, recovered
// machine, shard and replication role each), one epoch, one replication listener, the
// witness lease, and the role changes — promotion, fencing and rejoin — which act on
// every group together, so that the node is never primary for some shards and standby
// for others.
type Node struct {
	config   NodeConfig
	groups   []*Group
	listener net.Listener
	gate     *gate // Accepts replication connections while primary.

	mutex sync.Mutex // Serializes role changes (Promote, Close).
	// witnessTurn serializes the node's decisions at the witness (a promotion's release,
	// acquisition or renewal, and the failover watch's resend of a pending release), which
	// ask it with the mutex released; taken before the mutex, never while holding it.
	witnessTurn sync.Mutex
	// following ends the standby's followers (promotion, Close); followers counts them.
	following     context.Context
	stopFollowing context.CancelFunc
	followers     sync.WaitGroup
	lease         leaseCounters // Witness lease renewals, for NodeStatus.
	failure       error
	leaseStop     chan struct{} // Closes the lease goroutine (primary with a witness).
	watchStop     chan struct{} // Closes the failover watch (standby with a witness).
	closed        bool          // Close has begun: no promotion, no new goroutine.
	// ratchet is the signed-replies ratchet (never nil once OpenNode returns; its own
	// atomics and mutex: any goroutine that asks the witness raises it).
	ratchet *witnessRatchet
	// ratchetDamagedAtStart: the marker did not verify at OpenNode (its rewrite is said).
	ratchetDamagedAtStart bool
	// promoting: a promotion has released the mutex to wait for the followers; any other
	// is refused meanwhile (ErrPromotionUnderway), or it would find the node still a
	// standby and switch the shards while a follower could be inside Replicate.
	promoting bool
	started   bool
	// grantedEpoch is the epoch of the witness's last grant of the lease to this node's
	// promotion: a promotion that failed after the grant retries by renewing it while
	// it holds (leaseClock); 0 once a renewal was refused or the grant was given up.
	grantedEpoch uint64
	// failedPromotions counts the promotions that failed under the grant of grantedEpoch;
	// at failedPromotionsPerGrantMax the node gives the grant up (grantGivenUpError).
	failedPromotions int
	// holdOffUntil is when the failover watch may ask the witness again after a grant was
	// given up (releasedGrantHoldOffLeases leases on): the node's, not the watch's, since a
	// manual Promote may be the attempt that gives it up.
	holdOffUntil time.Time
	// releasePending is the epoch of a grant this node gave up whose release the witness
	// has not answered yet (0: none): the failover watch sends it again at every tick,
	// before anything else (releasePendingGrant). Cleared by an answer, or by a new grant.
	releasePending uint64
	// leaseClock is the primary's witness lease, for the release path (nil: no witness).
	leaseClock *leaseClock
	// lifetime ends when Close begins, before Close takes the mutex: every network wait
	// (witness calls, fence calls, dials) watches it, so Close never waits for a peer that
	// hangs, not even behind a promotion that holds the mutex.
	lifetime    context.Context
	endLifetime context.CancelFunc
	// background counts the lease, failover-watch and fencing goroutines; Close waits
	// for them, so none outlives the node (a leaked lease goroutine would go on renewing
	// the witness lease and block the other node's automatic failover).
	background sync.WaitGroup
}

// testHookPromotionUnlocked, when set by a test, runs while a promotion has released the
// mutex to wait for the followers to stop: the window in which Close can run.
var testHookPromotionUnlocked func()

// goBackground runs f on a goroutine that Close waits for; the caller holds the mutex
// and has checked that the node is not closed.
func (n *Node) goBackground(f func()) {
	n.background.Add(1)
	go func() {
		defer n.background.Done()
		f()
	}()
}

// OpenNode opens every group's log (in parallel), persists or learns the epoch, (as a
// standby) aligns each log with the primary's group of the same shard, recovers every
// machine (in parallel) and builds the shards. Start sets it running. A standby waits at
// start for its primary (see Group.align); ctx ends that wait (a shutdown signal), and
// OpenNode then returns ctx's error.
func OpenNode(ctx context.Context, config NodeConfig) (*Node, error) {
	if err := config.withDefaults(); err != nil {
		return nil, err
	}
	n := &Node{config: config}
	n.lifetime, n.endLifetime = context.WithCancel(context.Background())
	if config.Witness != "" {
		n.leaseClock = &leaseClock{}
	}
	failed := func(err error) { n.fail(err) }
	for index, groupConfig := range config.Groups {
		n.groups = append(n.groups, &Group{node: n, index: uint16(index), config: groupConfig,
			replicated: config.Listen != "", notify: make(chan struct{}, 1),
			digests: newDigestBook(failed)})
	}
	epoch, err := LoadEpoch(config.EpochPath)
	if err != nil {
		return nil, err
	}
	var ratchetErr error
	if n.ratchet, ratchetErr = loadWitnessRatchet(config.WitnessRatchetPath); ratchetErr != nil {
		// Raised all the same: no damage to the marker lowers it (witness_ratchet.go).
		config.Logger.Error("replication: the witness ratchet's marker is unreadable: "+
			"counted as raised (unsigned witness answers refused without TLS), and "+
			"rewritten at the next signed answer; remove it, the node stopped, to lower "+
			"the ratchet", "error", ratchetErr)
		n.ratchetDamagedAtStart = true
	}
	if err := n.eachGroup((*Group).open); err != nil {
		n.closeLogs()
		return nil, err
	}
	role := shard.RolePrimary
	if config.StandbyOf != "" {
		role = shard.RoleStandby
		epochs := make([]uint64, len(n.groups))
		err := n.eachGroup(func(g *Group) error {
			var err error
			epochs[g.index], err = g.align(ctx, epoch)
			return err
		})
		if err != nil {
			n.closeLogs()
			return nil, err
		}
		for _, primaryEpoch := range epochs {
			epoch = max(epoch, primaryEpoch)
		}
	} else if epoch == 0 {
		epoch = 1
	}
	if err := StoreEpoch(config.EpochPath, epoch); err != nil {
		n.closeLogs()
		return nil, err
	}
	if err := n.eachGroup(func(g *Group) error { return g.build(epoch, role) }); err != nil {
		n.closeLogs()
		return nil, err
	}
	if config.Listen != "" {
		if n.listener, err = net.Listen("tcp", config.Listen); err != nil {
			n.closeLogs()
			return nil, fmt.Errorf("replication: listen on %s: %w", config.Listen, err)
		}
		// Under TLS, so that a connection past its peer's share costs no handshake.
		n.listener = peer.NewListener(n.listener, gateConnectionsPerPeerMax, nil)
		if config.TLS != nil {
			n.listener = tls.NewListener(n.listener, config.TLS.Server)
		}
	}
	return n, nil
}

// withDefaults fills in defaults and checks what is required.
func (c *NodeConfig) withDefaults() error {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.NodeName == "" {
		c.NodeName = c.ClientAddress
	}
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = LeaseDurationDefault
	}
	if c.PrimaryWaitAtStart <= 0 {
		c.PrimaryWaitAtStart = PrimaryWaitAtStartDefault
	}
	if c.Map == nil {
		c.Map = shardmap.Single()
	}
	switch {
	case (c.Listen != "" || c.StandbyOf != "") && len(c.Key) == 0:
		return errors.New("replication: a replication key is required")
	case c.Witness != "" && len(c.NodeName) > NodeNameBytesMax:
		// A witness with a state file refuses to grant the lease to such a name (it
		// cannot record it), so automatic failover would never happen.
		return fmt.Errorf("replication: the node's name at the witness (%.32q...) is %d "+
			"bytes, longer than the %d a witness records: set a shorter NodeName",
			c.NodeName, len(c.NodeName), NodeNameBytesMax)
	case len(c.ClientAddress) > clientAddressBytesMax:
		// A fence carries it in a connection's first frame, which a node reads only up to
		// unauthenticatedFrameBytesMax.
		return fmt.Errorf("replication: the node's client address (%.32q...) is %d bytes, "+
			"over %d", c.ClientAddress, len(c.ClientAddress), clientAddressBytesMax)
	case c.WitnessID != "" && c.Witness == "":
		return errors.New("replication: a witness id to pin without a witness")
	case c.WitnessID != "" && ValidateWitnessID(c.WitnessID) != nil:
		return ValidateWitnessID(c.WitnessID)
	case len(c.Groups) == 0 || len(c.Groups) != int(c.Map.Shards):
		return fmt.Errorf("replication: %d groups for a map of %d shards", len(c.Groups),
			c.Map.Shards)
	}
	return nil
}

// eachGroup runs fn for every group at once and joins the errors.
func (n *Node) eachGroup(fn func(g *Group) error) error {
	errs := make([]error, len(n.groups))
	var wait sync.WaitGroup
	for i, g := range n.groups {
		wait.Go(func() { errs[i] = fn(g) })
	}
	wait.Wait()
	return errors.Join(errs...)
}

// closeLogs closes the groups' logs after a failed open.
func (n *Node) closeLogs() {
	for _, g := range n.groups {
		if g.link != nil {
			g.link.Close()
		}
		if g.log != nil {
			g.log.Close()
		}
	}
}

// removeSnapshotsAfter deletes snapshots of ops above op (op 0: all of them): they hold
// state the primary does not have. The removals are durable when it returns (the
// directory synced), so that a power loss cannot bring one back over a log cut after.
func removeSnapshotsAfter(dir string, op uint64) error {
	snapshots, err := wal.ListSnapshots(dir)
	if err != nil {
		return err
	}
	removed := false
	for _, info := range snapshots {
		if op == 0 || info.Meta.Op > op {
			if err := os.Remove(info.Path); err != nil {
				return err
			}
			removed = true
		}
	}
	if removed {
		return wal.SyncDirectory(dir)
	}
	return nil
}

// Groups returns the node's shard groups, in shard order.
func (n *Node) Groups() []*Group { return n.groups }

// Shards returns the node's shards, in shard order.
func (n *Node) Shards() []*shard.Shard {
	shards := make([]*shard.Shard, len(n.groups))
	for i, g := range n.groups {
		shards[i] = g.shard
	}
	return shards
}

// Shard returns shard 0 (a one-shard node's only shard).
func (n *Node) Shard() *shard.Shard { return n.groups[0].shard }

// Log returns shard 0's log.
func (n *Node) Log() *wal.Log { return n.groups[0].log }

// Recovery returns how shard 0's state was rebuilt at startup.
func (n *Node) Recovery() shard.RecoveryReport { return n.groups[0].recovery }

// Epoch returns the node's epoch (every shard's).
func (n *Node) Epoch() uint64 { return n.groups[0].shard.Epoch() }

// Role returns the node's role (every shard's).
func (n *Node) Role() shard.Role { return n.groups[0].shard.Role() }

func (n *Node) shards() uint16 { return n.config.Map.Shards }

func (n *Node) mapChecksum() uint32 { return n.config.Map.Checksum() }

// Start runs every shard (shard i's released output goes to outputs[i]) and replication.
func (n *Node) Start(outputs []shard.Outputs) {
	if len(outputs) != len(n.groups) {
		panic(fmt.Sprintf("replication: %d outputs for %d shards", len(outputs), len(n.groups)))
	}
	for i, g := range n.groups {
		g.shard.Start(outputs[i])
	}
	n.mutex.Lock()
	defer n.mutex.Unlock()
	n.started = true
	if n.config.Witness != "" && n.config.WitnessID == "" {
		n.config.Logger.Warn(witnessNotPinnedMessage)
	}
	if n.Role() == shard.RoleStandby {
		n.startFollowers(true)
		if n.config.Witness != "" {
			n.watchStop = make(chan struct{})
			stop := n.watchStop
			n.goBackground(func() { n.watchPrimary(stop) })
		}
		return
	}
	n.startPrimary(false)
	if n.config.Witness != "" {
		// The release path counts on no lease until the witness grants one (leaseClock
		// stays expired): the witness may have given it to the other node, promoted
		// while this one was away. The lease goroutine itself gives the first renewal
		// a lease's time before it fences.
		n.leaseStop = make(chan struct{})
		stop := n.leaseStop
		fenceAt := leaseValidFrom(time.Now(), n.config.LeaseDuration)
		n.goBackground(func() { n.holdLease(stop, fenceAt) })
	}
}

// startFollowers starts a follower for every group (on its startup link at the first
// start; a restart after a failed promotion dials afresh), except those stopped for good
// (followStopped). The caller holds the mutex and has checked that the node is not
// closed.
func (n *Node) startFollowers(first bool) {
	n.following, n.stopFollowing = context.WithCancel(n.lifetime)
	following := n.following
	for _, g := range n.groups {
		if g.followStopped {
			continue
		}
		var link *Link
		if first {
			link = g.link
		}
		n.followers.Add(1)
		go func() {
			defer n.followers.Done()
			if err := g.follow(following, link); err != nil {
				n.mutex.Lock()
				g.followStopped = true
				n.mutex.Unlock()
				n.fail(err)
			}
		}()
	}
}

// startPrimary begins serving standbys, every group's at once (nothing without a
// listener). alone starts each released from its standby (promotion: there is none yet)
// until one attaches and catches up. The caller holds the mutex.
func (n *Node) startPrimary(alone bool) {
	if n.listener == nil {
		return
	}
	heartbeat := heartbeatInterval
	if n.config.Witness != "" {
		heartbeat = min(heartbeat, n.config.LeaseDuration/4)
	}
	for _, g := range n.groups {
		g.startPrimary(heartbeat, alone)
	}
	n.gate = startGate(n, n.listener)
}

const streamEndedMessage = "replication: stream from the primary ended"

// fail records a fatal replication problem loudly; the standby stops following.
func (n *Node) fail(err error) {
	n.mutex.Lock()
	if n.failure == nil {
		n.failure = err
	}
	n.mutex.Unlock()
	n.config.Logger.Error("replication: STANDBY STOPPED", "error", err)
}

// Err returns the fatal replication problem, if any.
func (n *Node) Err() error {
	n.mutex.Lock()
	defer n.mutex.Unlock()
	return n.failure
}

// fence stops every shard of the node at once: a node of a higher epoch exists (at
// address, when known), so this one must no longer accept or acknowledge anything.
func (n *Node) fence(epoch uint64, address string) { n.fenceBecause(epoch, address, "") }

// fenceBecause is fence for a reason of the node's own (reason, which every shard's log
// line gives instead of a higher epoch; "" is fence): it fences itself at epoch, above
// its own, though no node of that epoch may exist.
func (n *Node) fenceBecause(epoch uint64, address, reason string) {
	for _, g := range n.groups {
		g.shard.FenceBecause(epoch, address, reason)
	}
}

// handleFence accepts a fence from a node of a higher epoch: the whole node stops serving.
func (n *Node) handleFence(f frame, nonce []byte) {
	if len(f.body) < 32 {
		return
	}
	address := string(f.body[32:])
	if !verifyMAC(n.config.Key, frameFence, nonce, f.epoch, f.body[32:], f.body[:32]) {
		n.config.Logger.Warn("replication: fence with a bad signature ignored")
		return
	}
	if f.epoch > n.Epoch() {
		n.fence(f.epoch, address)
	}
}

// adoptPrimaryEpoch makes a following standby's epoch its primary's, learned at a
// reconnection's handshake, when it is above the node's: stored first, then every shard
// raised, as OpenNode does for the alignment at start. A node that started unaligned (its
// primary unreachable for PrimaryWaitAtStart) and joined its primary later followed it
// at its own older epoch, raised in memory only by an entry of the new epoch, so that its
// failover watch took it, once that primary died, for a node that never followed the
// lease's holder (behindTheWitness) and never promoted it: when the primary had written
// nothing since, or after a restart of this node (its epoch file older). Nothing is
// adopted once a promotion is under way or the node is no standby (the promotion decides
// the epoch).
func (n *Node) adoptPrimaryEpoch(epoch uint64) error {
	if epoch <= n.Epoch() {
		return nil // The usual reconnection: the mutex is not even taken.
	}
	n.mutex.Lock()
	defer n.mutex.Unlock()
	if n.closed || n.promoting || n.Role() != shard.RoleStandby || epoch <= n.Epoch() {
		return nil
	}
	if err := StoreEpoch(n.config.EpochPath, epoch); err != nil {
		return err
	}
	for _, g := range n.groups {
		if err := g.shard.RaiseEpoch(epoch); err != nil {
			return err
		}
	}
	n.config.Logger.Info("replication: following a primary of a newer epoch", "epoch", epoch)
	return nil
}

// Promote makes this standby the primary of a new epoch, every shard together: it stops
// following, persists the epoch, switches every shard, starts serving a future standby,
// and fences the old primary if it can be reached. With a witness configured it first
// takes the lease, and refuses while the old primary still holds it. It returns the new
// epoch. A promotion that fails once decided (the epoch cannot be stored: a full disk, a
// read-only directory) is logged at Error and leaves the node a standby following again,
// ready for a retry; unless the epoch file may be left ahead of the node
// (ErrEpochFileAhead): then the node stops (see stopWithEpochFileAhead, and
// firstShardNotSwitched for a first shard that does not switch); or unless the epoch was
// stored and a shard failed to switch after others did: then every shard is fenced (see
// stopHalfPromoted).
func (n *Node) Promote() (uint64, error) {
	epoch, err := n.promote(false)
	if errors.Is(err, errPromotionFailed) {
		n.config.Logger.Error("replication: PROMOTION FAILED: still a standby, following again",
			"error", err)
	}
	return epoch, err
}

// errHoldingOff refuses the failover watch's promotion while the node holds off after a
// grant given up (holdOffUntil).
var errHoldingOff = errors.New("replication: holding off after a grant given up: the " +
	"failover watch asks the witness nothing meanwhile")

// errPromotionFailed marks a promotion that was decided (the witness, if any, granted the
// lease) but could not be carried out: the node is still a standby, following again.
var errPromotionFailed = errors.New("replication: promotion failed")

// grantGivenUpError wraps a failed promotion after which the node gives up the witness
// grant it was promoting on (failedPromotionsPerGrantMax failures under it): the failover
// watch asks the witness nothing for releasedGrantHoldOffLeases leases (holdOffUntil),
// whichever attempt gave it up. Its text is the failure's, so that the watch still logs
// a cause that does not change only once.
type grantGivenUpError struct{ error }

func (e grantGivenUpError) Unwrap() error { return e.error }

// grantGivenUpMessage is what a node logs when it gives a grant up.
const grantGivenUpMessage = "replication: promotions keep failing: no longer renewing the " +
	"witness lease, so that the other node can take it"

// ErrNodeNotStarted refuses a promotion asked for before Start: promoted then, the node
// would serve standbys and hold the lease with shards that do not run yet, and Start,
// finding a primary, would start serving a second time on the same listener.
var ErrNodeNotStarted = errors.New("replication: the node is not started: promote it once it runs")

// promote is Promote without its log of a failure (the failover watch logs its own);
// automatic is the failover watch's, refused again once it has witnessTurn when the
// node holds off or stopped following (automaticRefusedLocked).
// With a witness, the node's mutex is released while the witness is asked (the release
// of a grant that ran out, then the acquisition or renewal: up to two handshake timeouts
// while it hangs), so that Status, the followers and adoptPrimaryEpoch do not wait for
// it; witnessTurn, held from the decision to its end, keeps every other decision at the
// witness (another promotion, the failover watch's pending release) out meanwhile, and
// what the decision read is checked again once the mutex is taken back.
func (n *Node) promote(automatic bool) (uint64, error) {
	// Refused at once while another promotion waits for its followers (it holds
	// witnessTurn until it ends): an operator's promotion beside the failover watch's is
	// told so rather than waiting.
	n.mutex.Lock()
	err := n.promotableLocked()
	n.mutex.Unlock()
	if err != nil {
		return 0, err
	}
	n.witnessTurn.Lock()
	defer n.witnessTurn.Unlock()
	n.mutex.Lock()
	defer n.mutex.Unlock()
	if err := n.promotableLocked(); err != nil {
		return 0, err
	}
	if err := n.automaticRefusedLocked(automatic); err != nil {
		return 0, err
	}
	epoch := n.Epoch() + 1
	if n.config.Witness != "" {
		// A promotion that failed after the witness granted the lease (the epoch could not
		// be stored) retries, while that grant holds, by renewing it: the witness sees
		// what it would have seen had the promotion succeeded (the new primary renews at
		// the granted epoch every quarter lease). An acquisition would be refused as held
		// until the lease ran out: the witness must not grant a live lease again, since it
		// cannot tell this node from another of the same name that learned the granted
		// epoch from the grantee's stream. Once the grant has run out, or was given up
		// (failedPromotionsPerGrantMax failures under it), it acquires afresh: renewing a
		// lease that ran out would be granted even if the witness restarted meanwhile,
		// after another node had taken the lease and promoted. A grant that ran out is
		// released before (releaseRunOutGrantLocked).
		kind, askedEpoch := byte(leaseAcquire), n.Epoch()
		if n.grantedEpoch > n.Epoch() && n.leaseClock.valid() {
			kind, askedEpoch = leaseRenew, n.grantedEpoch
		} else if n.grantedEpoch > n.Epoch() {
			n.releaseRunOutGrantLocked()
			if err := n.promotableLocked(); err != nil {
				return 0, err // Closed while the release was asked.
			}
		}
		sent := time.Now()
		n.mutex.Unlock()
		answer, err := n.askLease(kind, askedEpoch, sent.Add(handshakeTimeout))
		n.mutex.Lock()
		if refused := n.promotableLocked(); refused != nil {
			// Closed while the witness was asked (the ask ends at once then); a grant
			// runs out unrenewed, as one given to a node that stops does.
			return 0, refused
		}
		if err != nil {
			return 0, fmt.Errorf("replication: witness: %w", err)
		}
		if !answer.granted {
			n.grantedEpoch = 0 // Lost, if it was held: the next attempt asks afresh.
			if answer.holder == "" {
				// No holder: the witness could not store the grant it would have given.
				return 0, fmt.Errorf("replication: the witness refused the lease without a " +
					"holder: it could not store the grant (see the witness's log)")
			}
			return 0, fmt.Errorf("replication: the witness lease is held by %s for %v more: "+
				"the primary may be alive", answer.holder, answer.valid)
		}
		// Epoch read again: a follower may have raised it while the mutex was released (an
		// entry of a newer epoch, adoptPrimaryEpoch), as it could during the ask before.
		epoch = max(n.Epoch()+1, answer.epoch)
		if kind == leaseAcquire {
			// A new grant: the witness's last, so a release still pending for an earlier
			// one would find it moved on anyway.
			n.failedPromotions, n.releasePending = 0, 0
		}
		n.grantedEpoch = answer.epoch
		n.leaseClock.set(leaseValidFrom(sent, answer.valid))
		if refused := n.automaticRefusedLocked(automatic); refused != nil {
			// Stopped following while the witness was asked: not promoted on its own.
			// The grant is kept, as after a promotion that failed: an operator's
			// promotion renews it while it holds; otherwise it runs out unrenewed.
			return 0, refused
		}
	}
	return n.promoteLocked(epoch)
}

// automaticRefusedLocked refuses the failover watch's promotion (automatic) that the
// watch's own checks, made before its probe, rule out by now: the node holds off after a
// grant given up (errHoldingOff), or it stopped following for a reason no reconnection
// cures (Err: it is known not to hold the primary's state; an operator may still promote
// it). A manual promotion or another failure may have changed either meanwhile: the
// watch's probe, and its wait for witnessTurn, take a while (review2-repl53). The caller
// holds the mutex.
func (n *Node) automaticRefusedLocked(automatic bool) error {
	switch {
	case !automatic:
		return nil
	case time.Now().Before(n.holdOffUntil):
		return errHoldingOff
	case n.failure != nil:
		return fmt.Errorf("replication: this standby stopped following: automatic "+
			"failover will not promote it: %w", n.failure)
	}
	return nil
}

// promotableLocked refuses a promotion the node's state rules out; the caller holds the
// mutex.
func (n *Node) promotableLocked() error {
	switch {
	case n.closed:
		return ErrNodeClosed
	case !n.started:
		return ErrNodeNotStarted
	case n.promoting:
		return ErrPromotionUnderway
	case n.Role() != shard.RoleStandby:
		return fmt.Errorf("replication: cannot promote a %s", n.Role())
	}
	return nil
}

// releaseGrantLocked releases at the witness the grant of epoch, under which nothing was
// written (see witness.go's Releases), waiting for the answer until deadline, and returns
// the outcome (askRelease). The caller holds the mutex and witnessTurn; the mutex is
// released while the witness is asked (a witness that hangs must not keep Status and
// the followers waiting) and taken back before it returns, so the caller checks again
// what it read before (n.closed). The release is pending (releasePending: the failover
// watch sends it again before anything else) from before the request until an answer;
// witnessTurn keeps the watch's own resend, and any promotion's grant, out meanwhile.
// Its three callers (the give-up, a grant that ran out, the watch's resend) all release
// a grant of this node that no shard wrote under: when a node holds a grant
// (grantedEpoch), no release is pending (the acquisition that gave it cleared it).
func (n *Node) releaseGrantLocked(epoch uint64, deadline time.Time) string {
	n.releasePending = epoch
	n.mutex.Unlock()
	outcome := n.askRelease(epoch, deadline)
	n.mutex.Lock()
	if outcome != releaseNoAnswer && n.releasePending == epoch {
		n.releasePending = 0
	}
	return outcome
}

// releaseRunOutGrantLocked releases at the witness the grant of n.grantedEpoch, whose
// lease ran out before a promotion under it succeeded, as the node is about to acquire
// afresh; the caller holds the mutex and witnessTurn (the mutex is released during the
// request: releaseGrantLocked). Every attempt under that grant failed before any shard
// switched (errPromotionFailed, the epoch file put back; a store that may have left it
// ahead stops the node, ErrEpochFileAhead; a promotion that fails part way fences the
// node, stopHalfPromoted, unless its first shard, the one Role reads, failed first and
// none switched), so nothing was written under it, as when the node gives a grant up.
// Unreleased, the grant after it would record it as the epoch written below, and the old
// primary would wait for good once that one is released too (review2-repl52: a store that
// hung past the lease, or a witness the node could not use for a lease between two
// attempts). A release with no answer is left pending (the failover watch sends it again
// before anything else; an acquisition granted meanwhile clears it, the first grant then
// counting as written, as before this release existed).
func (n *Node) releaseRunOutGrantLocked() {
	released := n.grantedEpoch
	n.grantedEpoch = 0
	outcome := n.releaseGrantLocked(released, time.Now().Add(handshakeTimeout))
	n.config.Logger.Warn("replication: a grant whose promotion failed ran out: released at "+
		"the witness before acquiring afresh", "epoch", released, "release", outcome)
}

// promoteLocked carries out a promotion to epoch; the caller holds the mutex and
// witnessTurn (both released for a while: the followers' wait, a release). The epoch
// is persisted before any shard switches, and every shard switches before any serves a
// standby or the old primary is fenced. If the epoch cannot be persisted, nothing has
// changed but the followers' stop: they start again, and the failover watch (which only
// a promotion that succeeds ends) goes on, so the node is a standby as before.
func (n *Node) promoteLocked(epoch uint64) (uint64, error) {
	following := n.stopFollowing != nil
	// Wait for the followers whatever cancelled following (Close begins by ending the
	// lifetime, following's parent, before it takes the mutex): a follower may still be
	// inside Replicate, and an entry it hands over after a shard switched would be
	// appended on the new primary (and fail it on the chain check once a client write
	// went first).
	if following {
		n.stopFollowing()
		n.promoting = true
		n.mutex.Unlock()
		n.followers.Wait()
		if testHookPromotionUnlocked != nil {
			testHookPromotionUnlocked()
		}
		n.mutex.Lock()
		n.promoting = false
	}
	if n.closed {
		// Close ran while the mutex was released: nothing has changed yet, and nothing
		// may (the shards and the listener are being closed).
		return 0, ErrNodeClosed
	}
	if err := StoreEpoch(n.config.EpochPath, epoch); err != nil {
		if errors.Is(err, ErrEpochFileAhead) {
			n.stopWithEpochFileAhead(epoch, err)
			return 0, err
		}
		if following {
			n.startFollowers(false)
		}
		err = fmt.Errorf("%w; still a standby: %w", errPromotionFailed, err)
		if n.grantedEpoch != 0 {
			n.failedPromotions++
			if n.failedPromotions >= failedPromotionsPerGrantMax {
				// Stop renewing (the failover watch also asks nothing for a while): the
				// grant runs out, and the other node may take the lease. Safe: no shard of
				// this node switched (the epoch was not stored), and its next attempt
				// acquires afresh, which the witness grants only when nobody holds a live
				// lease. Released at the witness (session 52), before it is said: nothing
				// was written under the grant (every store of its epoch failed without
				// leaving the file at it, or this branch is not reached), so a node whose
				// epoch is below it is not taken for stale (behindTheWitness), and the
				// lease ends at once. A release with no answer is sent again by the
				// failover watch.
				// The grant is settled before the mutex is released for the request; the
				// hold-off counts from its end (the failover watch waits for witnessTurn
				// before it looks at it).
				released, failures := n.grantedEpoch, n.failedPromotions
				n.grantedEpoch, n.failedPromotions = 0, 0
				outcome := n.releaseGrantLocked(released, time.Now().Add(handshakeTimeout))
				n.holdOffUntil = time.Now().Add(releasedGrantHoldOffLeases *
					n.config.LeaseDuration)
				n.config.Logger.Error(grantGivenUpMessage, "failed_promotions", failures,
					"hold_off", releasedGrantHoldOffLeases*n.config.LeaseDuration, "epoch",
					released, "release", outcome, "error", err)
				err = grantGivenUpError{err}
			}
		}
		return 0, err
	}
	for _, g := range n.groups {
		if err := g.shard.Promote(epoch); err != nil {
			if g.index > 0 {
				return 0, n.stopHalfPromoted(epoch, g.index, err)
			}
			return 0, n.firstShardNotSwitched(epoch, following, err)
		}
	}
	// Closed once every shard switched (a watch that sees a primary asks nothing), so
	// that a promotion whose first shard failed leaves it running (firstShardNotSwitched).
	if n.watchStop != nil {
		close(n.watchStop)
		n.watchStop = nil
	}
	n.startPrimary(true)
	n.config.Logger.Warn("replication: PROMOTED to primary", "epoch", epoch, "shards",
		len(n.groups))
	if n.config.Witness != "" {
		n.leaseStop = make(chan struct{})
		stop, fenceAt := n.leaseStop, n.leaseClock.until()
		n.goBackground(func() { n.holdLease(stop, fenceAt) })
	}
	n.goBackground(func() { n.fencePeer(epoch) })
	return epoch, nil
}

// stopOnFailure records err as the node's failure, first, before any earlier one, and
// ends the failover watch; the caller holds the mutex and fences the shards.
func (n *Node) stopOnFailure(err error) {
	if n.failure == nil {
		n.failure = err
	} else {
		n.failure = errors.Join(err, n.failure)
	}
	if n.watchStop != nil {
		close(n.watchStop)
		n.watchStop = nil
	}
}

// stopWithEpochFileAhead stops a node whose promotion to epoch failed with the epoch file
// possibly left at epoch (ErrEpochFileAhead); the caller holds the mutex and has stopped
// the followers. Following again would be wrong: after a restart (a crash, a supervisor)
// the node would greet its primary, alive, with the file's epoch and fence it. So the
// followers stay stopped, the failover watch ends, and every shard is fenced (refusing
// reads and writes, redirecting to the primary it followed) until an operator checks
// the file and restarts the node; Err and the status say why, first, even on a standby
// that had already stopped following (an operator promotes such a one by hand), whose
// earlier failure they give after it.
func (n *Node) stopWithEpochFileAhead(epoch uint64, err error) {
	n.stopOnFailure(err)
	n.fenceBecause(epoch, n.Shard().PrimaryAddress(), epochFileAheadFenceReason)
	n.config.Logger.Error(epochFileAheadMessage, "epoch", n.Epoch(), "stored", epoch,
		"error", err)
}

// stopHalfPromoted stops a node whose promotion to epoch switched the shards before
// index and then failed to switch shard index (err); the caller holds the mutex, and the
// epoch is stored. Left so, the node served as a primary on the switched shards with no
// lease goroutine (it starts only once every shard switched): nothing renewed the grant,
// so the other node could be granted the lease and promoted while these shards still took
// writes (split brain, without replication, where their replies wait for no standby),
// and none was fenced when the lease ran out. A node primary for some shards only breaks
// the rule that the node changes roles as one, and a switched shard cannot go back to
// standby, so the node fences every shard instead, as a primary that lost its lease does:
// it serves nothing until an operator restarts it (a restart makes every shard a primary
// of the stored epoch, or, with --standby-of, a standby). The grant is not released: a
// switched shard may have written under its epoch between its switch and the fence (a
// release says nothing was); unrenewed, it runs out at the witness within a lease, and a
// node that restarts at the stored epoch is not taken for stale by it. Err and the status
// give the cause.
func (n *Node) stopHalfPromoted(epoch uint64, index uint16, err error) error {
	err = fmt.Errorf("%w: shard %d could not switch to primary, the shards before it "+
		"did: the node fenced itself (restart it): %w", errPromotionPartWay, index, err)
	n.stopOnFailure(err)
	n.fenceBecause(epoch+1, "", halfPromotedFenceReason)
	n.config.Logger.Error(promotionFailedPartWayMessage, "shard", index, "epoch", epoch,
		"error", err)
	return err
}

// firstShardNotSwitched ends a promotion to epoch whose epoch was stored and whose first
// shard (the one Role and Epoch read) failed to switch (err), so that none did; the caller
// holds the mutex and has stopped the followers (following: there were some). Such a
// promotion used to return with the followers stopped and the failover watch closed, and
// nothing in Err: a standby that neither followed nor retried, the pair left without a
// primary with nothing in the status to say so (review-repl53). Shard 0 refuses to switch
// on a standby when an entry of the stored epoch or a higher one raised it meanwhile: the
// file is then not ahead of the node, which is a standby following again, its watch
// running, ready for a retry (errPromotionFailed), as after a store that failed. Otherwise
// (shard 0 still below the stored epoch, or no standby) the file may be ahead of the
// node, which stops as stopWithEpochFileAhead says (ErrEpochFileAhead).
func (n *Node) firstShardNotSwitched(epoch uint64, following bool, err error) error {
	if n.Role() != shard.RoleStandby || n.Epoch() < epoch {
		err = fmt.Errorf("%w: shard 0 could not switch to primary (none did): %w",
			ErrEpochFileAhead, err)
		n.stopWithEpochFileAhead(epoch, err)
		return err
	}
	if following {
		n.startFollowers(false)
	}
	return fmt.Errorf("%w; still a standby: shard 0 could not switch to epoch %d: %w",
		errPromotionFailed, epoch, err)
}

// errPromotionPartWay marks a promotion whose epoch was stored and whose first shards
// switched, but not all (stopHalfPromoted): the node fenced itself.
var errPromotionPartWay = errors.New("replication: promotion failed part way")

// promotionFailedPartWayMessage is what a node logs when a promotion fails once its epoch
// is stored.
const promotionFailedPartWayMessage = "replication: PROMOTION FAILED part way; restart the node"

// halfPromotedFenceReason is what every shard logs when a promotion fails part way.
const halfPromotedFenceReason = "this node stopped itself: a promotion failed part way " +
	"(some shards switched, not all)"

// epochFileAheadFenceReason is what every shard logs when the node stops with its epoch
// file ahead (no higher epoch fenced it: the node stopped itself).
const epochFileAheadFenceReason = "this node stopped itself: a promotion failed and its " +
	"epoch file may be ahead"

// epochFileAheadMessage is what a node logs when it stops with its epoch file ahead.
const epochFileAheadMessage = "replication: NODE STOPPED: a promotion failed and the epoch " +
	"file may be ahead of the node; no longer following nor serving"

// fencePeer tells the old primary that a higher epoch exists, and keeps telling it every
// fenceRetryInterval while it cannot be reached — until it is fenced, rejoins as this
// node's standby, this node stops being the primary of epoch, or Close. A dead old
// primary cannot acknowledge anything, but one restarted later *as a primary* (a process
// supervisor replaying its usual command line, say) would keep its old epoch and, with
// DegradeAfter and no witness, acknowledge writes alone after that delay: the retries
// fence it about a second after it comes back. One fence stops every shard of the old
// node (its gate fences them all).
func (n *Node) fencePeer(epoch uint64) {
	peer := n.config.Peer
	if peer == "" {
		peer = n.config.StandbyOf
	}
	if peer == "" {
		return
	}
	for attempt := 0; ; attempt++ {
		err := n.fencePeerOnce(peer, epoch)
		if err == nil {
			n.config.Logger.Info("replication: fenced the old primary", "address", peer)
			return
		}
		if attempt == 0 {
			n.config.Logger.Info("replication: the old primary cannot be fenced (it is probably down); "+
				"retrying until it rejoins as a standby", "address", peer, "every",
				fenceRetryInterval, "error", err)
		}
		select {
		case <-n.lifetime.Done():
			return
		case <-time.After(fenceRetryInterval):
		}
		if n.Role() != shard.RolePrimary || n.Epoch() != epoch || n.peerFollows() {
			return
		}
	}
}

// peerFollows reports whether a standby session is attached to this node (the old
// primary has rejoined: nothing to fence any more).
func (n *Node) peerFollows() bool {
	for _, g := range n.groups {
		if p := g.primary.Load(); p != nil && p.current.Load() != nil {
			return true
		}
	}
	return false
}

// fencePeerOnce makes one fence call: dial, read the challenge, send the signed fence.
// A node that is not serving as a primary (a standby, a process not yet listening, a
// stopped one) sends no challenge: the call fails after handshakeTimeout at most, or at
// once when Close begins.
func (n *Node) fencePeerOnce(peer string, epoch uint64) error {
	conn, err := dialLink(n.lifetime, peer, n.clientTLS(), handshakeTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	defer closeWhenDone(n.lifetime, conn)()
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	challenge, err := newFrameReader(conn).read()
	if err != nil {
		return err
	}
	if challenge.kind != frameChallenge || len(challenge.body) < nonceSize {
		return fmt.Errorf("replication: fence: unexpected first frame %d", challenge.kind)
	}
	payload := []byte(n.config.ClientAddress)
	body := append(mac(n.config.Key, frameFence, challenge.body[:nonceSize], epoch, payload),
		payload...)
	writer := bufio.NewWriter(conn)
	if err := writeFrame(writer, frameFence, epoch, body); err != nil {
		return err
	}
	return writer.Flush()
}

// Close stops replication and the shards (each releases what it can), then the logs. A
// promotion under way is abandoned (ErrNodeClosed) and the lease, failover-watch and
// fencing goroutines are waited for; none waits for a peer past the start of Close
// (every network wait watches n.lifetime).
func (n *Node) Close() error {
	n.endLifetime()
	n.mutex.Lock()
	n.closed = true
	if n.stopFollowing != nil {
		n.stopFollowing()
	}
	if n.leaseStop != nil {
		close(n.leaseStop)
		n.leaseStop = nil
	}
	if n.watchStop != nil {
		close(n.watchStop)
		n.watchStop = nil
	}
	gate := n.gate
	n.mutex.Unlock()
	n.followers.Wait()
	n.background.Wait()
	// A promotion asking the witness (Promote's caller is no goroutine of the node's)
	// holds witnessTurn, not the mutex, across its request: it ends at once (the
	// lifetime), and the promotion then finds the node closed.
	n.witnessTurn.Lock()
	n.witnessTurn.Unlock() // A barrier: every request under it has ended.
	// After the goroutines that ask the witness, and every promotion's request: nothing
	// raises the ratchet any more, so no marker write starts now.
	n.ratchet.writers.Wait()
	if gate != nil {
		gate.close()
	} else if n.listener != nil {
		n.listener.Close()
	}
	errs := make([]error, len(n.groups))
	n.eachGroup(func(g *Group) error {
		errs[g.index] = g.shard.Close()
		return nil
	})
	for _, g := range n.groups {
		if p := g.primary.Load(); p != nil {
			p.Close()
		}
		if g.link != nil {
			g.link.Close()
		}
	}
	if gate != nil {
		gate.wait()
	}
	for _, g := range n.groups {
		errs = append(errs, g.log.Close())
	}
	return errors.Join(errs...)
}

// clientTLS is the TLS configuration for dialing the peer (nil: plain TCP).
func (n *Node) clientTLS() *tls.Config {
	if n.config.TLS == nil {
		return nil
	}
	return n.config.TLS.Client
}
