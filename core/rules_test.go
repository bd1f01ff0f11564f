package core

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"testing"

	"sequent/core/model"
	"sequent/core/saga"
)

// refusedCrossShardTransfers is the traffic of a client that may debit nothing on shard 0
// of an ownedPair: a hundred transfers from a missing account on ledgers 10..109, then
// one from client 1's account 1, which client 3 may not debit.
func refusedCrossShardTransfers() []model.Transfer {
	var transfers []model.Transfer
	for ledger := uint32(10); ledger < 110; ledger++ {
		transfer := simpleTransfer(1000+uint64(ledger), 5, 200, 1)
		transfer.Ledger = ledger
		transfers = append(transfers, transfer)
	}
	return append(transfers, simpleTransfer(2000, 1, 100, 1))
}

// TestRefusedTransfersCreateNoSettlementAccount holds that a cross-shard transfer the debit
// shard refuses on its own side leaves no settlement account behind (so that a client
// owning nothing cannot fill the shared accounts limit with them), and that it is answered
// as before: debit_account_not_found, debit_account_not_owned, and, for a debit account
// on another ledger than the transfer's, accounts_must_have_the_same_ledger. The
// transient refusals are remembered (a retry answers id_already_failed), the other is not.
func TestRefusedTransfersCreateNoSettlementAccount(t *testing.T) {
	p := ownedPair(t)
	accountsBefore := p.shards[0].machine.Ledger().AccountCount()
	p.actor = 3
	out := p.client(0, model.OperationCreateTransfers, 0,
		transfersBody(refusedCrossShardTransfers()...))
	statuses := eventStatuses(t, out.Body(&out.Replies[0]))
	for i, status := range statuses[:100] {
		if status != model.StatusDebitAccountNotFound {
			t.Fatalf("transfer %d: %s, want debit_account_not_found", i, status)
		}
	}
	if statuses[100] != model.StatusDebitAccountNotOwned {
		t.Fatalf("someone else's account: %s, want debit_account_not_owned", statuses[100])
	}
	p.actor = 1
	otherLedger := simpleTransfer(3000, 1, 100, 1)
	otherLedger.Ledger = 7
	if result, _ := p.transfer(otherLedger); result.Status !=
		model.StatusAccountsMustHaveTheSameLedger {
		t.Fatalf("debit account on another ledger: %s", result.Status)
	}
	if result, _ := p.transfer(otherLedger); result.Status !=
		model.StatusAccountsMustHaveTheSameLedger {
		t.Fatalf("retry of a refusal that is not transient: %s", result.Status)
	}
	p.actor = 3
	if result, _ := p.transfer(simpleTransfer(2000, 1, 100, 1)); result.Status !=
		model.StatusIDAlreadyFailed {
		t.Fatalf("retry of a transient refusal: %s", result.Status)
	}
	if count := p.shards[0].machine.Ledger().AccountCount(); count != accountsBefore {
		t.Errorf("refused transfers left %d accounts on the debit shard", count-accountsBefore)
	}
	for _, ledger := range []uint32{1, 7, 10, 109} {
		id := saga.SettlementAccountID(0, 1, ledger)
		if found := p.shards[0].machine.Ledger().LookupAccounts([]model.Uint128{id}, nil); len(found) != 0 {
			t.Errorf("settlement account of ledger %d created", ledger)
		}
	}
}

// versionOneTraffic applies, on shard 0 of twoShards, requests whose outcome depends on
// the rules version: accounts of clients 1 and 2, a valid cross-shard transfer, and a
// client owning nothing sending cross-shard transfers that are all refused. It returns
// every event's status, in order.
func versionOneTraffic(h *harness) []model.Status {
	h.t.Helper()
	var statuses []model.Status
	record := func(out *Output) {
		for i := range out.Replies {
			statuses = append(statuses, out.Replies[i].Status)
			statuses = append(statuses, eventStatuses(h.t, out.Body(&out.Replies[i]))...)
		}
	}
	record(h.apply(Request{Operation: model.OperationSetGrants, Body: model.AppendGrants(nil,
		[]model.Grant{{Client: 1, Scopes: model.ScopeTransfer, Ledger: 1},
			{Client: 2, Scopes: model.ScopeTransfer, Ledger: 1}})}))
	record(h.apply(Request{Client: 1, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)},
		Request{Client: 2, Session: 1, Number: 1, Operation: model.OperationCreateAccounts,
			Body: accountsBody(2)}))
	record(h.apply(Request{Client: 1, Session: 1, Number: 2,
		Operation: model.OperationCreateTransfers,
		Body:      transfersBody(simpleTransfer(50, 1, 100, 3))}))
	record(h.apply(Request{Client: 3, Session: 1, Number: 1,
		Operation: model.OperationCreateTransfers,
		Body:      transfersBody(refusedCrossShardTransfers()...)},
		Request{Client: 1, Session: 1, Number: 3, Operation: model.OperationCreateTransfers,
			Body: transfersBody(simpleTransfer(51, 1, 101, 2))}))
	return statuses
}

