// Package testport hands out loopback addresses for tests that must name a port before
// something listens on it (a node's address given to its partner's config, a server
// process started with --addr, a node reopened on its address).
//
// A port the kernel picks for a listen on :0, closed at once, comes from the ephemeral
// range, which the kernel hands out again to any listen on :0 or outgoing connection
// (every proxy, witness and dial of the tests, and of other packages' tests running at
// the same time) before the test binds it: "address already in use" (200 listens on :0
// between the pick and the bind took the port 3 times in 200 here). Address takes ports
// below the ephemeral range instead, which the kernel never hands out on its own, from a
// sequence that starts at a random point (so that two test processes rarely walk the
// same ports) and never gives a port twice in a process; a port something listens on is
// skipped. Only a process binding that very port explicitly, between the pick and the
// test's listen, can still take it.
package testport
