package netio_test

// Conformance tests of session 36: each checks one promise of netio/PROTOCOL.md (quoted
// by section) from the bytes a client sees on a loopback connection, the way a client
// written from the document alone would, for what sessions 34 and 35 changed (login and
// silence timeouts decided on the event loop, damaged frames meaning "reconnect and
// resend", error frames' number and session fields, subscriptions, key revocation) and
// for promises conformance_s34_test.go and the other tests of the package leave
// unchecked. Where the document leaves a client to guess, the test pins what the server
// does, and says so: the audit's report proposes the wording. The audit found one
// disagreement, settled since: TestConformanceReportsOfSeveralShards (execution reports
// of a client trading on two shards).

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/node"
	"sequent/core/shard"
	"sequent/core/shardmap"
	"sequent/netio"
	"sequent/netio/wire"
	"sequent/wal"
)

// Timers of the timeout tests. Only their order matters (the login and silence timeouts
// are many heartbeat intervals long, so that a heartbeat would be due many times over
// before either fires); the waits themselves are bounded by waitLimit, and nothing is
// asserted about how long anything took.
const (
	conformanceHeartbeatInterval = 50 * time.Millisecond
	conformanceTimeout           = 500 * time.Millisecond
)

// roundTripOn sends one request on session and returns its reply, checking the fields
// section 4 gives every reply (number, operation and session echoed).
func (r *rawConn) roundTripOn(session, number uint64, operation model.Operation,
	body []byte) wire.Frame {
	r.t.Helper()
	r.write(rawFrame(wire.KindRequest, operation, 0, 0, session, number, 0, 0, body))
	reply := r.next()
	if reply.Kind != wire.KindReply || reply.Number != number ||
		reply.Operation != operation || reply.Session != session {
		r.t.Fatalf("request %d: got %s number %d operation %d session %d (%s %q)", number,
			reply.Kind, reply.Number, reply.Operation, reply.Session,
			model.Status(reply.Status), reply.Body)
	}
	return reply
}

// expectReply fails the test unless reply has status and the duplicate flag as given.
func expectReply(t *testing.T, what string, reply wire.Frame, status model.Status,
	duplicate bool) {
	t.Helper()
	if model.Status(reply.Status) != status || (reply.Flags == wire.ReplyFlagDuplicate) != duplicate ||
		reply.Flags&^wire.ReplyFlagDuplicate != 0 {
		t.Fatalf("%s: status %s flags %d, want %s duplicate %v", what,
			model.Status(reply.Status), reply.Flags, status, duplicate)
	}
}

// fundedAccounts encodes accounts that any client may create (section 5: an account
// without debits_must_not_exceed_credits needs a grant).
func fundedAccounts(ids ...uint64) []byte {
	list := make([]model.Account, len(ids))
	for i, id := range ids {
		list[i] = account(id)
		list[i].Flags = model.AccountDebitsMustNotExceedCredits
	}
	return encodeAccounts(list...)
}

// TestConformanceLoginTimeout: section 5, "The client must send its login within the
// login timeout (... else error login_timeout ...)"; section 4, error: "number = ... else
// 0, session = the connection's session once logged in, else 0, aux = ... else 0";
// section 17's state table: before the login is accepted only challenge, error and
// login_accepted arrive (heartbeats are sent to logged-in connections: section 4 gives
// the server's heartbeats session 0, "0 before login" being every frame's). And section
// 4, "Before login the server reads only login and heartbeat frames": heartbeats before
// the login are read, but they do not stand for it, so a peer that sends only heartbeats
// is timed out too.
func TestConformanceLoginTimeout(t *testing.T) {
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.HeartbeatInterval = conformanceHeartbeatInterval
		c.LoginTimeout = conformanceTimeout
	}})
	silent := dialRaw(t, h.server.Address())
	frame, err := silent.nextAny() // A heartbeat here is a frame the table does not list.
	if err != nil {
		t.Fatal(err)
	}
	if frame.Kind != wire.KindError || wire.ErrorCode(frame.Status) != wire.ErrorLoginTimeout ||
		frame.Number != 0 || frame.Session != 0 || frame.Aux != 0 {
		t.Fatalf("before any login: %s %s number %d session %d aux %d, want error "+
			"login_timeout with number, session and aux 0", frame.Kind,
			wire.ErrorCode(frame.Status), frame.Number, frame.Session, frame.Aux)
	}
	silent.expectClosed()

	beating := dialRaw(t, h.server.Address())
	stop := make(chan struct{})
	done := make(chan struct{})
	heartbeat := rawFrame(wire.KindHeartbeat, 0, 0, 0, 0, 0, 0, 0, nil)
	go func() {
		defer close(done)
		ticker := time.NewTicker(conformanceHeartbeatInterval)
		defer ticker.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ticker.C:
				if _, err := beating.conn.Write(heartbeat); err != nil {
					return // Closed by the server: what the test waits for.
				}
			}
		}
	}()
	defer func() { close(stop); <-done }()
	if frame := beating.expectErrorFrame(wire.ErrorLoginTimeout); frame.Session != 0 ||
		frame.Number != 0 {
		t.Fatalf("heartbeats without a login: login_timeout with session %d number %d",
			frame.Session, frame.Number)
	}
}

