package netio

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

func TestControls(t *testing.T) {
	now := time.Unix(1000, 0)
	controls := NewControls(ControlsConfig{
		AllowedNetworks:        []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		LoginAttemptsPerMinute: 3, Now: func() time.Time { return now }})
	inside := &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 5000}
	outside := &net.TCPAddr{IP: net.ParseIP("192.168.1.1"), Port: 5000}
	if code, _ := controls.AdmitConnection(outside); code != wire.ErrorConnectionRefused {
		t.Fatalf("address outside the allow-list: %s", code)
	}
	for i := 0; i < 3; i++ {
		if code, _ := controls.AdmitConnection(inside); code != 0 {
			t.Fatalf("connection %d: %s", i, code)
		}
	}
	// A connection that sends a login gives its count back, whatever the login's fate.
	if code, _ := controls.AdmitLoginAttempt(inside, 99, true); code != 0 {
		t.Fatalf("login attempt: %s", code)
	}
	if code, _ := controls.AdmitConnection(inside); code != 0 {
		t.Fatalf("connection after a login attempt: %s", code)
	}
	now = now.Add(20 * time.Second)
	code, retry := controls.AdmitConnection(inside)
	if code != wire.ErrorTooManyAttempts || retry != 40*time.Second {
		t.Fatalf("fourth silent connection in a minute: %s, retry after %v", code, retry)
	}
	now = now.Add(40 * time.Second)
	if code, _ := controls.AdmitConnection(inside); code != 0 {
		t.Fatalf("connection a minute later: %s", code)
	}
	client := &Client{ID: 7, Limits: ClientLimits{ConnectionsMax: 1, RequestsPerSecond: 2,
		EventsPerSecond: 100}, AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	if code := controls.AdmitLogin(client, &net.TCPAddr{IP: net.ParseIP("10.2.0.1")}, false); code != wire.ErrorConnectionRefused {
		t.Fatalf("login outside the client's networks: %s", code)
	}
	if code := controls.AdmitLogin(client, inside, false); code != 0 {
		t.Fatalf("first login: %s", code)
	}
	if code := controls.AdmitLogin(client, inside, false); code != wire.ErrorConnectionLimit {
		t.Fatalf("second connection of a one-connection client: %s", code)
	}
	controls.LoginEnded(client, inside)
	if code := controls.AdmitLogin(client, inside, false); code != 0 {
		t.Fatalf("login after the first ended: %s", code)
	}
	statuses := []model.Status{}
	for i := 0; i < 3; i++ {
		statuses = append(statuses, controls.AdmitRequest(client, model.OperationCreateTransfers, 10))
	}
	if statuses[0] != model.StatusOK || statuses[1] != model.StatusOK ||
		statuses[2] != model.StatusRateLimited {
		t.Fatalf("requests at 2/s: %v", statuses)
	}
	now = now.Add(time.Second)
	if status := controls.AdmitRequest(client, model.OperationCreateTransfers, 101); status != model.StatusRateLimited {
		t.Fatalf("101 events against 100/s: %s", status)
	}
	if status := controls.AdmitRequest(client, model.OperationCreateTransfers, 50); status != model.StatusOK {
		t.Fatalf("50 events after a second: %s", status)
	}
}

// TestRefusedEventsCostNoRequestToken: a request refused for its events leaves the
// client's request budget untouched (both buckets are checked before either is spent).
func TestRefusedEventsCostNoRequestToken(t *testing.T) {
	now := time.Unix(1000, 0)
	controls := NewControls(ControlsConfig{Now: func() time.Time { return now }})
	client := &Client{ID: 7, Limits: ClientLimits{RequestsPerSecond: 2, EventsPerSecond: 100}}
	for i := range 3 {
		if status := controls.AdmitRequest(client, model.OperationCreateTransfers, 500); status != model.StatusRateLimited {
			t.Fatalf("refused request %d: %s", i, status)
		}
	}
	for i := range 2 {
		if status := controls.AdmitRequest(client, model.OperationCreateTransfers, 10); status != model.StatusOK {
			t.Fatalf("request %d within both budgets: %s", i, status)
		}
	}
	if status := controls.AdmitRequest(client, model.OperationCreateTransfers, 10); status != model.StatusRateLimited {
		t.Fatalf("third request at 2/s: %s", status)
	}
}

