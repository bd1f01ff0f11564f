package match

import (
	"strings"
	"testing"
)

// TestLadderOffsetRefusesAPriceOffTheTick checks offset's guard, which moved its message
// into offTickError so that offset inlines: a price between two entries still panics,
// naming the price and the tick, while prices on the tick and outside the span answer.
func TestLadderOffsetRefusesAPriceOffTheTick(t *testing.T) {
	d := newLadder(5)
	d.base = 100
	if offset, inside := d.offset(115); !inside || offset != 3 {
		t.Fatalf("offset(115) = %d, %v; want 3, true", offset, inside)
	}
	if _, inside := d.offset(95); inside {
		t.Fatal("offset(95) below the base is inside")
	}
	if _, inside := d.offset(100 + 5*ladderTicks); inside {
		t.Fatal("offset past the span is inside")
	}
	defer func() {
		recovered := recover()
		err, ok := recovered.(error)
		if !ok {
			t.Fatalf("offset(117) panicked with %v, want an error", recovered)
		}
		if want := "price 117 not on the tick 5"; !strings.Contains(err.Error(), want) {
			t.Fatalf("panic %q does not say %q", err.Error(), want)
		}
	}()
	d.offset(117)
	t.Fatal("offset(117) did not panic")
}
