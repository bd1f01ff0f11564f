package saga

import (
	"bytes"
	"errors"
	"testing"
	"testing/iotest"

	"sequent/core/model"
)

// Tests of review-mutants51: mutants that tools/mutation/equivalent.txt listed as
// equivalent, told from the original through the package's public behaviour.

// Claim: "core/saga/book.go Book.finished remove "r.result.DebitAccount,
// r.result.CreditAccount = model.Balance{}, model.…"" is not equivalent. ReadSnapshot
// decodes a running saga's result fields from the snapshot's bytes (before session 52
// decodeRecord did not check that a running saga has no result), so a record may not be
// zero when its saga finishes: a saga refused after such a restore must still end
// with no balances in its Finished and its lookup (a refusal moved nothing).
func TestRefusedSagaAfterARestoreEndsWithoutBalances(t *testing.T) {
	s := newTwoShards(t)
	credit := s.start(t, 9101, 10)
	section := s.debit.AppendSnapshot(nil)
	// The running saga's result balances (debit account at 184, credit account at 248 of
	// its record, the first after the header), as a damaged snapshot may hold them.
	for i := snapshotHeaderSize + 184; i < snapshotHeaderSize+312; i++ {
		section[i] = 0x5a
	}
	restored, err := ReadSnapshot(bytes.NewReader(section), s.placement, 0)
	if errors.Is(err, ErrSnapshotInvalid) {
		return // Refusing the record is as good: nothing stale can show.
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := restored.Index(s.debitLedger); err != nil {
		t.Fatal(err)
	}
	s.debit = restored
	credit.Abort = true
	finished := s.finish(s.decide(credit)...)
	if len(finished) != 1 || finished[0].Result.Status != model.StatusSagaTimedOut {
		t.Fatalf("step 3 of the aborted saga: %+v", finished)
	}
	zero := model.Balance{}
	if got := finished[0].Result; got.DebitAccount != zero || got.CreditAccount != zero {
		t.Errorf("the refused saga's Finished holds balances: %+v, %+v", got.DebitAccount,
			got.CreditAccount)
	}
	if state := s.lookup(t, 9101); state.Phase != PhaseFinal ||
		state.Result.DebitAccount != zero || state.Result.CreditAccount != zero {
		t.Errorf("the refused saga's lookup: %+v", state)
	}
}

// Claim: "core/saga/snapshot.go ReadSnapshot remove "return bad(\"header: %v\", err)""
// is not equivalent: a reader's error does not always leave it at its end (io.Reader
// allows reads after an error; iotest.TimeoutReader fails its second read only). The
// header read failing half way must refuse the snapshot, not go on reading the rest of
// the stream as the decision sections of a book of zero sagas.
func TestReadSnapshotRefusesAHeaderReadError(t *testing.T) {
	s := newTwoShards(t)
	section := New(s.placement, 0).AppendSnapshot(nil)
	if _, err := ReadSnapshot(bytes.NewReader(section), s.placement, 0); err != nil {
		t.Fatalf("the empty book's snapshot: %v", err)
	}
	// The first read gives half the header, the second fails, later ones go on.
	r := iotest.TimeoutReader(iotest.HalfReader(bytes.NewReader(section)))
	read, err := ReadSnapshot(r, s.placement, 0)
	if !errors.Is(err, ErrSnapshotInvalid) || read != nil {
		t.Fatalf("a header read that failed half way: book %v, error %v", read != nil, err)
	}
}
