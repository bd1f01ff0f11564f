package acceptretry

import (
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"
)

// Waits between accepts that failed for want of resources: short at first (a burst of
// connections elsewhere in the process ends quickly), at most delayMax so that the port
// answers within it once descriptors are free, and one warning per try at most.
const (
	delayFirst = 5 * time.Millisecond
	delayMax   = time.Second
)

// sleep waits between tries; a test records the delays instead
// (TestReviewlb49AcceptBackOffDoublesUpToItsMax).
var sleep = time.Sleep

// Accept returns listener's next connection, waiting out (and logging at warning level,
// prefixed with component) the errors OutOfResources reports; it returns any other
// error as is.
func Accept(listener net.Listener, logger *slog.Logger, component string) (net.Conn, error) {
	delay := time.Duration(0)
	for {
		conn, err := listener.Accept()
		if err == nil || !OutOfResources(err) {
			return conn, err
		}
		delay = min(max(2*delay, delayFirst), delayMax)
		if logger != nil {
			logger.Warn(component+": accepting connections failed; retrying",
				"error", err.Error(), "delay", delay.String())
		}
		sleep(delay)
	}
}

// OutOfResources reports whether an accept failed for want of file descriptors or
// kernel memory, which frees up as other connections close.
func OutOfResources(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

// Listener is a net.Listener whose Accept is this package's Accept.
type Listener struct {
	net.Listener
	logger    *slog.Logger
	component string
}

// NewListener wraps listener; logger (may be nil) receives one warning per failed try,
// prefixed with component.
func NewListener(listener net.Listener, logger *slog.Logger, component string) *Listener {
	return &Listener{Listener: listener, logger: logger, component: component}
}

// Accept returns the next connection, waiting out a lack of descriptors or memory.
func (l *Listener) Accept() (net.Conn, error) {
	return Accept(l.Listener, l.logger, l.component)
}
