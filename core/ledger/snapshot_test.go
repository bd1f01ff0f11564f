package ledger

import (
	"bytes"
	"testing"

	"sequent/core/model"
)

// TestSnapshotReusesReleasedBuffers releases a view on another goroutine (as the shard's
// snapshot writer does) and checks that the next view reuses its copy buffers yet holds
// the state at its own moment, not the released view's. Run under -race it also checks
// the hand-off.
func TestSnapshotReusesReleasedBuffers(t *testing.T) {
	f := newFixture(t)
	f.expect(model.StatusOK, model.Transfer{ID: model.U128(100), DebitAccountID: model.U128(1),
		CreditAccountID: model.U128(2), Amount: model.U128(5), Ledger: 1, Code: 1})
	first := f.ledger.Snapshot()
	firstAccounts := &first.accounts[0]
	var before bytes.Buffer
	if _, err := first.WriteTo(&before); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		first.Release()
		close(released)
	}()
	<-released

	f.expect(model.StatusOK, model.Transfer{ID: model.U128(101), DebitAccountID: model.U128(1),
		CreditAccountID: model.U128(2), Amount: model.U128(7), Ledger: 1, Code: 1})
	second := f.ledger.Snapshot()
	if &second.accounts[0] != firstAccounts {
		t.Fatal("the second snapshot did not reuse the released view's account buffer")
	}
	if got := second.accounts[0].DebitsPosted; got != model.U128(12) {
		t.Fatalf("second view: account 1 debits_posted %s, want 12", got)
	}
	var after bytes.Buffer
	if _, err := second.WriteTo(&after); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(before.Bytes(), after.Bytes()) {
		t.Fatal("the second view encodes the same state as the first")
	}
	restored, err := Restore(Config{HashSeed: 1}, bytes.NewReader(after.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if restored.Digest() != f.ledger.Digest() {
		t.Fatal("restoring the second view does not give the ledger's state")
	}
}