// versionOneDigest is the state digest after versionOneTraffic, computed by the code
// before rules versions existed (commit 18aac4b): a machine that no upgrade_rules moved
// must apply those entries exactly as that code did, settlement accounts and timestamps
// included, and encode its state exactly as it did (snapshot version 5).
const versionOneDigest = "7d9c582e966064acc378c1fe93efa51352c4d083eb7b494c6aee130a9b94f8e9"

// replayed applies a harness's entries to a new machine of the same configuration.
func replayed(t *testing.T, config Config, entries []Entry) *Machine {
	t.Helper()
	m := New(config)
	for i := range entries {
		if err := m.Apply(&entries[i], &Output{}); err != nil {
			t.Fatalf("replay of entry %d: %v", i, err)
		}
	}
	return m
}

// restored round-trips a machine through its snapshot encoding.
func restored(t *testing.T, config Config, m *Machine) (*Machine, []byte) {
	t.Helper()
	var encoded bytes.Buffer
	if _, err := m.Snapshot().WriteTo(&encoded); err != nil {
		t.Fatal(err)
	}
	copied, err := Restore(config, bytes.NewReader(encoded.Bytes()))
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	return copied, encoded.Bytes()
}

// TestVersionOneLogReplaysAsBefore holds that entries recorded under rules version 1 (no
// upgrade_rules: every log written before versions existed) replay bit for bit: the
// refused transfers' settlement accounts are created as they were, the digest is the one
// the code before versions computed, and a replay and a snapshot round trip give it too.
func TestVersionOneLogReplaysAsBefore(t *testing.T) {
	config := Config{Shard: ShardConfig{Map: twoShards, Index: 0}}
	h := newHarness(t, config)
	if h.machine.RulesVersion() != RulesVersionFirst {
		t.Fatalf("an empty machine is at rules version %d", h.machine.RulesVersion())
	}
	versionOneTraffic(h)
	// Accounts 1 and 2, the valid transfer's settlement account (ledger 1) and those of
	// the hundred refused transfers (ledgers 10..109).
	if count := h.machine.Ledger().AccountCount(); count != 103 {
		t.Fatalf("%d accounts under version 1, want 103", count)
	}
	digest := h.machine.Digest()
	if hex.EncodeToString(digest[:]) != versionOneDigest {
		t.Fatalf("version 1 state digest %x, want %s (the code before rules versions)",
			digest, versionOneDigest)
	}
	if replay := replayed(t, config, h.entries); replay.Digest() != digest ||
		replay.RulesVersion() != RulesVersionFirst {
		t.Fatal("a replay of the version 1 entries differs")
	}
	copied, encoded := restored(t, config, h.machine)
	if copied.Digest() != digest || copied.RulesVersion() != RulesVersionFirst {
		t.Fatal("a version 1 snapshot did not restore the same machine")
	}
	if version := binary.LittleEndian.Uint32(encoded[8:]); version != machineSnapshotVersionNoRules {
		t.Fatalf("a version 1 machine wrote snapshot version %d, want %d", version,
			machineSnapshotVersionNoRules)
	}
}

// TestUpgradeRulesMovesTheVersionAtItsOp holds that the same requests, after an
// upgrade_rules entry, create no settlement account for the refused transfers (the valid
// transfer's still is), with the same results; that a replay switches at the same op and
// ends in the same state; and that the version survives a snapshot (version 6).
func TestUpgradeRulesMovesTheVersionAtItsOp(t *testing.T) {
	config := Config{Shard: ShardConfig{Map: twoShards, Index: 0}}
	before, after := newHarness(t, config), newHarness(t, config)
	after.upgradeRules(RulesVersionCurrent)
	want, got := versionOneTraffic(before), versionOneTraffic(after)
	if !slices.Equal(got, want) {
		t.Fatalf("statuses after the upgrade %v, before %v", got, want)
	}
	if want[len(want)-1] != model.StatusSagaInFlight || want[6] != model.StatusSagaInFlight {
		t.Fatalf("the valid transfers were refused: %v", want)
	}
	// Accounts 1 and 2 and the valid transfers' settlement account.
	if count := after.machine.Ledger().AccountCount(); count != 3 {
		t.Fatalf("%d accounts after the upgrade, want 3", count)
	}
	replay := replayed(t, config, after.entries)
	if replay.Digest() != after.machine.Digest() || replay.RulesVersion() != RulesVersionCurrent {
		t.Fatal("a replay across the upgrade differs")
	}
	copied, encoded := restored(t, config, after.machine)
	if copied.Digest() != after.machine.Digest() || copied.RulesVersion() != RulesVersionCurrent {
		t.Fatal("a version 2 snapshot did not restore the same machine")
	}
	if version := binary.LittleEndian.Uint32(encoded[8:]); version != machineSnapshotVersion {
		t.Fatalf("snapshot version %d, want %d", version, machineSnapshotVersion)
	}
}

