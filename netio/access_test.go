package netio_test

import (
	"bytes"
	"encoding/hex"
	"testing"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/wire"
)

// revokeKeyOne puts in force the harness's keys without client 1's key 1 (client 1 keeps
// key 2): what an operator's reload does when the key leaks.
func revokeKeyOne(t *testing.T, h *harness) {
	t.Helper()
	file := testKeysFile()
	file.Clients[0].Keys = []netio.KeysFileKey{{ID: 2, Secret: hex.EncodeToString(secretTwo)}}
	if err := h.keys.Replace(file); err != nil {
		t.Fatal(err)
	}
}

// subscribeReports sends a subscribe frame for the connection's session.
func (r *rawConn) subscribeReports(session uint64, fromSequence uint64) {
	body := make([]byte, wire.SubscribeSize)
	(&wire.Subscribe{FromSequence: fromSequence}).Encode(body)
	r.write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindSubscribe, Session: session},
		body))
}

// TestRevokedKeyCannotSubscribeToReports: a connection logged in with a key that a
// reload then removed is closed with key_revoked when it subscribes to execution reports,
// instead of being sent the client's retained reports (its orders and fills) after the
// revocation. Before the fix the subscribe was served: the replay came back.
func TestRevokedKeyCannotSubscribeToReports(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	stolen := dialRaw(t, h.server.Address())
	stolen.login(clientAll, 1, secretOne, 1)
	h.backend.Report(clientAll, []byte("fill of order 7"))
	revokeKeyOne(t, h)
	stolen.subscribeReports(1, 1)
	stolen.expectError(wire.ErrorKeyRevoked)
}

// TestRevokedKeyGetsNoMoreReports: a connection subscribed to reports before its key was
// revoked is closed with key_revoked at the next report instead of receiving it, while
// the same client's session on its other key gets the report. Before the fix the revoked
// connection went on receiving every report of the client for as long as it sent
// heartbeats ("closed at its next request": a pure subscriber sends none).
func TestRevokedKeyGetsNoMoreReports(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	stolen := dialRaw(t, h.server.Address())
	stolen.login(clientAll, 1, secretOne, 1)
	stolen.subscribeReports(1, 0)
	rotated := dialRaw(t, h.server.Address())
	rotated.login(clientAll, 2, secretTwo, 2)
	rotated.subscribeReports(2, 0)
	for _, r := range []*rawConn{stolen, rotated} {
		if frame := r.next(); frame.Kind != wire.KindSubscribed || frame.Status != 0 {
			t.Fatalf("subscribe: %s status %d", frame.Kind, frame.Status)
		}
	}
	revokeKeyOne(t, h)
	sequence := h.backend.Report(clientAll, []byte("fill of order 8"))
	if frame := rotated.next(); frame.Kind != wire.KindReport || frame.Aux != sequence {
		t.Fatalf("the session on key 2: %s aux %d, want report %d", frame.Kind, frame.Aux,
			sequence)
	}
	stolen.expectError(wire.ErrorKeyRevoked)
}

// TestRevokedKeyMarketData: after a reload removed its key, a connection's md_subscribe
// closes it with key_revoked (the client still exists: before the fix only a removed
// client was refused, and with permission_denied), and a connection subscribed before
// the revocation is closed with key_revoked instead of receiving the next updates, while
// another client's subscriber goes on receiving them.
func TestRevokedKeyMarketData(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	feed := newMarketFeed(h)
	subscribed := dialRaw(t, h.server.Address())
	subscribed.login(clientAll, 1, secretOne, 1)
	reader := dialRaw(t, h.server.Address())
	reader.login(clientReader, 1, secretReader, 2)
	late := dialRaw(t, h.server.Address())
	late.login(clientAll, 1, secretOne, 3)
	for session, r := range map[uint64]*rawConn{1: subscribed, 2: reader} {
		r.marketDataSubscribe(session, 5, wire.ChannelBook, 0)
		if _, answer := r.untilSubscribed(); answer.Status != 0 {
			t.Fatalf("subscribe: status %d", answer.Status)
		}
	}
	revokeKeyOne(t, h)
	late.marketDataSubscribe(3, 5, wire.ChannelBook, 0)
	late.expectError(wire.ErrorKeyRevoked)
	feed.release(5, 1)
	if updates := reader.nextUpdates(1); updates[0].Instrument != 5 {
		t.Fatalf("the other client's update: instrument %d", updates[0].Instrument)
	}
	subscribed.expectError(wire.ErrorKeyRevoked)
}

// TestReplacedSecretRevokesSessions: an operator who answers a leaked secret by giving
// the key id a new secret revokes the old one as surely as by removing the key: the
// session that logged in with the old secret is closed with key_revoked at its next
// request, and a login with the new secret works. Before the fix only the key id was
// compared, so the session authenticated by the leaked secret went on being served.
func TestReplacedSecretRevokesSessions(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	leaked := dialRaw(t, h.server.Address())
	leaked.login(clientAll, 1, secretOne, 1)
	replaced := bytes.Repeat([]byte{0x05}, 32)
	file := testKeysFile()
	file.Clients[0].Keys[0].Secret = hex.EncodeToString(replaced)
	if err := h.keys.Replace(file); err != nil {
		t.Fatal(err)
	}
	leaked.write(requestFrame(1, 1, model.OperationLookupAccounts, encodeIDs(1)))
	leaked.expectError(wire.ErrorKeyRevoked)
	fresh := dialRaw(t, h.server.Address())
	fresh.login(clientAll, 1, replaced, 2)
}

// TestReportsGoOnlyToTheirClient holds that a client's execution reports (its orders
// and fills) reach only that client's subscriptions, live and replayed: client 2, whose
// report is produced after client 1's each time, first sees its own, and its replay
// from sequence 1 holds only its own (found sound; a regression test).
func TestReportsGoOnlyToTheirClient(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	one := dialRaw(t, h.server.Address())
	one.login(clientAll, 1, secretOne, 1)
	two := dialRaw(t, h.server.Address())
	two.login(clientReader, 1, secretReader, 2)
	for session, r := range map[uint64]*rawConn{1: one, 2: two} {
		r.subscribeReports(session, 0)
		if frame := r.next(); frame.Kind != wire.KindSubscribed {
			t.Fatalf("subscribe: %s", frame.Kind)
		}
	}
	h.backend.Report(clientAll, []byte("one's fill"))
	h.backend.Report(clientReader, []byte("two's fill"))
	if frame := two.next(); frame.Kind != wire.KindReport || string(frame.Body) != "two's fill" {
		t.Fatalf("client 2's first live report: %s %q", frame.Kind, frame.Body)
	}
	if frame := one.next(); frame.Kind != wire.KindReport || string(frame.Body) != "one's fill" {
		t.Fatalf("client 1's live report: %s %q", frame.Kind, frame.Body)
	}
	replayed := dialRaw(t, h.server.Address())
	replayed.login(clientReader, 1, secretReader, 3)
	replayed.subscribeReports(3, 1)
	for {
		frame := replayed.next()
		if frame.Kind == wire.KindSubscribed {
			break
		}
		if frame.Kind != wire.KindReport || string(frame.Body) != "two's fill" {
			t.Fatalf("client 2's replay: %s %q", frame.Kind, frame.Body)
		}
	}
}
