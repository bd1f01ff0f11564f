package capture

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"sequent/tools/testport"
)

// TestConnectErrorHidesCredentials: a --cdc-nats URL may carry NATS credentials (a user
// and password, or a token in the user position, which nats.go reads from the URL). A
// failed connection is reported in Stats' LastError, which /v1/status and the
// capture_lagging problem of /healthz show (read endpoints of the operators' port, no
// token needed), and in the capture's warning log line: neither may contain the secret.
// The URL used to be formatted whole into the error.
func TestConnectErrorHidesCredentials(t *testing.T) {
	const password, token = "hunter2password", "s3cr3ttoken"
	address := testport.Address(t) // Free: nothing listens there, the connect fails.
	url := "nats://sequent:" + password + "@" + address + ",nats://" + token + "@" + address
	var logged lockedBuffer
	c := New(Config{URL: url, Serving: func() bool { return true },
		Released: func() uint64 { return 0 },
		Logger:   slog.New(slog.NewTextHandler(&logged, nil))})
	c.Start()
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for c.Stats().LastError == "" {
		if time.Now().After(deadline) {
			t.Fatal("no connection error reported")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.Close()
	stats := c.Stats()
	for _, secret := range []string{password, token} {
		if strings.Contains(stats.LastError, secret) {
			t.Errorf("LastError shows a credential: %s", stats.LastError)
		}
		if strings.Contains(stats.URL, secret) {
			t.Errorf("Stats.URL shows a credential: %s", stats.URL)
		}
		if logged.contains(secret) {
			t.Errorf("the log shows a credential %q", secret)
		}
	}
	if !strings.Contains(stats.LastError, address) {
		t.Errorf("LastError %q does not name the server %s", stats.LastError, address)
	}
}
