// Package invariants switches on costly assertions (pattern: Pebble's internal/invariants).
// Enabled is true when the binary is built with the invariants or the race build tag, so
// that `go test -race` and `go test -tags invariants` check what production builds only
// assume. Cheap assertions stay on everywhere; only those whose cost shows on a hot path
// test Enabled. CI runs the race detector (which turns this on) on the packages with
// concurrency; phase 2 of issue 13 adds a `-tags invariants` run of the rest.
package invariants
