package asciicase

import "testing"

// TestASCIIOnly: ASCII letters change case and compare without it; every other byte,
// letters that Unicode folds onto ASCII ones included, stays and must match exactly.
func TestASCIIOnly(t *testing.T) {
	for _, c := range []struct{ in, lower, upper string }{
		{"", "", ""},
		{"usd", "usd", "USD"},
		{"UsD-9", "usd-9", "USD-9"},
		{"u\u017Fd", "u\u017Fd", "U\u017FD"},          // long s stays
		{"boo\u212Aed", "boo\u212Aed", "BOO\u212AED"}, // Kelvin sign stays
		{"\u0131\u00c4x", "\u0131\u00c4x", "\u0131\u00c4X"},
	} {
		if got := Lower(c.in); got != c.lower {
			t.Errorf("Lower(%q) = %q, want %q", c.in, got, c.lower)
		}
		if got := Upper(c.in); got != c.upper {
			t.Errorf("Upper(%q) = %q, want %q", c.in, got, c.upper)
		}
	}
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"Status", "sTATUS", true},
		{"\u017Ftatus", "status", false},
		{"\u212Aind", "kind", false},
		{"\u00c4mount", "\u00e4mount", false},
		{"\u00e4mount", "\u00e4mount", true},
		{"stat", "status", false},
		{"a[", "A{", false}, // '[' and '{' are 32 apart but not letters.
	} {
		if got := EqualFold(c.a, c.b); got != c.same {
			t.Errorf("EqualFold(%q, %q) = %v, want %v", c.a, c.b, got, c.same)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = Lower("usd"); _ = Upper("USD") }); n != 0 {
		t.Errorf("%v allocations for strings already in the case asked", n)
	}
}
