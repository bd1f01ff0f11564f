package shard

import (
	"slices"
	"testing"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// firstEventStatus returns the status of a create reply's first event.
func firstEventStatus(t *testing.T, body []byte) model.Status {
	t.Helper()
	if len(body) < model.EventResultSize {
		t.Fatalf("a create reply of %d bytes", len(body))
	}
	var result model.EventResult
	result.Decode(body)
	return result.Status
}

// TestClientLimitsReachTheLog starts a primary on a fresh log (its machine at rules
// version 1, as recovery builds it) with a keys table that limits client 7 to one
// account. It holds that the primary logs the table in an entry that opens with
// upgrade_rules (a machine below version 3 would refuse the limits), so that client 7's
// second account is refused; that a reload raising the limit applies from the next
// request; that a restart replays to the same state and logs nothing more; and that a
// table without limits is logged alone, as before limits existed.
func TestClientLimitsReachTheLog(t *testing.T) {
	log := wal.NewMemoryLog()
	s, replier := startShardOf(t, Config{}, core.New(core.Config{}), log)
	table := func(accountsMax uint32) []byte {
		return model.AppendGrantsAndLimits(nil, nil,
			[]model.ClientLimit{{Client: 7, AccountsMax: accountsMax}})
	}
	if err := s.SetGrants(table(1)); err != nil {
		t.Fatal(err)
	}
	create := func(number, id uint64) model.Status {
		t.Helper()
		s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: number,
			Operation: model.OperationCreateAccounts, Body: accountsBody(id)})
		replies := replier.waitFor(t, int(number))
		if replies[number-1].Status != model.StatusOK {
			t.Fatalf("request %d: %s", number, replies[number-1].Status)
		}
		return firstEventStatus(t, replier.bodies[number-1])
	}
	if status := create(1, 1); status != model.StatusOK {
		t.Fatalf("client 7's first account: %s", status)
	}
	if status := create(2, 2); status != model.StatusAccountsLimitPerClientReached {
		t.Fatalf("client 7's second account: %s, want accounts_limit_per_client_reached", status)
	}
	if s.machine.RulesVersion() != core.RulesVersionCurrent {
		t.Fatalf("rules version %d", s.machine.RulesVersion())
	}
	if err := s.SetGrants(table(2)); err != nil { // A reload.
		t.Fatal(err)
	}
	if status := create(3, 2); status != model.StatusOK {
		t.Fatalf("client 7's second account after the reload: %s", status)
	}
	s.Close()
	want := []model.Operation{model.OperationUpgradeRules, model.OperationSetGrants,
		model.OperationCreateAccounts, model.OperationCreateAccounts,
		model.OperationSetGrants, model.OperationCreateAccounts}
	if operations := operationsOf(t, log); !slices.Equal(operations, want) {
		t.Fatalf("log holds %v, want %v", operations, want)
	}
	restarted, _, err := Recover(core.Config{}, log, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if restarted.Digest() != s.machine.Digest() ||
		restarted.Ledger().OwnedAccountCount(7) != 2 {
		t.Fatal("the restarted primary did not replay to the same state")
	}
	again, againReplies := startShardOf(t, Config{Epoch: 2}, restarted, log)
	if err := again.SetGrants(table(2)); err != nil { // The same keys file.
		t.Fatal(err)
	}
	// A read answered after the table was given: the sequencer has compared it by then.
	again.Submit(&backend.Request{Connection: 1, Client: 7, Session: 2, Number: 1,
		Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)})
	againReplies.waitFor(t, 1)
	again.Close()
	if operations := operationsOf(t, log); len(operations) != len(want) {
		t.Fatalf("a restart with the same table logged %v", operations[len(want):])
	}

	// Without limits the table is logged alone, at rules version 1, as before.
	fresh := wal.NewMemoryLog()
	plain, _ := startShardOf(t, Config{}, core.New(core.Config{}), fresh)
	if err := plain.SetGrants(model.AppendGrants(nil, []model.Grant{{Client: 7,
		Scopes: model.ScopeRead}})); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the table durable", func() bool { return fresh.Durable() >= 1 })
	plain.Close()
	if operations := operationsOf(t, fresh); !slices.Equal(operations,
		[]model.Operation{model.OperationSetGrants}) {
		t.Fatalf("a table without limits logged as %v", operations)
	}
	if plain.machine.RulesVersion() != core.RulesVersionFirst {
		t.Fatalf("a table without limits moved the rules version to %d",
			plain.machine.RulesVersion())
	}
}
