package acceptretry

import (
	"errors"
	"net"
	"syscall"
	"testing"

	"sequent/netio/acceptretry/acceptretrytest"
)

// scriptedListener returns its errors in order, then accepts from its listener.
type scriptedListener struct {
	net.Listener
	errors []error
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	if len(l.errors) != 0 {
		err := l.errors[0]
		l.errors = l.errors[1:]
		return nil, err
	}
	return l.Listener.Accept()
}

// TestAcceptWaitsOutResourcesAndReturnsOtherErrors: each of the four errors a lack of
// descriptors or memory gives is retried until a connection comes; any other error
// (here a closed listener's) is returned at once, so that a server's loop still ends.
func TestAcceptWaitsOutResourcesAndReturnsOtherErrors(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	scripted := NewListener(&scriptedListener{Listener: listener, errors: []error{
		acceptretrytest.AcceptError(nil, syscall.EMFILE),
		acceptretrytest.AcceptError(nil, syscall.ENFILE),
		acceptretrytest.AcceptError(nil, syscall.ENOBUFS),
		acceptretrytest.AcceptError(nil, syscall.ENOMEM)}}, nil, "test")
	dialed, err := net.Dial("tcp", listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer dialed.Close()
	conn, err := scripted.Accept()
	if err != nil {
		t.Fatalf("Accept after running out of resources: %v", err)
	}
	_ = conn.Close()
	closed := NewListener(&scriptedListener{Listener: listener,
		errors: []error{net.ErrClosed}}, nil, "test")
	if _, err := closed.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on a closed listener: %v; want net.ErrClosed", err)
	}
	if OutOfResources(acceptretrytest.AcceptError(nil, syscall.ECONNABORTED)) {
		t.Fatal("ECONNABORTED taken for a lack of resources")
	}
}
