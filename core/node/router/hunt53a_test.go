package router

import (
	"bytes"
	"context"
	"math"
	"math/big"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"sequent/core"
	"sequent/core/model"
	"sequent/tools/clearing"
)

// hunt53aSetup is a node of two shards with accounts 100.. of ledger 1 (hash placement)
// whose only client is the operator; it returns two accounts on shard 0 and one on
// shard 1.
func hunt53aSetup(t *testing.T) (sim *simulation, local0, other0, remote model.Uint128) {
	sim = newSimulation(t, 53, 2)
	var body []byte
	var on0, on1 []model.Uint128
	for i := range 16 {
		account := model.Account{ID: model.U128(uint64(100 + i)), Code: 1, Ledger: 1}
		body = append(body, make([]byte, model.AccountSize)...)
		account.Encode(body[len(body)-model.AccountSize:])
		if sim.placement.AccountShard(account.ID, 1) == 0 {
			on0 = append(on0, account.ID)
		} else {
			on1 = append(on1, account.ID)
		}
	}
	if len(on0) < 2 || len(on1) < 1 {
		t.Fatalf("placement: %d accounts on shard 0, %d on shard 1", len(on0), len(on1))
	}
	client := sim.clients[0]
	sim.grant([]model.Grant{{Client: client.id, Scopes: model.ScopeOperator}})
	sim.request(client, model.OperationCreateAccounts, 0, body, nil)
	sim.quiesce()
	return sim, on0[0], on0[1], on1[0]
}

// transfers sends one request of transfers (results with balances) and returns its
// final per-event results.
func (sim *simulation) hunt53aTransfers(transfers ...model.Transfer) []model.TransferResult {
	body := make([]byte, len(transfers)*model.TransferSize)
	for i := range transfers {
		transfers[i].Encode(body[i*model.TransferSize:])
	}
	client := sim.clients[0]
	sim.request(client, model.OperationCreateTransfers, core.RequestFlagReplyBalances, body, nil)
	number := client.next - 1
	sim.quiesce()
	final := sim.finals[[2]uint64{client.id, number}]
	if final.status != model.StatusOK ||
		len(final.body) != len(transfers)*model.EventResultBalancesSize {
		sim.t.Fatalf("request %d: %s, %d bytes", number, final.status, len(final.body))
	}
	results := make([]model.TransferResult, len(transfers))
	for i := range results {
		results[i].DecodeWithBalances(final.body[i*model.EventResultBalancesSize:])
	}
	return results
}

// TestHunt53aSameCrossShardIDTwiceInOneRequest: a request holding the same cross-shard
// transfer twice answers as one ledger does: the first created, the second exists (or
// exists_with_different_amount when it differs), and the amount moves once.
func TestHunt53aSameCrossShardIDTwiceInOneRequest(t *testing.T) {
	sim, local, _, remote := hunt53aSetup(t)
	x := model.Transfer{ID: model.U128(7), DebitAccountID: local, CreditAccountID: remote,
		Amount: model.U128(10), Ledger: 1, Code: 1}
	changed := x
	changed.Amount = model.U128(11)
	results := sim.hunt53aTransfers(x, x, changed)
	want := []model.Status{model.StatusOK, model.StatusExists,
		model.StatusExistsWithDifferentAmount}
	for i, result := range results {
		if result.Status != want[i] {
			t.Fatalf("event %d: %s, want %s (all: %+v)", i, result.Status, want[i], results)
		}
	}
	if results[0].DebitAccount.DebitsPosted != model.U128(10) ||
		results[0].CreditAccount.CreditsPosted != model.U128(10) {
		t.Fatalf("balances of the created transfer: %+v / %+v", results[0].DebitAccount,
			results[0].CreditAccount)
	}
	// Retried as a whole in a new request: exists for the first two.
	again := sim.hunt53aTransfers(x, x)
	for i, result := range again {
		if result.Status != model.StatusExists {
			t.Fatalf("retry, event %d: %s", i, result.Status)
		}
	}
}

