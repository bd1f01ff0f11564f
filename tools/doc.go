// Package tools holds operator tools that combine other packages: the replayer that
// `sequent wal verify` drives through the log. (The data directory's layout is
// core/node's Layout.) Its subpackages are the failover drill (drill),
// clearing (clearing: ledger registry, settlement netting), reconciliation (reconcile),
// the operators' kit (deploy) and the end-to-end tests (e2e). tools/pgo (a shell script,
// no Go) regenerates cmd/sequent/default.pgo, the profile for the binary's profile-guided
// build.
//
// Nothing here runs on the server's hot path.
package tools
