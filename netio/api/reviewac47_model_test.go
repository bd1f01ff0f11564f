package api

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/jsonview"
)

// TestReviewac47LookupMatchesANaiveModel: on a node of two shards, POST
// /v1/transfers/lookup of random id lists (ids both shards use, ids of one shard only,
// missing ids, ids asked several times; up to 8,189 ids, so most replies are cut and
// asked again, some in halves) answers exactly what a naive model says: for each id in
// the order asked, shard 0's transfer then shard 1's. One list carries an
// Idempotency-Key, whose session and number every repeat reuses: lookups are not
// answered from the session's cache, so the repeats still answer their own ids.
func TestReviewac47LookupMatchesANaiveModel(t *testing.T) {
	counter := &lookupCounter{}
	h := nodeHarness(t, func(node backend.Submitter) backend.Submitter {
		counter.Submitter = node
		return counter
	})
	h.createAccounts("1", "2", "101", "102") // 1, 2 on shard 0; 101, 102 on shard 1.
	const both = model.EventsPerRequestMax/2 + 1
	const shard0Only, shard1Only, missing = 5000, 6000, 7000 // Each + 1..100.
	debits := map[int][]string{}
	for _, debit := range []int{1, 101} {
		var transfers []string
		add := func(id int) {
			transfers = append(transfers, fmt.Sprintf(`{"id":"%d","debit_account_id":"%d",`+
				`"credit_account_id":"%d","amount":"1","ledger":1,"code":1}`, id, debit, debit+1))
			debits[id] = append(debits[id], fmt.Sprintf("%d:%d", id, debit))
		}
		for id := 1; id <= both; id++ {
			add(id)
		}
		only := shard0Only
		if debit == 101 {
			only = shard1Only
		}
		for id := only + 1; id <= only+100; id++ {
			add(id)
		}
		answer := h.operator("POST", "/v1/transfers", "["+strings.Join(transfers, ",")+"]")
		h.expect(answer, 200, "")
		for _, result := range decode[[]jsonview.Result](t, answer) {
			if result.Status != "ok" {
				t.Fatalf("create transfers of account %d: %+v", debit, result)
			}
		}
	}
	// A half asked again in halves: 8,189 ids, 1..4,094, then 4,094, 1..4,092, 4,094,
	// 4,095. The whole request is cut after its first 4,094 (8,188 records), whose last,
	// 4,094, is asked three times: asked again in halves, 4,094 and 4,095 ids. The second
	// half's 4,095 ids have 8,190 records, cut after 4,094 again, asked twice in that
	// half: halved again (2,047 and 2,048 ids). 5 lookups in all.
	halfHalved := make([]int, 0, model.EventsPerRequestMax)
	for id := 1; id <= 4094; id++ {
		halfHalved = append(halfHalved, id)
	}
	halfHalved = append(halfHalved, 4094)
	for id := 1; id <= 4092; id++ {
		halfHalved = append(halfHalved, id)
	}
	halfHalved = append(halfHalved, 4094, 4095)
	random := rand.New(rand.NewPCG(47, 1))
	for list := -1; list < 16; list++ {
		count := model.EventsPerRequestMax - random.IntN(model.EventsPerRequestMax/2)
		if list%4 == 3 {
			count = 1 + random.IntN(model.EventsPerRequestMax)
		}
		ids := make([]int, 0, count)
		if list < 0 {
			ids = halfHalved
		}
		for len(ids) < count {
			switch pick := random.IntN(20); {
			case pick < 13:
				ids = append(ids, 1+random.IntN(both))
			case pick < 15:
				ids = append(ids, shard0Only+1+random.IntN(100))
			case pick < 17:
				ids = append(ids, shard1Only+1+random.IntN(100))
			case pick < 18:
				ids = append(ids, missing+1+random.IntN(100))
			default:
				if len(ids) > 0 {
					ids = append(ids, ids[random.IntN(len(ids))])
				}
			}
		}
		texts := make([]string, len(ids))
		var want []string
		for i, id := range ids {
			texts[i] = fmt.Sprintf(`"%d"`, id)
			want = append(want, debits[id]...)
		}
		var headers []string
		if list == 5 {
			headers = []string{HeaderIdempotencyKey, "4747:1"}
		}
		counter.lookups.Store(0)
		answer := h.operator("POST", "/v1/transfers/lookup",
			`{"ids":[`+strings.Join(texts, ",")+`]}`, headers...)
		h.expect(answer, 200, "")
		expectLookedUp(t, fmt.Sprintf("list %d", list), answer, len(ids), want)
		if lookups := counter.lookups.Load(); list < 0 && lookups != 5 {
			t.Fatalf("a half asked again in halves: %d lookups asked of the node, want 5",
				lookups)
		}
	}
}

// TestReviewac47AmbiguousIDCountsOnlyWhatTheClientMayRead: GET /v1/transfers/{id} of an
// id two shards each use, asked by a client that may read only one of the two
// transfers, answers that one (200), never 409 ambiguous_id: the shards skip records the
// client may not read before the count, so the 409 cannot tell that the id exists on a
// shard the client may not read.
func TestReviewac47AmbiguousIDCountsOnlyWhatTheClientMayRead(t *testing.T) {
	h := nodeHarness(t, nil)
	h.createAccounts("101", "102") // Shard 1, the operator's.
	plain := h.signer(plainClient)
	created := h.do(plain, "POST", "/v1/accounts",
		`[{"id":"1","ledger":1,"code":1,"flags":2},{"id":"2","ledger":1,"code":1,"flags":2}]`)
	h.expect(created, 200, "")
	for _, result := range decode[[]jsonview.Result](t, created) {
		if result.Status != "ok" {
			t.Fatalf("create the plain client's accounts: %s", created.body)
		}
	}
	h.createAccounts("50")
	h.expect(h.operator("POST", "/v1/transfers",
		`{"id":"20001","debit_account_id":"50","credit_account_id":"1","amount":"100","ledger":1,"code":1}`), 201, "")
	h.expect(h.do(plain, "POST", "/v1/transfers",
		`{"id":"10","debit_account_id":"1","credit_account_id":"2","amount":"1","ledger":1,"code":1}`), 201, "")
	h.expect(h.operator("POST", "/v1/transfers",
		`{"id":"10","debit_account_id":"101","credit_account_id":"102","amount":"2","ledger":1,"code":1}`), 201, "")
	h.expect(h.operator("GET", "/v1/transfers/10", ""), 409, "ambiguous_id")
	answer := h.do(plain, "GET", "/v1/transfers/10", "")
	h.expect(answer, 200, "")
	if transfer := decode[jsonview.Transfer](t, answer); transfer.DebitAccountID != "1" {
		t.Fatalf("the plain client's GET of id 10: %s", answer.body)
	}
	h.expect(h.do(plain, "GET", "/v1/transfers/20001", ""), 200, "")
}

// expectLookedUp requires a transfers lookup's answer (of ids ids) to list exactly want,
// each transfer as "id:debit_account_id", naming the first difference, and returns
// what it listed.
func expectLookedUp(t *testing.T, what string, answer response, ids int, want []string) []string {
	t.Helper()
	var got []string
	for _, transfer := range decode[[]jsonview.Transfer](t, answer) {
		got = append(got, transfer.ID+":"+transfer.DebitAccountID)
	}
	if !slices.Equal(got, want) {
		first := 0
		for first < min(len(got), len(want)) && got[first] == want[first] {
			first++
		}
		t.Fatalf("%s (%d ids): %d transfers, want %d; first difference at %d", what, ids,
			len(got), len(want), first)
	}
	return got
}
