package client

import (
	"context"
	"errors"
	"testing"

	"sequent/core/model"
)

// TestAbandonedReadIsNotKept: a call whose caller leaves while a copy of it may still be
// applied after requests numbered above it (one lost with a connection, or one on its way
// after a busy) is kept pending without a caller, holding its slot, and counts as a late
// reply when it leaves (window.go): its reply may be cached after theirs. That holds for
// writes only. A read is executed again when resent and recorded nowhere (PROTOCOL.md
// §7): no copy of it is applied late, and its reply takes no room in the server's cache.
// Kept, it held a window slot and was resent for nobody until a definite reply, and then
// narrowed the exactly-once window as a late reply. It must leave when its caller does,
// and never count as late; a write in the same state is kept, and counts as late once it
// leaves.
func TestAbandonedReadIsNotKept(t *testing.T) {
	for _, operation := range []model.Operation{model.OperationCreateTransfers,
		model.OperationLookupAccounts} {
		for _, history := range []string{"lost", "busy"} {
			t.Run(operation.String()+"/"+history, func(t *testing.T) {
				unknown := map[string]string{"lost": "lost", "busy": "none"}[history]
				f := newUnknownOutcomeFixtureOf(t, operation, 1, unknown)
				if history == "busy" {
					f.answer(model.StatusBusy)
					f.expectResent(t, "busy") // A copy on its way.
				}
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				if _, err := f.call.Wait(ctx); !errors.Is(err, context.Canceled) {
					t.Fatalf("the caller left: %v, want context.Canceled", err)
				}
				write := operation == model.OperationCreateTransfers
				f.c.mu.Lock()
				kept, late := f.c.pending[1] == f.call, len(f.c.late)
				f.c.mu.Unlock()
				if kept != write || late != 0 {
					t.Fatalf("after its caller left: kept %v, late replies %d; want %v, 0",
						kept, late, write)
				}
				if write {
					f.answer(model.StatusOK) // The copy on its way is answered: it leaves.
				}
				f.c.mu.Lock()
				pending, late := f.c.pending[1] != nil, len(f.c.late)
				f.c.mu.Unlock()
				wantLate := 0
				if write {
					wantLate = 1
				}
				if pending || late != wantLate {
					t.Fatalf("once gone: pending %v, late replies %d; want false, %d",
						pending, late, wantLate)
				}
			})
		}
	}
}
