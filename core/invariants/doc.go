// Package invariants switches on costly assertions (pattern: Pebble's internal/invariants).
// Enabled is true when the binary is built with the invariants or the race build tag, so
// that `go test -race` and `go test -tags invariants` check what production builds only
// assume. Cheap assertions stay on everywhere; only those whose cost shows on a hot path
// test Enabled. CI runs the race detector (which turns this on) on the packages with
// concurrency and a `-tags invariants` run of the core packages.
//
// It lives in core/ because the core's packages are its main users, and it imports
// nothing, so that wal (which must not depend on core's types) may use it too.
package invariants
