package reconcile

import (
	"strings"
	"testing"
)

// TestReviewHN49UnclosedQuoteDoesNotSwallowTheLinesAfterIt: a quote opened and never
// closed makes encoding/csv read every later line into that field until the end of the
// file, then report ErrQuote at the line where the field started. hunt49 made such an
// error one unreadable line and read on, but there is nothing left: the lines after it
// vanished without a word (no line, no problem), and their payments would all be reported
// missing from the statement. A quote error that spans more than one line must stop the
// run (as before hunt49), naming the line where the quote opened.
func TestReviewHN49UnclosedQuoteDoesNotSwallowTheLinesAfterIt(t *testing.T) {
	header := "reference,amount,currency,status,direction\n"
	text := header + "1,12.34,USD,settled,credit\n" + `2,1,USD,"settled,credit` + "\n" +
		"3,1,USD,settled,credit\n4,1,USD,settled,credit\n"
	entries, problems, err := readAll(t, text, "statement.csv", Mapping{})
	if err == nil {
		t.Fatalf("read %d lines (problems %q) and no error: lines 4 and 5 were lost",
			len(entries), problems)
	}
	if !strings.Contains(err.Error(), "line 3") {
		t.Errorf("error %v; want it to name line 3, where the quote opened", err)
	}
	// A stray quote within one line is still one unreadable line (hunt49).
	text = header + `2,1,USD,"settled"x,credit` + "\n3,1,USD,settled,credit\n"
	if entries, problems, err = readAll(t, text, "statement.csv", Mapping{}); err != nil ||
		len(entries) != 2 || problems[0] == "" || problems[1] != "" {
		t.Errorf("stray quote: %d entries, problems %q, err %v", len(entries), problems, err)
	}
}
