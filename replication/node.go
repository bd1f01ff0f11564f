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

	"sequent/core"
	"sequent/core/shard"
	"sequent/wal"
)

// NodeConfig describes one Sequent node: its data directory, its log and shard settings,
// and its place in a primary/standby pair.
type NodeConfig struct {
	LogDir        string                // Write-ahead log directory.
	SnapshotDir   string                // Snapshot directory.
	EpochPath     string                // File holding the persisted epoch.
	Machine       core.Config           // State machine sizing.
	WAL           wal.Options           // Log options (Dir is LogDir).
	Shard         shard.Config          // Shard options (Epoch and Role are the node's).
	Snapshots     *shard.SnapshotConfig // Snapshot policy (Dir is SnapshotDir); nil = off.
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
	// PrimaryWaitAtStart bounds the wait for the primary when a standby with a non-empty
	// log starts (default PrimaryWaitAtStartDefault); see that constant.
	PrimaryWaitAtStart time.Duration
	Logger             *slog.Logger
}

// Node is a running Sequent node: log, recovered machine, shard, and replication.
type Node struct {
	config   NodeConfig
	log      *wal.Log
	shard    *shard.Shard
	listener net.Listener
	recovery shard.RecoveryReport

	mutex   sync.Mutex // Serializes role changes (Promote, Close).
	primary *Primary   // Set while primary with replication.
	link    *Link      // Standby's first link, from the startup handshake.
	// following ends the standby's follower (promotion, Close); standbyDone is closed
	// when the follower has returned.
	following     context.Context
	stopFollowing context.CancelFunc
	standbyDone   chan struct{}
	standby       StandbyStats
	lease         leaseCounters // Witness lease renewals, for NodeStatus.
	digests       *digestBook
	failure       error
	leaseStop     chan struct{} // Closes the lease goroutine (primary with a witness).
	watchStop     chan struct{} // Closes the failover watch (standby with a witness).
	closed        bool          // Close has begun: no promotion, no new goroutine.
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
// mutex to wait for the follower to stop: the window in which Close can run.
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

// OpenNode opens the log, persists or learns the epoch, (as a standby) aligns the log with
// the primary's, recovers the machine and builds the shard. Start sets it running. A
// standby waits at start for its primary (see alignWithPrimary); ctx ends that wait (a
// shutdown signal), and OpenNode then returns ctx's error.
func OpenNode(ctx context.Context, config NodeConfig) (*Node, error) {
	if config.Logger == nil {
		config.Logger = slog.Default()
	}
	if config.NodeName == "" {
		config.NodeName = config.ClientAddress
	}
	if config.LeaseDuration <= 0 {
		config.LeaseDuration = LeaseDurationDefault
	}
	if config.PrimaryWaitAtStart <= 0 {
		config.PrimaryWaitAtStart = PrimaryWaitAtStartDefault
	}
	if (config.Listen != "" || config.StandbyOf != "") && len(config.Key) == 0 {
		return nil, errors.New("replication: a replication key is required")
	}
	n := &Node{config: config}
	n.lifetime, n.endLifetime = context.WithCancel(context.Background())
	if config.Witness != "" {
		n.leaseClock = &leaseClock{}
	}
	n.digests = newDigestBook(func(err error) { n.fail(err) })
	epoch, err := LoadEpoch(config.EpochPath)
	if err != nil {
		return nil, err
	}
	options := config.WAL
	options.Dir, options.Logger = config.LogDir, config.Logger
	if n.log, err = wal.Open(options); err != nil {
		return nil, err
	}
	role := shard.RolePrimary
	if config.StandbyOf != "" {
		role = shard.RoleStandby
		if epoch, err = n.alignWithPrimary(ctx, epoch); err != nil {
			n.log.Close()
			return nil, err
		}
	} else if epoch == 0 {
		epoch = 1
	}
	if err := StoreEpoch(config.EpochPath, epoch); err != nil {
		n.log.Close()
		return nil, err
	}
	if err := n.build(epoch, role); err != nil {
		n.log.Close()
		return nil, err
	}
	return n, nil
}

// build recovers the machine and creates the shard and the replication listener.
func (n *Node) build(epoch uint64, role shard.Role) error {
	reports := shard.NewReportStore()
	machine, report, err := shard.Recover(n.config.Machine, n.log, n.config.SnapshotDir,
		n.config.Logger, func(_ *core.Entry, output *core.Output) { reports.Add(output) })
	if err != nil {
		return err
	}
	n.recovery = report
	config := n.config.Shard
	config.Epoch, config.Role, config.Logger = epoch, role, n.config.Logger
	config.Reports = reports
	if n.config.Snapshots != nil {
		snapshots := *n.config.Snapshots
		snapshots.Dir = n.config.SnapshotDir
		user := snapshots.OnWritten
		snapshots.OnWritten = func(result shard.SnapshotResult) {
			n.snapshotWritten(result)
			if user != nil {
				user(result)
			}
		}
		config.Snapshots = &snapshots
	}
	if n.shard, err = shard.New(config, machine, n.log); err != nil {
		return err
	}
	if role == shard.RoleStandby && n.link != nil {
		n.shard.SetPrimaryAddress(n.link.Welcome.address)
	}
	if n.config.Listen != "" {
		if n.listener, err = net.Listen("tcp", n.config.Listen); err != nil {
			return fmt.Errorf("replication: listen on %s: %w", n.config.Listen, err)
		}
		if n.config.TLS != nil {
			n.listener = tls.NewListener(n.listener, n.config.TLS.Server)
		}
	}
	return nil
}

// snapshotWritten pairs snapshot digests with the other replica's.
func (n *Node) snapshotWritten(result shard.SnapshotResult) {
	if result.Err != nil || result.Superseded {
		return
	}
	n.mutex.Lock()
	primary := n.primary
	n.mutex.Unlock()
	if primary != nil {
		primary.SendDigest(result.Meta.Op, result.Meta.Digest)
	} else if n.shard.Role() == shard.RoleStandby {
		n.digests.standby(result.Meta.Op, result.Meta.Digest)
	}
}

// alignWithPrimary connects to the primary (retrying) and carries out its plan on the
// local log before anything is recovered from it: discard a divergent suffix, or start
// over from the primary's snapshot. It returns the epoch to follow. A standby with a log
// of its own stops waiting after PrimaryWaitAtStart and starts from that log unaligned
// (n.link stays nil): it keeps reconnecting, and it can be promoted if the primary is
// lost for good (everything it acknowledged is in that log). Should the primary come
// back asking for a truncation, the standby stops with ErrResyncNeeded (a restart aligns).
// A primary that refuses this node's key or certificate is an error at once (no retry
// can cure it), and the wait ends when ctx does.
func (n *Node) alignWithPrimary(ctx context.Context, epoch uint64) (uint64, error) {
	config := n.standbyConfig()
	giveUp := time.Now().Add(n.config.PrimaryWaitAtStart)
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, reconnectDelayMax) {
		link, err := Dial(ctx, config, epoch)
		if err == nil {
			n.link = link
			break
		}
		if errors.Is(err, ErrUnauthenticated) {
			return 0, err
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("replication: stopped while waiting for the primary at %s: %w",
				n.config.StandbyOf, ctx.Err())
		}
		if n.log.LastOp() > 0 && time.Now().After(giveUp) {
			n.config.Logger.Warn("replication: primary unreachable at start; starting as a "+
				"standby from the local log (still reconnecting; promote this node if the "+
				"primary is lost)", "address", n.config.StandbyOf, "local_last_op",
				n.log.LastOp(), "error", err)
			return epoch, nil
		}
		n.config.Logger.Warn("replication: primary not reachable yet", "address",
			n.config.StandbyOf, "error", err)
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("replication: stopped while waiting for the primary at %s: %w",
				n.config.StandbyOf, ctx.Err())
		case <-time.After(delay):
		}
	}
	w := n.link.Welcome
	n.config.Logger.Info("replication: following primary", "address", n.config.StandbyOf,
		"plan", w.plan.String(), "op", w.op, "primary_epoch", n.link.PrimaryEpoch)
	switch w.plan {
	case planTruncate:
		if err := n.log.TruncateAfter(w.op); err != nil {
			return 0, err
		}
		if err := removeSnapshotsAfter(n.config.SnapshotDir, w.op); err != nil {
			return 0, err
		}
	case planSnapshot:
		if err := n.startOverFromSnapshot(ctx, w); err != nil {
			return 0, err
		}
	}
	return max(epoch, n.link.PrimaryEpoch), nil
}

