//go:build !unix

package main

import "net"

// bindWithoutListening binds address by listening on it for a moment, calls bound, and
// closes it: without the Unix socket calls a connection that lands in that moment is
// accepted and then reset.
func bindWithoutListening(network, address string, bound func()) error {
	listener, err := net.Listen(network, address)
	if err != nil {
		return err
	}
	bound()
	return listener.Close()
}