// TestHunt53aEachShardsLogReplaysToItsState: during and after simulated runs with faults
// (shard and node crashes recovered from snapshots and log suffixes, messages lost,
// duplicated and reordered, busy rings), each shard's whole log replayed into a fresh
// machine gives the live machine's state (digest), and so does a restore of the live
// machine's snapshot: a replay, a standby and a restart decide every saga step as the
// shard did, also with sagas in flight (checked every 500 steps, then once quiet).
func TestHunt53aEachShardsLogReplaysToItsState(t *testing.T) {
	running := 0
	for seed := uint64(1); seed <= 3; seed++ {
		sim := newSimulation(t, seed*53, 3)
		sim.setup(24)
		sim.faults = true
		for step := 1; step <= 1_500; step++ {
			sim.step()
			if step%500 == 0 {
				for _, s := range sim.shards {
					running += int(s.machine.Sagas().Summary().Running)
				}
				checkReplays(t, sim, seed)
			}
		}
		sim.quiesce()
		sim.checkFinal()
		checkReplays(t, sim, seed)
	}
	if running == 0 {
		t.Errorf("no saga was in flight at any mid-run check: the test proved little")
	}
}

// checkReplays compares each shard's live machine with its log replayed from the start
// and with its own snapshot restored.
func checkReplays(t *testing.T, sim *simulation, seed uint64) {
	t.Helper()
	for _, s := range sim.shards {
		replayed := core.New(s.config)
		for i := range s.log {
			if err := replayed.Apply(&s.log[i], &core.Output{}); err != nil {
				t.Fatalf("seed %d shard %d: replay of entry %d: %v", seed, s.index, i, err)
			}
		}
		live := s.machine.Digest()
		if replayed.Digest() != live {
			t.Fatalf("seed %d step %d shard %d: the replay of its %d entries differs from "+
				"the live machine", seed, sim.steps, s.index, len(s.log))
		}
		var encoded bytes.Buffer
		if _, err := s.machine.Snapshot().WriteTo(&encoded); err != nil {
			t.Fatal(err)
		}
		restored, err := core.Restore(s.config, &encoded)
		if err != nil {
			t.Fatalf("seed %d shard %d: restore: %v", seed, s.index, err)
		}
		if restored.Digest() != live {
			t.Fatalf("seed %d step %d shard %d: restored from its snapshot, differs", seed,
				sim.steps, s.index)
		}
	}
}

