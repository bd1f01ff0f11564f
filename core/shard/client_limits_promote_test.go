package shard

import (
	"slices"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// TestClientLimitsAfterPromotionOfAVersionTwoStandby: a standby that followed a primary of
// the build before client limits (its log at rules version 2, client 7 owning one
// account) keeps its keys table with limits while it follows (it logs nothing), and once
// promoted logs it behind upgrade_rules before its first write, so that client 7's
// second account is refused by the bound of its keys file.
func TestClientLimitsAfterPromotionOfAVersionTwoStandby(t *testing.T) {
	log := wal.NewMemoryLog()
	old := core.AppendRequest(nil, &core.Request{Operation: model.OperationUpgradeRules,
		Body: core.AppendUpgradeRules(nil, 2)})
	old = core.AppendRequest(old, &core.Request{Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	if err := log.Append(wal.Entry{Epoch: 1, FirstOp: 1, Count: 2,
		Timestamp: uint64(time.Now().UnixNano()), Body: old}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the old entry durable", func() bool { return log.Durable() >= 2 })
	machine, _, err := Recover(core.Config{}, log, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if machine.RulesVersion() != 2 || machine.Ledger().OwnedAccountCount(7) != 1 {
		t.Fatalf("recovered at rules version %d, client 7 owning %d", machine.RulesVersion(),
			machine.Ledger().OwnedAccountCount(7))
	}
	standby, replier := startShardOf(t, Config{Epoch: 1, Role: RoleStandby}, machine, log)
	if err := standby.SetGrants(model.AppendGrantsAndLimits(nil, nil,
		[]model.ClientLimit{{Client: 7, AccountsMax: 1}})); err != nil {
		t.Fatal(err)
	}
	if err := standby.Promote(2); err != nil {
		t.Fatal(err)
	}
	standby.Submit(&backend.Request{Connection: 1, Client: 7, Session: 2, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(2)})
	replies := replier.waitFor(t, 1)
	if replies[0].Status != model.StatusOK {
		t.Fatalf("client 7's request: %s", replies[0].Status)
	}
	if status := firstEventStatus(t, replier.bodies[0]); status !=
		model.StatusAccountsLimitPerClientReached {
		t.Fatalf("client 7's second account after the promotion: %s", status)
	}
	standby.Close()
	want := []model.Operation{model.OperationUpgradeRules, model.OperationCreateAccounts,
		model.OperationUpgradeRules, model.OperationSetGrants, model.OperationCreateAccounts}
	if operations := operationsOf(t, log); !slices.Equal(operations, want) {
		t.Fatalf("log holds %v, want %v", operations, want)
	}
	if standby.machine.RulesVersion() != core.RulesVersionCurrent {
		t.Fatalf("rules version %d after the promotion", standby.machine.RulesVersion())
	}
}
