package reconcile

import (
	"errors"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/model"
	"sequent/tools/clearing"
)

func TestReferenceKey(t *testing.T) {
	for text, want := range map[string]model.Uint128{
		"12345": model.U128(12345),
		"0x10":  model.U128(16),
		"0XfF":  model.U128(255),
		" 7 ":   model.U128(7),
		"123e4567-e89b-12d3-a456-426614174000": {Hi: 0x123e4567e89b12d3,
			Lo: 0xa456426614174000},
		"340282366920938463463374607431768211455": model.Uint128Max,
	} {
		if key, err := ReferenceKey(text, false); err != nil || key != want {
			t.Errorf("ReferenceKey(%q) = %s, %v; want %s", text, key, err, want)
		}
	}
	for _, text := range []string{"", "0", "0x0", "TXN-1", "0x", "0xg1",
		"340282366920938463463374607431768211456", "0x" + strings.Repeat("f", 33),
		"123e4567-e89b-12d3-a456-42661417400g"} {
		if key, err := ReferenceKey(text, false); err == nil {
			t.Errorf("ReferenceKey(%q) accepted: %s", text, key)
		}
	}
	hashed, err := ReferenceKey("TXN-1", true)
	again, _ := ReferenceKey("TXN-1", true)
	other, _ := ReferenceKey("TXN-2", true)
	if err != nil || hashed != again || hashed == other || hashed.IsZero() {
		t.Errorf("hashed references: %s %s %s %v", hashed, again, other, err)
	}
}

// readAll reads a statement and returns each line's entry or problem.
func readAll(t *testing.T, text, path string, mapping Mapping) ([]entry, []string, error) {
	ledgers, _ := clearing.NewLedgers([]clearing.LedgerInfo{{Ledger: 1, Name: "USD", Scale: 2},
		{Ledger: 2, Name: "EUR", Scale: 2}})
	s, err := openStatement(strings.NewReader(text), path, mapping, ledgers,
		clearing.LedgerInfo{Ledger: 1, Name: "USD", Scale: 2})
	if err != nil {
		return nil, nil, err
	}
	var entries []entry
	var problems []string
	for {
		var e entry
		_, problem, ok, err := s.next(&e)
		if err != nil || !ok {
			return entries, problems, err
		}
		entries = append(entries, e)
		problems = append(problems, problem)
	}
}

// TestStatementLines reads one line per case and checks the entry or the problem.
func TestStatementLines(t *testing.T) {
	header := "reference,amount,currency,status,direction\n"
	cases := []struct {
		line    string
		problem string // Substring; "" means readable.
		want    entry
	}{
		{"1,12.34,USD,settled,credit", "", entry{key: model.U128(1), amount: model.U128(1234),
			ledger: 1, status: statusPosted, side: sideCredit}},
		{"2,0.5,eur,Pending,DR", "", entry{key: model.U128(2), amount: model.U128(50),
			ledger: 2, status: statusPending, side: sideDebit}},
		{"3,7,2,cancelled,out", "", entry{key: model.U128(3), amount: model.U128(700),
			ledger: 2, status: statusVoided, side: sideDebit}},
		{",1,USD,posted,credit", "no reference", entry{}},
		{"TXN,1,USD,posted,credit", "not a number", entry{}},
		{"4,1.234,USD,posted,credit", "decimals", entry{}},
		{"5,1,GBP,posted,credit", "unknown currency", entry{}},
		{"6,1,9,posted,credit", "scale is unknown", entry{}},
		{"6,1,,posted,credit", "unknown currency", entry{}},
		{"7,1,USD,lost,credit", "unknown status", entry{}},
		{"8,1,USD,,credit", "no status", entry{}},
		{"9,1,USD,posted,sideways", "unknown direction", entry{}},
		{"10,-1,USD,posted,credit", "negative amount with a direction", entry{}},
		{"11,abc,USD,posted,credit", "not a decimal", entry{}},
		{"12", "", entry{}}, // Short line: empty fields.
	}
	for _, c := range cases {
		entries, problems, err := readAll(t, header+c.line+"\n", "s.csv", Mapping{})
		if err != nil || len(entries) != 1 {
			t.Fatalf("%q: %v", c.line, err)
		}
		switch {
		case c.line == "12":
			if problems[0] == "" {
				t.Errorf("short line accepted")
			}
		case c.problem == "":
			c.want.order = 2
			if problems[0] != "" || entries[0] != c.want {
				t.Errorf("%q: %+v %q, want %+v", c.line, entries[0], problems[0], c.want)
			}
		case !strings.Contains(problems[0], c.problem):
			t.Errorf("%q: problem %q, want %q", c.line, problems[0], c.problem)
		}
	}
}

func TestStatementJSONLines(t *testing.T) {
	text := `{"reference":"5","amount":-12.5,"status":"paid"}` + "\n\n" +
		`{"reference":"6","amount":"1\u00b0"}` + "\n" + `not json` + "\n" +
		`{"reference":7,"amount":3,"currency":"EUR"}` + "\n"
	entries, problems, err := readAll(t, text, "s.ndjson", Mapping{})
	if err != nil || len(entries) != 4 {
		t.Fatalf("%d entries: %v", len(entries), err)
	}
	first := entry{key: model.U128(5), order: 1, amount: model.U128(1250), side: sideDebit,
		status: statusPosted}
	last := entry{key: model.U128(7), order: 5, amount: model.U128(300), side: sideCredit,
		ledger: 2}
	if entries[0] != first || problems[0] != "" || problems[1] == "" ||
		!strings.Contains(problems[2], "not JSON") || entries[3] != last || problems[3] != "" {
		t.Errorf("entries %+v, problems %q", entries, problems)
	}
}

