package netio_test

import (
	"net"
	"net/netip"
	"testing"

	"sequent/netio"
	"sequent/netio/wire"
)

// TestReview52dFullServerStillRefusesAnAddressOutsideTheAllowList (review of hunt52d):
// PROTOCOL.md section 5 says a connection from a network outside the server's allow-list
// gets connection_refused (section 13: not retryable, "fix the client") instead of the
// challenge. hunt52d took the connection-table slot before asking Admission, so while
// every slot is taken such a connection got connection_limit instead: a retryable code
// that tells an address the server refuses that it is merely full (and how busy it is),
// and that its client retries for ever.
func TestReview52dFullServerStillRefusesAnAddressOutsideTheAllowList(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.ConnectionsMax = 1
		c.Admission = netio.NewControls(netio.ControlsConfig{
			AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	}})
	holder := dialRaw(t, h.server.Address())
	holder.login(clientAll, 1, secretOne, 1)
	dialer := net.Dialer{Timeout: waitLimit,
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}} // Outside the allow-list.
	conn, err := dialer.Dial("tcp", h.server.Address())
	if err != nil {
		t.Skipf("cannot dial from 127.0.0.2: %v", err)
	}
	defer conn.Close()
	outsider := &rawConn{t: t, conn: conn}
	frame := outsider.next()
	if frame.Kind != wire.KindError || wire.ErrorCode(frame.Status) != wire.ErrorConnectionRefused {
		t.Fatalf("an address outside the allow-list, server full, got %s (%s), "+
			"want error connection_refused", frame.Kind, wire.ErrorCode(frame.Status))
	}
}

// TestReview52dSlotOfAConnectionAdmissionRefusesIsGivenBack (review of hunt52d, checked
// fine): OnOpen now takes a slot before asking Admission; every connection Admission
// refuses must give it back, or a handful of refused connections would fill the server.
func TestReview52dSlotOfAConnectionAdmissionRefusesIsGivenBack(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.ConnectionsMax = 1
		c.Admission = netio.NewControls(netio.ControlsConfig{
			AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	}})
	dialer := net.Dialer{Timeout: waitLimit,
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}} // Outside the allow-list.
	for range 3 {
		conn, err := dialer.Dial("tcp", h.server.Address())
		if err != nil {
			t.Skipf("cannot dial from 127.0.0.2: %v", err)
		}
		outsider := &rawConn{t: t, conn: conn}
		outsider.expectError(wire.ErrorConnectionRefused)
		conn.Close()
	}
	if open := h.server.Stats().ConnectionsOpen; open != 0 {
		t.Fatalf("%d connections open after three refused by Admission, want 0", open)
	}
	holder := dialRaw(t, h.server.Address())
	holder.login(clientAll, 1, secretOne, 1) // Fails unless the only slot is free.
}
