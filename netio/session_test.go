package netio_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/client"
	"sequent/netio/wire"
)

// TestRevokedKeyAfterReload rotates client 1 from key 1 to key 2 through the keys file:
// after the reload, a login with key 1 fails, the session that logged in with key 1 is
// closed at its next request (key_revoked), and key 2 works.
func TestRevokedKeyAfterReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := netio.WriteKeysFile(path, testKeysFile(), false); err != nil {
		t.Fatal(err)
	}
	keys, err := netio.LoadKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOptions{keys: keys})
	old := dialRaw(t, h.server.Address())
	old.login(clientAll, 1, secretOne, 1)

	rotated := testKeysFile()
	rotated.Clients[0].Keys = []netio.KeysFileKey{{ID: 2, Secret: hex.EncodeToString(secretTwo)}}
	if err := netio.WriteKeysFile(path, rotated, true); err != nil {
		t.Fatal(err)
	}
	if err := keys.Reload(); err != nil {
		t.Fatal(err)
	}
	again := dialRaw(t, h.server.Address())
	again.write(again.loginFrame(clientAll, 1, secretOne, 2, 0))
	again.expectError(wire.ErrorLoginUnknownKey)

	old.write(requestFrame(1, 1, model.OperationLookupAccounts, encodeIDs(1)))
	old.expectError(wire.ErrorKeyRevoked)

	fresh := dialRaw(t, h.server.Address())
	fresh.login(clientAll, 2, secretTwo, 3)

	// A broken file is refused and the keys in force stay.
	if err := netio.WriteKeysFile(path, netio.KeysFile{Version: 9}, true); err == nil {
		t.Fatal("an invalid keys file was written")
	}
	if err := keys.Reload(); err != nil {
		t.Fatalf("reload of the unchanged file: %v", err)
	}
	if _, ok := keys.Client(clientAll); !ok {
		t.Fatal("client lost after reload")
	}
}

// TestBusyPropagated fills the fake shard's ring while it is paused: requests beyond its
// capacity are answered busy at once, the others are answered once it resumes, and each
// request gets exactly one answer.
func TestBusyPropagated(t *testing.T) {
	const ring = 4
	h := newHarness(t, harnessOptions{backend: fakeshardConfig(ring)})
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	h.backend.Pause()
	var burst []byte
	const requests = 10
	for number := uint64(1); number <= requests; number++ {
		burst = append(burst, requestFrame(1, number, model.OperationLookupAccounts,
			encodeIDs(1))...)
	}
	r.write(burst)
	answered := map[uint64]model.Status{}
	for len(answered) < requests-ring {
		reply := r.next()
		answered[reply.Number] = model.Status(reply.Status)
	}
	h.backend.Resume()
	for len(answered) < requests {
		reply := r.next()
		if _, twice := answered[reply.Number]; twice {
			t.Fatalf("request %d answered twice", reply.Number)
		}
		answered[reply.Number] = model.Status(reply.Status)
	}
	busy := 0
	for number, status := range answered {
		switch status {
		case model.StatusBusy:
			busy++
		case model.StatusOK:
		default:
			t.Fatalf("request %d: %s", number, status)
		}
	}
	if busy != requests-ring {
		t.Fatalf("%d busy replies, want %d", busy, requests-ring)
	}
	if stats := h.server.Stats(); stats.BusyReplies != requests-ring {
		t.Fatalf("stats count %d busy replies", stats.BusyReplies)
	}
}