// TestWrongKeyFloodLocksOutOnlyItsClient: failed logins are limited per (address, client
// id named): a flood of wrong keys for one client from an address refuses that client
// there for the rest of the minute (even with the right key: the check comes before the
// key), while another client on the same address, and the same client elsewhere, log in.
func TestWrongKeyFloodLocksOutOnlyItsClient(t *testing.T) {
	now := time.Unix(1000, 0)
	controls := NewControls(ControlsConfig{LoginAttemptsPerMinute: 3,
		Now: func() time.Time { return now }})
	shared := &net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 1}
	elsewhere := &net.TCPAddr{IP: net.ParseIP("10.0.0.2"), Port: 1}
	const flooded, neighbour, stranger = 7, 8, 1 << 40
	for i := range 10 {
		if code, _ := controls.AdmitConnection(shared); code != 0 {
			t.Fatalf("connection %d: %s", i, code)
		}
		code, _ := controls.AdmitLoginAttempt(shared, flooded, true)
		if i < 3 && code != 0 {
			t.Fatalf("failed login %d refused early: %s", i, code)
		}
		if code == 0 {
			controls.LoginFailed(shared, flooded, true)
		}
	}
	now = now.Add(15 * time.Second)
	if code, retry := controls.AdmitLoginAttempt(shared, flooded, true); code != wire.ErrorTooManyAttempts ||
		retry != 45*time.Second {
		t.Fatalf("the flooded client: %s, retry after %v", code, retry)
	}
	if code, _ := controls.AdmitConnection(shared); code != 0 {
		t.Fatalf("a new connection from the flooding address: %s", code)
	}
	if code, _ := controls.AdmitLoginAttempt(shared, neighbour, true); code != 0 {
		t.Fatalf("another client on the same address is locked out: %s", code)
	}
	if code, _ := controls.AdmitLoginAttempt(elsewhere, flooded, true); code != 0 {
		t.Fatalf("the flooded client from another address is locked out: %s", code)
	}
	// Client ids the keys file does not know share one bucket per address.
	for range 3 {
		controls.AdmitLoginAttempt(shared, stranger, false)
		controls.LoginFailed(shared, stranger, false)
	}
	if code, _ := controls.AdmitLoginAttempt(shared, stranger+1, false); code != wire.ErrorTooManyAttempts {
		t.Fatalf("unknown client ids from a flooding address: %s", code)
	}
	if code, _ := controls.AdmitLoginAttempt(shared, neighbour, true); code != 0 {
		t.Fatalf("a known client after unknown ones: %s", code)
	}
	now = now.Add(45 * time.Second)
	if code, _ := controls.AdmitLoginAttempt(shared, flooded, true); code != 0 {
		t.Fatalf("the flooded client after the minute: %s", code)
	}
}

// TestIPv6NetworkSharesItsLimits: the attempt limits count an IPv6 peer by its /64, the
// block one host or customer commonly holds (as the operators' HTTP limiter does).
// Before the fix each address of a /64 had its own buckets, so one host that connected
// from attemptAddressesMax of its addresses without logging in filled the table, and
// every other address (everyone else's first connection) was refused too_many_attempts
// for the rest of the minute; and failed logins spread over the /64 were never limited.
func TestIPv6NetworkSharesItsLimits(t *testing.T) {
	now := time.Unix(1000, 0)
	controls := NewControls(ControlsConfig{LoginAttemptsPerMinute: 3,
		Now: func() time.Time { return now }})
	host := func(i int) *net.TCPAddr {
		address := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1}
		address[12], address[13], address[14], address[15] = byte(i>>24), byte(i>>16),
			byte(i>>8), byte(i)
		return &net.TCPAddr{IP: address[:], Port: 40000}
	}
	admitted := 0
	for i := range attemptAddressesMax {
		if code, _ := controls.AdmitConnection(host(i)); code == 0 {
			admitted++
		}
	}
	neighbour := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40000}
	if code, _ := controls.AdmitConnection(neighbour); code != 0 {
		t.Fatalf("a connection from elsewhere after one /64's flood: %s", code)
	}
	if admitted != 3 {
		t.Fatalf("%d silent connections admitted from one /64 in a minute, want 3", admitted)
	}
	for i := range 3 {
		controls.LoginFailed(host(attemptAddressesMax+i), 7, true)
	}
	if code, _ := controls.AdmitLoginAttempt(host(attemptAddressesMax+3), 7, true); code !=
		wire.ErrorTooManyAttempts {
		t.Fatalf("a fourth login for client 7 from the /64 that failed three: %s", code)
	}
	other := &net.TCPAddr{IP: net.ParseIP("2001:db8:0:2::1"), Port: 40000}
	if code, _ := controls.AdmitLoginAttempt(other, 7, true); code != 0 {
		t.Fatalf("client 7 from another /64: %s", code)
	}
}
