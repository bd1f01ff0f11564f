package e2e

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/client"
	"sequent/netio/wire"
)

// rawConnection speaks the protocol frame by frame, to misbehave on purpose.
type rawConnection struct {
	t       *testing.T
	conn    net.Conn
	decoder wire.Decoder
	nonce   [wire.NonceSize]byte
}

func dialRaw(t *testing.T, address string) *rawConnection {
	t.Helper()
	r := connectRaw(t, address)
	frame, err := r.read()
	if err != nil || frame.Kind != wire.KindChallenge {
		t.Fatalf("challenge: %v %v", frame.Kind, err)
	}
	var challenge wire.Challenge
	challenge.Decode(frame.Body)
	r.nonce = challenge.Nonce
	return r
}

// connectRaw connects without reading the challenge.
func connectRaw(t *testing.T, address string) *rawConnection {
	t.Helper()
	conn, err := net.DialTimeout("tcp", address, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawConnection{t: t, conn: conn}
}

func (r *rawConnection) login(data string, session uint64) {
	r.t.Helper()
	id, key, secret := credentials(r.t, data)
	login := wire.Login{Client: id, Key: key}
	login.Signature = wire.Sign(secret, &r.nonce, id, key, 0, session)
	body := make([]byte, wire.LoginSize)
	login.Encode(body)
	r.conn.Write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindLogin, Session: session}, body))
	if frame, err := r.read(); err != nil || frame.Kind != wire.KindLoginAccepted {
		r.t.Fatalf("login: %v %v", frame.Kind, err)
	}
}

// read returns the next frame other than a heartbeat (body copied), bounded by hangGuard.
func (r *rawConnection) read() (wire.Frame, error) {
	r.conn.SetReadDeadline(time.Now().Add(hangGuard))
	for {
		frame, ok, err := r.decoder.Next()
		if err != nil {
			return wire.Frame{}, err
		}
		if ok && frame.Kind != wire.KindHeartbeat {
			frame.Body = bytes.Clone(frame.Body)
			return frame, nil
		}
		if ok {
			continue
		}
		if _, err := r.decoder.ReadFrom(r.conn); err != nil {
			return wire.Frame{}, err
		}
	}
}

// readUntilClosed reads until the server closes the connection; it returns the error
// frames seen.
func (r *rawConnection) readUntilClosed() []wire.Frame {
	var errorFrames []wire.Frame
	for {
		frame, err := r.read()
		if err != nil {
			var timeout net.Error
			if errors.As(err, &timeout) && timeout.Timeout() {
				r.t.Fatalf("the server did not close the connection within %v", hangGuard)
			}
			return errorFrames
		}
		if frame.Kind == wire.KindError {
			errorFrames = append(errorFrames, frame)
		}
	}
}

// TestBadInputClosesOnlyThatConnection: garbage on one connection gets an error frame and
// that connection closed, while a client on another connection keeps being served.
func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data, freePort(t))
	good := dial(t, data, 0, s.address)
	ctx, cancel := context30s()
	defer cancel()
	if _, err := good.CreateAccounts(ctx, []model.Account{account(1, 0), account(2, 0)}); err != nil {
		t.Fatal(err)
	}
	for _, garbage := range [][]byte{
		bytes.Repeat([]byte{0xff}, 200), // Bad magic.
		func() []byte { // A valid header whose CRC does not match its body.
			frame := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindLogin}, make([]byte, wire.LoginSize))
			frame[len(frame)-1] ^= 1
			return frame
		}(),
	} {
		bad := dialRaw(t, s.address)
		bad.conn.Write(garbage)
		if errorFrames := bad.readUntilClosed(); len(errorFrames) == 0 {
			t.Fatal("no error frame before the close")
		}
		results, err := good.CreateTransfers(ctx, []model.Transfer{transfer(uint64(len(garbage)), 1, 2, 1)})
		if err != nil || results[0].Status != model.StatusOK {
			t.Fatalf("the good client was disturbed: %v %+v", err, results)
		}
	}
}

