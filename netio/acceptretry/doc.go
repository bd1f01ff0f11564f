// Package acceptretry keeps a listening port answering when the process runs out of
// file descriptors or kernel memory.
//
// An accept that fails with EMFILE, ENFILE, ENOBUFS or ENOMEM leaves the listener
// usable: the connection waits in the backlog until a descriptor is free. fasthttp's
// Serve (1.78) retries only an accept error that is a timeout and returns on any other,
// and the replication witness's loop returned on any error, so one such failure ended
// the port for good while it stayed bound. Accept waits such errors out instead, with a
// back-off from delayFirst doubling to delayMax, and returns every other error (a closed
// listener ends the loop as before). Listener wraps a net.Listener with it for servers
// that run their own accept loop (fasthttp's Serve).
//
// It has no goroutines of its own: Accept sleeps on the caller's goroutine.
package acceptretry
