package router

import (
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/saga"
	"sequent/core/shardmap"
)

// TestSagaTimeoutCountsFromWhenTheRouterServes: a saga's Credit turns into an abort once
// the saga has run SagaTimeout while this router serves: from the later of its step 1 and
// the first answer to its shard's outbox poll (the first Tick's poll, answered at once,
// here; TestSagaTimeoutCountsFromTheFirstAnsweredPoll answers it late). A restart or failover builds a new router, so a saga that one
// held longer than SagaTimeout is credited, not refused saga_timed_out (it used to be
// aborted at the first poll after such a restart), and a saga whose credit shard never
// answers still ends, SagaTimeout after the router began to serve; a saga started while
// the router serves times out as before, SagaTimeout after its step 1.
func TestSagaTimeoutCountsFromWhenTheRouterServes(t *testing.T) {
	const second = uint64(1_000_000_000)
	step1 := 1_000 * second
	for _, test := range []struct {
		name    string
		started uint64 // The router's first Tick, its poll answered at once.
		poll    uint64 // When the outbox lists the running saga.
		abort   bool   // Whether the Credit that poll sends is an abort.
		// promoted: the router is a promoted standby's (Config.SagaTimeoutFromStep1),
		// which counts from step 1 alone.
		promoted bool
	}{
		{"restarted 12 s after step 1, first poll", step1 + 12*second,
			step1 + 12*second + OutboxIntervalDefault, false, false},
		{"restarted 12 s after step 1, 10 s later less 1 ns", step1 + 12*second,
			step1 + 22*second - 1, false, false},
		{"restarted 12 s after step 1, 10 s later", step1 + 12*second, step1 + 22*second, true, false},
		{"restarted 10 s after step 1, first poll", step1 + 10*second,
			step1 + 10*second + OutboxIntervalDefault, false, false},
		{"restarted 1 s after step 1, 10 s after step 1", step1 + second, step1 + 10*second,
			false, false},
		{"restarted 1 s after step 1, 10 s later", step1 + second, step1 + 11*second, true, false},
		{"serving before step 1, 10 s after it less 1 ns", step1 - second,
			step1 + 10*second - 1, false, false},
		{"serving before step 1, 10 s after it", step1 - second, step1 + 10*second, true, false},
		{"started at step 1, 10 s after it", step1, step1 + 10*second, true, false},
		{"promoted 12 s after step 1, first poll", step1 + 12*second,
			step1 + 12*second + OutboxIntervalDefault, true, true},
		{"promoted 1 s after step 1, 10 s after step 1 less 1 ns", step1 + second,
			step1 + 10*second - 1, false, true},
		{"promoted 1 s after step 1, 10 s after step 1", step1 + second, step1 + 10*second,
			true, true},
	} {
		shards, transport := &recordingShards{}, &recordingTransport{}
		r, err := New(Config{Map: shardmap.Hashed(2), Shards: shards, Transport: transport,
			Replier: discardReplier{}, SagaTimeoutFromStep1: test.promoted})
		if err != nil {
			t.Fatal(err)
		}
		// pollAt ticks at now and returns the outbox poll of shard 0 that tick made.
		pollAt := func(now uint64) *backend.Request {
			polled := len(shards.submitted)
			r.Tick(now)
			for j := range shards.submitted[polled:] {
				if sub := &shards.submitted[polled+j]; sub.shard == 0 &&
					sub.request.Operation == model.OperationSagaOutbox {
					return &sub.request
				}
			}
			t.Fatalf("%s: at %d ns: shard 0's outbox not asked", test.name, now)
			return nil
		}
		// The first Tick's poll finds the outbox empty (answered before step 1, or before
		// the log's recovery gave the shard its sagas back).
		empty := make([]byte, model.SagaOutboxSummarySize)
		(&saga.OutboxSummary{Next: 5, Lowest: 5}).Encode(empty)
		r.Deliver(0, []backend.Reply{{Connection: pollAt(test.started).Connection,
			Operation: model.OperationSagaOutbox, Status: model.StatusOK, Body: empty}})
		credit := saga.Credit{Transfer: model.Transfer{ID: model.U128(9), Timestamp: step1},
			Sequence: 5, From: 0, To: 1}
		body := make([]byte, model.SagaOutboxSummarySize+model.SagaCreditSize)
		(&saga.OutboxSummary{Next: 6, Lowest: 5, Running: 1}).Encode(body)
		credit.Encode(body[model.SagaOutboxSummarySize:])
		poll := pollAt(test.poll) // Answered by shard 0's outbox, which lists the saga.
		sent := len(transport.messages)
		r.Deliver(0, []backend.Reply{{Connection: poll.Connection,
			Operation: model.OperationSagaOutbox, Status: model.StatusOK, Body: body}})
		var credits []saga.Credit
		for _, message := range transport.messages[sent:] {
			if message.Kind == saga.MessageCredit {
				credits = append(credits, message.Credit)
			}
		}
		if len(credits) != 1 || credits[0].Sequence != 5 {
			t.Fatalf("%s: credits sent %+v, want saga 5's", test.name, credits)
		}
		if credits[0].Abort != test.abort {
			t.Fatalf("%s: poll at %d ns after step 1 (router from %d ns): abort %v, want %v",
				test.name, int64(test.poll-step1), int64(test.started-step1), credits[0].Abort,
				test.abort)
		}
	}
}

