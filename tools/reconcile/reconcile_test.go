package reconcile

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/ledger"
	"sequent/core/model"
	"sequent/tools/clearing"
)

const second = uint64(1_000_000_000)

// Accounts of the generated world: the partner's settlement account (USD, ledger 1,
// scale 2) is reconciled; a customer account is the other side of every payment.
var (
	partner  = model.U128(50)
	customer = model.U128(1)
)

func testLedgers(t testing.TB) *clearing.Ledgers {
	ledgers, err := clearing.NewLedgers([]clearing.LedgerInfo{{Ledger: 1, Name: "USD",
		Scale: 2}, {Ledger: 2, Name: "EUR", Scale: 2}, {Ledger: 3, Name: "BTC", Scale: 8}})
	if err != nil {
		t.Fatal(err)
	}
	return ledgers
}

// world is a ledger with payments on the partner's account, and the truth about each.
type world struct {
	t         testing.TB
	ledger    *ledger.Ledger
	timestamp uint64
	nextID    uint64
	payments  []truth
}

// truth is what the statement should say about one payment.
type truth struct {
	reference model.Uint128
	id        model.Uint128 // The payment's transfer (a pending one's own id).
	amount    uint64        // Minor units, as it counts at the cut-off.
	side      uint8
	status    uint8
}

func newWorld(t testing.TB) *world {
	w := &world{t: t, ledger: ledger.New(ledger.Config{HashSeed: 2}), timestamp: 1_000 * second,
		nextID: 10_000}
	accounts := []model.Account{{ID: customer, Ledger: 1, Code: 1},
		{ID: partner, Ledger: 1, Code: 2}, {ID: model.U128(60), Ledger: 2, Code: 2}}
	results := make([]model.EventResult, len(accounts))
	w.ledger.CreateAccounts(w.timestamp, accounts, results)
	w.timestamp += second
	return w
}

func (w *world) apply(transfers ...model.Transfer) {
	w.t.Helper()
	w.timestamp += second
	w.ledger.Expire(w.timestamp, nil)
	results := make([]model.TransferResult, len(transfers))
	w.ledger.CreateTransfers(w.timestamp, transfers, results)
	for i := range results {
		if results[i].Status != model.StatusOK {
			w.t.Fatalf("transfer %s: %s", transfers[i].ID, results[i].Status)
		}
	}
}

func (w *world) id() model.Uint128 {
	w.nextID++
	return model.U128(w.nextID)
}

// pay books one payment of a random kind under reference and records its truth.
func (w *world) pay(random *rand.Rand, reference model.Uint128) {
	amount := 1 + random.Uint64N(1_000_000)
	debit, credit, side := customer, partner, sideCredit
	if random.IntN(4) == 0 {
		debit, credit, side = partner, customer, sideDebit
	}
	t := model.Transfer{ID: w.id(), DebitAccountID: debit, CreditAccountID: credit,
		Amount: model.U128(amount), UserData128: reference, Ledger: 1, Code: 1}
	truth := truth{reference: reference, id: t.ID, amount: amount, side: side,
		status: statusPosted}
	switch random.IntN(6) {
	case 1: // Pending, then posted in part.
		t.Flags = model.TransferPending
		posted := 1 + random.Uint64N(amount)
		w.apply(t)
		w.apply(model.Transfer{ID: w.id(), PendingID: t.ID, Amount: model.U128(posted),
			Flags: model.TransferPostPending})
		truth.amount = posted
	case 2: // Pending, then voided.
		t.Flags = model.TransferPending
		w.apply(t)
		w.apply(model.Transfer{ID: w.id(), PendingID: t.ID, Flags: model.TransferVoidPending})
		truth.status = statusVoided
	case 3: // Pending, still open at the cut-off.
		t.Flags = model.TransferPending
		w.apply(t)
		truth.status = statusPending
	case 4: // Pending with a timeout of 1 s: expired by the cut-off.
		t.Flags, t.Timeout = model.TransferPending, 1
		w.apply(t)
		truth.status = statusExpired
	default:
		w.apply(t)
	}
	w.payments = append(w.payments, truth)
}

// line is one statement line before it is written.
type line struct {
	reference string
	amount    string // Major units, unsigned.
	side      uint8
	currency  string
	status    string
}