// startOverFromSnapshot receives the primary's snapshot and restarts the local log right
// after it; the old log is kept aside, never deleted. ctx ends the transfer (a shutdown
// at start), which can take minutes for a large state.
func (n *Node) startOverFromSnapshot(ctx context.Context, w welcome) error {
	if err := removeSnapshotsAfter(n.config.SnapshotDir, 0); err != nil {
		return err
	}
	release := closeWhenDone(ctx, n.link.conn)
	_, err := n.link.ReceiveSnapshot(n.config.SnapshotDir)
	if !release() || ctx.Err() != nil {
		return fmt.Errorf("replication: stopped while receiving the primary's snapshot: %w",
			errors.Join(err, ctx.Err()))
	}
	if err != nil {
		return err
	}
	if err := n.log.Close(); err != nil {
		return err
	}
	aside := fmt.Sprintf("%s.replaced-%d", n.config.LogDir, time.Now().UnixNano())
	if err := os.Rename(n.config.LogDir, aside); err != nil {
		return err
	}
	n.config.Logger.Warn("replication: local log replaced by the primary's snapshot",
		"kept_at", aside, "snapshot_op", w.op)
	options := n.config.WAL
	options.Dir, options.Logger = n.config.LogDir, n.config.Logger
	log, err := wal.Open(options)
	if err != nil {
		return err
	}
	n.log, n.link.config.Log = log, log
	return log.StartAfter(w.op, w.chain)
}

