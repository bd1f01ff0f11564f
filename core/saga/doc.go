// Package saga is the deterministic half of cross-shard transfers: the saga table of a
// shard (the sagas it started as debit shard, the decisions it took as credit shard), the
// steps applied from the log, the records those steps travel in, and the messages they
// imply. core.Machine owns one Book and calls it from Apply and Query; the node's router
// (node/router) carries the messages between shards. The design, the alternatives and the
// reasons are in package node's doc; this is the mechanism.
//
// # Steps (transfer X of amount v from a on shard A to b on shard B, ledger L)
//
//	A  step 1  Start      pending X: a → S(A→B, L), amount v (balancing_debit may lower
//	                      it to v1, and so may, from rules version 9, balancing_credit
//	                      alone when a is debit-limited or its client may not issue
//	                      there: SetPayerBound, and from version 10 otherwise to half
//	                      of what a's debits and S's credits can take:
//	                      SetHeadroomBound);
//	                      saga seq = A's next; result
//	                      saga_in_flight; message Credit{X, v1, seq} to B
//	B  step 2  Credit     unless (A, seq) was decided or forgotten: transfer C(A, seq):
//	                      S(A→B, L) → b, amount v1 (balancing_credit may lower it to v2),
//	                      or, for an abort, nothing (nor when the Credit says v1 is the
//	                      payer's bound and b would take more: exceeds_credits);
//	                      decision (status, v2, b's balances)
//	                      recorded under (A, seq); message Decision to A (again for every
//	                      copy of the Credit)
//	A  step 3  Finish     if seq still runs: post X with v2 (id P(B, seq)) when B created
//	                      C, else void X (id V(B, seq)); the saga is final; message
//	                      Finished{X, result} to the router
//	B          Forget     drop A's decisions below a watermark; answer older Credits from
//	                      the ledger: created C(A, seq) = credited, else refused
//
// # Ids (all in Sequent's system range, domain byte 0x73 's')
//
//	bit 127 = 1 | bits 112-119 0x73 | bits 104-111 kind | rest:
//	settlement account S(A→B, L):  kind 1, bits 80-95 A, bits 64-79 B, low 64 bits L
//	credit C(A, seq) (on B):       kind 2, bits 80-95 A, low 64 bits seq
//	post P(B, seq), void V(B, seq) (on A): kind 3 / 4, bits 80-95 B, low 64 bits seq
//
// A's sequence numbers only grow, so no id repeats; the matching engine's domain is 0x6d.
// Step 1 alone uses the client's id X: the ledger then keeps X unique on A and answers
// retries, and no client may post or void it (ledger: id_reserved).
//
// # State (part of the machine's snapshot and digest)
//
// Sagas are numbered from 1 per debit shard and kept forever, final ones with their
// result (what a retry or a lookup is answered from). Decisions are kept per debit shard
// until that shard's watermark passes them. Everything is stored in slices in log order
// and found through maps that are never iterated.
//
// # Records (little-endian; the bodies of the saga operations, 90..94)
//
//	Credit (160):   transfer 128 (the client's, amount = v1, timestamp = step 1's) |
//	                seq u64 | from u16 | to u16 | flags u16 (bit 0 abort, bit 1 payer
//	                bound: amount is what the payer may pay, rules version 9 on; a
//	                record with bit 1 set is skipped below version 9) | 2 zero |
//	                client u64 (who sent the transfer) | 8 zero
//	Decision (128): seq u64 | from u16 (credit shard) | to u16 | status u32 |
//	                amount u128 | credit balances 64 | timestamp u64 |
//	                transfer u128 (the client's id X; zero before it was added) | 8 zero
//	Forget (16):    from u16 (debit shard) | 6 zero | below u64
//	State (160):    id u128 | phase u32 (0 unknown, 1 running, 2 final) | status u32 |
//	                timestamp u64 | debit balances 64 | credit balances 64
//	OutboxQuery (16): after u64 | 8 zero
//	Outbox reply:   summary (next u64 | lowest running u64 | running u64 | 8 zero) then
//	                up to SagaOutboxPageMax Credit records of running sagas, by seq
package saga
