package netio_test

// Conformance tests: each checks one promise of netio/PROTOCOL.md (quoted by section)
// from the bytes a client sees on a loopback connection, the way a client written from
// the document alone would. They cover promises no other test of the package checks.
// The four the server broke when they were written (session 34) were settled: the server
// changed for login_accepted's permissions and the error frames' number and session, the
// document for requests pipelined behind a login.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"io"
	"testing"
	"time"
	"unicode/utf8"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio"
	"sequent/netio/wire"
)

// conformanceCastagnoli is the CRC-32C table PROTOCOL.md section 3 specifies, built here
// from the document's polynomial rather than taken from package wire, so that these
// tests recompute checksums as an independent client would.
var conformanceCastagnoli = crc32.MakeTable(crc32.Castagnoli)

// reseal recomputes a frame's checksum after a test changed its header or body: section
// 3, "CRC32C of header bytes 0..43 followed by the body". The frame must be whole.
func reseal(frame []byte) []byte {
	sum := crc32.Update(0, conformanceCastagnoli, frame[:44])
	sum = crc32.Update(sum, conformanceCastagnoli, frame[wire.HeaderSize:])
	binary.LittleEndian.PutUint32(frame[44:], sum)
	return frame
}

// rawFrame encodes a client frame with every header field given, the body as given and
// a correct checksum, so that a test can break exactly one rule at a time.
func rawFrame(kind wire.Kind, operation model.Operation, flags uint8, status uint32,
	session, number, aux uint64, reserved uint32, body []byte) []byte {
	frame := make([]byte, wire.HeaderSize+len(body))
	binary.LittleEndian.PutUint32(frame[0:], 0x544E5153) // "SQNT"
	frame[4] = 1
	frame[5] = byte(kind)
	frame[6] = byte(operation)
	frame[7] = flags
	binary.LittleEndian.PutUint32(frame[8:], uint32(len(body)))
	binary.LittleEndian.PutUint32(frame[12:], status)
	binary.LittleEndian.PutUint64(frame[16:], session)
	binary.LittleEndian.PutUint64(frame[24:], number)
	binary.LittleEndian.PutUint64(frame[32:], aux)
	binary.LittleEndian.PutUint32(frame[40:], reserved)
	copy(frame[wire.HeaderSize:], body)
	return reseal(frame)
}

// withBodyLength returns a copy of frame's header alone with body_length set, for the
// checks the server makes from the header before it reads any body byte.
func withBodyLength(frame []byte, length uint32) []byte {
	head := append([]byte(nil), frame[:wire.HeaderSize]...)
	binary.LittleEndian.PutUint32(head[8:], length)
	return head
}

// expectErrorFrame reads until an error frame, checks its code and the fields section 4
// gives every error frame (aux 0 unless too_many_attempts, a UTF-8 body of at most 256
// bytes), waits for the server to close, and returns the frame for further checks.
func (r *rawConn) expectErrorFrame(code wire.ErrorCode) wire.Frame {
	r.t.Helper()
	frame := r.next()
	if frame.Kind != wire.KindError || wire.ErrorCode(frame.Status) != code {
		r.t.Fatalf("got %s status %d (%s) %q, want error %s", frame.Kind, frame.Status,
			wire.ErrorCode(frame.Status), frame.Body, code)
	}
	// Section 4, error: "aux = for too_many_attempts the milliseconds to wait ..., else
	// 0. Body: a UTF-8 explanation for humans." Section 14: error message 256 bytes.
	if code != wire.ErrorTooManyAttempts && frame.Aux != 0 {
		r.t.Fatalf("error %s with aux %d, want 0", code, frame.Aux)
	}
	if len(frame.Body) > 256 || !utf8.Valid(frame.Body) {
		r.t.Fatalf("error %s body %q: not UTF-8 of at most 256 bytes", code, frame.Body)
	}
	if frame.Operation != 0 || frame.Flags != 0 {
		r.t.Fatalf("error %s with operation %d flags %d, want 0 (section 3)", code,
			frame.Operation, frame.Flags)
	}
	r.expectClosed()
	return frame
}

