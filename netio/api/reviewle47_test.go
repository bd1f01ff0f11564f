package api

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/saga"
	"sequent/netio/jsonview"
)

// TestReviewle47GetTransferOfAnIDTwoShardsUse: transfer ids are unique per shard, not
// across shards (PROTOCOL.md section 18), so on a node of two shards one id can name a
// transfer on each, and a lookup of it lists both. GET /v1/transfers/{id} answered 404
// transfer_not_found ("no such id") whenever the lookup found other than one record:
// the id exists, twice, and the client was told it does not. It now answers 409
// ambiguous_id, saying how many records and pointing to the lookup route that lists
// them. The same holds for GET /v1/accounts/{id} of a settlement account once both its
// copies exist; an id with one record is answered as before.
func TestReviewle47GetTransferOfAnIDTwoShardsUse(t *testing.T) {
	h := nodeHarness(t, nil)
	h.createAccounts("1", "2", "101", "102") // 1, 2 on shard 0; 101, 102 on shard 1.
	h.expect(h.operator("POST", "/v1/transfers",
		`{"id":"10","debit_account_id":"1","credit_account_id":"2","amount":"1","ledger":1,"code":1}`), 201, "")
	h.expect(h.operator("POST", "/v1/transfers",
		`{"id":"10","debit_account_id":"101","credit_account_id":"102","amount":"2","ledger":1,"code":1}`), 201, "")
	lookup := h.operator("POST", "/v1/transfers/lookup", `{"ids":["10"]}`)
	h.expect(lookup, 200, "")
	if found := decode[[]jsonview.Transfer](t, lookup); len(found) != 2 {
		t.Fatalf("lookup of id 10: %s", lookup.body)
	}
	answer := h.operator("GET", "/v1/transfers/10", "")
	h.expect(answer, 409, "ambiguous_id")
	want := `2 records have this id (one per shard that uses it): POST /v1/transfers/lookup ` +
		`with {"ids": ["10"]} lists them all`
	if message := decode[Error](t, answer).Message; message != want {
		t.Fatalf("GET /v1/transfers/10: message %q, want %q", message, want)
	}
	h.expect(h.operator("GET", "/v1/transfers/404", ""), 404, "transfer_not_found")
	one := h.operator("GET", "/v1/accounts/1", "")
	h.expect(one, 200, "")
	if account := decode[jsonview.Account](t, one); account.ID != "1" {
		t.Fatalf("GET /v1/accounts/1: %s", one.body)
	}

	// A settlement account of a transfer from shard 0 to shard 1 has a copy on each. The
	// second copy may come after the transfer's answer (the saga's credit step): wait for
	// the lookup to list both, a bounded number of times.
	h.expect(h.operator("POST", "/v1/transfers",
		`{"id":"11","debit_account_id":"1","credit_account_id":"101","amount":"5","ledger":1,"code":1}`), 201, "")
	settlement := saga.SettlementAccountID(0, 1, 1).String()
	for attempt := 0; ; attempt++ {
		listed := h.operator("POST", "/v1/accounts/lookup", `{"ids":["`+settlement+`"]}`)
		h.expect(listed, 200, "")
		if len(decode[[]jsonview.Account](t, listed)) == 2 {
			break
		}
		if attempt == 1000 {
			t.Fatalf("the settlement account's copies: %s", listed.body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	answer = h.operator("GET", "/v1/accounts/"+settlement, "")
	h.expect(answer, 409, "ambiguous_id")
	want = `2 records have this id (one per shard that uses it): POST /v1/accounts/lookup ` +
		`with {"ids": ["` + settlement + `"]} lists them all`
	if message := decode[Error](t, answer).Message; message != want {
		t.Fatalf("GET /v1/accounts/%s: message %q, want %q", settlement, message, want)
	}
}

// TestReviewle47LookupRouteGivesEveryTransferFound: POST /v1/transfers/lookup answers
// "the transfers found" (README's JSON API table). On a node of two shards, 4,095 ids
// each used on both shards find 8,190 transfers, one more than a reply holds: the node
// cuts its reply before id 4,095 (PROTOCOL.md section 18), and the route answered those
// 8,188 as the whole answer, with nothing telling the integrator that id 4,095's two
// transfers exist (the binary protocol's clients are told to ask again; the JSON API's
// are not, and cannot tell a cut answer from missing ids). The route now asks again
// within the HTTP request, as the Go client does (shardmap.LookupRestart): also with an
// id asked before and after the cut, with the last id listed asked twice (the request
// is asked again in halves), and for a client allowed one request a second: the route
// is admitted once, its repeats ask for ids already paid for.
func TestReviewle47LookupRouteGivesEveryTransferFound(t *testing.T) {
	counter := &lookupCounter{}
	h := nodeHarness(t, func(node backend.Submitter) backend.Submitter {
		counter.Submitter = node
		return counter
	})
	const ids = model.EventsPerRequestMax/2 + 1 // 4,095: two records each pass 8,189.
	const single = 9001                         // A transfer id of shard 0 only.
	// The limited client (one request a second) owns the accounts and transfers, so that
	// it may read them; the clock is moved a second before each of its writes.
	// Its accounts must not go below zero (flag 2, as for every client without a grant):
	// the operator's accounts 50 (shard 0) and 150 (shard 1) fund them.
	h.clock.freeze()
	limited := h.signer(limitedClient)
	created := h.do(limited, "POST", "/v1/accounts", `[{"id":"1","ledger":1,"code":1,"flags":2},`+
		`{"id":"2","ledger":1,"code":1,"flags":2},{"id":"101","ledger":1,"code":1,"flags":2},`+
		`{"id":"102","ledger":1,"code":1,"flags":2}]`)
	h.expect(created, 200, "")
	for _, result := range decode[[]jsonview.Result](t, created) {
		if result.Status != "ok" {
			t.Fatalf("create the limited client's accounts: %s", created.body)
		}
	}
	h.createAccounts("50", "150")
	for _, funding := range []string{`"id":"20001","debit_account_id":"50","credit_account_id":"1"`,
		`"id":"20002","debit_account_id":"150","credit_account_id":"101"`} {
		h.expect(h.operator("POST", "/v1/transfers", `{`+funding+
			`,"amount":"100000","ledger":1,"code":1}`), 201, "")
	}
	for _, debit := range []int{1, 101} { // Shard 0's accounts 1, 2; shard 1's 101, 102.
		var transfers []string
		for id := 1; id <= ids; id++ {
			transfers = append(transfers, fmt.Sprintf(`{"id":"%d","debit_account_id":"%d",`+
				`"credit_account_id":"%d","amount":"1","ledger":1,"code":1}`, id, debit, debit+1))
		}
		if debit == 1 {
			transfers = append(transfers, fmt.Sprintf(`{"id":"%d","debit_account_id":"1",`+
				`"credit_account_id":"2","amount":"1","ledger":1,"code":1}`, single))
		}
		h.clock.advance(time.Second)
		answer := h.do(limited, "POST", "/v1/transfers", "["+strings.Join(transfers, ",")+"]")
		h.expect(answer, 200, "")
		for _, result := range decode[[]jsonview.Result](t, answer) {
			if result.Status != "ok" {
				t.Fatalf("create transfers of account %d: %+v", debit, result)
			}
		}
	}
	upTo := func(n int) []int {
		list := make([]int, n)
		for i := range list {
			list[i] = i + 1
		}
		return list
	}
	// submits is how many lookups each asks of the node: the whole request, then the ids
	// after the last one listed, or, with that id asked twice, the two halves (2,048 and
	// 2,049 ids, each whole).
	for _, test := range []struct {
		name    string
		ids     []int
		limited bool // Asked by the limited client, with one request's worth of rate.
		submits int64
	}{
		{"4,095 ids on two shards", upTo(ids), false, 2},
		{"an id asked before and after the cut", append(upTo(ids-1), 1, ids), false, 2},
		{"the last id listed asked twice", append(append(append([]int{single},
			upTo(ids-2)...), single), ids-1, ids), false, 3},
		{"a client allowed one request a second", upTo(ids), true, 2},
	} {
		counter.lookups.Store(0)
		list := make([]string, len(test.ids))
		var want []string // Each id's transfers in shard order: debit 1, then 101.
		for i, id := range test.ids {
			list[i] = fmt.Sprintf(`"%d"`, id)
			want = append(want, fmt.Sprintf("%d:1", id))
			if id != single {
				want = append(want, fmt.Sprintf("%d:101", id))
			}
		}
		body := `{"ids":[` + strings.Join(list, ",") + `]}`
		signer := h.signer(operatorClient)
		if test.limited {
			h.clock.advance(time.Second)
			signer = limited
		}
		answer := h.do(signer, "POST", "/v1/transfers/lookup", body)
		h.expect(answer, 200, "")
		var got []string
		for _, transfer := range decode[[]jsonview.Transfer](t, answer) {
			got = append(got, transfer.ID+":"+transfer.DebitAccountID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: %d transfers found, want %d (each id's on shards 0 and 1, in the "+
				"order asked)", test.name, len(got), len(want))
		}
		if submits := counter.lookups.Load(); submits != test.submits {
			t.Fatalf("%s: %d lookups asked of the node, want %d", test.name, submits,
				test.submits)
		}
	}
}

// lookupCounter counts the lookup_transfers requests handed to the node.
type lookupCounter struct {
	backend.Submitter
	lookups atomic.Int64
}

func (c *lookupCounter) Submit(request *backend.Request) model.Status {
	if request.Operation == model.OperationLookupTransfers {
		c.lookups.Add(1)
	}
	return c.Submitter.Submit(request)
}
