package core

import (
	"testing"

	"sequent/core/model"
)

// TestHunt49bLedgerTotalHiddenRulesVersion: through Apply, at rules versions 10 and 11, on
// a machine restored from a snapshot before the probe (so the restored machine puts the
// version's setting back). Client 7 pays 12,345 on ledger 1, which carries a ledger-scope
// daily_amount rule of 1,000,000; client 8 then sends 2,000,000 from its own account and
// is refused risk_ledger_daily_amount. At version 10 the refusal's detail carries the
// ledger's day, 12,345, client 7's payment (a log written then replays so, its cached
// replies byte for byte); from version 11 it carries 0 for a client without the
// operator scope, and the total still for an operator.
func TestHunt49bLedgerTotalHiddenRulesVersion(t *testing.T) {
	for _, version := range []uint32{rulesVersionLedgerTotalHidden - 1, rulesVersionLedgerTotalHidden} {
		h := newHarness(t, Config{})
		h.upgradeRules(version)
		out := h.apply(Request{Operation: model.OperationSetGrants, Body: model.AppendGrants(nil,
			[]model.Grant{{Client: 7, Scopes: model.ScopeTransfer, First: model.U128(1),
				Last: model.U128(30)},
				{Client: 8, Scopes: model.ScopeTransfer, First: model.U128(40), Last: model.U128(40)},
				{Client: 9, Scopes: model.ScopeOperator}})})
		if out.Replies[0].Status != model.StatusOK {
			t.Fatalf("set_grants: %s", out.Replies[0].Status)
		}
		numbers := map[uint64]uint64{}
		send := func(client uint64, operation model.Operation, body []byte) model.TransferResult {
			t.Helper()
			numbers[client]++
			var flags uint8
			if operation == model.OperationCreateTransfers {
				flags = RequestFlagReplyBalances
			}
			out := h.apply(Request{Client: client, Session: client, Number: numbers[client],
				Operation: operation, Flags: flags, Body: body})
			if out.Replies[0].Status != model.StatusOK {
				t.Fatalf("client %d: request %s", client, out.Replies[0].Status)
			}
			var result model.TransferResult
			if flags == 0 {
				result.EventResult.Decode(out.Body(&out.Replies[0]))
				return result
			}
			result.DecodeWithBalances(out.Body(&out.Replies[0]))
			return result
		}
		if r := send(7, model.OperationCreateAccounts, accountsBody(1, 2)); r.Status != model.StatusOK {
			t.Fatalf("accounts: %s", r.Status)
		}
		if r := send(8, model.OperationCreateAccounts, accountsBody(40)); r.Status != model.StatusOK {
			t.Fatalf("account 40: %s", r.Status)
		}
		rules := h.apply(Request{Operation: model.OperationSetRiskRules, Body: riskRulesBody(
			model.RiskRule{ID: 3, Kind: model.RiskDailyAmount, Scope: model.RiskScopeLedger,
				Ledger: 1, Amount: model.U128(1_000_000)})})
		if status := eventStatuses(t, rules.Body(&rules.Replies[0]))[0]; status != model.StatusOK {
			t.Fatalf("set_risk_rules: %s", status)
		}
		if r := send(7, model.OperationCreateTransfers,
			transfersBody(simpleTransfer(100, 1, 2, 12_345))); r.Status != model.StatusOK {
			t.Fatalf("payment: %s", r.Status)
		}
		h.restore(Config{})
		if got := h.machine.RulesVersion(); got != version {
			t.Fatalf("restored at version %d, want %d", got, version)
		}
		probe := func(client uint64, id uint64) model.Uint128 {
			t.Helper()
			r := send(client, model.OperationCreateTransfers,
				transfersBody(simpleTransfer(id, 40, 1, 2_000_000)))
			if r.Status != model.StatusRiskLedgerDailyAmount || r.Rule != 3 ||
				r.Risk.Limit != model.U128(1_000_000) {
				t.Fatalf("version %d, client %d: %s naming rule %d, detail %+v", version, client,
					r.Status, r.Rule, r.Risk)
			}
			return r.Risk.Current
		}
		want := model.U128(12_345)
		if version >= rulesVersionLedgerTotalHidden {
			want = model.Uint128{}
		}
		if got := probe(8, 101); got != want {
			t.Fatalf("version %d: client 8 reads the ledger's day as %s, want %s", version, got, want)
		}
		if got := probe(9, 102); got != model.U128(12_345) {
			t.Fatalf("version %d: the operator reads the ledger's day as %s, want 12345", version, got)
		}
	}
}