// TestConformanceFrameChecksInOrder: section 3, "How the server reads a frame, in this
// order, and the error each failure gets": a frame that breaks two rules gets the error
// of the earlier step, and the header-only checks (steps 2 to 4) need no body bytes.
func TestConformanceFrameChecksInOrder(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	lookup := rawFrame(wire.KindRequest, model.OperationLookupAccounts, 0, 0, 1, 1, 0, 0,
		encodeIDs(1))
	heartbeat := rawFrame(wire.KindHeartbeat, 0, 0, 0, 0, 0, 0, 0, nil)
	badChecksum := func(frame []byte) []byte {
		frame[len(frame)-1] ^= 1
		return frame
	}
	withByte := func(frame []byte, at int, value byte) []byte {
		frame = append([]byte(nil), frame...)
		frame[at] = value
		return reseal(frame)
	}
	cases := []struct {
		name  string
		login bool
		send  []byte
		want  wire.ErrorCode
	}{
		// Step 2: "header bytes 40..43 not zero: reserved_not_zero" (with a valid
		// checksum, so that nothing else is wrong).
		{"reserved bytes 40..43", true, rawFrame(wire.KindRequest,
			model.OperationLookupAccounts, 0, 0, 1, 1, 0, 1<<24, encodeIDs(1)),
			wire.ErrorReservedNotZero},
		// Step 2 before step 3: reserved bytes checked before the body length.
		{"reserved bytes before body length", true, withBodyLength(rawFrame(wire.KindRequest,
			model.OperationLookupAccounts, 0, 0, 1, 1, 0, 1, nil),
			uint32(model.RequestBodyBytesMax)+1), wire.ErrorReservedNotZero},
		// Within step 2: version before kind, kind before reserved bytes.
		{"version before kind", true, withByte(withByte(lookup, 4, 2), 5, 99),
			wire.ErrorBadVersion},
		{"kind before reserved bytes", true, withByte(withByte(lookup, 5, 99), 40, 1),
			wire.ErrorUnknownKind},
		// Step 3: "for a fixed-size kind, any other length is bad_body_length".
		{"heartbeat with a body", true, rawFrame(wire.KindHeartbeat, 0, 0, 0, 0, 0, 0, 0,
			[]byte{0}), wire.ErrorBadBodyLength},
		{"subscribe of 8 bytes", true, rawFrame(wire.KindSubscribe, 0, 0, 0, 1, 0, 0, 0,
			make([]byte, 8)), wire.ErrorBadBodyLength},
		{"login of 47 bytes before login", false, rawFrame(wire.KindLogin, 0, 0, 0, 1, 0, 0,
			0, make([]byte, 47)), wire.ErrorBadBodyLength},
		// Step 3 before step 4: the length bound is checked before the kind's place.
		{"oversized request header before login", false, withBodyLength(lookup,
			uint32(model.RequestBodyBytesMax)+1), wire.ErrorFrameTooLarge},
		// Section 6: "So 8,190 transfers (1,048,320 bytes) are frame_too_large, not
		// too_many_events", decided from the header alone.
		{"8190 transfers, header only", true, withBodyLength(rawFrame(wire.KindRequest,
			model.OperationCreateTransfers, 0, 0, 1, 1, 0, 0, nil), 8190*model.TransferSize),
			wire.ErrorFrameTooLarge},
		// Step 4: "Before login, any kind other than login and heartbeat is
		// unexpected_frame, decided from the header alone" (the body is never sent).
		{"subscribe header before login", false, rawFrame(wire.KindSubscribe, 0, 0, 0, 1, 0,
			0, 0, make([]byte, 16))[:wire.HeaderSize], wire.ErrorUnexpectedFrame},
		// Step 5 before step 6: the checksum before the unused header fields.
		{"checksum before unused fields", true, badChecksum(rawFrame(wire.KindHeartbeat, 0,
			0, 7, 0, 0, 9, 0, nil)), wire.ErrorBadChecksum},
		// Step 5: a heartbeat's checksum is verified too (only unchecked sessions skip it).
		{"heartbeat checksum", true, badChecksum(append([]byte(nil), heartbeat...)),
			wire.ErrorBadChecksum},
		// Section 3's checksum table: "the client's login frame, and any frame before it:
		// always CRC32C, verified (else bad_checksum)".
		{"heartbeat checksum before login", false, badChecksum(append([]byte(nil),
			heartbeat...)), wire.ErrorBadChecksum},
		// Step 3 before step 6: an error frame (a server kind) longer than its 256-byte
		// maximum is frame_too_large before it is unexpected_frame.
		{"error frame above its maximum", true, withBodyLength(rawFrame(wire.KindError, 0, 0,
			0, 0, 0, 0, 0, nil), 257), wire.ErrorFrameTooLarge},
		// Step 6: "a kind the client may not send (challenge, reply, ...) is
		// unexpected_frame".
		{"challenge from a client", true, rawFrame(wire.KindChallenge, 0, 0, 0, 0, 0, 0, 0,
			make([]byte, wire.ChallengeSize)), wire.ErrorUnexpectedFrame},
		{"md_update from a client", true, rawFrame(wire.KindMarketData, 0, 0, 0, 0, 0, 0, 0,
			make([]byte, 128)), wire.ErrorUnexpectedFrame},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := dialRaw(t, h.server.Address())
			if c.login {
				r.login(clientAll, 1, secretOne, 1)
			}
			r.write(c.send)
			r.expectErrorFrame(c.want)
		})
	}
	if submitted := h.backend.Submitted(); submitted != 0 {
		t.Fatalf("%d requests reached the backend from malformed frames", submitted)
	}
}

// TestConformanceTruncatedHeader: section 3 step 1, "the stream ending inside a frame,
// header or body: truncated_frame", before and after login. (A cut body is covered by
// TestBadInputIsolated.)
func TestConformanceTruncatedHeader(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, login := range []bool{false, true} {
		r := dialRaw(t, h.server.Address())
		if login {
			r.login(clientAll, 1, secretOne, 1)
		}
		r.write(requestFrame(1, 1, model.OperationLookupAccounts, encodeIDs(1))[:20])
		_ = r.conn.(interface{ CloseWrite() error }).CloseWrite()
		r.expectErrorFrame(wire.ErrorTruncatedFrame)
	}
}

// TestConformanceServerHeartbeat: section 4, heartbeat: "Each side sends one after
// heartbeat_interval_ms without sending anything"; section 3: the header's session is 0
// in "the server's heartbeats", and a heartbeat has no body and no other field set.
func TestConformanceServerHeartbeat(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.HeartbeatInterval = testHeartbeatInterval
	}})
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 3)
	frame, err := r.nextAny()
	if err != nil {
		t.Fatal(err)
	}
	if frame.Kind != wire.KindHeartbeat || len(frame.Body) != 0 || frame.Session != 0 ||
		frame.Operation != 0 || frame.Flags != 0 || frame.Status != 0 || frame.Number != 0 ||
		frame.Aux != 0 {
		t.Fatalf("idle connection got %+v, want a heartbeat with every field 0", frame)
	}
}

