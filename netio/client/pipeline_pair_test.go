package client

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio"
	"sequent/replication"
	"sequent/tools/testport"
	"sequent/wal"
)

// The harness of TestPipelinePropertyReplicatedPair: a primary and its standby in sync
// replication (replication.Node, each over a log of its own in a temporary directory,
// behind its own netio server and loopback proxy), as `sequent serve` runs them. The
// client lists both proxies. The pair fails over two ways, each leaving a primary and a
// standby again:
//
//   - kill: the primary stops (its connections cut, its node closed, as a crash looks
//     to a client), the standby is promoted, and the old primary comes back as its
//     standby, catching up (its unacknowledged suffix discarded);
//   - graceful stop: the primary is stopped as an operator stops a node (its server
//     drains: requests it took get their replies, new ones shutting_down, then its
//     connections close; then its node closes), and the pair fails over as after a kill;
//   - fence: the standby is promoted while the primary runs, fencing it through the
//     replication link, so that it answers not_primary naming the new primary (the
//     client follows the redirect); at the next failover (or the end) the fenced node
//     is restarted as the new primary's standby.

// pairKey is the replication link's secret of the test pair.
var pairKey = []byte("pipeline pair replication key 32")

// pairNode is one running node of the pair: the replicated node and its server.
type pairNode struct {
	node   *replication.Node
	server *netio.Server
}

type pipelinePair struct {
	t       *testing.T
	keys    *netio.Keyring
	logger  *slog.Logger
	dirs    [2]string
	listen  [2]string // Replication addresses.
	proxies [2]*wireProxy
	nodes   [2]*pairNode
	active  int  // The primary's slot.
	fenced  bool // The other slot holds a fenced old primary, to restart as standby.
	broken  bool // A failover failed (reported): no more of them.
	// stopping counts the servers still shutting down (waited for at the end).
	stopping sync.WaitGroup
	// kills, stops and fences count the failovers done.
	kills, stops, fences int
}

