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

// shardsSeveral is the coalescing shard of a batch sent whole whose transfers debit
// several shards: no shard index (a map has at most shardmap.ShardsMax = 256 shards), so
// such a batch shares requests only with others like it, never with one shard's.
const shardsSeveral = ^uint16(0)

// route is how a batch of transfers is sent (routeTransfers).
type route struct {
	// order is the order in which to send the transfers (indexes into the batch); nil:
	// the batch's order.
	order []int
	// debit is the debit shard of each transfer, by its index in the batch (the i-th
	// sent is on debit[order[i]]; runs of one shard are cut apart: one shard per
	// request); nil: the batch is not grouped, and shard is the shard of all its
	// requests.
	debit []uint16
	shard uint16
}

// routeTransfers returns how to send transfers. Without Config.RouteByShard (or on a map
// of one shard), the batch's order with shard 0 (the common case, allocation free).
// With it, a batch of several transfers and no linked event is grouped by debit shard
// (stable within a shard, so each shard sees its transfers in the batch's order). A
// batch with a linked event, or of one transfer, is sent whole in its order; its shard
// is its transfers' debit shard, or shardsSeveral when they debit several, so that
// merging (coalesce.go) never puts one shard's events with another's.
func (c *Client) routeTransfers(ctx context.Context, transfers []model.Transfer) (route, error) {
	if !c.config.RouteByShard || len(transfers) == 0 {
		return route{}, nil
	}
	placement, err := c.ShardMap(ctx)
	if err != nil || placement.Shards == 1 {
		return route{}, err
	}
	if len(transfers) == 1 || slices.ContainsFunc(transfers, func(t model.Transfer) bool {
		return t.Flags&model.TransferLinked != 0
	}) {
		first, _, _ := placement.TransferShards(&transfers[0])
		for i := 1; i < len(transfers); i++ {
			if debit, _, _ := placement.TransferShards(&transfers[i]); debit != first {
				return route{shard: shardsSeveral}, nil
			}
		}
		return route{shard: first}, nil
	}
	order := make([]int, len(transfers))
	for i := range order {
		order[i] = i
	}
	debit := make([]uint16, len(transfers))
	for i := range transfers {
		debit[i], _, _ = placement.TransferShards(&transfers[i])
	}
	slices.SortStableFunc(order, func(a, b int) int { return int(debit[a]) - int(debit[b]) })
	return route{order: order, debit: debit}, nil
}

// shardRuns splits the transfers of a grouped batch (sent in order, each on its debit
// shard) into runs of one shard each, cut at model.EventsPerRequestMax events (a grouped
// batch has no linked event: nothing else constrains the cuts).
func shardRuns(runs [][2]int, order []int, debit []uint16) [][2]int {
	for start := 0; start < len(order); {
		end := start + 1
		for end < len(order) && debit[order[end]] == debit[order[start]] {
			end++
		}
		for cut := start; cut < end; cut += model.EventsPerRequestMax {
			runs = append(runs, [2]int{cut, min(cut+model.EventsPerRequestMax, end)})
		}
		start = end
	}
	return runs
}
