package model

import "testing"

// TestMustAddAndMustSubPanicMessages pins what MustAdd and MustSub report when an
// invariant breaks: their panic values are errors formatted only when printed (which keeps
// the two functions inlinable), and the message still names the operation and both
// operands, as the formatted strings they replaced did.
func TestMustAddAndMustSubPanicMessages(t *testing.T) {
	if sum := (Uint128{Lo: ^uint64(0)}).MustAdd(U128(1)); sum != (Uint128{Hi: 1}) {
		t.Fatalf("MustAdd(2^64-1, 1) = %s, want 2^64", sum)
	}
	if difference := (Uint128{Hi: 1}).MustSub(U128(1)); difference != (Uint128{Lo: ^uint64(0)}) {
		t.Fatalf("MustSub(2^64, 1) = %s, want 2^64-1", difference)
	}
	panicMessage := func(f func()) (message string) {
		t.Helper()
		defer func() {
			value := recover()
			err, ok := value.(error)
			if !ok {
				t.Fatalf("panicked with %T %v, want an error", value, value)
			}
			message = err.Error()
		}()
		f()
		t.Fatal("did not panic")
		return ""
	}
	add := panicMessage(func() { Uint128Max.MustAdd(U128(2)) })
	if want := "model: Uint128 add overflow: " + Uint128Max.String() + " + 2"; add != want {
		t.Fatalf("MustAdd panic message %q, want %q", add, want)
	}
	sub := panicMessage(func() { U128(3).MustSub(U128(5)) })
	if want := "model: Uint128 sub underflow: 3 - 5"; sub != want {
		t.Fatalf("MustSub panic message %q, want %q", sub, want)
	}
}
