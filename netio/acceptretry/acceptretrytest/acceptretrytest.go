package acceptretrytest

import (
	"net"
	"os"
	"sync/atomic"
	"syscall"
)

// FileLimitListener fails its first Accept as accept(2) does when the process is out of
// file descriptors (EMFILE), then accepts as its listener does.
type FileLimitListener struct {
	net.Listener
	failed atomic.Bool
}

// NewFileLimitListener wraps listener.
func NewFileLimitListener(listener net.Listener) *FileLimitListener {
	return &FileLimitListener{Listener: listener}
}

// Accept fails with EMFILE the first time, then returns the listener's connections.
func (l *FileLimitListener) Accept() (net.Conn, error) {
	if !l.failed.Swap(true) {
		return nil, AcceptError(l.Addr(), syscall.EMFILE)
	}
	return l.Listener.Accept()
}

// Failed reports whether Accept has returned its EMFILE, so that a test can tell that the
// server it fed went through the failure.
func (l *FileLimitListener) Failed() bool {
	return l.failed.Load()
}

// AcceptError is the error a TCP listener at address (may be nil) returns when accept(2)
// fails with errno.
func AcceptError(address net.Addr, errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Addr: address,
		Err: os.NewSyscallError("accept4", errno)}
}
