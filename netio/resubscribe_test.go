package netio_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/client"
	"sequent/netio/fakeshard"
	"sequent/netio/wire"
)

// slowReplays is a fake shard whose report replays can be made to wait, so that the
// server's replay slots can be held.
type slowReplays struct {
	*fakeshard.Backend
	hold    atomic.Bool
	waiting atomic.Int64 // Replays that have come to wait for the release.
	release chan struct{}
	once    sync.Once
}

func (b *slowReplays) ReplayReports(client uint64, from uint64,
	fn func([]backend.Report)) (oldest uint64, next uint64) {
	if b.hold.Load() {
		b.waiting.Add(1)
		<-b.release
	}
	return b.Backend.ReplayReports(client, from, fn)
}

func (b *slowReplays) releaseAll() {
	b.hold.Store(false)
	b.once.Do(func() { close(b.release) })
}

// TestResubscribeRetriedWhenBusy: after a reconnect the client resumes its report
// subscription; when the server answers busy (every replay slot taken, as when many
// clients reconnect after a failover), the client retries with a back-off instead of
// dropping the subscription silently, and reports flow again once a slot is free.
//
// Each step waits for the event it needs, not for a fixed time: with sleeps (100 ms for
// the slots to be taken, 200 ms for the refusal) a loaded machine could bring the
// resubscription after the release, served at once: the test passed without a retry.
func TestResubscribeRetriedWhenBusy(t *testing.T) {
	var slow *slowReplays
	subscriptions := &countingAdmission{Controls: netio.NewControls(netio.ControlsConfig{})}
	h := newHarness(t, harnessOptions{wrap: func(fake *fakeshard.Backend) backend.Backend {
		slow = &slowReplays{Backend: fake, release: make(chan struct{})}
		return slow
	}, config: func(c *netio.Config) { c.Admission = subscriptions }})
	t.Cleanup(slow.releaseAll) // Before the harness's shutdown, which waits for replays.
	server := h.server
	p, got := subscribeThroughProxy(t, h, nil)
	// Other sessions take every replay slot and keep it.
	slow.hold.Store(true)
	for i := range uint64(netio.ReportReplaysConcurrentMax) {
		r := dialRaw(t, server.Address())
		r.login(clientAll, 1, secretOne, 1000+i)
		body := make([]byte, wire.SubscribeSize)
		(&wire.Subscribe{FromSequence: 1}).Encode(body)
		r.write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindSubscribe, Session: 1000 + i},
			body))
	}
	waitFor(t, "every replay slot taken", func() bool {
		return slow.waiting.Load() == int64(netio.ReportReplaysConcurrentMax)
	})
	attempts := subscriptions.subscribes.Load()
	p.cut() // The client reconnects and resubscribes: busy, every slot taken until released.
	// A second attempt comes only after the first was answered: busy.
	waitFor(t, "the resubscription refused busy and tried again", func() bool {
		return subscriptions.subscribes.Load() >= attempts+2
	})
	slow.releaseAll()
	slow.Report(clientAll, []byte{2})
	select {
	case sequence := <-got:
		if sequence != 2 {
			t.Fatalf("report %d, want 2", sequence)
		}
	case <-time.After(waitLimit):
		t.Fatal("report 2 never arrived: the busy resubscription was not retried")
	}
}

// TestResubscribeRetriedWhenRateLimited: a subscribe counts as a request against the
// client's rate, so a client that reconnects can find its budget spent and its resumed
// subscription answered rate_limited. The client retries it with a back-off, as when
// busy, instead of ending the subscription (which used to be the answer to anything but
// busy); reports flow again once the budget refills. The server's clock is the test's.
func TestResubscribeRetriedWhenRateLimited(t *testing.T) {
	file := testKeysFile()
	file.Clients[0].Limits.RequestsPerSecond = 1
	keys, err := netio.NewKeyring(file)
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64
	clock.Store(time.Unix(1_000_000, 0).UnixNano())
	h := newHarness(t, harnessOptions{keys: keys, config: func(c *netio.Config) {
		c.Admission = netio.NewControls(netio.ControlsConfig{
			Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	}})
	server := h.server
	p, got := subscribeThroughProxy(t, h, nil) // The subscribe spends the budget's one request.
	logins := server.Stats().LoginsAccepted
	p.cut() // The client reconnects and resubscribes: rate_limited, the clock standing still.
	waitFor(t, "the reconnect", func() bool { return server.Stats().LoginsAccepted > logins })
	// The resubscription refused before the budget refills (after a fixed 200 ms sleep a
	// loaded machine could refill it first: served at once, the test passed without a
	// retry).
	waitFor(t, "the resubscription refused rate_limited", func() bool {
		return server.Stats().RateLimitedReplies > 0
	})
	clock.Add(int64(time.Second)) // The budget refills.
	h.backend.Report(clientAll, []byte{2})
	select {
	case sequence := <-got:
		if sequence != 2 {
			t.Fatalf("report %d, want 2", sequence)
		}
	case <-time.After(waitLimit):
		t.Fatal("report 2 never arrived: the rate-limited resubscription was not retried")
	}
}

// countingAdmission is the default admission control counting the subscribe frames that
// come to it (every one of a logged-in client with the permission, before the server
// looks for a replay slot).
type countingAdmission struct {
	*netio.Controls
	subscribes atomic.Int64
}

func (a *countingAdmission) AdmitSubscription(client *netio.Client) model.Status {
	a.subscribes.Add(1)
	return a.Controls.AdmitSubscription(client)
}

// subscribeThroughProxy dials h's server through a proxy the test can cut, subscribes
// clientAll's reports from sequence 1 and waits for report 1 (sent by the fake shard).
// The sequences of the reports the client takes arrive on the returned channel.
// configure, when not nil, adjusts the client's configuration before the dial.
func subscribeThroughProxy(t *testing.T, h *harness, configure func(*client.Config)) (*proxy,
	<-chan uint64) {
	t.Helper()
	p := newProxy(t, h.server.Address())
	ctx := background(t)
	config := client.Config{Addresses: []string{p.address()}, Client: clientAll, Key: 1,
		Secret: secretOne, Logger: testLogger()}
	if configure != nil {
		configure(&config)
	}
	c, err := client.Dial(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h.backend.Report(clientAll, []byte{1})
	got := make(chan uint64, 16)
	if _, err := c.Subscribe(ctx, 1, func(r client.Report) { got <- r.Sequence }); err != nil {
		t.Fatal(err)
	}
	select {
	case sequence := <-got:
		if sequence != 1 {
			t.Fatalf("first report %d, want 1", sequence)
		}
	case <-time.After(waitLimit):
		t.Fatal("report 1 never arrived")
	}
	return p, got
}
