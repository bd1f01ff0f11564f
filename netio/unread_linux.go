package netio

import (
	"syscall"
	"unsafe"
)

// fionread is Linux's FIONREAD ioctl request: the bytes a socket holds unread.
const fionread = 0x541B

// unreadBytes is the number of bytes the kernel holds unread on socket descriptor fd;
// 0 when it cannot tell (silenceOverdue and loginOverdue then decide without it).
func unreadBytes(fd int) int {
	var count int32
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), fionread,
		uintptr(unsafe.Pointer(&count)))
	if errno != 0 {
		return 0
	}
	return int(count)
}
