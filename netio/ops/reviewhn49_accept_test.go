package ops

import (
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
)

// fileLimitListener fails its first Accept as accept(2) does when the process is out
// of file descriptors (EMFILE), then accepts as its listener does.
type fileLimitListener struct {
	net.Listener
	failed atomic.Bool
}

func (l *fileLimitListener) Accept() (net.Conn, error) {
	if !l.failed.Swap(true) {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(),
			Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestReviewHN49OutOfFileDescriptorsDoesNotStopTheOperatorsPort: fasthttp's Serve retries
// an accept error only if it is a timeout and returns on any other, so one EMFILE (a
// burst of connections to any port of the process, or a log rotation at the limit) ended
// the operators' server for good: the port stayed bound, connections waited in its
// backlog unanswered, /healthz never answered again and Shutdown reported the error. The
// accepting listener (accept.go) now waits and retries on running out of descriptors.
func TestReviewHN49OutOfFileDescriptorsDoesNotStopTheOperatorsPort(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	limited := &fileLimitListener{Listener: listener}
	server := startServer(t, Config{Listener: limited, AllowCIDRs: []string{"127.0.0.1/32"}},
		newFakeSources().sources())
	if result := get(t, server, PathHealth); result.code != http.StatusOK {
		t.Fatalf("GET %s after EMFILE: %d %s", PathHealth, result.code, result.body)
	}
	if !limited.failed.Load() {
		t.Fatal("the listener never failed")
	}
}
