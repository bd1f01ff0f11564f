package shard

import (
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// Replies to processed requests of one connection leave in the order the requests were
// sent (netio/PROTOCOL.md section 6, "Order"), and log_unavailable from a turn whose log
// had no room is such a reply ("Answered after processing": not applied, resend later).
// A full log's turn answered its requests at once, while an earlier write of the same
// connection was still parked waiting for durability: the refusal overtook it.

// submitBehindAParkedWrite submits a write on connection 1 and holds the log's
// durability so that its reply stays parked; it returns the shard, its replier and log.
func submitBehindAParkedWrite(t *testing.T) (*Shard, *recordingReplier, *wal.MemoryLog) {
	t.Helper()
	log := wal.NewMemoryLog()
	s, replier := startShard(t, Config{PulseInterval: time.Hour,
		UndurableEntriesMax: heldEntriesMax}, log)
	log.Hold()
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)}); status != model.StatusOK {
		t.Fatalf("submit 1: %s", status)
	}
	waitUntil(t, "the first write to be appended", func() bool { return log.LastOp() == 1 })
	return s, replier, log
}

// refuseSecondWrite fills the log and submits write 2 of connection 1 behind
// submitBehindAParkedWrite's write 1, and waits until the full log has refused it (parked
// behind write 1).
func refuseSecondWrite(t *testing.T, s *Shard, log *wal.MemoryLog) {
	t.Helper()
	log.SetFull(true)
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateAccounts, Body: accountsBody(2)}); status != model.StatusOK {
		t.Fatalf("submit 2: %s", status)
	}
	waitUntil(t, "the full log's turn", func() bool { return s.Stats().LogFullRefusals == 1 })
}

// checkInRequestOrder releases the log and checks that the two replies of connection 1
// arrive in request order: number 1 ok, then number 2 with status second.
func checkInRequestOrder(t *testing.T, replier *recordingReplier, log *wal.MemoryLog,
	second model.Status) {
	t.Helper()
	log.Release()
	replies := replier.waitFor(t, 2)
	if replies[0].Number != 1 || replies[0].Status != model.StatusOK ||
		replies[1].Number != 2 || replies[1].Status != second {
		t.Fatalf("replies of one connection: number %d %s, then number %d %s; want 1 ok, "+
			"then 2 %s (request order)", replies[0].Number, replies[0].Status,
			replies[1].Number, replies[1].Status, second)
	}
}

// TestFullLogRefusalKeepsTheConnectionsReplyOrder: the second write finds the log full.
func TestFullLogRefusalKeepsTheConnectionsReplyOrder(t *testing.T) {
	s, replier, log := submitBehindAParkedWrite(t)
	refuseSecondWrite(t, s, log)
	log.SetFull(false)
	checkInRequestOrder(t, replier, log, model.StatusLogUnavailable)
}

// TestFullLogReadBeforeARefusedWriteKeepsItsPlace: a read sent before the refused write
// (taken in the full log's turn or in one before it) is answered before it, and both
// after the parked write.
func TestFullLogReadBeforeARefusedWriteKeepsItsPlace(t *testing.T) {
	s, replier, log := submitBehindAParkedWrite(t)
	log.SetFull(true)
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)})
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 3,
		Operation: model.OperationCreateAccounts, Body: accountsBody(3)})
	waitUntil(t, "the full log's turn", func() bool { return s.Stats().LogFullRefusals == 1 })
	log.SetFull(false)
	log.Release()
	replies := replier.waitFor(t, 3)
	for i, want := range []struct {
		number uint64
		status model.Status
	}{{1, model.StatusOK}, {2, model.StatusOK}, {3, model.StatusLogUnavailable}} {
		if replies[i].Number != want.number || replies[i].Status != want.status {
			t.Fatalf("reply %d: number %d %s, want number %d %s (request order)", i,
				replies[i].Number, replies[i].Status, want.number, want.status)
		}
	}
}

// TestUnloggedGrantTableRefusalKeepsTheConnectionsReplyOrder: the second request comes
// after a keys reload whose grant table the full log cannot take: it is refused
// log_unavailable (refuseQueued), after the first write's reply.
func TestUnloggedGrantTableRefusalKeepsTheConnectionsReplyOrder(t *testing.T) {
	s, replier, log := submitBehindAParkedWrite(t)
	log.SetFull(true)
	if err := s.SetGrants(model.AppendGrants(nil, []model.Grant{
		{Client: 8, Scopes: model.ScopeTransfer, Ledger: 1}})); err != nil {
		t.Fatal(err)
	}
	if status := s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateAccounts, Body: accountsBody(2)}); status != model.StatusOK {
		t.Fatalf("submit 2: %s", status)
	}
	waitUntil(t, "the refusing turn", func() bool { return s.Stats().LogFullRefusals == 1 })
	checkInRequestOrder(t, replier, log, model.StatusLogUnavailable)
}
