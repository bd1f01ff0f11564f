package node

import (
	"errors"
	"fmt"
	"sync"

	"sequent/core"
	"sequent/core/shard"
	"sequent/core/shardmap"
)

// Local is the unreplicated Groups: shards over given machines and logs, each shard's
// log whatever the caller chose (an in-memory log in tests and the simulation, files in
// the in-process tools and benchmarks). It is the in-memory fake of the replication
// seam; replication.Node is the real one.
type Local struct {
	shards []*shard.Shard
}

var _ Groups = (*Local)(nil)

// Part is one shard's recovered state: its machine (built for its index of the map) and
// its open log, whose last op is the machine's.
type Part struct {
	Machine *core.Machine
	Log     shard.Log
	// Snapshots, when set, turns snapshots on for this shard (its own directory).
	Snapshots *shard.SnapshotConfig
}

// NewLocal builds one shard per part, in shard order, with config (the node's clock,
// ring sizes...; Snapshots come from each part). Every part's machine must be the one of
// its index of placement.
func NewLocal(placement *shardmap.Map, config shard.Config, parts []Part) (*Local, error) {
	if len(parts) != int(placement.Shards) {
		return nil, fmt.Errorf("node: %d parts for %d shards", len(parts), placement.Shards)
	}
	local := &Local{}
	for index, part := range parts {
		book := part.Machine.Sagas()
		if book.Self() != uint16(index) || !book.Map().Equal(placement) {
			return nil, fmt.Errorf("node: part %d holds the machine of shard %d of %s, "+
				"not of shard %d of %s", index, book.Self(), book.Map(), index, placement)
		}
		shardConfig := config
		shardConfig.Snapshots = part.Snapshots
		s, err := shard.New(shardConfig, part.Machine, part.Log)
		if err != nil {
			return nil, fmt.Errorf("node: shard %d: %w", index, err)
		}
		local.shards = append(local.shards, s)
	}
	return local, nil
}

// Shards implements Groups.
func (l *Local) Shards() []*shard.Shard { return l.shards }

// Start implements Groups.
func (l *Local) Start(outputs []shard.Outputs) {
	for index, s := range l.shards {
		s.Start(outputs[index])
	}
}

// Close implements Groups: every shard at once.
func (l *Local) Close() error {
	errs := make([]error, len(l.shards))
	var group sync.WaitGroup
	for index, s := range l.shards {
		group.Go(func() { errs[index] = s.Close() })
	}
	group.Wait()
	return errors.Join(errs...)
}
