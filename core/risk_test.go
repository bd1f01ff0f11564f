package core

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"sequent/core/model"
)

// riskRulesBody encodes rules as a set_risk_rules body.
func riskRulesBody(rules ...model.RiskRule) []byte {
	body := make([]byte, len(rules)*model.RiskRuleSize)
	for i := range rules {
		rules[i].Encode(body[i*model.RiskRuleSize:])
	}
	return body
}

// TestRiskDecisionsReplay: rules set through the log (internal requests) and changed
// midway decide the same way on the live machine, on one restored from a snapshot taken
// in between (the risk section carries the rules and every counter) and on a replay from
// the first entry: the replies are byte for byte the same, and so are the digests. Every
// kind of rule is in force and the random traffic makes each of them refuse.
func TestRiskDecisionsReplay(t *testing.T) {
	h := newHarness(t, Config{})
	var ids []uint64
	for id := uint64(1); id <= 12; id++ {
		ids = append(ids, id)
	}
	// A transfer grant over its own accounts lets client 7 create them without a balance
	// limit (no self-issued money otherwise), and keeps it an ordinary client.
	granted := h.apply(Request{Operation: model.OperationSetGrants, Body: model.AppendGrants(nil,
		[]model.Grant{{Client: 7, Scopes: model.ScopeTransfer, First: model.U128(1), Last: model.U128(12)}})})
	if granted.Replies[0].Status != model.StatusOK {
		t.Fatalf("set_grants: %s", granted.Replies[0].Status)
	}
	h.apply(Request{Client: 7, Session: 1, Number: 1, Operation: model.OperationCreateAccounts,
		Body: accountsBody(ids...)})
	second := uint64(1_000_000_000)
	rules := riskRulesBody(
		model.RiskRule{ID: 1, Kind: model.RiskMaxAmount, Scope: model.RiskScopeLedger, Ledger: 1,
			Amount: model.U128(900)},
		model.RiskRule{ID: 2, Kind: model.RiskVelocity, Scope: model.RiskScopeLedger, Ledger: 1,
			WindowNs: 8 * second, Amount: model.U128(1500), Count: 2},
		model.RiskRule{ID: 3, Kind: model.RiskDailyAmount, Scope: model.RiskScopeClient, Client: 7,
			Ledger: 1, Amount: model.U128(75_000)},
		model.RiskRule{ID: 4, Kind: model.RiskCoolingOff, Scope: model.RiskScopeLedger, Ledger: 1,
			WindowNs: 3 * second, Amount: model.U128(50)},
		model.RiskRule{ID: 5, Kind: model.RiskAnomaly, Scope: model.RiskScopeLedger, Ledger: 1,
			Threshold: 24, Warmup: 3, Shift: 2, Action: model.RiskHold},
		model.RiskRule{ID: 6, Kind: model.RiskBlocked, Scope: model.RiskScopeAccount,
			Account: model.U128(12)},
		model.RiskRule{ID: 7, Kind: model.RiskBlockedCounterparty, Scope: model.RiskScopeAccount,
			Account: model.U128(1), Counterparty: model.U128(2)})
	out := h.apply(Request{Operation: model.OperationSetRiskRules, Body: rules})
	for i, status := range eventStatuses(t, out.Body(&out.Replies[0])) {
		if status != model.StatusOK {
			t.Fatalf("rule %d: %s", i+1, status)
		}
	}
	random := rand.New(rand.NewPCG(3, 4))
	var replies [][]byte
	seen := map[model.Status]bool{}
	number, nextID := uint64(2), uint64(100)
	var snapshot bytes.Buffer
	halfway := 0
	for turn := 0; turn < 400; turn++ {
		h.timestamp += random.Uint64N(2 * second)
		if turn == 200 {
			if _, err := h.machine.Snapshot().WriteTo(&snapshot); err != nil {
				t.Fatal(err)
			}
			halfway = len(h.entries)
			// The rules change midway, through the log, and count from then on.
			body := make([]byte, model.RiskRuleIDSize)
			binary.LittleEndian.PutUint32(body, 1)
			h.apply(Request{Operation: model.OperationRemoveRiskRules, Body: body})
			h.apply(Request{Operation: model.OperationSetRiskRules, Body: riskRulesBody(
				model.RiskRule{ID: 8, Kind: model.RiskVelocity, Scope: model.RiskScopeClient,
					Client: 7, Ledger: 1, WindowNs: 4 * second, Count: 5})})
		}
		var transfers []model.Transfer
		for n := 1 + random.IntN(3); n > 0; n-- {
			debit := 1 + random.Uint64N(12)
			credit := 1 + (debit+random.Uint64N(11))%12
			amount := 1 + random.Uint64N(300)
			if random.IntN(8) == 0 {
				amount *= 6
			}
			nextID++
			transfers = append(transfers, simpleTransfer(nextID, debit, credit, amount))
		}
		out := h.apply(Request{Client: 7, Session: 1, Number: number, Flags: RequestFlagReplyBalances,
			Operation: model.OperationCreateTransfers, Body: transfersBody(transfers...)})
		number++
		body := out.Body(&out.Replies[0])
		replies = append(replies, append([]byte(nil), body...))
		for offset := 0; offset < len(body); offset += model.EventResultBalancesSize {
			var result model.TransferResult
			result.DecodeWithBalances(body[offset:])
			seen[result.Status] = true
		}
	}
	for _, status := range []model.Status{model.StatusRiskAmountAboveMaximum,
		model.StatusRiskClientDailyAmount,
		model.StatusRiskAccountVelocityAmount, model.StatusRiskAccountVelocityCount,
		model.StatusRiskNewCounterparty, model.StatusRiskHeldForReview,
		model.StatusRiskDebitAccountBlocked, model.StatusRiskCreditAccountBlocked,
		model.StatusRiskCounterpartyBlocked, model.StatusRiskClientVelocityCount} {
		if !seen[status] {
			t.Errorf("the traffic never ended %s (it ended %v)", status, seen)
		}
	}
	restored, err := Restore(Config{}, bytes.NewReader(snapshot.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	scratch := New(Config{})
	replay := func(m *Machine, from int) [][]byte {
		var bodies [][]byte
		for i := from; i < len(h.entries); i++ {
			out := &Output{}
			if err := m.Apply(&h.entries[i], out); err != nil {
				t.Fatal(err)
			}
			for j := range out.Replies {
				if out.Replies[j].Operation == model.OperationCreateTransfers {
					bodies = append(bodies, append([]byte(nil), out.Body(&out.Replies[j])...))
				}
			}
		}
		return bodies
	}
	fromScratch := replay(scratch, 0)
	fromSnapshot := replay(restored, halfway)
	for i := range replies {
		if !bytes.Equal(fromScratch[i], replies[i]) {
			t.Fatalf("reply %d differs on replay", i)
		}
	}
	for i := range fromSnapshot {
		if !bytes.Equal(fromSnapshot[i], replies[200+i]) {
			t.Fatalf("reply %d differs after the restore", 200+i)
		}
	}
	if restored.Digest() != h.machine.Digest() || scratch.Digest() != h.machine.Digest() {
		t.Fatal("digests differ between live, restored and replayed machines")
	}
}

// TestSnapshotVersionsBeforeRisk: a version 4 snapshot (the saga section, no risk
// section) is read as the same machine with no risk rules; a version 5 snapshot cut
// before its risk section is refused.
func TestSnapshotVersionsBeforeRisk(t *testing.T) {
	h := newHarness(t, Config{})
	h.operators(7)
	h.apply(Request{Client: 7, Session: 1, Number: 1, Operation: model.OperationCreateAccounts,
		Body: accountsBody(1, 2)})
	var current, riskSection bytes.Buffer
	if _, err := h.machine.Snapshot().WriteTo(&current); err != nil {
		t.Fatal(err)
	}
	if _, err := h.machine.ledger.Risk().Snapshot().WriteTo(&riskSection); err != nil {
		t.Fatal(err)
	}
	withoutRisk := bytes.Clone(current.Bytes()[:current.Len()-riskSection.Len()])
	if _, err := Restore(Config{}, bytes.NewReader(withoutRisk)); err == nil {
		t.Fatal("a version 5 snapshot without its risk section was read")
	}
	binary.LittleEndian.PutUint32(withoutRisk[8:], machineSnapshotVersionNoRisk)
	restored, err := Restore(Config{}, bytes.NewReader(withoutRisk))
	if err != nil {
		t.Fatalf("version 4: %v", err)
	}
	if restored.Digest() != h.machine.Digest() || restored.ledger.Risk().Active() {
		t.Fatal("a version 4 snapshot did not restore the same machine with no rules")
	}
}
