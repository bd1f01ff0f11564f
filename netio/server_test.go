package netio_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/client"
	"sequent/netio/fakeshard"
	"sequent/netio/wire"
)

// TestLedgerOperations drives every ledger operation through the Go client and the
// server to the fake shard and checks the typed results, so the whole request and reply
// path (framing, batching, decoding) is exercised once end to end.
func TestLedgerOperations(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	c := h.dial(nil)
	ctx := background(t)
	history := account(2)
	history.Flags = model.AccountHistory
	results, err := c.CreateAccounts(ctx, []model.Account{account(1), history, account(1)})
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Status != model.StatusOK || results[1].Status != model.StatusOK ||
		results[2].Status != model.StatusExists {
		t.Fatalf("create accounts: %+v", results)
	}
	pending := transfer(11, 1, 2, 40)
	pending.Flags = model.TransferPending
	post := model.Transfer{ID: model.U128(12), PendingID: model.U128(11),
		Amount: model.U128(25), Flags: model.TransferPostPending}
	transfers, err := c.CreateTransfersWithBalances(ctx, []model.Transfer{
		transfer(10, 1, 2, 100), pending, post, transfer(13, 1, 99, 1)})
	if err != nil {
		t.Fatal(err)
	}
	want := []model.Status{model.StatusOK, model.StatusOK, model.StatusOK,
		model.StatusCreditAccountNotFound}
	for i := range want {
		if transfers[i].Status != want[i] {
			t.Fatalf("transfer %d: %s, want %s", i, transfers[i].Status, want[i])
		}
	}
	if got := transfers[2].CreditAccount.CreditsPosted; got != model.U128(125) {
		t.Fatalf("credit account credits posted %s after post, want 125", got)
	}
	accounts, err := c.LookupAccounts(ctx, []model.Uint128{model.U128(2), model.U128(77)})
	if err != nil || len(accounts) != 1 || accounts[0].CreditsPosted != model.U128(125) {
		t.Fatalf("lookup accounts: %v %+v", err, accounts)
	}
	found, err := c.LookupTransfers(ctx, []model.Uint128{model.U128(10), model.U128(12)})
	if err != nil || len(found) != 2 || found[1].PendingID != model.U128(11) {
		t.Fatalf("lookup transfers: %v %+v", err, found)
	}
	filter := model.AccountFilter{AccountID: model.U128(2), Limit: 10,
		Flags: model.FilterDebits | model.FilterCredits}
	listed, err := c.GetAccountTransfers(ctx, filter)
	if err != nil || len(listed) != 3 {
		t.Fatalf("account transfers: %v, %d transfers", err, len(listed))
	}
	balances, err := c.GetAccountBalances(ctx, filter)
	if err != nil || len(balances) != 3 || balances[2].CreditsPosted != model.U128(125) {
		t.Fatalf("balance history: %v %+v", err, balances)
	}
	filter.AccountID = model.U128(404)
	_, err = c.GetAccountTransfers(ctx, filter)
	var statusError *client.StatusError
	if !errors.As(err, &statusError) || statusError.Status != model.StatusAccountNotFound {
		t.Fatalf("unknown account: %v", err)
	}
}

// TestBatchingSplitsRequests creates more transfers than one request holds and checks
// the client split them (without cutting a linked chain) and every result came back.
func TestBatchingSplitsRequests(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	c := h.dial(nil)
	ctx := background(t)
	if _, err := c.CreateAccounts(ctx, []model.Account{account(1), account(2)}); err != nil {
		t.Fatal(err)
	}
	count := model.EventsPerRequestMax + 100
	transfers := make([]model.Transfer, count)
	for i := range transfers {
		transfers[i] = transfer(uint64(1000+i), 1, 2, 1)
	}
	// A linked chain straddling the first request boundary must move whole to the second.
	for i := model.EventsPerRequestMax - 3; i < model.EventsPerRequestMax+2; i++ {
		transfers[i].Flags = model.TransferLinked
	}
	first := c.NextNumber()
	results, err := c.CreateTransfers(ctx, transfers)
	if err != nil {
		t.Fatal(err)
	}
	for i, result := range results {
		if result.Status != model.StatusOK {
			t.Fatalf("transfer %d: %s", i, result.Status)
		}
	}
	if requests := c.NextNumber() - first; requests != 2 {
		t.Fatalf("%d requests, want 2", requests)
	}
	accounts, err := c.LookupAccounts(ctx, []model.Uint128{model.U128(2)})
	if err != nil || accounts[0].CreditsPosted != model.U128(uint64(count)) {
		t.Fatalf("credits posted: %v %+v", err, accounts)
	}
}