// TestConformanceSilenceTimeoutResumes: section 4, heartbeat: "The server closes a
// connection from which it received nothing for silence_timeout_ms (error
// silence_timeout)"; section 4, error: the frame carries the connection's session, number
// 0 and aux 0; section 13: silence_timeout is "reconnect and resume": on a new connection
// the session's applied request is answered from the cache (section 7, "whatever the
// connection").
func TestConformanceSilenceTimeoutResumes(t *testing.T) {
	h := newDurableHarnessWith(t, shard.Config{}, func(c *netio.Config) {
		c.HeartbeatInterval = conformanceHeartbeatInterval
		c.SilenceTimeout = conformanceTimeout
	})
	const session = 61
	r := dialRaw(t, h.server.Address())
	// The write rides behind the login (section 17: served once the login is accepted),
	// so that the silence starts after it whatever this goroutine's delays; its reply
	// may be lost with the connection if the shard answers after the timeout.
	r.write(append(r.loginFrame(clientAll, 1, secretOne, session, 0),
		rawFrame(wire.KindRequest, model.OperationCreateAccounts, 0, 0, session, 1, 0, 0,
			fundedAccounts(1))...))
	if frame := r.next(); frame.Kind != wire.KindLoginAccepted {
		t.Fatalf("login: %s", frame.Kind)
	}
	var first *wire.Frame
	frame := r.next() // Heartbeats skipped: the server's, while this side stays silent.
	if frame.Kind == wire.KindReply {
		expectReply(t, "first write", frame, model.StatusOK, false)
		reply := frame
		first = &reply
		frame = r.next()
	}
	if frame.Kind != wire.KindError || wire.ErrorCode(frame.Status) != wire.ErrorSilenceTimeout ||
		frame.Session != session || frame.Number != 0 || frame.Aux != 0 {
		t.Fatalf("silent: %s %s session %d number %d aux %d, want error silence_timeout on "+
			"session %d with number and aux 0", frame.Kind, wire.ErrorCode(frame.Status),
			frame.Session, frame.Number, frame.Aux, session)
	}
	r.expectClosed()
	resumed := dialRaw(t, h.server.Address())
	resumed.login(clientAll, 1, secretOne, session)
	again := resumed.roundTripOn(session, 1, model.OperationCreateAccounts, fundedAccounts(1))
	expectReply(t, "resend after the silence timeout", again, model.StatusOK, true)
	if first != nil && (again.Aux != first.Aux || string(again.Body) != string(first.Body)) {
		t.Fatalf("resend: aux %d body % x, want the original's %d % x", again.Aux,
			again.Body, first.Aux, first.Body)
	}
}

// TestConformanceSessionFieldOutsideRequests: section 3, "The session field is checked in
// requests only (another session than the login's is session_mismatch); in every other
// frame a client sends after the login (heartbeat, subscribe, md_subscribe, logout) the
// server ignores it". The answers carry the login's session. Section 4, subscribe:
// bytes 8..15 "reserved (send 0; the server does not check it)".
func TestConformanceSessionFieldOutsideRequests(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	const session, other = 5, 77
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, session)
	r.write(rawFrame(wire.KindHeartbeat, 0, 0, 0, other, 0, 0, 0, nil))
	subscribe := make([]byte, wire.SubscribeSize)
	binary.LittleEndian.PutUint64(subscribe[8:], 0xFFFF_FFFF_FFFF_FFFF)
	r.write(rawFrame(wire.KindSubscribe, 0, 0, 0, other, 0, 0, 0, subscribe))
	if frame := r.next(); frame.Kind != wire.KindSubscribed || frame.Status != 0 ||
		frame.Session != session {
		t.Fatalf("subscribe with another session and reserved bytes set: %s status %d "+
			"session %d, want subscribed 0 on session %d", frame.Kind, frame.Status,
			frame.Session, session)
	}
	r.write(rawFrame(wire.KindLogout, 0, 0, 0, other, 0, 0, 0, nil))
	if frame := r.next(); frame.Kind != wire.KindLogout || frame.Session != session {
		t.Fatalf("logout with another session: %s session %d, want logout on session %d",
			frame.Kind, frame.Session, session)
	}
	r.expectClosed()
}

