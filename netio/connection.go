package netio

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"sequent/core/backend"
	"sequent/netio/wire"
)

// phase is where a connection is in the session protocol. Owned by its event loop.
type phase uint8

const (
	phaseChallenged phase = iota // Challenge sent; waiting for the login.
	phaseActive                  // Logged in: requests are served.
	phaseClosing                 // An error frame or logout is out; nothing more is read.
)

// connection is the per-connection state, stored with SetContext in OnOpen and found by
// Deliver through the connection table.
type connection struct {
	// Set in OnOpen before the connection is published; read-only afterwards, so any
	// goroutine may read them.
	id     uint64    // Table slot (low 32 bits) and generation (the 31 bits above).
	conn   gnet.Conn // The gnet connection (AsyncWrite and Close are safe anywhere).
	remote net.Addr  // Peer address (copied: gnet's may not be read off the loop).
	opened int64     // Clock reading (ns) when the connection opened.

	// Owned by the connection's event loop.
	phase     phase
	nonce     [wire.NonceSize]byte // Login challenge; single-use (phase leaves challenged).
	client    *Client              // Client as of login (permissions are re-read per request).
	session   uint64               // Session id of the login.
	key       uint32               // Key id of the login.
	secret    []byte               // The secret the login verified (never modified).
	options   uint32               // wire.Login* options of the login.
	request   backend.Request      // Reused for every Submit (Submit copies it).
	immediate []byte               // Frames to write at the end of this OnTraffic.
	turnDue   bool                 // A SubmitDeferred of this OnTraffic queued a request.
	loopTurn  *loopTurn            // The turn of this connection's loop (nil: no inline turns).
	// loginChecksSpared counts the login checks that found bytes unread in the socket and
	// left the decision to a later tick (loginOverdue, at most loginChecksSparedMax).
	loginChecksSpared uint8
	// drainingSince is the clock reading (ns) when draining was set (closeOrDrain).
	drainingSince int64
	// sessionEnded: endSession has run (when draining starts, or at OnClose).
	sessionEnded bool

	// Written on the loop, read by the ticker and the shard goroutine.
	active       atomic.Bool  // Logged in and not closing: replies and reports are sent.
	closing      atomic.Bool  // A close is under way: send nothing more.
	received     atomic.Int64 // Clock (ns) of the last bytes received.
	sent         atomic.Int64 // Clock (ns) of the last bytes queued for sending.
	queuedBytes  atomic.Int64 // Bytes handed to AsyncWrite and not yet run by the loop.
	bufferedSeen atomic.Int64 // gnet's outbound buffer as last seen on the loop.
	// spare: an empty reply buffer kept for this connection's next batch (takeOutbound,
	// recycle), nil while taken or before the first; its capacity is at most
	// outboundSpareBytesMax.
	spare atomic.Pointer[outbound]
	// loginCheckLent: the ticker has lent the loop the login-timeout check (loginOverdue),
	// at most one at a time (a stalled loop must not collect one per tick); cleared only
	// by a check that spares the connection (bytes unread, loginChecksSpared).
	loginCheckLent atomic.Bool
	// silenceCheckLent: the ticker has lent the loop the silence check (silenceOverdue);
	// cleared by the check when the connection was not silent after all, so that a
	// later silence can be lent again. At most one is queued per connection.
	silenceCheckLent atomic.Bool
	// draining: the connection's last frame (an error frame, or the logout answer) is
	// written but waits in gnet's outbound buffer behind bytes the client has not read
	// yet; the connection is closed once they are sent (closeOrDrain). Set on the loop,
	// before which closing is set; every write on the loop checks it first, so nothing
	// follows the last frame. The ticker reads it to lend the loop the check that closes
	// the connection (drainOverdue), one at a time (drainCheckLent).
	draining       atomic.Bool
	drainCheckLent atomic.Bool
	// unsentProbeLent: a market-data feed has lent the loop a look at gnet's outbound
	// buffer (Server.probeUnsent) for a stale subscriber, at most one at a time; cleared
	// by the look.
	unsentProbeLent atomic.Bool
	// keysChecked is the key set in which the login's key was last found, with the
	// client it found there (keyInForce); nil until the first check. Any goroutine that
	// saw active set.
	keysChecked atomic.Pointer[checkedKey]

	// Market data (marketdata.go). marketDataMutex is held by a feed's publisher from
	// reading the connection's unsent bytes until its write is handed over, and while it
	// changes a subscription: the feeds of a node of several shards then count this
	// connection's bytes and instruments exactly. It guards marketDataHolders and the
	// instruments and tops of this connection's subscriber on every feed.
	marketDataMutex sync.Mutex
	// marketDataHolders: per instrument subscribed one by one, the subscriber (of one
	// feed) that holds it; its length is the count bounded by
	// MarketDataInstrumentsPerConnectionMax. An instrument of a shard other than 0 is
	// held by shard 0's feed or its own (md_subscribe channel bit 3): a change on one feed
	// takes it from the other, so it is never held twice. Nil until the first.
	marketDataHolders map[uint32]*marketDataSubscriber
	// marketDataWaiting counts the md_subscribe frames queued to a feed by this
	// connection's slot and not yet taken by its publisher, every feed's together
	// (queueOrder's reserve): the table's counter of the slot (insert), so that frames a
	// closed connection left queued still count against the connection that takes its
	// slot, and what waits stays within marketDataCommandsMax per feed plus the reserve
	// per slot (review53b: counted per connection object, a client that connected,
	// queued 16 and closed, again and again, grew the queue without bound). Added to by
	// the connection's loop, taken from by the publishers.
	marketDataWaiting *atomic.Int32

	// Report subscription. mu guards reports; it is taken by the shard goroutine
	// (DeliverReports) and the replay goroutine, never by an event loop.
	mu      sync.Mutex
	reports reportState
}

