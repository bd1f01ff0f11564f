// Package peer holds what every port of the server counts a remote peer under: the
// address (or network) its per-peer limits key on, and a listener that caps the
// connections each peer holds open. The binary port (netio), the HTTP API (netio/api)
// and the operators' port (netio/ops) all use it, so that one host is one peer on every
// port. It imports nothing of the project, so any package may import it.
package peer

import (
	"net"
	"net/netip"
	"sync"
)

// networkBitsIPv6 is the prefix by which an IPv6 peer is counted: a /64 is what one host
// or customer commonly holds, and it may send from any address in it. Counting its
// addresses one by one would give a single host as many budgets (login attempts,
// connections, requests) as it likes, and let it fill the tables of the limits so that
// every new peer is refused.
const networkBitsIPv6 = 64

// Bucket returns what per-peer limits count address under: an IPv4 address (mapped into
// IPv6 or not) itself, an IPv6 address its /64 network (zone dropped).
func Bucket(address netip.Addr) netip.Addr {
	address = address.Unmap().WithZone("")
	if address.Is4() {
		return address
	}
	return netip.PrefixFrom(address, networkBitsIPv6).Masked().Addr()
}

// AddressOf returns the IP address of a remote peer, IPv4-mapped IPv6 unmapped; ok is
// false for a peer without one (a pipe).
func AddressOf(remote net.Addr) (address netip.Addr, ok bool) {
	if tcp, isTCP := remote.(*net.TCPAddr); isTCP {
		address, ok = netip.AddrFromSlice(tcp.IP)
		return address.Unmap(), ok
	}
	addressPort, err := netip.ParseAddrPort(remote.String())
	return addressPort.Addr().Unmap(), err == nil
}

// Shares counts what each peer (Bucket) holds of something the server shares among all
// (open connections, request body bytes), so that no peer holds more than its share. A
// peer's entry goes when it holds nothing, so the map holds only peers holding something.
// Safe for concurrent use.
type Shares struct {
	mutex sync.Mutex
	share int64
	held  map[netip.Addr]int64
}

// NewShares returns shares of share each.
func NewShares(share int64) *Shares {
	return &Shares{share: share, held: map[netip.Addr]int64{}}
}

// Take counts amount more for peer (a Bucket), unless that would pass its share.
func (p *Shares) Take(peer netip.Addr, amount int64) bool {
	p.mutex.Lock()
	defer p.mutex.Unlock()
	if p.held[peer]+amount > p.share {
		return false
	}
	p.held[peer] += amount
	return true
}

// Give returns what Take counted.
func (p *Shares) Give(peer netip.Addr, amount int64) {
	p.mutex.Lock()
	defer p.mutex.Unlock()
	if p.held[peer] -= amount; p.held[peer] <= 0 {
		delete(p.held, peer)
	}
}

// Listener admits at most a share of open connections per peer (Bucket) and hands the
// others to Refuse as soon as they are accepted. Put it under TLS, so that a refused
// connection costs no handshake.
type Listener struct {
	net.Listener
	open *Shares
	// refuse is given each connection past its peer's share; it must close it. Nil:
	// closed with nothing written.
	refuse func(net.Conn)
}

// NewListener caps listener's connections at connectionsMax per peer. refuse (nil:
// close) is called on the accepting goroutine for each connection past the cap and must
// close it without waiting on the peer.
func NewListener(listener net.Listener, connectionsMax int64, refuse func(net.Conn)) *Listener {
	return &Listener{Listener: listener, open: NewShares(connectionsMax), refuse: refuse}
}

// Accept returns the next connection whose peer is within its share.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		address, ok := AddressOf(conn.RemoteAddr())
		if !ok {
			return conn, nil // Not an IP peer (a test's pipe): nothing to count it under.
		}
		peer := Bucket(address)
		if !l.open.Take(peer, 1) {
			if l.refuse != nil {
				l.refuse(conn)
			} else {
				_ = conn.Close()
			}
			continue
		}
		return &countedConn{Conn: conn, listener: l, peer: peer}, nil
	}
}

// countedConn gives its peer's count back when it is first closed.
type countedConn struct {
	net.Conn
	listener *Listener
	peer     netip.Addr
	once     sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.listener.open.Give(c.peer, 1) })
	return c.Conn.Close()
}
