package reconcile

import (
	"strings"
	"testing"
)

// TestReview53coordWordsFoldASCIIOnly (review-coord53, claim: 129d2853 made column and key
// names fold the case of ASCII letters only, but the same Unicode folding still reads a
// statement's status, direction and currency cells): strings.ToLower maps the Kelvin sign
// (U+212A) onto "k", so a status "boo\u212Aed" was read as booked (posted) and a
// --direction-map word "ok" matched "o\u212A"; strings.ToUpper (clearing.Ledgers.Resolve)
// maps the long s (U+017F) onto "S" and the dotless i (U+0131) onto "I", so a currency
// "u\u017Fd" was read as USD. A search of the file for the word finds none of them; each
// line must be unreadable (unknown status, direction, currency), as a column so named
// is not read (TestSameNameFoldsASCIIOnly).
func TestReview53coordWordsFoldASCIIOnly(t *testing.T) {
	header := "reference,amount,currency,status,direction\n"
	mapping := Mapping{Directions: map[string]string{"ok": "credit"},
		Statuses: map[string]string{"\u0131n": "posted"}}
	for _, c := range []struct{ line, problem string }{
		{"1,1.00,USD,boo\u212Aed,credit", "unknown status"},
		{"1,1.00,USD,BOO\u212AED,credit", "unknown status"},
		{"1,1.00,USD,settled,o\u212A", "unknown direction"},
		{"1,1.00,u\u017Fd,settled,credit", "unknown currency"},
		{"1,1.00,U\u017FD,settled,credit", "unknown currency"},
		{"1,1.00,USD,IN,credit", "unknown status"}, // The user's word is "ın", not "in".
	} {
		_, problems, err := readAll(t, header+c.line+"\n", "s.csv", mapping)
		if err != nil || len(problems) != 1 || !strings.Contains(problems[0], c.problem) {
			t.Errorf("%q: problems %q (%v), want %q", c.line, problems, err, c.problem)
		}
	}
	// Written as the defaults, the registry or the map write them, in any ASCII case, and
	// a user's word with other letters written as given, they are still read.
	for _, line := range []string{"1,1.00,usd,BOOKED,Credit", "1,1.00,USD,booked,OK",
		"1,1.00,USD,\u0131n,credit"} {
		_, problems, err := readAll(t, header+line+"\n", "s.csv", mapping)
		if err != nil || len(problems) != 1 || problems[0] != "" {
			t.Errorf("%q: problems %q (%v), want it read", line, problems, err)
		}
	}
}
