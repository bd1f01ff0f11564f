// Package replication keeps a hot standby: the primary streams its log entries (in their
// exact stored form) to one standby, which appends them to its own log, applies them to
// its own state machine (queryable read-only), and acknowledges the highest op it has
// durably written. In sync mode (the default) the primary's shard releases a reply only
// when both its own log and the standby's acknowledgement cover it, so losing the primary
// loses no acknowledged write.
//
// # Shard groups: a node replicates as one
//
// A node of N shards (core/node) has N shard groups (Group: one shard's log, recovered
// machine, shard and replication role). Node holds them and everything that belongs to
// the node as a whole: one epoch (one file), one replication listener, one witness lease,
// and the role changes. Promotion persists the new epoch once and switches every shard
// before any serves a standby; a fence (from the peer, from a hello of a higher epoch, or
// from a lost lease) fences every shard, as does a promotion that switched some shards
// and failed on another (stopHalfPromoted); a standby starts, aligns (truncate or snapshot
// plan) and rejoins every group from its primary's group of the same shard. So the node
// is never primary for some shards on one machine and for the rest on the other. Each
// group streams over its own link (its own sender, acknowledgements, degradation and
// snapshot transfer), so a shard's replies wait only for its own standby shard; the gate
// (gate.go) accepts every link on the one listener, sends the challenge, and routes a
// fence to the node and a hello to the Primary of the shard it names. The hello carries
// the shard, the shard count and the shard map's checksum: a standby whose map differs
// is refused for good (ErrShardMapMismatch, a start-up error), since it could not hold
// the same shards. A standby takes its primary for lost (automatic failover) only when
// none of its links has heard from it for a lease.
//
// # Link security
//
// Every connection proves the shared key first (HMAC-SHA256 over the acceptor's
// single-use nonce); a primary refuses a standby whose key differs with a refusal frame,
// which the standby takes as ErrUnauthenticated (fatal, never retried). With TLS (NodeConfig.TLS, tls.go) the link is also mutual TLS 1.3:
// each node presents one certificate and trusts one CA in both of its parts (acceptor and
// dialer), a refused certificate is ErrUnauthenticated (not retried), and the HMAC still
// runs inside TLS. On the witness link the node's request carries the HMAC, and since
// session 37 so does the witness's reply (over a nonce the node draws for each request,
// witness.go), so that without TLS nobody on the path can forge or replay a grant or a
// refusal; a witness of an earlier build, which does not sign, is refused without TLS
// unless NodeConfig.WitnessUnsignedAllowed (upgrade the witness first). Since session 38
// a witness has an identity (WitnessConfig.ID, or generated once and kept in its state
// file), announced in its challenge; a node that pins it (NodeConfig.WitnessID) asks only
// that witness, with a request mac that covers the id (another witness holding the same
// key does not act on it), and checks a reply mac that covers the id (v3), so another
// witness holding the same key cannot grant it the lease (witness.go gives the frames).
//
// What a peer without the key can make a node or a witness hold is bounded: since
// session 48 the first frame of a connection, read before its MAC can be checked, is at
// most unauthenticatedFrameBytesMax (16 KiB; larger is refused unread, an error frame
// from a node, nothing from a witness), and one peer address (an IPv6 peer: its /64)
// holds at most gateConnectionsPerPeerMax connections to a node's replication port and
// witnessConnectionsPerPeerMax to a witness (those beyond are closed as soon as they are
// accepted); each unauthenticated connection ends at handshakeTimeout.
//
// Since session 39 a node that has received a signed answer (v2 or v3, its mac checked)
// refuses unsigned ones without TLS from then on, whatever WitnessUnsignedAllowed says
// (ErrWitnessDowngrade: the signed-replies ratchet, witness_ratchet.go), and keeps that
// across restarts in a marker beside the epoch file (NodeConfig.WitnessRatchetPath); an
// operator lowers it by removing the marker with the node stopped (a marker that does
// not verify counts as raised, and the next signed answer rewrites it); a standby raises it
// while its primary lives by probing the witness (a signed request that changes nothing,
// leaseProbe), so that it does not first meet the witness at a failover. Untrusted answers
// are counted by reason (forged, identity, unsigned, downgrade), apart from renewals that
// merely got no answer, and NodeStatus.Witness shows the pin, the ratchet and the counts.
//
// # Threat model of the witness link
//
// The attacker sits on the path between a node and its witness (no TLS): it reads, drops,
// delays, replays and rewrites any byte either way, opens its own connections to both, and
// may run witnesses of its own, including another pair's witness holding the same
// replication key when keys are shared across pairs. It does not hold this pair's key,
// cannot write the node's data directory (epoch file, ratchet marker) or change its flags,
// and does not control the witness's machine or state file. Against it: no grant, refusal
// or altered decision is accepted (every decision a node acts on carries a mac over a
// nonce the node drew for that request: a replayed or rewritten answer is
// ErrWitnessReplyForged); with a pin, no other witness's answer is accepted
// (ErrWitnessIdentity); once a node has seen a signed answer, a challenge stripped of its
// signing bit is refused (ErrWitnessDowngrade), also after a restart, and nothing an
// attacker sends lowers the ratchet (raising it needs a valid mac; lowering it needs the
// marker removed). Not against it: availability (dropping answers looks like an
// unreachable witness: a primary fences within a lease and a standby does not promote,
// which is the safe side); the window before a node's first signed answer with
// WitnessUnsignedAllowed on (a new data directory, or the marker removed; for a standby,
// until its first probe is answered, or for good with a witness that does not announce
// probes, which it says once at Warn), in which a stripped challenge is still believed; a holder of the key, who is
// the witness as far as a node can tell (two copies of one witness, same key and id, are
// not told apart); and the counters, which an attacker can raise at will (that is what the
// alert on them is for) or avoid: one that drops or cuts the connection, or breaks a
// frame's checksum, looks like a network failure; "forged" counts what is evidently made
// on the way (a signed exchange answered with another type, a reply shorter than its mac,
// or a mac that fails). What an attacker can make a node log is bounded by the node's own
// requests (a renewal every quarter lease at most; a standby says each refusal reason
// once), never by the attacker's rate. The pinned id shown by the status is no secret: the
// witness announces it in clear to whoever connects.
//
// # Epochs and fencing
//
// Every entry and every frame carries the writer's epoch. Promotion (Node.Promote)
// persists epoch+1 before the node writes anything, then switches its shards to primary.
// A node that learns of a higher epoch (a fence frame from the new primary, or a standby
// that already follows a newer primary) stops serving at once and answers not_primary
// with the new primary's address. An old primary that was dead when its standby was
// promoted cannot acknowledge anything when it comes back: in sync mode it needs a standby
// acknowledgement, and the promoted node will never give it one. The promoted node also
// keeps re-sending its fence every fenceRetryInterval until the old node rejoins as its
// standby, so one restarted as a primary is fenced soon after it starts (which matters
// with DegradeAfter, where it would otherwise acknowledge alone after that delay).
//
// # Rejoin and catch-up
//
// A standby starts with a handshake: it proves the shared key (HMAC-SHA256 over the
// primary's single-use nonce) and sends its last op and the chain hashes of its newest
// entries. The primary answers with a plan: stream after the newest op both logs share;
// truncate the standby's divergent suffix first (a demoted primary's unacknowledged
// entries); or start over from the primary's newest snapshot when the log the standby
// needs was retired. The plan is carried out before the standby recovers its state, so the
// divergent suffix never reaches its machine. A truncation removes the snapshots of the
// divergent ops (durably) before it cuts the log, so that a crash between the two leaves a
// log the next handshake truncates again. A truncation that would leave a log starting
// after op 1 with no snapshot under it (the node's only snapshots hold divergent ops: an
// old primary that snapshotted an entry its standby never received, and retired its log up
// to it; or the ones under it do not read whole, body checksum included) sets the node's
// snapshots and its log aside instead (as a start over does) and aligns again from an
// empty log; its warning names every replaced-* subdirectory holding snapshots. A start
// over keeps the node's own state in place until the primary's snapshot is received whole
// and durable (into the snapshot directory's subdirectory receiving/, which no reader
// lists, its header checked against the plan and its body read whole, every checksum:
// a body damaged on the primary's disk is refused before anything of the node's own is
// set aside; the standby's start fails, and the primary, which checks the file's stored
// body as it sends it, offers that file no more, logged at Error: the next start is
// offered an older snapshot that bridges the gap, or a newer one once written): a
// primary lost during the transfer, which can take minutes, leaves the node its own log
// and snapshots to start from, and be promoted from, while its primary is down. Then its
// own state is set aside, never
// deleted, and the received snapshot is renamed into place before a new log starts right
// after it: its segment header records that base durably (wal.Log.StartAfter), so the
// node restarted before its next entry, as a standby or once promoted, starts at the
// snapshot's op like a node with a log of its own (a log that lost its entries records
// none, and recovery still refuses it).
//
// Setting the own state aside (aside.go) is one rename or one directory sync per step:
// the snapshots move into setting-aside-<stamp> (a subdirectory of the snapshot
// directory), the log directory is renamed <LogDir>.replaced-<stamp> (the commit point),
// the segments the old log archived (--wal-archive: the group's archive directory) move
// into <archive>/replaced-<stamp> (the new log numbers segments from 1 again; archive
// set-asides are never pruned), and setting-aside-<stamp> is renamed replaced-<stamp>.
// Every open of a group's log first finishes a set-aside cut short (finishSetAsides):
// with its log aside it completes the archive's move and the last rename; with the log still in place it moves the snapshots back beside it. A
// crash at any step therefore leaves either the old log with its snapshots or an empty
// log with the complete set-aside pair; a step that fails is finished the same way. Once
// the new state is in place (the new log started after the received snapshot, or the
// empty log opened), set-asides beyond the newest setAsideKept (by stamp; a pair counts
// once) are removed; Status shows per group how many are kept and their bytes. An empty
// log beside no snapshot (a new standby, or one that just set its state aside) is nothing
// to keep: its start over sets nothing aside, so it pushes no real set-aside out. A group
// whose log is empty waits for its primary at start with no time limit (a node with a log
// starts alone after PrimaryWaitAtStart, to be promoted): it holds none of the writes its
// peers acknowledged, so it must never be promoted, and its log says so once at Warn. An
// empty log beside one snapshot (a start over cut short after the received snapshot was
// put in place, before the new log recorded its base) holds that snapshot's state: its hello names the snapshot's op and chain
// as its last op and only point (StandbyConfig.StateAfter), so a primary holding that op
// of the same history streams after it (the log starts after the snapshot, as the start
// over would have), and any other plans a start over or refuses it (ErrDiverged), as it
// would a log holding the same state: an empty primary must not have it give up its
// state. An empty log beside other snapshots that its primary streams from op 0 has them
// set aside first, since recovery refuses a snapshot above an empty log
// (shard.ErrLogBehindSnapshot); so has any log whose primary streams after its last op
// the snapshots above that op (a log that lost its tail, its newest snapshot damaged or
// not: the primary holds every op after it). A snapshot whose chain hash differs from the log's at its
// op (wal.SnapshotMeta.OfAnotherHistory: one an earlier version left beside a divergent
// log when a crash cut its start over short, or one copied in by hand) is set aside at
// every start before recovery (subdirectory replaced-<stamp>), since the shard's prune and
// log retirement pick snapshots by op alone; recovery and change capture skip such a
// snapshot too.
//
// # Divergence detection
//
// Both replicas snapshot at the same ops (the request travels through the log); the
// primary sends its snapshot digests, and a standby whose digest differs stops with a
// loud error (ErrDigestMismatch) rather than drift silently.
//
// # Automatic failover
//
// Two nodes alone never promote themselves. Manual promotion (Node.Promote, exposed as
// `sequent admin promote` and POST /v1/admin/promote) is always available. Automatic
// failover needs the witness (`sequent witness`, witness.go): the primary renews a lease
// every quarter lease and fences itself if it cannot renew before its lease (shortened by
// a safety margin) runs out, or finds the lease held by another node; a standby that has
// lost its primary asks for the lease and promotes itself only if the witness grants it,
// which it does only once the primary's lease has expired. A primary counts on no lease
// before the witness has granted it one: at start it releases nothing on its own
// durability until its first renewal is granted (the witness may have given the lease to
// the other node, promoted while this one was away). Failover then takes about one
// lease (500 ms in the drill). A manual promotion with a witness configured also takes the
// lease, and is refused while the primary still holds it. A standby that has stopped
// following (Node.Err: a state digest that differs, a log to resync, a refused key, a
// failed log) is never promoted automatically; an operator may still promote it. Nor is
// one that never followed the lease's holder (since session 51): before asking for the
// lease the failover watch probes the witness, and a witness that last granted the lease
// to another node at an epoch above this node's (an old primary restarted as the promoted
// node's standby while that node is down, starting from its own log without that node's
// writes) makes it say so once at Error and wait for that node; unless that grant was
// released (session 52: its grantee gave it up after its promotion failed, before writing
// anything, and told the witness: see witness.go's Releases), when the probe compares the
// node's epoch with the highest epoch whose grantee may have written instead (a grant
// not released counts as written, so a release lost on the way, or a witness before
// session 52, changes nothing). A probe that gets no
// answer (unreachable, timed out, an untrusted reply) asks for nothing on that tick: the
// acquisition, a request of its own, could reach the witness when the probe did not and
// be granted to such a node; only a witness that does not answer probes at all (before
// session 39) leaves the decision to the lease. A standby that joins its
// primary after its start (started unaligned) stores and takes the primary's epoch then,
// as the alignment at start does (Node.adoptPrimaryEpoch): it follows that primary. A
// primary whose log failed stops renewing and fences itself, so that its standby takes
// over as from a dead primary (the process stays up, refusing writes, to say why). A
// promotion that fails once decided (the new epoch cannot be stored: a full disk, a
// read-only directory; or it is above shard.EpochMax) changes nothing: the node follows
// its primary again, logs the failure at Error, and (automatic failover) tries again
// every quarter lease while its primary stays lost. A retry renews the lease granted to
// the failed promotion, so it does not wait for that lease to run out (the witness gives
// a live lease by acquisition to nobody, not even to a node of its holder's name), at most
// failedPromotionsPerGrantMax times: then it stops renewing (logged at Error) and asks
// nothing for releasedGrantHoldOffLeases leases, so that a disk that stays broken does not
// keep the lease from the other node, which may take it once it ran out (safe: no shard
// of this node switched, and its next attempt acquires afresh). It releases the grant at
// the witness first (which ends its lease at once), and the failover watch sends a release
// that got no answer again at each tick before anything else. A promotion that may
// have left the epoch file ahead of the node (the store failed after
// its rename and putting the old epoch back failed too: ErrEpochFileAhead) stops the node
// instead (fenced, no longer following, Err set, logged at Error): restarted, it would
// greet its live primary with the file's epoch and fence it.
//
// # A primary that hangs
//
// A stopped process (SIGSTOP, a VM paused, a stuck disk) keeps its connections open, so
// nothing breaks to say it is gone. The standby does not wait for its stream's silence
// timeout: it asks the witness as soon as it has heard nothing from its primary for a
// whole lease (the primary heartbeats every quarter lease), and every wait of the
// follower (stream, dial, handshake, back-off) ends at once on promotion, so a hung
// primary is replaced in about one lease, as a dead one is. When the hung primary
// resumes, its lease has expired: its release path (leaseClock, checked by
// Primary.Acknowledged) releases nothing on its own durability from the moment the lease
// ran out, whatever order its goroutines resume in, nor answers a read from its state
// (Primary.ReadsAllowed, the shard's ReadGate: the new primary may have acknowledged
// writes it never saw), and the lease goroutine fences it; what the standby had
// acknowledged is on the new primary too. Without a witness, the
// promoted node's fence retries reach it about a second after it resumes.
//
// # Sync mode, degradation and promotion
//
// A primary with no standby acknowledging waits for one (replies are not released)
// unless DegradeAfter is set: then, after that long, it releases on local durability (a
// loss window, logged, counted, and shown by /healthz) until a standby attaches and has
// acknowledged everything written before it attached. "Acknowledging" is about frames
// actually arriving, since a hung standby keeps its connection open: the standby sends
// its positions every standbyHeartbeatInterval, and one not heard from for
// standbySilenceMax, or whose acknowledgement does not advance for that long while
// entries wait for it, is not counted as attached (Stats.Attached, readiness) and the
// DegradeAfter clock runs from then; on degrading, the primary drops its connection so
// that it re-attaches and catches up like any returning standby. A node promoted after its primary
// died starts in that degraded state (there is no standby yet) and returns to sync the
// same way when the old primary rejoins.
//
// Lag in bytes (PrimaryStats.LagBytes, sequent_replication_lag_bytes): the entry bytes the
// primary's log holds after the acknowledged op. An acknowledgement names an op, not a
// place in the log, so the sender records where each entry it sends ends (lag_bytes.go:
// sentEndRing, pushed by the sender and popped by the ack reader, both under waitMutex,
// at most sentEndsMax) and the acknowledgement takes its op's end from there; Stats then
// sums the segment index after it (wal.Log.StoredBytesAfter, no I/O). An op whose end
// was not recorded (acknowledged before the session sent anything, or beyond the ring)
// counts its whole segment until a later acknowledgement finds its end. Both lags count
// from acked, or from less while a standby that attached holding less than acked (a
// rebuilt or replaced one) catches up to it (Primary.lagOp).
//
// # Goroutines
//
// Primary: the gate's accept loop and one goroutine per connection; per group, one sender
// per attached standby (owns the connection writer) plus its ack reader, and a
// degradation watchdog; the sender follows the group's log through a wal.Tail, whose
// bounded queue the log's writer goroutine feeds. Standby: per group, the follow loop
// (reads frames, hands entries to the shard's sequencer through shard.Replicate) and an
// ack sender woken by the log's durable subscription. With a witness: the lease renewer
// (primary) or the failover watch (standby, which also probes the witness while its
// primary lives and its ratchet is down or its witness pinned); after a promotion, one fencing attempt.
// Whichever of them (or a promotion) receives the first signed witness answer raises the
// signed-replies ratchet in memory and starts the marker's writer, a goroutine of the
// ratchet's own (one at a time, under the ratchet's mutex, never the node's), so that
// neither a renewal nor a promotion waits for the disk; Close waits for it after the
// others, since only they start it.
// Node's mutex serializes role changes; it is not held across a request to the witness
// (since session 53: Status and the followers must not wait for a witness that hangs):
// witnessTurn serializes the node's decisions at the witness instead (a promotion's
// release, acquisition or renewal, a grant given up, the watch's resend of a release),
// and what they decided on is checked again under the mutex once the answer is in.
// Node.Close first ends the node's lifetime
// context, which every network wait watches (dials, handshakes, witness and fence calls,
// even a promotion's witness call), then marks the node closed
// under the mutex (a promotion waiting for the followers to stop then gives up with
// ErrNodeClosed) and waits for every one of these goroutines before closing the shard
// and the logs. OpenNode's context ends a standby's wait for its primary at start.
//
// # Link frames
//
// A 32-byte header (magic "SQRP", version, type, epoch, body length, CRC32C over header
// and body) and a body, described in frame.go and messages.go.
package replication
