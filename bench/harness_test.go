package bench

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/fakeshard"
)

// testSecret is the harness client's secret.
var testSecret = bytes.Repeat([]byte{0x5a}, 32)

const (
	testClient = 7
	testKey    = 1
	// shutdownLimit bounds the harness's shutdown; a guard against hangs, not a timing
	// assertion.
	shutdownLimit = 20 * time.Second
)

// lie is how the harness's server misreports account lookups once armed.
type lie uint8

const (
	lieNone          lie = iota
	lieDebitsPosted      // One account's debits_posted is one more than it is.
	lieMovedOneUnit      // One unit moved between two accounts: sums still agree.
	lieLookupMissing     // The last account of each lookup is left out.
)

// lyingReplier sits between the fake shard and the server and, once armed, alters the
// replies to lookup_accounts as its lie says.
type lyingReplier struct {
	backend.Replier
	lie   lie
	armed atomic.Bool
	// beforeDeliver, when set, runs on the fake shard's goroutine before each batch of
	// replies is delivered: a test stalls the server there, at a point of its choosing in
	// the stream of requests.
	beforeDeliver atomic.Pointer[func(replies []backend.Reply)]
}

func (l *lyingReplier) Deliver(replies []backend.Reply) {
	if hook := l.beforeDeliver.Load(); hook != nil {
		(*hook)(replies)
	}
	if l.armed.Load() && l.lie != lieNone {
		for i := range replies {
			reply := &replies[i]
			if reply.Operation == model.OperationLookupAccounts &&
				len(reply.Body) >= 2*model.AccountSize {
				reply.Body = l.alter(bytes.Clone(reply.Body))
			}
		}
	}
	l.Replier.Deliver(replies)
}

func (l *lyingReplier) alter(body []byte) []byte {
	var first, second model.Account
	first.Decode(body)
	second.Decode(body[model.AccountSize:])
	switch l.lie {
	case lieDebitsPosted:
		first.DebitsPosted = first.DebitsPosted.MustAdd(model.U128(1))
	case lieMovedOneUnit:
		first.DebitsPosted = first.DebitsPosted.MustAdd(model.U128(1))
		second.CreditsPosted = second.CreditsPosted.MustAdd(model.U128(1))
	case lieLookupMissing:
		return body[:len(body)-model.AccountSize]
	}
	first.Encode(body)
	second.Encode(body[model.AccountSize:])
	return body
}

// testKeyring holds the harness client's key, with every permission the bench uses.
func testKeyring(t *testing.T) *netio.Keyring {
	t.Helper()
	keys, err := netio.NewKeyring(netio.KeysFile{Version: netio.KeysFileVersion,
		Clients: []netio.KeysFileClient{{ID: testClient, Name: "bench",
			Permissions: []string{"read", "transfer", "trade", "admin"},
			Keys: []netio.KeysFileKey{{ID: testKey,
				Secret: hex.EncodeToString(testSecret)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// harness is a netio server in front of the fake shard on a random loopback port.
type harness struct {
	address string
	backend *fakeshard.Backend
	replier *lyingReplier
}

func newHarness(t *testing.T, how lie) *harness {
	t.Helper()
	return newHarnessWith(t, how, func(*netio.Config) {})
}

// newHarnessWith is newHarness with the server's configuration adjusted by change.
func newHarnessWith(t *testing.T, how lie, change func(*netio.Config)) *harness {
	t.Helper()
	backend := fakeshard.New(fakeshard.Config{})
	serverConfig := netio.Config{Address: "127.0.0.1:0", Keys: testKeyring(t),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	change(&serverConfig)
	server, err := netio.NewServer(serverConfig, backend)
	if err != nil {
		t.Fatal(err)
	}
	replier := &lyingReplier{Replier: server, lie: how}
	backend.Start(replier)
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownLimit)
		defer cancel()
		_ = server.Shutdown(ctx)
		backend.Close()
	})
	return &harness{address: server.Address(), backend: backend, replier: replier}
}

// config returns a small closed-loop configuration against the harness.
func (h *harness) config() Config {
	return Config{Addresses: []string{h.address}, Client: testClient, Key: testKey,
		Secret: testSecret, Connections: 2, Inflight: 4, Events: 5, Accounts: 50,
		Count: 100, Seed: 1, RunID: 1}
}