func (w *world) lineOf(p *truth) line {
	return line{reference: p.reference.String(), amount: clearing.FormatAmount(
		model.U128(p.amount), 2), side: p.side, currency: "USD", status: statusNames[p.status]}
}

// plan is a statement with planted differences and what must be reported.
type plan struct {
	lines    []line
	expected []string // kind|reference|line|transfer, sorted.
}

// plant builds the statement from the truth, then plants count differences of each kind
// on distinct payments, and computes what the report must hold.
func (w *world) plant(random *rand.Rand, count int) plan {
	order := random.Perm(len(w.payments))
	next := func() *truth {
		if len(order) == 0 {
			return nil
		}
		p := &w.payments[order[0]]
		order = order[1:]
		return p
	}
	type planted struct {
		kind     string
		line     *line // The line that must be reported, if any.
		twin     *line // Of two identical lines, the later is the duplicate.
		transfer string
		ref      string
	}
	var lines []*line
	var marks []planted
	dropped := map[*truth]bool{}
	for range count {
		if p := next(); p != nil { // missing_theirs: the line is left out.
			dropped[p] = true
			marks = append(marks, planted{kind: KindMissingTheirs, transfer: p.id.String(),
				ref: p.reference.String()})
		}
		for _, kind := range []string{KindAmount, KindCurrency, KindStatus, KindDuplicateTheirs,
			KindDuplicateOurs} {
			p := next()
			if p == nil {
				continue
			}
			l := w.lineOf(p)
			dropped[p] = true
			switch kind {
			case KindAmount:
				l.amount = clearing.FormatAmount(model.U128(p.amount+1), 2)
			case KindCurrency:
				l.currency = "EUR"
			case KindStatus:
				l.status = statusNames[p.status%4+1]
			case KindDuplicateTheirs:
				copied := l
				lines = append(lines, &copied)
				marks = append(marks, planted{kind: kind, line: &l, twin: &copied,
					ref: p.reference.String()})
			case KindDuplicateOurs: // A second transfer under the same reference.
				extra := model.Transfer{ID: w.id(), DebitAccountID: customer,
					CreditAccountID: partner, Amount: model.U128(p.amount + 7),
					UserData128: p.reference, Ledger: 1, Code: 1}
				w.apply(extra)
				marks = append(marks, planted{kind: kind, transfer: extra.ID.String(),
					ref: p.reference.String()})
			}
			lines = append(lines, &l)
			if kind != KindDuplicateOurs && kind != KindDuplicateTheirs {
				marks = append(marks, planted{kind: kind, line: &l, transfer: p.id.String(),
					ref: p.reference.String()})
			}
		}
		missing := &line{reference: strconv.FormatUint(9_000_000_000+random.Uint64N(1<<30), 10),
			amount: "1.00", side: sideCredit, currency: "USD", status: "posted"}
		lines = append(lines, missing)
		marks = append(marks, planted{kind: KindMissingOurs, line: missing, ref: missing.reference})
		garbage := &line{reference: "77", amount: "12,50", side: sideCredit, currency: "USD",
			status: "posted"}
		lines = append(lines, garbage)
		marks = append(marks, planted{kind: KindUnreadable, line: garbage})
	}
	for i := range w.payments {
		if !dropped[&w.payments[i]] {
			l := w.lineOf(&w.payments[i])
			lines = append(lines, &l)
		}
	}
	random.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	number := map[*line]int{}
	for i, l := range lines {
		number[l] = i + 1
	}
	result := plan{}
	for _, l := range lines {
		result.lines = append(result.lines, *l)
	}
	for _, m := range marks {
		lineNumber := 0
		if m.line != nil {
			lineNumber = number[m.line]
		}
		if m.twin != nil {
			lineNumber = max(lineNumber, number[m.twin])
		}
		result.expected = append(result.expected,
			fmt.Sprintf("%s|%s|%d|%s", m.kind, m.ref, lineNumber, m.transfer))
	}
	slices.Sort(result.expected)
	return result
}

// format writes the statement in one of the supported layouts and returns the mapping
// that reads it and the line number of the first record (1 without a header).
type format struct {
	name    string
	write   func(lines []line) string
	mapping Mapping
	first   int
	ext     string
}