func startPipelinePair(t *testing.T) *pipelinePair {
	pair := &pipelinePair{t: t, keys: pipelineKeys(t),
		logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	resendable := newResendLog()
	for slot := range pair.proxies {
		pair.dirs[slot] = t.TempDir()
		pair.listen[slot] = testport.Address(t)
		pair.proxies[slot] = startWireProxy(t, resendable)
	}
	t.Cleanup(func() {
		for slot := range pair.nodes {
			pair.stop(slot)
		}
		pair.stopping.Wait()
	})
	if !pair.start(0, "") || !pair.start(1, pair.listen[0]) {
		t.FailNow()
	}
	return pair
}

// addresses are the proxies' addresses, as the client's Config lists them.
func (p *pipelinePair) addresses() []string {
	return []string{p.proxies[0].address(), p.proxies[1].address()}
}

// start opens the node of slot (the standby of standbyOf, or the primary when it is
// empty) on its directory, with its server, and points the slot's proxy at it. It
// reports false after reporting an error. Its peer (fenced when it is promoted) is the
// other slot's replication address; its client address, for redirects, its proxy's.
func (p *pipelinePair) start(slot int, standbyOf string) bool {
	dir := p.dirs[slot]
	config := replication.NodeConfig{
		Groups: []replication.GroupConfig{{LogDir: filepath.Join(dir, "log"),
			SnapshotDir: filepath.Join(dir, "snapshots")}},
		EpochPath: filepath.Join(dir, "epoch"),
		// Disk syncs are beside the point here (the standby's acknowledgement is what
		// sync mode waits for), and the smallest segments spare the disk.
		WAL: wal.Options{Sync: wal.SyncNone, SegmentBytes: 2097408},
		// A ring of two requests: the client's window (up to four) finds it full at
		// times, and requests answered busy are resent with their numbers.
		Shard:  shard.Config{RingRequests: 2, CloseTimeout: 200 * time.Millisecond},
		Listen: p.listen[slot], StandbyOf: standbyOf, Peer: p.listen[1-slot],
		Mode: replication.ModeSync, Key: pairKey, ClientAddress: p.proxies[slot].address(),
		Logger: p.logger,
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	node, err := replication.OpenNode(ctx, config)
	if err != nil {
		p.t.Errorf("open node %d: %v", slot, err)
		return false
	}
	first := node.Shard()
	// Client 1 is the operator; a standby writes the table when it is promoted.
	operator := model.AppendGrants(nil, []model.Grant{{Client: 1, Scopes: model.ScopeOperator}})
	if err := first.SetGrants(operator); err != nil {
		_ = node.Close()
		p.t.Errorf("grants of node %d: %v", slot, err)
		return false
	}
	server, err := netio.NewServer(netio.Config{Address: "127.0.0.1:0", Keys: p.keys,
		Logger: p.logger, PrimaryAddress: first.PrimaryAddress, Epoch: first.Epoch,
		HeartbeatInterval: pipelineHeartbeat, SilenceTimeout: pipelineSilence}, first)
	if err != nil {
		_ = node.Close()
		p.t.Errorf("server of node %d: %v", slot, err)
		return false
	}
	node.Start([]shard.Outputs{shard.RepliesOnly(server.Replier())})
	if err := server.Start(); err != nil {
		_ = node.Close()
		p.t.Errorf("start server of node %d: %v", slot, err)
		return false
	}
	p.nodes[slot] = &pairNode{node: node, server: server}
	p.proxies[slot].setTarget(server.Address())
	return true
}

// stop cuts the slot's connections and closes its node, as a crash would look to a
// client (replies not yet delivered are lost); its proxy refuses connections from then
// on. The server's shutdown goes on in the background.
func (p *pipelinePair) stop(slot int) {
	running := p.nodes[slot]
	if running == nil {
		return
	}
	p.proxies[slot].setTarget("")
	p.proxies[slot].dropAll()
	_ = running.node.Close()
	p.stopping.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		_ = running.server.Shutdown(ctx)
	})
	p.nodes[slot] = nil
}

// promote promotes the standby's slot; it reports false after reporting an error.
func (p *pipelinePair) promote(slot int) bool {
	if _, err := p.nodes[slot].node.Promote(); err != nil {
		p.t.Errorf("promote node %d: %v", slot, err)
		p.broken = true
		return false
	}
	return true
}

// rejoinFenced restarts a fenced old primary as the standby of the active node.
func (p *pipelinePair) rejoinFenced() bool {
	if !p.fenced {
		return true
	}
	old := 1 - p.active
	p.stop(old)
	p.fenced = false
	if !p.start(old, p.listen[p.active]) {
		p.broken = true
		return false
	}
	return true
}

