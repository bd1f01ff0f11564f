//go:build !linux

package netio

// unreadBytes cannot tell on this platform: silenceOverdue decides on received alone
// (a loop stalled past the silence timeout may then close connections whose heartbeats
// wait unread).
func unreadBytes(int) int { return 0 }
