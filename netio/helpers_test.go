package netio_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
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

// Test clients in the harness's keys.
const (
	clientAll    = 1 // Every permission; keys 1 and 2.
	clientReader = 2 // Read only.
	clientTrader = 3 // Trade only.
)

var (
	secretOne    = bytes.Repeat([]byte{0x01}, 32)
	secretTwo    = bytes.Repeat([]byte{0x02}, 32)
	secretReader = bytes.Repeat([]byte{0x03}, 32)
	secretTrader = bytes.Repeat([]byte{0x04}, 32)
)

// waitLimit bounds every wait in these tests. It is a guard against hangs, not a timing
// assertion: conditions are expected within milliseconds, and a minute leaves room for
// -race on the loaded 2-core CI machine.
const waitLimit = time.Minute

func testKeysFile() netio.KeysFile {
	return netio.KeysFile{Version: netio.KeysFileVersion, Clients: []netio.KeysFileClient{
		{ID: clientAll, Name: "all", Permissions: []string{"read", "transfer", "trade", "admin"},
			Keys: []netio.KeysFileKey{{ID: 1, Secret: hex.EncodeToString(secretOne)},
				{ID: 2, Secret: hex.EncodeToString(secretTwo)}}},
		{ID: clientReader, Name: "reader", Permissions: []string{"read"},
			Keys: []netio.KeysFileKey{{ID: 1, Secret: hex.EncodeToString(secretReader)}}},
		{ID: clientTrader, Name: "trader", Permissions: []string{"trade"},
			Keys: []netio.KeysFileKey{{ID: 1, Secret: hex.EncodeToString(secretTrader)}}},
	}}
}

// harness is a server on a random loopback port in front of a fake shard.
type harness struct {
	t       testing.TB
	server  *netio.Server
	backend *fakeshard.Backend
	keys    *netio.Keyring
}

type harnessOptions struct {
	config  func(*netio.Config)
	backend fakeshard.Config
	keys    *netio.Keyring
	// wrap, if set, gives the server a backend built around the fake shard (to make
	// one of its calls misbehave); the fake shard still runs and delivers.
	wrap func(*fakeshard.Backend) backend.Backend
}

func testLogger() *slog.Logger {
	if os.Getenv("NETIO_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newHarness(t testing.TB, options harnessOptions) *harness {
	t.Helper()
	keys := options.keys
	if keys == nil {
		var err error
		keys, err = netio.NewKeyring(testKeysFile())
		if err != nil {
			t.Fatal(err)
		}
	}
	config := netio.Config{Address: "127.0.0.1:0", Keys: keys, Logger: testLogger()}
	if options.config != nil {
		options.config(&config)
	}
	fake := fakeshard.New(options.backend)
	var served backend.Backend = fake
	if options.wrap != nil {
		served = options.wrap(fake)
	}
	server, err := netio.NewServer(config, served)
	if err != nil {
		t.Fatal(err)
	}
	fake.Start(server)
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := server.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		fake.Close()
	})
	return &harness{t: t, server: server, backend: fake, keys: keys}
}

// dial returns a Go client logged in as clientAll with key 1.
func (h *harness) dial(configure func(*client.Config)) *client.Client {
	h.t.Helper()
	config := client.Config{Addresses: []string{h.server.Address()}, Client: clientAll,
		Key: 1, Secret: secretOne, Logger: testLogger()}
	if configure != nil {
		configure(&config)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := client.Dial(ctx, config)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

// rawConn speaks the protocol frame by frame, for tests of the server's checks.
type rawConn struct {
	t         testing.TB
	conn      net.Conn
	decoder   wire.Decoder
	challenge wire.Challenge
}

func dialRaw(t testing.TB, address string) *rawConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", address, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	return newRawConn(t, conn)
}

// newRawConn wraps a fresh connection (closed at cleanup) and reads its challenge.
func newRawConn(t testing.TB, conn net.Conn) *rawConn {
	t.Helper()
	t.Cleanup(func() { conn.Close() })
	r := &rawConn{t: t, conn: conn}
	frame := r.next()
	if frame.Kind != wire.KindChallenge {
		t.Fatalf("first frame %s, want challenge", frame.Kind)
	}
	r.challenge.Decode(frame.Body)
	return r
}

// loginFrame returns a signed login frame for this connection's challenge.
func (r *rawConn) loginFrame(client uint64, key uint32, secret []byte, session uint64,
	options uint32) []byte {
	login := wire.Login{Client: client, Key: key, Options: options}
	login.Signature = wire.Sign(secret, &r.challenge.Nonce, client, key, options, session)
	body := make([]byte, wire.LoginSize)
	login.Encode(body)
	return wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindLogin, Session: session}, body)
}

// login logs in and fails the test unless the server accepts.
func (r *rawConn) login(client uint64, key uint32, secret []byte, session uint64) {
	r.t.Helper()
	r.write(r.loginFrame(client, key, secret, session, 0))
	if frame := r.next(); frame.Kind != wire.KindLoginAccepted {
		r.t.Fatalf("login: got %s (%s) %q", frame.Kind, wire.ErrorCode(frame.Status),
			frame.Body)
	}
}

// dialLoggedIn dials address and logs in as clientAll (key 1) on session, on a server
// whose login timeout (50 ms in some tests) is shorter than this goroutine may be held up
// on a loaded machine: the ticker parks at a login it finds overdue meanwhile (the login
// hook), before it lends the check, and goes on once the login is accepted (the check
// lent then finds the connection logged in). It sets the login hook: a test that wants
// its own sets it afterwards.
func dialLoggedIn(t *testing.T, address string, session uint64) *rawConn {
	t.Helper()
	held := newGate()
	var armed atomic.Bool
	armed.Store(true)
	netio.SetTestHookLoginOverdue(t, func() {
		if armed.CompareAndSwap(true, false) {
			held.pass()
		}
	})
	t.Cleanup(held.open) // A failing login must not leave the ticker parked.
	r := dialRaw(t, address)
	r.login(clientAll, 1, secretOne, session)
	if !armed.CompareAndSwap(true, false) {
		held.open() // The ticker took it: parked there, or about to be.
	}
	return r
}

