package jsonkeys_test

import (
	"strings"
	"testing"

	"sequent/netio/jsonkeys"
)

// TestHunt52cEscapedKeysAreRefused: a key written with an escape is refused, at the top
// and nested, alone or after a plain key, though it unescapes to a field name: a keys
// file granting {"\u0070ermissions": ["admin"]} loaded with admin where a reviewer
// searching the file for "permissions" found none. An escape in a string value, and a
// backslash in white space's place (none can be), do not count.
func TestHunt52cEscapedKeysAreRefused(t *testing.T) {
	for _, data := range []string{
		`{"\u0070ermissions": ["admin"]}`,
		`{"name": "a", "\u0070ermissions": ["admin"]}`,
		`{"clients": [{"id": 1}, {"id": 2, "p\u0065rmissions": []}]}`,
		`{"a": {"b\u0062": 1}}`,
		`{"scale": 2, "\u0073cale": 6}`,
	} {
		err := jsonkeys.Check([]byte(data))
		if err == nil || !strings.Contains(err.Error(), "written with an escape") {
			t.Errorf("%s: %v, want refused as written with an escape", data, err)
		}
	}
	for _, data := range []string{
		`{"name": "\u0070ermissions \"quoted\" \\", "permissions": ["read"]}`,
		`{"a": ["\\", {"b": "\n"}], "c": "\\"}`,
	} {
		if err := jsonkeys.Check([]byte(data)); err != nil {
			t.Errorf("%s: %v, want accepted", data, err)
		}
	}
}
