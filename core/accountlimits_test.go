package core

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"testing"

	"sequent/core/model"
)

// limitGrants lets clients 1 and 2 create accounts that may go negative on ledger 1
// (accountsBody's), so that only the limits decide.
var limitGrants = []model.Grant{{Client: 1, Scopes: model.ScopeTransfer, Ledger: 1},
	{Client: 2, Scopes: model.ScopeTransfer, Ledger: 1}}

// limitTraffic applies, after a set_grants request with limitGrants and limits, account
// creations of clients 1 and 2: three each, then client 1's retry of its first. It
// returns every request's and event's status, in order.
func limitTraffic(h *harness, limits []model.ClientLimit) []model.Status {
	h.t.Helper()
	var statuses []model.Status
	record := func(out *Output) {
		for i := range out.Replies {
			statuses = append(statuses, out.Replies[i].Status)
			statuses = append(statuses, eventStatuses(h.t, out.Body(&out.Replies[i]))...)
		}
	}
	record(h.apply(Request{Operation: model.OperationSetGrants,
		Body: model.AppendGrantsAndLimits(nil, limitGrants, limits)}))
	record(h.apply(Request{Client: 1, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1, 2, 3)},
		Request{Client: 2, Session: 1, Number: 1, Operation: model.OperationCreateAccounts,
			Body: accountsBody(4, 5, 6)}))
	record(h.apply(Request{Client: 1, Session: 1, Number: 2,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)}))
	return statuses
}

// TestClientLimitsFromTheLog holds that the client limits of a set_grants request bound
// each client's accounts from rules version 3 on (client 1 at 2: its third account is
// refused, its retry answers exists; client 2 without a limit is not bounded), that a
// replay decides the same (same statuses, same digest), and that a snapshot carries the
// limits and a restored machine, whose counts come from the accounts' owners, refuses
// client 1's next account too.
func TestClientLimitsFromTheLog(t *testing.T) {
	h := newHarness(t, Config{})
	h.upgradeRules(RulesVersionCurrent)
	limits := []model.ClientLimit{{Client: 1, AccountsMax: 2}}
	got := limitTraffic(h, limits)
	want := []model.Status{model.StatusOK,
		model.StatusOK, model.StatusOK, model.StatusOK, model.StatusAccountsLimitPerClientReached,
		model.StatusOK, model.StatusOK, model.StatusOK, model.StatusOK,
		model.StatusOK, model.StatusExists}
	if !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	if in := h.machine.Ledger().AccountLimits(); !slices.Equal(in, limits) {
		t.Fatalf("limits in force %v, want %v", in, limits)
	}
	if !bytes.Equal(h.machine.AppendGrantsInForce(nil),
		model.AppendGrantsAndLimits(nil, limitGrants, limits)) {
		t.Fatal("the table in force does not encode as the request that set it")
	}
	replay := replayed(t, Config{}, h.entries)
	if replay.Digest() != h.machine.Digest() ||
		!slices.Equal(replay.Ledger().AccountLimits(), limits) {
		t.Fatal("a replay of the entries differs")
	}
	copied, encoded := restored(t, Config{}, h.machine)
	if copied.Digest() != h.machine.Digest() ||
		!slices.Equal(copied.Ledger().AccountLimits(), limits) {
		t.Fatal("a snapshot did not restore the limits")
	}
	// The restored machine refuses client 1's next account, and takes client 2's.
	after := &harness{t: t, machine: copied, op: h.op, timestamp: h.timestamp}
	out := after.apply(Request{Client: 1, Session: 1, Number: 3,
		Operation: model.OperationCreateAccounts, Body: accountsBody(7)},
		Request{Client: 2, Session: 1, Number: 2,
			Operation: model.OperationCreateAccounts, Body: accountsBody(8)})
	if status := eventStatuses(t, out.Body(&out.Replies[0]))[0]; status !=
		model.StatusAccountsLimitPerClientReached {
		t.Fatalf("client 1 after the restore: %s", status)
	}
	if status := eventStatuses(t, out.Body(&out.Replies[1]))[0]; status != model.StatusOK {
		t.Fatalf("client 2 after the restore: %s", status)
	}
	// The limits are state: the digest covers them.
	withoutLimits := h.machine.Digest()
	h.apply(Request{Operation: model.OperationSetGrants,
		Body: model.AppendGrants(nil, limitGrants)})
	if h.machine.Digest() == withoutLimits || len(h.machine.Ledger().AccountLimits()) != 0 {
		t.Fatal("withdrawing the limits changed no digest")
	}
	// A snapshot claiming limits below rules version 3 is refused.
	damaged := bytes.Clone(encoded)
	binary.LittleEndian.PutUint32(damaged[machineHeaderSize:], 2)
	if _, err := Restore(Config{}, bytes.NewReader(damaged)); err == nil {
		t.Fatal("a snapshot with client limits at rules version 2 was read")
	}
	damaged = bytes.Clone(encoded)
	damaged[machineHeaderSize+machineRulesSize+12] = 1 // A limit's reserved word.
	if _, err := Restore(Config{}, bytes.NewReader(damaged)); err == nil {
		t.Fatal("a snapshot with a client limit's reserved bytes set was read")
	}
}

