package core

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"

	"sequent/core/ledger"
	"sequent/core/model"
)

// rulesEnv reads a positive integer from the environment, or returns fallback.
func rulesEnv(t *testing.T, name string, fallback uint64) uint64 {
	t.Helper()
	text := os.Getenv(name)
	if text == "" {
		return fallback
	}
	value, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, text, err)
	}
	return value
}

// rulesPropertySetup gives both machines the same clients and accounts on shard 0 of
// twoShards: client 1 may move money on ledger 1 (grant), client 3 on ledger 2 and reads
// ledger 1; client 2 owns debit-limited accounts on ledgers 2 and 3; client 4 owns
// nothing. Account 2 is closed by a pending closing_debit transfer.
func rulesPropertySetup(t *testing.T, h *harness) {
	t.Helper()
	out := h.apply(Request{Operation: model.OperationSetGrants, Body: model.AppendGrants(nil,
		[]model.Grant{{Client: 1, Scopes: model.ScopeTransfer, Ledger: 1},
			{Client: 3, Scopes: model.ScopeTransfer, Ledger: 2},
			{Client: 3, Scopes: model.ScopeRead, Ledger: 1}})})
	if out.Replies[0].Status != model.StatusOK {
		t.Fatalf("set_grants: %s", out.Replies[0].Status)
	}
	limited := model.AccountDebitsMustNotExceedCredits
	owned := []struct {
		client uint64
		ids    []model.Account
	}{
		{1, []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
			{ID: model.U128(2), Ledger: 1, Code: 1},
			{ID: model.U128(3), Ledger: 1, Code: 1, Flags: limited}}},
		{2, []model.Account{{ID: model.U128(4), Ledger: 2, Code: 1, Flags: limited},
			{ID: model.U128(5), Ledger: 3, Code: 1, Flags: limited}}},
		{3, []model.Account{{ID: model.U128(6), Ledger: 2, Code: 1}}},
	}
	for _, o := range owned {
		body := make([]byte, len(o.ids)*model.AccountSize)
		for i := range o.ids {
			o.ids[i].Encode(body[i*model.AccountSize:])
		}
		out := h.apply(Request{Client: o.client, Session: 1, Number: 1,
			Operation: model.OperationCreateAccounts, Body: body})
		for i, status := range eventStatuses(t, out.Body(&out.Replies[0])) {
			if status != model.StatusOK {
				t.Fatalf("client %d account %d: %s", o.client, i, status)
			}
		}
	}
	closing := simpleTransfer(900, 2, 1, 1)
	closing.Flags = model.TransferPending | model.TransferClosingDebit
	out = h.apply(Request{Client: 1, Session: 1, Number: 2,
		Operation: model.OperationCreateTransfers, Body: transfersBody(closing)})
	if statuses := eventStatuses(t, out.Body(&out.Replies[0])); len(statuses) != 1 ||
		statuses[0] != model.StatusOK {
		t.Fatalf("closing transfer: %v", statuses)
	}
}

// randomCrossShardBatch draws a create_transfers batch of 1 to 8 transfers, most of them
// crossing from shard 0 to shard 1, from debit accounts of every kind (owned, granted,
// someone else's, closed, debit-limited, on another ledger than the transfer, missing),
// with ids that repeat, any flags, and now and then a zero ledger or code.
func randomCrossShardBatch(random *rand.Rand, ids *uint64) []model.Transfer {
	flags := []uint16{model.TransferLinked, model.TransferPending, model.TransferPostPending,
		model.TransferVoidPending, model.TransferBalancingDebit, model.TransferBalancingCredit,
		model.TransferClosingDebit, model.TransferClosingCredit}
	transfers := make([]model.Transfer, 1+random.IntN(8))
	for i := range transfers {
		debit := 1 + random.Uint64N(7) // 7 is missing.
		if random.IntN(8) == 0 {
			debit = 50 + random.Uint64N(40) // Missing, each on its own.
		}
		credit := 100 + random.Uint64N(4) // Shard 1: cross-shard.
		if random.IntN(6) == 0 {
			credit = 1 + random.Uint64N(6) // Local.
		}
		*ids++
		id := *ids
		if random.IntN(6) == 0 {
			id = 1000 + random.Uint64N(id-999) // An id used before (or this one).
		}
		transfers[i] = simpleTransfer(id, debit, credit, random.Uint64N(40))
		transfers[i].Ledger = uint32(1 + random.IntN(4))
		if random.IntN(30) == 0 {
			transfers[i].Ledger = 0
		}
		if random.IntN(30) == 0 {
			transfers[i].Code = 0
		}
		for _, flag := range flags {
			if random.IntN(16) == 0 {
				transfers[i].Flags |= flag
			}
		}
	}
	return transfers
}

