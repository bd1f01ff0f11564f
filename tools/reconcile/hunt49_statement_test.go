package reconcile

import (
	"strings"
	"testing"

	"sequent/core/model"
	"sequent/tools/clearing"
)

// TestHunt49StrayQuoteIsOneUnreadableLine: a CSV line with a stray double quote (a bare
// one in an unquoted field, as in `ACME "Ltd"`, or text after a quoted field's closing
// quote) is one statement line that cannot be read: it is reported unreadable with its
// line number and the lines after it are read (README: `unreadable`, "a statement line
// that could not be read (the reason is given)"). Before hunt49 encoding/csv's parse
// error stopped the whole reconciliation (exit 2, "could not run") at that line, though
// the reader goes on at the next line.
func TestHunt49StrayQuoteIsOneUnreadableLine(t *testing.T) {
	header := "reference,amount,currency,status,direction\n"
	for _, bad := range []string{
		`2,1,USD,set"tled,credit`,   // bare " in a non-quoted field
		`2,1,USD,"settled"x,credit`, // text after a quoted field's closing quote
	} {
		text := header + "1,12.34,USD,settled,credit\n" + bad + "\n3,1,USD,settled,credit\n"
		entries, problems, err := readAll(t, text, "statement.csv", Mapping{})
		if err != nil {
			t.Fatalf("%q: the statement stopped at %v; want line 3 unreadable, line 4 read",
				bad, err)
		}
		if len(entries) != 3 || problems[0] != "" || !strings.Contains(problems[1], `"`) ||
			problems[2] != "" {
			t.Fatalf("%q: problems %q, want only the second line's (a quote)", bad, problems)
		}
		if entries[0].key != model.U128(1) || entries[2].key != model.U128(3) ||
			entries[2].amount != model.U128(100) {
			t.Fatalf("%q: entries %+v", bad, entries)
		}
	}
	// The line number reported is the bad line's.
	ledgers, account := testStatementLedgers()
	s, err := openStatement(strings.NewReader(header+"1,12.34,USD,settled,credit\n"+
		`2,1,USD,set"tled,credit`+"\n"), "statement.csv", Mapping{}, ledgers, account)
	if err != nil {
		t.Fatal(err)
	}
	var e entry
	for want := uint64(2); want <= 3; want++ {
		line, problem, ok, err := s.next(&e)
		if err != nil || !ok || line != want || (want == 3) != (problem != "") {
			t.Fatalf("line %d, problem %q, ok %v, err %v; want line %d", line, problem, ok,
				err, want)
		}
	}
}

// testStatementLedgers are readAll's registry and reconciled account.
func testStatementLedgers() (*clearing.Ledgers, clearing.LedgerInfo) {
	ledgers, _ := clearing.NewLedgers([]clearing.LedgerInfo{{Ledger: 1, Name: "USD", Scale: 2},
		{Ledger: 2, Name: "EUR", Scale: 2}})
	return ledgers, clearing.LedgerInfo{Ledger: 1, Name: "USD", Scale: 2}
}
