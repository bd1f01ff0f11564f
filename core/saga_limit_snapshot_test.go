package core

import (
	"bytes"
	"testing"

	"sequent/core/model"
	"sequent/core/saga"
)

// A saga's post must happen even at the transfers limit (ledger doc: it exceeds the limit
// by at most the sagas in flight), so a debit shard can hold more transfers than
// TransfersMax. Its snapshot must restore under the same configuration; Restore refused
// it ("counts ... exceed limits"), so such a shard could not restart from a snapshot.
func TestSnapshotRestoresSagaPostsPastTheTransfersLimit(t *testing.T) {
	p := &pair{t: t, actor: 1}
	config := func(shard int) Config {
		c := Config{Shard: ShardConfig{Map: twoShards, Index: uint16(shard)}}
		c.Ledger.TransfersMax = 4
		return c
	}
	for i := range p.shards {
		p.shards[i] = newHarness(t, config(i))
		p.shards[i].upgradeRules(RulesVersionCurrent)
	}
	p.accounts(map[uint64]uint16{1: 0, 100: 0})
	// Four sagas in flight: four step 1s fill shard 0's limit.
	var messages []saga.Message
	for id := uint64(1); id <= 4; id++ {
		result, produced := p.transfer(simpleTransfer(id, 1, 100, 10))
		if result.Status != model.StatusSagaInFlight {
			t.Fatalf("transfer %d: %s", id, result.Status)
		}
		messages = append(messages, produced...)
	}
	for _, finished := range p.settle(messages) {
		if finished.Finished.Result.Status != model.StatusOK {
			t.Fatalf("saga %d: %s", finished.Finished.Sequence, finished.Finished.Result.Status)
		}
	}
	if count := p.shards[0].machine.Ledger().TransferCount(); count <= 4 {
		t.Fatalf("%d transfers on shard 0: the case proves nothing", count)
	}
	var encoded bytes.Buffer
	if _, err := p.shards[0].machine.Snapshot().WriteTo(&encoded); err != nil {
		t.Fatal(err)
	}
	copied, err := Restore(config(0), bytes.NewReader(encoded.Bytes()))
	if err != nil {
		t.Fatalf("shard 0's snapshot does not restore: %v", err)
	}
	if copied.Digest() != p.shards[0].machine.Digest() {
		t.Fatal("the restored machine differs")
	}
}
