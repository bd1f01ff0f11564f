package peer

import (
	"net"
	"net/netip"
	"testing"
)

// TestBucket holds the key every per-peer limit counts under: an IPv4 address its own
// (also when seen mapped into IPv6), an IPv6 address its /64 (any address in it, with or
// without a zone, is the same peer; the next /64 is another).
func TestBucket(t *testing.T) {
	cases := []struct{ address, bucket string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2::1", "2001:db8:1:2::"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::"},
		{"fe80::1%eth0", "fe80::"},
		{"2001:db8:1:3::1", "2001:db8:1:3::"},
	}
	for _, c := range cases {
		if got := Bucket(netip.MustParseAddr(c.address)); got != netip.MustParseAddr(c.bucket) {
			t.Errorf("Bucket(%s) = %s, want %s", c.address, got, c.bucket)
		}
	}
	mapped := &net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 1}
	if address, ok := AddressOf(mapped); !ok || address != netip.MustParseAddr("192.0.2.7") {
		t.Errorf("AddressOf(%s) = %s %v, want 192.0.2.7 unmapped", mapped, address, ok)
	}
}

// TestSharesAreGivenBack: a peer holds at most its share; what it gives back may be
// taken again, and a peer holding nothing has no entry.
func TestSharesAreGivenBack(t *testing.T) {
	shares := NewShares(2)
	peer := netip.MustParseAddr("192.0.2.7")
	if !shares.Take(peer, 2) || shares.Take(peer, 1) {
		t.Fatal("share of 2: taking 2 then 1 more")
	}
	if !shares.Take(netip.MustParseAddr("192.0.2.8"), 2) {
		t.Fatal("another peer was refused its own share")
	}
	shares.Give(peer, 2)
	if _, held := shares.held[peer]; held {
		t.Fatal("a peer holding nothing kept its entry")
	}
	if !shares.Take(peer, 1) {
		t.Fatal("given back, not taken again")
	}
}