// TestConformanceUncheckedFramesOfEveryKind: section 3, "the client's frames after a
// login with option bit 1 (unchecked): not verified: send 0". Not only requests: a
// heartbeat, a subscribe and a logout with checksum 0 are read as well.
func TestConformanceUncheckedFramesOfEveryKind(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := dialRaw(t, h.server.Address())
	r.write(r.loginFrame(clientAll, 1, secretOne, 1, wire.LoginUncheckedFrames))
	if frame := r.next(); frame.Kind != wire.KindLoginAccepted {
		t.Fatalf("login: %s", frame.Kind)
	}
	zeroChecksum := func(frame []byte) []byte {
		binary.LittleEndian.PutUint32(frame[44:], 0)
		return frame
	}
	r.write(zeroChecksum(rawFrame(wire.KindHeartbeat, 0, 0, 0, 1, 0, 0, 0, nil)))
	r.write(zeroChecksum(rawFrame(wire.KindSubscribe, 0, 0, 0, 1, 0, 0, 0, make([]byte, 16))))
	if frame := r.next(); frame.Kind != wire.KindSubscribed || frame.Status != 0 {
		t.Fatalf("unchecked subscribe: %s status %d", frame.Kind, frame.Status)
	}
	r.write(zeroChecksum(rawFrame(wire.KindLogout, 0, 0, 0, 1, 0, 0, 0, nil)))
	if frame := r.next(); frame.Kind != wire.KindLogout {
		t.Fatalf("unchecked logout: %s", frame.Kind)
	}
	r.expectClosed()
}

// TestConformanceSubscribedLive: section 4, subscribed: "Header status: 0"; body
// oldest_sequence "(0 if none was asked for)" and replayed_through "(0 if none)", for a
// subscription from 0 (live reports only); header aux next_sequence, 1 for a client
// never given a report.
func TestConformanceSubscribedLive(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 4)
	r.write(rawFrame(wire.KindSubscribe, 0, 0, 0, 4, 0, 0, 0, make([]byte, 16)))
	frame := r.next()
	if frame.Kind != wire.KindSubscribed || frame.Status != 0 || frame.Session != 4 ||
		frame.Number != 0 || frame.Aux != 1 || len(frame.Body) != 16 ||
		binary.LittleEndian.Uint64(frame.Body[0:]) != 0 ||
		binary.LittleEndian.Uint64(frame.Body[8:]) != 0 {
		t.Fatalf("subscribed from 0: %+v", frame)
	}
}

// TestConformanceHeartbeatBeforeLogin: section 4, "Before login the server reads only
// login and heartbeat frames": a heartbeat before the login is read, not refused, and
// the login after it is accepted.
func TestConformanceHeartbeatBeforeLogin(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := dialRaw(t, h.server.Address())
	r.write(rawFrame(wire.KindHeartbeat, 0, 0, 0, 0, 0, 0, 0, nil))
	r.login(clientAll, 1, secretOne, 1)
	r.write(requestFrame(1, 1, model.OperationLookupAccounts, encodeIDs(1)))
	if reply := r.next(); reply.Kind != wire.KindReply || reply.Status != 0 {
		t.Fatalf("after a heartbeat before login: %s status %d", reply.Kind, reply.Status)
	}
}

// TestConformanceChallengeAndLoginAccepted checks the two frames that open a session,
// byte by byte: section 3 (header fields a kind does not use are 0; session 0 before
// login), section 4 (challenge: a 32-byte nonce, the timers, 8 reserved zero bytes, by
// default 1000 and 15000 ms, section 14; login_accepted: client id, permission bits,
// options accepted, epoch, 8 reserved zero bytes), and section 5 ("Every permission
// includes read").
func TestConformanceChallengeAndLoginAccepted(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	cases := []struct {
		name        string
		client      uint64
		secret      []byte
		options     uint32
		permissions uint32
	}{
		{"all", clientAll, secretOne, 0, 0b1111},
		{"reader", clientReader, secretReader, 1, 0b0001},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, err := netDial(h.server.Address())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			r := &rawConn{t: t, conn: conn}
			challenge := r.next()
			if challenge.Kind != wire.KindChallenge || challenge.Operation != 0 ||
				challenge.Flags != 0 || challenge.Status != 0 || challenge.Session != 0 ||
				challenge.Number != 0 || challenge.Aux != 0 ||
				len(challenge.Body) != wire.ChallengeSize {
				t.Fatalf("challenge header %+v", challenge)
			}
			body := challenge.Body
			if binary.LittleEndian.Uint32(body[32:]) != 1000 ||
				binary.LittleEndian.Uint32(body[36:]) != 15000 ||
				binary.LittleEndian.Uint64(body[40:]) != 0 {
				t.Fatalf("challenge timers and reserved bytes: % x", body[32:])
			}
			r.challenge.Decode(body)
			const session = 0x1122334455667788
			r.write(r.loginFrame(c.client, 1, c.secret, session, c.options))
			accepted := r.next()
			if accepted.Kind != wire.KindLoginAccepted || accepted.Operation != 0 ||
				accepted.Flags != 0 || accepted.Status != 0 || accepted.Session != session ||
				accepted.Number != 0 || accepted.Aux != 0 ||
				len(accepted.Body) != wire.LoginAcceptedSize {
				t.Fatalf("login_accepted header %+v", accepted)
			}
			body = accepted.Body
			if got := binary.LittleEndian.Uint64(body[0:]); got != c.client {
				t.Fatalf("client_id %d, want %d", got, c.client)
			}
			if got := binary.LittleEndian.Uint32(body[8:]); got != c.permissions {
				t.Fatalf("permissions %04b, want %04b", got, c.permissions)
			}
			if got := binary.LittleEndian.Uint32(body[12:]); got != c.options {
				t.Fatalf("options accepted %d, want %d", got, c.options)
			}
			// This harness has no replication: "epoch ... (0 if unknown)".
			if epoch, reserved := binary.LittleEndian.Uint64(body[16:]),
				binary.LittleEndian.Uint64(body[24:]); epoch != 0 || reserved != 0 {
				t.Fatalf("epoch %d reserved %d, want 0 and 0", epoch, reserved)
			}
		})
	}
}

