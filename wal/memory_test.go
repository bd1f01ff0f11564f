package wal

import (
	"errors"
	"testing"
)

// TestMemoryLog checks the fake behaves like a Log where other layers can see it:
// durability at once or held and released, reads up to Durable, the sticky failure, and
// the same Append invariants.
func TestMemoryLog(t *testing.T) {
	m := NewMemoryLog()
	last := appendEntries(t, m, 3)
	if m.Durable() != last {
		t.Fatalf("durable %d, want %d", m.Durable(), last)
	}
	<-m.DurableNotify()
	m.Hold()
	held := appendEntries(t, m, 3)
	if m.Durable() != last {
		t.Fatal("durability advanced while held")
	}
	count := 0
	err := m.Read(0, func(e *Entry) error { checkEntry(t, e); count++; return nil })
	if err != nil || count != 3 {
		t.Fatalf("read %d entries while held (%v), want the 3 durable ones", count, err)
	}
	if entryFor(last+1).Count < 2 {
		t.Fatal("the test needs a multi-op entry after the durable ones")
	}
	if err := m.ReleaseTo(last + 1); !errors.Is(err, ErrNotBoundary) {
		t.Fatalf("ReleaseTo inside an entry: %v", err)
	}
	if err := m.ReleaseTo(entryFor(last + 1).LastOp()); err != nil {
		t.Fatal(err)
	}
	m.Release()
	if m.Durable() != held || m.FirstOp() != 1 {
		t.Fatalf("after release durable %d first %d", m.Durable(), m.FirstOp())
	}
	failure := errors.New("disk gone")
	m.Fail(failure)
	if err := m.Append(entryFor(held + 1)); err != failure || m.Err() != failure {
		t.Fatalf("append after Fail: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a gap in ops did not panic")
		}
	}()
	other := NewMemoryLog()
	other.Append(entryFor(2))
}
