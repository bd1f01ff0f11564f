//go:build !race

package wal

// crashCyclesDefault is TestCrashLoop's number of kill-and-recover cycles (the race
// build runs fewer: race_on_test.go says why).
const crashCyclesDefault = 20