// TestRulesVersionsAgreeOnEveryStatus holds, for random batches of cross-shard transfers
// from clients of every kind, that rules version 2 answers every request and every event
// exactly as version 1 does (away from the accounts limit) and never holds more accounts:
// the debit side's pre-check must refuse nothing the ledger would accept, and answer what
// the ledger answers with the settlement account there (precedence included: exists,
// id_already_failed, ownership, ledgers, closed accounts, flags, linked chains).
// RULES_VERSIONS_SEED picks the seed (a failure prints it), RULES_VERSIONS_STEPS the
// number of batches (default 2,000; -short 300).
func TestRulesVersionsAgreeOnEveryStatus(t *testing.T) {
	// Version 8, the last whose step 1 reserves what a balancing_credit transfer names:
	// from version 9 a debit-limited payer's is judged on the amount it moves, which may
	// start a saga where version 1 refuses exceeds_credits (TestPayerBoundRulesVersion;
	// TestRulesVersion9AgreesAwayFromThePayerBound compares 8 with 9).
	// The messages differ: version 1 creates settlement accounts before the checks, so
	// the timestamps of step 1 (in each Credit) after a refused transfer do.
	v1, v2, seed := rulesVersionsAgree(t, RulesVersionFirst, rulesVersionPayerBound-1, nil, false)
	accounts1, accounts2 := v1.machine.Ledger().AccountCount(),
		v2.machine.Ledger().AccountCount()
	if accounts2 > accounts1 {
		t.Fatalf("seed %d: %d accounts under version 2, %d under version 1", seed, accounts2,
			accounts1)
	}
	t.Logf("seed %d: %d accounts under version 1, %d under version 2", seed, accounts1,
		accounts2)
}

// rulesVersionsAgree applies the same random batches of cross-shard transfers
// (randomCrossShardBatch, each passed through adjust when it is not nil) to two machines
// of shard 0, one at rules version older and one at newer, and fails at the first
// request or event status where they differ, or, with sameMessages, the first messages (a
// Credit, bit for bit). It returns
// both harnesses and the seed (RULES_VERSIONS_SEED; RULES_VERSIONS_STEPS batches, default
// 2,000, -short 300).
func rulesVersionsAgree(t *testing.T, older, newer uint32, adjust func([]model.Transfer),
	sameMessages bool) (a, b *harness, seed uint64) {
	t.Helper()
	seed = rulesEnv(t, "RULES_VERSIONS_SEED", 20261205)
	steps := rulesEnv(t, "RULES_VERSIONS_STEPS", 2_000)
	if testing.Short() && os.Getenv("RULES_VERSIONS_STEPS") == "" {
		steps = 300
	}
	random := rand.New(rand.NewPCG(seed, seed^0x5eed))
	config := Config{Shard: ShardConfig{Map: twoShards, Index: 0}}
	a, b = newHarness(t, config), newHarness(t, config)
	for i, h := range []*harness{a, b} {
		version := []uint32{older, newer}[i]
		if version == RulesVersionFirst {
			h.apply(Request{Operation: model.OperationPulse}) // Keeps ops aligned.
		} else {
			h.upgradeRules(version)
		}
	}
	rulesPropertySetup(t, a)
	rulesPropertySetup(t, b)
	numbers := map[uint64]uint64{1: 2, 2: 1, 3: 1}
	ids := uint64(999)
	for step := range steps {
		client := 1 + random.Uint64N(4)
		numbers[client]++
		batch := randomCrossShardBatch(random, &ids)
		if adjust != nil {
			adjust(batch)
		}
		body := transfersBody(batch...)
		request := Request{Client: client, Session: 1, Number: numbers[client],
			Operation: model.OperationCreateTransfers, Body: body}
		out1, out2 := a.apply(request), b.apply(request)
		if out1.Replies[0].Status != out2.Replies[0].Status {
			t.Fatalf("seed %d step %d: request status %s under version %d, %s under %d", seed,
				step, out1.Replies[0].Status, older, out2.Replies[0].Status, newer)
		}
		want := eventStatuses(t, out1.Body(&out1.Replies[0]))
		got := eventStatuses(t, out2.Body(&out2.Replies[0]))
		if len(got) != len(want) {
			t.Fatalf("seed %d step %d: %d event results under version %d, %d under %d", seed,
				step, len(want), older, len(got), newer)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("seed %d step %d: client %d event %d %+v: %s under version %d, %s "+
					"under %d", seed, step, client, i, batch[i], want[i], older, got[i], newer)
			}
		}
		if sameMessages && !slices.Equal(out1.Messages, out2.Messages) {
			t.Fatalf("seed %d step %d: messages %+v under version %d, %+v under %d", seed,
				step, out1.Messages, older, out2.Messages, newer)
		}
	}
	return a, b, seed
}

