package shard

import (
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// TestFullLogSnapshotRequestIsNotAFailure: a snapshot request made while the log has no
// room (an operator asking for a snapshot to retire segments and free the disk, or a
// periodic one falling due) is refused like any write: the shard must not take the full
// log for a failed one, and the request goes through once there is room.
func TestFullLogSnapshotRequestIsNotAFailure(t *testing.T) {
	log := wal.NewMemoryLog()
	written := make(chan SnapshotResult, 1)
	config := Config{PulseInterval: time.Hour,
		Snapshots: &SnapshotConfig{Dir: t.TempDir(), MinimumInterval: time.Hour,
			OnWritten: func(result SnapshotResult) { written <- result }}}
	s, replier := startShard(t, config, log)
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	replier.waitFor(t, 1)
	log.SetFull(true)
	s.RequestSnapshot()
	// The read is taken in the turn that looks at the request at the latest, and released
	// after that look: a synchronisation point with no clock.
	status, _, err := s.Query(model.OperationLookupAccounts, model.U128(1).Append(nil),
		waitMax)
	if err != nil {
		t.Fatal(err)
	}
	if s.Err() != nil {
		t.Fatalf("a snapshot request on a full log failed the shard: %v", s.Err())
	}
	if status != model.StatusOK {
		t.Fatalf("read while the log is full: %s, want ok", status)
	}
	log.SetFull(false)
	s.Submit(&backend.Request{Connection: 2, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateAccounts, Body: accountsBody(2)})
	if reply := replier.waitFor(t, 2)[1]; reply.Status != model.StatusOK {
		t.Fatalf("write once there is room: %s", reply.Status)
	}
	select { // The request reached the log once there was room, and was carried out.
	case <-written:
	case <-time.After(waitMax):
		t.Fatal("no snapshot once the log had room")
	}
}

// TestFullLogGrantTableIsNotAFailure: a keys reload while the log has no room cannot log
// the new grant table; that must not fail the shard. The turn's requests are refused
// (log_unavailable: none is decided by the table it replaces), and once there is room
// the table is logged before the next request.
func TestFullLogGrantTableIsNotAFailure(t *testing.T) {
	log := wal.NewMemoryLog()
	s, replier := startShard(t, Config{PulseInterval: time.Hour}, log)
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	replier.waitFor(t, 1)
	log.SetFull(true)
	if err := s.SetGrants(model.AppendGrants(nil, []model.Grant{
		{Client: 8, Scopes: model.ScopeTransfer, Ledger: 1}})); err != nil {
		t.Fatal(err)
	}
	s.Submit(&backend.Request{Connection: 2, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateAccounts, Body: accountsBody(2)})
	if reply := replier.waitFor(t, 2)[1]; reply.Status != model.StatusLogUnavailable {
		t.Fatalf("write while the table cannot be logged: %s, want log_unavailable", reply.Status)
	}
	if s.Err() != nil {
		t.Fatalf("a grant table on a full log failed the shard: %v", s.Err())
	}
	log.SetFull(false)
	// The client resends until it is not told log_unavailable: a turn that looked at the
	// log just before it had room again may still refuse one attempt.
	var reply backend.Reply
	for attempt := 0; attempt < 1000; attempt++ {
		s.Submit(&backend.Request{Connection: uint64(3 + attempt), Client: 7, Session: 1, Number: 2,
			Operation: model.OperationCreateAccounts, Body: accountsBody(2)})
		if reply = replier.waitFor(t, 3+attempt)[2+attempt]; reply.Status != model.StatusLogUnavailable {
			break
		}
	}
	if reply.Status != model.StatusOK || reply.Op != 3 {
		t.Fatalf("write once there is room: %+v, want ok at op 3 (after the table)", reply)
	}
}