// TestConformanceRequestErrorFields: section 4, error: "number = the number of the
// request that caused it once its header passed section 3's steps 2 and 3 ..., session =
// the connection's session once logged in". Checked for the error frames a request
// causes after the login that no other test reads the fields of: session_mismatch,
// unknown_operation (undefined and internal operations, also from a client without
// the permission the operation would need: section 6 makes it an error frame, not a
// refusal), key_revoked (section 5, "closed with key_revoked at its next request"), and
// bad_request_number, which the document names in section 13 only: a request numbered 0
// (section 4, request: "number (≥ 1)") gets it, with number 0.
func TestConformanceRequestErrorFields(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	cases := []struct {
		name   string
		client uint64
		secret []byte
		send   []byte
		want   wire.ErrorCode
		number uint64
	}{
		{"another session", clientAll, secretOne, requestFrame(8, 21,
			model.OperationLookupAccounts, encodeIDs(1)), wire.ErrorSessionMismatch, 21},
		{"session 0", clientAll, secretOne, requestFrame(0, 22,
			model.OperationLookupAccounts, encodeIDs(1)), wire.ErrorSessionMismatch, 22},
		{"undefined operation", clientAll, secretOne, requestFrame(7, 23, 19, encodeIDs(1)),
			wire.ErrorUnknownOperation, 23},
		{"internal operation", clientAll, secretOne, requestFrame(7, 24,
			model.OperationCancelSession, make([]byte, 8)), wire.ErrorUnknownOperation, 24},
		{"internal operation from a reader", clientReader, secretReader, requestFrame(7, 25,
			model.OperationSetGrants, nil), wire.ErrorUnknownOperation, 25},
		{"number 0", clientAll, secretOne, requestFrame(7, 0, model.OperationLookupAccounts,
			encodeIDs(1)), wire.ErrorBadRequestNumber, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := dialRaw(t, h.server.Address())
			r.login(c.client, 1, c.secret, 7)
			r.write(c.send)
			if frame := r.expectErrorFrame(c.want); frame.Number != c.number || frame.Session != 7 {
				t.Fatalf("%s: number %d session %d, want %d and 7", c.want, frame.Number,
					frame.Session, c.number)
			}
		})
	}
	t.Run("key revoked", func(t *testing.T) {
		requester := dialRaw(t, h.server.Address())
		requester.login(clientAll, 1, secretOne, 31)
		subscriber := dialRaw(t, h.server.Address())
		subscriber.login(clientAll, 1, secretOne, 32)
		revokeKeyOne(t, h)
		requester.write(requestFrame(31, 26, model.OperationLookupAccounts, encodeIDs(1)))
		if frame := requester.expectErrorFrame(wire.ErrorKeyRevoked); frame.Number != 26 ||
			frame.Session != 31 {
			t.Fatalf("key_revoked at a request: number %d session %d, want 26 and 31",
				frame.Number, frame.Session)
		}
		// A subscribe is not a request: the error names none.
		subscriber.subscribeReports(32, 0)
		if frame := subscriber.expectErrorFrame(wire.ErrorKeyRevoked); frame.Number != 0 ||
			frame.Session != 32 {
			t.Fatalf("key_revoked at a subscribe: number %d session %d, want 0 and 32",
				frame.Number, frame.Session)
		}
	})
	if submitted := h.backend.Submitted(); submitted != 0 {
		t.Fatalf("%d requests reached the backend from refused frames", submitted)
	}
}

// TestConformanceSecondSubscribe: section 8, "A client subscribes with a subscribe frame
// (once per connection: a second one after an accepted subscription is the error
// unexpected_frame, which closes the connection ...)". A subscribe is not a request: the
// error's number is 0 (section 4), its session the login's.
func TestConformanceSecondSubscribe(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 3)
	r.subscribeReports(3, 0)
	if frame := r.next(); frame.Kind != wire.KindSubscribed || frame.Status != 0 {
		t.Fatalf("first subscribe: %s status %d", frame.Kind, frame.Status)
	}
	r.subscribeReports(3, 0)
	if frame := r.expectErrorFrame(wire.ErrorUnexpectedFrame); frame.Number != 0 ||
		frame.Session != 3 {
		t.Fatalf("second subscribe: number %d session %d, want 0 and 3", frame.Number,
			frame.Session)
	}
}

// TestConformanceReportFrames: section 4, report: "Header aux = the report's sequence;
// body = one execution report record"; section 3: operation, flags, status and number 0
// in a report, its session the connection's; section 8: "Reports go to every connection
// of the client that subscribed" (each in its own session), not to the client's
// connections that did not subscribe, nor to another client's. A subscription from
// sequence n replays the retained reports "with sequence ≥ n, then the subscribed frame"
// whose replayed_through is the last one sent.
func TestConformanceReportFrames(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	first := dialRaw(t, h.server.Address())
	first.login(clientAll, 1, secretOne, 11)
	second := dialRaw(t, h.server.Address())
	second.login(clientAll, 2, secretTwo, 12)
	quiet := dialRaw(t, h.server.Address()) // The same client, not subscribed.
	quiet.login(clientAll, 1, secretOne, 13)
	reader := dialRaw(t, h.server.Address()) // Another client, subscribed.
	reader.login(clientReader, 1, secretReader, 11)
	for _, subscriber := range []struct {
		r       *rawConn
		session uint64
	}{{first, 11}, {second, 12}, {reader, 11}} {
		subscriber.r.subscribeReports(subscriber.session, 0)
		if frame := subscriber.r.next(); frame.Kind != wire.KindSubscribed || frame.Status != 0 {
			t.Fatalf("subscribe: %s status %d", frame.Kind, frame.Status)
		}
	}
	body := make([]byte, model.ExecutionReportSize)
	body[0] = 0xA5
	sequences := []uint64{h.backend.Report(clientAll, body), h.backend.Report(clientAll, body)}
	if sequences[0] != 1 || sequences[1] != 2 {
		t.Fatalf("report sequences %v, want [1 2] (section 8: from 1, without gaps)", sequences)
	}
	for session, r := range map[uint64]*rawConn{11: first, 12: second} {
		for _, sequence := range sequences {
			frame := r.next()
			if frame.Kind != wire.KindReport || frame.Aux != sequence || frame.Session != session ||
				frame.Number != 0 || frame.Status != 0 || frame.Operation != 0 ||
				frame.Flags != 0 || string(frame.Body) != string(body) {
				t.Fatalf("session %d, report %d: %s aux %d session %d number %d status %d "+
					"operation %d flags %d, %d body bytes", session, sequence, frame.Kind,
					frame.Aux, frame.Session, frame.Number, frame.Status, frame.Operation,
					frame.Flags, len(frame.Body))
			}
		}
	}
	// Reports were queued to their connections before Report returned: one sent to
	// these would arrive before the reply to a request sent now.
	for session, r := range map[uint64]*rawConn{13: quiet, 11: reader} {
		if reply := r.roundTripOn(session, 1, model.OperationLookupAccounts, encodeIDs(1)); model.Status(reply.Status) != model.StatusOK {
			t.Fatalf("session %d: lookup %s", session, model.Status(reply.Status))
		}
	}
	// A replay from 2: report 2, then subscribed (oldest 1, replayed through 2).
	late := dialRaw(t, h.server.Address())
	late.login(clientAll, 1, secretOne, 14)
	late.subscribeReports(14, 2)
	if frame := late.next(); frame.Kind != wire.KindReport || frame.Aux != 2 || frame.Session != 14 {
		t.Fatalf("replay from 2: %s aux %d session %d, want report 2 on session 14",
			frame.Kind, frame.Aux, frame.Session)
	}
	frame := late.next()
	if frame.Kind != wire.KindSubscribed || frame.Status != 0 || frame.Session != 14 ||
		binary.LittleEndian.Uint64(frame.Body[0:]) != 1 ||
		binary.LittleEndian.Uint64(frame.Body[8:]) != 2 || frame.Aux != 3 {
		t.Fatalf("after the replay: %s status %d session %d aux %d body % x, want subscribed "+
			"(oldest 1, replayed through 2, next_sequence 3 in aux)", frame.Kind,
			frame.Status, frame.Session, frame.Aux, frame.Body)
	}
}