// TestSagasAcrossShardsAtDifferentRulesVersions holds that a node whose shards upgrade
// their rules on their own (each at its own first writes) runs sagas that straddle the
// versions as one at a single version would: the version decides only which settlement
// accounts the debit shard creates before step 1, so a saga whose debit shard is at
// version 2 and credit shard at version 1, and one the other way round, both finish ok,
// with the settlement accounts netting to zero; a transfer refused on the version 2
// debit side creates nothing there, and on the version 1 side it still does.
func TestSagasAcrossShardsAtDifferentRulesVersions(t *testing.T) {
	p := &pair{t: t, actor: 1}
	for i := range p.shards {
		p.shards[i] = newHarness(t, Config{Shard: ShardConfig{Map: twoShards, Index: uint16(i)}})
	}
	p.shards[0].upgradeRules(RulesVersionCurrent) // Shard 1 stays at version 1.
	p.accounts(map[uint64]uint16{1: 0, 100: 0})
	for _, transfer := range []model.Transfer{simpleTransfer(7, 1, 100, 30),
		simpleTransfer(8, 100, 1, 12)} {
		result, messages := p.transfer(transfer)
		if result.Status != model.StatusSagaInFlight {
			t.Fatalf("transfer %s, step 1: %s", transfer.ID, result.Status)
		}
		finished := p.settle(messages)
		if len(finished) != 1 || finished[0].Finished.Result.Status != model.StatusOK {
			t.Fatalf("transfer %s finished %+v", transfer.ID, finished)
		}
	}
	if net, pending := p.settlementNet(); net != 0 || pending != 0 {
		t.Fatalf("settlement 0→1: net %d, pending %d", net, pending)
	}
	if a, b := p.account(1), p.account(100); a.DebitsPosted != model.U128(30) ||
		a.CreditsPosted != model.U128(12) || b.CreditsPosted != model.U128(30) ||
		b.DebitsPosted != model.U128(12) {
		t.Fatalf("balances: account 1 %+v, account 100 %+v", a, b)
	}
	before := [2]uint32{p.shards[0].machine.Ledger().AccountCount(),
		p.shards[1].machine.Ledger().AccountCount()}
	p.actor = 5 // Owns nothing: refused on either debit side, on a new ledger.
	for shard, debit := range []uint64{1, 100} {
		refused := simpleTransfer(20+uint64(shard), debit, 101-debit, 1)
		refused.Ledger = 9
		if result, _ := p.transfer(refused); result.Status != model.StatusDebitAccountNotOwned {
			t.Fatalf("shard %d: a stranger's transfer: %s", shard, result.Status)
		}
	}
	if got := p.shards[0].machine.Ledger().AccountCount(); got != before[0] {
		t.Errorf("version 2 shard: %d accounts after refused transfers, %d before", got, before[0])
	}
	if got := p.shards[1].machine.Ledger().AccountCount(); got != before[1]+1 {
		t.Errorf("version 1 shard: %d accounts after refused transfers, want %d", got, before[1]+1)
	}
}

