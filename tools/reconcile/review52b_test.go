package reconcile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/tools/clearing"
)

// review52bInterruptingCheck is a check during which the run is interrupted (SIGINT or
// --timeout ends the context while the check reads Sequent); like a real reader, it
// then fails with the context's error.
type review52bInterruptingCheck struct{ cancel context.CancelFunc }

func (review52bInterruptingCheck) Name() string { return "trial_balance" }

func (c review52bInterruptingCheck) Run(ctx context.Context) (Section, error) {
	c.cancel()
	<-ctx.Done()
	return Section{}, context.Cause(ctx)
}

// TestReview52bInterruptDuringChecksIsNotAVerdict (claim: README and `sequent reconcile
// --help` say an interrupt or --timeout is exit 2 and leaves no --json/--csv file, and
// hunt52b's cd0adb45 says a cancelled context stops the run): a run whose context ends
// while a check runs must end with the context's error, not with a report. Before, the
// check became a failed section "could not be performed" and Run returned a report (not
// OK): the command exited 1, "differences or a failed check", and kept both report files.
func TestReview52bInterruptDuringChecksIsNotAVerdict(t *testing.T) {
	w := newWorld(t)
	w.apply(model.Transfer{ID: w.id(), DebitAccountID: customer, CreditAccountID: partner,
		Amount: model.U128(500), UserData128: model.U128(7), Ledger: 1, Code: 1})
	path := filepath.Join(t.TempDir(), "statement.csv")
	if err := os.WriteFile(path, []byte("reference,amount\n7,5.00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	report, err := Run(ctx, Options{Reader: clearing.MemoryReader{Ledger: w.ledger},
		Ledgers: testLedgers(t), Account: partner, Statement: path,
		Checks: []Check{review52bInterruptingCheck{cancel}},
		Window: clearing.Window{Until: w.timestamp + second}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a run interrupted during its checks: error %v, report %+v; want "+
			"context.Canceled", err, report)
	}
}

// TestReview52bJSONKeyNamedExactlyByColumnSettlesTheAmbiguity (claim: README "two
// columns or keys naming one field are refused unless --column names one exactly"): a
// JSON line with the keys "Amount" and "amount", read with --column amount=Amount, is
// read by its "Amount" key, as the CSV header's columns are. Before, the exception held
// for CSV only: every such line was unreadable.
func TestReview52bJSONKeyNamedExactlyByColumnSettlesTheAmbiguity(t *testing.T) {
	w := newWorld(t)
	w.apply(model.Transfer{ID: w.id(), DebitAccountID: customer, CreditAccountID: partner,
		Amount: model.U128(500), UserData128: model.U128(7), Ledger: 1, Code: 1})
	path := filepath.Join(t.TempDir(), "statement.jsonl")
	text := `{"reference":"7","Amount":"5.00","amount":"6.00"}` + "\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	report, reported := outcome(t, w, path,
		Mapping{Columns: map[string]string{FieldAmount: "Amount"}}, RunEntriesDefault)
	if len(reported) != 0 || !report.OK {
		t.Fatalf("reported %v (ok %v), want none: --column amount=Amount names the key "+
			"\"Amount\" exactly", reported, report.OK)
	}
	// Without the mapping the two keys stay ambiguous: the line is unreadable.
	_, reported = outcome(t, w, path, Mapping{}, RunEntriesDefault)
	if want := []string{"missing_theirs|7|0|10001", "unreadable||1|"}; !slices.Equal(reported,
		want) {
		t.Fatalf("without a mapping: reported %v, want %v", reported, want)
	}
}

// TestReview52bJSONEscapedAndFoldedKeys (checked fine): the same key twice, once
// escaped, is a repeated key (unreadable), not read as the last. A key read as a field
// and written with escapes ("\u0053tatus") was the field once decoded; since api53 it is
// unreadable too (TestAPI53EscapedJSONKeyIsUnreadable).
func TestReview52bJSONEscapedAndFoldedKeys(t *testing.T) {
	report, reported := hunt52bReconcile(t, "statement.jsonl",
		`{"reference":"7","amount":"5.00","\u0053tatus":"voided"}`+"\n"+
			`{"reference":"7","amount":"5.00","status":"posted","\u0073tatus":"voided"}`+"\n")
	want := []string{"missing_theirs|7|0|10001", "unreadable||1|", "unreadable||2|"}
	if !slices.Equal(reported, want) || report.OK {
		t.Fatalf("reported %v (ok %v), want %v", reported, report.OK, want)
	}
}

// TestReview52bCancelStopsAStatementReadBlocked (claim: cd0adb45, "a cancelled context
// (interrupt, --timeout) stops the statement's reading"): a statement read from a pipe
// (--statement <(zcat s.csv.gz), /dev/stdin, a FIFO) whose writer stalls leaves the
// reader blocked in a read, where the look at the context every contextCheckEvery lines
// never comes. Since sequent reconcile turns SIGINT into a cancel, instead of dying by
// it, Ctrl-C was then ignored until the writer went on or closed: the run must end with
// the context's error once it is cancelled.
func TestReview52bCancelStopsAStatementReadBlocked(t *testing.T) {
	review52bCancelBlockedStatement(t, true)
	// A writer that stalls before the header: the header's read blocks.
	review52bCancelBlockedStatement(t, false)
}

