package api

import (
	"net"

	"sequent/netio/peer"
)

// newPeerListener admits at most connectionsPerPeerMax open connections per peer
// (peer.Bucket: an IPv4 address, or an IPv6 /64) and closes the others as soon as they
// are accepted. Connections cost nothing to hold open (no credentials until a request is
// signed, and a public request now and then keeps one from timing out), so without a
// share one peer could take all of the server's connectionsMax and leave every other
// client refused. It sits under TLS, so a refused connection is closed before its
// handshake, with nothing written.
func newPeerListener(listener net.Listener) net.Listener {
	return peer.NewListener(listener, connectionsPerPeerMax, nil)
}
