package capture

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"sequent/tools/natstest"
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
	url := "nats://sequent:" + password + "@" + address + ",nats://" + token + "@" + address +
		",sequent:" + password + "@" + address // nats.go takes a URL without a scheme too.
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

// TestValidateNamesBoundsTheShardStreamName: JetStream refuses a stream name longer than
// 255 bytes (a file name), and every shard's stream is <base>_<shard>. A base name that
// passed ValidateNames yet made even shard 0's stream name too long passed serve's flag
// checks and then failed every session for good (capture lagging, nothing published).
// The base must leave room for the longest shard suffix ("_65535").
func TestValidateNamesBoundsTheShardStreamName(t *testing.T) {
	server := natstest.Start(t, t.TempDir(), "127.0.0.1:0")
	connection, err := nats.Connect(server.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer connection.Close()
	js, err := jetstream.New(connection)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	longest := strings.Repeat("S", 255-len("_65535"))
	for _, test := range []struct {
		base     string
		shard    uint32
		accepted bool
	}{{longest, 65535, true}, {strings.Repeat("S", 255-len("_0")+1), 0, false}} {
		stream := New(Config{Stream: test.base, Shard: test.shard}).StreamName()
		_, createErr := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream,
			Subjects: []string{fmt.Sprintf("x%d.>", test.shard)}, Storage: jetstream.MemoryStorage})
		validateErr := ValidateNames(test.base, SubjectPrefixDefault)
		if (createErr == nil) != test.accepted || (validateErr == nil) != test.accepted {
			t.Errorf("base of %d bytes, shard %d: JetStream %v, ValidateNames %v: want both "+
				"accepted: %v", len(test.base), test.shard, createErr, validateErr, test.accepted)
		}
	}
}
