package netio

import (
	"testing"
	"time"

	"sequent/core/model"
)

// TestFractionalRequestRateAdmitsRequests: the keys file takes requests_per_second as a
// number (netio.ClientLimits.RequestsPerSecond is a float64, and the HTTP API's nonce
// share is sized from rates such as 0.1: nonceCache.shareOf), but the token bucket held
// at most one second's worth of tokens, so a client limited to fewer than one request a
// second never held the one token a request takes: every request it ever sent was
// refused rate_limited, on the binary port and the HTTP API alike. Method: a client
// limited to 0.5 requests a second sends one request every ten seconds for a minute;
// each must be admitted, and a second request in the same instant refused.
func TestFractionalRequestRateAdmitsRequests(t *testing.T) {
	now := time.Unix(1000, 0)
	controls := NewControls(ControlsConfig{Now: func() time.Time { return now }})
	client := &Client{ID: 7, Limits: ClientLimits{RequestsPerSecond: 0.5}}
	for i := range 6 {
		if status := controls.AdmitRequest(client, model.OperationLookupAccounts, 1); status !=
			model.StatusOK {
			t.Fatalf("request %d, %d s after the previous one, at 0.5 request/s: %s", i,
				10*min(i, 1), status)
		}
		if status := controls.AdmitRequest(client, model.OperationLookupAccounts, 1); status !=
			model.StatusRateLimited {
			t.Fatalf("a second request in the same instant at 0.5 request/s: %s", status)
		}
		now = now.Add(10 * time.Second)
	}
}