// removeSnapshotsAfter deletes snapshots of ops above op (op 0: all of them): they hold
// state the primary does not have.
func removeSnapshotsAfter(dir string, op uint64) error {
	snapshots, err := wal.ListSnapshots(dir)
	if err != nil {
		return err
	}
	for _, info := range snapshots {
		if op == 0 || info.Meta.Op > op {
			if err := os.Remove(info.Path); err != nil {
				return err
			}
		}
	}
	return nil
}

// Shard returns the node's shard (the backend for the network layer).
func (n *Node) Shard() *shard.Shard { return n.shard }

// Log returns the node's log.
func (n *Node) Log() *wal.Log { return n.log }

// Recovery returns how the state was rebuilt at startup.
func (n *Node) Recovery() shard.RecoveryReport { return n.recovery }

// Start runs the shard (replies go to replier) and replication.
func (n *Node) Start(replier shard.Replier) {
	n.shard.Start(replier)
	n.mutex.Lock()
	defer n.mutex.Unlock()
	if n.shard.Role() == shard.RoleStandby {
		n.following, n.stopFollowing = context.WithCancel(n.lifetime)
		n.standbyDone = make(chan struct{})
		go n.follow()
		if n.config.Witness != "" {
			n.watchStop = make(chan struct{})
			stop := n.watchStop
			n.goBackground(func() { n.watchPrimary(stop) })
		}
		return
	}
	if n.listener != nil {
		n.startPrimary(n.config.DegradeAfter, false)
	}
	if n.config.Witness != "" {
		// The release path counts on no lease until the witness grants one (leaseClock
		// stays expired): the witness may have given it to the other node, promoted
		// while this one was away. The lease goroutine itself gives the first renewal
		// a lease's time before it fences.
		n.leaseStop = make(chan struct{})
		stop, primary := n.leaseStop, n.primary
		fenceAt := leaseValidFrom(time.Now(), n.config.LeaseDuration)
		n.goBackground(func() { n.holdLease(stop, fenceAt, primary) })
	}
}

