package shard

import (
	"testing"
	"time"

	"sequent/core"
	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// TestReadsAmongFullLogRefusalsAreCounted (rrB, session 46): the reads of a turn whose
// write the full log refuses are answered in the turn's slot among the refusals
// (refuseWrites) and counted in Stats.Queries, once each, as a turn's reads are. The
// three requests are queued before the shard starts, so that its first turn takes them
// together: connection 1's write, connections 2 and 3's lookups.
func TestReadsAmongFullLogRefusalsAreCounted(t *testing.T) {
	log := wal.NewMemoryLog()
	s, err := New(Config{PulseInterval: time.Hour}, core.New(testMachineConfig), log)
	if err != nil {
		t.Fatal(err)
	}
	requests := []backend.Request{
		{Connection: 1, Client: 7, Session: 1, Number: 1,
			Operation: model.OperationCreateAccounts, Body: accountsBody(1)},
		{Connection: 2, Client: 7, Session: 2, Number: 1,
			Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)},
		{Connection: 3, Client: 7, Session: 3, Number: 1,
			Operation: model.OperationLookupAccounts, Body: model.U128(1).Append(nil)},
	}
	for i := range requests {
		if status := s.Submit(&requests[i]); status != model.StatusOK {
			t.Fatalf("submit %d: %s", i, status)
		}
	}
	log.SetFull(true)
	replier := newRecordingReplier()
	s.Start(RepliesOnly(replier))
	t.Cleanup(func() { s.Close() })
	replies := replier.waitFor(t, len(requests))
	for i, want := range []model.Status{model.StatusLogUnavailable, model.StatusOK,
		model.StatusOK} {
		if replies[i].Connection != requests[i].Connection || replies[i].Status != want {
			t.Fatalf("reply %d: connection %d %s, want connection %d %s", i,
				replies[i].Connection, replies[i].Status, requests[i].Connection, want)
		}
	}
	if stats := s.Stats(); stats.LogFullRefusals != 1 || stats.Queries != 2 {
		t.Errorf("%d refusals, %d queries counted, want 1 and 2 (the turn's lookups)",
			stats.LogFullRefusals, stats.Queries)
	}
}
