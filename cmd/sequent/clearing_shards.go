package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"sequent/core/model"
	"sequent/core/shardmap"
	"sequent/netio/client"
)

// serverShardMap returns the server's shard map for the clearing commands' checks, or
// nil when the server answers get_shard_map unknown_operation (a server from before
// shards, or a test double: one shard, nothing to check).
func serverShardMap(ctx context.Context, c *client.Client) (*shardmap.Map, error) {
	placement, err := c.ShardMap(ctx)
	var status *client.StatusError
	if errors.As(err, &status) && status.Status == model.StatusUnknownOperation {
		return nil, nil
	}
	return placement, err
}

// pendingSpanningShards returns why the first of the pending transfers whose debit and
// credit accounts are on different shards of the map cannot be booked ("" when each is
// on one shard). The node refuses a two-phase transfer across shards
// (pending_transfer_spans_shards, PROTOCOL.md §17): `sequent settle --book` checks before
// it sends anything, so that no ledger's settlement is booked while another's is refused.
func pendingSpanningShards(placement *shardmap.Map, transfers []model.Transfer) string {
	if placement == nil {
		return ""
	}
	for i := range transfers {
		t := &transfers[i]
		debit, credit, _ := placement.TransferShards(t)
		if debit == credit {
			continue
		}
		return fmt.Sprintf("the settlement on ledger %d (%s → %s) would be a pending "+
			"transfer across shards: account %s is on shard %d, account %s on shard %d, and "+
			"the node refuses two-phase transfers across shards "+
			"(pending_transfer_spans_shards); name a --via account of ledger %d on the "+
			"partner's shard; nothing was booked", t.Ledger, t.DebitAccountID,
			t.CreditAccountID, t.DebitAccountID, debit, t.CreditAccountID, credit, t.Ledger)
	}
	return ""
}

// chainSpanningShards returns why a linked chain of transfers (a conversion's two legs)
// whose accounts are on more than one shard of the map cannot be booked ("" when all are
// on one shard): a linked chain is atomic on one shard only (linked_chain_spans_shards).
func chainSpanningShards(placement *shardmap.Map, transfers []model.Transfer,
	roles []string) string {
	if placement == nil {
		return ""
	}
	var places []string
	shards := map[uint16]bool{}
	for i := range transfers {
		t := &transfers[i]
		debit, credit, _ := placement.TransferShards(t)
		shards[debit], shards[credit] = true, true
		places = append(places, fmt.Sprintf("%s %s on shard %d", roles[2*i], t.DebitAccountID,
			debit), fmt.Sprintf("%s %s on shard %d", roles[2*i+1], t.CreditAccountID, credit))
	}
	if len(shards) <= 1 {
		return ""
	}
	return fmt.Sprintf("conversion across shards is not built: %s; its two legs are a "+
		"linked chain, atomic on one shard only (the node answers "+
		"linked_chain_spans_shards): place all four accounts on one shard; nothing was sent",
		strings.Join(places, ", "))
}
