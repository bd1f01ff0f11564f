package replication

import (
	"errors"
	"testing"
)

// TestDigestBookDetectsDivergence pairs digests arriving in either order: equal pairs pass,
// a differing pair fails loudly whichever side arrives second, and unpaired digests are
// forgotten beyond the bound rather than kept forever.
func TestDigestBookDetectsDivergence(t *testing.T) {
	var failures []error
	book := newDigestBook(func(err error) { failures = append(failures, err) })
	same, other := [32]byte{1, 2, 3}, [32]byte{1, 2, 4}

	if err := book.primary(100, same); err != nil {
		t.Fatal(err)
	}
	book.standby(100, same) // Primary first, equal.
	book.standby(200, same)
	if err := book.primary(200, same); err != nil { // Standby first, equal.
		t.Fatal(err)
	}
	if len(failures) != 0 {
		t.Fatalf("equal digests reported: %v", failures)
	}

	book.standby(300, same) // Standby first, different: the primary's side reports it.
	if err := book.primary(300, other); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("standby first, different digests: %v", err)
	}
	if err := book.primary(400, other); err != nil { // Primary first, different.
		t.Fatal(err)
	}
	book.standby(400, same)
	if len(failures) != 1 || !errors.Is(failures[0], ErrDigestMismatch) {
		t.Fatalf("primary first, different digests: failures %v", failures)
	}

	for op := uint64(1000); op < 1000+3*digestsRememberedMax; op++ {
		book.standby(op, same)
	}
	if len(book.own) > digestsRememberedMax || len(book.order) > digestsRememberedMax {
		t.Fatalf("%d unpaired digests kept, bound %d", len(book.own), digestsRememberedMax)
	}
}
