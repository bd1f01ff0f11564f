package shard

import (
	"bytes"
	"slices"
	"testing"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// TestLargestGrantTableReachesTheLog: a keys table at both bounds (model.GrantsMax
// grants and model.ClientLimitsMax client limits: model.GrantsBodyBytesMax bytes) passes
// every bound on its way (the shard's check, the entry that opens with upgrade_rules, the
// log's entry bound, the core's request shape), is in force after it, survives a snapshot,
// and a restart with it logs nothing more.
func TestLargestGrantTableReachesTheLog(t *testing.T) {
	grants := make([]model.Grant, model.GrantsMax)
	for i := range grants {
		grants[i] = model.Grant{Client: uint64(1 + i/model.GrantsPerClientMax),
			Scopes: model.ScopeRead, Ledger: uint32(1 + i)}
	}
	limits := make([]model.ClientLimit, model.ClientLimitsMax)
	for i := range limits {
		limits[i] = model.ClientLimit{Client: uint64(1 + i), AccountsMax: uint32(1 + i)}
	}
	body := model.AppendGrantsAndLimits(nil, grants, limits)
	if len(body) != model.GrantsBodyBytesMax {
		t.Fatalf("the largest table is %d bytes, GrantsBodyBytesMax %d", len(body),
			model.GrantsBodyBytesMax)
	}
	log := wal.NewMemoryLog()
	s, _ := startShardOf(t, Config{}, core.New(core.Config{}), log)
	if err := s.SetGrants(body); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the table durable", func() bool { return log.Durable() >= 2 })
	s.Close()
	if operations := operationsOf(t, log); !slices.Equal(operations, []model.Operation{
		model.OperationUpgradeRules, model.OperationSetGrants}) {
		t.Fatalf("log holds %v", operations)
	}
	if !bytes.Equal(s.machine.AppendGrantsInForce(nil), body) {
		t.Fatal("the largest table is not in force")
	}
	var encoded bytes.Buffer
	if _, err := s.machine.Snapshot().WriteTo(&encoded); err != nil {
		t.Fatal(err)
	}
	copied, err := core.Restore(core.Config{}, &encoded)
	if err != nil || !bytes.Equal(copied.AppendGrantsInForce(nil), body) {
		t.Fatalf("the largest table through a snapshot: %v", err)
	}
	restarted, _, err := Recover(core.Config{}, log, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, againReplies := startShardOf(t, Config{Epoch: 2}, restarted, log)
	if err := again.SetGrants(body); err != nil {
		t.Fatal(err)
	}
	// A read answered after the table was given: the sequencer has compared it by then.
	again.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)})
	againReplies.waitFor(t, 1)
	again.Close()
	if operations := operationsOf(t, log); len(operations) != 2 {
		t.Fatalf("a restart with the same table logged %v", operations[2:])
	}
}
