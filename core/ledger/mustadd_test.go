package ledger

import (
	"strings"
	"testing"

	"sequent/core/model"
)

// TestMustAddCarriesAndPanicsOnOverflow covers mustAdd, the inlinable MustAdd of the
// transfer path: the carry into the high word, and a panic (not a wrapped sum) when the
// sum does not fit, whose message names both operands.
func TestMustAddCarriesAndPanicsOnOverflow(t *testing.T) {
	lowMax := model.Uint128{Lo: ^uint64(0)}
	if sum := mustAdd(lowMax, model.U128(1)); sum != (model.Uint128{Hi: 1}) {
		t.Fatalf("mustAdd(2^64-1, 1) = %s, want 2^64", sum)
	}
	max := model.Uint128{Lo: ^uint64(0), Hi: ^uint64(0)}
	defer func() {
		err, ok := recover().(error)
		if !ok {
			t.Fatalf("mustAdd(2^128-1, 2) panicked with %v, want an error", err)
		}
		if message := err.Error(); !strings.Contains(message, "add overflow") ||
			!strings.Contains(message, max.String()) {
			t.Fatalf("panic message %q", message)
		}
	}()
	sum := mustAdd(max, model.U128(2))
	t.Fatalf("mustAdd(2^128-1, 2) returned %s, want a panic", sum)
}
