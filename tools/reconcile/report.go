package reconcile

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Kinds of difference.
const (
	KindMissingOurs     = "missing_ours"     // On the statement, not in Sequent.
	KindMissingTheirs   = "missing_theirs"   // In Sequent, not on the statement.
	KindAmount          = "amount"           // Amount or direction differs.
	KindCurrency        = "currency"         // The statement's currency is not the ledger's.
	KindStatus          = "status"           // Posted, pending, voided or expired differs.
	KindDuplicateOurs   = "duplicate_ours"   // Another Sequent payment with a reference already matched or reported.
	KindDuplicateTheirs = "duplicate_theirs" // Another statement line with a reference already matched or reported.
	KindUnreadable      = "unreadable"       // A statement line that could not be read.
)

// Kinds lists every kind, in report order.
var Kinds = []string{KindMissingOurs, KindMissingTheirs, KindAmount, KindCurrency, KindStatus,
	KindDuplicateOurs, KindDuplicateTheirs, KindUnreadable}

// Difference is one reported difference.
type Difference struct {
	Kind       string `json:"kind"`
	Reference  string `json:"reference,omitempty"`   // The key, in decimal.
	Line       uint64 `json:"line,omitempty"`        // The statement's line.
	TransferID string `json:"transfer_id,omitempty"` // Our payment's transfer.
	Ours       string `json:"ours,omitempty"`        // Our value of the differing field (or the payment).
	Theirs     string `json:"theirs,omitempty"`      // The statement's value (or the line).
	Detail     string `json:"detail,omitempty"`
}

// Summary counts what the statement section found.
type Summary struct {
	StatementLines     int            `json:"statement_lines"`   // Lines read (readable or not).
	OurRecords         int            `json:"our_records"`       // Transfer records in the window.
	OurPayments        int            `json:"our_payments"`      // After folding posts and voids.
	Matched            int            `json:"matched"`           // Pairs with no difference.
	MatchedWithProblem int            `json:"matched_differing"` // Pairs with at least one difference.
	Differences        map[string]int `json:"differences"`       // Per kind.
	// ResolutionsBeforeWindow counts posts and voids in the window of pending transfers
	// made before it: not payments of the window, so not reconciled (widen the window to
	// include them).
	ResolutionsBeforeWindow int `json:"resolutions_before_window"`
	// Unreferenced counts our payments without a reference (reported as missing_theirs).
	Unreferenced int `json:"unreferenced"`
}

// Total returns the number of differences.
func (s *Summary) Total() int {
	total := 0
	for _, count := range s.Differences {
		total += count
	}
	return total
}

// sink receives differences as they are found: it counts them, keeps the first few for
// the text report, and streams each to the JSON and CSV outputs, so memory does not grow
// with their number.
type sink struct {
	summary  *Summary
	first    []Difference
	firstMax int
	json     *bufio.Writer // nil: none.
	jsonRows int
	csv      *csv.Writer // nil: none.
	err      error       // The first write error.
}

// CSVHeader is the first line of the differences CSV.
var CSVHeader = []string{"kind", "reference", "line", "transfer_id", "ours", "theirs", "detail"}

// newSink returns a sink writing to jsonOutput (the report's buffered JSON document, or
// nil) and csvOutput (or nil).
func newSink(summary *Summary, firstMax int, jsonOutput *bufio.Writer,
	csvOutput io.Writer) *sink {
	s := &sink{summary: summary, firstMax: firstMax, json: jsonOutput}
	if csvOutput != nil {
		s.csv = csv.NewWriter(csvOutput)
		s.err = s.csv.Write(CSVHeader)
	}
	return s
}

func (s *sink) add(d Difference) {
	s.summary.Differences[d.Kind]++
	if len(s.first) < s.firstMax {
		s.first = append(s.first, d)
	}
	if s.err != nil {
		return
	}
	if s.json != nil {
		s.writeJSON(&d)
	}
	if s.csv != nil && s.err == nil {
		line := ""
		if d.Line != 0 {
			line = strconv.FormatUint(d.Line, 10)
		}
		s.err = s.csv.Write([]string{d.Kind, d.Reference, line, d.TransferID, d.Ours,
			d.Theirs, d.Detail})
	}
}

func (s *sink) writeJSON(d *Difference) {
	encoded, err := json.Marshal(d)
	if err != nil {
		s.err = err
		return
	}
	if s.jsonRows > 0 {
		s.json.WriteString(",\n")
	}
	s.jsonRows++
	_, s.err = s.json.Write(encoded)
}

