// Package netio will own Sequent's binary TCP protocol (on gnet v2): frame codec,
// sessions and authentication, the gnet event loops that copy requests into a shard's
// input ring, the reply path, and the Go client. See PROTOCOL.md once it lands.
//
// Not built yet: this package is a placeholder until the network issue lands.
package netio
