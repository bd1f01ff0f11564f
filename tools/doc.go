// Package tools holds operator tools that combine other packages: the replayer that
// `sequent wal verify` drives through the log. (The data directory's layout is
// core/node's Layout.) Its subpackages are the failover drill (drill),
// clearing (clearing: ledger registry, settlement netting), reconciliation (reconcile),
// the operators' kit (deploy) and the end-to-end tests (e2e). tools/pgo (a shell script,
// no Go) writes cmd/sequent/default.pgo, a profile for a profile-guided build of the
// binary (measured, not committed: bench/PERFORMANCE.md, "Profile-guided build").
//
// Nothing here runs on the server's hot path.
package tools