// TestClientBusy checks the client's two busy policies: with retries off the caller
// sees busy; with retries on (default) the request is resent with its number until the
// shard takes it.
func TestClientBusy(t *testing.T) {
	h := newHarness(t, harnessOptions{backend: fakeshardConfig(1)})
	ctx := background(t)
	noRetry := h.dial(func(c *client.Config) { c.BusyRetryDelay = -1 })
	h.backend.Pause()
	first := noRetry.Go(ctx, model.OperationLookupAccounts, 0, encodeIDs(1), nil)
	waitFor(t, "the first request in the ring", func() bool { return h.backend.Submitted() == 1 })
	_, err := noRetry.Do(ctx, model.OperationLookupAccounts, 0, encodeIDs(1))
	var statusError *client.StatusError
	if !errors.As(err, &statusError) || statusError.Status != model.StatusBusy {
		t.Fatalf("without retries: %v", err)
	}
	retrying := h.dial(func(c *client.Config) { c.Session = 77 })
	second := retrying.Go(ctx, model.OperationLookupAccounts, 0, encodeIDs(1), nil)
	waitFor(t, "a busy reply", func() bool { return h.server.Stats().BusyReplies >= 2 })
	h.backend.Resume()
	for _, call := range []*client.Call{first, second} {
		if _, err := call.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// The heartbeat tests' timers. The silence timeout is twenty heartbeat intervals: the
// side that answers (the test, or the Go client) and the server's loop may each be held
// up under -race on a loaded 2-core machine, and only a delay longer than 1.9 s cuts the
// session. With 10 ms/100 ms and 5 ms/50 ms they failed about one run in ten, with
// 50 ms/1 s once in ~600 (a stall of over a second). Each heartbeat goes out an interval
// after the sender's previous frame, so idleHeartbeats of them span at least 30
// intervals: one and a half silence timeouts.
const (
	testHeartbeatInterval = 100 * time.Millisecond
	testSilenceTimeout    = 20 * testHeartbeatInterval
	idleHeartbeats        = 31
)

// TestHeartbeatsAndSilence: an idle logged-in connection receives heartbeats; answering
// them keeps it open beyond the silence timeout; going quiet gets it closed with
// silence_timeout. A connection that never logs in is closed with login_timeout.
func TestHeartbeatsAndSilence(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.HeartbeatInterval = testHeartbeatInterval
		c.SilenceTimeout = testSilenceTimeout
		c.LoginTimeout = testSilenceTimeout
	}})
	silent := dialRaw(t, h.server.Address()) // Never logs in: cut while the other one beats.
	r := dialRaw(t, h.server.Address())
	if r.challenge.HeartbeatIntervalMs != uint32(testHeartbeatInterval/time.Millisecond) ||
		r.challenge.SilenceTimeoutMs != uint32(testSilenceTimeout/time.Millisecond) {
		t.Fatalf("challenge timers %+v", r.challenge)
	}
	r.login(clientAll, 1, secretOne, 1)
	heartbeat := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat}, nil)
	// Answering each heartbeat keeps the connection open past the silence timeout.
	for received := 0; received < idleHeartbeats; {
		frame, err := r.nextAny()
		if err != nil {
			t.Fatalf("after %d heartbeats: %v", received, err)
		}
		if frame.Kind != wire.KindHeartbeat {
			t.Fatalf("got %s (%s %q) while idle, after %d heartbeats", frame.Kind,
				wire.ErrorCode(frame.Status), frame.Body, received)
		}
		received++
		r.write(heartbeat)
	}
	r.expectError(wire.ErrorSilenceTimeout)
	silent.expectError(wire.ErrorLoginTimeout)
}

// TestClientKeepsIdleSessionAlive: the Go client's own heartbeats keep an idle session
// open past the silence timeout, on the same connection (the client also drops a server
// silent that long, which the same margin covers).
func TestClientKeepsIdleSessionAlive(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.HeartbeatInterval = testHeartbeatInterval
		c.SilenceTimeout = testSilenceTimeout
	}})
	c := h.dial(nil)
	ctx := background(t)
	loggedIn := h.server.Stats().BytesReceived
	waitFor(t, "client heartbeats", func() bool {
		return h.server.Stats().BytesReceived >= loggedIn+idleHeartbeats*wire.HeaderSize
	})
	if _, err := c.LookupAccounts(ctx, []model.Uint128{model.U128(1)}); err != nil {
		t.Fatal(err)
	}
	if stats := h.server.Stats(); stats.SilenceTimeouts != 0 || stats.LoginsAccepted != 1 {
		t.Fatalf("idle client was cut or reconnected: %+v", stats)
	}
}

