//go:build !linux

package netio

// unreadBytes cannot tell on this platform: silenceOverdue decides on received alone
// and loginOverdue on the login alone (a loop stalled past the silence or login timeout
// may then close connections whose heartbeats or login wait unread).
func unreadBytes(int) int { return 0 }

// unsentBytes cannot tell on this platform: a draining connection closes once gnet's own
// buffer is empty, and bytes the client sends after that may reset the connection before
// it has read the kernel's (drainOverdue).
func unsentBytes(int) int { return 0 }
