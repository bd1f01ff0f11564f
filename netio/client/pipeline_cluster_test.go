package client

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"testing"

	"sequent/core"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio"
	"sequent/netio/wire"
	"sequent/wal"
)

// The harness of TestPipelineProperty (pipeline_property_test.go): a one-shard server
// (core/shard over an in-memory log, behind netio) that can be restarted on its log or
// failed over to a node recovered from the same log, reached through loopback proxies
// that drop connections on demand and watch the request numbers each connection
// carries.

// wireProxy forwards connections from its own loopback address to the server currently
// behind it (none: it closes what it accepts, as a port with nothing listening would
// refuse). It decodes both directions to check that each connection carries its request
// numbers in increasing order, a number again only after the server answered it (on
// this connection or an earlier one of the session) with a status the client resends
// after a delay (busy, log_unavailable, outcome_unknown; shutting_down and an empty
// not_primary after an unknown outcome): such a resend may come after later numbers,
// and after a reconnect that already resent it.
type wireProxy struct {
	listener   net.Listener
	mutex      sync.Mutex
	target     string
	open       map[int]*proxiedConnection
	nextID     int
	accepted   int
	resends    int        // Replies with a status the client resends (busy, ...).
	resendable *resendLog // Shared by the proxies of one cluster.
	// repliesMuted drops what servers send (the requests still go through), as a
	// network losing one direction would.
	repliesMuted bool
	// framewise forwards what servers send frame by frame (re-encoded), from connections
	// accepted once it is set, so that mutedNumbers can drop the replies of some request
	// numbers and let the others through.
	framewise    bool
	mutedNumbers map[uint64]bool
	mutedDropped int // Replies left out because their number was muted.
	problems     []string
	pumps        sync.WaitGroup
}

// proxiedConnection is one client connection and its server side.
type proxiedConnection struct {
	client, server net.Conn
	last           uint64 // Highest request number seen from the client.
	stalled        bool   // Forwards nothing more either way (a black hole).
}

// resendLog holds, per session, the numbers answered with a status the client resends,
// as seen by any proxy sharing it (the resend may go through another one).
type resendLog struct {
	mutex   sync.Mutex
	numbers map[uint64]map[uint64]bool
}

func newResendLog() *resendLog { return &resendLog{numbers: map[uint64]map[uint64]bool{}} }

func (r *resendLog) add(session, number uint64) {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	if r.numbers[session] == nil {
		r.numbers[session] = map[uint64]bool{}
	}
	r.numbers[session][number] = true
}

func (r *resendLog) has(session, number uint64) bool {
	r.mutex.Lock()
	defer r.mutex.Unlock()
	return r.numbers[session][number]
}

func startWireProxy(t *testing.T, resendable *resendLog) *wireProxy {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &wireProxy{listener: listener, open: map[int]*proxiedConnection{},
		resendable: resendable}
	p.pumps.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = listener.Close()
		p.dropAll()
		p.pumps.Wait()
	})
	return p
}

func (p *wireProxy) address() string { return p.listener.Addr().String() }

// setTarget points new connections at address ("": refuse them).
func (p *wireProxy) setTarget(address string) {
	p.mutex.Lock()
	p.target = address
	p.mutex.Unlock()
}

func (p *wireProxy) accept() {
	defer p.pumps.Done()
	for {
		client, err := p.listener.Accept()
		if err != nil {
			return
		}
		p.mutex.Lock()
		target := p.target
		p.mutex.Unlock()
		if target == "" {
			_ = client.Close()
			continue
		}
		server, err := net.Dial("tcp", target)
		if err != nil {
			_ = client.Close()
			continue
		}
		connection := &proxiedConnection{client: client, server: server}
		p.mutex.Lock()
		id := p.nextID
		p.nextID++
		p.accepted++
		p.open[id] = connection
		framewise := p.framewise
		p.mutex.Unlock()
		p.pumps.Add(2)
		go p.pump(id, connection, client, server, false, p.requestSeen)
		if framewise {
			go p.pumpFrames(id, connection, server, client)
			continue
		}
		go p.pump(id, connection, server, client, true, p.replySeen)
	}
}