// ConnectionIDLimit bounds the binary server's connection ids (backend.Request.
// Connection): they stay below 2^61, so that the ids from 2^61 to
// backend.ClientConnectionLimit (2^62) are free for another network layer of the same
// process sharing the backend (the HTTP API, netio/api), whose replies a splitting
// Replier tells apart by id. (From 2^62 up the ids are a node router's and the shard's.)
const ConnectionIDLimit uint64 = 1 << 61

// connectionGenerationMask keeps generations to 29 bits, so that generation<<32 | slot
// stays below ConnectionIDLimit (2^61) for ever: the counter wraps, skipping 0. (With 32
// bits, from the 2^31-th connection on every reply went to the shard's internal waiters
// instead of the client; with 31, a sharded node's router would have taken replies from
// the 2^30-th connection on for its own; with 30, the HTTP API's waiters from the
// 2^29-th.)
const connectionGenerationMask = 1<<29 - 1

// connectionTable maps connection ids to connections without locks: event loops publish
// and retract entries with atomic operations, and the shard goroutine looks them up with
// one atomic load. A connection id is generation<<32 | slot; the generation makes an id
// never match a later connection that reuses the slot.
type connectionTable struct {
	slots      []atomic.Pointer[connection] // ConnectionsMax slots, allocated at start.
	hint       atomic.Uint32                // Where the next search for a free slot starts.
	generation atomic.Uint32                // Last generation handed out.
	count      atomic.Int64                 // Slots in use.

	// marketDataWaiting: per slot, the md_subscribe frames queued to the feeds and not
	// yet taken (connection.marketDataWaiting), allocated at start.
	marketDataWaiting []atomic.Int32
}

func newConnectionTable(slotCount int) *connectionTable {
	return &connectionTable{slots: make([]atomic.Pointer[connection], slotCount),
		marketDataWaiting: make([]atomic.Int32, slotCount)}
}

// insert finds a free slot for c, sets c.id and publishes c. It returns false when every
// slot is taken. Each probe is one compare-and-swap; at most two passes over the slots
// are made (a slot freed behind a racing search is found on the second pass).
func (t *connectionTable) insert(c *connection) bool {
	if t.count.Add(1) > int64(len(t.slots)) {
		t.count.Add(-1)
		return false
	}
	generation := t.generation.Add(1) & connectionGenerationMask
	for generation == 0 {
		generation = t.generation.Add(1) & connectionGenerationMask
	}
	start := t.hint.Load()
	for probe := 0; probe < 2*len(t.slots); probe++ {
		slot := (int(start) + probe) % len(t.slots)
		if t.slots[slot].Load() != nil {
			continue
		}
		c.id = uint64(generation)<<32 | uint64(slot)
		c.marketDataWaiting = &t.marketDataWaiting[slot]
		if t.slots[slot].CompareAndSwap(nil, c) {
			t.hint.Store(uint32((slot + 1) % len(t.slots)))
			return true
		}
	}
	t.count.Add(-1)
	return false
}

// remove retracts c; a no-op if c is not (or no longer) in its slot.
func (t *connectionTable) remove(c *connection) {
	slot := int(uint32(c.id))
	if t.slots[slot].CompareAndSwap(c, nil) {
		t.count.Add(-1)
	}
}

// find returns the connection with id, or nil when it has closed.
func (t *connectionTable) find(id uint64) *connection {
	slot := uint32(id)
	if int(slot) >= len(t.slots) {
		return nil
	}
	c := t.slots[slot].Load()
	if c == nil || c.id != id {
		return nil
	}
	return c
}

// hasLoginKey reports whether client (as the keys in force have it) still holds the key
// conn logged in with: its key id with the same secret. Removing the key id, or giving
// it a new secret (an operator's answer to a leaked one), revokes the sessions of the
// old one. Read conn's login fields only where they are set (the loop, or after seeing
// conn.active).
func (conn *connection) hasLoginKey(client *Client) bool {
	secret, ok := client.Secret(conn.key)
	return ok && bytes.Equal(secret, conn.secret)
}

// sessionKey identifies a session: the authenticated client and its chosen session id.
type sessionKey struct {
	client  uint64
	session uint64
}
