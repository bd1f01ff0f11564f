package core

import (
	"bytes"
	"testing"

	"sequent/core/model"
)

// A session's request numbers may have gaps (PROTOCOL.md section 7: "the server does not
// require" consecutive numbers), so a client can send number 1 and then a number a whole
// window later. The reply of number 1 stays cached (the cache evicts by count and bytes,
// not by number), but its number is now out of the window: the snapshot must still
// restore, to the same state. Before the fix Restore refused it ("cached reply 1 is not an
// applied request"), so any client could make every later snapshot of its shard
// unrestorable (no restart from a snapshot, no standby rejoin from one).
func TestSnapshotRestoresASessionWithANumberGap(t *testing.T) {
	h := newHarness(t, Config{})
	h.operators(1)
	for _, number := range []uint64{1, 1 + model.SessionWindow} {
		account := model.Account{ID: model.U128(number), Ledger: 1, Code: 1}
		body := make([]byte, model.AccountSize)
		account.Encode(body)
		out := h.apply(Request{Client: 1, Session: 1, Number: number,
			Operation: model.OperationCreateAccounts, Body: body})
		if status := eventStatuses(t, out.Body(&out.Replies[0]))[0]; status != model.StatusOK {
			t.Fatalf("request %d: %s", number, status)
		}
	}
	var encoded bytes.Buffer
	if _, err := h.machine.Snapshot().WriteTo(&encoded); err != nil {
		t.Fatal(err)
	}
	copied, err := Restore(Config{}, bytes.NewReader(encoded.Bytes()))
	if err != nil {
		t.Fatalf("a snapshot after a number gap does not restore: %v", err)
	}
	if copied.Digest() != h.machine.Digest() {
		t.Fatal("the restored machine differs")
	}
	// Number 1 is out of the window either way: request_too_old, not a second apply.
	out := &Output{}
	entry := Entry{FirstOp: h.op + 1, Timestamp: h.timestamp + 1_000_000,
		Body: AppendRequest(nil, &Request{Client: 1, Session: 1, Number: 1,
			Operation: model.OperationCreateAccounts, Body: make([]byte, model.AccountSize)})}
	if err := copied.Apply(&entry, out); err != nil {
		t.Fatal(err)
	}
	if out.Replies[0].Status != model.StatusRequestTooOld {
		t.Fatalf("number 1 again after restore: %s", out.Replies[0].Status)
	}
}