// TestReconnectRetryExactlyOnce cuts the client's connection while five transfers sit
// in the (paused) shard. The client reconnects, resumes its session and resends them
// with their original numbers; the shard applies the originals once and answers the
// resends from its cache, so each transfer is applied exactly once and the caller gets
// every result.
func TestReconnectRetryExactlyOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProxy(t, h.server.Address())
	c := h.dial(func(config *client.Config) { config.Addresses = []string{p.address()} })
	ctx := background(t)
	if _, err := c.CreateAccounts(ctx, []model.Account{account(1), account(2)}); err != nil {
		t.Fatal(err)
	}
	base := h.backend.Submitted()
	h.backend.Pause()
	const transfers = 5
	calls := make([]*client.Call, transfers)
	for i := range calls {
		calls[i] = c.Go(ctx, model.OperationCreateTransfers, 0,
			encodeTransfers(transfer(uint64(100+i), 1, 2, 10)), nil)
	}
	waitFor(t, "originals in the shard", func() bool {
		return h.backend.Submitted() == base+transfers
	})
	p.cut()
	waitFor(t, "resends in the shard", func() bool {
		return h.backend.Submitted() == base+2*transfers
	})
	h.backend.Resume()
	for i, call := range calls {
		reply, err := call.Wait(ctx)
		if err != nil {
			t.Fatalf("transfer %d: %v", i, err)
		}
		if !reply.Duplicate {
			t.Fatalf("transfer %d: the resend was not answered from the cache", i)
		}
		var result model.EventResult
		result.Decode(reply.Body)
		if result.Status != model.StatusOK {
			t.Fatalf("transfer %d: %s", i, result.Status)
		}
		if applied := h.backend.Applications(clientAll, c.Session(), call.Number); applied != 1 {
			t.Fatalf("request %d applied %d times", call.Number, applied)
		}
	}
	accounts, err := c.LookupAccounts(ctx, []model.Uint128{model.U128(2)})
	if err != nil || accounts[0].CreditsPosted != model.U128(10*transfers) {
		t.Fatalf("credits posted %v %+v, want %d", err, accounts, 10*transfers)
	}
	if logins := h.server.Stats().LoginsAccepted; logins != 2 {
		t.Fatalf("%d logins, want 2 (one reconnect)", logins)
	}
}

// TestNotPrimaryRedirect: a server whose shard is not primary answers not_primary with
// the primary's address; the client follows it and the request succeeds there.
func TestNotPrimaryRedirect(t *testing.T) {
	primary := newHarness(t, harnessOptions{})
	standby := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.PrimaryAddress = func() string { return primary.server.Address() }
	}})
	standby.backend.SetNotPrimary(true)
	r := dialRaw(t, standby.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	r.write(requestFrame(1, 1, model.OperationLookupAccounts, encodeIDs(1)))
	reply := r.next()
	if model.Status(reply.Status) != model.StatusNotPrimary ||
		string(reply.Body) != primary.server.Address() {
		t.Fatalf("not primary reply: %s %q", model.Status(reply.Status), reply.Body)
	}
	c := standby.dial(nil)
	ctx := background(t)
	results, err := c.CreateAccounts(ctx, []model.Account{account(1)})
	if err != nil || results[0].Status != model.StatusOK {
		t.Fatalf("create through redirect: %v %+v", err, results)
	}
	if primary.backend.Submitted() != 1 {
		t.Fatal("the request did not reach the primary")
	}
}

// TestRedirectLoopBacksOff: two nodes that are both not primary and name each other
// (an election in progress, a stale address) do not make the client reconnect and log in
// as fast as loopback allows. The first redirect is followed at once; later consecutive
// ones wait 1, 2, 4, 8, 16, 32, 50, 50, 50 ms, so the eleventh login cannot come earlier
// than 213 ms after the first (without the backoff it came within a few ms). When one node becomes
// primary the waiting request succeeds there.
func TestRedirectLoopBacksOff(t *testing.T) {
	var secondAddress atomic.Pointer[string]
	first := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.PrimaryAddress = func() string { return *secondAddress.Load() }
	}})
	second := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.PrimaryAddress = func() string { return first.server.Address() }
	}})
	address := second.server.Address()
	secondAddress.Store(&address)
	first.backend.SetNotPrimary(true)
	second.backend.SetNotPrimary(true)
	logins := func() uint64 {
		return first.server.Stats().LoginsAccepted + second.server.Stats().LoginsAccepted
	}
	start := time.Now() // Before the first login, so the bound below is conservative.
	c := first.dial(nil)
	result := make(chan error, 1)
	go func() {
		results, err := c.CreateAccounts(background(t), []model.Account{account(1)})
		if err == nil && results[0].Status != model.StatusOK {
			err = fmt.Errorf("create: %+v", results)
		}
		result <- err
	}()
	waitFor(t, "eleven logins", func() bool { return logins() >= 11 })
	if elapsed := time.Since(start); elapsed < 213*time.Millisecond {
		t.Fatalf("eleven logins within %v: redirects are followed without backoff", elapsed)
	}
	first.backend.SetNotPrimary(false)
	select {
	case err := <-result:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit):
		t.Fatal("the request never reached the node that became primary")
	}
	if first.backend.Submitted()+second.backend.Submitted() != 1 {
		t.Fatal("the request was applied more than once, or not at all")
	}
}