// TestConformanceLoginAcceptedReadBit: section 4, login_accepted "permissions: bit 0
// read, ...", and section 5, "Every permission includes read". A client with the trade
// permission alone may read (the server lets it), so a client author expects bit 0 set
// in its login_accepted.
func TestConformanceLoginAcceptedReadBit(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := dialRaw(t, h.server.Address())
	r.write(r.loginFrame(clientTrader, 1, secretTrader, 1, 0))
	accepted := r.next()
	if accepted.Kind != wire.KindLoginAccepted {
		t.Fatalf("login: %s", accepted.Kind)
	}
	r.write(requestFrame(1, 1, model.OperationLookupAccounts, encodeIDs(1)))
	if reply := r.next(); model.Status(reply.Status) != model.StatusOK {
		t.Fatalf("a trader's read: %s", model.Status(reply.Status))
	}
	if permissions := binary.LittleEndian.Uint32(accepted.Body[8:]); permissions != 0b0101 {
		t.Fatalf("trader's login_accepted permissions %04b, want %04b", permissions, 0b0101)
	}
}

// TestConformanceLoginCheckOrder: section 5, "The server checks, in order: 1. that this
// is the connection's first login ...; 3. that the session is not 0 and no undefined
// option bit is set ...; 4. that the client and key id exist ...; 5. that the signature
// verifies". A login that fails two checks gets the earlier one's error; login errors
// carry number 0 and aux 0.
func TestConformanceLoginCheckOrder(t *testing.T) {
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
		{"session 0 before unknown client", 99, 1, secretOne, 0, 0, wire.ErrorLoginBadOptions},
		{"undefined option before bad signature", clientAll, 1, secretTwo, 1, 1 << 2,
			wire.ErrorLoginBadOptions},
		{"unknown key before bad signature", clientAll, 9, secretTwo, 1, 0,
			wire.ErrorLoginUnknownKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := dialRaw(t, h.server.Address())
			r.write(r.loginFrame(c.client, c.key, c.secret, c.session, c.options))
			if frame := r.expectErrorFrame(c.want); frame.Number != 0 {
				t.Fatalf("login error with number %d, want 0", frame.Number)
			}
		})
	}
	t.Run("second login before its options", func(t *testing.T) {
		r := dialRaw(t, h.server.Address())
		r.login(clientAll, 1, secretOne, 1)
		r.write(r.loginFrame(clientAll, 1, secretOne, 0, 1<<5)) // Step 3 fails too.
		r.expectErrorFrame(wire.ErrorLoginNonceUsed)
	})
}

// TestConformanceLogout: section 4, logout: "the server answers with a logout frame and
// closes the connection". The answer is an empty frame whose unused header fields are 0.
func TestConformanceLogout(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 5)
	r.write(rawFrame(wire.KindLogout, 0, 0, 0, 5, 0, 0, 0, nil))
	frame := r.next()
	if frame.Kind != wire.KindLogout || len(frame.Body) != 0 || frame.Status != 0 ||
		frame.Number != 0 || frame.Aux != 0 || frame.Operation != 0 || frame.Flags != 0 {
		t.Fatalf("answer to a logout: %+v", frame)
	}
	r.expectClosed()
}

// newOneRequestPerSecondHarness starts a server with admission controls whose first test
// client may send one request per second, with a burst of one second: the rate check
// then answers its second request at once.
func newOneRequestPerSecondHarness(t *testing.T) *harness {
	t.Helper()
	file := testKeysFile()
	file.Clients[0].Limits.RequestsPerSecond = 1
	keys, err := netio.NewKeyring(file)
	if err != nil {
		t.Fatal(err)
	}
	return newHarness(t, harnessOptions{keys: keys, config: func(c *netio.Config) {
		c.Admission = netio.NewControls(netio.ControlsConfig{})
	}})
}

// TestConformanceRefusalPrecedence: section 6, "The checks run in this order:
// permission, flags, shape (invalid_body, empty_request, too_many_events), rate, then
// the shard's own", and "Refused at once (reply with that status and an empty body; the
// connection stays)", "Refusals carry aux = 0"; section 12, request level, the same
// order. Each case breaks two rules; the earlier one answers, on the same connection.
func TestConformanceRefusalPrecedence(t *testing.T) {
	h := newOneRequestPerSecondHarness(t)
	reader := dialRaw(t, h.server.Address())
	reader.login(clientReader, 1, secretReader, 1)
	all := dialRaw(t, h.server.Address())
	all.login(clientAll, 1, secretOne, 1)
	tooManyIDs := make([]byte, (model.EventsPerRequestMax+1)*model.IDSize)
	cases := []struct {
		name      string
		r         *rawConn
		operation model.Operation
		flags     uint8
		body      []byte
		want      model.Status
	}{
		{"permission before flags and shape", reader, model.OperationCreateAccounts, 1 << 4,
			make([]byte, 100), model.StatusPermissionDenied},
		{"flags before empty_request", all, model.OperationLookupAccounts, 1 << 4, nil,
			model.StatusInvalidBody},
		{"balances flag before too_many_events", all, model.OperationLookupAccounts, 1,
			tooManyIDs, model.StatusInvalidBody},
		{"a body for get_shard_map, which has no events", all, model.OperationGetShardMap, 0,
			make([]byte, 16), model.StatusInvalidBody},
		{"empty query", all, model.OperationGetAccountTransfers, 0, nil,
			model.StatusEmptyRequest},
		// The client's one request token is still unspent here: refusals above cost none.
		{"shape before rate", all, model.OperationLookupAccounts, 0, tooManyIDs,
			model.StatusTooManyEvents},
		{"within the rate", all, model.OperationLookupAccounts, 0, encodeIDs(1),
			model.StatusOK},
		{"rate", all, model.OperationLookupAccounts, 0, encodeIDs(1),
			model.StatusRateLimited},
		{"shape before rate, once the rate is spent", all, model.OperationLookupAccounts, 0,
			make([]byte, 17), model.StatusInvalidBody},
	}
	number := uint64(0)
	for _, c := range cases {
		number++
		c.r.write(rawFrame(wire.KindRequest, c.operation, c.flags, 0, 1, number, 0, 0, c.body))
		reply := c.r.next()
		if reply.Kind != wire.KindReply || model.Status(reply.Status) != c.want {
			t.Fatalf("%s: %s %s %q, want %s", c.name, reply.Kind, model.Status(reply.Status),
				reply.Body, c.want)
		}
		if reply.Number != number || reply.Operation != c.operation || reply.Session != 1 {
			t.Fatalf("%s: reply number %d operation %d session %d, want %d %d 1", c.name,
				reply.Number, reply.Operation, reply.Session, number, c.operation)
		}
		if c.want != model.StatusOK && (reply.Aux != 0 || reply.Flags != 0 ||
			len(reply.Body) != 0) {
			t.Fatalf("%s: refusal with aux %d flags %d body %d bytes, want 0, 0, empty",
				c.name, reply.Aux, reply.Flags, len(reply.Body))
		}
	}
}