// conformanceLogoutKeepsTheSession: section 4, logout: "The client sends it to end the
// session". The document does not say what a session ended by a logout remembers: the
// server keeps its exactly-once state (section 7's window and cached replies, per
// (client, session), "whatever the connection"), so a client that logs in again with the
// same session id after a logout gets its applied requests answered as duplicates and a
// new request under a used number refused request_number_reused. A client must not
// reuse a session id with numbering restarted from 1 after a logout. Pinned here; the
// audit proposes the sentence for section 4.
func conformanceLogoutKeepsTheSession(t *testing.T, h *durableHarness) {
	const session = 51
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, session)
	first := r.roundTripOn(session, 1, model.OperationCreateAccounts, fundedAccounts(5101))
	expectReply(t, "first write", first, model.StatusOK, false)
	r.write(rawFrame(wire.KindLogout, 0, 0, 0, session, 0, 0, 0, nil))
	if frame := r.next(); frame.Kind != wire.KindLogout {
		t.Fatalf("logout: %s", frame.Kind)
	}
	r.expectClosed()
	again := dialRaw(t, h.server.Address())
	again.login(clientAll, 1, secretOne, session)
	resend := again.roundTripOn(session, 1, model.OperationCreateAccounts, fundedAccounts(5101))
	expectReply(t, "resend after a logout", resend, model.StatusOK, true)
	if resend.Aux != first.Aux {
		t.Fatalf("resend after a logout: aux %d, want the original's %d", resend.Aux, first.Aux)
	}
	fresh := again.roundTripOn(session, 1, model.OperationCreateAccounts, fundedAccounts(5102))
	expectReply(t, "a new request numbered 1 after a logout", fresh,
		model.StatusRequestNumberReused, false)

	// Section 4, logout: "Replies not yet sent are dropped". The requests are not: a
	// write sent right before the logout is applied, its reply lost with the connection,
	// and a resend after the next login is its duplicate. Its outcome is unknown to the
	// client, as after any connection that ended before the reply (section 7).
	pipelined := rawFrame(wire.KindRequest, model.OperationCreateAccounts, 0, 0, session, 2,
		0, 0, fundedAccounts(5103))
	again.write(append(append([]byte(nil), pipelined...),
		rawFrame(wire.KindLogout, 0, 0, 0, session, 0, 0, 0, nil)...))
	for {
		frame := again.next()
		if frame.Kind == wire.KindLogout {
			break
		}
		if frame.Kind != wire.KindReply || frame.Number != 2 {
			t.Fatalf("waiting for the logout: %s number %d", frame.Kind, frame.Number)
		}
	}
	again.expectClosed()
	last := dialRaw(t, h.server.Address())
	last.login(clientAll, 1, secretOne, session)
	resent := last.roundTripOn(session, 2, model.OperationCreateAccounts, fundedAccounts(5103))
	expectReply(t, "a write sent right before a logout, resent", resent, model.StatusOK, true)
}

// conformanceSessionsAreSeparate: section 7, "The server remembers, per (client,
// session), the highest number applied ...": the same number and body in another session
// of the same client, or in the same session id of another client, is a new request,
// applied (no duplicate flag, its own log op), not answered from the first's cache.
func conformanceSessionsAreSeparate(t *testing.T, h *durableHarness) {
	transfers := encodeTransfers(transfer(6101, 6101, 6102, 1)) // Refused per event: no accounts.
	first := dialRaw(t, h.server.Address())
	first.login(clientAll, 1, secretOne, 61)
	applied := first.roundTripOn(61, 1, model.OperationCreateTransfers, transfers)
	expectReply(t, "session 61, number 1", applied, model.StatusOK, false)
	second := dialRaw(t, h.server.Address())
	second.login(clientAll, 1, secretOne, 62)
	other := second.roundTripOn(62, 1, model.OperationCreateTransfers, transfers)
	expectReply(t, "session 62, number 1, the same body", other, model.StatusOK, false)
	if other.Aux == applied.Aux {
		t.Fatalf("session 62's request answered with session 61's log op %d", applied.Aux)
	}
	// The trader may only trade: its request under the same session id and number is
	// another operation, which a session shared across clients would answer
	// request_number_reused.
	trader := dialRaw(t, h.server.Address())
	trader.login(clientTrader, 1, secretTrader, 61)
	cancel := trader.roundTripOn(61, 1, model.OperationCancelOrders, make([]byte, 32))
	expectReply(t, "another client, session 61, number 1", cancel, model.StatusOK, false)
}

