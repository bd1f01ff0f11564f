package core

import (
	"testing"

	"sequent/core/model"
)

// TestHoldRefusedRulesVersion: through Apply, at rules versions 7 and 8, on a machine
// restored from a snapshot before the refused transfer (so the restored machine puts the
// version's rule back in force). Account 30 (debits must not exceed credits, 1,000 in
// credits) carries an anomaly rule that holds; after its warmup a transfer of 500 is held
// and names the rule at both versions, and one of 400 that the rule would hold as well is
// refused exceeds_credits by the ledger's checks after the rules (300 is left). At
// version 7 that refusal still names the rule (a log written then replays as it was
// applied, its cached replies byte for byte); from version 8 it names none, as
// PROTOCOL.md's EventResult says of a status outside 300–319.
func TestHoldRefusedRulesVersion(t *testing.T) {
	for _, version := range []uint32{rulesVersionRuleOnlyWhenHeld - 1, rulesVersionRuleOnlyWhenHeld} {
		h := newHarness(t, Config{})
		h.upgradeRules(version)
		out := h.apply(Request{Operation: model.OperationSetGrants, Body: model.AppendGrants(nil,
			[]model.Grant{{Client: 7, Scopes: model.ScopeTransfer, First: model.U128(1),
				Last: model.U128(30)}})})
		if out.Replies[0].Status != model.StatusOK {
			t.Fatalf("set_grants: %s", out.Replies[0].Status)
		}
		limited := model.Account{ID: model.U128(30), Ledger: 1, Code: 1,
			Flags: model.AccountDebitsMustNotExceedCredits}
		number := uint64(1)
		send := func(operation model.Operation, body []byte) model.EventResult {
			t.Helper()
			out := h.apply(Request{Client: 7, Session: 1, Number: number, Operation: operation,
				Body: body})
			number++
			var result model.EventResult
			result.Decode(out.Body(&out.Replies[0]))
			return result
		}
		expect := func(what string, result model.EventResult, status model.Status, rule uint32) {
			t.Helper()
			if result.Status != status || result.Rule != rule {
				t.Fatalf("version %d, %s: %s naming rule %d, want %s naming rule %d",
					version, what, result.Status, result.Rule, status, rule)
			}
		}
		expect("accounts", send(model.OperationCreateAccounts,
			append(accountsBody(1, 2), encodeRecords(model.AccountSize, &limited)...)),
			model.StatusOK, 0)
		expect("funding", send(model.OperationCreateTransfers,
			transfersBody(simpleTransfer(100, 1, 30, 1_000))), model.StatusOK, 0)
		rules := h.apply(Request{Operation: model.OperationSetRiskRules, Body: riskRulesBody(
			model.RiskRule{ID: 12, Kind: model.RiskAnomaly, Scope: model.RiskScopeAccount,
				Account: model.U128(30), Threshold: 64, Warmup: 2, Shift: 2,
				Action: model.RiskHold})})
		if status := eventStatuses(t, rules.Body(&rules.Replies[0]))[0]; status != model.StatusOK {
			t.Fatalf("set_risk_rules: %s", status)
		}
		expect("warmup", send(model.OperationCreateTransfers,
			transfersBody(simpleTransfer(101, 30, 2, 100))), model.StatusOK, 0)
		expect("warmup", send(model.OperationCreateTransfers,
			transfersBody(simpleTransfer(102, 30, 2, 100))), model.StatusOK, 0)
		expect("held", send(model.OperationCreateTransfers,
			transfersBody(simpleTransfer(103, 30, 2, 500))), model.StatusRiskHeldForReview, 12)
		h.restore(Config{})
		if got := h.machine.RulesVersion(); got != version {
			t.Fatalf("restored at version %d, want %d", got, version)
		}
		want := uint32(0)
		if version < rulesVersionRuleOnlyWhenHeld {
			want = 12
		}
		expect("refused", send(model.OperationCreateTransfers,
			transfersBody(simpleTransfer(104, 30, 2, 400))), model.StatusExceedsCredits, want)
	}
}
