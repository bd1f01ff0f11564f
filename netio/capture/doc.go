// Package capture is Sequent's change data capture: every committed event of a shard
// (package event) published to a NATS JetStream stream exactly once, in op order, as
// versioned JSON (schema.go documents it; SchemaVersion).
//
// # Why in the node, not a separate follower process
//
// Events need the state machine: they are a function of the log and the state before
// each entry. The node has both, and its release already hands every committed entry's
// events out (core/backend.Consumer), so capture costs one copy of the events per entry
// and no second copy of the state. A separate `sequent cdc` process following a node the
// way a standby does would hold a whole second state machine all the time and need a
// second attached follower on the primary. Here the second machine exists only while
// capture rebuilds what it missed. Both nodes of a pair run capture; only the primary
// publishes, the standby watches the stream (to hold the log its successor will need)
// and takes over on promotion, from the last event the stream holds.
//
// # Exactly once
//
// Each message carries Nats-Msg-Id = shard:op:index:epoch (the event's name; epoch is
// that of the primary that wrote the log entry, so a replicated entry's events have the
// same name on every replica: JetStream drops a second message with that id within its
// duplicate window) and Nats-Expected-Last-Sequence = the stream's sequence before it,
// so a second writer (a deposed primary) or a stream that lost messages fails the
// publish instead of forking the history. Each also carries Nats-Expected-Last-Msg-Id =
// the previous message's id (a session's first: the stream's last message's as read,
// when it holds one): with many messages in flight, the sequence alone would let the one
// expecting exactly the sequence a second writer moved the stream to be stored after
// that writer's, without its predecessors, and a stream made again with first_seq one
// past the old last sequence take a session's first message as its own first. After any
// failure, a restart or a promotion,
// publishing resumes from the last message the stream holds: its id says which event
// comes next. A publisher checks Serving before every message, so a fenced or demoted
// primary (which may hold released entries its successor lacks) stops at once; an idle
// one leaves its live session at its next poll and watches the stream as a standby.
//
// # Divergence (divergence.go)
//
// In async mode, or after a primary degraded and released alone, a failover may discard
// entries whose events were already published: the new primary writes other entries at
// those ops. (op, epoch) names one entry (one primary per epoch), so at the start of a
// primary's session capture checks the stream's last event, or capture_gap (which names
// the entry at its op the same way: shard:op:gap:epoch), against its log; if the log
// holds another entry there (or none), it walks back to the newest message it holds,
// publishes capture_superseded (shard:op:index:superseded:epoch, with from_op, to_op,
// superseded_epoch: "those published ops never happened") and resumes after that event,
// publishing its own history under ids the voided ones cannot shadow (the marker's own id
// repeats only when this node voids the same history again, after the stream lost the
// marker: JetStream answers it as that marker's duplicate, which places the position
// after it). A last message of a newer epoch than the node's means it was deposed: it
// publishes nothing. A capture_gap without an epoch (written before gaps had one, or
// when its publisher's log and snapshots no longer named the entry at its op) cannot be
// checked and counts as agreeing, as a schema-1 event or a retired op does.
//
// # Falling behind, catching up, retention
//
// Consume copies into a bounded queue and never blocks the sequencer. When NATS is down
// or slow the queue fills, capture drops the live events and later rebuilds them: it
// restores the newest snapshot before the stream's position, replays the log through a
// wal.Tail with its own machine (identical events), publishes what the stream lacks, and
// joins the live queue where it starts. The shard keeps the log and that snapshot from
// retirement (Capture is a backend.LogHold) up to Config LogHoldBytesMax of the shard
// (`--cdc-retain-bytes`); beyond it the segments go anyway, and capture publishes a
// capture_gap message (id shard:op:gap:epoch, "from_op", "to_op", "epoch": of the entry
// at op, from the log, or the snapshot at op when the log lacks it) naming the ops
// whose events are lost, then resumes from the oldest snapshot the log continues. Only
// those count: a
// snapshot older than the log's first op less one (a leftover of the node's life before
// it was rebuilt from a newer snapshot) cannot be replayed from, so it is neither
// restored nor held. When every snapshot the log continues is damaged (its file, or a
// state that does not decode), nothing before the live queue can be rebuilt: capture
// publishes capture_gap up to the queue's first op and follows the queue (skipToLive: the
// rest of the last op stored, if it was stored in part, is lost with a warning, as on a
// promotion below; warned of once, and not when this node stored that op whole itself); a snapshot that could not be opened (an I/O error, out of file
// descriptors) is tried again instead. A log that starts right after the stream's last op
// (a standby bootstrapped from a snapshot there, then promoted) lost no later op: capture
// resumes from that snapshot without a gap message. Only the rest of that last op cannot
// be rebuilt (there is no state before it): if the old primary stored its events in part,
// the others are lost with a warning in the log and no message to consumers (the stream
// cannot tell a partly stored op from a complete one, and a gap message for every such
// promotion would be a false alarm). A stream that lost its last message (a purge, a
// deletion, a max age: JetStream keeps the last sequence, not the message; capture reads
// messages from the stream itself, never by direct get, which a replica or mirror
// trailing the stream answers "not found" for its newest) has no position: a session that
// finds it so publishes capture_gap from the op of the newest message left (op 1 when
// none is) through the released op and resumes after that op (publishLostPosition;
// nothing when the newest message left is a capture_gap through the released op: nothing
// can be missing, and a second marker would have its id; when the stream lost that marker
// too, within the duplicate window, JetStream answers the new one as its duplicate, which
// places the position after it: the marker was the lost last message, or an old primary's
// before an async failover onto a node whose released op it reaches; nothing either when
// the newest message left is of a history the node does not share: its capture_superseded
// places the position, and the lost messages, coming after a discarded one, were of that
// history too, so the node publishes its own events after the marker). Resuming after the
// newest message left would publish the removed events again, which the duplicate window
// drops (every session would fail the same way) or consumers get twice; the marker names
// them, and the events released but not yet stored then, instead. After a restart the
// shard counts the ops it recovered released only once its release covers them (in sync
// mode, once the standby acknowledged them; core/shard), and the previous process may
// have published their events: the session settles a lost position only once the
// released op reaches them (Config.RecoveredOp), or its marker would stop short of them
// and their events would go out again as duplicates. On a node primary since it started,
// or after that wait, the marker goes no further than the recovered op or the last op
// this capture sent before, if later: nobody published the ops released after them (in
// the log, held for capture), so they follow the marker instead of being named lost; a
// promoted standby's released op may count its primary's publications, and bounds the
// marker alone. A session already running keeps its own position and does not notice
// (JetStream keeps the last sequence). A stream deleted and made again does not keep it,
// or has another creation time: a publisher with nothing in flight reads both about once
// a second (streamMoved) and, finding another than it expects, ends its session; the
// next one fills the stream again from the log (a stream made with first_seq and never
// written reads as empty) and counts the ops it republishes as lag. A standby watching a
// stream that lost its last message holds the log after the newest message left that its
// log agrees with (all of it when none is). Nothing beyond the shard's released op is
// ever published, so no consumer sees an event a failover could undo (in sync mode; in
// async mode the documented loss window applies to capture too, and what it voids is
// announced by capture_superseded).
//
// Capture's progress (its lag metric, HandledOp) is the last op whose events are all in
// the stream: the op before the last event stored (that op may have more events in
// flight), the op of an entry's last event once it is stored, a capture_gap's op (it
// settles the whole op) once stored or checked, and beyond it, once the publisher is
// idle, every op consumed, since many entries produce no event (refused requests,
// set_grants, pulses, snapshot markers). Its lag in seconds is the age of the oldest
// event released and not yet in the stream (at most), on the process's monotonic clock:
// a step of the wall clock neither shows as lag nor hides any. A standby only watches:
// its lag is 0, and once promoted it counts from the release of the oldest event it
// released that the stream lacked at its last poll (its entry's timestamp, read against
// the wall clock when the entry is released, or the standby's own release when that is
// earlier: at most 10 ms early while the stream trails by less than about 10 s, more
// beyond; a primary's clock behind this node's adds its skew), or from that poll when
// the stream held them all.
// A primary counts the stream's position, as read, only once it has checked it against
// its log (Divergence): until then it may be a discarded history's, and its progress
// and the log it holds (HeldOp: all of it meanwhile, with the oldest snapshot it
// continues when it starts after one) must not follow it. A standby
// holds the log after the last position it read that agrees with its log (the same
// check, read-only): a position beyond its log, or of a history its primary discarded,
// keeps the one before (none yet: all of the log), and is checked again at the next
// poll (a standby trailing its stream under load has received it by then).
//
// # Subjects
//
//	<prefix>.<shard>.ledger.<ledger>.<kind>.<debit account>.<credit account>
//	<prefix>.<shard>.order.<instrument>.<kind>.<client>.<trading account>
//	<prefix>.<shard>.market.<instrument>.<kind>
//	<prefix>.<shard>.capture.gap
//	<prefix>.<shard>.capture.superseded
//
// account_created puts the account's id in both account positions, so
// `sequent.*.ledger.*.*.42.*` and `sequent.*.ledger.*.*.*.42` together are every event of
// account 42. Shard N publishes to the stream <name>_N capturing <prefix>.N.>.
//
// # A node of several shards
//
// A Capture is one shard's: its stream, its position, its log, snapshots and machine for
// rebuilds, its log hold. A node of N shards runs N of them (cmd/sequent), each on its
// own shard's release, with nothing shared but the NATS URL and names: one whose stream
// refuses or lags never delays another, and none delays its shard (Consume drops into a
// rebuild). Nothing orders events across shards: each stream is in its shard's op order,
// and a cross-shard transfer shows as its saga's steps in the streams of both shards (the
// README's "A node of several shards" lists them). Ids begin with the shard, so they are
// unique across a node's streams.
//
// # Goroutines
//
// Consume: the shard's sequencer. Everything else (NATS, rebuilds): one publisher
// goroutine per Capture, which also reads the acknowledgements (the NATS client's reader
// hands them to the session's reply channel; ack.go). Stats, HeldOp, ConsumerStats: any
// goroutine.
package capture
