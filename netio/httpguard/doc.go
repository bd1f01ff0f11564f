// Package httpguard keeps a panic in an HTTP handler from ending the process. fasthttp
// does not recover panics: one in a handler of the integrators' API (netio/api) or of
// the operators' server (netio/ops) would kill the node, with the money-moving shard,
// every binary client and the standby link. A Guard, deferred first in each server's
// handler, turns such a panic into a 500 in the server's own JSON error shape, logs it
// at Error level (panic value, method, path and stack; never the body or the headers,
// which carry signatures, keys and tokens) and counts it (sequent_http_panics_total).
//
// # A bounded log
//
// Anyone who finds a request that makes a handler panic can repeat it at the port's
// rate limit, from many addresses. The counter counts every panic, but the log takes at
// most panicStacksPerIntervalMax lines with a stack within any panicLogInterval, wherever
// it starts (the times of the last ones logged, by the guard's clock, which tests
// replace); past it, one line says the next are not logged, and the first panic logged
// after it is preceded by one line giving how many were not. So any interval holds at
// most panicStacksPerIntervalMax stacks, and at most one short line more than twice
// that (a count before a stack, a notice after one), whatever the panics' rate.
//
// # What is not recovered
//
// Only the servers' own code is guarded: parsing, authentication, rendering, their
// limiters. A panic in the shard's sequencer, its input ring, the node's router or the
// replication state means their state may be corrupt, and a lock they hold without
// defer (the input ring's mutex, on its hot path) would stay locked: every later
// request, binary clients' included, would then hang, which is worse than a crash. So a
// handler calls into the node (backend.Submit; the operators' sources that read shards,
// logs and replication) through Unguarded: a panic out of it is re-raised as Fatal,
// which Guard.Recover lets through, and the process ends as it would have without a
// guard. The binary protocol's event loops and the sequencer have no guard at all:
// crashing there is right.
//
// # Goroutines
//
// Recover runs on the fasthttp worker goroutine of the request that panicked; the counter
// is atomic, so Panics may be read from any goroutine (the metrics scrape). The log's
// bookkeeping (when the last stacks were logged, the panics not logged) is shared by the
// workers of one server and guarded by the Guard's logMutex, taken only on a panic. The
// package imports nothing of the project, so both servers import it without a cycle.
package httpguard
