package router

import "flag"

var (
	simSeeds = flag.Int("sim.seeds", 4, "simulation seeds to run")
	simSteps = flag.Int("sim.steps", 2500, "simulation steps per seed")
)
