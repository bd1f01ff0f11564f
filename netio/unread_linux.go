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
