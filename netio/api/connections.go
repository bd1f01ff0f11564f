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
	open peerShares // Open connections per peer.
}

func newPeerListener(listener net.Listener) *peerListener {
	return &peerListener{Listener: listener, open: newPeerShares(connectionsPerPeerMax)}
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
		if !l.open.take(peer, 1) {
			_ = conn.Close()
			continue
		}
		return &peerConn{Conn: conn, listener: l, peer: peer}, nil
	}
}

// peerShares counts what each peer (netio.PeerBucket) holds of something the server
// shares among all (open connections, request body bytes), so that no peer holds more
// than its share (share). A peer's entry goes when it holds nothing.
type peerShares struct {
	mutex sync.Mutex
	share int64
	held  map[netip.Addr]int64
}

func newPeerShares(share int64) peerShares {
	return peerShares{share: share, held: map[netip.Addr]int64{}}
}

// take counts amount more for peer, unless that would pass its share.
func (p *peerShares) take(peer netip.Addr, amount int64) bool {
	p.mutex.Lock()
	defer p.mutex.Unlock()
	if p.held[peer]+amount > p.share {
		return false
	}
	p.held[peer] += amount
	return true
}

// give returns what take counted.
func (p *peerShares) give(peer netip.Addr, amount int64) {
	p.mutex.Lock()
	defer p.mutex.Unlock()
	if p.held[peer] -= amount; p.held[peer] <= 0 {
		delete(p.held, peer)
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
	c.once.Do(func() { c.listener.open.give(c.peer, 1) })
	return c.Conn.Close()
}
