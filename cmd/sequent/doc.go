// Command sequent is Sequent's single binary: the server, its client (with currency
// conversion), the load generator, the log tools, the failover drill, settlement netting
// and reconciliation, each a subcommand (see `sequent --help`).
//
// This package only parses flags and environment variables, wires packages together and
// prints; anything worth testing lives in a package.
//
// serve owns what it starts and stops it: the node's shard groups, the protocol and HTTP
// servers, and with --cdc-nats one change capture per shard (each a publisher goroutine
// and a NATS connection, started before the shards and closed on every failed start and
// on shutdown). A standby's operators' HTTP is served from before its wait for the
// primary (ops_waiting.go: a server of its own on the same bound port, stopped and the
// port given back open to the full server once the shard groups are open).
//
// The binary is built without profile-guided optimisation: tools/pgo/regenerate.sh writes
// a profile as default.pgo here, which go build would then use by itself; it was
// measured in session 38 and not committed (bench/PERFORMANCE.md, "Profile-guided build").
package main