// TestVersionOneSnapshotUpgradedLater holds that a machine restored from a snapshot
// written at rules version 1 (layout version 5) and upgraded afterwards reaches the state
// a replay of the whole log from op 1 reaches, and that its next snapshot (layout 6)
// restores at version 2 with the same digest: a snapshot in the middle changes nothing
// about where the version moves.
func TestVersionOneSnapshotUpgradedLater(t *testing.T) {
	config := Config{Shard: ShardConfig{Map: twoShards, Index: 0}}
	h := newHarness(t, config)
	versionOneTraffic(h)
	resumed, _ := restored(t, config, h.machine)
	if resumed.RulesVersion() != RulesVersionFirst {
		t.Fatalf("a version 5 snapshot restored at rules version %d", resumed.RulesVersion())
	}
	h.machine = resumed // The rest of the log applies to the restored machine.
	h.upgradeRules(RulesVersionCurrent)
	accounts := h.machine.Ledger().AccountCount()
	refused := refusedCrossShardTransfers()
	for i := range refused {
		refused[i].ID = model.U128(5000 + uint64(i)) // New ids, a new session.
	}
	h.apply(Request{Client: 3, Session: 2, Number: 1, Operation: model.OperationCreateTransfers,
		Body: transfersBody(refused...)})
	if count := h.machine.Ledger().AccountCount(); count != accounts {
		t.Fatalf("refused transfers after the upgrade made %d accounts", count-accounts)
	}
	whole := replayed(t, config, h.entries)
	if whole.RulesVersion() != RulesVersionCurrent || whole.Digest() != h.machine.Digest() {
		t.Fatalf("a replay from op 1 at rules version %d differs from the restored machine",
			whole.RulesVersion())
	}
	again, encoded := restored(t, config, h.machine)
	if again.RulesVersion() != RulesVersionCurrent || again.Digest() != h.machine.Digest() ||
		binary.LittleEndian.Uint32(encoded[8:]) != machineSnapshotVersion {
		t.Fatalf("the upgraded machine's snapshot restored at rules version %d (layout %d)",
			again.RulesVersion(), binary.LittleEndian.Uint32(encoded[8:]))
	}
}

// TestRulesVersionTwoAtTheAccountsLimit holds what version 2 answers when a settlement
// account cannot be created (doc.go, "Rules version"): a transfer that passes the debit
// side's checks gets accounts_limit_reached, as under version 1; one that fails them gets
// the debit side's code (version 1: accounts_limit_reached), unless an earlier transfer
// of its batch that passed needed the same settlement account: then accounts_limit_reached
// too, as under version 1.
func TestRulesVersionTwoAtTheAccountsLimit(t *testing.T) {
	config := Config{Ledger: ledger.Config{AccountsMax: 1},
		Shard: ShardConfig{Map: twoShards, Index: 0}}
	h := newHarness(t, config)
	h.upgradeRules(RulesVersionCurrent)
	h.apply(Request{Operation: model.OperationSetGrants, Body: model.AppendGrants(nil,
		[]model.Grant{{Client: 1, Scopes: model.ScopeTransfer, Ledger: 1}})})
	h.apply(Request{Client: 1, Session: 1, Number: 1, Operation: model.OperationCreateAccounts,
		Body: accountsBody(1)}) // The one account the limit allows.
	statuses := func(number uint64, transfers ...model.Transfer) []model.Status {
		out := h.apply(Request{Client: 1, Session: 1, Number: number,
			Operation: model.OperationCreateTransfers, Body: transfersBody(transfers...)})
		return eventStatuses(t, out.Body(&out.Replies[0]))
	}
	want := []model.Status{model.StatusAccountsLimitReached, model.StatusAccountsLimitReached}
	got := statuses(2, simpleTransfer(10, 1, 100, 1), simpleTransfer(11, 5, 100, 1))
	if !slices.Equal(got, want) {
		t.Fatalf("a passing transfer, then a missing account's: %v, want %v", got, want)
	}
	got = statuses(3, simpleTransfer(12, 5, 100, 1))
	if !slices.Equal(got, []model.Status{model.StatusDebitAccountNotFound}) {
		t.Fatalf("a missing account's alone: %v, want debit_account_not_found", got)
	}
}