func review52bCancelBlockedStatement(t *testing.T, lines bool) {
	w := newWorld(t)
	w.apply(model.Transfer{ID: w.id(), DebitAccountID: customer, CreditAccountID: partner,
		Amount: model.U128(500), UserData128: model.U128(7), Ledger: 1, Code: 1})
	path := filepath.Join(t.TempDir(), "statement.csv")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	writer := make(chan *os.File, 1)
	go func() {
		file, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			writer <- nil
			return
		}
		// Three times the reader's buffer: the write returns only once the reader has
		// taken most of it, so past its first look at the context (and far from its next,
		// 4,096 lines on). Then the writer stalls.
		note := strings.Repeat("x", 20_000)
		var text strings.Builder
		text.WriteString("reference,amount,note\n")
		for i := 0; text.Len() < 3*readBufferBytes; i++ {
			fmt.Fprintf(&text, "%d,5.00,%s\n", 1000+i, note)
		}
		if lines {
			file.WriteString(text.String())
		}
		writer <- file
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Options{Reader: clearing.MemoryReader{Ledger: w.ledger},
			Ledgers: testLedgers(t), Account: partner, Statement: path,
			Window: clearing.Window{Until: w.timestamp + second}})
		done <- err
	}()
	file := <-writer
	if file == nil {
		t.Fatal("the statement's writer could not open the FIFO")
	}
	defer file.Close() // Lets a run still blocked finish, once the test has failed.
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("a cancelled run: %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the run, cancelled while its statement's read was blocked (lines %v), did "+
			"not end within 20 s", lines)
	}
}

// TestReview52bHeaderNamesIgnoreInvisibleCharacters (claim: b7cf327a, names match "with
// spaces ignored"; a status column left out is a silent match): a zero-width space
// (U+200B, pasted from web pages and spreadsheets) or a byte order mark (U+FEFF, a
// second one, or one before a later column of concatenated exports) around a name is
// invisible like the spaces TrimSpace removes. Before, "status\u200b" or "\ufeffstatus"
// was not the status column: a line saying "voided" matched a posted payment with no
// difference at all.
func TestReview52bHeaderNamesIgnoreInvisibleCharacters(t *testing.T) {
	for _, c := range []struct{ name, text string }{
		{"zero-width space", "reference,amount,status\u200b\n7,5.00,voided\n"},
		{"two byte order marks", "\ufeff\ufeffstatus,reference,amount\nvoided,7,5.00\n"},
		{"json key", "{\"reference\":\"7\",\"amount\":\"5.00\",\"\u200bstatus\":\"voided\"}\n"},
	} {
		name := "statement.csv"
		if c.text[0] == '{' {
			name = "statement.jsonl"
		}
		report, reported := hunt52bReconcile(t, name, c.text)
		line := "2"
		if name == "statement.jsonl" {
			line = "1"
		}
		if want := []string{"status|7|" + line + "|10001"}; !slices.Equal(reported, want) ||
			report.OK {
			t.Errorf("%s: reported %v (ok %v), want %v", c.name, reported, report.OK, want)
		}
	}
}

// TestReview52bJSONKeyStatedEmptyIsNotUnstated (claim: hunt52b's fix class, a field the
// statement states must be compared): a JSON line naming the status, currency or
// direction key with an empty or null value states it as a CSV line does with an empty
// cell in that column, which is unreadable ("no status", unknown currency, unknown
// direction). Before, the key was read as absent: {"status":""} matched a voided payment
// as well as a posted one, with no difference.
func TestReview52bJSONKeyStatedEmptyIsNotUnstated(t *testing.T) {
	report, reported := hunt52bReconcile(t, "statement.jsonl",
		`{"reference":"7","amount":"5.00","status":""}`+"\n"+
			`{"reference":"7","amount":"5.00","status":null}`+"\n"+
			`{"reference":"7","amount":"5.00","currency":""}`+"\n"+
			`{"reference":"7","amount":"5.00","direction":null}`+"\n")
	want := []string{"missing_theirs|7|0|10001", "unreadable||1|", "unreadable||2|",
		"unreadable||3|", "unreadable||4|"}
	if !slices.Equal(reported, want) || report.OK {
		t.Fatalf("reported %v (ok %v), want %v", reported, report.OK, want)
	}
	// The CSV reading of the same lines, for comparison.
	_, reported = hunt52bReconcile(t, "statement.csv",
		"reference,amount,status\n7,5.00,\n")
	if want := []string{"missing_theirs|7|0|10001", "unreadable||2|"}; !slices.Equal(reported,
		want) {
		t.Fatalf("CSV: reported %v, want %v", reported, want)
	}
}
