package api

import (
	"strings"
	"testing"

	"sequent/netio/jsonkeys"
)

// TestHunt52cKeyCheckersAgree: the API's streaming key check (checkKeys) and
// netio/jsonkeys (the operators' bodies, the keys file, the risk rule file, the ledgers
// file) accept and refuse the same well-formed JSON within the API's own bounds (keys
// per object, elements per array), so one body is not read one way at one door and
// another way at the other. Before the API took jsonkeys.FieldName as its key rule, an
// empty key passed checkKeys (the decoder then refused it as an unknown field).
func TestHunt52cKeyCheckersAgree(t *testing.T) {
	nested := func(depth int) string {
		return strings.Repeat(`{"a":`, depth-1) + "{}" + strings.Repeat("}", depth-1)
	}
	for _, body := range []string{
		`{"ids":["1"]}`,
		`[{"id":"1","amount":"5"},{"id":"2","amount":"6"}]`,
		`{"ids":["1"],"ids":["2"]}`,
		`{"IDS":["2"]}`,
		`{"Ids":["2"]}`,
		`{"ſcale":6}`,
		`{"\u0069ds":["1"]}`,
		`{"ids":["1"],"\u0069ds":["2"]}`,
		"{\"ids\u200b\":[\"1\"]}",
		`{"":1}`,
		`{"a b":1}`,
		`{"a-b":1}`,
		`{"a":{"b":1,"b":2}}`,
		`[{"id":"1"},{"id":"1","ID":"2"}]`,
		`{"a":[1,{"b":[{"c":1,"c":1}]}]}`,
		`{"a":1,"b":{"a":1},"c":[{"a":1}]}`,
		`{"id":"Amount","amount":"ids"}`,
		nested(jsonDepthMax),
		nested(jsonDepthMax + 1),
		"  {\"id\":\"1\"}\n",
	} {
		api, keys := checkKeys([]byte(body)) == nil, jsonkeys.Check([]byte(body)) == nil
		if api != keys {
			t.Errorf("%s: the API's check accepts: %v, jsonkeys accepts: %v", body, api, keys)
		}
	}
}

// TestHunt52cEscapedBodyKeysAreRefused: a body key written with an escape is refused,
// though every JSON parser reads it as its field: {"id":"5","\u0061mount":"1000000"} posted
// a million where a gateway's pattern or a person reading the body for "amount" saw a post
// of the pending transfer's full amount. The check reads keys only: a value's escape
// passes it (values are each field's own parser's to judge).
func TestHunt52cEscapedBodyKeysAreRefused(t *testing.T) {
	for _, body := range []string{
		`{"id":"5","\u0061mount":"1000000"}`,
		`[{"id":"1","ledger":1,"code":1},{"id":"2","l\u0065dger":2,"code":1}]`,
	} {
		var target any
		err := decodeStrict([]byte(body), &target)
		if err == nil || !strings.Contains(err.Error(), "written with an escape") {
			t.Errorf("%s: %v, want refused as written with an escape", body, err)
		}
	}
	var resolve resolveBody
	if err := decodeStrict([]byte(`{"id":"\u0035"}`), &resolve); err != nil || resolve.ID != "5" {
		t.Errorf(`{"id":"\u0035"}: %v, read %+v`, err, resolve)
	}
}
