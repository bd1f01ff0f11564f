package jsonkeys_test

import (
	"strings"
	"testing"

	"sequent/netio/jsonkeys"
)

// TestReview52oErrorsQuoteKeysBounded: jsonkeys says KeyShownBytesMax (64) "bounds how
// much of a refused key an error quotes", but a key given twice and the keys on the
// path to a refused one were quoted whole: a 4 MiB keys file (or a 64 KiB risk body)
// with one long key given twice made an error, logged at reload or echoed in the reply,
// of half its size. Every key an error quotes is now cut to that bound.
func TestReview52oErrorsQuoteKeysBounded(t *testing.T) {
	long := strings.Repeat("a", 100_000)
	for _, data := range []string{
		`{"` + long + `": 1, "` + long + `": 2}`,
		`{"` + long + `": {"b": 1, "b": 2}}`,
		`{"` + long + `": [{"` + long + `": {"B": 1}}]}`,
	} {
		err := jsonkeys.Check([]byte(data))
		if err == nil {
			t.Errorf("%.80s…: accepted, want refused", data)
			continue
		}
		if len(err.Error()) > 400 {
			t.Errorf("%.80s…: an error of %d bytes (%.120s…), want the keys it quotes cut to "+
				"64 bytes each", data, len(err.Error()), err)
		}
	}
}
