package reconcile

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sequent/core/model"
	"sequent/tools/clearing"
)

// hunt52bStatement writes text as a statement file named name and reconciles it against
// a world holding one posted payment of 5.00 under reference 7 on the partner's account.
func hunt52bReconcile(t *testing.T, name, text string) (*Report, []string) {
	t.Helper()
	w := newWorld(t)
	w.apply(model.Transfer{ID: w.id(), DebitAccountID: customer, CreditAccountID: partner,
		Amount: model.U128(500), UserData128: model.U128(7), Ledger: 1, Code: 1})
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return outcome(t, w, path, Mapping{}, RunEntriesDefault)
}

// TestHunt52bHeaderNamesAnyCaseAndSpacing: a statement whose header writes a field's name
// in capitals or with spaces around it ("Status", " currency") has that column read.
// Before, an optional column so named was silently left out: a line saying "voided" for
// a posted payment, or "EUR" on a USD account, matched with no difference at all.
func TestHunt52bHeaderNamesAnyCaseAndSpacing(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       []string
	}{
		{"status in capitals", "reference,amount,Status\n7,5.00,voided\n",
			[]string{"status|7|2|10001"}},
		{"currency with spaces", "reference, amount , currency \n7,5.00,EUR\n",
			[]string{"currency|7|2|10001"}},
		{"every name in capitals", "REFERENCE,Amount,Status\n7,5.00,voided\n",
			[]string{"status|7|2|10001"}},
		{"json keys in capitals", `{"Reference":"7","AMOUNT":"5.00","Status":"voided"}` + "\n",
			[]string{"status|7|1|10001"}},
	} {
		name := "statement.csv"
		if c.text[0] == '{' {
			name = "statement.jsonl"
		}
		report, reported := hunt52bReconcile(t, name, c.text)
		if !slices.Equal(reported, c.want) || report.OK {
			t.Errorf("%s: reported %v (ok %v), want %v", c.name, reported, report.OK, c.want)
		}
	}
}

// TestHunt52bAmbiguousHeaderIsRefused: two columns naming one field ("amount" and
// "Amount") leave which one the statement means open; the run stops rather than pick one.
func TestHunt52bAmbiguousHeaderIsRefused(t *testing.T) {
	w := newWorld(t)
	path := filepath.Join(t.TempDir(), "statement.csv")
	if err := os.WriteFile(path, []byte("reference,amount,Amount\n7,5.00,6.00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), Options{Reader: clearing.MemoryReader{Ledger: w.ledger},
		Ledgers: testLedgers(t), Account: partner, Statement: path,
		Window: clearing.Window{Until: w.timestamp + second}})
	if err == nil {
		t.Fatal("a header naming amount twice was accepted")
	}
	// A column mapping naming one of them exactly settles it.
	report, err := Run(context.Background(), Options{Reader: clearing.MemoryReader{Ledger: w.ledger},
		Ledgers: testLedgers(t), Account: partner, Statement: path,
		Mapping: Mapping{Columns: map[string]string{FieldAmount: "Amount"}},
		Window:  clearing.Window{Until: w.timestamp + second}})
	if err != nil || report.Summary.Differences[KindMissingOurs] != 1 ||
		report.FirstDifferences[0].Theirs != "600 USD" {
		t.Fatalf("amount mapped to Amount: %v, %+v", err, report)
	}
	_, reported := hunt52bReconcile(t, "statement.jsonl",
		`{"reference":"7","amount":"5.00","Amount":"6.00"}`+"\n")
	if want := []string{"missing_theirs|7|0|10001", "unreadable||1|"}; !slices.Equal(reported, want) {
		t.Fatalf("a JSON line naming amount twice: reported %v, want %v", reported, want)
	}
}

