package jsonkeys_test

import (
	"strings"
	"testing"

	"sequent/netio/jsonkeys"
)

// TestCheck: a key given twice in its object, a key in another case or outside the field
// alphabet, nesting past DepthMax and data after the value are refused, each error saying
// where; the same keys in different objects, and any string value, are accepted.
func TestCheck(t *testing.T) {
	for _, test := range []struct{ data, want string }{
		{`{"ids": [1], "ids": [2]}`, `key "ids" given twice`},
		{`{"IDS": [2]}`, `key "IDS": keys are field names`},
		{`{"a": [{"b": 1}, {"b": 1, "B": 2}]}`, `a[1]: key "B"`},
		{`{"a": {"b": {"c": 1, "c": 2}}}`, `a.b: key "c" given twice`},
		{`{"ſcopes": 1}`, `key "ſcopes"`},
		{`{"": 1}`, `key ""`},
		{`{"a": 1} {"a": 2}`, "data after the JSON value"},
		{`{"a": 1`, "EOF"},
		{strings.Repeat("[", jsonkeys.DepthMax+1) + strings.Repeat("]", jsonkeys.DepthMax+1),
			"nested over"},
	} {
		err := jsonkeys.Check([]byte(test.data))
		if err == nil || !strings.Contains(err.Error(), test.want) {
			t.Errorf("%s: %v, want an error containing %q", test.data, err, test.want)
		}
	}
	for _, data := range []string{
		`{"a": {"b": 1}, "b": {"a": 1, "b": [{"b": 1}, {"b": 2}]}, "c_2": "B B \"B\": 1"}`,
		` [1, "x", null, true] `, `7`,
		strings.Repeat("[", jsonkeys.DepthMax) + strings.Repeat("]", jsonkeys.DepthMax),
	} {
		if err := jsonkeys.Check([]byte(data)); err != nil {
			t.Errorf("%s: %v, want accepted", data, err)
		}
	}
}

// TestTruncate never splits a UTF-8 sequence and never exceeds the bound; a text of
// exactly the bound is kept whole, one byte more is cut (netio/api's copy cut a UTF-8
// sequence in two, netio/ops's did not, before both used this one).
func TestTruncate(t *testing.T) {
	for _, c := range []struct {
		text  string
		bytes int
		want  string
	}{
		{"abc", 5, "abc"}, {"abcdef", 3, "abc"}, {"aé", 2, "a"}, {"界", 2, ""}, {"", 0, ""},
		{"abcd", 4, "abcd"}, {"abcde", 4, "abcd"}, {"abcé", 4, "abc"}, {"abcé", 5, "abcé"},
	} {
		if got := jsonkeys.Truncate(c.text, c.bytes); got != c.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", c.text, c.bytes, got, c.want)
		}
	}
}