// pump copies one direction, handing each decoded frame to seen before forwarding the
// bytes that complete it; the first error ends the connection both ways.
func (p *wireProxy) pump(id int, connection *proxiedConnection, from, to net.Conn,
	replies bool, seen func(connection *proxiedConnection, frame *wire.Frame)) {
	defer p.pumps.Done()
	defer p.end(id, connection)
	decoder := &wire.Decoder{}
	buffer := make([]byte, 64<<10)
	for {
		n, err := from.Read(buffer)
		if n > 0 {
			_, _ = decoder.Write(buffer[:n])
			for {
				frame, ok, decodeErr := decoder.Next()
				if decodeErr != nil {
					p.problem(fmt.Sprintf("undecodable stream: %v", decodeErr))
					return
				}
				if !ok {
					break
				}
				p.mutex.Lock()
				seen(connection, &frame)
				p.mutex.Unlock()
			}
			p.mutex.Lock()
			stalled := connection.stalled || (replies && p.repliesMuted)
			p.mutex.Unlock()
			if stalled {
				continue // Read on, so that closing either side still ends the pump.
			}
			if _, err := to.Write(buffer[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// pumpFrames copies what a server sends to its client frame by frame, leaving out the
// replies to muted numbers (and everything while replies are muted).
func (p *wireProxy) pumpFrames(id int, connection *proxiedConnection, from, to net.Conn) {
	defer p.pumps.Done()
	defer p.end(id, connection)
	decoder := &wire.Decoder{}
	var out []byte
	for {
		_, err := decoder.ReadFrom(from)
		out = out[:0]
		for {
			frame, ok, decodeErr := decoder.Next()
			if decodeErr != nil {
				p.problem(fmt.Sprintf("undecodable stream: %v", decodeErr))
				return
			}
			if !ok {
				break
			}
			p.mutex.Lock()
			p.replySeen(connection, &frame)
			muted := frame.Kind == wire.KindReply && p.mutedNumbers[frame.Number]
			dropped := connection.stalled || p.repliesMuted || muted
			if muted {
				p.mutedDropped++
			}
			p.mutex.Unlock()
			if !dropped {
				out = wire.AppendFrame(out, &frame, frame.Body)
			}
		}
		if len(out) > 0 {
			if _, writeErr := to.Write(out); writeErr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// muteNumber drops (on) or forwards (off) the replies to request number, on connections
// forwarded frame by frame.
func (p *wireProxy) muteNumber(number uint64, on bool) {
	p.mutex.Lock()
	defer p.mutex.Unlock()
	if p.mutedNumbers == nil {
		p.mutedNumbers = map[uint64]bool{}
	}
	p.mutedNumbers[number] = on
}

// requestSeen checks a client frame's request number. Called with mutex held.
func (p *wireProxy) requestSeen(connection *proxiedConnection, frame *wire.Frame) {
	if frame.Kind != wire.KindRequest {
		return
	}
	if frame.Number <= connection.last && !p.resendable.has(frame.Session, frame.Number) {
		p.problems = append(p.problems, fmt.Sprintf(
			"session %d: request %d sent after request %d on one connection", frame.Session,
			frame.Number, connection.last))
	}
	connection.last = max(connection.last, frame.Number)
}

// replySeen notes replies the client resends with their number: busy, log_unavailable,
// outcome_unknown, and (for a request whose earlier attempt's outcome is unknown)
// shutting_down and not_primary with no address. Called with mutex held.
func (p *wireProxy) replySeen(connection *proxiedConnection, frame *wire.Frame) {
	if frame.Kind != wire.KindReply {
		return
	}
	status := model.Status(frame.Status)
	if resentStatus(status) {
		p.resendable.add(frame.Session, frame.Number)
		p.resends++
	}
	if status == model.StatusShuttingDown ||
		status == model.StatusNotPrimary && len(frame.Body) == 0 {
		p.resendable.add(frame.Session, frame.Number)
	}
}

func (p *wireProxy) problem(description string) {
	p.mutex.Lock()
	p.problems = append(p.problems, description)
	p.mutex.Unlock()
}

func (p *wireProxy) end(id int, connection *proxiedConnection) {
	_ = connection.client.Close()
	_ = connection.server.Close()
	p.mutex.Lock()
	delete(p.open, id)
	p.mutex.Unlock()
}

// dropOne closes one open connection, chosen by random, and reports whether there was one.
func (p *wireProxy) dropOne(random *rand.Rand) bool {
	return p.disturbOne(random, func(connection *proxiedConnection) {
		_ = connection.client.Close()
		_ = connection.server.Close()
	})
}

// stallOne stops forwarding on one open connection, chosen by random, without closing
// it: the client notices the silence (its silence timeout) and reconnects, and the
// server closes the old connection when the session logs in again (takeover).
func (p *wireProxy) stallOne(random *rand.Rand) bool {
	return p.disturbOne(random, func(connection *proxiedConnection) {
		connection.stalled = true
	})
}

func (p *wireProxy) disturbOne(random *rand.Rand, disturb func(*proxiedConnection)) bool {
	p.mutex.Lock()
	defer p.mutex.Unlock()
	live := make([]*proxiedConnection, 0, len(p.open))
	for _, connection := range p.open {
		if !connection.stalled {
			live = append(live, connection)
		}
	}
	if len(live) == 0 {
		return false
	}
	disturb(live[random.IntN(len(live))])
	return true
}

// muteReplies drops (on) or forwards (off) what servers send from now on.
func (p *wireProxy) muteReplies(on bool) {
	p.mutex.Lock()
	p.repliesMuted = on
	p.mutex.Unlock()
}

// dropAll closes every open connection.
func (p *wireProxy) dropAll() {
	p.mutex.Lock()
	defer p.mutex.Unlock()
	for _, connection := range p.open {
		_ = connection.client.Close()
		_ = connection.server.Close()
	}
}

// pipelineNode is one server process of the cluster: a shard and its netio server.
type pipelineNode struct {
	shard  *shard.Shard
	server *netio.Server
}

// pipelineCluster is two node slots, each behind its own proxy, sharing one in-memory
// log: the active slot's node is the primary. A restart replaces the active node with
// one recovered from the log (same epoch, same address); a failover fences the active
// node, naming the other slot's address in its not_primary replies, and starts there a
// node recovered from the log in the next epoch (the log holds everything the fenced
// node applied: a standby in sync replication). The fenced node keeps answering until
// its slot is reused.
type pipelineCluster struct {
	t       *testing.T
	keys    *netio.Keyring
	log     *wal.MemoryLog
	logger  *slog.Logger
	epoch   uint64
	proxies [2]*wireProxy
	nodes   [2]*pipelineNode
	active  int
	// stopping counts the servers still shutting down (waited for at the end).
	stopping sync.WaitGroup
}

// pipelineKeys is the keyring of client 1 (key 1, testSecret), with every permission.
func pipelineKeys(t *testing.T) *netio.Keyring {
	keys, err := netio.NewKeyring(netio.KeysFile{Version: netio.KeysFileVersion,
		Clients: []netio.KeysFileClient{{ID: 1, Name: "all",
			Permissions: []string{"read", "transfer", "trade", "admin"},
			Keys:        []netio.KeysFileKey{{ID: 1, Secret: hex.EncodeToString(testSecret)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func startPipelineCluster(t *testing.T) *pipelineCluster {
	cluster := &pipelineCluster{t: t, keys: pipelineKeys(t), log: wal.NewMemoryLog(), epoch: 1,
		logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	resendable := newResendLog()
	for i := range cluster.proxies {
		cluster.proxies[i] = startWireProxy(t, resendable)
	}
	t.Cleanup(func() {
		for i := range cluster.nodes {
			cluster.stop(i)
		}
		cluster.stopping.Wait()
	})
	cluster.start(0)
	return cluster
}

// addresses are the proxies' addresses, as the client's Config lists them.
func (c *pipelineCluster) addresses() []string {
	return []string{c.proxies[0].address(), c.proxies[1].address()}
}

// start recovers a node from the log in slot, in the cluster's epoch, and points the
// slot's proxy at it.
func (c *pipelineCluster) start(slot int) {
	machine, _, err := shard.Recover(core.Config{}, c.log, "", c.logger, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	// A ring of two requests: the client's window (up to four) finds it full at times,
	// and requests answered busy are resent with their numbers.
	s, err := shard.New(shard.Config{Epoch: c.epoch, Logger: c.logger, RingRequests: 2},
		machine, c.log)
	if err != nil {
		c.t.Fatal(err)
	}
	// Client 1 is the operator, as in a single-tenant keys file (an unchanged table is
	// not logged again after a recovery).
	operator := model.AppendGrants(nil, []model.Grant{{Client: 1, Scopes: model.ScopeOperator}})
	if err := s.SetGrants(operator); err != nil {
		c.t.Fatal(err)
	}
	server, err := netio.NewServer(netio.Config{Address: "127.0.0.1:0", Keys: c.keys,
		Logger: c.logger, PrimaryAddress: s.PrimaryAddress,
		HeartbeatInterval: pipelineHeartbeat, SilenceTimeout: pipelineSilence}, s)
	if err != nil {
		c.t.Fatal(err)
	}
	s.Start(shard.RepliesOnly(server.Replier()))
	if err := server.Start(); err != nil {
		_ = s.Close()
		c.t.Fatal(err)
	}
	c.nodes[slot] = &pipelineNode{shard: s, server: server}
	c.proxies[slot].setTarget(server.Address())
}

// stop cuts the slot's connections and stops its node, as a crash would look to a
// client: replies not yet delivered are lost. Its proxy refuses connections from then
// on, so no request reaches the node while it stops. The shard is closed at once (the
// log is still afterwards, for a recovery); the server's shutdown, which takes its
// event loops half a second to notice, goes on in the background.
func (c *pipelineCluster) stop(slot int) {
	node := c.nodes[slot]
	if node == nil {
		return
	}
	c.proxies[slot].setTarget("")
	c.proxies[slot].dropAll()
	_ = node.shard.Close()
	c.stopping.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		_ = node.server.Shutdown(ctx)
	})
	c.nodes[slot] = nil
}

// restart replaces the active node by one recovered from its log, at the same address.
func (c *pipelineCluster) restart() {
	c.stop(c.active)
	c.start(c.active)
}

// failover fences the active node (its not_primary replies name the other slot), lets
// its sequencer finish, and starts the other slot's node in the next epoch.
func (c *pipelineCluster) failover() {
	old, next := c.active, 1-c.active
	c.stop(next) // A node fenced by an earlier failover.
	c.epoch++
	c.nodes[old].shard.Fence(c.epoch, c.proxies[next].address())
	_ = c.nodes[old].shard.Close() // Fenced, it answers not_primary; the log is still.
	c.start(next)
	c.active = next
}

// proxied sums what proxies saw: the problems, the connections and the replies the
// client resends.
type proxied struct {
	problems             []string
	connections, resends int
}

func proxiedBy(proxies ...*wireProxy) proxied {
	var sum proxied
	for _, p := range proxies {
		p.mutex.Lock()
		sum.problems = append(sum.problems, p.problems...)
		sum.connections += p.accepted
		sum.resends += p.resends
		p.mutex.Unlock()
	}
	return sum
}