// TestLoginFailures shows that a wrong credential gets a clear error frame, the
// connection is closed and nothing sent after the login is applied.
func TestLoginFailures(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	cases := []struct {
		name    string
		client  uint64
		key     uint32
		secret  []byte
		session uint64
		options uint32
		want    wire.ErrorCode
	}{
		{"unknown client", 99, 1, secretOne, 1, 0, wire.ErrorLoginUnknownKey},
		{"unknown key", clientAll, 7, secretOne, 1, 0, wire.ErrorLoginUnknownKey},
		{"wrong secret", clientAll, 1, secretTwo, 1, 0, wire.ErrorLoginBadSignature},
		{"other client's secret", clientReader, 1, secretOne, 1, 0,
			wire.ErrorLoginBadSignature},
		{"session zero", clientAll, 1, secretOne, 0, 0, wire.ErrorLoginBadOptions},
		{"unknown option", clientAll, 1, secretOne, 1, 1 << 7, wire.ErrorLoginBadOptions},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := dialRaw(t, h.server.Address())
			login := r.loginFrame(c.client, c.key, c.secret, c.session, c.options)
			request := requestFrame(c.session, 1, model.OperationCreateAccounts,
				encodeAccounts(account(1)))
			r.write(append(login, request...))
			r.expectError(c.want)
		})
	}
	if submitted := h.backend.Submitted(); submitted != 0 {
		t.Fatalf("%d requests reached the backend after failed logins", submitted)
	}
	if rejected := h.server.Stats().LoginsRejected; rejected != uint64(len(cases)) {
		t.Fatalf("%d logins counted as rejected, want %d", rejected, len(cases))
	}
}

// TestLoginLockoutIsPerClient: with the server's controls on, a flood of wrong keys for
// one client from an address makes that client's next login there answer
// too_many_attempts with the wait in aux (up to a minute, in ms), even with the right
// key; another client logging in from the same address is not affected. (Before, the
// limit counted connections per address, and the flood locked every client out.)
func TestLoginLockoutIsPerClient(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.Admission = netio.NewControls(netio.ControlsConfig{LoginAttemptsPerMinute: 3})
	}})
	for range 5 {
		r := dialRaw(t, h.server.Address())
		r.write(r.loginFrame(clientAll, 1, secretTwo, 1, 0)) // The wrong secret.
		frame := r.next()
		if frame.Kind != wire.KindError {
			t.Fatalf("wrong key: %s", frame.Kind)
		}
	}
	locked := dialRaw(t, h.server.Address())
	locked.write(locked.loginFrame(clientAll, 1, secretOne, 1, 0)) // The right one.
	frame := locked.next()
	if frame.Kind != wire.KindError || wire.ErrorCode(frame.Status) != wire.ErrorTooManyAttempts ||
		frame.Aux == 0 || frame.Aux > 60_000 {
		t.Fatalf("locked client: %s %s, retry after %d ms", frame.Kind,
			wire.ErrorCode(frame.Status), frame.Aux)
	}
	neighbour := dialRaw(t, h.server.Address())
	neighbour.login(clientReader, 1, secretReader, 1)
	// The Go client reads the wait: its reconnect loop sleeps that long, not its back-off.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, err := client.Dial(ctx, client.Config{Addresses: []string{h.server.Address()},
		Client: clientAll, Key: 1, Secret: secretOne, Logger: testLogger()})
	var refused *client.ServerError
	if !errors.As(err, &refused) || refused.RetryAfter <= 0 || refused.RetryAfter > time.Minute {
		t.Fatalf("dial of the locked client: %v", err)
	}
}

