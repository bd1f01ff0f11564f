package peer

import (
	"net"
	"testing"
)

// scriptedListener hands out the connections queued on it, in order, then reports
// itself closed: Listener.Accept runs without a network, so which connection it admits
// or refuses depends on nothing but the order they were queued in.
type scriptedListener struct {
	queued chan net.Conn
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	conn, ok := <-l.queued
	if !ok {
		return nil, net.ErrClosed
	}
	return conn, nil
}

func (l *scriptedListener) Close() error   { return nil }
func (l *scriptedListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// scriptedConn is a connection from remote that only counts its closes.
type scriptedConn struct {
	net.Conn // Nil: nothing but RemoteAddr and Close is called.
	remote   *net.TCPAddr
	closes   int
}

func (c *scriptedConn) RemoteAddr() net.Addr { return c.remote }
func (c *scriptedConn) Close() error         { c.closes++; return nil }

func connFrom(address string) *scriptedConn {
	return &scriptedConn{remote: &net.TCPAddr{IP: net.ParseIP(address), Port: 1}}
}

// TestListenerGivesBackAClosedConnectionOnce: a connection admitted holds one of its
// peer's slots until it is first closed, and closing it again gives nothing more back.
// The replication port, the witness, the HTTP API and the operators' port count on it:
// a close that gave nothing back would leave a peer's share used up after enough
// reconnections (the real standby refused for good), and a second close that gave its
// slot back twice would let a peer hold more than its share. Before this test no test
// failed with either mutant.
func TestListenerGivesBackAClosedConnectionOnce(t *testing.T) {
	scripted := &scriptedListener{queued: make(chan net.Conn, 16)}
	listener := NewListener(scripted, 2, nil)
	accept := func(want *scriptedConn, because string) net.Conn {
		t.Helper()
		conn, err := listener.Accept()
		if err != nil {
			t.Fatalf("%s: %v", because, err)
		}
		if got := conn.(*countedConn).Conn; got != want {
			t.Fatalf("%s: admitted the connection from %s, want the one from %s", because,
				got.RemoteAddr(), want.RemoteAddr())
		}
		return conn
	}
	first, second, third := connFrom("192.0.2.7"), connFrom("192.0.2.7"), connFrom("192.0.2.7")
	other := connFrom("192.0.2.8")
	for _, conn := range []net.Conn{first, second, third, other} {
		scripted.queued <- conn
	}
	admittedFirst := accept(first, "the first of a share of 2")
	accept(second, "the second of a share of 2")
	accept(other, "another peer, past the third (refused)")
	if third.closes != 1 {
		t.Fatalf("the third connection of a share of 2: closed %d times, want refused (1)",
			third.closes)
	}

	admittedFirst.Close()
	admittedFirst.Close()
	if first.closes != 2 {
		t.Fatalf("the first connection closed twice: %d closes passed on, want 2", first.closes)
	}
	// One slot is free again (not two): the fourth is admitted, the fifth refused, and
	// the next accepted is a third peer's.
	fourth, fifth, sentinel := connFrom("192.0.2.7"), connFrom("192.0.2.7"),
		connFrom("192.0.2.9")
	for _, conn := range []net.Conn{fourth, fifth, sentinel} {
		scripted.queued <- conn
	}
	accept(fourth, "a connection after one of the peer's two was closed")
	accept(sentinel, "a third peer, past the peer's connection over its share again")
	if fifth.closes != 1 {
		t.Fatalf("a connection past the share after one close given back twice: closed %d "+
			"times, want refused (1)", fifth.closes)
	}
}
