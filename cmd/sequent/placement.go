package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"sequent/core/node"
	"sequent/core/shardmap"
)

// addPlacementFlags defines the shard map's flags (serve; bench --embedded shares them).
func addPlacementFlags(flags *pflag.FlagSet, spec *shardmap.Spec) {
	flags.IntVar(&spec.Shards, "shards", 1, "shards (sequencers, one log each) in this node; chosen when the data directory is created and recorded in it (DATA/SHARDMAP): later starts may leave the placement flags out, or must repeat them (resharding is not supported)")
	flags.StringVar(&spec.Placement, "placement", "hash", "how accounts are placed on shards: hash (of the account id), range (of account ids: --placement-ranges) or ledger (--placement-ledgers)")
	flags.StringVar(&spec.Ledgers, "placement-ledgers", "", "with --placement ledger: ledger:shard pairs, e.g. 1:0,2:1")
	flags.IntVar(&spec.DefaultShard, "placement-default-shard", 0, "with --placement ledger: the shard of ledgers not listed")
	flags.StringVar(&spec.Ranges, "placement-ranges", "", "with --placement range: the first account id of each shard's range, in shard order, starting with 0 (default: the id space split evenly)")
	flags.StringVar(&spec.Instruments, "placement-instruments", "", "instrument:shard pairs (an order book and its escrows live on one shard)")
	flags.IntVar(&spec.InstrumentDefault, "placement-instrument-default", 0, "the shard of instruments not listed")
}

// shardMap returns the node's shard map: the one the flags describe, or, when they are
// left at their defaults, the one the data directory records (the one-shard map for a new
// directory). Flags that describe another map than the recorded one are refused when the
// map is recorded (node.ErrShardMapMismatch).
func (o *serveOptions) shardMap(layout node.Layout) (*shardmap.Map, error) {
	// The map's own check takes a count below 1 for 1 and names the bounds less clearly.
	if o.placement.Shards < 1 || o.placement.Shards > shardmap.ShardsMax {
		return nil, fmt.Errorf("--shards %d: want 1 to %d", o.placement.Shards, shardmap.ShardsMax)
	}
	placement, err := o.placement.Build()
	if err != nil {
		return nil, err
	}
	if o.placement != (shardmap.Spec{Shards: 1, Placement: "hash"}) {
		return placement, nil
	}
	recorded, err := layout.ReadShardMap()
	if err != nil || recorded == nil {
		return placement, err
	}
	return recorded, nil
}