// TestHunt53aShardedNetMatchesOneLedger: settlement netting read through every shard of
// a node (clearing.ShardedReader, the operators' endpoint's reader) over a window holding
// everything gives, per ledger, the credits and debits posted that one ledger holding the
// same transfers gives (tools/clearing's Net: a cross-shard transfer counts once on each
// side, as its debit shard's post and its credit shard's credit). Random transfers of
// two ledgers between partner and other accounts of a node of 2 or 3 shards (hash
// placement: most cross shards), refused ones (ledger mismatches, missing accounts)
// and retries included, each answered before the next.
func TestHunt53aShardedNetMatchesOneLedger(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		shards := rapid.IntRange(2, 3).Draw(rt, "shards")
		sim := newSimulation(t, rapid.Uint64().Draw(rt, "seed"), shards)
		sim.t = rt
		var ids []model.Uint128
		ledgerOf := map[model.Uint128]uint32{}
		var body []byte
		for i := range 10 {
			account := model.Account{ID: model.U128(uint64(100 + i)), Code: 1,
				Ledger: uint32(1 + i%2)}
			body = append(body, make([]byte, model.AccountSize)...)
			account.Encode(body[len(body)-model.AccountSize:])
			ids = append(ids, account.ID)
			ledgerOf[account.ID] = account.Ledger
		}
		client := sim.clients[0]
		sim.grant([]model.Grant{{Client: client.id, Scopes: model.ScopeOperator}})
		sim.request(client, model.OperationCreateAccounts, 0, body, nil)
		sim.quiesce()
		ids = append(ids, model.U128(999)) // Never created.
		partners := rapid.SliceOfNDistinct(rapid.SampledFrom(ids[:10]), 1, 4,
			rapid.ID[model.Uint128]).Draw(rt, "partners")
		isPartner := map[model.Uint128]bool{}
		for _, p := range partners {
			isPartner[p] = true
		}
		credits, debits := map[uint32]*big.Int{}, map[uint32]*big.Int{}
		var sent []model.Transfer
		for range rapid.IntRange(1, 25).Draw(rt, "transfers") {
			transfer := drawTransfer(rt, ids, sent)
			transfer.Flags &^= model.TransferPending | model.TransferBalancingDebit |
				model.TransferBalancingCredit
			sent = append(sent, transfer)
			result := sim.transferOnce(client, transfer)
			if result.Status != model.StatusOK {
				continue
			}
			for _, side := range []struct {
				account model.Uint128
				sums    map[uint32]*big.Int
			}{{transfer.CreditAccountID, credits}, {transfer.DebitAccountID, debits}} {
				if !isPartner[side.account] {
					continue
				}
				sum := side.sums[transfer.Ledger]
				if sum == nil {
					sum = new(big.Int)
					side.sums[transfer.Ledger] = sum
				}
				sum.Add(sum, transfer.Amount.Big())
			}
		}
		reader := clearing.ShardedReader(sim.placement, func(_ context.Context, shard int,
			operation model.Operation, body []byte) (model.Status, []byte, error) {
			var out core.Output
			sim.shards[shard].machine.Query(&core.Request{Operation: operation, Body: body},
				&out)
			return out.Replies[0].Status, bytes.Clone(out.Body(&out.Replies[0])), nil
		})
		ledgers, _ := clearing.NewLedgers(nil)
		report, err := clearing.Net(context.Background(), reader, ledgers, clearing.NettingQuery{
			Partners: partners, Window: clearing.Window{Until: math.MaxInt64}})
		if err != nil {
			rt.Fatalf("Net: %v", err)
		}
		for _, p := range report.Positions {
			wantCredits, wantDebits := credits[p.Ledger], debits[p.Ledger]
			if wantCredits == nil {
				wantCredits = new(big.Int)
			}
			if wantDebits == nil {
				wantDebits = new(big.Int)
			}
			if p.CreditsPosted.Big().Cmp(wantCredits) != 0 ||
				p.DebitsPosted.Big().Cmp(wantDebits) != 0 ||
				p.InFlightCredits != (model.WideSum{}) || p.InFlightDebits != (model.WideSum{}) {
				rt.Fatalf("ledger %d: posted %s/%s, in flight %s/%s; one ledger: %s/%s, "+
					"none in flight", p.Ledger, p.CreditsPosted, p.DebitsPosted,
					p.InFlightCredits, p.InFlightDebits, wantCredits, wantDebits)
			}
			delete(credits, p.Ledger)
			delete(debits, p.Ledger)
		}
		for ledger, sum := range credits {
			if sum.Sign() != 0 {
				rt.Fatalf("ledger %d: one ledger credits the partners %s, no position", ledger, sum)
			}
		}
		for ledger, sum := range debits {
			if sum.Sign() != 0 {
				rt.Fatalf("ledger %d: one ledger debits the partners %s, no position", ledger, sum)
			}
		}
	})
}