func TestStatementMappingRefusals(t *testing.T) {
	for name, c := range map[string]struct {
		text, path string
		mapping    Mapping
	}{
		"format":           {"", "s.csv", Mapping{Format: "xml"}},
		"unit":             {"", "s.csv", Mapping{AmountUnit: "cents"}},
		"no header json":   {"", "s.jsonl", Mapping{NoHeader: true}},
		"unknown field":    {"a\n", "s.csv", Mapping{Columns: map[string]string{"date": "a"}}},
		"missing column":   {"reference,value\n", "s.csv", Mapping{}},
		"renamed missing":  {"reference,amount\n", "s.csv", Mapping{Columns: map[string]string{FieldStatus: "state"}}},
		"column number":    {"", "s.csv", Mapping{NoHeader: true, Columns: map[string]string{FieldReference: "0", FieldAmount: "2"}}},
		"no numbers given": {"", "s.csv", Mapping{NoHeader: true}},
		"status word":      {"", "s.csv", Mapping{Statuses: map[string]string{"ok": "done"}}},
		"direction word":   {"", "s.csv", Mapping{Directions: map[string]string{"+": "up"}}},
	} {
		if _, _, err := readAll(t, c.text, c.path, c.mapping); !errors.Is(err, ErrMapping) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzStatement reads arbitrary bytes as a CSV and as a JSON lines statement: the reader
// must never panic, and every readable line must have a reference and a side.
func FuzzStatement(f *testing.F) {
	f.Add([]byte("reference,amount,currency,status,direction\n1,1.00,USD,posted,credit\n"))
	f.Add([]byte(`{"reference":"0x1f","amount":"-3","status":"void"}` + "\n"))
	f.Add([]byte("reference,amount\n\"1\n2\",3\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, path := range []string{"s.csv", "s.jsonl"} {
			entries, problems, _ := readAll(t, string(data), path, Mapping{})
			for i := range entries {
				if problems[i] == "" && (entries[i].key.IsZero() || entries[i].side == 0) {
					t.Fatalf("%s: readable line without reference or side: %+v", path,
						entries[i])
				}
			}
		}
	})
}

// TestSorterAgainstSort adds random entries to sorters of various run sizes (spilling to
// disk) and checks the merged order against an in-memory sort, entry for entry.
func TestSorterAgainstSort(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		count := rapid.IntRange(0, 400).Draw(rt, "count")
		runEntries := rapid.IntRange(8, 64).Draw(rt, "run")
		s := newSorter(byKey, runEntries, t.TempDir())
		var all []entry
		for i := range count { // Orders are distinct, as line numbers and timestamps are.
			e := entry{key: model.U128(rapid.Uint64Range(0, 20).Draw(rt, "key")),
				origin: model.U128(rapid.Uint64Range(0, 3).Draw(rt, "origin")),
				order:  uint64(rapid.IntRange(0, 1<<20).Draw(rt, "order")<<10 | i),
				amount: model.Uint128{Lo: rapid.Uint64().Draw(rt, "amount")},
				ledger: rapid.Uint32().Draw(rt, "ledger"), status: 3, side: 1, kind: 2, flags: 9}
			all = append(all, e)
			if err := s.add(&e); err != nil {
				rt.Fatal(err)
			}
		}
		sorted, err := s.finish()
		if err != nil {
			rt.Fatal(err)
		}
		defer sorted.close()
		want := append([]entry(nil), all...)
		sortEntries(want)
		for i := range want {
			got, ok, err := sorted.next()
			if err != nil || !ok || byKey(got, &want[i]) != 0 || *got != want[i] {
				rt.Fatalf("entry %d: %+v (%v %v), want %+v", i, got, ok, err, want[i])
			}
		}
		if _, ok, _ := sorted.next(); ok {
			rt.Fatal("more entries than added")
		}
	})
}

func sortEntries(entries []entry) {
	for i := 1; i < len(entries); i++ { // Insertion sort: the naive model.
		for j := i; j > 0 && byKey(&entries[j], &entries[j-1]) < 0; j-- {
			entries[j], entries[j-1] = entries[j-1], entries[j]
		}
	}
}

// TestStatementByteOrderMark: a CSV exported with a UTF-8 byte order mark reads like one
// without; an account whose ledger has no scale cannot read decimal amounts (each line
// says so) but reads minor units.
func TestStatementByteOrderMark(t *testing.T) {
	entries, problems, err := readAll(t, "\xef\xbb\xbfreference,amount\n5,1.25\n", "s.csv",
		Mapping{})
	if err != nil || len(entries) != 1 || problems[0] != "" || entries[0].amount != model.U128(125) {
		t.Fatalf("%+v %q %v", entries, problems, err)
	}
	ledgers, _ := clearing.NewLedgers(nil)
	for _, unit := range []string{AmountUnitMajor, AmountUnitMinor} {
		s, err := openStatement(strings.NewReader("reference,amount\n5,125\n"), "s.csv",
			Mapping{AmountUnit: unit}, ledgers, clearing.LedgerInfo{Ledger: 4})
		if err != nil {
			t.Fatal(err)
		}
		var e entry
		_, problem, _, _ := s.next(&e)
		if (unit == AmountUnitMajor) != strings.Contains(problem, "scale is unknown") ||
			(unit == AmountUnitMinor && e.amount != model.U128(125)) {
			t.Errorf("%s: %q %+v", unit, problem, e)
		}
	}
}