// startPrimary begins serving standbys. alone starts it released from its standby
// (promotion: there is none yet) until one attaches and catches up.
func (n *Node) startPrimary(degradeAfter time.Duration, alone bool) {
	heartbeat := heartbeatInterval
	if n.config.Witness != "" {
		heartbeat = min(heartbeat, n.config.LeaseDuration/4)
	}
	n.primary = StartPrimary(PrimaryConfig{Listener: n.listener, Key: n.config.Key, Log: n.log,
		Shard: n.shard, SnapshotDir: n.config.SnapshotDir, Mode: n.config.Mode,
		DegradeAfter: degradeAfter, ClientAddress: n.config.ClientAddress,
		HeartbeatInterval: heartbeat, Lease: n.leaseClock, Logger: n.config.Logger})
	if alone && n.config.Mode == ModeSync {
		n.primary.degraded.Store(true)
		n.primary.stats.degradations.Add(1)
		n.config.Logger.Warn("replication: promoted without a standby: releasing on local " +
			"durability until a standby attaches and catches up")
	}
	n.shard.SetAcknowledger(n.primary)
}

// follow streams from the primary, reconnecting with back-off, until stopped, or until
// something no reconnection cures: the primary asks for a resync (which needs a
// restart), refuses this node's key or certificate, or the local log fails.
func (n *Node) follow() {
	defer close(n.standbyDone)
	link := n.link // Nil when the node started without reaching its primary.
	config := n.standbyConfig()
	for delay := 50 * time.Millisecond; ; {
		if link != nil {
			n.standby.lastHeard.Store(time.Now().UnixNano())
			n.standby.connected.Store(true)
			err := link.Stream(n.shard.Replicate, n.digests, n.following.Done(), &n.standby)
			n.standby.connected.Store(false)
			link.Close()
			if n.stopping() {
				return
			}
			if errors.Is(err, ErrDigestMismatch) {
				n.fail(err)
				return
			}
			if shardErr := n.shard.Err(); shardErr != nil {
				n.fail(fmt.Errorf("replication: the local log failed: %w", shardErr))
				return
			}
			n.config.Logger.Warn(streamEndedMessage, "error", err)
			delay = 50 * time.Millisecond
		}
		select {
		case <-n.following.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, reconnectDelayMax)
		var err error
		link, err = Dial(n.following, config, n.shard.Epoch())
		if errors.Is(err, ErrUnauthenticated) {
			n.fail(err) // The primary's key or certificate changed: waiting cannot help.
			return
		}
		if err != nil {
			link = nil
			continue
		}
		if link.Welcome.plan != planStream || link.Welcome.op != n.log.LastOp() {
			link.Close()
			n.fail(fmt.Errorf("%w (plan %s at op %d, local log at op %d)", ErrResyncNeeded,
				link.Welcome.plan, link.Welcome.op, n.log.LastOp()))
			return
		}
		n.shard.SetPrimaryAddress(link.Welcome.address)
	}
}

func (n *Node) stopping() bool { return n.following.Err() != nil }

// streamEndedMessage is logged when the stream from the primary ends by itself.
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

// Promote makes this standby the primary of a new epoch: it stops following, persists
// the epoch, switches the shard, starts serving a future standby, and fences the old
// primary if it can be reached. With a witness configured it first takes the lease, and
// refuses while the old primary still holds it. It returns the new epoch.
func (n *Node) Promote() (uint64, error) {
	n.mutex.Lock()
	defer n.mutex.Unlock()
	if n.closed {
		return 0, ErrNodeClosed
	}
	if n.shard.Role() != shard.RoleStandby {
		return 0, fmt.Errorf("replication: cannot promote a %s", n.shard.Role())
	}
	epoch := n.shard.Epoch() + 1
	if n.config.Witness != "" {
		sent := time.Now()
		answer, err := askWitness(n.lifetime, n.config.Witness, n.clientTLS(), n.config.Key,
			leaseAcquire, n.config.NodeName, n.shard.Epoch(), sent.Add(handshakeTimeout))
		if err != nil {
			return 0, fmt.Errorf("replication: witness: %w", err)
		}
		if !answer.granted {
			return 0, fmt.Errorf("replication: the witness lease is held by %s for %v more: "+
				"the primary may be alive", answer.holder, answer.valid)
		}
		epoch = max(epoch, answer.epoch)
		n.leaseClock.set(leaseValidFrom(sent, answer.valid))
	}
	return n.promoteLocked(epoch)
}