// TestUpgradeRulesRequest holds the request's rules: only the server may send it (a
// client's answers unknown_operation and changes nothing), the version never goes back,
// and a version this build does not implement (or zero) is refused with invalid_body.
// A snapshot claiming such a version, or version 1 in the version 6 layout, is refused.
func TestUpgradeRulesRequest(t *testing.T) {
	h := newHarness(t, Config{})
	out := h.apply(Request{Client: 7, Session: 1, Number: 1,
		Operation: model.OperationUpgradeRules, Body: AppendUpgradeRules(nil, 2)})
	if out.Replies[0].Status != model.StatusUnknownOperation ||
		h.machine.RulesVersion() != RulesVersionFirst {
		t.Fatalf("a client's upgrade_rules: %s, version %d", out.Replies[0].Status,
			h.machine.RulesVersion())
	}
	for _, target := range []uint32{0, RulesVersionCurrent + 1} {
		out := h.apply(Request{Operation: model.OperationUpgradeRules,
			Body: AppendUpgradeRules(nil, target)})
		if out.Replies[0].Status != model.StatusInvalidBody ||
			h.machine.RulesVersion() != RulesVersionFirst {
			t.Fatalf("upgrade_rules to %d: %s, version %d", target, out.Replies[0].Status,
				h.machine.RulesVersion())
		}
	}
	h.upgradeRules(RulesVersionCurrent)
	out = h.apply(Request{Operation: model.OperationUpgradeRules,
		Body: AppendUpgradeRules(nil, RulesVersionFirst)})
	if out.Replies[0].Status != model.StatusOK || h.machine.RulesVersion() != RulesVersionCurrent {
		t.Fatalf("upgrade_rules back to 1: %s, version %d", out.Replies[0].Status,
			h.machine.RulesVersion())
	}
	_, encoded := restored(t, Config{}, h.machine)
	for _, rules := range []uint32{0, RulesVersionFirst, RulesVersionCurrent + 1} {
		damaged := bytes.Clone(encoded)
		binary.LittleEndian.PutUint32(damaged[machineHeaderSize:], rules)
		if _, err := Restore(Config{}, bytes.NewReader(damaged)); err == nil {
			t.Fatalf("a snapshot at rules version %d was read", rules)
		}
	}
}

// TestVersionsAgreeOnTransfersPassingTheDebitSide holds that rules version 2 changes
// nothing for cross-shard transfers that pass the debit side's checks, whatever happens
// to them next (started, refused for the amount, pending or linked across shards): the
// same statuses, and the same ledger (accounts, transfers, timestamps) as version 1.
func TestVersionsAgreeOnTransfersPassingTheDebitSide(t *testing.T) {
	config := Config{Shard: ShardConfig{Map: twoShards, Index: 0}}
	v1, v2 := newHarness(t, config), newHarness(t, config)
	v1.apply(Request{Operation: model.OperationPulse}) // Keeps ops and timestamps aligned.
	v2.upgradeRules(RulesVersionCurrent)
	traffic := func(h *harness) []model.Status {
		var statuses []model.Status
		record := func(out *Output) {
			for i := range out.Replies {
				statuses = append(statuses, out.Replies[i].Status)
				statuses = append(statuses, eventStatuses(t, out.Body(&out.Replies[i]))...)
			}
		}
		record(h.apply(Request{Operation: model.OperationSetGrants,
			Body: model.AppendGrants(nil, []model.Grant{{Client: 1,
				Scopes: model.ScopeTransfer, Ledger: 1}})}))
		limited := model.Account{ID: model.U128(2), Ledger: 1, Code: 1,
			Flags: model.AccountDebitsMustNotExceedCredits}
		body := accountsBody(1)
		body = append(body, make([]byte, model.AccountSize)...)
		limited.Encode(body[model.AccountSize:])
		record(h.apply(Request{Client: 1, Session: 1, Number: 1,
			Operation: model.OperationCreateAccounts, Body: body}))
		pending := simpleTransfer(12, 1, 102, 1)
		pending.Flags = model.TransferPending
		linked := simpleTransfer(13, 1, 103, 1)
		linked.Flags = model.TransferLinked
		record(h.apply(Request{Client: 1, Session: 1, Number: 2,
			Operation: model.OperationCreateTransfers,
			Body: transfersBody(simpleTransfer(10, 1, 100, 5), simpleTransfer(11, 2, 101, 5),
				pending, linked, simpleTransfer(14, 1, 2, 3), simpleTransfer(10, 1, 100, 5))}))
		return statuses
	}
	want, got := traffic(v1), traffic(v2)
	if !slices.Equal(got, want) {
		t.Fatalf("statuses under version 2 %v, under version 1 %v", got, want)
	}
	expected := []model.Status{model.StatusOK, model.StatusOK, model.StatusOK, model.StatusOK,
		model.StatusOK, model.StatusSagaInFlight, model.StatusExceedsCredits,
		model.StatusPendingTransferSpansShards, model.StatusLinkedChainSpansShards,
		model.StatusOK, model.StatusSagaInFlightRetry}
	if !slices.Equal(want, expected) {
		t.Fatalf("statuses %v, want %v", want, expected)
	}
	if v1.machine.Ledger().Digest() != v2.machine.Ledger().Digest() {
		t.Fatal("the ledgers differ")
	}
	if count := v2.machine.Ledger().AccountCount(); count != 3 {
		t.Fatalf("%d accounts, want 3 (two and one settlement account)", count)
	}
}
