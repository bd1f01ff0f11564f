package core

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"testing"

	"sequent/core/model"
)

// TestVersionTwoSnapshotRestoresWithoutLimits: the snapshot of a machine at rules
// version 2 (version 6, its client limit count word zero: the bytes the code before
// client limits wrote, as the pinned digest shows) restores at version 2 with no limit in
// force, to the same digest, with the grants in force encoding as the body the keys file
// gives without limits (so a restart on it logs no set_grants).
func TestVersionTwoSnapshotRestoresWithoutLimits(t *testing.T) {
	config := Config{Shard: ShardConfig{Map: twoShards, Index: 0}}
	h := newHarness(t, config)
	h.upgradeRules(rulesVersionSettlementsAfterChecks)
	limitTraffic(h, nil)
	versionOneTraffic(h)
	digest := h.machine.Digest()
	if hex.EncodeToString(digest[:]) != versionTwoDigest {
		t.Fatalf("version 2 state digest %x, want %s", digest, versionTwoDigest)
	}
	copied, _ := restored(t, config, h.machine)
	if copied.Digest() != digest || copied.RulesVersion() != rulesVersionSettlementsAfterChecks ||
		copied.Ledger().AccountLimits() != nil || copied.AcceptsClientLimits() {
		t.Fatalf("restored at rules version %d with limits %v", copied.RulesVersion(),
			copied.Ledger().AccountLimits())
	}
	if !bytes.Equal(copied.AppendGrantsInForce(nil), model.AppendGrants(nil,
		h.machine.Grants())) {
		t.Fatal("the restored grants in force do not encode as a table without limits")
	}
}

// TestClientLimitsSnapshotAtItsBounds: a machine with ClientLimitsMax client limits
// restores them all; a snapshot whose count word says one more, or that ends inside the
// limits, is refused.
func TestClientLimitsSnapshotAtItsBounds(t *testing.T) {
	h := newHarness(t, Config{})
	h.upgradeRules(RulesVersionCurrent)
	limits := make([]model.ClientLimit, model.ClientLimitsMax)
	for i := range limits {
		limits[i] = model.ClientLimit{Client: uint64(1 + i), AccountsMax: uint32(1 + i)}
	}
	out := h.apply(Request{Operation: model.OperationSetGrants,
		Body: model.AppendGrantsAndLimits(nil, nil, limits)})
	if out.Replies[0].Status != model.StatusOK {
		t.Fatalf("set_grants with the most limits: %s", out.Replies[0].Status)
	}
	copied, encoded := restored(t, Config{}, h.machine)
	if !slices.Equal(copied.Ledger().AccountLimits(), limits) {
		t.Fatal("the most client limits did not survive a snapshot")
	}
	countAt := machineHeaderSize + 4
	tooMany := bytes.Clone(encoded)
	binary.LittleEndian.PutUint32(tooMany[countAt:], model.ClientLimitsMax+1)
	if _, err := Restore(Config{}, bytes.NewReader(tooMany)); err == nil {
		t.Error("a snapshot claiming one client limit too many was read")
	}
	limitsEnd := machineHeaderSize + machineRulesSize + len(limits)*model.ClientLimitSize
	if _, err := Restore(Config{}, bytes.NewReader(encoded[:limitsEnd-1])); err == nil {
		t.Error("a snapshot ending inside its client limits was read")
	}
}