var formats = []format{
	{name: "csv with header and direction", ext: ".csv", first: 2, write: func(lines []line) string {
		var b strings.Builder
		b.WriteString("ref,value,ccy,state,dir\n")
		for _, l := range lines {
			direction := "C"
			if l.side == sideDebit {
				direction = "D"
			}
			fmt.Fprintf(&b, "%s,%s,%s,%s,%s\n", l.reference, l.amount, l.currency,
				strings.ToUpper(l.status), direction)
		}
		return b.String()
	}, mapping: Mapping{Columns: map[string]string{FieldReference: "ref", FieldAmount: "value",
		FieldCurrency: "ccy", FieldStatus: "state", FieldDirection: "dir"}}},
	{name: "json lines, signed amounts", ext: ".jsonl", first: 1, write: func(lines []line) string {
		var b strings.Builder
		for _, l := range lines {
			sign := ""
			if l.side == sideDebit {
				sign = "-"
			}
			fmt.Fprintf(&b, `{"reference":%q,"amount":%q,"currency":%q,"status":%q}`+"\n",
				l.reference, sign+l.amount, l.currency, l.status)
		}
		return b.String()
	}},
	{name: "semicolons, no header, minor units, partner's view", ext: ".txt", first: 1,
		write: func(lines []line) string {
			var b strings.Builder
			for _, l := range lines {
				units := strings.Replace(l.amount, ".", "", 1)
				if units, err := clearing.ParseAmount(l.amount, 2); err == nil {
					value := units.String()
					if l.side == sideCredit { // Inverted: their debit is our credit.
						value = "-" + value
					}
					fmt.Fprintf(&b, "x;%s;%s;%s;%s\n", l.status, value, l.reference, l.currency)
					continue
				}
				fmt.Fprintf(&b, "x;%s;%s;%s;%s\n", l.status, units, l.reference, l.currency)
			}
			return b.String()
		}, mapping: Mapping{Comma: ';', NoHeader: true, AmountUnit: AmountUnitMinor,
			Invert: true, Columns: map[string]string{FieldStatus: "2", FieldAmount: "3",
				FieldReference: "4", FieldCurrency: "5"}}},
}

// outcome runs a reconciliation and returns the report and the differences it wrote to
// its JSON output (kind|reference|line|transfer, sorted), checking the CSV output has the
// same rows.
func outcome(t testing.TB, w *world, statement string, mapping Mapping, runEntries int) (
	*Report, []string) {
	t.Helper()
	var jsonOutput, csvOutput bytes.Buffer
	report, err := Run(context.Background(), Options{Reader: clearing.MemoryReader{Ledger: w.ledger},
		Ledgers: testLedgers(t), Account: partner, Statement: statement, Mapping: mapping,
		RunEntries: runEntries, JSON: &jsonOutput, CSV: &csvOutput,
		Window: clearing.Window{Until: w.timestamp + 100*second}})
	if err != nil {
		t.Fatal(err)
	}
	var document struct {
		Differences []Difference `json:"differences"`
		Summary     Summary      `json:"summary"`
		OK          bool         `json:"ok"`
	}
	if err := json.Unmarshal(jsonOutput.Bytes(), &document); err != nil {
		t.Fatalf("JSON output: %v\n%s", err, jsonOutput.String())
	}
	rows, err := csv.NewReader(&csvOutput).ReadAll()
	if err != nil || len(rows) != len(document.Differences)+1 ||
		!slices.Equal(rows[0], CSVHeader) {
		t.Fatalf("CSV output: %d rows for %d differences: %v", len(rows),
			len(document.Differences), err)
	}
	var reported []string
	for _, d := range document.Differences {
		transfer := d.TransferID
		if d.Kind == KindMissingOurs || d.Kind == KindDuplicateTheirs || d.Kind == KindUnreadable {
			transfer = ""
		}
		reported = append(reported, fmt.Sprintf("%s|%s|%d|%s", d.Kind, d.Reference, d.Line,
			transfer))
	}
	slices.Sort(reported)
	if document.OK != report.OK || document.Summary.Total() != len(document.Differences) {
		t.Fatalf("JSON ok %v, report ok %v; summary %d, listed %d", document.OK, report.OK,
			document.Summary.Total(), len(document.Differences))
	}
	return report, reported
}