// TestUncheckedFrames: with login option bit 1 the server does not verify the checksum
// of the frames a client sends after its login (0 there is fine); without it, the same
// frame is a bad_checksum; the login frame itself is always verified. The Go client
// negotiates it with Config.UncheckedFrames.
func TestUncheckedFrames(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	unchecked := wire.AppendFrameUnchecked(nil, &wire.Frame{Kind: wire.KindRequest,
		Operation: model.OperationLookupAccounts, Session: 1, Number: 1}, encodeIDs(1))
	r := dialRaw(t, h.server.Address())
	r.write(r.loginFrame(clientAll, 1, secretOne, 1, wire.LoginUncheckedFrames))
	if frame := r.next(); frame.Kind != wire.KindLoginAccepted {
		t.Fatalf("login with the option: %s", frame.Kind)
	}
	r.write(unchecked)
	if reply := r.next(); reply.Kind != wire.KindReply || model.Status(reply.Status) != model.StatusOK {
		t.Fatalf("unchecked request: %s %s", reply.Kind, model.Status(reply.Status))
	}
	checked := dialRaw(t, h.server.Address())
	checked.login(clientAll, 1, secretOne, 2)
	checked.write(wire.AppendFrameUnchecked(nil, &wire.Frame{Kind: wire.KindRequest,
		Operation: model.OperationLookupAccounts, Session: 2, Number: 1}, encodeIDs(1)))
	checked.expectError(wire.ErrorBadChecksum)
	early := dialRaw(t, h.server.Address())
	login := early.loginFrame(clientAll, 1, secretOne, 3, wire.LoginUncheckedFrames)
	login[wire.HeaderSize] ^= 1 // The login frame is checked before its options are known.
	early.write(login)
	early.expectError(wire.ErrorBadChecksum)
	c := h.dial(func(config *client.Config) { config.UncheckedFrames = true })
	if _, err := c.LookupAccounts(background(t), []model.Uint128{model.U128(1)}); err != nil {
		t.Fatalf("Go client with unchecked frames: %v", err)
	}
}

// TestLoginNonceSingleUse shows a nonce signs one login only: a second login on the same
// connection fails, and a login captured from one connection fails on another (its
// nonce differs).
func TestLoginNonceSingleUse(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	first := dialRaw(t, h.server.Address())
	captured := first.loginFrame(clientAll, 1, secretOne, 5, 0)
	first.write(captured)
	if frame := first.next(); frame.Kind != wire.KindLoginAccepted {
		t.Fatalf("first login: %s", frame.Kind)
	}
	first.write(captured)
	first.expectError(wire.ErrorLoginNonceUsed)

	second := dialRaw(t, h.server.Address())
	second.write(captured)
	second.expectError(wire.ErrorLoginBadSignature)
}

// TestPermissionDenied shows a client without the needed permission gets a
// permission_denied reply and keeps its connection (it can still read).
func TestPermissionDenied(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	reader := dialRaw(t, h.server.Address())
	reader.login(clientReader, 1, secretReader, 1)
	reader.write(requestFrame(1, 1, model.OperationCreateAccounts, encodeAccounts(account(1))))
	if reply := reader.next(); reply.Kind != wire.KindReply ||
		model.Status(reply.Status) != model.StatusPermissionDenied || reply.Number != 1 {
		t.Fatalf("reader create: %s %s", reply.Kind, model.Status(reply.Status))
	}
	reader.write(requestFrame(1, 2, model.OperationLookupAccounts, encodeIDs(1)))
	if reply := reader.next(); model.Status(reply.Status) != model.StatusOK ||
		reply.Number != 2 {
		t.Fatalf("reader lookup: %s", model.Status(reply.Status))
	}
	trader := dialRaw(t, h.server.Address())
	trader.login(clientTrader, 1, secretTrader, 1)
	trader.write(requestFrame(1, 1, model.OperationCreateTransfers,
		encodeTransfers(transfer(1, 1, 2, 1))))
	if reply := trader.next(); model.Status(reply.Status) != model.StatusPermissionDenied {
		t.Fatalf("trader transfer: %s", model.Status(reply.Status))
	}
	if submitted := h.backend.Submitted(); submitted != 1 {
		t.Fatalf("%d requests submitted, want 1 (the lookup)", submitted)
	}
}

