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
	if code := controls.AdmitConnection(outside); code != wire.ErrorConnectionRefused {
		t.Fatalf("address outside the allow-list: %s", code)
	}
	for i := 0; i < 3; i++ {
		if code := controls.AdmitConnection(inside); code != 0 {
			t.Fatalf("attempt %d: %s", i, code)
		}
	}
	// A successful login gives its attempt back; failed ones (no AdmitLogin) do not.
	controls.AdmitLogin(&Client{ID: 99}, inside, false)
	controls.LoginEnded(&Client{ID: 99}, inside)
	if code := controls.AdmitConnection(inside); code != 0 {
		t.Fatalf("attempt after a successful login: %s", code)
	}
	if code := controls.AdmitConnection(inside); code != wire.ErrorTooManyAttempts {
		t.Fatalf("fourth attempt in a minute: %s", code)
	}
	now = now.Add(time.Minute)
	if code := controls.AdmitConnection(inside); code != 0 {
		t.Fatalf("attempt a minute later: %s", code)
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
