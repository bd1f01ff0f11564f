package netio

import "golang.org/x/sys/unix"

// unreadBytes is the number of bytes the kernel holds unread on socket descriptor fd
// (SIOCINQ, whose request number differs between Linux's architectures); 0 when it
// cannot tell (silenceOverdue and loginOverdue then decide without it).
func unreadBytes(fd int) int {
	count, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		return 0
	}
	return count
}

// unsentBytes is the number of bytes the kernel holds in socket descriptor fd's send
// queue, not yet acknowledged by the peer (SIOCOUTQ); 0 when it cannot tell (a draining
// connection then closes once gnet's own buffer is empty, drainOverdue).
func unsentBytes(fd int) int {
	count, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		return 0
	}
	return count
}
