//go:build race

package router

import (
	"flag"
	"strconv"
)

// The race run of this package (CI runs it because core/node has concurrency) repeats the
// plain run's random cases, which all run in one goroutine: the simulation drives shards,
// router, transport and clients itself (sim_test.go). Under the detector those cases find
// no race that fewer of them would not, and each costs several times more, so the race
// build runs fewer; the plain run keeps the full counts and the whole state space.

// sessionOrderSeedsDefault: TestSessionOrderPerShard's seeds (the plain run: 16).
const sessionOrderSeedsDefault = 4

// rapidChecksUnderRace: TestSagaPropertyAgainstOneLedger's rapid cases (rapid's default,
// which the plain run keeps: 100). Set before the command line is parsed, so an explicit
// -rapid.checks still wins.
const rapidChecksUnderRace = 25

// allocationsCounted: the detector's instrumentation allocates, so allocation counts are
// checked only in the plain run (race_off_test.go).
const allocationsCounted = false

func init() {
	if err := flag.Set("rapid.checks", strconv.Itoa(rapidChecksUnderRace)); err != nil {
		panic(err)
	}
}