// TestRequestShape checks the request-level refusals that keep the connection open:
// body not a whole number of events, empty, too many events.
func TestRequestShape(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	cases := []struct {
		body []byte
		want model.Status
	}{
		{make([]byte, 100), model.StatusInvalidBody},
		{nil, model.StatusEmptyRequest},
		{make([]byte, (model.EventsPerRequestMax+1)*model.IDSize), model.StatusTooManyEvents},
	}
	for i, c := range cases {
		r.write(requestFrame(1, uint64(i+1), model.OperationLookupAccounts, c.body))
		if reply := r.next(); model.Status(reply.Status) != c.want {
			t.Fatalf("case %d: %s, want %s", i, model.Status(reply.Status), c.want)
		}
	}
	// A query takes exactly one filter.
	r.write(requestFrame(1, 9, model.OperationGetAccountTransfers,
		make([]byte, 2*model.AccountFilterSize)))
	if reply := r.next(); model.Status(reply.Status) != model.StatusTooManyEvents {
		t.Fatalf("two filters: %s", model.Status(reply.Status))
	}
	if h.backend.Submitted() != 0 {
		t.Fatal("a misshapen request reached the backend")
	}
}

// TestBadInputIsolated sends each kind of malformed or misplaced frame on its own
// connection while a client on another connection keeps working: each bad connection
// gets the matching error frame and is closed, and the good one is served throughout.
func TestBadInputIsolated(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	good := h.dial(nil)
	ctx := background(t)
	request := requestFrame(1, 1, model.OperationLookupAccounts, encodeIDs(1))
	corrupt := func(mutate func(b []byte)) []byte {
		b := append([]byte(nil), request...)
		mutate(b)
		return b
	}
	oversize := corrupt(func(b []byte) {
		binary.LittleEndian.PutUint32(b[8:], model.RequestBodyBytesMax+1)
	})
	cases := []struct {
		name  string
		login bool
		send  []byte
		close bool // Half-close after sending.
		want  wire.ErrorCode
	}{
		{"bad magic", true, corrupt(func(b []byte) { b[0] = 'X' }), false, wire.ErrorBadMagic},
		{"bad version", true, corrupt(func(b []byte) { b[4] = 9 }), false,
			wire.ErrorBadVersion},
		{"bad checksum", true, corrupt(func(b []byte) { b[len(b)-1] ^= 1 }), false,
			wire.ErrorBadChecksum},
		{"oversized", true, oversize, false, wire.ErrorFrameTooLarge},
		{"unknown kind", true, corrupt(func(b []byte) { b[5] = 99 }), false,
			wire.ErrorUnknownKind},
		{"unknown operation", true, requestFrame(1, 1, 19, encodeIDs(1)), false,
			wire.ErrorUnknownOperation},
		{"internal operation", true, requestFrame(1, 1, model.OperationPulse, nil), false,
			wire.ErrorUnknownOperation},
		// The rules version moves only by the primary's own entry (package core).
		{"upgrade_rules", true, requestFrame(1, 1, model.OperationUpgradeRules,
			[]byte{2, 0, 0, 0}), false, wire.ErrorUnknownOperation},
		{"session mismatch", true, requestFrame(2, 1, model.OperationLookupAccounts,
			encodeIDs(1)), false, wire.ErrorSessionMismatch},
		{"number zero", true, requestFrame(1, 0, model.OperationLookupAccounts,
			encodeIDs(1)), false, wire.ErrorBadRequestNumber},
		{"request before login", false, request, false, wire.ErrorUnexpectedFrame},
		// Only the header of a request claiming a 1 MiB body: refused without waiting
		// for (or buffering) the body.
		{"large request header before login", false, requestFrame(1, 1,
			model.OperationCreateTransfers, make([]byte, 8189*model.TransferSize))[:wire.HeaderSize],
			false, wire.ErrorUnexpectedFrame},
		{"server frame", true, wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindReply}, nil),
			false, wire.ErrorUnexpectedFrame},
		{"truncated", true, request[:len(request)-3], true, wire.ErrorTruncatedFrame},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := dialRaw(t, h.server.Address())
			if c.login {
				bad.login(clientAll, 1, secretOne, 1)
			}
			bad.write(c.send)
			if c.close {
				_ = bad.conn.(interface{ CloseWrite() error }).CloseWrite()
			}
			bad.expectError(c.want)
			if _, err := good.LookupAccounts(ctx, []model.Uint128{model.U128(1)}); err != nil {
				t.Fatalf("good connection after %s: %v", c.name, err)
			}
		})
	}
	if errors := h.server.Stats().ProtocolErrors; errors != uint64(len(cases)) {
		t.Fatalf("%d protocol errors counted, want %d", errors, len(cases))
	}
}