// TestConformanceErrorFrameNumber: section 4, error: "number = the request that caused
// it or 0". A heartbeat is not a request: the error that refuses one (its number field
// is not zero, section 3) names no request.
func TestConformanceErrorFrameNumber(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	r.write(rawFrame(wire.KindHeartbeat, 0, 0, 0, 0, 3, 0, 0, nil))
	if frame := r.expectErrorFrame(wire.ErrorReservedNotZero); frame.Number != 0 {
		t.Fatalf("error refusing a heartbeat names request %d, want 0", frame.Number)
	}
}

// TestConformanceErrorFrameSession: section 3, header field session: "the session id (0
// before login; the server's heartbeats carry 0)". An error frame that ends a logged-in
// connection carries its session, whichever way the server closes it.
func TestConformanceErrorFrameSession(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	const session = 9
	// Closed by the connection's own loop, answering what it read.
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, session)
	r.write(rawFrame(wire.KindHeartbeat, 0, 0, 0, 0, 0, 1, 0, nil))
	if frame := r.expectErrorFrame(wire.ErrorReservedNotZero); frame.Session != session {
		t.Fatalf("reserved_not_zero carries session %d, want %d", frame.Session, session)
	}
	// Closed from elsewhere: another connection takes the session over.
	first := dialRaw(t, h.server.Address())
	first.login(clientAll, 1, secretOne, session)
	second := dialRaw(t, h.server.Address())
	second.login(clientAll, 1, secretOne, session)
	if frame := first.expectErrorFrame(wire.ErrorSessionTakenOver); frame.Session != session {
		t.Fatalf("session_taken_over carries session %d, want %d", frame.Session, session)
	}
}

// roundTrip sends one request on session 1 and returns its reply, checking the fields
// section 4 gives every reply (number, operation and session echoed).
func (r *rawConn) roundTrip(number uint64, operation model.Operation, flags uint8,
	body []byte) wire.Frame {
	r.t.Helper()
	r.write(rawFrame(wire.KindRequest, operation, flags, 0, 1, number, 0, 0, body))
	reply := r.next()
	if reply.Kind != wire.KindReply || reply.Number != number ||
		reply.Operation != operation || reply.Session != 1 {
		r.t.Fatalf("request %d: got %s number %d operation %d session %d (%s)", number,
			reply.Kind, reply.Number, reply.Operation, reply.Session,
			model.Status(reply.Status))
	}
	return reply
}