// conformanceCopiesPipelined: section 7, "n already applied, with the same operation,
// flags and body: not applied again; it is answered from the cache with reply flag
// duplicate and the original's aux". Two copies of one write sent back to back on one
// connection, before the first is answered (a client that resends too eagerly), are two
// requests: the second is answered as a duplicate of the first, which is applied once.
// A copy under the same number with another body is request_number_reused.
func conformanceCopiesPipelined(t *testing.T, h *durableHarness) {
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 81)
	write := rawFrame(wire.KindRequest, model.OperationCreateAccounts, 0, 0, 81, 1, 0, 0,
		fundedAccounts(8101))
	other := rawFrame(wire.KindRequest, model.OperationCreateAccounts, 0, 0, 81, 1, 0, 0,
		fundedAccounts(8102))
	r.write(append(append(append([]byte(nil), write...), write...), other...))
	replies := []wire.Frame{r.next(), r.next(), r.next()}
	expectReply(t, "the first copy", replies[0], model.StatusOK, false)
	expectReply(t, "the second copy", replies[1], model.StatusOK, true)
	if replies[1].Aux != replies[0].Aux || string(replies[1].Body) != string(replies[0].Body) {
		t.Fatalf("the second copy: aux %d body % x, want the first's %d % x", replies[1].Aux,
			replies[1].Body, replies[0].Aux, replies[0].Body)
	}
	expectReply(t, "another body under the same number", replies[2],
		model.StatusRequestNumberReused, false)
	found := r.roundTripOn(81, 2, model.OperationLookupAccounts, encodeIDs(8102))
	if len(found.Body) != 0 {
		t.Fatal("the body refused request_number_reused was applied: account 8102 exists")
	}
}

// conformanceDamageThenResend: section 9, bad_checksum: "treat the error as damage to
// the connection — reconnect with the same session and resend every request still
// unanswered under its number (section 7 answers a copy already applied with its first
// reply)"; section 4, error: for bad_checksum "the number is as read from a frame whose
// checksum failed"; section 9, "the server closes the connection right after it". A
// request sent behind the damaged frame is not applied (the connection ended at the
// damage): resent, it is applied now, as new. One sent before it may have been applied:
// resent, it is applied once either way.
func conformanceDamageThenResend(t *testing.T, h *durableHarness) {
	const session = 71
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, session)
	frames := make([][]byte, 4)
	for number := uint64(1); number <= 3; number++ {
		frames[number] = rawFrame(wire.KindRequest, model.OperationCreateAccounts, 0, 0,
			session, number, 0, 0, fundedAccounts(7100+number))
	}
	damaged := append([]byte(nil), frames[2]...)
	damaged[wire.HeaderSize+20] ^= 0x40 // A body byte: the header is intact.
	r.write(append(append(append([]byte(nil), frames[1]...), damaged...), frames[3]...))
	var failure wire.Frame
	for {
		frame := r.next()
		if frame.Kind == wire.KindReply { // Request 1's reply may come first, or be lost.
			continue
		}
		failure = frame
		break
	}
	if failure.Kind != wire.KindError || wire.ErrorCode(failure.Status) != wire.ErrorBadChecksum ||
		failure.Number != 2 || failure.Session != session {
		t.Fatalf("damaged request 2: %s %s number %d session %d, want error bad_checksum "+
			"naming 2 on session %d", failure.Kind, wire.ErrorCode(failure.Status),
			failure.Number, failure.Session, session)
	}
	r.expectClosed()
	resumed := dialRaw(t, h.server.Address())
	resumed.login(clientAll, 1, secretOne, session)
	resent := resumed.roundTripOn(session, 1, model.OperationCreateAccounts, fundedAccounts(7101))
	if model.Status(resent.Status) != model.StatusOK {
		t.Fatalf("request 1 resent: %s", model.Status(resent.Status))
	}
	for number := uint64(2); number <= 3; number++ {
		reply := resumed.roundTripOn(session, number, model.OperationCreateAccounts,
			fundedAccounts(7100+number))
		expectReply(t, "a request at or behind the damage, resent", reply, model.StatusOK, false)
		var result model.EventResult
		result.Decode(reply.Body)
		if result.Status != model.StatusOK {
			t.Fatalf("request %d resent: its account %s (applied before?)", number,
				result.Status)
		}
	}
}

// TestConformanceTooManyConnectionsWithoutLogin: section 5, "Connections without a login
// per remote address ... Beyond the limit a new connection gets too_many_attempts (with
// its wait in aux) instead of a challenge"; section 4, error: aux "at most 60,000",
// number and session 0 (before any login); section 17's state table lists it among the
// errors that may arrive in place of the challenge.
func TestConformanceTooManyConnectionsWithoutLogin(t *testing.T) {
	const limit = 2
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) {
		c.Admission = netio.NewControls(netio.ControlsConfig{LoginAttemptsPerMinute: limit})
	}})
	for range limit {
		dialRaw(t, h.server.Address()) // Each reads its challenge and never logs in.
	}
	conn, err := netDial(h.server.Address())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r := &rawConn{t: t, conn: conn}
	frame := r.expectErrorFrame(wire.ErrorTooManyAttempts)
	if frame.Aux == 0 || frame.Aux > 60_000 || frame.Number != 0 || frame.Session != 0 {
		t.Fatalf("too_many_attempts: aux %d number %d session %d, want 1..60000, 0, 0",
			frame.Aux, frame.Number, frame.Session)
	}
}