// TestHunt52bPairsOurPaymentsInTimeOrder: two payments under one reference, the later
// one with the smaller id, and one line agreeing with neither: the line is paired with
// the earlier payment (match.go, step 3: our time order) and the later one is the
// duplicate. Before, payments were taken in id order, so the line was compared with the
// later payment.
func TestHunt52bPairsOurPaymentsInTimeOrder(t *testing.T) {
	w := newWorld(t)
	earlier, later := model.U128(900), model.U128(800)
	for _, id := range []model.Uint128{earlier, later} {
		w.apply(model.Transfer{ID: id, DebitAccountID: customer, CreditAccountID: partner,
			Amount: model.U128(500), UserData128: model.U128(7), Ledger: 1, Code: 1})
	}
	path := filepath.Join(t.TempDir(), "statement.csv")
	if err := os.WriteFile(path, []byte("reference,amount\n7,6.00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, reported := outcome(t, w, path, Mapping{}, 1)
	want := []string{"amount|7|2|900", "duplicate_ours|7|0|800"}
	if !slices.Equal(reported, want) {
		t.Fatalf("reported %v, want %v", reported, want)
	}
}

// cancellingReader cancels the run's context when our transfers are first paged, as an
// interrupt or the command's --timeout would, and ignores the context itself (as the
// in-memory reader does).
type cancellingReader struct {
	clearing.MemoryReader
	cancel context.CancelFunc
}

func (c cancellingReader) GetAccountTransfers(ctx context.Context,
	filter model.AccountFilter) ([]model.Transfer, error) {
	c.cancel()
	return c.MemoryReader.GetAccountTransfers(ctx, filter)
}

// TestHunt52bCancelStopsTheRun: a run whose context ends while it reads ends with the
// context's error, not with a report. Before, the statement was read to its end and the
// sides merged whatever the context said: an interrupted or timed-out run went on for as
// long as a large statement took, and reported as if it had not been stopped.
func TestHunt52bCancelStopsTheRun(t *testing.T) {
	w := newWorld(t)
	w.apply(model.Transfer{ID: w.id(), DebitAccountID: customer, CreditAccountID: partner,
		Amount: model.U128(500), UserData128: model.U128(7), Ledger: 1, Code: 1})
	var text strings.Builder
	text.WriteString("reference,amount\n")
	for i := range 12_288 { // Three times contextCheckEvery.
		fmt.Fprintf(&text, "%d,5.00\n", 7+i)
	}
	path := filepath.Join(t.TempDir(), "statement.csv")
	if err := os.WriteFile(path, []byte(text.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	report, err := Run(ctx, Options{Reader: cancellingReader{clearing.MemoryReader{Ledger: w.ledger},
		cancel}, Ledgers: testLedgers(t), Account: partner, Statement: path, RunEntries: 64,
		Window: clearing.Window{Until: w.timestamp + second}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled run: %v, report %+v; want context.Canceled", err, report)
	}
}

// TestHunt52bRepeatedJSONKeyIsUnreadable: a JSON line naming a key twice states two
// values; it is unreadable, not read as the last. Before, a line saying amount 6.00 and
// then 5.00 matched a payment of 5.00 with no difference.
func TestHunt52bRepeatedJSONKeyIsUnreadable(t *testing.T) {
	report, reported := hunt52bReconcile(t, "statement.jsonl",
		`{"reference":"7","amount":"6.00","note":{"amount":"x:y"},"amount":"5.00"}`+"\n"+
			`{"reference":"8","amount":"5.00","note":"\"amount\":1"}`+"\n")
	want := []string{"missing_ours|8|2|", "missing_theirs|7|0|10001", "unreadable||1|"}
	if !slices.Equal(reported, want) || report.OK {
		t.Fatalf("reported %v (ok %v), want %v", reported, report.OK, want)
	}
}

// TestHunt52bLongCSVRecordStopsTheRun: a CSV record longer than lineBytesMax (a quoted
// field of many lines) stops the run, as an over-long JSON line does, instead of being
// held whole in memory: a quote never closed took the rest of the file.
func TestHunt52bLongCSVRecordStopsTheRun(t *testing.T) {
	w := newWorld(t)
	var text strings.Builder
	text.WriteString("reference,amount,note\n7,5.00,\"")
	for text.Len() < 2*lineBytesMax {
		text.WriteString("a long note, line after line\n")
	}
	text.WriteString("\"\n8,5.00,x\n")
	path := filepath.Join(t.TempDir(), "statement.csv")
	if err := os.WriteFile(path, []byte(text.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	report, err := Run(context.Background(), Options{Reader: clearing.MemoryReader{Ledger: w.ledger},
		Ledgers: testLedgers(t), Account: partner, Statement: path,
		Window: clearing.Window{Until: w.timestamp + second}})
	if !errors.Is(err, errRecordTooLong) {
		t.Fatalf("a %d-byte record: %v (report %v), want errRecordTooLong", text.Len(), err,
			report != nil)
	}
}

// TestHunt52bManyUnreferencedPaymentsAreReported: more than groupEntriesMax payments
// without a reference (fees, internal transfers) are each reported missing_theirs. Before,
// they were held as one reference's group, and past groupEntriesMax the whole run failed
// with "reference 0 is on more than 65536 entries of one side; match by another field",
// which no field could help.
func TestHunt52bManyUnreferencedPaymentsAreReported(t *testing.T) {
	w := newWorld(t)
	count := groupEntriesMax + 2
	batch := make([]model.Transfer, 0, model.EventsPerRequestMax)
	for i := range count {
		transfer := model.Transfer{ID: w.id(), DebitAccountID: customer,
			CreditAccountID: partner, Amount: model.U128(1), Ledger: 1, Code: 1}
		if i == 0 { // A pending one, voided: one payment of two records.
			transfer.Flags = model.TransferPending
			w.apply(transfer)
			w.apply(model.Transfer{ID: w.id(), PendingID: transfer.ID,
				Flags: model.TransferVoidPending})
			continue
		}
		batch = append(batch, transfer)
		if len(batch) == cap(batch) || i == count-1 {
			w.apply(batch...)
			w.timestamp += uint64(len(batch))
			batch = batch[:0]
		}
	}
	path := filepath.Join(t.TempDir(), "statement.csv")
	if err := os.WriteFile(path, []byte("reference,amount\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	report, err := Run(context.Background(), Options{Reader: clearing.MemoryReader{Ledger: w.ledger},
		Ledgers: testLedgers(t), Account: partner, Statement: path, RunEntries: 4096,
		Window: clearing.Window{Until: w.timestamp + second}})
	if err != nil {
		t.Fatal(err)
	}
	s := report.Summary
	if s.Unreferenced != count || s.Differences[KindMissingTheirs] != count ||
		s.OurPayments != count || s.OurRecords != count+1 || s.Total() != count {
		t.Fatalf("%d unreferenced payments: %+v", count, *s)
	}
}

// TestHunt52bCSVCellsNeverStartWithStatementText: the differences' CSV is opened in
// spreadsheets, which run a cell starting with = + - @ as a formula. No cell may start
// with the statement's own text: its values only appear after a fixed prefix (unknown
// status "…"), and amounts, references and ids are written by us (a debit's "-" is
// followed by digits).
func TestHunt52bCSVCellsNeverStartWithStatementText(t *testing.T) {
	w := newWorld(t)
	w.apply(model.Transfer{ID: w.id(), DebitAccountID: partner, CreditAccountID: customer,
		Amount: model.U128(500), UserData128: model.U128(7), Ledger: 1, Code: 1})
	var text strings.Builder
	text.WriteString("reference,amount,currency,status,direction\n")
	for _, formula := range []string{"=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1",
		"=HYPERLINK(\"http://x\")"} {
		quoted := `"` + strings.ReplaceAll(formula, `"`, `""`) + `"`
		for _, row := range [][]string{{quoted, "1.00", "USD", "posted", "credit"},
			{"7", quoted, "USD", "posted", "credit"}, {"7", "1.00", quoted, "posted", "credit"},
			{"7", "1.00", "USD", quoted, "credit"}, {"7", "1.00", "USD", "posted", quoted}} {
			text.WriteString(strings.Join(row, ",") + "\n")
		}
	}
	text.WriteString("7,5.01,USD,pending,debit\n8,1.00,EUR,posted,credit\n")
	path := filepath.Join(t.TempDir(), "statement.csv")
	if err := os.WriteFile(path, []byte(text.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var output bytes.Buffer
	report, err := Run(context.Background(), Options{Reader: clearing.MemoryReader{Ledger: w.ledger},
		Ledgers: testLedgers(t), Account: partner, Statement: path, CSV: &output,
		Window: clearing.Window{Until: w.timestamp + second}})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&output).ReadAll()
	if err != nil || len(rows) < 36 || report.Summary.Differences[KindUnreadable] != 35 {
		t.Fatalf("%d rows, %v, %+v", len(rows), err, *report.Summary)
	}
	for _, row := range rows[1:] {
		for _, cell := range row {
			if cell == "" {
				continue
			}
			switch first := cell[0]; {
			case first == '-' && len(cell) > 1 && cell[1] >= '0' && cell[1] <= '9':
			case strings.ContainsRune("=+-@\t\r", rune(first)):
				t.Errorf("cell %q of row %q starts a formula", cell, row)
			}
		}
	}
}

// TestHunt52bAmountWithTwoSignsIsUnreadable: "-+5.00" is not an amount; before, it was
// read as -5.00 (a debit of 5.00), so a malformed line could match a payment.
func TestHunt52bAmountWithTwoSignsIsUnreadable(t *testing.T) {
	entries, problems, err := readAll(t, "reference,amount\n7,-+5.00\n8,+5.00\n9,-5.00\n",
		"s.csv", Mapping{})
	if err != nil || len(entries) != 3 || problems[0] == "" || problems[1] != "" ||
		problems[2] != "" || entries[1].side != sideCredit || entries[2].side != sideDebit {
		t.Fatalf("%v, %q, %+v", err, problems, entries)
	}
}

// growingReader books a new payment on the partner's account before answering each page
// of its transfers, as a live primary does while the tool pages.
type growingReader struct {
	clearing.MemoryReader
	w     *world
	pages *int
}

func (g growingReader) GetAccountTransfers(ctx context.Context,
	filter model.AccountFilter) ([]model.Transfer, error) {
	*g.pages++
	g.w.apply(model.Transfer{ID: g.w.id(), DebitAccountID: customer, CreditAccountID: partner,
		Amount: model.U128(1), UserData128: model.U128(1 << 40), Ledger: 1, Code: 1})
	return g.MemoryReader.GetAccountTransfers(ctx, filter)
}

// TestHunt52bPagingWhileTransfersAreBooked: 20,000 payments (three pages of
// get_account_transfers) reconciled against a clean statement while a payment is booked
// before each page is read: every payment up to the cut-off is read once (paged newest
// first, each page below the last one's oldest), none booked meanwhile (after the
// cut-off) is, and the statement matches. Checked and fine on main.
func TestHunt52bPagingWhileTransfersAreBooked(t *testing.T) {
	w := newWorld(t)
	const payments = 20_000
	var text strings.Builder
	text.WriteString("reference,amount\n")
	batch := make([]model.Transfer, 0, model.EventsPerRequestMax)
	for i := range payments {
		batch = append(batch, model.Transfer{ID: w.id(), DebitAccountID: customer,
			CreditAccountID: partner, Amount: model.U128(uint64(100 + i)),
			UserData128: model.U128(uint64(1 + i)), Ledger: 1, Code: 1})
		fmt.Fprintf(&text, "%d,%s\n", 1+i, clearing.FormatAmount(model.U128(uint64(100+i)), 2))
		if len(batch) == cap(batch) || i == payments-1 {
			w.apply(batch...)
			batch = batch[:0]
		}
	}
	path := filepath.Join(t.TempDir(), "statement.csv")
	if err := os.WriteFile(path, []byte(text.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	pages := 0
	report, err := Run(context.Background(), Options{
		Reader:  growingReader{clearing.MemoryReader{Ledger: w.ledger}, w, &pages},
		Ledgers: testLedgers(t), Account: partner, Statement: path, RunEntries: 1024,
		Window: clearing.Window{Until: w.timestamp + second - 1}})
	if err != nil {
		t.Fatal(err)
	}
	if s := report.Summary; !report.OK || s.OurRecords != payments || s.Matched != payments ||
		pages < 3 {
		t.Fatalf("ok %v after %d pages: %+v", report.OK, pages, *s)
	}
}
