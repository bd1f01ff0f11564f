package reconcile

import (
	"slices"
	"strings"
	"testing"
)

// TestAPI53EscapedJSONKeyIsUnreadable: a JSON line whose key read as a field is written
// with an escape ("\u0061mount", "r\u0065ference", "\u0041mount\u200b") is unreadable, its
// problem quoting the key as written, though every JSON parser reads it as that field: a
// person or a search reading the statement for "amount" saw a line without one, and
// such a line was matched with no difference. An escape in a value, in a key no field
// is read by, or in a key of a nested object does not count.
func TestAPI53EscapedJSONKeyIsUnreadable(t *testing.T) {
	for _, line := range []string{
		`{"reference":"7","\u0061mount":"5.00"}`,
		`{"r\u0065ference":"7","amount":"5.00"}`,
		`{"reference":"7", "\u0041mount\u200b" :"5.00"}`,
		`{"reference":"7","amount":"5.00","st\u0061tus":"settled"}`,
	} {
		report, reported := hunt52bReconcile(t, "statement.jsonl", line+"\n")
		want := []string{"missing_theirs|7|0|10001", "unreadable||1|"}
		if !slices.Equal(reported, want) || report.OK {
			t.Errorf("%s: reported %v (ok %v), want %v", line, reported, report.OK, want)
		}
		_, problems, err := readAll(t, line+"\n", "s.jsonl", Mapping{})
		if err != nil || len(problems) != 1 ||
			!strings.Contains(problems[0], "written with an escape") ||
			!strings.Contains(problems[0], `\u00`) {
			t.Errorf("%s: problems %q (%v), want the escaped key named", line, problems, err)
		}
	}
	for _, line := range []string{
		`{"reference":"\u0037","amount":"5.00"}`,
		`{"reference":"7","amount":"5.00","not\u00e9":"x"}`,
		`{"reference":"7","amount":"5.00","note":{"\u0061mount":"1"}}`,
		`{"reference":"7","amount":"5.00","note":"\"\u0061mount\":1"}`,
	} {
		if report, reported := hunt52bReconcile(t, "statement.jsonl", line+"\n"); len(reported) != 0 || !report.OK {
			t.Errorf("%s: reported %v (ok %v), want it matched", line, reported, report.OK)
		}
	}
}

// TestAPI53EscapedJSONKeyQuotedCut: the problem of a line whose escaped key is long quotes
// it cut, not whole (a line may be up to a mebibyte).
func TestAPI53EscapedJSONKeyQuotedCut(t *testing.T) {
	long := strings.Repeat("a", 10_000)
	line := `{"reference":"7","amount":"5.00","\u0073tatus` + long + `":"x"}`
	_, problems, err := readAll(t, line+"\n", "s.jsonl",
		Mapping{Columns: map[string]string{FieldStatus: "status" + long}})
	if err != nil || len(problems) != 1 || !strings.Contains(problems[0], "written with an escape") ||
		len(problems[0]) > 400 {
		t.Errorf("problems %.300q (%v), want the key quoted cut", problems, err)
	}
}