// TestConformancePublicKeyLogin: section 15, "Such a key signs requests of the JSON HTTP
// API only ...; a binary login with its key id is refused (login_failed), as for an
// unknown key". Section 13 has no code login_failed: the server answers
// login_unknown_key (1013), which "as for an unknown key" means. Pinned; the audit
// proposes the wording.
func TestConformancePublicKeyLogin(t *testing.T) {
	private, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&private.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	file := testKeysFile()
	file.Clients[1].Keys = append(file.Clients[1].Keys,
		netio.KeysFileKey{ID: 9, PublicKey: base64.StdEncoding.EncodeToString(der)})
	keys, err := netio.NewKeyring(file)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOptions{keys: keys})
	r := dialRaw(t, h.server.Address())
	r.write(r.loginFrame(clientReader, 9, secretReader, 1, 0))
	r.expectErrorFrame(wire.ErrorLoginUnknownKey)
}

// conformanceReadBelowTheWindow: section 7, "Reads (lookups, queries) are not logged
// and not recorded: their numbers do not count as applied, and a resent read is executed
// again"; the window's rules are stated "for a write with number n". A read numbered 256
// or more below the session's highest applied write is executed, not refused
// request_too_old.
func conformanceReadBelowTheWindow(t *testing.T, h *durableHarness) {
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 91)
	const highest = 1000
	expectReply(t, "a write far ahead", r.roundTripOn(91, highest, model.OperationCreateAccounts,
		fundedAccounts(9101)), model.StatusOK, false)
	read := r.roundTripOn(91, 1, model.OperationLookupAccounts, encodeIDs(9101))
	expectReply(t, "a read 999 below the highest write", read, model.StatusOK, false)
	if len(read.Body) != model.AccountSize {
		t.Fatalf("read below the window: %d body bytes, want one account", len(read.Body))
	}
}

// TestConformanceBodyLengthDamagedUpward: section 9, "damage landing in a header byte is
// refused bad_magic, bad_version, frame_too_large, bad_body_length, unknown_kind or
// reserved_not_zero instead". Not when the damage raises a request's body_length within
// the bound: the server then waits for that many body bytes (section 3, step 5) and reads
// the frames the client sends next (heartbeats included) as the damaged frame's body;
// only once they add up does it answer bad_checksum, naming the damaged request. With a
// client that has nothing else to send, its heartbeats (48 bytes an interval) fill the
// body: up to 1,048,192 bytes, hours at the default interval, during which neither side
// sees silence. Pinned: the audit proposes a client rule for it.
func TestConformanceBodyLengthDamagedUpward(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 1)
	request := requestFrame(1, 9, model.OperationLookupAccounts, encodeIDs(1))
	// Damage: body_length 16 → 16 + 2 heartbeats (a bit flip could do more).
	binary.LittleEndian.PutUint32(request[8:], uint32(model.IDSize+2*wire.HeaderSize))
	heartbeat := rawFrame(wire.KindHeartbeat, 0, 0, 0, 1, 0, 0, 0, nil)
	r.write(append(append([]byte(nil), request...), heartbeat...))
	// One heartbeat short: the server waits (not asserted: that would need a clock).
	r.write(heartbeat)
	if frame := r.expectErrorFrame(wire.ErrorBadChecksum); frame.Number != 9 {
		t.Fatalf("bad_checksum names request %d, want 9", frame.Number)
	}
	if submitted := h.backend.Submitted(); submitted != 0 {
		t.Fatalf("%d requests submitted", submitted)
	}
}

// conformancePermissionBeforeTheCache: section 7, "A resend answered
// permission_denied (the client's permissions changed meanwhile; also checked before the
// number is looked up) ... says nothing about the earlier attempt"; section 5,
// "Permission changes apply to the next request". A write applied before a reload took
// the client's transfer permission away is, resent after it, refused permission_denied
// (empty body, aux 0, no duplicate flag), not answered from the cache; the session stays.
func conformancePermissionBeforeTheCache(t *testing.T, h *durableHarness) {
	r := dialRaw(t, h.server.Address())
	r.login(clientAll, 1, secretOne, 101)
	first := r.roundTripOn(101, 1, model.OperationCreateAccounts, fundedAccounts(10101))
	expectReply(t, "first write", first, model.StatusOK, false)
	file := testKeysFile()
	file.Clients[0].Permissions = []string{"read"} // Same keys: not a revocation.
	if err := h.keys.Replace(file); err != nil {
		t.Fatal(err)
	}
	resent := r.roundTripOn(101, 1, model.OperationCreateAccounts, fundedAccounts(10101))
	expectReply(t, "resend without the permission", resent, model.StatusPermissionDenied, false)
	if resent.Aux != 0 || len(resent.Body) != 0 {
		t.Fatalf("permission_denied with aux %d and %d body bytes", resent.Aux, len(resent.Body))
	}
	if reply := r.roundTripOn(101, 2, model.OperationLookupAccounts, encodeIDs(10101)); len(reply.Body) != model.AccountSize {
		t.Fatalf("a read after the refusal: %s, %d body bytes", model.Status(reply.Status),
			len(reply.Body))
	}
}

