package reconcile

import "testing"

// TestSameNameFoldsASCIIOnly: a statement's column or key matches a field's name without
// regard to the case of ASCII letters only. Unicode folding made "ſtatus" (long s,
// U+017F) a status column and "\u212Aind" (Kelvin sign) a "kind" key, names a plain search
// of the file for the field does not find (review-api53's note).
func TestSameNameFoldsASCIIOnly(t *testing.T) {
	cases := []struct {
		column, name string
		same         bool
	}{
		{"status", "status", true},
		{"STATUS", "status", true},
		{" Status\u200b", "status", true},
		{"ſtatus", "status", false},
		{"\u212Aind", "kind", false},
		{"statu", "status", false},
		{"stätus", "status", false},
		{"ÄMOUNT", "ämount", false}, // Non-ASCII letters must be written as the name is.
		{"ämount", "ämount", true},
	}
	for _, c := range cases {
		if got := sameName(c.column, c.name); got != c.same {
			t.Errorf("sameName(%q, %q) = %v, want %v", c.column, c.name, got, c.same)
		}
	}
}