// TestConformanceExactlyOnce checks section 7 against the state machine, over the wire:
// the first answer of a write (aux = its log op), a duplicate (flag 1, the original's aux
// and body, on another connection of the session too), a reused number (213, empty body,
// aux 0), reads (aux 0, executed again, never duplicates), numbers out of order within
// the window, the window's edge (request_too_old at 256 below the highest), and a
// request refused at once, which is not recorded.
func TestConformanceExactlyOnce(t *testing.T) {
	h := newDurableHarness(t, shard.Config{})
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	accounts := func(ids ...uint64) []byte {
		list := make([]model.Account, len(ids))
		for i, id := range ids {
			list[i] = account(id)
			list[i].Flags = model.AccountDebitsMustNotExceedCredits
		}
		return encodeAccounts(list...)
	}
	expect := func(what string, reply wire.Frame, status model.Status, duplicate bool) {
		t.Helper()
		if model.Status(reply.Status) != status || (reply.Flags == wire.ReplyFlagDuplicate) != duplicate ||
			reply.Flags&^wire.ReplyFlagDuplicate != 0 {
			t.Fatalf("%s: status %s flags %d, want %s duplicate %v", what,
				model.Status(reply.Status), reply.Flags, status, duplicate)
		}
	}

	// Section 3, aux: "reply: log position (op) of a write whose request status is ok".
	first := r.roundTrip(1, model.OperationCreateAccounts, 0, accounts(1, 2))
	expect("first write", first, model.StatusOK, false)
	if first.Aux == 0 || len(first.Body) != 2*model.EventResultSize {
		t.Fatalf("first write: aux %d, %d body bytes", first.Aux, len(first.Body))
	}
	// Section 7: "n already applied, with the same operation, flags and body: not applied
	// again; it is answered from the cache with reply flag duplicate and the original's
	// aux, whatever the connection."
	again := r.roundTrip(1, model.OperationCreateAccounts, 0, accounts(1, 2))
	expect("resend", again, model.StatusOK, true)
	if again.Aux != first.Aux || string(again.Body) != string(first.Body) {
		t.Fatalf("resend: aux %d body % x, want the original's %d % x", again.Aux,
			again.Body, first.Aux, first.Body)
	}
	// "0 for reads": a read's reply carries no op, and "a resent read is executed again".
	read := r.roundTrip(2, model.OperationLookupAccounts, 0, encodeIDs(1, 2))
	expect("read", read, model.StatusOK, false)
	if read.Aux != 0 || len(read.Body) != 2*model.AccountSize {
		t.Fatalf("read: aux %d, %d body bytes", read.Aux, len(read.Body))
	}
	reread := r.roundTrip(2, model.OperationLookupAccounts, 0, encodeIDs(1))
	expect("read again under its number", reread, model.StatusOK, false)
	if len(reread.Body) != model.AccountSize {
		t.Fatalf("read again: %d body bytes, want one account", len(reread.Body))
	}
	// "n already applied, but with another operation, other flags or another body:
	// request_number_reused (213), nothing applied, empty body, aux 0."
	reused := []struct {
		name      string
		operation model.Operation
		flags     uint8
		body      []byte
	}{
		{"another body", model.OperationCreateAccounts, 0, accounts(1, 3)},
		{"another operation", model.OperationCreateTransfers, 0,
			encodeTransfers(transfer(1, 1, 2, 1))},
		{"other flags", model.OperationCreateTransfers, 1, encodeTransfers(transfer(1, 1, 2, 1))},
	}
	transferNumber := uint64(3)
	if reply := r.roundTrip(transferNumber, model.OperationCreateTransfers, 0,
		encodeTransfers(transfer(1, 1, 2, 1))); model.Status(reply.Status) != model.StatusOK {
		t.Fatalf("a transfer: %s", model.Status(reply.Status))
	}
	for _, c := range reused {
		number := uint64(1)
		if c.operation == model.OperationCreateTransfers && c.flags != 0 {
			number = transferNumber
		}
		reply := r.roundTrip(number, c.operation, c.flags, c.body)
		expect("reused number, "+c.name, reply, model.StatusRequestNumberReused, false)
		if reply.Aux != 0 || len(reply.Body) != 0 {
			t.Fatalf("reused number, %s: aux %d, %d body bytes", c.name, reply.Aux,
				len(reply.Body))
		}
	}
	if found := r.roundTrip(4, model.OperationLookupAccounts, 0, encodeIDs(3)); len(found.Body) != 0 {
		t.Fatal("a request_number_reused body was applied: account 3 exists")
	}

	// "n within the window ... and not applied yet ...: applied now, once. So requests
	// may be applied out of numeric order."
	expect("number 10", r.roundTrip(10, model.OperationCreateAccounts, 0, accounts(10)),
		model.StatusOK, false)
	expect("number 7 after 10", r.roundTrip(7, model.OperationCreateAccounts, 0, accounts(7)),
		model.StatusOK, false)
	expect("number 7 again", r.roundTrip(7, model.OperationCreateAccounts, 0, accounts(7)),
		model.StatusOK, true)

	// "n 256 or more below the highest: request_too_old (208), aux 0"; 255 below and
	// never applied is within the window.
	const highest = 300
	expect("number 300", r.roundTrip(highest, model.OperationCreateAccounts, 0,
		accounts(highest)), model.StatusOK, false)
	old := r.roundTrip(highest-256, model.OperationCreateAccounts, 0, accounts(44))
	expect("256 below the highest", old, model.StatusRequestTooOld, false)
	if old.Aux != 0 || len(old.Body) != 0 {
		t.Fatalf("request_too_old: aux %d, %d body bytes", old.Aux, len(old.Body))
	}
	expect("255 below the highest", r.roundTrip(highest-255, model.OperationCreateAccounts,
		0, accounts(45)), model.StatusOK, false)

	// Section 12, request level: request_too_old comes before request_number_reused (a
	// number below the window with another body is too old, not reused).
	expect("256 below with another body", r.roundTrip(highest-256,
		model.OperationCreateAccounts, 0, accounts(46)), model.StatusRequestTooOld, false)
	// Section 7: "Reads ... are not logged and not recorded: their numbers do not count
	// as applied". A read far above the highest moves no window, and a write may take
	// a number a read used.
	expect("read at 5000", r.roundTrip(5000, model.OperationLookupAccounts, 0,
		encodeIDs(1)), model.StatusOK, false)
	expect("write at 301 after the read at 5000", r.roundTrip(highest+1,
		model.OperationCreateAccounts, 0, accounts(301)), model.StatusOK, false)
	expect("write at 5000, a read's number", r.roundTrip(5000, model.OperationCreateAccounts,
		0, accounts(5000)), model.StatusOK, false)
	// Section 3, aux: "0 for reads and for every other status": a query whose filter is
	// refused (section 6: "a query whose filter is rejected answers with a ledger status
	// such as account_not_found (67)").
	filter := model.AccountFilter{AccountID: model.U128(999), Limit: 10,
		Flags: model.FilterDebits}
	filterBody := make([]byte, model.AccountFilterSize)
	filter.Encode(filterBody)
	refused := r.roundTrip(5001, model.OperationGetAccountTransfers, 0, filterBody)
	expect("query of a missing account", refused, model.StatusAccountNotFound, false)
	if refused.Aux != 0 || len(refused.Body) != 0 {
		t.Fatalf("refused query: aux %d, %d body bytes", refused.Aux, len(refused.Body))
	}
	// Section 18: "get_shard_map (operation 7) has an empty request body and answers one
	// record" on a one-shard server too; its checksum is CRC32C of the record with the
	// checksum field zero.
	shardMap := r.roundTrip(5002, model.OperationGetShardMap, 0, nil)
	expect("get_shard_map", shardMap, model.StatusOK, false)
	if record := shardMap.Body; len(record) < 40 || string(record[:8]) != "SQSHMAP1" ||
		binary.LittleEndian.Uint32(record[8:]) != 1 ||
		binary.LittleEndian.Uint16(record[16:]) != 1 || shardMap.Aux != 0 {
		t.Fatalf("shard map record % x (aux %d)", shardMap.Body, shardMap.Aux)
	} else {
		stored := binary.LittleEndian.Uint32(record[12:])
		zeroed := append([]byte(nil), record...)
		binary.LittleEndian.PutUint32(zeroed[12:], 0)
		if sum := crc32.Checksum(zeroed, conformanceCastagnoli); sum != stored {
			t.Fatalf("shard map checksum %#x, computed %#x", stored, sum)
		}
	}

	// Section 7: "A refused-at-once request is not recorded either": its number stays
	// free for the request sent right.
	expect("refused at once", r.roundTrip(5003, model.OperationCreateAccounts, 0,
		make([]byte, 100)), model.StatusInvalidBody, false)
	latest := r.roundTrip(5003, model.OperationCreateAccounts, 0, accounts(5003))
	expect("the same number, sent right", latest, model.StatusOK, false)

	// "whatever the connection": the session resumed on a new connection gets the cached
	// reply of number 5003 (number 1 is now 256 or more below the highest).
	resumed := dialRaw(t, h.server.Address())
	resumed.login(clientAll, 1, secretOne, 1)
	r.expectErrorFrame(wire.ErrorSessionTakenOver)
	fromCache := resumed.roundTrip(5003, model.OperationCreateAccounts, 0, accounts(5003))
	expect("resend on a new connection", fromCache, model.StatusOK, true)
	if fromCache.Aux != latest.Aux || string(fromCache.Body) != string(latest.Body) {
		t.Fatalf("resend on a new connection: aux %d, want %d", fromCache.Aux, latest.Aux)
	}
	tooOld := resumed.roundTrip(1, model.OperationCreateAccounts, 0, accounts(1, 2))
	expect("number 1, now far below the highest", tooOld, model.StatusRequestTooOld, false)
}

