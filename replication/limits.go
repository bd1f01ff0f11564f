package replication

import (
	"time"

	"sequent/core/shardmap"
	"sequent/wal"
)

// Bounds and timings of the replication link.
const (
	// frameBodyBytesMax bounds a frame body: one stored entry (header + at most a raw body,
	// since a body that does not compress is stored raw) with room to spare.
	frameBodyBytesMax = wal.EntryBodyBytesMax + 64<<10
	// unauthenticatedFrameBytesMax bounds the body of the first frame a peer sends to the
	// replication port or to a witness: it is read whole before its MAC can be checked,
	// so under frameBodyBytesMax any peer that can connect made the node allocate 2.1 MiB
	// per connection and hold it for handshakeTimeout
	// (TestFirstFrameOverTheUnauthenticatedBoundIsRefusedUnread). The largest such frame a
	// node sends is a hello with recentChainsMax points (32 + 24 + 256×40 = 10,296 bytes);
	// a fence carries the node's client address (clientAddressBytesMax), a lease request a
	// node name (NodeNameBytesMax) and a witness id (WitnessIDBytesMax).
	unauthenticatedFrameBytesMax = 16 << 10
	// gateConnectionsPerPeerMax bounds the connections one peer address (an IPv6 peer:
	// its /64) holds open to a node's replication port: a standby holds one link per
	// shard (shardmap.ShardsMax at most) and may open a link's successor before the old
	// one is closed, and fences and a second node on the same host come on top. Past it a
	// connection is closed as soon as it is accepted. Without a bound, connections opened
	// in a loop (no key needed) each held a goroutine and 128 KiB of buffers for
	// handshakeTimeout, without limit (TestGateBoundsThePeersConnections).
	gateConnectionsPerPeerMax = 4 * shardmap.ShardsMax
	// witnessConnectionsPerPeerMax bounds the connections one peer address holds open to
	// a witness, for the same reason: a node asks one thing at a time (a lease request
	// or a probe, each a connection of a few milliseconds), and both nodes of a pair may
	// share an address (TestWitnessBoundsThePeersConnections).
	witnessConnectionsPerPeerMax = 64
	// clientAddressBytesMax bounds NodeConfig.ClientAddress, which a fence carries in its
	// first frame (unauthenticatedFrameBytesMax): a host name is at most 253 bytes.
	clientAddressBytesMax = 1 << 10

	// recentChainsMax is how many recent entry boundaries a rejoining standby sends. A
	// divergent suffix is at most what an old primary wrote without a standby
	// acknowledgement: the shard's in-flight bound (64 entries) in sync mode.
	recentChainsMax = 256

	// liveQueueBytesMax bounds entries queued for a standby between the log's writer and
	// the network. Beyond it the standby is lagging: the queue is dropped and the sender
	// catches up from the log instead, so a slow standby costs memory never past this.
	liveQueueBytesMax = 64 << 20

	// snapshotChunkBytes is the size of snapshot chunks sent to a standby far behind.
	snapshotChunkBytes = 1 << 20

	// handshakeTimeout bounds each handshake step.
	handshakeTimeout = 5 * time.Second

	// fenceRetryInterval: a promoted node that could not fence its old primary tries
	// again this often until it succeeds or the old node rejoins as its standby. It bounds
	// how long an old primary restarted as a primary serves before it is fenced.
	fenceRetryInterval = time.Second

	// heartbeatInterval: the primary's sender sends a heartbeat this often (with a
	// witness, a quarter lease if that is shorter: a standby takes a primary silent for a
	// whole lease for lost).
	heartbeatInterval = time.Second

	// standbyHeartbeatInterval: the standby sends its log positions this often, so that
	// its primary can tell within standbySilenceMax that it has stopped (a stopped or hung
	// process keeps its connections open). Four 48-byte frames a second cost nothing.
	standbyHeartbeatInterval = 250 * time.Millisecond

	// standbySilenceMax: a standby not heard from for this long (four heartbeats), or
	// whose acknowledgement has not advanced for this long while entries wait for it, is
	// not acknowledging: it is not counted as attached (readiness), and the DegradeAfter
	// clock runs from when it went quiet.
	standbySilenceMax = 4 * standbyHeartbeatInterval

	// degradationCheckInterval: how often the primary looks at its standby's state for
	// DegradeAfter; it bounds how late a degradation is.
	degradationCheckInterval = 100 * time.Millisecond

	// silenceTimeout: a side that heard nothing for this long drops the connection. (With
	// a witness, a standby asks for the lease as soon as its primary has been silent for a
	// lease, without waiting for this.)
	silenceTimeout = 5 * time.Second

	// reconnectDelayMax caps the standby's reconnection back-off.
	reconnectDelayMax = 2 * time.Second

	// PrimaryWaitAtStartDefault is how long a standby with a log of its own waits at
	// start for its primary before it starts from that log alone (still a standby, still
	// reconnecting, and now promotable). A standby with an empty log waits for ever: it
	// has nothing that could take over.
	PrimaryWaitAtStartDefault = 10 * time.Second

	// LeaseDurationDefault is the witness lease: the primary renews every quarter of it,
	// and a standby may take over once the primary has been silent for a whole lease, so
	// automatic failover completes in about one to two leases.
	LeaseDurationDefault = time.Second

	// leaseSafetyPercent shortens the time a primary counts on its lease (from when the
	// renewal was sent), so that it fences itself before the witness, whose clock may run a
	// little faster, considers the lease expired.
	leaseSafetyPercent = 80

	// failedPromotionsPerGrantMax is how many promotions in a row may fail (the epoch
	// cannot be stored) under one witness grant, each retry renewing it, before the node
	// gives it up and lets it run out: with the failover watch retrying every quarter
	// lease, two leases of retries. A disk that stays broken must not keep the lease from
	// the other node for good (the pair would have no primary until an operator acts); a
	// disk fixed within those two leases promotes at the epoch granted first (a later
	// grant is an acquisition afresh, of a new epoch).
	failedPromotionsPerGrantMax = 8

	// releasedGrantHoldOffLeases is how many leases the failover watch waits, once its
	// node gave a grant up, before it asks the witness again: the grant runs out within
	// one, and in the next only the other node (if it is back, as a standby that lost its
	// primary) asks, so it takes the lease rather than racing this node for it.
	releasedGrantHoldOffLeases = 2

	// witnessProbeIntervalLeases is how many leases a standby whose ratchet is not raised,
	// or that pins its witness's id, waits between probes of its witness (probeWitness):
	// the first probe at its first tick raises the ratchet against a witness that signs;
	// the rest retry after a witness that could not be reached, or (pinned) check that it
	// still announces the pinned id, at one short connection per 8 leases (8 s at the
	// default lease), nothing next to the primary's 4 renewals a lease.
	witnessProbeIntervalLeases = 8

	// digestsRememberedMax bounds the snapshot digests a standby keeps for comparison.
	digestsRememberedMax = 16
)