// TestSlowReaderCutOff: a client that pipelines large lookups and does not read is
// disconnected once its unsent replies pass OutboundBytesMax, while another client on
// the same server keeps being served before, during and after (also while the slow one
// then reads a trickle: the cut must not let it hold the event loop). Two shapes: all
// replies in one Deliver call (caught before the write) and one reply per call (caught
// by the loop when gnet's buffer passes the bound).
func TestSlowReaderCutOff(t *testing.T) {
	for _, batch := range []int{0, 1} {
		t.Run(fmt.Sprintf("batch_%d", batch), func(t *testing.T) { testSlowReader(t, batch) })
	}
}

// slowReaderWaitLimit is testSlowReader's hang guard, for the whole test (its context)
// and for the wait for the cut: the package's waitLimit is too short for it. Under -race
// the test costs about 6 s of CPU (mostly the race detector's work on the megabytes of
// replies allocated, copied and freed), and the good client's lookups queue in the fake
// shard behind the slow reader's 23 large ones: at a load average of 13 on 2 cores it
// took up to 72 s, and one lookup of the good client waited over a minute in 2 of 5
// runs. It is still only a guard against a hang: nothing waits for it in a passing run.
const slowReaderWaitLimit = 3 * waitLimit

func testSlowReader(t *testing.T, batch int) {
	const outboundBytesMax = 2 << 20
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.OutboundBytesMax = outboundBytesMax
		// The slow reader sends nothing after its burst, so a silence timeout (15 s by
		// default) closes it if the cut has not come by then, and the cut is never
		// counted. Under -race at a load average of 12-15 on 2 cores the cut came 17-65 s
		// after the slow reader's login with batch 0 (the fake shard applies the 23
		// lookups queued behind the first before its second Deliver call) and up to 17 s
		// with batch 1; with the default timeout the silence close came first in 3 runs of
		// 3 with batch 0, and the test waited out its guard for a cut that could no longer
		// come. Silence must not end the connection before the test's guard does.
		c.SilenceTimeout = 2 * slowReaderWaitLimit
	}, backend: fakeshard.Config{BatchRequestsMax: batch}})
	good := h.dial(nil)
	ctx, cancel := context.WithTimeout(context.Background(), slowReaderWaitLimit)
	defer cancel()
	ids := make([]uint64, model.EventsPerRequestMax)
	accounts := make([]model.Account, len(ids))
	for i := range ids {
		ids[i] = uint64(i + 1)
		accounts[i] = account(ids[i])
	}
	if _, err := good.CreateAccounts(ctx, accounts); err != nil {
		t.Fatal(err)
	}
	slow := dialRaw(t, h.server.Address())
	// A small receive buffer keeps the kernel from absorbing much: the server's socket
	// send buffer (at most 4 MiB here) and gnet's buffer fill instead.
	if err := slow.conn.(*net.TCPConn).SetReadBuffer(8 << 10); err != nil {
		t.Fatal(err)
	}
	slow.login(clientAll, 1, secretOne, 1)
	// Each reply is 8189 accounts (1 MiB); 24 of them are four times the bound plus
	// what the kernel's socket buffers can hold.
	const requests = 24
	lookup := encodeIDs(ids...)
	var burst []byte
	for number := uint64(1); number <= requests; number++ {
		burst = append(burst, requestFrame(1, number, model.OperationLookupAccounts, lookup)...)
	}
	slow.write(burst)
	waitForWithin(t, slowReaderWaitLimit, "the slow consumer cut", func() bool {
		if _, err := good.LookupAccounts(ctx, []model.Uint128{model.U128(1)}); err != nil {
			t.Fatalf("good client while the slow one fills up: %v (server %+v)", err,
				h.server.Stats())
		}
		return h.server.Stats().SlowConsumers == 1
	})
	replies := 0
	for {
		frame, err := slow.nextAny()
		if err != nil {
			break
		}
		if frame.Kind == wire.KindReply {
			replies++
		}
	}
	if replies >= requests {
		t.Fatalf("the slow reader got all %d replies", replies)
	}
	found, err := good.LookupAccounts(ctx, []model.Uint128{model.U128(7)})
	if err != nil || len(found) != 1 {
		t.Fatalf("good client after the cut: %v", err)
	}
}