// TestClientLimitsRefusedBeforeVersionThree holds that below rules version 3 a set_grants
// request carrying client limits is refused whole (invalid_body: the table in force, its
// grants included, stays), as the builds before limits refused its non-zero reserved
// header word, and that the same grants without limits are applied as they always were.
func TestClientLimitsRefusedBeforeVersionThree(t *testing.T) {
	for _, version := range []uint32{RulesVersionFirst, rulesVersionSettlementsAfterChecks} {
		h := newHarness(t, Config{})
		if version != RulesVersionFirst {
			h.upgradeRules(version)
		}
		statuses := limitTraffic(h, []model.ClientLimit{{Client: 1, AccountsMax: 2}})
		if statuses[0] != model.StatusInvalidBody || len(h.machine.Grants()) != 0 ||
			len(h.machine.Ledger().AccountLimits()) != 0 {
			t.Fatalf("version %d: set_grants with limits %s, %d grants in force", version,
				statuses[0], len(h.machine.Grants()))
		}
		if h.machine.AcceptsClientLimits() {
			t.Fatalf("version %d accepts client limits", version)
		}
		out := h.apply(Request{Operation: model.OperationSetGrants,
			Body: model.AppendGrants(nil, limitGrants)})
		if out.Replies[0].Status != model.StatusOK || len(h.machine.Grants()) != 2 {
			t.Fatalf("version %d: set_grants without limits: %s", version, out.Replies[0].Status)
		}
	}
}

// versionTwoDigest is the state digest after limitTraffic without limits at rules
// version 2 followed by versionOneTraffic, computed by the code before client limits
// existed (commit 4a5a29c, rules version 2 current): a log written at version 2 must
// replay exactly as that code applied it.
const versionTwoDigest = "236a787393b924e2a1b46554ebb65d7b9561c6ededf770d38629b69bed659d4e"

// TestVersionTwoLogReplaysAsBefore holds that a log written at rules version 2 (set_grants
// without limits, account creations and cross-shard transfers) ends in the state, digest
// included, that the code before client limits computed.
func TestVersionTwoLogReplaysAsBefore(t *testing.T) {
	config := Config{Shard: ShardConfig{Map: twoShards, Index: 0}}
	h := newHarness(t, config)
	h.upgradeRules(rulesVersionSettlementsAfterChecks)
	limitTraffic(h, nil)
	versionOneTraffic(h)
	digest := h.machine.Digest()
	if hex.EncodeToString(digest[:]) != versionTwoDigest {
		t.Fatalf("version 2 state digest %x, want %s (the code before client limits)", digest,
			versionTwoDigest)
	}
	if replayed(t, config, h.entries).Digest() != digest {
		t.Fatal("a replay of the version 2 entries differs")
	}
}
