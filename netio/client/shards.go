package client

import (
	"context"
	"slices"

	"sequent/core/model"
	"sequent/core/shardmap"
)

// ShardMap returns the server's shard map (the get_shard_map query, PROTOCOL.md §18),
// asked once and kept: a node's map never changes.
func (c *Client) ShardMap(ctx context.Context) (*shardmap.Map, error) {
	c.mu.Lock()
	known := c.shardMap
	c.mu.Unlock()
	if known != nil {
		return known, nil
	}
	reply, err := c.Do(ctx, model.OperationGetShardMap, 0, nil)
	if err != nil {
		return nil, err
	}
	placement, err := shardmap.Decode(reply.Body)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.shardMap = placement
	c.mu.Unlock()
	return placement, nil
}

// routeTransfers returns the order in which to send transfers (indexes into it) and the
// debit shard of each in that order: the batch's order unless Config.RouteByShard, with
// a map of several shards and no linked event, groups the transfers by debit shard
// (stable within a shard, so each shard sees its transfers in the batch's order). Both
// are nil when the batch's order is kept with no shard (the common case, allocation
// free): the i-th sent is transfers[i], shard 0.
func (c *Client) routeTransfers(ctx context.Context, transfers []model.Transfer) (
	order []int, shardOf []uint16, err error) {
	if !c.config.RouteByShard || len(transfers) < 2 ||
		slices.ContainsFunc(transfers, func(t model.Transfer) bool {
			return t.Flags&model.TransferLinked != 0
		}) {
		return nil, nil, nil
	}
	placement, err := c.ShardMap(ctx)
	if err != nil || placement.Shards == 1 {
		return nil, nil, err
	}
	order = make([]int, len(transfers))
	for i := range order {
		order[i] = i
	}
	shardOf = make([]uint16, len(transfers))
	debit := make([]uint16, len(transfers))
	for i := range transfers {
		debit[i], _, _ = placement.TransferShards(&transfers[i])
	}
	slices.SortStableFunc(order, func(a, b int) int { return int(debit[a]) - int(debit[b]) })
	for i, index := range order {
		shardOf[i] = debit[index]
	}
	return order, shardOf, nil
}
