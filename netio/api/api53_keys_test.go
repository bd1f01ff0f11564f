package api

import (
	"strings"
	"testing"

	"sequent/netio/jsonkeys"
)

// TestAPI53RefusedBodyKeysAreQuotedCut: a body key refused as given twice or written with
// an escape is quoted in the 400 reply cut to jsonkeys.KeyShownBytesMax, as jsonkeys cuts
// it (and as a key outside the field alphabet already was). It was quoted whole: a 10 KB
// key filled the reply's message up to its 512-byte bound with one key.
func TestAPI53RefusedBodyKeysAreQuotedCut(t *testing.T) {
	h := newHarness(t)
	long := strings.Repeat("k", 10_000)
	shown := strings.Repeat("k", jsonkeys.KeyShownBytesMax)
	for _, body := range []string{
		`{"` + long + `":"1","` + long + `":"2"}`,
		`{"\u006b` + long + `":"1"}`,
		`{"` + long + `K":"1"}`,
	} {
		r := h.operator("POST", "/v1/transfers", body)
		if r.code != 400 || r.errorCode(t) != "bad_request" {
			t.Errorf("%.40s…: HTTP %d %.200s, want 400 bad_request", body, r.code, r.body)
			continue
		}
		if !strings.Contains(string(r.body), shown) ||
			strings.Contains(string(r.body), shown+"k") {
			t.Errorf("%.40s…: %d-byte reply %.300s…, want the key quoted cut to %d bytes",
				body, len(r.body), r.body, jsonkeys.KeyShownBytesMax)
		}
	}
}
