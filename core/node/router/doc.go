// Package router is the deterministic heart of a sharded node: it splits client requests
// by the shard map and merges their parts' replies, and it drives the sagas of cross-shard
// transfers by moving their messages between shards. The design (why and what) is in
// package node's doc; this is how.
//
// # Shape
//
// A Router has no goroutines and reads no clock: time arrives with Tick. It talks to the
// shards through Shards (Submit, SubmitInternal: never blocking), to other shards' routers
// through Transport, and to clients through a backend.Replier. The shards call Deliver with
// their released replies and Released with their released saga messages, in that order
// for each entry. Everything runs under one mutex; the Router calls Transport.Send and
// Replier.Deliver only after unlocking (so an in-process transport may call Receive back
// at once). Replies to requests that went through unchanged (pass-through) are forwarded
// without the lock.
//
// The same code runs in the node (package node, real shards and goroutines) and in this
// package's deterministic simulation (simulated shards, logs and transport, one goroutine,
// seeded faults), which is why nothing here may depend on map iteration order.
//
// # Connection ids
//
// Client connection ids must lie below ClientConnectionLimit (2^62): a pass-through keeps
// the client's id. Parts, saga lookups and outbox polls get ids from ClientConnectionLimit
// up, so Deliver tells the router's own replies from clients' by the id alone.
//
// # Requests, split and merged
//
// See package node. The merged reply's request status is ok when every part's is; else,
// with no body, the status mergedStatus picks: outcome_unknown for a write some part of
// which may be applied while another was refused or is of unknown outcome (the client
// resends it until a definite answer comes); request_too_old or request_number_reused
// when a shard said so (final: a resend would get it again, so the client looks the ids
// up); else the most telling refusal. Op is the highest part op; Duplicate is set when
// every part was answered from a session cache.
//
// A part refused busy after an earlier part of its request was queued is held and
// resubmitted at each Tick; until it is queued, later writes of its session for its shard
// wait behind it (refused busy, or held in order), so a session's writes apply on each
// shard in the order the node accepted them (router.go, hold).
//
// # Sagas
//
// Released Credit and Decision messages go to the Transport at once. Received ones become
// saga_credit and saga_finish requests (batched per shard, connection 0: nobody waits;
// a refused one, busy say, is dropped, because the debit shard re-sends). Finished
// messages complete the client requests waiting for them. Every OutboxInterval each shard
// is asked for its running sagas (saga_outbox, released after durability): their Credit
// is sent again when not sent for SagaResendAfter, as an abort once the saga has run
// SagaTimeout since the later of its step 1 and the first answer to its shard's outbox
// poll (a restart builds a new router, and a sync primary answers nothing until its
// standby has caught up, so the time the node was down, or waited for its standby, does
// not count) — since step 1 alone for a promoted standby's router (SagaTimeoutFromStep1:
// its logs may lack an abort the old primary answered, which only the step 1 rule
// repeats, so a failover longer than the timeout ends the sagas it interrupted), and the
// summary's lowest running saga becomes the watermark sent to the other shards
// (saga_forget). Whether to abort is the router's choice, by its clock, and travels as
// the Credit's abort flag into the credit shard's log: replay reads the flag, never a
// clock, so this rule may change without a rules version. Waiting requests whose saga
// result has not arrived ask for it again (saga_lookup) every SagaResendAfter, which
// covers any lost message or restarted shard.
package router
