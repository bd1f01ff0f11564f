package router

import "flag"

var (
	simSeeds = flag.Int("sim.seeds", 4, "simulation seeds to run")
	simSteps = flag.Int("sim.steps", 2500, "simulation steps per seed")
)

var (
	sessionOrderSeed  = flag.Uint64("shardcache.seed", 0, "TestSessionOrderPerShard: run only this seed")
	sessionOrderSeeds = flag.Int("shardcache.seeds", sessionOrderSeedsDefault, "TestSessionOrderPerShard: seeds to run")
	sessionOrderSteps = flag.Int("shardcache.steps", 400, "TestSessionOrderPerShard: steps per seed")
)