func writeStatement(t testing.TB, f format, lines []line) string {
	path := filepath.Join(t.TempDir(), "statement"+f.ext)
	if err := os.WriteFile(path, []byte(f.write(lines)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPlantedDifferences generates payments of every kind (single-phase credits and
// debits; pending ones posted in part, voided, open and expired), writes the statement in
// each supported layout with differences of every kind planted on distinct payments, and
// requires the report to list exactly the planted differences, nothing more, nothing
// less; a clean statement must match entirely. Small sort runs force the on-disk merge.
func TestPlantedDifferences(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		random := rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "seed"), 1))
		w := newWorld(t)
		for i := range rapid.IntRange(0, 120).Draw(rt, "payments") {
			w.pay(random, model.U128(uint64(100_000+i*3)))
		}
		f := formats[rapid.IntRange(0, len(formats)-1).Draw(rt, "format")]
		runEntries := rapid.SampledFrom([]int{5, 64, RunEntriesDefault}).Draw(rt, "run")
		plan := w.plant(random, rapid.IntRange(0, 2).Draw(rt, "planted"))
		for i := range plan.expected { // Line numbers count the header.
			plan.expected[i] = shiftLine(plan.expected[i], f.first-1)
		}
		slices.Sort(plan.expected)
		report, reported := outcome(t, w, writeStatement(t, f, plan.lines), f.mapping, runEntries)
		if !slices.Equal(reported, plan.expected) {
			rt.Fatalf("%s: reported\n  %s\nplanted\n  %s", f.name,
				strings.Join(reported, "\n  "), strings.Join(plan.expected, "\n  "))
		}
		if report.OK != (len(plan.expected) == 0) {
			rt.Fatalf("ok %v with %d differences", report.OK, len(plan.expected))
		}
	})
}

// shiftLine adds offset to the line field of a kind|reference|line|transfer string.
func shiftLine(text string, offset int) string {
	parts := strings.Split(text, "|")
	if number, _ := strconv.Atoi(parts[2]); number != 0 {
		parts[2] = strconv.Itoa(number + offset)
	}
	return strings.Join(parts, "|")
}

// TestCleanStatementMatches: every payment kind, each layout, no difference: OK, with
// every payment matched.
func TestCleanStatementMatches(t *testing.T) {
	random := rand.New(rand.NewPCG(1, 2))
	w := newWorld(t)
	for i := range 300 {
		w.pay(random, model.U128(uint64(500+i)))
	}
	for _, f := range formats {
		plan := w.plant(random, 0)
		report, reported := outcome(t, w, writeStatement(t, f, plan.lines), f.mapping, 16)
		if !report.OK || len(reported) != 0 || report.Summary.Matched != 300 ||
			report.Summary.OurPayments != 300 || report.Summary.StatementLines != 300 {
			t.Errorf("%s: ok %v, %+v, %v", f.name, report.OK, *report.Summary, reported)
		}
	}
}

// TestOutputsOptional runs with each output left out (the command passes only those asked
// for): the report must be the same, and the CSV alone must list every difference.
func TestOutputsOptional(t *testing.T) {
	random := rand.New(rand.NewPCG(3, 4))
	w := newWorld(t)
	for i := range 20 {
		w.pay(random, model.U128(uint64(700+i)))
	}
	plan := w.plant(random, 1)
	path := writeStatement(t, formats[0], plan.lines)
	for _, withCSV := range []bool{false, true} {
		var csvOutput bytes.Buffer
		options := Options{Reader: clearing.MemoryReader{Ledger: w.ledger},
			Ledgers: testLedgers(t), Account: partner, Statement: path,
			Mapping: formats[0].mapping, Window: clearing.Window{Until: w.timestamp + second}}
		if withCSV {
			options.CSV = &csvOutput
		}
		report, err := Run(context.Background(), options)
		if err != nil || report.OK || report.Summary.Total() != len(plan.expected) {
			t.Fatalf("csv %v: %v, %+v", withCSV, err, report)
		}
		if rows := strings.Count(csvOutput.String(), "\n"); withCSV && rows != len(plan.expected)+1 {
			t.Fatalf("%d CSV lines for %d differences", rows, len(plan.expected))
		}
	}
}