// TestConformanceLargestRequestAndReply: section 14, "request body 1,048,192 bytes" and
// "reply body 1,179,216 bytes (8189 results with balances)": a request of exactly the
// largest body (8189 transfers) passes the frame checks, and with flag 1 its reply is
// exactly the largest reply body, one 144-byte result per event.
func TestConformanceLargestRequestAndReply(t *testing.T) {
	h := newDurableHarness(t, shard.Config{})
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	transfers := make([]model.Transfer, model.EventsPerRequestMax)
	for i := range transfers {
		transfers[i] = transfer(uint64(i+1), 1, 2, 1) // Accounts 1 and 2 do not exist.
	}
	body := encodeTransfers(transfers...)
	if len(body) != 1_048_192 {
		t.Fatalf("%d body bytes", len(body))
	}
	reply := r.roundTrip(1, model.OperationCreateTransfers, 1, body)
	if model.Status(reply.Status) != model.StatusOK || len(reply.Body) != 1_179_216 {
		t.Fatalf("largest request: %s, %d reply body bytes, want ok and 1179216",
			model.Status(reply.Status), len(reply.Body))
	}
}

// TestConformanceReplyCacheTwoMebibytes: section 7, the server keeps "the newest [replies],
// up to 256 replies and 2 MiB of reply bodies per session, evicting the one applied
// first; a server never keeps less than 2 MiB, so clients may count on it", and "n
// already applied but its reply no longer cached (evicted by the 2 MiB bound) ...:
// request_too_old (208)". One reply of 1,179,216 bytes and seven of 131,024 make
// 2,096,384 bytes, within 2 MiB (2,097,152): the first is still answered from the
// cache. An eighth passes the bound and evicts it.
func TestConformanceReplyCacheTwoMebibytes(t *testing.T) {
	h := newDurableHarness(t, shard.Config{})
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	nextID := uint64(1)
	batch := func() []byte {
		transfers := make([]model.Transfer, model.EventsPerRequestMax)
		for i := range transfers {
			transfers[i] = transfer(nextID, 1, 2, 1) // Fails per event: no such accounts.
			nextID++
		}
		return encodeTransfers(transfers...)
	}
	bigBody := batch()
	big := r.roundTrip(1, model.OperationCreateTransfers, 1, bigBody)
	if model.Status(big.Status) != model.StatusOK || len(big.Body) != 1_179_216 {
		t.Fatalf("big write: %s, %d body bytes", model.Status(big.Status), len(big.Body))
	}
	cached := len(big.Body)
	for number := uint64(2); number <= 8; number++ {
		small := r.roundTrip(number, model.OperationCreateTransfers, 0, batch())
		if model.Status(small.Status) != model.StatusOK || len(small.Body) != 131_024 {
			t.Fatalf("small write %d: %s, %d body bytes", number,
				model.Status(small.Status), len(small.Body))
		}
		cached += len(small.Body)
	}
	if cached != 2_096_384 || cached > 2<<20 {
		t.Fatalf("%d reply bytes cached", cached)
	}
	again := r.roundTrip(1, model.OperationCreateTransfers, 1, bigBody)
	if again.Flags != wire.ReplyFlagDuplicate || model.Status(again.Status) != model.StatusOK ||
		string(again.Body) != string(big.Body) || again.Aux != big.Aux {
		t.Fatalf("big write resent within 2 MiB of replies: %s flags %d, %d body bytes",
			model.Status(again.Status), again.Flags, len(again.Body))
	}
	if ninth := r.roundTrip(9, model.OperationCreateTransfers, 0, batch()); model.Status(ninth.Status) != model.StatusOK {
		t.Fatalf("ninth write: %s", model.Status(ninth.Status))
	}
	evicted := r.roundTrip(1, model.OperationCreateTransfers, 1, bigBody)
	if model.Status(evicted.Status) != model.StatusRequestTooOld || evicted.Aux != 0 ||
		len(evicted.Body) != 0 {
		t.Fatalf("big write resent past 2 MiB of replies: %s aux %d, %d body bytes",
			model.Status(evicted.Status), evicted.Aux, len(evicted.Body))
	}
}

