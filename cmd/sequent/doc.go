// Command sequent is Sequent's single binary: the server, its client, the load generator,
// the log tools and the failover drill, each a subcommand (see `sequent --help`).
//
// This package only parses flags and environment variables, wires packages together and
// prints; anything worth testing lives in a package.
package main
