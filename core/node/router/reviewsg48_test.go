package router

import (
	"testing"

	"sequent/core/model"
)

// TestAsyncFailoverAfterATimeoutKeepsTheAnswer: an async failover that keeps a saga's
// step 1 but loses what followed it (its credit shard's abort decision, its void) must
// not move the money of a transfer its client was already answered saga_timed_out
// ("nothing moved; send it again under a new id": a client that does so would pay
// twice). Transfer X (a on shard 0 to b on shard 1): its Credits are lost for longer
// than the saga timeout, so the router aborts it; shard 1 decides saga_timed_out, shard
// 0 voids X and the client is answered 86. The failover then keeps shard 0's log up to
// step 1 and shard 1's from before any Credit of X (each shard's async standby trails on
// its own: the abort and the void are the most recent entries, the ones a trailing
// standby lacks), and a new router starts. With the router's rule before session 48
// (abort once step 1 is SagaTimeout old) the new router asks shard 1 to abort X again:
// refused again, the answer holds. With saga48's rule (SagaTimeout from the later of
// step 1 and the router's first Tick) the new router sends X's Credit as a plain one:
// shard 1 credits b, shard 0 posts X, and the transfer its client was told had moved
// nothing has moved.
func TestAsyncFailoverAfterATimeoutKeepsTheAnswer(t *testing.T) {
	sim := newSimulation(t, 4_848, 2)
	sim.setup(24)
	client := sim.clients[0]
	var debit, credit model.Uint128
	for i, id := range sim.accounts {
		if debit.IsZero() && sim.ownerOf[id] == client.id && !sim.limited[id] &&
			sim.placement.AccountShard(id, 1) == 0 && sim.ledgerOf[id] == 1 {
			debit = id
		}
		// Account i has credits_must_not_exceed_debits when i%5 == 4 (setup).
		if credit.IsZero() && i%5 != 4 && sim.placement.AccountShard(id, 1) == 1 &&
			sim.ledgerOf[id] == 1 {
			credit = id
		}
	}
	if debit.IsZero() || credit.IsZero() {
		t.Fatal("no debit account of client 1 on shard 0 or credit account on shard 1")
	}
	shard0, shard1 := sim.shards[0], sim.shards[1]
	for _, s := range sim.shards {
		s.makeDurable(true)
	}
	x := model.Transfer{ID: model.U128(4_848_001), DebitAccountID: debit,
		CreditAccountID: credit, Amount: model.U128(10), Ledger: 1, Code: 1}
	body := make([]byte, model.TransferSize)
	x.Encode(body)
	number := client.next
	sim.request(client, model.OperationCreateTransfers, 0, body, []model.Transfer{x})
	// Every message between the shards is lost until X is older than the saga timeout:
	// step 1 is durable on shard 0, shard 1 hears nothing of X.
	started := sim.now
	for sim.now < started+2*sim.sagaTimeout {
		sim.now += 10 * simMillisecond
		for _, s := range sim.shards {
			s.turn()
			s.makeDurable(true)
		}
		sim.messages = nil
		sim.router.Tick(sim.now)
	}
	if running := shard0.machine.Sagas().Summary().Running; running != 1 {
		t.Fatalf("shard 0 runs %d sagas, want X's", running)
	}
	// What each shard's standby holds at the failover: shard 0 X's step 1, shard 1
	// nothing of X.
	kept0, kept1 := len(shard0.log), len(shard1.log)
	saga48Settle(sim)
	final, ok := sim.finals[[2]uint64{client.id, number}]
	if !ok || final.status != model.StatusOK || len(final.body) != model.EventResultSize ||
		eventStatus(final.body) != model.StatusSagaTimedOut {
		t.Fatalf("X answered %+v, want saga_timed_out", final)
	}
	// The async failover: each shard keeps its standby's entries only (no snapshot
	// beyond them), and the node restarts.
	for _, cut := range []struct {
		shard *simShard
		kept  int
	}{{shard0, kept0}, {shard1, kept1}} {
		cut.shard.snapshot, cut.shard.snapOp, cut.shard.snapLog = nil, 0, 0
		cut.shard.durable = cut.kept
		cut.shard.crash()
	}
	sim.messages = nil
	sim.promoted = true // The failover's new router is a promoted standby's.
	sim.newRouter()
	saga48Settle(sim)
	for account := range shard1.machine.Ledger().Accounts() {
		if account.ID == credit && !account.CreditsPosted.IsZero() {
			t.Fatalf("after the failover b was credited %s: X, answered saga_timed_out "+
				"(nothing moved) before it, moved after it", account.CreditsPosted)
		}
	}
	for account := range shard0.machine.Ledger().Accounts() {
		if account.ID == debit && !account.DebitsPosted.IsZero() {
			t.Fatalf("after the failover a was debited %s: X, answered saga_timed_out "+
				"(nothing moved) before it, moved after it", account.DebitsPosted)
		}
	}
}