// TestConformanceSubscribeRateLimited: section 4, subscribed: "Header status: 0, 200
// (busy ...), or 202 (rate_limited: the client's request rate is spent, a subscribe
// counting as one request; subscribe again later). Refused, nothing was subscribed and
// the body is zero." The connection stays.
func TestConformanceSubscribeRateLimited(t *testing.T) {
	h := newOneRequestPerSecondHarness(t)
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	r.write(requestFrame(1, 1, model.OperationLookupAccounts, encodeIDs(1))) // The token.
	if reply := r.next(); model.Status(reply.Status) != model.StatusOK {
		t.Fatalf("first request: %s", model.Status(reply.Status))
	}
	r.write(rawFrame(wire.KindSubscribe, 0, 0, 0, 1, 0, 0, 0, make([]byte, 16)))
	frame := r.next()
	if frame.Kind != wire.KindSubscribed || model.Status(frame.Status) != model.StatusRateLimited ||
		string(frame.Body) != string(make([]byte, 16)) {
		t.Fatalf("subscribe past the rate: %s status %d body % x", frame.Kind, frame.Status,
			frame.Body)
	}
	r.write(requestFrame(1, 2, model.OperationLookupAccounts, encodeIDs(1)))
	if reply := r.next(); reply.Kind != wire.KindReply || reply.Number != 2 {
		t.Fatalf("after a refused subscribe: %s", reply.Kind)
	}
}

// TestConformanceFramesPipelinedAfterLogin: section 17's state table, "logging in":
// frames sent right behind the login are read after it and served once it is accepted
// (never applied if it fails: TestLoginFailures).
func TestConformanceFramesPipelinedAfterLogin(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := dialRaw(t, h.server.Address())
	login := r.loginFrame(clientAll, 1, secretOne, 1, 0)
	r.write(append(login, requestFrame(1, 1, model.OperationLookupAccounts, encodeIDs(1))...))
	if frame := r.next(); frame.Kind != wire.KindLoginAccepted {
		t.Fatalf("login: %s", frame.Kind)
	}
	frame := r.next()
	if frame.Kind != wire.KindReply || model.Status(frame.Status) != model.StatusOK || frame.Number != 1 {
		t.Fatalf("a request pipelined behind the login got %s status %d number %d, want reply ok 1",
			frame.Kind, frame.Status, frame.Number)
	}
}

// readRawFrame reads one frame from conn byte by byte as section 3 lays it out, checks
// the magic bytes, the version and the checksum with this file's own CRC-32C, and
// returns the header and the body. It skips heartbeats (kind 5).
func readRawFrame(t *testing.T, conn io.Reader) (header, body []byte) {
	t.Helper()
	for {
		header = make([]byte, wire.HeaderSize)
		if _, err := io.ReadFull(conn, header); err != nil {
			t.Fatalf("header: %v", err)
		}
		if string(header[:4]) != "SQNT" || header[4] != 1 {
			t.Fatalf("header % x: not magic SQNT, version 1", header)
		}
		body = make([]byte, binary.LittleEndian.Uint32(header[8:]))
		if _, err := io.ReadFull(conn, body); err != nil {
			t.Fatalf("body: %v", err)
		}
		sum := crc32.Update(crc32.Update(0, conformanceCastagnoli, header[:44]),
			conformanceCastagnoli, body)
		if stored := binary.LittleEndian.Uint32(header[44:]); stored != sum {
			t.Fatalf("frame kind %d: checksum %#x, computed %#x", header[5], stored, sum)
		}
		if header[5] != 5 {
			return header, body
		}
	}
}

// TestConformanceLoginFromTheDocumentAlone is section 17's minimum client, built from
// the document's offsets only (no package wire on the way out or in): CRC-32C with the
// check value of section 3, the challenge read by offset, the login signed as section 4
// says ("message is 56 bytes: nonce (32) || client_id (u64) || key_id (u32) || options
// (u32) || session (u64)", HMAC-SHA256 with the secret's raw bytes), then one request
// and its reply matched by number.
func TestConformanceLoginFromTheDocumentAlone(t *testing.T) {
	if sum := crc32.Checksum([]byte("123456789"), conformanceCastagnoli); sum != 0xE3069283 {
		t.Fatalf("CRC-32C check value %#x", sum)
	}
	h := newHarness(t, harnessOptions{})
	conn, err := netDial(h.server.Address())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(waitLimit))
	header, body := readRawFrame(t, conn)
	if header[5] != 1 || len(body) != 48 {
		t.Fatalf("first frame: kind %d, %d body bytes, want a challenge of 48", header[5],
			len(body))
	}
	const session, client, key = 0xABCDEF, clientAll, 1
	message := make([]byte, 0, 56)
	message = append(message, body[:32]...)
	message = binary.LittleEndian.AppendUint64(message, client)
	message = binary.LittleEndian.AppendUint32(message, key)
	message = binary.LittleEndian.AppendUint32(message, 0)
	message = binary.LittleEndian.AppendUint64(message, session)
	mac := hmac.New(sha256.New, secretOne)
	mac.Write(message)
	login := make([]byte, 48)
	binary.LittleEndian.PutUint64(login[0:], client)
	binary.LittleEndian.PutUint32(login[8:], key)
	copy(login[16:], mac.Sum(nil))
	if _, err := conn.Write(rawFrame(2, 0, 0, 0, session, 0, 0, 0, login)); err != nil {
		t.Fatal(err)
	}
	header, body = readRawFrame(t, conn)
	if header[5] != 3 || binary.LittleEndian.Uint64(body[0:]) != client {
		t.Fatalf("answer to the login: kind %d status %d body %q", header[5],
			binary.LittleEndian.Uint32(header[12:]), body)
	}
	ids := make([]byte, 16)
	ids[0] = 1
	if _, err := conn.Write(rawFrame(6, 3, 0, 0, session, 1, 0, 0, ids)); err != nil {
		t.Fatal(err)
	}
	header, _ = readRawFrame(t, conn)
	if header[5] != 7 || header[6] != 3 || binary.LittleEndian.Uint32(header[12:]) != 0 ||
		binary.LittleEndian.Uint64(header[16:]) != session ||
		binary.LittleEndian.Uint64(header[24:]) != 1 {
		t.Fatalf("reply header % x", header)
	}
}