// TestConformanceSessionsS36 runs the exactly-once checks above against one server in
// front of a real shard, each on its own sessions and ids (one server for all of them:
// starting and stopping one costs about half a second). The permission check goes last:
// it takes clientAll's transfer permission away.
func TestConformanceSessionsS36(t *testing.T) {
	h := newDurableHarness(t, shard.Config{})
	for _, check := range []struct {
		name string
		run  func(*testing.T, *durableHarness)
	}{
		{"logout keeps the session", conformanceLogoutKeepsTheSession},
		{"sessions are separate", conformanceSessionsAreSeparate},
		{"copies pipelined", conformanceCopiesPipelined},
		{"damage then resend", conformanceDamageThenResend},
		{"read below the window", conformanceReadBelowTheWindow},
		{"permission before the cache", conformancePermissionBeforeTheCache},
	} {
		if !t.Run(check.name, func(t *testing.T) { check.run(t, h) }) {
			return // The checks share a server: one failed may leave it in any state.
		}
	}
}

// TestConformanceWorkedExamples reads section 16's hex dumps as a client author checks
// an implementation against them: each is a whole frame (magic "SQNT", version 1,
// body_length = the bytes after the 48-byte header), its checksum is section 3's CRC-32C
// computed here, the login example's signature is HMAC-SHA256 over the 56-byte message
// the text gives (section 4: nonce ‖ client_id ‖ key_id ‖ options ‖ session) with the
// stated secret, and the reply example carries the stated op and result.
func TestConformanceWorkedExamples(t *testing.T) {
	document, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- BEGIN GENERATED: examples -->", "<!-- END GENERATED: examples -->"
	text := string(document)
	start, stop := strings.Index(text, begin), strings.Index(text, end)
	if start < 0 || stop < start {
		t.Fatal("PROTOCOL.md has no generated examples section")
	}
	frames := map[string][]byte{}
	title := ""
	inBlock := false
	for _, line := range strings.Split(text[start:stop], "\n") {
		switch {
		case strings.HasPrefix(line, "#### "):
			title = strings.TrimPrefix(line, "#### ")
		case strings.HasPrefix(line, "```"):
			inBlock = !inBlock
		case inBlock && len(line) > 6:
			digits := strings.ReplaceAll(line[6:], " ", "")
			b, err := hex.DecodeString(digits)
			if err != nil {
				t.Fatalf("%s: line %q: %v", title, line, err)
			}
			frames[title] = append(frames[title], b...)
		}
	}
	if len(frames) < 8 {
		t.Fatalf("%d examples found, want at least 8", len(frames))
	}
	for name, frame := range frames {
		if len(frame) < wire.HeaderSize || string(frame[:4]) != "SQNT" || frame[4] != 1 ||
			int(binary.LittleEndian.Uint32(frame[8:])) != len(frame)-wire.HeaderSize {
			t.Fatalf("%s: not one whole frame: % x", name, frame)
		}
		sum := crc32.Update(crc32.Update(0, conformanceCastagnoli, frame[:44]),
			conformanceCastagnoli, frame[wire.HeaderSize:])
		if stored := binary.LittleEndian.Uint32(frame[44:]); stored != sum {
			t.Errorf("%s: checksum %#x, section 3's CRC-32C gives %#x", name, stored, sum)
		}
	}
	challenge, login := frames["Challenge"], frames["Login"]
	if challenge == nil || login == nil {
		t.Fatal("no Challenge or Login example")
	}
	message := append([]byte(nil), challenge[wire.HeaderSize:wire.HeaderSize+32]...)
	message = binary.LittleEndian.AppendUint64(message, 1) // client 1
	message = binary.LittleEndian.AppendUint32(message, 1) // key 1
	message = binary.LittleEndian.AppendUint32(message, 0) // options 0
	message = binary.LittleEndian.AppendUint64(message, 7) // session 7
	mac := hmac.New(sha256.New, bytes.Repeat([]byte{0x11}, 32))
	mac.Write(message)
	if signature := login[wire.HeaderSize+16:]; !bytes.Equal(signature, mac.Sum(nil)) ||
		binary.LittleEndian.Uint64(login[16:]) != 7 {
		t.Errorf("login example: signature % x session %d, want % x and 7", signature,
			binary.LittleEndian.Uint64(login[16:]), mac.Sum(nil))
	}
	created := frames["Reply: the transfer was created"]
	if created == nil || binary.LittleEndian.Uint64(created[32:]) != 42 ||
		binary.LittleEndian.Uint64(created[wire.HeaderSize:]) != 1700000000000000000 ||
		binary.LittleEndian.Uint32(created[wire.HeaderSize+8:]) != 0 {
		t.Errorf("reply example: % x, want aux 42, timestamp 1700000000000000000, status 0",
			created)
	}
}