// TestReportsReplayAndResume: reports retained before the subscription are replayed
// from the asked sequence, live ones follow, and after a reconnect the client resumes
// after the last one it handled, so the handler sees each sequence once, in order.
func TestReportsReplayAndResume(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := newProxy(t, h.server.Address())
	c := h.dial(func(config *client.Config) { config.Addresses = []string{p.address()} })
	ctx := background(t)
	for i := 1; i <= 5; i++ {
		h.backend.Report(clientAll, []byte{byte(i)})
	}
	var mu sync.Mutex
	var seen []uint64
	got := make(chan struct{}, 100)
	subscribed, err := c.Subscribe(ctx, 3, func(r client.Report) {
		if len(r.Body) != 1 || uint64(r.Body[0]) != r.Sequence {
			t.Errorf("report %d body %v", r.Sequence, r.Body)
		}
		mu.Lock()
		seen = append(seen, r.Sequence)
		mu.Unlock()
		got <- struct{}{}
	})
	if err != nil {
		t.Fatal(err)
	}
	if subscribed.OldestSequence != 1 || subscribed.ReplayedThrough != 5 {
		t.Fatalf("subscribed %+v", subscribed)
	}
	h.backend.Report(clientAll, []byte{6})
	waitReports(t, got, 4)
	// Any login after the cut is the reconnect (under load the client may have to log in
	// more than once: an exact count could be passed by between two polls).
	loginsBefore := h.server.Stats().LoginsAccepted
	p.cut()
	waitFor(t, "the reconnect", func() bool { return h.server.Stats().LoginsAccepted > loginsBefore })
	h.backend.Report(clientAll, []byte{7})
	waitReports(t, got, 1)
	mu.Lock()
	defer mu.Unlock()
	want := []uint64{3, 4, 5, 6, 7}
	if len(seen) != len(want) {
		t.Fatalf("sequences %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("sequences %v, want %v", seen, want)
		}
	}
}

func waitReports(t *testing.T, got chan struct{}, count int) {
	t.Helper()
	for i := 0; i < count; i++ {
		select {
		case <-got:
		case <-time.After(waitLimit):
			t.Fatalf("report %d of %d never came", i+1, count)
		}
	}
}

// TestSessionEnds: closing a session tells the backend, with the cancel-on-disconnect
// option as the login set it.
func TestSessionEnds(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	cancelling := dialRaw(t, h.server.Address())
	cancelling.write(cancelling.loginFrame(clientAll, 1, secretOne, 41,
		wire.LoginCancelOnDisconnect))
	if frame := cancelling.next(); frame.Kind != wire.KindLoginAccepted {
		t.Fatalf("login: %s", frame.Kind)
	}
	cancelling.conn.Close()
	plain := h.dial(func(c *client.Config) { c.Session = 42 })
	plain.Close()
	waitFor(t, "two session ends", func() bool { return len(h.backend.SessionEnds()) == 2 })
	ends := map[uint64]bool{}
	for _, end := range h.backend.SessionEnds() {
		ends[end.Session] = end.CancelOrders
	}
	if cancel, ok := ends[41]; !ok || !cancel {
		t.Fatalf("session 41 end: %v", ends)
	}
	if cancel, ok := ends[42]; !ok || cancel {
		t.Fatalf("session 42 end: %v", ends)
	}
}

// TestSessionTakeover: a second login to the same session closes the first connection
// (a reconnecting client must not wait for its old half-open socket to time out).
func TestSessionTakeover(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	first := dialRaw(t, h.server.Address())
	first.login(clientAll, 1, secretOne, 9)
	second := dialRaw(t, h.server.Address())
	second.login(clientAll, 1, secretOne, 9)
	first.expectError(wire.ErrorSessionTakenOver)
	second.write(requestFrame(9, 1, model.OperationLookupAccounts, encodeIDs(1)))
	if reply := second.next(); model.Status(reply.Status) != model.StatusOK {
		t.Fatalf("second connection: %s", model.Status(reply.Status))
	}
}

