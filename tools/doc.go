// Package tools holds operator tools that combine other packages: the data directory
// layout shared by the server and the offline tools, the replayer that `sequent wal
// verify` drives through the log, and (as they land) the failover drill and
// reconciliation.
//
// Nothing here runs on the server's hot path.
package tools
