package rapidseed

import (
	"flag"
	"strconv"
	"testing"
)

// shortDivisor is how many times fewer checks rapid runs under -short.
const shortDivisor = 5

// Fix makes the rapid.Check calls in the rest of the test run from seed, checks checks
// each (under -short too, where rapid would run a fifth of them and so reach fewer
// outcomes).
func Fix(t testing.TB, seed uint64, checks int) {
	t.Helper()
	if testing.Short() {
		checks *= shortDivisor
	}
	set(t, "rapid.seed", strconv.FormatUint(seed, 10))
	set(t, "rapid.checks", strconv.Itoa(checks))
}

// Checks makes the rapid.Check calls in the rest of the test run checks checks each,
// a fifth of them under -short, from rapid's usual new seed, unless -rapid.checks was
// given on the command line, which then wins: for a property whose every check is costly
// (a whole log replayed several times), so that its share of go test ./... stays a few
// seconds while a longer hunt needs only the flag.
func Checks(t testing.TB, checks int) {
	t.Helper()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
	if explicit {
		return
	}
	if testing.Short() {
		checks = max(checks/shortDivisor, 1)
	}
	set(t, "rapid.checks", strconv.Itoa(checks))
}

// set sets a command-line flag (rapid registers its flags on the default set) for the
// rest of the test and restores its value afterwards.
func set(t testing.TB, name, value string) {
	t.Helper()
	f := flag.Lookup(name)
	if f == nil {
		t.Fatalf("rapidseed: no flag %s (is pgregory.net/rapid imported by the test?)", name)
	}
	previous := f.Value.String()
	if err := f.Value.Set(value); err != nil {
		t.Fatalf("rapidseed: %s=%s: %v", name, value, err)
	}
	t.Cleanup(func() { f.Value.Set(previous) })
}
