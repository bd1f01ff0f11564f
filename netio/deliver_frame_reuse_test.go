package netio_test

import (
	"slices"
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/fakeshard"
	"sequent/netio/wire"
)

// TestDeliverRunOfRepliesEachItsOwnHeader: Deliver writes every reply of a call through
// one wire.Frame; each reply's header must carry that reply's own fields, whatever the
// reply before it set, in particular no duplicate flag left by a duplicate before it.
// Method: one connection, one Deliver call of four replies to it that differ in every
// header field (duplicate, fresh, duplicate, fresh), read back in order from its socket.
func TestDeliverRunOfRepliesEachItsOwnHeader(t *testing.T) {
	var recorder *connectionRecorder
	h := newHarness(t, harnessOptions{config: func(c *netio.Config) { c.EventLoops = 1 },
		wrap: func(fake *fakeshard.Backend) backend.Backend {
			recorder = newConnectionRecorder()
			recorder.Backend = fake
			return recorder
		}})
	raw := dialRaw(t, h.server.Address())
	raw.login(clientAll, 1, secretOne, 100)
	raw.write(requestFrame(100, 1, model.OperationLookupAccounts, encodeIDs(1)))
	raw.next()
	recorder.mutex.Lock()
	seen := slices.Clone(recorder.connections)
	recorder.mutex.Unlock()
	if len(seen) != 1 {
		t.Fatalf("%d requests seen, want 1", len(seen))
	}
	var ok [model.EventResultSize]byte
	replies := []backend.Reply{
		{Operation: model.OperationCreateTransfers, Status: model.StatusOK, Number: 2, Op: 7,
			Duplicate: true, Body: ok[:]},
		{Operation: model.OperationLookupAccounts, Status: model.StatusOK, Number: 3, Op: 0},
		{Operation: model.OperationCreateAccounts, Status: model.StatusTooManyEvents,
			Number: 4, Op: 9, Duplicate: true},
		{Operation: model.OperationCreateTransfers, Status: model.StatusOK, Number: 5, Op: 11,
			Body: ok[:]},
	}
	for i := range replies {
		replies[i].Connection, replies[i].Client, replies[i].Session = seen[0], clientAll, 100
	}
	h.server.Deliver(replies)
	for i, want := range replies {
		got := raw.next()
		wantFlags := uint8(0)
		if want.Duplicate {
			wantFlags = wire.ReplyFlagDuplicate
		}
		if got.Kind != wire.KindReply || got.Operation != want.Operation ||
			model.Status(got.Status) != want.Status || got.Session != want.Session ||
			got.Number != want.Number || got.Aux != want.Op || got.Flags != wantFlags ||
			len(got.Body) != len(want.Body) {
			t.Errorf("reply %d: kind %s operation %s status %d session %d number %d aux %d "+
				"flags %d body %d bytes; want %+v, flags %d", i, got.Kind, got.Operation,
				got.Status, got.Session, got.Number, got.Aux, got.Flags, len(got.Body), want,
				wantFlags)
		}
	}
}
