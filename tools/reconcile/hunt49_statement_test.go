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

// TestHunt49LineWithoutStatusDoesNotTakeAnotherLinesPayment: a statement whose lines do
// not all state a status (JSON lines, where the field is optional per line) has, under one
// reference, a line of 5 without a status and a line of 5 "posted"; we have a posted
// payment of 5 and a voided one. Each line agrees with a payment (the first with either,
// the second with the posted one), so both pair with no difference. The exact pairs were
// taken in line order, each line with the first payment it agrees with: the line without
// a status took the posted payment, and the posted line, left with the voided one, was
// reported as a status difference (exit 1 for a statement that matches). Lines that state
// a status now pair first: a line that states less agrees with more payments.
func TestHunt49LineWithoutStatusDoesNotTakeAnotherLinesPayment(t *testing.T) {
	line := func(number uint64, status uint8) entry {
		return entry{key: model.U128(9), order: number, amount: model.U128(5),
			side: sideCredit, status: status}
	}
	posted := entry{key: model.U128(9), order: 100, origin: model.U128(100),
		amount: model.U128(5), side: sideCredit, ledger: 1, kind: kindSingle}
	pending := entry{key: model.U128(9), order: 101, origin: model.U128(101),
		amount: model.U128(5), side: sideCredit, ledger: 1, kind: kindPending}
	void := pending
	void.order, void.kind = 102, kindVoid
	got, summary := decideOne(t, model.U128(9), []entry{line(2, 0), line(3, statusPosted)},
		[]entry{posted, pending, void})
	if len(got) != 0 || summary.Matched != 2 {
		t.Errorf("differences %v, matched %d; want none, 2 matched", got, summary.Matched)
	}
}