// TestHunt53aSagaBatchesAgainstOneLedger is TestSagaPropertyAgainstOneLedger with
// requests of several transfers (split across shards, the same id twice in one request,
// retries of earlier ids, local pending transfers, cross-shard ones refused): accounts
// without balance limits and transfers without balancing flags, so that no result
// depends on the order in which different shards apply their parts. Every event's
// status is one ledger's, applying the request's events in order, and so is every
// account's final balance; every settlement pair nets to zero at the end.
func TestHunt53aSagaBatchesAgainstOneLedger(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		shards := rapid.IntRange(2, 4).Draw(rt, "shards")
		sim := newSimulation(t, rapid.Uint64().Draw(rt, "seed"), shards)
		sim.t = rt
		model0 := newNaiveLedger(sim.placement)
		var ids []model.Uint128
		var body []byte
		for i := range rapid.IntRange(3, 8).Draw(rt, "accounts") {
			account := model.Account{ID: model.U128(uint64(100 + i)), Code: 1,
				Ledger: uint32(rapid.IntRange(1, 2).Draw(rt, "ledger"))}
			body = append(body, make([]byte, model.AccountSize)...)
			account.Encode(body[len(body)-model.AccountSize:])
			model0.accounts[account.ID] = &account
			ids = append(ids, account.ID)
		}
		client := sim.clients[0]
		sim.grant([]model.Grant{{Client: client.id, Scopes: model.ScopeOperator}})
		sim.request(client, model.OperationCreateAccounts, 0, body, nil)
		sim.quiesce()
		ids = append(ids, model.U128(999)) // Never created.
		var sent []model.Transfer
		for request := range rapid.IntRange(1, 8).Draw(rt, "requests") {
			var batch []model.Transfer
			for range rapid.IntRange(1, 5).Draw(rt, "events") {
				if len(batch) > 0 && rapid.IntRange(0, 4).Draw(rt, "same again?") == 0 {
					// The same transfer twice in one request. Not a changed one: while its
					// saga runs, a changed retry is answered exists_with_different_* at
					// once, which one ledger says only of a created transfer (reported).
					batch = append(batch, batch[rapid.IntRange(0, len(batch)-1).Draw(rt, "again")])
					continue
				}
				transfer := drawTransfer(rt, ids, sent) // A new one, or a retry of an earlier request's.
				changed := slices.ContainsFunc(batch, func(earlier model.Transfer) bool {
					return earlier.ID == transfer.ID && earlier != transfer
				})
				if transfer.ID.Lo > uint64(len(sent)) || changed {
					transfer.ID = model.U128(uint64(len(sent) + len(batch) + 1))
				}
				transfer.Flags &^= model.TransferBalancingDebit | model.TransferBalancingCredit
				batch = append(batch, transfer)
			}
			sent = append(sent, batch...)
			body := make([]byte, len(batch)*model.TransferSize)
			want := make([]model.Status, len(batch))
			for i := range batch {
				batch[i].Encode(body[i*model.TransferSize:])
				want[i] = model0.apply(batch[i]).Status
			}
			sim.request(client, model.OperationCreateTransfers, 0, body, nil)
			number := client.next - 1
			sim.quiesce()
			final := sim.finals[[2]uint64{client.id, number}]
			if final.status != model.StatusOK || len(final.body) != len(batch)*model.EventResultSize {
				rt.Fatalf("request %d: %s, %d bytes", request, final.status, len(final.body))
			}
			for i := range batch {
				if got := eventStatus(final.body[i*model.EventResultSize:]); got != want[i] {
					rt.Fatalf("request %d event %d %+v: %s, the one ledger says %s", request, i,
						batch[i], got, want[i])
				}
			}
		}
		for _, s := range sim.shards {
			for account := range s.machine.Ledger().Accounts() {
				if model.IsSystemID(account.ID) {
					continue
				}
				if want := model0.accounts[account.ID]; account.Balance() != want.Balance() {
					rt.Fatalf("account %s: %+v, the one ledger has %+v", account.ID,
						account.Balance(), want.Balance())
				}
			}
		}
		if err := sim.reconcile().Check(true); err != nil {
			rt.Fatalf("after the transfers: %v", err)
		}
	})
}
