package api

import (
	"net"
	"net/netip"
	"sync"

	"sequent/netio"
)

// peerListener admits at most connectionsPerPeerMax open connections per peer
// (netio.PeerBucket: an IPv4 address, or an IPv6 /64) and closes the others as soon as
// they are accepted. Connections cost nothing to hold open (no credentials until a
// request is signed, and a public request now and then keeps one from timing out), so
// without a share one peer could take all of the server's connectionsMax and leave
// every other client refused. It sits under TLS, so a refused connection is closed
// before its handshake, with nothing written.
type peerListener struct {
	net.Listener
	mutex sync.Mutex
	open  map[netip.Addr]int // Open connections per peer; a peer with none has no entry.
}

func newPeerListener(listener net.Listener) *peerListener {
	return &peerListener{Listener: listener, open: map[netip.Addr]int{}}
}

// Accept returns the next connection whose peer is within its share.
func (l *peerListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		address, ok := netio.AddressOf(conn.RemoteAddr())
		if !ok {
			return conn, nil // Not an IP peer (a test's pipe): nothing to count it under.
		}
		peer := netio.PeerBucket(address)
		if !l.take(peer) {
			_ = conn.Close()
			continue
		}
		return &peerConn{Conn: conn, listener: l, peer: peer}, nil
	}
}

func (l *peerListener) take(peer netip.Addr) bool {
	l.mutex.Lock()
	defer l.mutex.Unlock()
	if l.open[peer] >= connectionsPerPeerMax {
		return false
	}
	l.open[peer]++
	return true
}

func (l *peerListener) give(peer netip.Addr) {
	l.mutex.Lock()
	defer l.mutex.Unlock()
	if l.open[peer]--; l.open[peer] <= 0 {
		delete(l.open, peer)
	}
}

// peerConn gives its peer's count back when it is first closed.
type peerConn struct {
	net.Conn
	listener *peerListener
	peer     netip.Addr
	once     sync.Once
}

func (c *peerConn) Close() error {
	c.once.Do(func() { c.listener.give(c.peer) })
	return c.Conn.Close()
}