// TestConformanceReportsOfSeveralShards: section 8, "Each client's reports are numbered
// by a per-client sequence, from 1, without gaps", "no report is sent twice and they
// arrive in sequence order", and with from_sequence n "the server first sends its
// retained reports with sequence ≥ n"; section 18: on a node of several shards the
// reports are those of the default instrument shard's instruments only. Three orders of
// one client, the first for an instrument on shard 1, the second and third for one on
// the default shard 0 (each with its accounts on its instrument's shard, each refused: no
// such instrument; a refusal is reported, kind 2 rejected): a subscriber gets two
// reports, sequences 1 and 2, for client order ids 2 and 3, live and replayed alike.
//
// The audit found (session 36) that each shard numbers a client's reports on its own, so
// the report of the order on shard 1 went out live as sequence 1 and displaced shard 0's
// own sequence 1 (dropped: at or below the last sequence sent), while a replay gave
// shard 0's: the live stream and the replay disagreed, each with a report missing. Until
// per-shard report streams exist, the node delivers the default instrument shard's
// reports only (core/node Node.reportShard), and section 18 says so.
func TestConformanceReportsOfSeveralShards(t *testing.T) {
	placement := shardmap.ByRange(model.U128(0), model.U128(1000))
	placement.Instruments = []shardmap.InstrumentEntry{{Instrument: 2, Shard: 1}}
	if err := placement.Validate(); err != nil {
		t.Fatal(err)
	}
	parts := make([]node.Part, placement.Shards)
	for i := range parts {
		parts[i] = node.Part{Log: wal.NewMemoryLog(), Machine: core.New(core.Config{
			Shard: core.ShardConfig{Map: placement, Index: uint16(i)}})}
	}
	local, err := node.NewLocal(placement, shard.Config{CloseTimeout: time.Second,
		Logger: testLogger()}, parts)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Config{Map: placement}, local)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := netio.NewKeyring(testKeysFile())
	if err != nil {
		t.Fatal(err)
	}
	server, err := netio.NewServer(netio.Config{Address: "127.0.0.1:0", Keys: keys,
		Logger: testLogger()}, n)
	if err != nil {
		t.Fatal(err)
	}
	n.Start(server.Replier())
	if err := server.Start(); err != nil {
		_ = n.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		_ = server.Shutdown(ctx)
		_ = n.Close()
	})

	r := dialRaw(t, server.Address())
	r.login(clientAll, 1, secretOne, 1)
	r.subscribeReports(1, 0)
	if frame := r.next(); frame.Kind != wire.KindSubscribed || frame.Status != 0 {
		t.Fatalf("subscribe: %s status %d", frame.Kind, frame.Status)
	}
	type seen struct{ sequence, clientOrderID uint64 }
	var live []seen
	collect := func(frame wire.Frame) {
		var report model.ExecutionReport
		report.Decode(frame.Body)
		live = append(live, seen{frame.Aux, report.ClientOrderID})
	}
	var results []model.Status // Each order's own status, for the failure message.
	for number, instrument := range []uint32{2, 1, 1} {
		base := uint64(1) // Shard 0's range.
		if instrument == 2 {
			base = 1001 // Shard 1's: an order's accounts are on its instrument's shard.
		}
		order := model.Order{ClientOrderID: uint64(number + 1), Account: 1,
			BaseAccountID: model.U128(base), QuoteAccountID: model.U128(base + 1), Price: 1,
			Quantity: 1, Instrument: instrument, Side: model.SideBuy,
			Type: model.OrderLimit, TimeInForce: model.GoodTillCancel}
		body := make([]byte, model.OrderSize)
		order.Encode(body)
		r.write(rawFrame(wire.KindRequest, model.OperationPlaceOrders, 0, 0, 1,
			uint64(number+1), 0, 0, body))
		for {
			frame := r.next()
			if frame.Kind == wire.KindReport {
				collect(frame)
				continue
			}
			if frame.Kind != wire.KindReply || model.Status(frame.Status) != model.StatusOK ||
				len(frame.Body) != model.OrderResultSize {
				t.Fatalf("order %d: %s status %s", number+1, frame.Kind, model.Status(frame.Status))
			}
			var result model.OrderResult
			result.Decode(frame.Body)
			results = append(results, result.Status)
			break
		}
	}
	for len(live) == 0 || live[len(live)-1].clientOrderID != 3 {
		frame := r.next()
		if frame.Kind != wire.KindReport {
			t.Fatalf("waiting for the third order's report: %s", frame.Kind)
		}
		collect(frame)
	}
	want := []seen{{1, 2}, {2, 3}}
	if !slices.Equal(live, want) {
		// Name what each shard numbered: the shards' own report stores.
		var retained [][]seen
		for _, s := range n.Shards() {
			var list []seen
			s.ReplayReports(clientAll, 1, func(reports []backend.Report) {
				for _, report := range reports {
					var decoded model.ExecutionReport
					decoded.Decode(report.Body)
					list = append(list, seen{report.Sequence, decoded.ClientOrderID})
				}
			})
			retained = append(retained, list)
		}
		t.Errorf("live reports (sequence, client order id) %v, want %v; the orders' "+
			"statuses %v; the shards numbered them %v", live, want, results, retained)
	}

	replay := dialRaw(t, server.Address())
	replay.login(clientAll, 1, secretOne, 2)
	replay.subscribeReports(2, 1)
	var replayed []seen
	for {
		frame := replay.next()
		if frame.Kind == wire.KindSubscribed {
			break
		}
		var report model.ExecutionReport
		report.Decode(frame.Body)
		replayed = append(replayed, seen{frame.Aux, report.ClientOrderID})
	}
	if !slices.Equal(replayed, want) {
		t.Errorf("replayed reports (sequence, client order id) %v, want %v", replayed, want)
	}
}