// TestSlowReaderIsCutOff: a client that sends large queries and never reads is
// disconnected once its unsent replies exceed the server's bound; others are unharmed.
func TestSlowReaderIsCutOff(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data, freePort(t))
	good := dial(t, data, 0, s.address)
	ctx, cancel := context30s()
	defer cancel()
	accounts := make([]model.Account, 4000)
	ids := make([]byte, 0, 4000*16)
	for i := range accounts {
		accounts[i] = account(uint64(i+1), 0)
		ids = model.U128(uint64(i + 1)).Append(ids)
	}
	if _, err := good.CreateAccounts(ctx, accounts); err != nil {
		t.Fatal(err)
	}
	slow := dialRaw(t, s.address)
	slow.login(data, 77)
	slow.conn.(*net.TCPConn).SetReadBuffer(4096)
	// One generous bound for all the writes: a server starved for a few seconds takes the
	// requests late, and a writer that gave up early would leave it too few to answer for
	// the bound to be passed. A write fails at once when the server has cut the connection.
	slow.conn.SetWriteDeadline(time.Now().Add(hangGuard))
	for number := uint64(1); number <= 200; number++ { // 200 replies of 512,000 bytes.
		frame := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindRequest,
			Operation: model.OperationLookupAccounts, Session: 77, Number: number}, ids)
		if _, err := slow.conn.Write(frame); err != nil {
			var timeout net.Error
			if errors.As(err, &timeout) && timeout.Timeout() {
				t.Fatalf("the server neither took request %d nor cut the slow reader off", number)
			}
			break // Already cut off.
		}
	}
	found, err := good.LookupAccounts(ctx, []model.Uint128{model.U128(1)})
	if err != nil || len(found) != 1 {
		t.Fatalf("the good client was disturbed: %v", err)
	}
	slow.conn.SetReadDeadline(time.Now().Add(hangGuard))
	buffer := make([]byte, 1<<20)
	for {
		if _, err := slow.conn.Read(buffer); err != nil {
			var timeout net.Error
			if errors.As(err, &timeout) && timeout.Timeout() {
				t.Fatal("the slow reader was not disconnected")
			}
			break // Closed by the server, once the buffered bytes were drained.
		}
	}
}

// TestBusyUnderOverload: with a tiny input ring and a sequencer held back by a long sync
// interval, requests beyond the ring are answered busy at once rather than queued.
func TestBusyUnderOverload(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data, freePort(t), "--input-ring-bytes", "4194304",
		"--in-flight-entries", "1", "--sync", "interval", "--sync-interval", "300ms")
	id, key, secret := credentials(t, data)
	ctx, cancel := context30s()
	defer cancel()
	c, err := client.Dial(ctx, client.Config{Addresses: []string{s.address}, Client: id,
		Key: key, Secret: secret, BusyRetryDelay: -1, InflightMax: 64, DialTimeout: dialTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	accounts := numberedAccounts(8000)
	body := make([]byte, len(accounts)*model.AccountSize)
	for i := range accounts {
		accounts[i].Encode(body[i*model.AccountSize:])
	}
	var calls []*client.Call
	for i := 0; i < 40; i++ {
		calls = append(calls, c.Go(ctx, model.OperationCreateAccounts, 0, body, nil))
	}
	busy, ok := 0, 0
	for _, call := range calls {
		reply, err := call.Wait(ctx)
		var status *client.StatusError
		switch {
		case err == nil && reply.Status == model.StatusOK:
			ok++
		case errors.As(err, &status) && status.Status == model.StatusBusy:
			busy++
		case err == nil && reply.Status == model.StatusBusy:
			busy++
		default:
			t.Fatalf("unexpected outcome: %v %+v", err, reply)
		}
	}
	if busy == 0 || ok == 0 {
		t.Fatalf("%d ok, %d busy: expected both", ok, busy)
	}
}
