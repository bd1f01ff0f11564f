// Command sequent is Sequent's single binary: the server, its client (with currency
// conversion), the load generator, the log tools, the failover drill, settlement netting
// and reconciliation, each a subcommand (see `sequent --help`).
//
// This package only parses flags and environment variables, wires packages together and
// prints; anything worth testing lives in a package.
//
// default.pgo in this directory is a CPU profile of the server's hot paths (the ledger,
// matching, and the server end to end with one-transfer and full requests), merged from
// runs of binaries built without one. `go build`, `go install`, `go run` and `go test` of
// this package use it on their own (-pgo=auto, Go's default since 1.21) and compile this
// package and everything it imports with profile-guided optimisation: hot calls inlined
// beyond the usual budget. Only binaries built from this directory get it; `go test
// -bench` of the library packages (core/ledger, core/match, ...) does not unless -pgo is
// passed, so their figures are without it. `-pgo=off` builds without it. Regenerate it
// with tools/pgo/regenerate.sh when the hot paths change much (README, "Profile-guided
// build").
package main