// promoteLocked carries out a promotion to epoch; the caller holds the mutex.
func (n *Node) promoteLocked(epoch uint64) (uint64, error) {
	if n.stopFollowing != nil && !n.stopping() {
		n.stopFollowing()
		n.mutex.Unlock()
		<-n.standbyDone
		if testHookPromotionUnlocked != nil {
			testHookPromotionUnlocked()
		}
		n.mutex.Lock()
	}
	if n.closed {
		// Close ran while the mutex was released: nothing has changed yet, and nothing
		// may (the shard and the listener are being closed).
		return 0, ErrNodeClosed
	}
	if n.watchStop != nil {
		close(n.watchStop)
		n.watchStop = nil
	}
	if err := StoreEpoch(n.config.EpochPath, epoch); err != nil {
		return 0, err
	}
	if err := n.shard.Promote(epoch); err != nil {
		return 0, err
	}
	if n.listener != nil {
		n.startPrimary(n.config.DegradeAfter, true)
	}
	n.config.Logger.Warn("replication: PROMOTED to primary", "epoch", epoch, "op", n.log.LastOp())
	if n.config.Witness != "" {
		n.leaseStop = make(chan struct{})
		stop, primary, fenceAt := n.leaseStop, n.primary, n.leaseClock.until()
		n.goBackground(func() { n.holdLease(stop, fenceAt, primary) })
	}
	n.goBackground(func() { n.fencePeer(epoch) })
	return epoch, nil
}

// fencePeer tells the old primary that a higher epoch exists, and keeps telling it every
// fenceRetryInterval while it cannot be reached — until it is fenced, rejoins as this
// node's standby, this node stops being the primary of epoch, or Close. A dead old
// primary cannot acknowledge anything, but one restarted later *as a primary* (a process
// supervisor replaying its usual command line, say) would keep its old epoch and, with
// DegradeAfter and no witness, acknowledge writes alone after that delay: the retries
// fence it about a second after it comes back.
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
		if n.shard.Role() != shard.RolePrimary || n.shard.Epoch() != epoch || n.peerFollows() {
			return
		}
	}
}

// peerFollows reports whether a standby session is attached to this node (the old
// primary has rejoined: nothing to fence any more).
func (n *Node) peerFollows() bool {
	n.mutex.Lock()
	primary := n.primary
	n.mutex.Unlock()
	return primary != nil && primary.current.Load() != nil
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

// Close stops replication and the shard (which releases what it can), then the log. A
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
	standbyDone, primary := n.standbyDone, n.primary
	if n.leaseStop != nil {
		close(n.leaseStop)
		n.leaseStop = nil
	}
	if n.watchStop != nil {
		close(n.watchStop)
		n.watchStop = nil
	}
	n.mutex.Unlock()
	if standbyDone != nil {
		<-standbyDone
	}
	n.background.Wait()
	err := n.shard.Close()
	if primary != nil {
		primary.Close()
	} else if n.listener != nil {
		n.listener.Close()
	}
	if n.link != nil {
		n.link.Close()
	}
	return errors.Join(err, n.log.Close())
}

// clientTLS is the TLS configuration for dialing the peer (nil: plain TCP).
func (n *Node) clientTLS() *tls.Config {
	if n.config.TLS == nil {
		return nil
	}
	return n.config.TLS.Client
}

// standbyConfig is how this node dials its primary.
func (n *Node) standbyConfig() StandbyConfig {
	return StandbyConfig{Address: n.config.StandbyOf, Key: n.config.Key, TLS: n.clientTLS(),
		Log: n.log, Logger: n.config.Logger}
}
