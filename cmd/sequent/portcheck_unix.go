//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
)

// errBoundNotListened is what bindWithoutListening's control function returns once it
// has bound the socket, so that net closes it instead of listening.
var errBoundNotListened = errors.New("bound by the port check, not listened on")

// bindWithoutListening binds address on a socket net makes as net.Listen(network,
// address) would (the same family, IPV6_V6ONLY and SO_REUSEADDR), calls bound, and
// closes the socket without ever listening on it. net's ListenConfig.Control runs after
// the socket is made and before net binds it: it binds the socket itself and then fails,
// so net closes it. It returns the bind's error, as net.Listen would word it.
func bindWithoutListening(network, address string, bound func()) error {
	config := net.ListenConfig{Control: func(socketNetwork, socketAddress string,
		connection syscall.RawConn) error {
		socketAddressBound, err := socketAddressOf(socketNetwork, socketAddress)
		if err != nil {
			return err
		}
		var bindErr error
		controlErr := connection.Control(func(descriptor uintptr) {
			socket := int(descriptor)
			// net sets SO_REUSEADDR on a listener's socket before Control; set it
			// again so the check does not depend on that.
			if bindErr = syscall.SetsockoptInt(socket, syscall.SOL_SOCKET,
				syscall.SO_REUSEADDR, 1); bindErr != nil {
				bindErr = os.NewSyscallError("setsockopt", bindErr)
				return
			}
			if bindErr = syscall.Bind(socket, socketAddressBound); bindErr != nil {
				bindErr = os.NewSyscallError("bind", bindErr)
			}
		})
		if controlErr != nil {
			return controlErr
		}
		if bindErr != nil {
			return bindErr
		}
		bound()
		return errBoundNotListened
	}}
	// net.Listen tries a Multipath TCP socket first where the system has them, and on any
	// error (errBoundNotListened included) makes a plain one: Control would run twice.
	// Both kinds bind their port in the same table, so plain TCP's bind says the same.
	config.SetMultipathTCP(false)
	listener, err := config.Listen(context.Background(), network, address)
	if err == nil { // Control always fails: net cannot have listened.
		listener.Close()
		return fmt.Errorf("%s %s: the port check listened", network, address)
	}
	if errors.Is(err, errBoundNotListened) {
		return nil
	}
	return err
}

// socketAddressOf returns the system's form of address (an IP address and a port, as
// net hands it to Control) for a socket of network (tcp4 or tcp6, the socket's family).
// On an IPv6 socket, an IPv4 address is its IPv4-mapped form, and the IPv4 wildcard is
// the IPv6 one, as net binds them.
func socketAddressOf(network, address string) (syscall.Sockaddr, error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port %q is not a number from 0 to 65535", portText)
	}
	ip := netip.IPv4Unspecified()
	if host != "" {
		if ip, err = netip.ParseAddr(host); err != nil {
			return nil, err
		}
	}
	if network == "tcp4" {
		ip = ip.Unmap()
		if !ip.Is4() {
			return nil, fmt.Errorf("%s is not an IPv4 address", host)
		}
		return &syscall.SockaddrInet4{Port: int(port), Addr: ip.As4()}, nil
	}
	if ip.Unmap().IsUnspecified() {
		ip = netip.IPv6Unspecified()
	}
	socketAddress := &syscall.SockaddrInet6{Port: int(port), Addr: ip.As16()}
	if zone := ip.Zone(); zone != "" {
		if index, err := strconv.ParseUint(zone, 10, 32); err == nil {
			socketAddress.ZoneId = uint32(index)
		} else if networkInterface, err := net.InterfaceByName(zone); err == nil {
			socketAddress.ZoneId = uint32(networkInterface.Index)
		} else {
			return nil, fmt.Errorf("zone %q: %w", zone, err)
		}
	}
	return socketAddress, nil
}
