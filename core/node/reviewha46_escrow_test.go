package node

import (
	"testing"

	"sequent/core/model"
)

// TestReviewha46EscrowAccountLookupOnTwoShards: an instrument's escrow accounts live with
// the instrument (shardmap doc; PROTOCOL.md "Escrow accounts": base escrow id high 64 bits
// 0x806D010000000000, low 64 bits the instrument id), and an operator looks them up by
// id. Under id placement the router sent lookup_accounts of an escrow id to the shard the
// map places the id on (shard 1 here: ids from 100), not the instrument's (5 is on the
// default instrument shard 0), so it found nothing, as hunt46a found of settlement ids.
func TestReviewha46EscrowAccountLookupOnTwoShards(t *testing.T) {
	tn := newTestNode(t)
	createTwoShardMarket(tn)
	escrow := model.Uint128{Hi: 0x806D010000000000, Lo: 5}
	ids := make([]byte, model.IDSize)
	escrow.PutLE(ids)
	reply := tn.call(3, 0, model.OperationLookupAccounts, 0, ids)
	if reply.Status != model.StatusOK || len(reply.Body) != model.AccountSize {
		t.Fatalf("lookup_accounts of instrument 5's base escrow: %s, %d records", reply.Status,
			len(reply.Body)/model.AccountSize)
	}
}