func (r *rawConn) write(b []byte) {
	r.t.Helper()
	if _, err := r.conn.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func requestFrame(session, number uint64, operation model.Operation, body []byte) []byte {
	return wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindRequest, Operation: operation,
		Session: session, Number: number}, body)
}

// next returns the next frame other than a heartbeat.
func (r *rawConn) next() wire.Frame {
	r.t.Helper()
	for {
		frame, err := r.nextAny()
		if err != nil {
			r.t.Fatalf("read: %v", err)
		}
		if frame.Kind != wire.KindHeartbeat {
			return frame
		}
	}
}

// nextAny returns the next frame, heartbeats included; its body is copied.
func (r *rawConn) nextAny() (wire.Frame, error) {
	_ = r.conn.SetReadDeadline(time.Now().Add(waitLimit))
	for {
		frame, ok, err := r.decoder.Next()
		if err != nil {
			return wire.Frame{}, err
		}
		if ok {
			frame.Body = bytes.Clone(frame.Body)
			return frame, nil
		}
		if _, err := r.decoder.ReadFrom(r.conn); err != nil {
			if frame, ok, _ := r.decoder.Next(); ok {
				frame.Body = bytes.Clone(frame.Body)
				return frame, nil
			}
			return wire.Frame{}, err
		}
	}
}

// expectError reads frames until an error frame, checks its code, then expects the
// server to close the connection.
func (r *rawConn) expectError(code wire.ErrorCode) {
	r.t.Helper()
	frame := r.next()
	if frame.Kind != wire.KindError || wire.ErrorCode(frame.Status) != code {
		r.t.Fatalf("got %s status %d (%s) %q, want error %s", frame.Kind, frame.Status,
			wire.ErrorCode(frame.Status), frame.Body, code)
	}
	r.expectClosed()
}

// expectClosed reads until the server closes the connection (heartbeats are skipped).
func (r *rawConn) expectClosed() {
	r.t.Helper()
	for {
		frame, err := r.nextAny()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
				return
			}
			r.t.Fatalf("waiting for close: %v", err)
		}
		if frame.Kind != wire.KindHeartbeat {
			r.t.Fatalf("waiting for close: got %s", frame.Kind)
		}
	}
}

func isReset(err error) bool {
	var opError *net.OpError
	return errors.As(err, &opError) && !opError.Timeout()
}

// waitFor polls condition until it holds; it fails the test after waitLimit (a hang
// guard, not a timing assertion).
func waitFor(t testing.TB, what string, condition func() bool) {
	t.Helper()
	waitForWithin(t, waitLimit, what, condition)
}

// waitForWithin is waitFor with another hang guard than waitLimit, for a test whose
// healthy runs need more (say why where it is used).
func waitForWithin(t testing.TB, limit time.Duration, what string, condition func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !condition() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func account(id uint64) model.Account {
	return model.Account{ID: model.U128(id), Ledger: 1, Code: 1}
}

func transfer(id, debit, credit, amount uint64) model.Transfer {
	return model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(debit),
		CreditAccountID: model.U128(credit), Amount: model.U128(amount), Ledger: 1, Code: 1}
}

func encodeAccounts(accounts ...model.Account) []byte {
	body := make([]byte, len(accounts)*model.AccountSize)
	for i := range accounts {
		accounts[i].Encode(body[i*model.AccountSize:])
	}
	return body
}

func encodeTransfers(transfers ...model.Transfer) []byte {
	body := make([]byte, len(transfers)*model.TransferSize)
	for i := range transfers {
		transfers[i].Encode(body[i*model.TransferSize:])
	}
	return body
}

func encodeIDs(ids ...uint64) []byte {
	body := make([]byte, len(ids)*model.IDSize)
	for i, id := range ids {
		model.U128(id).PutLE(body[i*model.IDSize:])
	}
	return body
}

func background(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// proxy forwards loopback TCP connections to a target and can cut them all, to test
// reconnects without touching either end's internals.
type proxy struct {
	listener net.Listener
	target   string
	mu       sync.Mutex
	conns    []net.Conn
	refusing atomic.Bool // Connections accepted meanwhile are closed at once.
}

func newProxy(t testing.TB, target string) *proxy {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{listener: listener, target: target}
	go p.accept()
	t.Cleanup(func() { listener.Close(); p.cut() })
	return p
}

func (p *proxy) address() string { return p.listener.Addr().String() }

func (p *proxy) accept() {
	for {
		downstream, err := p.listener.Accept()
		if err != nil {
			return
		}
		if p.refusing.Load() {
			downstream.Close()
			continue
		}
		upstream, err := net.Dial("tcp", p.target)
		if err != nil {
			downstream.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, downstream, upstream)
		p.mu.Unlock()
		go func() { io.Copy(upstream, downstream); upstream.Close() }()
		go func() { io.Copy(downstream, upstream); downstream.Close() }()
	}
}

// cut closes every connection through the proxy (both sides).
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, conn := range p.conns {
		conn.Close()
	}
	p.conns = nil
}

func fakeshardConfig(ring int) fakeshard.Config { return fakeshard.Config{RingRequests: ring} }

func netDial(address string) (net.Conn, error) { return net.DialTimeout("tcp", address, waitLimit) }
