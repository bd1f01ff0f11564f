package shard

import (
	"errors"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/wal"
)

// TestParkedFullLogRefusalIsNotCountedAsHandledWhenFenced (reviewfe46): a full log's
// refusal is counted in LogFullRefusals only, never in Latencies (latencies and released
// statuses), as when it was answered at once (fence46 parks it behind the replies before
// it, and answer leaves out a log_unavailable reply). A fence landing while it is parked
// turns it into outcome_unknown (answerParked), and answer then counted it as a request
// handled, twice for one request: once as a refusal, once as a released outcome_unknown,
// although nothing of it was ever sequenced. Here write 1 is parked (its log held), write
// 2 is refused by the full log and parked behind it, and the shard is fenced: both are
// answered outcome_unknown, but only write 1 was handled.
func TestParkedFullLogRefusalIsNotCountedAsHandledWhenFenced(t *testing.T) {
	s, replier, log := submitBehindAParkedWrite(t)
	refuseSecondWrite(t, s, log)
	s.Fence(s.Epoch()+1, "127.0.0.1:9999")
	replies := replier.waitFor(t, 2)
	for i, reply := range replies {
		if reply.Number != uint64(i+1) || reply.Status != model.StatusOutcomeUnknown {
			t.Fatalf("reply %d: number %d %s, want number %d outcome_unknown", i,
				reply.Number, reply.Status, i+1)
		}
	}
	latencies, statuses := s.Latencies()
	if got := statuses[model.StatusOutcomeUnknown.String()]; got != 1 {
		t.Errorf("%d outcome_unknown counted as released, want 1 (the parked write; the "+
			"refused one is counted in LogFullRefusals: %d)", got, s.Stats().LogFullRefusals)
	}
	if got := latencies[model.OperationCreateAccounts.String()].Count; got != 1 {
		t.Errorf("%d create_accounts latencies, want 1 (write 1; write 2 was refused)", got)
	}
}

// TestParkedFullLogRefusalIsNotCountedAsHandled (reviewfe46): the same without a fence:
// the refusal released log_unavailable after write 1 is counted in LogFullRefusals, not
// in Latencies (fence46's 8b300a0a said so, and no test held it).
func TestParkedFullLogRefusalIsNotCountedAsHandled(t *testing.T) {
	s, replier, log := submitBehindAParkedWrite(t)
	refuseSecondWrite(t, s, log)
	log.SetFull(false)
	checkInRequestOrder(t, replier, log, model.StatusLogUnavailable)
	latencies, statuses := s.Latencies()
	if len(statuses) != 1 || statuses[model.StatusOK.String()] != 1 {
		t.Errorf("released statuses %v, want ok 1 only (write 2 was refused)", statuses)
	}
	if got := latencies[model.OperationCreateAccounts.String()].Count; got != 1 {
		t.Errorf("%d create_accounts latencies, want 1 (write 1; write 2 was refused)", got)
	}
}

// TestParkedFullLogRefusalStaysLogUnavailableWhenTheLogFails (reviewfe46): a full log's
// refusal, parked behind an earlier write (fence46), was never sequenced: when the log
// then fails, it must still be answered log_unavailable ("never appended: not applied",
// doc.go; outcome_unknown means sequenced, PROTOCOL.md section 6), as it was when it
// went out at once. answerParked turned it into outcome_unknown with the parked write.
// Here write 1 is parked (its log held), write 2 refused by the full log, the log fails,
// and write 3 finds it failed: 1 outcome_unknown, 2 and 3 log_unavailable, in order.
func TestParkedFullLogRefusalStaysLogUnavailableWhenTheLogFails(t *testing.T) {
	s, replier, log := submitBehindAParkedWrite(t)
	refuseSecondWrite(t, s, log)
	log.SetFull(false)
	log.Fail(errors.New("reviewfe46: fdatasync failed"))
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 3,
		Operation: model.OperationCreateAccounts, Body: accountsBody(3)})
	replies := replier.waitFor(t, 3)
	for i, want := range []model.Status{model.StatusOutcomeUnknown,
		model.StatusLogUnavailable, model.StatusLogUnavailable} {
		if replies[i].Number != uint64(i+1) || replies[i].Status != want {
			t.Fatalf("reply %d: number %d %s, want number %d %s", i, replies[i].Number,
				replies[i].Status, i+1, want)
		}
	}
}

// TestParkedFullLogRefusalStaysLogUnavailableAtTheCloseTimeout (reviewfe46): the same
// at Close, past CloseTimeout with write 1 never durable: write 1 is answered
// outcome_unknown (applied, not released), the refused write 2 log_unavailable (never
// sequenced), in order.
func TestParkedFullLogRefusalStaysLogUnavailableAtTheCloseTimeout(t *testing.T) {
	log := wal.NewMemoryLog()
	s, replier := startShard(t, Config{PulseInterval: time.Hour,
		UndurableEntriesMax: heldEntriesMax, CloseTimeout: 50 * time.Millisecond}, log)
	log.Hold()
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	waitUntil(t, "the first write to be appended", func() bool { return log.LastOp() == 1 })
	log.SetFull(true)
	s.Submit(&backend.Request{Connection: 1, Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateAccounts, Body: accountsBody(2)})
	waitUntil(t, "the full log's turn", func() bool { return s.Stats().LogFullRefusals == 1 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	replies := replier.waitFor(t, 2)
	for i, want := range []model.Status{model.StatusOutcomeUnknown, model.StatusLogUnavailable} {
		if replies[i].Number != uint64(i+1) || replies[i].Status != want {
			t.Fatalf("reply %d: number %d %s, want number %d %s", i, replies[i].Number,
				replies[i].Status, i+1, want)
		}
	}
}