// saga48Settle runs the simulation without faults until every client has its answer and
// no saga runs, without checking the invariants after each round (an async failover's
// loss leaves a settlement pair's credit shard ahead of its debit shard for good).
func saga48Settle(sim *simulation) {
	for round := 0; round < 2_000; round++ {
		sim.now += 10 * simMillisecond
		for _, s := range sim.shards {
			s.turn()
			s.makeDurable(true)
		}
		for len(sim.messages) > 0 {
			sim.deliverMessage()
		}
		sim.router.Tick(sim.now)
		if sim.idle() {
			return
		}
	}
	sim.t.Fatalf("not quiescent after 2,000 rounds: %s", sim.describe())
}

// TestAsyncFailoverKeepsTheCreditLosesTheDebit produces README's async case "a failover
// may keep a cross-shard transfer's credit while losing its debit", which no kill run
// had produced: each shard replicates its own log, so an async standby may hold shard
// 1's step 2 of a saga and lack shard 0's step 1. Transfer X (a on shard 0 to b on shard
// 1) completes and is acknowledged ok; the failover then keeps shard 1's whole log and
// cuts shard 0's back to before X (a new router: the node restarts whole). What happens,
// pinned:
//   - X is gone from shard 0 (a is not debited, no X), while b keeps X's credit: the
//     pair 0→1 is ahead on its credit side by X's amount, which reconcile reports as a
//     broken pair (Check) — the loss window, visible to an operator, never healed;
//   - shard 0 numbers its next saga (Y) as X's; shard 1 had forgotten X's decision (the
//     watermark passed it before the failover) and answers that Credit from its ledger.
//     When Y differs from X in more than its id (another amount), the credit held is not
//     Y's: Y ends saga_decision_unknown and nothing moves. When Y is X but for its id,
//     the credit held is taken as Y's: Y is answered ok and posted on shard 0, b is not
//     credited again, and the pair nets to zero (X's lost debit became Y's);
//   - the saga after it (Z) is new on both sides and completes.
func TestAsyncFailoverKeepsTheCreditLosesTheDebit(t *testing.T) {
	t.Run("Y of another amount", func(t *testing.T) { saga48AsyncLoss(t, 3) })
	t.Run("Y as X but its id", func(t *testing.T) { saga48AsyncLoss(t, 10) })
}