// inSync waits until the primary's standby is attached and has caught up, replies
// waiting for it again (not Degraded: not even the window of replies released alone
// is left): only a failover from there keeps every acknowledged write (one while the
// primary releases alone may lose some, by design). It reports false after reporting
// that the pair never got there within the hang guard.
func (p *pipelinePair) inSync() bool {
	deadline := time.Now().Add(waitLimit)
	for {
		status := p.nodes[p.active].node.Status()
		if status.Primary != nil && status.Primary.Attached && !status.Primary.Degraded {
			return true
		}
		if time.Now().After(deadline) {
			p.t.Errorf("the pair never got back in sync: %+v", status.Primary)
			p.broken = true
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// kill stops the primary, promotes the standby and restarts the old primary as its
// standby.
func (p *pipelinePair) kill() {
	if p.broken || !p.rejoinFenced() || !p.inSync() {
		return
	}
	old, next := p.active, 1-p.active
	p.stop(old)
	if !p.promote(next) {
		return
	}
	p.active = next
	p.kills++
	if !p.start(old, p.listen[next]) {
		p.broken = true
	}
}

// stopGracefully stops the primary as `sequent serve` stops on a signal (its server
// drains, then its node closes; its proxy keeps forwarding meanwhile, so a client that
// reconnects during the drain meets it), promotes the standby and restarts the old
// primary as its standby.
func (p *pipelinePair) stopGracefully() {
	if p.broken || !p.rejoinFenced() || !p.inSync() {
		return
	}
	old, next := p.active, 1-p.active
	running := p.nodes[old]
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := running.server.Shutdown(ctx); err != nil {
		p.t.Errorf("graceful stop of node %d's server: %v", old, err)
		p.broken = true
	}
	p.proxies[old].setTarget("")
	p.proxies[old].dropAll() // Only connections the proxy held after the server closed.
	if err := running.node.Close(); err != nil {
		p.t.Errorf("graceful stop of node %d: %v", old, err)
		p.broken = true
	}
	p.nodes[old] = nil
	if p.broken || !p.promote(next) {
		return
	}
	p.active = next
	p.stops++
	if !p.start(old, p.listen[next]) {
		p.broken = true
	}
}

// fence promotes the standby while the primary runs: the promotion fences it.
func (p *pipelinePair) fence() {
	if p.broken || !p.rejoinFenced() || !p.inSync() {
		return
	}
	next := 1 - p.active
	if !p.promote(next) {
		return
	}
	p.active = next
	p.fenced = true
	p.fences++
}

// describe says what each slot runs, for the log.
func (p *pipelinePair) describe() string {
	var parts []string
	for slot, running := range p.nodes {
		p.proxies[slot].mutex.Lock()
		open := len(p.proxies[slot].open)
		p.proxies[slot].mutex.Unlock()
		if running == nil {
			parts = append(parts, fmt.Sprintf("slot %d: stopped, %d connections", slot, open))
			continue
		}
		first := running.node.Shard()
		parts = append(parts, fmt.Sprintf("slot %d: %s at epoch %d (primary %q), %d connections",
			slot, first.Role(), first.Epoch(), first.PrimaryAddress(), open))
	}
	return strings.Join(parts, "; ")
}

// TestPipelinePropertyReplicatedPair is TestPipelineProperty against a primary and its
// standby in sync replication, in process (replication.Node, as `sequent serve` runs
// them), each behind a proxy that drops connections: at random moments mid-pipeline the
// primary is killed or stopped gracefully (its server drains, answering new requests
// shutting_down, and closes its connections; then its node closes), the standby promoted
// and the old primary back as its standby; or it is fenced by the standby's promotion
// (it answers not_primary naming the new primary, which the client follows). Checked
// against the same model: every call completes once with its own statuses (a call
// refused shutting_down applied nothing), balances equal the model, each transfer
// applied exactly once (an abandoned call's once or not at all), including those
// acknowledged by the old primary only through its standby. Flags as
// TestPipelineProperty's (-short: 20 calls per goroutine).
func TestPipelinePropertyReplicatedPair(t *testing.T) {
	pair := startPipelinePair(t)
	var mutex sync.Mutex // The disruptor calls one at a time; the end check reads counts.
	// Failovers are what this property is about: fewer drops than the others have
	// (each resets the count of calls a failover waits for), restarts (kills and
	// graceful stops, half each) and fences alike.
	target := &pipelineTarget{layout: pipelineLayout{shards: 1},
		addresses: pair.addresses(), proxies: pair.proxies[:], odds: [3]int{20, 22, 61},
		restart: func() {
			mutex.Lock()
			defer mutex.Unlock()
			pair.kill()
		},
		stop: func() {
			mutex.Lock()
			defer mutex.Unlock()
			pair.stopGracefully()
		},
		failover: func() {
			mutex.Lock()
			defer mutex.Unlock()
			pair.fence()
		}}
	m := runPipelineProperty(t, target)
	mutex.Lock()
	t.Logf("pair: %d kills, %d graceful stops, %d fences; %s", pair.kills, pair.stops,
		pair.fences, pair.describe())
	mutex.Unlock()
	reportPipelineProblems(t, m, proxiedBy(pair.proxies[:]...))
}