// Report is the whole reconciliation: the statement section and every check.
type Report struct {
	ReportHead
	Summary *Summary  `json:"summary,omitempty"`
	Checks  []Section `json:"checks"`
	OK      bool      `json:"ok"` // No difference and every check passed.

	// FirstDifferences holds the first differences found, for the text report.
	FirstDifferences []Difference `json:"-"`
}

// ReportHead is what a report knows before the first difference: the JSON document
// starts with it, then streams the differences, then ends with the rest of Report.
type ReportHead struct {
	Account   string `json:"account"`
	Ledger    uint32 `json:"ledger"`
	Currency  string `json:"currency"`
	From      string `json:"from"`
	Until     string `json:"until"`
	MatchBy   string `json:"match_by"`
	Statement string `json:"statement,omitempty"`
}

// writeJSONHead starts the JSON document: everything known before the differences.
func (r *Report) writeJSONHead(w *bufio.Writer) error {
	encoded, err := json.Marshal(r.ReportHead)
	if err != nil {
		return err
	}
	w.Write(encoded[:len(encoded)-1]) // Leave the object open.
	_, err = w.WriteString(`,"differences":[` + "\n")
	return err
}

// writeJSONTail ends the JSON document with what is known at the end.
func (r *Report) writeJSONTail(w *bufio.Writer) error {
	tail := struct {
		Summary *Summary  `json:"summary,omitempty"`
		Checks  []Section `json:"checks"`
		OK      bool      `json:"ok"`
	}{r.Summary, r.Checks, r.OK}
	encoded, err := json.Marshal(tail)
	if err != nil {
		return err
	}
	w.WriteString("\n],")
	w.Write(encoded[1:]) // Continue the open object.
	w.WriteString("\n")
	return w.Flush()
}

// Text writes the human summary: counts, the first differences, each check.
func (r *Report) Text(w io.Writer) {
	fmt.Fprintf(w, "reconcile: account %s (ledger %d, %s), window %s … %s, matched by %s\n",
		r.Account, r.Ledger, r.Currency, orStart(r.From), r.Until, r.MatchBy)
	if s := r.Summary; s != nil {
		fmt.Fprintf(w, "statement %s: %d lines; ours: %d payments (%d transfer records)\n",
			r.Statement, s.StatementLines, s.OurPayments, s.OurRecords)
		fmt.Fprintf(w, "  matched: %d; matched with differences: %d; differences: %d\n",
			s.Matched, s.MatchedWithProblem, s.Total())
		for _, kind := range Kinds {
			if count := s.Differences[kind]; count > 0 {
				fmt.Fprintf(w, "    %-17s %d\n", kind, count)
			}
		}
		if s.ResolutionsBeforeWindow > 0 {
			fmt.Fprintf(w, "  note: %d posts or voids of pending transfers made before the "+
				"window were not reconciled\n", s.ResolutionsBeforeWindow)
		}
		for _, d := range r.FirstDifferences {
			fmt.Fprintf(w, "  %s\n", d.text())
		}
		if shown := len(r.FirstDifferences); shown < s.Total() {
			fmt.Fprintf(w, "  … and %d more (see the JSON or CSV output)\n", s.Total()-shown)
		}
	}
	for _, section := range r.Checks {
		verdict := "ok"
		if !section.OK {
			verdict = "FAILED"
		}
		fmt.Fprintf(w, "%s: %s: %s\n", section.Name, verdict, section.Summary)
		for _, problem := range section.Problems {
			fmt.Fprintf(w, "  %s\n", problem)
		}
	}
	verdict := "everything matches"
	if !r.OK {
		verdict = "DIFFERENCES FOUND"
	}
	fmt.Fprintf(w, "reconcile: %s\n", verdict)
}

func orStart(text string) string {
	if text == "" {
		return "(start)"
	}
	return text
}

func (d *Difference) text() string {
	parts := []string{d.Kind}
	for _, part := range [][2]string{{"reference", d.Reference}, {"line", lineText(d.Line)},
		{"transfer", d.TransferID}, {"ours", d.Ours}, {"theirs", d.Theirs}, {"", d.Detail}} {
		if part[1] != "" {
			if part[0] == "" {
				parts = append(parts, part[1])
			} else {
				parts = append(parts, part[0]+" "+part[1])
			}
		}
	}
	return strings.Join(parts, "  ")
}

func lineText(line uint64) string {
	if line == 0 {
		return ""
	}
	return strconv.FormatUint(line, 10)
}