// saga48AsyncLoss is TestAsyncFailoverKeepsTheCreditLosesTheDebit with Y of amountY
// (X's amount is 10; every other field of Y but its id is X's).
func saga48AsyncLoss(t *testing.T, amountY uint64) {
	sim := newSimulation(t, 48, 2)
	sim.setup(24)
	client := sim.clients[0]
	var debit, credit model.Uint128
	for i, id := range sim.accounts {
		owned := sim.ownerOf[id] == client.id
		if debit.IsZero() && owned && !sim.limited[id] && sim.placement.AccountShard(id, 1) == 0 &&
			sim.ledgerOf[id] == 1 {
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
	transfer := func(c *simClient, id uint64, from, to model.Uint128, amount uint64) model.Status {
		t.Helper()
		x := model.Transfer{ID: model.U128(id), DebitAccountID: from, CreditAccountID: to,
			Amount: model.U128(amount), Ledger: 1, Code: 1}
		body := make([]byte, model.TransferSize)
		x.Encode(body)
		number := c.next
		sim.request(c, model.OperationCreateTransfers, 0, body, []model.Transfer{x})
		saga48Settle(sim)
		final, ok := sim.finals[[2]uint64{c.id, number}]
		if !ok || final.status != model.StatusOK || len(final.body) != model.EventResultSize {
			t.Fatalf("transfer %d: no final ok reply (%+v)", id, final)
		}
		return eventStatus(final.body)
	}
	// The shard 0 log the async standby holds: everything up to here.
	shard0 := sim.shards[0]
	shard0.makeDurable(true)
	kept := len(shard0.log)
	if status := transfer(client, 480_001, debit, credit, 10); status != model.StatusOK {
		t.Fatalf("X answered %s, want ok", status)
	}
	// A few polls more: shard 0's watermark reaches shard 1 (saga_forget), as it would
	// long before a failover.
	for range 5 {
		saga48Settle(sim)
		sim.now += 100 * simMillisecond
		sim.router.Tick(sim.now)
	}
	saga48Settle(sim)
	if kept := sim.shards[1].machine.Sagas().Decisions(); kept != 0 {
		t.Fatalf("shard 1 keeps %d decisions: X's was not forgotten", kept)
	}
	if err := sim.reconcile().Check(true); err != nil {
		t.Fatalf("before the failover: %v", err)
	}
	// The async failover: shard 1 keeps its whole log, shard 0 only its first kept
	// entries (recovered from them alone), and the node restarts.
	shard0.snapshot, shard0.snapOp, shard0.snapLog = nil, 0, 0
	shard0.durable = kept
	shard0.crash()
	sim.shards[1].crash()
	sim.messages = nil
	sim.newRouter()
	balance := func(shard int, id model.Uint128) model.Balance {
		t.Helper()
		for account := range sim.shards[shard].machine.Ledger().Accounts() {
			if account.ID == id {
				return account.Balance()
			}
		}
		t.Fatalf("account %s not on shard %d", id, shard)
		return model.Balance{}
	}
	debitBefore, creditBefore := balance(0, debit), balance(1, credit)
	if !debitBefore.DebitsPosted.IsZero() || creditBefore.CreditsPosted != model.U128(10) {
		t.Fatalf("after the failover: a %+v, b %+v; want a without X's debit, b with its "+
			"credit of 10", debitBefore, creditBefore)
	}
	err := sim.reconcile().Check(false)
	if err == nil {
		t.Fatal("after the failover the pair 0→1 passes reconcile's check: its credit side " +
			"should be ahead by X's 10")
	}
	t.Logf("reconcile after the failover: %v", err)
	status := transfer(client, 480_002, debit, credit, amountY)
	if amountY != 10 {
		if status != model.StatusSagaDecisionUnknown {
			t.Fatalf("Y, numbered as the lost X, answered %s, want saga_decision_unknown", status)
		}
		if got := balance(0, debit); got != debitBefore {
			t.Fatalf("Y moved a: %+v, before %+v", got, debitBefore)
		}
		if got := balance(1, credit); got != creditBefore {
			t.Fatalf("Y moved b: %+v, before %+v", got, creditBefore)
		}
	} else {
		// Shard 1's ledger holds a step 2 under Y's saga number with every field Y's
		// would have (the credit transfer's id is the saga's, not X's): Y is answered
		// credited from it, posted on shard 0, and b is not credited again. The pair nets
		// to zero again: X's lost debit is now Y's.
		if status != model.StatusOK {
			t.Fatalf("Y, as X under its saga number, answered %s, want ok", status)
		}
		if got := balance(0, debit).DebitsPosted; got != model.U128(10) {
			t.Fatalf("a debited %s, want Y's 10", got)
		}
		if got := balance(1, credit); got != creditBefore {
			t.Fatalf("Y credited b again: %+v, before %+v", got, creditBefore)
		}
		if err := sim.reconcile().Check(true); err != nil {
			t.Fatalf("after Y: %v", err)
		}
	}
	if status := transfer(client, 480_003, debit, credit, 4); status != model.StatusOK {
		t.Fatalf("Z answered %s, want ok", status)
	}
	if got := balance(1, credit).CreditsPosted; got != model.U128(14) {
		t.Fatalf("b credited %s in all, want 14 (X's 10 kept, Z's 4)", got)
	}
}