// TestTakeoverWithinTheClientConnectionLimit: a client allowed one connection resumes
// its session from a new connection while the old socket still looks open (a network
// blip): the login is a takeover, not a second connection, so it is admitted, the old
// connection is closed as taken over, and a third, different session is still refused.
func TestTakeoverWithinTheClientConnectionLimit(t *testing.T) {
	file := testKeysFile()
	file.Clients[0].Limits.ConnectionsMax = 1
	keys, err := netio.NewKeyring(file)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOptions{keys: keys, config: func(c *netio.Config) {
		c.Admission = netio.NewControls(netio.ControlsConfig{})
	}})
	old := dialRaw(t, h.server.Address())
	old.login(clientAll, 1, secretOne, 9)
	resumed := dialRaw(t, h.server.Address())
	resumed.write(resumed.loginFrame(clientAll, 1, secretOne, 9, 0))
	if frame := resumed.next(); frame.Kind != wire.KindLoginAccepted {
		t.Fatalf("resuming the session: %s %s, want login_accepted", frame.Kind,
			wire.ErrorCode(frame.Status))
	}
	old.expectError(wire.ErrorSessionTakenOver)
	resumed.write(requestFrame(9, 1, model.OperationLookupAccounts, encodeIDs(1)))
	if reply := resumed.next(); model.Status(reply.Status) != model.StatusOK {
		t.Fatalf("after the takeover: %s", model.Status(reply.Status))
	}
	other := dialRaw(t, h.server.Address())
	other.write(other.loginFrame(clientAll, 1, secretOne, 10, 0))
	if frame := other.next(); frame.Kind != wire.KindError ||
		wire.ErrorCode(frame.Status) != wire.ErrorConnectionLimit {
		t.Fatalf("a second session of a one-connection client: %s %s", frame.Kind,
			wire.ErrorCode(frame.Status))
	}
}

// TestConnectionLimit: beyond ConnectionsMax a connection is refused with an error
// frame; when one closes, a new one is admitted.
func TestConnectionLimit(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) { c.ConnectionsMax = 2 }})
	first := dialRaw(t, h.server.Address())
	dialRaw(t, h.server.Address())
	refused, err := dialRawErr(t, h.server.Address())
	if err != nil {
		t.Fatal(err)
	}
	if refused.Kind != wire.KindError || wire.ErrorCode(refused.Status) != wire.ErrorConnectionLimit {
		t.Fatalf("third connection: %s %s", refused.Kind, wire.ErrorCode(refused.Status))
	}
	first.conn.Close()
	waitFor(t, "the slot to free", func() bool { return h.server.Stats().ConnectionsOpen < 2 })
	dialRaw(t, h.server.Address())
}

// dialRawErr connects and returns the first frame, whatever it is.
func dialRawErr(t *testing.T, address string) (wire.Frame, error) {
	r := &rawConn{t: t}
	conn, err := netDial(address)
	if err != nil {
		return wire.Frame{}, err
	}
	t.Cleanup(func() { conn.Close() })
	r.conn = conn
	return r.nextAny()
}

// TestShutdownDrains: Shutdown waits for the replies of requests already submitted,
// refuses new ones, and then closes the connections.
func TestShutdownDrains(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	h.backend.Pause()
	r.write(requestFrame(1, 1, model.OperationLookupAccounts, encodeIDs(1)))
	waitFor(t, "the request in the shard", func() bool { return h.backend.Submitted() == 1 })
	stopped := make(chan error, 1)
	go func() { stopped <- h.server.Shutdown(context.Background()) }()
	waitFor(t, "draining", func() bool {
		frame, err := dialRawErr(t, h.server.Address())
		return err == nil && frame.Kind == wire.KindError &&
			wire.ErrorCode(frame.Status) == wire.ErrorShuttingDown
	})
	r.write(requestFrame(1, 2, model.OperationLookupAccounts, encodeIDs(1)))
	if reply := r.next(); model.Status(reply.Status) != model.StatusShuttingDown {
		t.Fatalf("request while draining: %s", model.Status(reply.Status))
	}
	h.backend.Resume()
	for {
		reply := r.next()
		if reply.Number == 1 {
			if model.Status(reply.Status) != model.StatusOK {
				t.Fatalf("in-flight request: %s", model.Status(reply.Status))
			}
			break
		}
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	r.expectClosed()
}