// TestReservedHeaderFields: header fields a client frame does not use must be zero, and
// undefined request flags make the request invalid (the connection stays).
func TestReservedHeaderFields(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	cases := []wire.Frame{
		{Kind: wire.KindRequest, Operation: model.OperationLookupAccounts, Session: 1,
			Number: 1, Aux: 5},
		{Kind: wire.KindRequest, Operation: model.OperationLookupAccounts, Session: 1,
			Number: 1, Status: 5},
		{Kind: wire.KindHeartbeat, Number: 3},
		{Kind: wire.KindLogout, Session: 1, Operation: 2},
	}
	for i, frame := range cases {
		r := dialRaw(t, h.server.Address())
		r.login(clientAll, 1, secretOne, 1)
		r.write(wire.AppendFrame(nil, &frame, encodeIDs(1)[:bodyLengthOf(frame.Kind)]))
		r.expectError(wire.ErrorReservedNotZero)
		_ = i
	}
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	r.write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindRequest,
		Operation: model.OperationLookupAccounts, Session: 1, Number: 1, Flags: 1 << 3},
		encodeIDs(1)))
	if reply := r.next(); model.Status(reply.Status) != model.StatusInvalidBody {
		t.Fatalf("undefined flag: %s", model.Status(reply.Status))
	}
	// Flag bit 0 (balances) is defined for create_transfers only; elsewhere it would be
	// silently meaningless, so it is refused.
	r.write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindRequest,
		Operation: model.OperationLookupAccounts, Session: 1, Number: 2, Flags: 1},
		encodeIDs(1)))
	if reply := r.next(); model.Status(reply.Status) != model.StatusInvalidBody {
		t.Fatalf("balances flag on a lookup: %s", model.Status(reply.Status))
	}
}

func bodyLengthOf(kind wire.Kind) int {
	if kind == wire.KindRequest {
		return model.IDSize
	}
	return 0
}

// TestConcurrentClientsSeveralLoops runs several clients at once, each pipelining from
// several goroutines, on a server with two event loops, and checks every transfer was
// applied once: the handler's shared state holds up under concurrent loops (run it with
// -race).
func TestConcurrentClientsSeveralLoops(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) { c.EventLoops = 2 }})
	ctx := background(t)
	setup := h.dial(nil)
	if _, err := setup.CreateAccounts(ctx, []model.Account{account(1), account(2)}); err != nil {
		t.Fatal(err)
	}
	const clients, goroutines, transfers = 4, 4, 50
	errs := make(chan error, clients*goroutines)
	var next atomic.Uint64
	next.Store(1000)
	for range clients {
		c := h.dial(nil)
		for range goroutines {
			go func() {
				for range transfers {
					id := next.Add(1)
					results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(id, 1, 2, 1)})
					if err == nil && results[0].Status != model.StatusOK {
						err = fmt.Errorf("transfer %d: %s", id, results[0].Status)
					}
					if err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
	}
	for range clients * goroutines {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	accounts, err := setup.LookupAccounts(ctx, []model.Uint128{model.U128(2)})
	if err != nil || accounts[0].CreditsPosted != model.U128(clients*goroutines*transfers) {
		t.Fatalf("credits posted %v %+v", err, accounts)
	}
}

// TestClientProtocolErrorFailsOneCall: a request the server rejects with an error frame
// (an undefined operation) fails that call with the *ServerError; the client reconnects
// and its other requests still succeed.
func TestClientProtocolErrorFailsOneCall(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	c := h.dial(nil)
	ctx := background(t)
	_, err := c.Do(ctx, 19, 0, encodeIDs(1))
	var serverError *client.ServerError
	if !errors.As(err, &serverError) || serverError.Name != "unknown_operation" {
		t.Fatalf("undefined operation: %v", err)
	}
	if _, err := c.LookupAccounts(ctx, []model.Uint128{model.U128(1)}); err != nil {
		t.Fatalf("after the protocol error: %v", err)
	}
}
