//go:build race

package wal

// crashCyclesDefault is TestCrashLoop's number of kill-and-recover cycles under the race
// detector. The cycles differ only in where the random kill lands, which the plain run's
// 20 cycles already sample; each cycle runs the same goroutines (the child's pipeline, the
// parent's recovery and read-back), so under the detector a few cycles check them as well
// as twenty do, at ~1.5 s a cycle (race-built child and parent). Ten keeps two of the
// early kills (every fifth cycle), which land during the child's recovery.
const crashCyclesDefault = 10
