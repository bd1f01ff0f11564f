package reconcile

import (
	"strconv"
	"testing"
)

// TestReview53apiEscapedKeyProblemQuotesNoRawControls (review-api53, claim 3): the problem
// of a JSON line whose key read as a field is written with an escape quoted the key as
// written with %s, so what else the key holds raw reached the report as is: a C1 control
// (U+0085 NEL), a line or paragraph separator (U+2028, U+2029) or a zero-width space
// after "\u0061mount", which the field's name matching trims, was printed raw into the
// text report, whose problems are one line each. Every other problem quotes a
// statement's text with %q.
func TestReview53apiEscapedKeyProblemQuotesNoRawControls(t *testing.T) {
	for _, raw := range []string{"\u0085", "\u2028", "\u2029", "\u200b"} {
		line := `{"reference":"7","\u0061mount` + raw + `":"5.00"}`
		_, problems, err := readAll(t, line+"\n", "s.jsonl", Mapping{})
		if err != nil || len(problems) != 1 || problems[0] == "" {
			t.Fatalf("%q: problems %q (%v), want the line unreadable", line, problems, err)
		}
		for _, r := range problems[0] {
			if !strconv.IsPrint(r) {
				t.Errorf("%q: problem %q holds the raw character %U", line, problems[0], r)
			}
		}
	}
}
