package core

import (
	"testing"

	"sequent/core/model"
	"sequent/core/saga"
)

// TestClientAtItsLimitStillSettlesAcrossShards: a client that owns its accounts_max
// accounts may still send a cross-shard transfer whose settlement account does not exist
// yet. The settlement account is Sequent's (created as the system, owner 0), is not
// counted against the client, and is not refused by its bound: the saga treats any
// refusal of a settlement account other than accounts_limit_reached as a bug and panics,
// so a client-triggered accounts_limit_per_client_reached there would stop the primary.
func TestClientAtItsLimitStillSettlesAcrossShards(t *testing.T) {
	h := newHarness(t, Config{Shard: ShardConfig{Map: twoShards, Index: 0}})
	h.upgradeRules(RulesVersionCurrent)
	h.apply(Request{Operation: model.OperationSetGrants, Body: model.AppendGrantsAndLimits(nil,
		[]model.Grant{{Client: 1, Scopes: model.ScopeTransfer, Ledger: 1}},
		[]model.ClientLimit{{Client: 1, AccountsMax: 1}})})
	out := h.apply(Request{Client: 1, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	if status := eventStatuses(t, out.Body(&out.Replies[0]))[0]; status != model.StatusOK {
		t.Fatalf("client 1's only account: %s", status)
	}
	settlement := saga.SettlementAccountID(0, 1, 1)
	if _, found := h.machine.Ledger().Owner(settlement); found {
		t.Fatal("the settlement account exists before the transfer")
	}
	out = h.apply(Request{Client: 1, Session: 1, Number: 2,
		Operation: model.OperationCreateTransfers,
		Body:      transfersBody(simpleTransfer(50, 1, 100, 3))})
	if status := eventStatuses(t, out.Body(&out.Replies[0]))[0]; status !=
		model.StatusSagaInFlight {
		t.Fatalf("cross-shard transfer of a client at its limit: %s", status)
	}
	if owner, found := h.machine.Ledger().Owner(settlement); !found || owner != 0 {
		t.Fatalf("settlement account: found %v, owner %d", found, owner)
	}
	if owned := h.machine.Ledger().OwnedAccountCount(1); owned != 1 {
		t.Fatalf("client 1 owns %d accounts after the transfer, want 1", owned)
	}
	out = h.apply(Request{Client: 1, Session: 1, Number: 3,
		Operation: model.OperationCreateAccounts, Body: accountsBody(2)})
	if status := eventStatuses(t, out.Body(&out.Replies[0]))[0]; status !=
		model.StatusAccountsLimitPerClientReached {
		t.Fatalf("client 1's second account: %s", status)
	}
}
