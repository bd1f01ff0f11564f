package ledger

import (
	"bytes"
	"testing"

	"sequent/core/model"
)

// Clients of the account limit tests, with their limits.accounts_max (limitedAccounts):
// alice 2, olivia (an operator) 1, dave 2; bob has no limit.
var limitedAccounts = []model.ClientLimit{
	{Client: alice, AccountsMax: 2}, {Client: olivia, AccountsMax: 1}, {Client: 15, AccountsMax: 2}}

const dave uint64 = 15

// clientAccount is a debit-limited account (any client may create one) with id.
func clientAccount(id uint64) model.Account {
	return model.Account{ID: model.U128(id), Ledger: 1, Code: 1,
		Flags: model.AccountDebitsMustNotExceedCredits}
}

// linkedAccount is clientAccount with the linked flag.
func linkedAccount(id uint64) model.Account {
	account := clientAccount(id)
	account.Flags |= model.AccountLinked
	return account
}

// TestAccountsLimitPerClient walks the per-client bound through its rules, in order on
// one ledger: a limited client creates up to its bound and no further, a retry of its
// own account still answers exists (and the other existing-id answers come first), a
// batch crossing the bound is cut at it, a linked chain rolled back frees what it took,
// a client without a limit and the system are unbounded, an operator with a limit is
// bounded, a lowered limit removes nothing, and withdrawing the limits lifts the bound.
func TestAccountsLimitPerClient(t *testing.T) {
	l := New(Config{HashSeed: 3})
	if err := l.SetGrants([]model.Grant{{Client: olivia, Scopes: model.ScopeOperator}}); err != nil {
		t.Fatal(err)
	}
	if err := l.SetAccountLimits(limitedAccounts); err != nil {
		t.Fatal(err)
	}
	timestamp := uint64(1_000 * second)
	steps := []struct {
		name   string
		client uint64
		events []model.Account
		want   []model.Status
		owned  uint32 // What the client owns after the step.
	}{
		{"below the bound", alice, []model.Account{clientAccount(1)},
			[]model.Status{model.StatusOK}, 1},
		{"up to the bound", alice, []model.Account{clientAccount(2)},
			[]model.Status{model.StatusOK}, 2},
		{"beyond the bound", alice, []model.Account{clientAccount(3)},
			[]model.Status{model.StatusAccountsLimitPerClientReached}, 2},
		{"a retry of its own account at the bound", alice, []model.Account{clientAccount(1)},
			[]model.Status{model.StatusExists}, 2},
		{"a retry that differs answers as before", alice,
			[]model.Account{{ID: model.U128(2), Ledger: 1, Code: 9,
				Flags: model.AccountDebitsMustNotExceedCredits}},
			[]model.Status{model.StatusExistsWithDifferentCode}, 2},
		{"a batch of its own accounts retried at the bound", alice,
			[]model.Account{clientAccount(1), clientAccount(2)},
			[]model.Status{model.StatusExists, model.StatusExists}, 2},
		{"invalid fields come first", alice, []model.Account{{ID: model.U128(3), Ledger: 1}},
			[]model.Status{model.StatusCodeMustNotBeZero}, 2},
		{"a batch crossing the bound", dave,
			[]model.Account{clientAccount(10), clientAccount(11), clientAccount(12)},
			[]model.Status{model.StatusOK, model.StatusOK, model.StatusAccountsLimitPerClientReached}, 2},
		{"another client's id is not a retry", dave, []model.Account{clientAccount(1)},
			[]model.Status{model.StatusExistsWithDifferentOwner}, 2},
		{"a client without a limit", bob,
			[]model.Account{clientAccount(20), clientAccount(21), clientAccount(22)},
			[]model.Status{model.StatusOK, model.StatusOK, model.StatusOK}, 3},
		{"the system", 0, []model.Account{clientAccount(30), clientAccount(31), clientAccount(32)},
			[]model.Status{model.StatusOK, model.StatusOK, model.StatusOK}, 0},
		{"an operator's own bound", olivia, []model.Account{clientAccount(40), clientAccount(41)},
			[]model.Status{model.StatusOK, model.StatusAccountsLimitPerClientReached}, 1},
	}
	for _, step := range steps {
		results := make([]model.EventResult, len(step.events))
		l.CreateAccountsAs(step.client, timestamp, step.events, results)
		timestamp += uint64(len(step.events))
		for i := range results {
			if results[i].Status != step.want[i] {
				t.Fatalf("%s: event %d: %s, want %s", step.name, i, results[i].Status, step.want[i])
			}
		}
		if owned := l.OwnedAccountCount(step.client); owned != step.owned {
			t.Fatalf("%s: client %d owns %d accounts, want %d", step.name, step.client, owned,
				step.owned)
		}
	}

	// A lowered bound removes nothing and refuses the next; the retry still answers.
	if err := l.SetAccountLimits([]model.ClientLimit{{Client: alice, AccountsMax: 1}}); err != nil {
		t.Fatal(err)
	}
	results := make([]model.EventResult, 2)
	l.CreateAccountsAs(alice, timestamp, []model.Account{clientAccount(1), clientAccount(3)}, results)
	timestamp += 2
	if results[0].Status != model.StatusExists ||
		results[1].Status != model.StatusAccountsLimitPerClientReached ||
		l.OwnedAccountCount(alice) != 2 {
		t.Fatalf("lowered bound: %s, %s; alice owns %d", results[0].Status, results[1].Status,
			l.OwnedAccountCount(alice))
	}
	// Dave, no longer in the table, is unbounded; withdrawing every limit frees alice.
	l.CreateAccountsAs(dave, timestamp, []model.Account{clientAccount(12)}, results[:1])
	timestamp++
	if results[0].Status != model.StatusOK {
		t.Fatalf("dave without a limit: %s", results[0].Status)
	}
	if err := l.SetAccountLimits(nil); err != nil {
		t.Fatal(err)
	}
	l.CreateAccountsAs(alice, timestamp, []model.Account{clientAccount(3)}, results[:1])
	if results[0].Status != model.StatusOK || l.OwnedAccountCount(alice) != 3 {
		t.Fatalf("limits withdrawn: %s; alice owns %d", results[0].Status, l.OwnedAccountCount(alice))
	}
	if err := l.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

// TestAccountsLimitPerClientChainRollback: a linked chain that takes a client to its
// bound and then fails is undone whole, and so is what it counted: the client may
// create as many accounts afterwards as before the chain. The chain that fails on the
// bound itself gets the new code on the failing event only.
func TestAccountsLimitPerClientChainRollback(t *testing.T) {
	l := New(Config{HashSeed: 4})
	if err := l.SetAccountLimits(limitedAccounts); err != nil {
		t.Fatal(err)
	}
	results := make([]model.EventResult, 3)
	// Two accounts, then an invalid one: rolled back.
	l.CreateAccountsAs(alice, 1_000, []model.Account{linkedAccount(1), linkedAccount(2),
		{ID: model.U128(3), Ledger: 1}}, results)
	if results[0].Status != model.StatusLinkedEventFailed ||
		results[2].Status != model.StatusCodeMustNotBeZero || l.OwnedAccountCount(alice) != 0 {
		t.Fatalf("rolled-back chain: %v; alice owns %d", results, l.OwnedAccountCount(alice))
	}
	// Three in a chain: the third is beyond the bound, and the chain fails on it.
	l.CreateAccountsAs(alice, 2_000, []model.Account{linkedAccount(1), linkedAccount(2),
		clientAccount(3)}, results)
	if results[0].Status != model.StatusLinkedEventFailed ||
		results[1].Status != model.StatusLinkedEventFailed ||
		results[2].Status != model.StatusAccountsLimitPerClientReached ||
		l.OwnedAccountCount(alice) != 0 || l.AccountCount() != 0 {
		t.Fatalf("chain beyond the bound: %v; alice owns %d", results, l.OwnedAccountCount(alice))
	}
	// Nothing was kept: the bound's two accounts are still free.
	l.CreateAccountsAs(alice, 3_000, []model.Account{clientAccount(1), clientAccount(2)},
		results[:2])
	if results[0].Status != model.StatusOK || results[1].Status != model.StatusOK {
		t.Fatalf("after the rollbacks: %v", results[:2])
	}
	if err := l.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

// TestAccountsLimitPerClientAfterLedgerLimit: at both bounds the ledger's answers, as it
// did before per-client bounds existed (the new check only replaces a creation).
func TestAccountsLimitPerClientAfterLedgerLimit(t *testing.T) {
	l := New(Config{HashSeed: 5, AccountsMax: 2})
	if err := l.SetAccountLimits([]model.ClientLimit{{Client: alice, AccountsMax: 2}}); err != nil {
		t.Fatal(err)
	}
	results := make([]model.EventResult, 3)
	l.CreateAccountsAs(alice, 1_000, []model.Account{clientAccount(1), clientAccount(2),
		clientAccount(3)}, results)
	if results[2].Status != model.StatusAccountsLimitReached {
		t.Fatalf("at both bounds: %s, want accounts_limit_reached", results[2].Status)
	}
}

// TestAccountsLimitPerClientRestored: the counts are derived from the accounts' owners,
// so a restored ledger under the same limits refuses what the original refuses.
func TestAccountsLimitPerClientRestored(t *testing.T) {
	l := New(Config{HashSeed: 6})
	results := make([]model.EventResult, 1)
	l.CreateAccountsAs(alice, 1_000, []model.Account{clientAccount(1)}, results)
	l.CreateAccountsAs(bob, 1_001, []model.Account{clientAccount(2)}, results)
	var encoded bytes.Buffer
	if _, err := l.Snapshot().WriteTo(&encoded); err != nil {
		t.Fatal(err)
	}
	restored, err := Restore(Config{HashSeed: 7}, &encoded)
	if err != nil {
		t.Fatal(err)
	}
	if err := restored.SetAccountLimits([]model.ClientLimit{{Client: alice, AccountsMax: 1}}); err != nil {
		t.Fatal(err)
	}
	restored.CreateAccountsAs(alice, 2_000, []model.Account{clientAccount(3)}, results)
	if results[0].Status != model.StatusAccountsLimitPerClientReached ||
		restored.OwnedAccountCount(alice) != 1 || restored.OwnedAccountCount(bob) != 1 {
		t.Fatalf("restored: %s; alice owns %d", results[0].Status, restored.OwnedAccountCount(alice))
	}
}

// TestAccountsLimitPerClientAllocatesNothing: refusing an account at the bound allocates
// nothing (the check is a map lookup and a count).
func TestAccountsLimitPerClientAllocatesNothing(t *testing.T) {
	l := New(Config{HashSeed: 8, AccountsCapacity: 1 << 10})
	if err := l.SetAccountLimits([]model.ClientLimit{{Client: alice, AccountsMax: 1}}); err != nil {
		t.Fatal(err)
	}
	results := make([]model.EventResult, 1)
	events := []model.Account{clientAccount(1)}
	l.CreateAccountsAs(alice, 1_000, events, results)
	events[0] = clientAccount(2)
	timestamp := uint64(2_000)
	allocations := testing.AllocsPerRun(100, func() {
		l.CreateAccountsAs(alice, timestamp, events, results)
		timestamp++
	})
	if allocations != 0 || results[0].Status != model.StatusAccountsLimitPerClientReached {
		t.Fatalf("%v allocations per refused event (%s)", allocations, results[0].Status)
	}
}

// TestSetAccountLimitsRefusesInvalidTables: the table in force is kept when a new one is
// invalid.
func TestSetAccountLimitsRefusesInvalidTables(t *testing.T) {
	l := New(Config{HashSeed: 9})
	if err := l.SetAccountLimits(limitedAccounts); err != nil {
		t.Fatal(err)
	}
	for _, limits := range [][]model.ClientLimit{
		{{Client: 0, AccountsMax: 1}},
		{{Client: 1, AccountsMax: 0}},
		{{Client: 2, AccountsMax: 1}, {Client: 1, AccountsMax: 1}},
		{{Client: 1, AccountsMax: 1}, {Client: 1, AccountsMax: 2}},
	} {
		if err := l.SetAccountLimits(limits); err == nil {
			t.Fatalf("table %v accepted", limits)
		}
	}
	if got := l.AccountLimits(); len(got) != len(limitedAccounts) || got[0] != limitedAccounts[0] {
		t.Fatalf("table in force changed: %v", got)
	}
}
